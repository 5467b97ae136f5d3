"""face-api's face_recognition net: the face representation under the ethnicity head.

Trained to tell identities apart, the net keeps what makes faces differ (and so ethnicity,
which age_gender's pooled features lose: 55% against 86% for a head trained on each,
MODELS.md). Its ``features`` output, the last 256×2×2 map before pooling, keeps where on the
face a cue is and measures better than the 128-d ``descriptor`` (MODELS.md). The crop is
face-api's dlib-style box from the eye and mouth centres, optionally widened about its centre.
"""

from __future__ import annotations

import numpy as np

from rosto import alignment, models

MODEL = "face_recognition"
INPUT = 150


def boxes(points: np.ndarray, zoom: float = 1.0) -> np.ndarray:
    """(N, 4) face-api's ``align(useDlibAlignment)`` boxes from (N, 68, 2) landmarks,
    ``zoom`` times as wide about their centres."""
    right_eye, left_eye = points[:, 36:42].mean(1), points[:, 42:48].mean(1)
    mouth = points[:, 48:68].mean(1)
    size = np.linalg.norm(mouth - right_eye, axis=1) + np.linalg.norm(mouth - left_eye, axis=1)
    size = size / 2 / 0.45
    centre = (right_eye + left_eye + mouth) / 3  # face-api puts it 0.43 of the side from the top
    centre[:, 1] += 0.07 * size
    half = (zoom * size / 2)[:, None]
    return np.concatenate([centre - half, centre + half], axis=1)


def crops(image: np.ndarray, points: np.ndarray, zoom: float = 1.0) -> np.ndarray:
    """(N, 150, 150, 3) float32 RGB 0..255 crops of the net's box ``zoom`` times as wide."""
    return alignment.crops(image, boxes(points, zoom), INPUT)


def features(batch: np.ndarray) -> np.ndarray:
    """(N, 1024) ``features`` of (N, 150, 150, 3) crops."""
    _, out = models.run(MODEL, batch)
    return out
