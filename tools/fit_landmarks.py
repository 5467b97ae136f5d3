"""Fit the landmark correction (``rosto/weights/landmark_correction.npz``) on HELEN's training
photos; report it.

Each photo that ``tools.prepare_landmarks`` brought (870 HELEN training photos with 300-W
points), and its mirror image, goes through the serving pipeline (detect → the landmark crop and
its mirror → the net's averaged points); the face the detector finds over the annotated one is
kept. A ridge regression learns, in the crop's frame (fractions of the square the net reads),
each of the 136 coordinates' residual (300-W's point − the net's) from the net's 136
coordinates. The penalty is chosen by 5-fold cross-validation (a photo and its mirror always in
the same fold); the shipped model is then fitted on all the faces. Only the standardisation and
the regression weights ship; ``rosto.landmarks.corrected`` applies them, faded out past the
fitted yaws these faces reach (printed here: ``YAW_FULL``, ``YAW_NONE`` follow them).

Tried and not kept: the net's 256 pooled features of the crop and its mirror as more inputs
(cross-validated NME 0.0380 at best, no better, and far off on AFLW2000-3D's faces, whose
features lie outside HELEN's: its 0-30° band 0.0317 → 0.039-0.089); kernel ridge (RBF) on the
points after the ridge (0.0378-0.0401). MODELS.md, "Landmarks: a learned correction".

    python -m tools.fit_landmarks [--folder ~/.cache/rosto/data/helen_train]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench import datasets
from bench.accuracy import iou
from rosto import alignment, detection
from rosto.analysis import Analysis
from rosto.landmarks import MIRROR, corrected, fitted, landmark_boxes, landmarks68
from rosto.models import WEIGHTS_DIR
from tools.prepare_faces import data_cache

FOLDS, SEED = 5, 0
PENALTIES = (0.1, 0.3, 1.0, 3.0, 10.0, 100.0)  # ridge penalties tried, on standardised inputs
Model = dict[str, np.ndarray]


def to_crop(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Image pixels → fractions of the landmark net's square around detector ``box``."""
    left, top, side = alignment.squares(landmark_boxes(box[None]))[0]
    return (points - [left, top]) / side


def best_face(faces: list, truth: np.ndarray):
    """The detected face most overlapping the annotated points' box (IoU ≥ 0.3), or None."""
    extent = np.concatenate([truth.min(0), truth.max(0)])
    overlaps = [iou(extent, face.box) for face in faces]
    return faces[int(np.argmax(overlaps))] if overlaps and max(overlaps) > 0.3 else None


def samples(folder: Path) -> tuple[np.ndarray, ...]:
    """(the net's points, the true points: (N, 68, 2) crop frame; photo index, mirrored?, the
    yaw fitted to the net's points) of every face found, and the photos where it was missed."""
    rows, missed = [], 0
    for index, pts in enumerate(sorted(folder.glob("*.pts"))):
        image, truth = datasets.load(pts.with_suffix(".jpg")), datasets.read_pts(pts)
        for flipped in (False, True):
            photo = np.ascontiguousarray(image[:, ::-1]) if flipped else image
            gt = truth[MIRROR] * [-1, 1] + [image.shape[1] - 1, 0] if flipped else truth
            face = best_face(detection.detect(photo), gt)
            if face is None:
                missed += not flipped
                continue
            analysis = Analysis(photo, [face])
            points = landmarks68(analysis)[0]
            rows.append((to_crop(points, face.box), to_crop(gt, face.box), index, flipped,
                         fitted(analysis)[0, 2]))  # fmt: skip
    net, truth, photo, flipped, yaw = (np.array(column) for column in zip(*rows, strict=True))
    return net, truth, photo, flipped, yaw, missed


def fit(net: np.ndarray, truth: np.ndarray, penalty: float) -> Model:
    """Ridge regression of the residual (truth − the net's points, crop frame) on the net's."""
    x = net.reshape(len(net), -1)
    residual = truth.reshape(len(x), -1) - x
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    offset = residual.mean(0)
    weights = np.linalg.solve(z.T @ z + penalty * np.eye(z.shape[1]), z.T @ (residual - offset))
    return {"mean": mean, "std": std, "weights": weights, "offset": offset}


def nme(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per face: mean point error over the outer eye corners' distance (the benchmark's)."""
    inter_ocular = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    return np.linalg.norm(points - truth, axis=2).mean(1) / inter_ocular


def cross_validated(net: np.ndarray, truth: np.ndarray, photo: np.ndarray, penalty: float
                    ) -> np.ndarray:  # fmt: skip
    """Each face's corrected points from a model fitted on the other folds' photos."""
    fold_of = np.random.default_rng(SEED).permutation(photo.max() + 1) % FOLDS
    out = np.zeros_like(truth)
    for fold in range(FOLDS):
        held = fold_of[photo] == fold
        out[held] = corrected(
            net[held], np.zeros(held.sum()), fit(net[~held], truth[~held], penalty)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=data_cache() / "helen_train")
    args = parser.parse_args()
    if not (args.folder / "guard.json").is_file():
        sys.exit(f"no guarded training photos in {args.folder}: run tools.prepare_landmarks")
    net, truth, photo, flipped, yaw, missed = samples(args.folder)
    print(f"faces {int((~flipped).sum())} (+ mirrors), photos with the face missed: {missed}")
    print(
        "fitted |yaw| percentiles 50/90/95/99/100:",
        np.percentile(np.abs(yaw), [50, 90, 95, 99, 100]).round(1),
    )
    print(f"the net alone: NME {nme(net, truth)[~flipped].mean():.4f}")
    scores = {}
    for penalty in PENALTIES:
        scores[penalty] = nme(cross_validated(net, truth, photo, penalty), truth)[~flipped].mean()
        print(f"ridge {penalty:g}, 5-fold cross-validated: NME {scores[penalty]:.4f}")
    best = min(scores, key=scores.get)
    model = {k: v.astype(np.float32) for k, v in fit(net, truth, best).items()}
    np.savez(WEIGHTS_DIR / "landmark_correction.npz", **model)
    guard = json.loads((args.folder / "guard.json").read_text())
    print(
        f"written {WEIGHTS_DIR / 'landmark_correction.npz'} (penalty {best:g}, {len(net)} faces; "
        f"{guard['repo']}@{guard['commit'][:7]}, guard {guard['guard']['unseen.txt'][:12]})"
    )


if __name__ == "__main__":
    main()
