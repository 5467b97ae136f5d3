"""The 128-d face descriptor of face-api's face_recognition net: a shared face representation.

Trained to tell identities apart, the descriptor keeps what makes faces differ (and so
ethnicity, which age_gender's pooled features lose: 55% against 86% for a head trained on
each, MODELS.md). The crop is face-api's dlib-style box from the eye and mouth centres.
"""

from __future__ import annotations

import numpy as np

from rosto import alignment, models
from rosto.analysis import Analysis
from rosto.landmarks import landmarks68

MODEL = "face_recognition"
INPUT = 150


def boxes(points: np.ndarray) -> np.ndarray:
    """(N, 4) face-api's ``align(useDlibAlignment)`` boxes from (N, 68, 2) landmarks."""
    right_eye, left_eye = points[:, 36:42].mean(1), points[:, 42:48].mean(1)
    mouth = points[:, 48:68].mean(1)
    size = np.linalg.norm(mouth - right_eye, axis=1) + np.linalg.norm(mouth - left_eye, axis=1)
    size = size / 2 / 0.45
    ref = (right_eye + left_eye + mouth) / 3
    top_left = ref - np.stack([0.5 * size, 0.43 * size], axis=1)
    return np.concatenate([top_left, top_left + size[:, None]], axis=1)


def crops(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 150, 150, 3) float32 RGB 0..255 descriptor crops."""
    return alignment.crops(image, boxes(points), INPUT)


def _descriptors(analysis: Analysis) -> np.ndarray:
    (out,) = models.run(MODEL, crops(analysis.image, landmarks68(analysis)))
    return out


def descriptors(analysis: Analysis) -> np.ndarray:
    """(N, 128) descriptors of every face, computed once per request."""
    return analysis.shared(MODEL, _descriptors)
