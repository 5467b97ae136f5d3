"""pose: roll, pitch and yaw in integer degrees, from the landmark net's points and features
(``rosto.headpose``)."""

from __future__ import annotations

import numpy as np

from rosto import headpose
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import fitted, landmark_features, landmarks68


def compute(analysis: Analysis) -> list[dict]:
    inputs = np.stack([
        headpose.features(points, face.keypoints, face.box, net, angles)
        for points, face, net, angles in zip(
            landmarks68(analysis), analysis.faces, landmark_features(analysis), fitted(analysis),
            strict=True,
        )
    ])  # fmt: skip
    angles = np.clip(np.round(headpose.predict(inputs, headpose.correction())), -90, 90)
    return [
        {"pose": {"x_roll": int(roll), "y_pitch": int(pitch), "z_yaw": int(yaw)}}
        for roll, pitch, yaw in angles
    ]


FEATURE = Feature("pose", compute)
