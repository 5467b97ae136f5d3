"""Head pose from 68 landmarks: the 3D mean face fitted by perspective-n-point.

Angles follow AFLW2000-3D's convention, so the benchmark compares them directly:
``z_yaw`` > 0 when the face turns towards the image's left (the subject's right), ``y_pitch``
> 0 when the face looks up, ``x_roll`` > 0 when the head leans clockwise as displayed (its top
towards the image's right). ``tests/test_pose.py`` checks these under mirroring and rotation.
"""

from __future__ import annotations

import json
from functools import cache

import cv2
import numpy as np

from rosto.models import WEIGHTS_DIR


@cache
def mean_face() -> np.ndarray:
    """(68, 3) mean face in the camera frame (x right, y down, z away), unit = eye distance."""
    data = json.loads((WEIGHTS_DIR / "mean_face_68.json").read_text())
    return np.asarray(data["points"], dtype=np.float64)


def camera(width: int, height: int) -> np.ndarray:
    """A plain pinhole camera: focal length the larger image side, centre in the middle."""
    focal = float(max(width, height))
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)


def rotation(points: np.ndarray, cam: np.ndarray, model: np.ndarray) -> np.ndarray:
    """The 3×3 rotation taking ``model`` to the camera, fitted to 2D ``points`` (68, 2).

    Starting from an upright face at the right distance keeps the solver away from the
    mirrored, upside-down minimum that an unguided start sometimes finds.
    """
    focal, cx, cy = cam[0, 0], cam[0, 2], cam[1, 2]
    width = max(np.ptp(points[:, 0]), np.ptp(points[:, 1]), 1.0)
    depth = focal * np.ptp(model[:, 0]) / width
    centre = points.mean(0)
    tvec = np.array([(centre[0] - cx) * depth / focal, (centre[1] - cy) * depth / focal, depth])
    rvec = np.zeros(3)
    _, rvec, _ = cv2.solvePnP(
        model, points.astype(np.float64), cam, None, rvec, tvec.reshape(3, 1),
        useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
    )  # fmt: skip
    return cv2.Rodrigues(rvec)[0]


def euler(rot: np.ndarray) -> tuple[float, float, float]:
    """(roll, pitch, yaw) in degrees of a camera-frame rotation, z-y-x order, AFLW signs."""
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    yaw = np.degrees(np.arcsin(-np.clip(rot[2, 0], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    return float(roll), float(-pitch), float(yaw)


def estimate(points: np.ndarray, width: int, height: int) -> tuple[float, float, float]:
    """(roll, pitch, yaw) in degrees of one face from its 68 landmarks (image pixels)."""
    return euler(rotation(points, camera(width, height), mean_face()))
