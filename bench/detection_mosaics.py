"""Real faces kept when a photo becomes one of many in a larger one: mosaics of dev photos.

The synthetic sets of ``bench.detection`` paste HELEN and AFLW faces; users send real group
photos. Here the dev photos (UTKFace, the glasses set, the hair set, GENKI-4K's dev fifth) are
shrunk into the cells of grids: 6×6 and 8×8 on 1632×1224 canvases (2 MP: 10-200 px faces), and
3×3, 4×4 and 6×6 on 640×480 ones (faces ~25-110 px, where the fine-pass net reads the photo at
``fine_faces.SMALL_SCALE``), each grid from every second block of its size of photos, and the
shipped detector runs on each mosaic. The truth is what the same detector finds in each photo
at its own size (nearly all of them are under 640×480, where BlazeFace's fine pass runs),
scaled into its cell: scored per canvas size as ``bench.detection`` scores its sets (a face is
found at IoU ≥ 0.4; recall by face width; "precision": boxes matching no such face are false
detections, faces found only in the mosaic, or boxes of another shape).

    python -m bench.detection_mosaics [--json bench/results/detection_mosaics.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from bench import datasets, detection_data
from bench.detection import boxes_of, score
from rosto import detection

# Per canvas: its (height, width) and the grids (cells a side) of its mosaics.
CANVASES = {"2-MP": ((1224, 1632), (6, 8)), "640×480": ((480, 640), (3, 4, 6))}


def photos() -> list[Path]:
    """The dev photos the mosaics are made of, in a fixed order."""
    paths = [path for path, _ in datasets.utkface_dev()]
    paths += [path for path, _ in datasets.glasses_dev()]
    paths += [path for path, _, _ in datasets.hair_dev()]
    paths += [path for path, _, _ in datasets.smile_dev() if "genki" in str(path)]
    return paths


def mosaic(paths: list[Path], grid: int, shape: tuple[int, int]
           ) -> tuple[np.ndarray, list[tuple[Path, int, int, float]]]:  # fmt: skip
    """The photos shrunk into a grid² of cells of one canvas of ``shape`` (height, width), and
    where each went (path, left, top, scale)."""
    canvas = np.zeros((*shape, 3), np.uint8)
    cell_h, cell_w = shape[0] // grid, shape[1] // grid
    placed = []
    for k, path in enumerate(paths):
        image = datasets.load(path)
        scale = min(cell_h / image.shape[0], cell_w / image.shape[1])
        size = (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        top, left = (k // grid) * cell_h, (k % grid) * cell_w
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
        placed.append((path, left, top, scale))
    return canvas, placed


def samples(canvases: list[str]) -> dict[str, list[detection_data.Sample]]:
    """The mosaics of each of the ``canvases`` (keys of CANVASES), each labelled with the boxes
    the detector finds in its photos at their own size, scaled into their cells."""
    paths = photos()
    own = {path: boxes_of(detection.detect(datasets.load(path))) for path in paths}
    out: dict[str, list[detection_data.Sample]] = {}
    for name in canvases:
        shape, grids = CANVASES[name]
        out[name] = []
        for grid in grids:
            block = grid * grid
            for start in range(0, len(paths) - block + 1, 2 * block):
                canvas, placed = mosaic(paths[start : start + block], grid, shape)
                truth = [box * scale + [left, top, left, top]
                         for path, left, top, scale in placed for box in own[path]]  # fmt: skip
                boxes = np.array(truth).reshape(-1, 4)
                sample = detection_data.Sample(f"{grid}x{grid} from {start}", canvas, boxes, True)
                out[name].append(sample)
    return out


def run(canvases: list[str]) -> dict:
    """``bench.detection.score`` of the shipped detector on each canvas size's mosaics."""
    result = {}
    for name, mosaics in samples(canvases).items():
        scored = score(lambda image: boxes_of(detection.detect(image)), mosaics)
        result[name] = {"mosaics": len(mosaics), **scored}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=Path("bench/results/detection_mosaics.json"))
    parser.add_argument("--canvases", nargs="+", choices=list(CANVASES), default=list(CANVASES))
    args = parser.parse_args()
    result = run(args.canvases)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
