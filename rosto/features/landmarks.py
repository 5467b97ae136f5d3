"""landmarks: the 71 points of API.md (iBUG-300W's 68 plus both eye centres and the mouth's)."""

from __future__ import annotations

import numpy as np

from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import answer_points, eye_centres
from rosto.response import point, points

# API.md's groups as index lists into the 68 iBUG points.
GROUPS = {
    "jaw": list(range(0, 17)),
    "right_eyebrow": list(range(17, 22)),
    "left_eyebrow": list(range(22, 27)),
    "nose": list(range(27, 36)),
    "right_eye": list(range(36, 42)),
    "left_eye": list(range(42, 48)),
    "upper_lip": [*range(48, 55), 61, 62, 63],
    "under_lip": [*range(55, 60), 60, 64, 65, 66, 67],
}


def layout(pts: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray) -> dict:
    """The API's landmarks object of one face from its (68, 2) points and eye centres."""
    out: dict = {name: points(pts[idx]) for name, idx in GROUPS.items()}
    out["right_eye_center"] = point(right_eye)
    out["left_eye_center"] = point(left_eye)
    out["mouth_center"] = point(pts[60:68].mean(0))
    return out


def compute(analysis: Analysis) -> list[dict]:
    pts = answer_points(analysis)  # corrected; other features read the net's own points
    centres = eye_centres(analysis, pts)
    return [{"landmarks": layout(p, c[0], c[1])} for p, c in zip(pts, centres, strict=True)]


FEATURE = Feature("landmarks", compute)
