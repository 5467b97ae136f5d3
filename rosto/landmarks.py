"""The 68 iBUG landmarks of every face (face-api's landmark_68 net), and the eye centres.

Shared inputs: computed once per request for all faces, whichever features ask.
"""

from __future__ import annotations

import numpy as np

from rosto import alignment, models
from rosto.analysis import Analysis

MODEL = "face_landmark_68"
INPUT = 112
# The net was trained on face-api's SSD boxes, taller than BlazeFace's: the detector box grown
# by BOX_SCALE and moved down by BOX_SHIFT of its height. Grid search on HELEN (NME 0.048 with
# the plain detector box → 0.044, `bench.accuracy --only landmarks`).
BOX_SCALE, BOX_SHIFT = 1.15, 0.08


def landmark_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) detector boxes → the boxes the landmark net expects."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = boxes[:, 2:] - boxes[:, :2]
    centre[:, 1] += BOX_SHIFT * size[:, 1]
    half = size * BOX_SCALE / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def _landmarks(analysis: Analysis) -> np.ndarray:
    boxes = landmark_boxes(np.stack([face.box for face in analysis.faces]))
    batch = alignment.crops(analysis.image, boxes, INPUT)
    (out,) = models.run(MODEL, batch)
    return alignment.to_image(out.reshape(-1, 68, 2), boxes)


def landmarks68(analysis: Analysis) -> np.ndarray:
    """(N, 68, 2) float landmarks in image pixels, iBUG order."""
    return analysis.shared("landmarks68", _landmarks)


def eye_centres(analysis: Analysis) -> np.ndarray:
    """(N, 2, 2): the subject's right then left eye centre, as the mean of each eye contour."""
    pts = landmarks68(analysis)
    return np.stack([pts[:, 36:42].mean(axis=1), pts[:, 42:48].mean(axis=1)], axis=1)


def _aligned_boxes(analysis: Analysis) -> np.ndarray:
    return np.stack([alignment.padded_box(p) for p in landmarks68(analysis)])


def aligned_boxes(analysis: Analysis) -> np.ndarray:
    """(N, 4) face boxes from the landmarks, grown 20% (face-api's aligned rect)."""
    return analysis.shared("aligned_boxes", _aligned_boxes)


def aligned_crops(analysis: Analysis, size: int = 112) -> np.ndarray:
    """(N, size, size, 3) float32 RGB 0..255 crops of the aligned boxes, for attribute nets."""
    return analysis.shared(
        ("aligned_crops", size),
        lambda a: alignment.crops(a.image, aligned_boxes(a), size),
    )
