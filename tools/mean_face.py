"""Build the 3D mean face that head pose is solved against (``rosto/weights/mean_face_68.json``).

The shape is the generalised-Procrustes mean of the 68 fitted 3D points of AFLW2000-3D
(``pose/`` of the dev data, faces within 99°). Only this 68×3 average ships, no photo or label.
Frame: x towards the image's right, y down, z away from the camera (OpenCV's camera frame for
a frontal face), origin at the centroid, unit = mean inter-ocular distance. The depth and the
nod are then fitted to the landmark net's own points on the same faces (``fit_to_landmark_net``).

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


Sample = tuple[np.ndarray, np.ndarray, np.ndarray]  # landmarks, camera, (roll, pitch, yaw)


def detected_samples(data: Path) -> list[Sample]:
    """The labelled faces as the pipeline sees them: its own detected 68 landmarks."""
    samples = []
    for path, angles in datasets.aflw(data):
        image = datasets.load(path)
        faces = detection.detect(image)
        if faces:
            points = landmarks68(Analysis(image, faces[:1]))[0]
            camera = headpose.face_camera(points)
            samples.append((points, camera, np.array(angles)))
    return samples


def pose_errors(model: np.ndarray, samples: list[Sample]) -> np.ndarray:
    """(N, 3) absolute roll, pitch, yaw errors of the samples against ``model``."""
    return np.array(
        [np.abs(np.array(headpose.euler(headpose.rotation(p, cam, model))) - label)
         for p, cam, label in samples]
    )  # fmt: skip


def fit_to_landmark_net(shape: np.ndarray, samples: list[Sample]) -> tuple[np.ndarray, dict]:
    """The mean face adjusted to the landmark net's points, and the adjustments.

    Fitted on the pipeline's own landmarks, since the net's points sit differently from the
    fitted 3D ones: the tilt about x that makes zero pitch AFLW's zero pitch (on faces within
    ±30° of yaw: a Procrustes mean has an arbitrary nod), then the depth scale that minimises
    the summed angle errors (the net draws turned faces more frontal than they are, which a
    shallower face makes up for), then the tilt again for that depth.
    """
    frontal = [s for s in samples if abs(s[2][2]) < 30]

    def level(model: np.ndarray) -> float:
        return min(np.arange(-40.0, 40.5, 1.0),
                   key=lambda t: pose_errors(rotate_x(model, t), frontal)[:, 1].mean())  # fmt: skip

    first = level(shape)
    tilted = rotate_x(shape, first)
    depth = min(np.arange(0.5, 1.01, 0.05),
                key=lambda z: pose_errors(tilted * [1, 1, z], samples).mean(0).sum())  # fmt: skip
    second = level(tilted * [1, 1, depth])
    fitted = {"tilt_deg": first + second, "depth_scale": round(float(depth), 2)}
    return rotate_x(tilted * [1, 1, depth], second), fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    args = parser.parse_args()
    shapes = load_shapes(args.data)
    samples = detected_samples(args.data)
    mean, fitted = fit_to_landmark_net(mean_shape(shapes), samples)
    errors = pose_errors(mean, samples).mean(0)
    OUT.write_text(
        json.dumps(
            {
                "source": "AFLW2000-3D pt3d_68, Procrustes mean, fitted to the landmark net",
                "faces": len(shapes),
                **fitted,
                "points": np.round(mean, 4).tolist(),
            }
        )
        + "\n"
    )
    print(
        f"{OUT}: mean of {len(shapes)} faces, {fitted}; on {len(samples)} detected faces "
        f"MAE roll {errors[0]:.2f}, pitch {errors[1]:.2f}, yaw {errors[2]:.2f}"
    )


if __name__ == "__main__":
    main()
