"""The per-face record that detection creates and the shared inputs fill in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Face:
    """One detected face, in pixel coordinates of the oriented input image."""

    box: np.ndarray  # (4,) float: left, top, right, bottom
    score: float
    keypoints: np.ndarray  # (K, 2) float: the detector's coarse points (eyes first)

    @property
    def area(self) -> float:
        left, top, right, bottom = self.box
        return float(max(0.0, right - left) * max(0.0, bottom - top))
