"""Build the 3D mean face that head pose is solved against (``rosto/weights/mean_face_68.json``).

The shape is the generalised-Procrustes mean of the 68 fitted 3D points of AFLW2000-3D
(``pose/`` of the dev data, faces within 99°). Only this 68×3 average ships, no photo or label.
Frame: x towards the image's right, y down, z away from the camera (OpenCV's camera frame for
a frontal face), origin at the centroid, unit = mean inter-ocular distance.

    python -m tools.mean_face [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import scipy.io

from bench import datasets
from rosto import detection, headpose
from rosto.analysis import Analysis
from rosto.landmarks import landmarks68

OUT = Path(__file__).resolve().parents[1] / "rosto" / "weights" / "mean_face_68.json"


def load_shapes(data: Path) -> np.ndarray:
    """(N, 68, 3) fitted points in the camera frame, of faces within ±99°."""
    shapes = []
    with open(data / "pose" / "manifest.csv") as f:
        for row in csv.DictReader(f):
            if row["within_99deg"] != "1":
                continue
            pts = scipy.io.loadmat(data / "pose" / row["mat_file"])["pt3d_68"].T
            shapes.append(pts * np.array([1.0, 1.0, -1.0]))  # z towards the viewer → away
    return np.stack(shapes)


def align(shape: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``shape`` rotated, scaled and moved onto ``ref`` (least squares, no reflection)."""
    a = shape - shape.mean(0)
    u, s, vt = np.linalg.svd(a.T @ ref)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, 1.0, d]) @ vt
    scale = (s * np.array([1.0, 1.0, d])).sum() / (a**2).sum()
    return scale * a @ rot


def inter_ocular(shape: np.ndarray) -> float:
    return float(np.linalg.norm(shape[36:42].mean(0) - shape[42:48].mean(0)))


def mean_shape(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    frontal = np.argmin([np.abs(s[16, 2] - s[0, 2]) for s in shapes])  # cheeks at equal depth
    ref = shapes[frontal] - shapes[frontal].mean(0)
    for _ in range(iterations):
        ref = np.mean([align(s, ref) for s in shapes], axis=0)
        ref /= inter_ocular(ref)
    return ref


def rotate_x(shape: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    return shape @ rot.T


def pitch_offset(shape: np.ndarray, data: Path) -> float:
    """The tilt about x that makes the mean face's zero pitch AFLW's zero pitch.

    A Procrustes mean has an arbitrary nod, and the landmark net's points sit a little
    differently from the fitted 3D ones: the tilt is fitted on the landmarks the pipeline
    itself finds (detect → landmark net) on the labelled faces within ±30° of yaw.
    """
    samples = []
    for path, (_, pitch, yaw) in datasets.aflw(data):
        if abs(yaw) >= 30:
            continue
        image = datasets.load(path)
        faces = detection.detect(image)
        if faces:
            points = landmarks68(Analysis(image, faces[:1]))[0]
            samples.append((points, headpose.camera(image.shape[1], image.shape[0]), pitch))

    def error(offset: float) -> float:
        model = rotate_x(shape, offset)
        errors = [
            abs(headpose.euler(headpose.rotation(p, cam, model))[1] - label)
            for p, cam, label in samples
        ]
        return float(np.mean(errors))

    return min(np.arange(-40.0, 40.5, 1.0), key=error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    shapes = load_shapes(args.data)
    mean = mean_shape(shapes)
    offset = pitch_offset(mean, args.data)
    mean = rotate_x(mean, offset)
    OUT.write_text(
        json.dumps(
            {
                "source": "AFLW2000-3D pt3d_68, Procrustes mean",
                "faces": len(shapes),
                "pitch_offset_deg": float(offset),
                "points": np.round(mean, 4).tolist(),
            }
        )
        + "\n"
    )
    print(f"{OUT}: mean of {len(shapes)} faces")


if __name__ == "__main__":
    main()
