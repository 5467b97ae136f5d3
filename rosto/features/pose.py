"""pose: roll, pitch and yaw in integer degrees, from the landmarks (``rosto.headpose``)."""

from __future__ import annotations

import numpy as np

from rosto import headpose
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import landmarks68


def compute(analysis: Analysis) -> list[dict]:
    height, width = analysis.image.shape[:2]
    out = []
    for pts in landmarks68(analysis):
        roll, pitch, yaw = (int(np.clip(round(a), -90, 90)) for a in
                            headpose.estimate(pts, width, height))  # fmt: skip
        out.append({"pose": {"x_roll": roll, "y_pitch": pitch, "z_yaw": yaw}})
    return out


FEATURE = Feature("pose", compute)
