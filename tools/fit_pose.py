"""Fit the head-pose correction (``rosto/weights/pose_krr.npz``) on AFLW2000-3D; report it.

Every face within ±99° of ``pose/`` and its mirror image (yaw and roll change sign) go through
the serving pipeline (detect → landmarks → ``headpose.features``). A kernel ridge regression
(RBF) learns each angle's residual after the 3D fit; tried and not kept: predicting the
rotation matrix instead of the residual angles (pitch 5.96 at best, the same), PCA of a grey
32² face crop as extra inputs (pitch 5.73 with 10 components, against 5.94: not worth a
second crop and a shipped basis). Its figures are 5-fold cross-validated,
a photo and its mirror always in the same fold: each face is predicted by a model that never
saw it. The shipped model is then fitted on all the faces. Only standardised shape features
(landmark positions relative to the face, no pixel) and regression weights ship.

    python -m tools.fit_pose [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench import datasets
from rosto import detection, headpose
from rosto.analysis import Analysis
from rosto.landmarks import landmarks68
from rosto.models import WEIGHTS_DIR

LAMBDA, GAMMA, FOLDS, SEED = 0.03, 0.3, 5, 0  # chosen by the cross-validation below
ANGLE_WEIGHT = 3.0  # the fitted angles count 3× in the kernel's distance (pitch 6.07 → 5.94)
MIRRORED = np.array([-1.0, 1.0, -1.0])  # roll, pitch, yaw of a mirror image


def samples(data: Path = datasets.DATA, limit: int | None = None):
    """(features, true angles, photo index, mirrored?) of every face found, and the number of
    photos with none; each photo twice, as it is and mirrored."""
    rows, missed = [], 0
    for index, (path, angles) in enumerate(datasets.aflw(data)):
        if limit and index >= limit:
            break
        image = datasets.load(path)
        for flipped in (False, True):
            photo = np.ascontiguousarray(image[:, ::-1]) if flipped else image
            faces = detection.detect(photo)
            if not faces:
                missed += not flipped
                continue
            points = landmarks68(Analysis(photo, faces[:1]))[0]
            truth = np.array(angles) * (MIRRORED if flipped else 1.0)
            inputs = headpose.features(points, faces[0].keypoints, faces[0].box)
            rows.append((inputs, truth, index, flipped))
    x, truth, photo, flipped = (np.array(column) for column in zip(*rows, strict=True))
    return x, truth, photo, flipped, missed


def fit(x: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """The correction model: kernel ridge on standardised features, residual of the 3D fit."""
    weight = np.ones(x.shape[1])
    weight[-4:-1] = ANGLE_WEIGHT
    mean, std = x.mean(0), (x.std(0) + 1e-6) / weight  # a weight is folded into the scale
    support = (x - mean) / std
    residual = truth - x[:, -4:-1]
    offset = residual.mean(0)
    gram = headpose.kernel(support, support, GAMMA) + LAMBDA * np.eye(len(support))
    alpha = np.linalg.solve(gram, residual - offset)
    return {"support": support, "alpha": alpha, "mean": mean, "std": std,
            "gamma": np.array(GAMMA), "offset": offset}  # fmt: skip


def cross_validated(x: np.ndarray, truth: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Each face's angles predicted by a model fitted on the other folds' photos."""
    fold_of = np.random.default_rng(SEED).permutation(photo.max() + 1) % FOLDS
    predicted = np.zeros_like(truth)
    for fold in range(FOLDS):
        held = fold_of[photo] == fold
        predicted[held] = headpose.predict(x[held], fit(x[~held], truth[~held]))
    return predicted


def report(errors: np.ndarray, yaw: np.ndarray) -> list[str]:
    lines = [f"all ({len(errors)} faces): roll {errors[:, 0].mean():.2f}  "
             f"pitch {errors[:, 1].mean():.2f}  yaw {errors[:, 2].mean():.2f}"]  # fmt: skip
    for lo, hi in ((0, 30), (30, 60), (60, 100)):
        pick = (np.abs(yaw) >= lo) & (np.abs(yaw) < hi)
        e = errors[pick].mean(0)
        lines.append(f"yaw {lo}-{min(hi, 90)} ({pick.sum()}): roll {e[0]:.2f}  pitch {e[1]:.2f}  "
                     f"yaw {e[2]:.2f}")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=datasets.DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data folder at {args.data}")
    x, truth, photo, flipped, missed = samples(args.data)
    original = ~flipped
    fitted_only = np.abs(x[:, -4:-1] - truth)[original]
    corrected = np.abs(cross_validated(x, truth, photo) - truth)[original]
    print(f"photos with no face found: {missed}")
    print("3D fit alone:", *report(fitted_only, truth[original, 2]), sep="\n  ")
    print("with the correction, 5-fold cross-validated:",
          *report(corrected, truth[original, 2]), sep="\n  ")  # fmt: skip
    model = {k: v.astype(np.float32) for k, v in fit(x, truth).items()}
    np.savez(WEIGHTS_DIR / "pose_krr.npz", **model)
    print(f"written {WEIGHTS_DIR / 'pose_krr.npz'} ({len(x)} faces)")


if __name__ == "__main__":
    main()
