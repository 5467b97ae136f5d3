"""quality: blur (variance of the Laplacian) and exposure of the face region.

Both are measured on the grey face box, shrunk to at most 128 px on its longer side so that a
level means about the same for a face of 128 px and one of 600 px; smaller faces are measured
as they are (enlarging them would make every small face look blurry). Blur threshold 100
(API.md): below it, the face is blurry. Exposure compares the patch's mean luminance and its
share of clipped pixels against thresholds set on synthetic darkening and brightening
of sharp portraits (``tests/test_quality.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto.analysis import Analysis
from rosto.features import Feature

PATCH = 128
BLUR_THRESHOLD = 100
DARK_MEAN, DARK_SHARE = 60, 0.5  # mean luminance below, or share of pixels under 30 above
BRIGHT_MEAN, BRIGHT_SHARE = 200, 0.4  # mean luminance above, or share of pixels over 240 above


def face_patch(analysis: Analysis, box: np.ndarray) -> np.ndarray:
    """The face box of the image as a grey uint8 patch of at most PATCH px."""
    height, width = analysis.image.shape[:2]
    left, top, right, bottom = np.round(box).astype(int)
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(max(right, left + 1), width), min(max(bottom, top + 1), height)
    crop = analysis.image[top:bottom, left:right]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    scale = PATCH / max(grey.shape)
    if scale >= 1:
        return grey
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def blur_level(patch: np.ndarray) -> int:
    return int(round(cv2.Laplacian(patch, cv2.CV_64F).var()))


def exposure_level(patch: np.ndarray) -> str:
    mean = float(patch.mean())
    if mean < DARK_MEAN or (patch < 30).mean() > DARK_SHARE:
        return "underexposed"
    if mean > BRIGHT_MEAN or (patch > 240).mean() > BRIGHT_SHARE:
        return "overexposed"
    return "balanced"


def compute(analysis: Analysis) -> list[dict]:
    out = []
    for face in analysis.faces:
        patch = face_patch(analysis, face.box)
        level = blur_level(patch)
        out.append({
            "blur": {"is_blurry": level < BLUR_THRESHOLD, "level": level,
                     "threshold": BLUR_THRESHOLD},
            "exposure": {"level": exposure_level(patch)},
        })  # fmt: skip
    return out


FEATURE = Feature("quality", compute)
