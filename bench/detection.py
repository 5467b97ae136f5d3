"""Face detection side by side: recall by face size, precision and time per photo.

The same photos go to the shipped detector (``rosto.detection.detect``), to the single 256²
pass it replaced, and to two open-source detectors run as their packages ship them: dlib's HOG
detector (PyPI ``dlib-bin``) and MTCNN (PyPI ``mtcnn``, TensorFlow). Those two are for this
comparison only (``pip install -e '.[bench]'``); a detector whose package is missing is left
out of the table, saying so.

Sets (``bench.detection_data``): AFW group photos as they are (labelled faces are all ≥ 68 px),
the same shrunk to 20-40 px faces in 2-MP frames, and synthetic 2-MP and 640×480 photos, fully
labelled, where precision is exact (HELEN's faces and AFLW2000's ``dev`` fold: the fine-pass net
trains on the other). A detection matches a labelled face at IoU ≥ 0.4.

    python -m bench.detection [--count 40] [--only shipped,dlib_hog] [--reuse] [--write MODELS.md]
    python -m bench.detection --seed 13 --json bench/results/detection_seed13.json  # held out

``--reuse`` copies the rows of the detectors not run this time from the previous results file:
the comparators' rows do not change with Rosto's code, and dlib and MTCNN take most of a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from bench import datasets, detection_data
from bench.accuracy import iou, write_section
from rosto import detection

Boxes = np.ndarray  # (K, 4) left, top, right, bottom
BANDS = ((0, 30), (30, 40), (40, 60), (60, 120), (120, 1e9))  # labelled box width, px
MATCH_IOU = 0.4


def boxes_of(faces: Iterable) -> Boxes:
    return np.array([f.box for f in faces], dtype=float).reshape(-1, 4)


def dlib_hog() -> Callable[[np.ndarray], Boxes]:
    import dlib

    detector = dlib.get_frontal_face_detector()

    def run(image: np.ndarray) -> Boxes:
        # one upsampling, as dlib's own examples do for faces smaller than its 80 px window
        found = detector(image, 1)
        return np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in found],
                        dtype=float).reshape(-1, 4)  # fmt: skip

    return run


def mtcnn() -> Callable[[np.ndarray], Boxes]:
    from mtcnn import MTCNN

    detector = MTCNN(device="CPU:0")

    def run(image: np.ndarray) -> Boxes:
        found = detector.detect_faces(image, min_face_size=16)  # its default is 20
        return np.array([[x, y, x + w, y + h] for x, y, w, h in (f["box"] for f in found)],
                        dtype=float).reshape(-1, 4)  # fmt: skip

    return run


DETECTORS: dict[str, tuple[str, Callable[[], Callable[[np.ndarray], Boxes]]]] = {
    "shipped": (
        "from 640×480 up, the fine-pass net trained here at 0.5× (0.625× at 640×480; boxes "
        "refined by R-Net) and BlazeFace at 0.3× (0.25× from 1.5 MP) for wider faces, below it "
        "BlazeFace at 0.6×; "
        "MTCNN R-Net/O-Net second look (also at the candidates a rejected one hid or that hold a "
        "face kept)",
        lambda: lambda image: boxes_of(detection.detect(image)),
    ),
    "single_pass": (
        "BlazeFace on the 256² letterbox only (before this detector)",
        lambda: lambda image: boxes_of(detection.detect_once(image)),
    ),
    "dlib_hog": ("dlib 20.0.1 HOG frontal detector, upsampled once", dlib_hog),
    "mtcnn": ("mtcnn 1.0.0 (TensorFlow), min_face_size 16", mtcnn),
}


def sets(count: int, seed: int = 11) -> dict[str, list[detection_data.Sample]]:
    """The sets by name; synthetic photos of ``seed`` (11: the one thresholds were chosen on;
    another is held out, and named with its seed)."""
    synthetic = list(detection_data.synthetic(count, seed))
    held_out = "" if seed == 11 else f" (seed {seed})"
    afw = [
        detection_data.Sample(f"groups {path.name}", datasets.load(path), boxes, False)
        for path, boxes in datasets.groups()
    ]
    return {
        "groups/ (AFW, faces ≥ 68 px)": afw,
        "AFW shrunk to 20-40 px faces, 2-MP frame": list(detection_data.groups_small()),
        f"synthetic 2-MP{held_out}": [s for s in synthetic if "2MP" in s.name],
        f"synthetic 640×480{held_out}": [s for s in synthetic if "640x480" in s.name],
    }


def score(run: Callable[[np.ndarray], Boxes], samples: list[detection_data.Sample],
          smallest: float = 0) -> dict:  # fmt: skip
    """Recall (overall, per band of face width and, on synthetic photos, per group of head
    pose: ``detection_data.pose_group``), precision where every face is labelled, detections
    per photo and the median time per photo. Labelled faces narrower than ``smallest`` are
    left out: neither counted nor, when found, a false box (photos shrunk past the 20 px the
    detector is asked for)."""
    found, total = np.zeros(len(BANDS)), np.zeros(len(BANDS))
    posed: dict[str, list[int]] = {group: [0, 0] for group in detection_data.POSE_GROUPS}
    true_pos = false_pos = 0
    detections, times = [], []
    for sample in samples:
        start = time.perf_counter()
        boxes = run(sample.image)
        times.append(time.perf_counter() - start)
        detections.append(len(boxes))
        matched = set()
        origins = sample.origins or (None,) * len(sample.boxes)
        for label, origin in zip(sample.boxes, origins, strict=True):
            overlaps = [iou(box, label) for box in boxes]
            hit = bool(overlaps and max(overlaps) >= MATCH_IOU)
            if hit:
                matched.add(int(np.argmax(overlaps)))
            if label[2] - label[0] < smallest:
                continue
            band = next(i for i, (lo, hi) in enumerate(BANDS) if lo <= label[2] - label[0] < hi)
            total[band] += 1
            found[band] += hit
            if origin is not None:
                group = posed[detection_data.pose_group(origin)]
                group[0] += hit
                group[1] += 1
        if sample.complete:
            true_pos += len(matched)
            false_pos += len(boxes) - len(matched)
    result = {
        "faces": int(total.sum()),
        "found": int(found.sum()),
        "recall": float(found.sum() / max(total.sum(), 1)),
        "recall by width": {
            f"{lo}-{hi:.0f}" if hi < 1e9 else f"≥{lo}": (float(f / t) if t else None)
            for (lo, hi), f, t in zip(BANDS, found, total, strict=True)
        },
        "detections/photo": float(np.mean(detections)),
        "ms/photo": statistics.median(times) * 1000,
    }
    if samples and samples[0].complete:
        result["precision"] = true_pos / max(true_pos + false_pos, 1)
        result["false boxes"] = false_pos
    if any(n for _, n in posed.values()):
        result["recall by pose"] = {g: [hit, n] for g, (hit, n) in posed.items()}
    return result


def latency(repeat: int) -> dict[str, dict[str, float]]:
    """Median ms of the shipped and the single-pass detectors on a 2-MP and a 640×480 photo,
    timed in alternation so both see the same load on a shared machine."""
    photos = {
        "2-MP photo": next(detection_data.synthetic(1)).image,
        "640×480 photo": next(s for s in detection_data.synthetic(1) if "640" in s.name).image,
    }
    out: dict[str, dict[str, float]] = {}
    for name, image in photos.items():
        times: dict[str, list[float]] = {"shipped": [], "single_pass": []}
        runs = {"shipped": detection.detect, "single_pass": detection.detect_once}
        for run in runs.values():
            run(image)  # warm
        for _ in range(repeat):
            for key, run in runs.items():
                start = time.perf_counter()
                run(image)
                times[key].append(time.perf_counter() - start)
        out[name] = {key: statistics.median(t) * 1000 for key, t in times.items()}
    return out


def cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: dict) -> str:
    bands = [f"{lo}-{hi:.0f}" if hi < 1e9 else f"≥{lo}" for lo, hi in BANDS]
    lines = []
    for set_name, by_detector in results["sets"].items():
        any_result = next(iter(by_detector.values()))
        lines += [
            f"**{set_name}**: {len(by_detector) and any_result['faces']} labelled faces",
            "",
            "| detector | recall | " + " | ".join(f"recall {b} px" for b in bands)
            + " | precision | detections/photo | ms/photo |",
            "|---" * (len(bands) + 5) + "|",
        ]
        for name, r in by_detector.items():
            row = [name, cell(r["recall"])]
            row += [cell(r["recall by width"][b], 2) for b in bands]
            row += [cell(r.get("precision")), cell(r["detections/photo"], 1),
                    cell(r["ms/photo"], 0)]  # fmt: skip
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += pose_table(results)
    lines += ["| photo | shipped ms | single pass ms |", "|---|---|---|"]
    for photo, ms in results["latency"].items():
        lines.append(f"| {photo} | {ms['shipped']:.1f} | {ms['single_pass']:.1f} |")
    lines += ["", "Detectors: " + "; ".join(f"{n}: {DETECTORS[n][0]}" for n in results["ran"])]
    return "\n".join(lines)


def pose_table(results: dict) -> list[str]:
    """Lines of a table of the synthetic sets' recall by head pose (found / labelled), where
    the misses are: the detectors differ most on turned heads."""
    groups = detection_data.POSE_GROUPS
    lines = ["Synthetic sets' recall by the pasted face's source and yaw (found / labelled):", "",
             "| set | detector | " + " | ".join(groups) + " |", "|---" * (len(groups) + 2) + "|"]
    for set_name, by_detector in results["sets"].items():
        for name, r in by_detector.items():
            if "recall by pose" in r:
                counts = [r["recall by pose"][g] for g in groups]
                cells = [f"{cell(hit / n if n else None)} ({hit}/{n})" for hit, n in counts]
                lines.append(f"| {set_name} | {name} | " + " | ".join(cells) + " |")
    return lines + [""] if len(lines) > 4 else []


def reuse(results: dict, previous: dict) -> None:
    """Add to ``results`` the rows of ``previous`` for the detectors it did not run."""
    for set_name, rows in previous["sets"].items():
        for name, row in rows.items():
            if name not in results["ran"]:
                results["sets"].setdefault(set_name, {})[name] = row
    results["ran"] += [name for name in previous["ran"] if name not in results["ran"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="synthetic photos of each size")
    parser.add_argument("--seed", type=int, default=11, help="of the synthetic photos")
    parser.add_argument("--only", help="comma-separated detectors: " + ",".join(DETECTORS))
    parser.add_argument("--repeat", type=int, default=30, help="timed runs for the latency rows")
    parser.add_argument("--write", type=Path, help="update the detection section of this file")
    parser.add_argument("--json", type=Path, default=Path("bench/results/detection.json"))
    parser.add_argument("--reuse", action="store_true", help="others' rows: from the --json file")
    args = parser.parse_args()
    if not datasets.DATA.is_dir():
        sys.exit(f"dev data not found at {datasets.DATA}")
    runners = {}
    for name in args.only.split(",") if args.only else DETECTORS:
        try:
            runners[name] = DETECTORS[name][1]()
        except ImportError as error:
            print(f"{name}: left out ({error}); pip install -e '.[bench]'", file=sys.stderr)
    results: dict = {"sets": {}, "ran": list(runners)}
    for set_name, samples in sets(args.count, args.seed).items():
        results["sets"][set_name] = {}
        for name, run in runners.items():
            results["sets"][set_name][name] = r = score(run, samples)
            print(f"{set_name} / {name}: {json.dumps(r)}", flush=True)
    if args.reuse and args.json.exists():
        reuse(results, json.loads(args.json.read_text()))
    results["latency"] = latency(args.repeat)
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    if args.write:
        write_section(args.write, "bench:detection", table(results))


if __name__ == "__main__":
    main()
