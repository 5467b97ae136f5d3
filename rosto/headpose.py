"""Head pose from the 68 landmarks and the detector's 6 keypoints: a 3D fit, then a learned fix.

1. The 3D mean face is fitted to the landmarks by perspective-n-point with the camera's axis
   through the face (principal point at the landmarks' centre, focal length ``FOCAL`` face
   sizes). The angles are then relative to the line of sight, as a person and AFLW2000-3D read
   them, and stay the same when a photo is cropped or padded around the face: the seed's camera
   at the image centre read a level face in the top half of a tall portrait as looking 15–25°
   down.
2. A learned correction (``pose_correction.npz``, fitted by ``python -m tools.fit_pose`` on
   AFLW2000-3D, its mirror images and turned and shrunk copies) adds to each angle the mean
   of three regressors' answers: a kernel ridge regression (RBF, Huber loss) on the shape of
   the landmarks and keypoints (levelled, centred and scaled) and the fitted angles, and a
   ridge regression and a small two-layer net on that shape and the landmark net's pooled
   features of the face and of its mirror image (their mean, unchanged by mirroring, and half
   their difference, which changes sign). The points alone miss how a turned or tilted face is
   shaded and foreshortened; the features, computed by the landmark net anyway, carry it. Far
   from every training face the kernel's correction fades to its mean, so an unusual face
   leans on the fit.

Angles follow AFLW2000-3D's convention, so the benchmark compares them directly:
``z_yaw`` > 0 when the face turns towards the image's left (the subject's right), ``y_pitch``
> 0 when the face looks up, ``x_roll`` > 0 when the head leans clockwise as displayed (its top
towards the image's right). ``tests/test_pose.py`` checks these under mirroring and rotation.
AFLW2000's angles are in x-y-z order (``aflw_matrix``: pitch outermost); the 3D fit's own
angles (``euler``) are in z-y-x order, and the correction reads them converted: past 40° of
yaw with some roll the two orders differ by 15–20° in roll and pitch.
"""

from __future__ import annotations

import json
from functools import cache

import cv2
import numpy as np

from rosto.models import WEIGHTS_DIR

FOCAL = 8.0  # focal length in face sizes: a portrait taken from about a metre


@cache
def mean_face() -> np.ndarray:
    """(68, 3) mean face in the camera frame (x right, y down, z away), unit = eye distance."""
    data = json.loads((WEIGHTS_DIR / "mean_face_68.json").read_text())
    return np.asarray(data["points"], dtype=np.float64)


@cache
def correction() -> dict[str, np.ndarray]:
    """The three regressors' weights and standardisations (``tools.fit_pose``)."""
    with np.load(WEIGHTS_DIR / "pose_correction.npz") as data:
        return {name: data[name].astype(np.float64) for name in data.files}


def face_camera(points: np.ndarray) -> np.ndarray:
    """A pinhole camera looking straight at the face: centre on it, focal FOCAL face sizes."""
    cx, cy = points.mean(0)
    focal = FOCAL * max(np.ptp(points[:, 0]), np.ptp(points[:, 1]), 1.0)
    return np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], dtype=np.float64)


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


def axis_rotation(axis: int, degrees: float) -> np.ndarray:
    """The camera-frame rotation by ``degrees`` about axis 0 (x), 1 (y) or 2 (z)."""
    a = np.radians(degrees)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    rot = np.eye(3)
    rot[i, i] = rot[j, j] = np.cos(a)
    rot[i, j], rot[j, i] = -np.sin(a), np.sin(a)
    return rot


def aflw_matrix(angles: np.ndarray) -> np.ndarray:
    """The rotation of (roll, pitch, yaw) in AFLW2000-3D's x-y-z order: Rx(−pitch)·Ry(yaw)·Rz(roll).

    A 3D Procrustes fit of the mean face to AFLW2000's own 3D points reads its labels to a
    median 2.5° / 3.4° / 1.1° (roll / pitch / yaw) in this order and 17° / 15° / 2° in
    ``euler``'s z-y-x order, on faces past 40° of yaw and 10° of roll."""
    roll, pitch, yaw = angles
    return axis_rotation(0, -pitch) @ axis_rotation(1, yaw) @ axis_rotation(2, roll)


def aflw_euler(rot: np.ndarray) -> np.ndarray:
    """(roll, pitch, yaw) in degrees of a rotation, in AFLW2000-3D's order (``aflw_matrix``)."""
    yaw = np.arcsin(np.clip(rot[0, 2], -1.0, 1.0))
    return np.degrees([np.arctan2(-rot[0, 1], rot[0, 0]), np.arctan2(rot[1, 2], rot[2, 2]), yaw])


def aflw_order(angles: np.ndarray) -> np.ndarray:
    """The z-y-x (roll, pitch, yaw) of ``euler`` in AFLW2000-3D's x-y-z order."""
    roll, pitch, yaw = angles
    return aflw_euler(axis_rotation(2, roll) @ axis_rotation(1, yaw) @ axis_rotation(0, -pitch))


def fitted_angles(points: np.ndarray) -> np.ndarray:
    """(3,) roll, pitch, yaw of the mean face fitted to one face's 68 points (image pixels)."""
    return np.array(euler(rotation(points, face_camera(points), mean_face())))


def shape_features(points: np.ndarray, keypoints: np.ndarray, box: np.ndarray,
                   angles: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """(156,) one face's shape: its 68 points, 6 detector keypoints and detector box corners,
    centred, levelled by the eye line and scaled to unit spread; the fitted angles (``angles``
    where a request has them already, ``rosto.landmarks.fitted``) in AFLW2000-3D's order; the
    eye line's angle (degrees)."""
    centre = points.mean(0)
    spread = np.sqrt(((points - centre) ** 2).sum(1).mean())
    eyes = points[42:48].mean(0) - points[36:42].mean(0)
    angle = np.arctan2(eyes[1], eyes[0])
    cos, sin = np.cos(angle), np.sin(angle)
    level = np.array([[cos, sin], [-sin, cos]]) / max(spread, 1e-6)
    corners = np.reshape(box, (2, 2))
    shape = np.concatenate([points, keypoints, corners]) - centre
    shape = shape @ level.T
    angles = fitted_angles(points) if angles is None else angles
    return np.concatenate([shape.ravel(), aflw_order(angles), [np.degrees(angle)]])


SHAPE = 156  # the shape features' length; the landmark net's features follow them
FITTED = slice(SHAPE - 4, SHAPE - 1)  # the fitted roll, pitch, yaw among them


def features(
    points: np.ndarray, keypoints: np.ndarray, box: np.ndarray, net: np.ndarray,
    angles: np.ndarray | None = None,
) -> np.ndarray:
    """(668,) one face's inputs to the correction: its shape features (``angles`` as there),
    then the mean and half the difference of the landmark net's pooled features (2, 256) of its
    crop and its mirror's."""
    return np.concatenate([shape_features(points, keypoints, box, angles),
                           (net[0] + net[1]) / 2, (net[0] - net[1]) / 2])  # fmt: skip


def kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """RBF kernel between standardised feature rows, its width scaled by their number."""
    distances = (a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T
    return np.exp(-gamma * np.maximum(distances, 0) / a.shape[1])


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (as ``torch.nn.GELU(approximate="tanh")``)."""
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def kernel_fix(inputs: np.ndarray, model: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 3) the kernel ridge regression's correction, from the shape features."""
    z = (inputs[:, :SHAPE] - model["krr_mean"]) / model["krr_std"]
    support = model["krr_support"]
    return kernel(z, support, float(model["krr_gamma"])) @ model["krr_alpha"] + model["krr_offset"]


def linear_fix(inputs: np.ndarray, model: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 3) the ridge regression's correction, from all the inputs."""
    z = (inputs - model["ridge_mean"]) / model["ridge_std"]
    return z @ model["ridge_weights"] + model["ridge_offset"]


def net_fix(inputs: np.ndarray, model: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 3) the two-layer nets' mean correction, from all the inputs."""
    z = (inputs - model["net_mean"]) / model["net_std"]
    hidden = gelu(np.einsum("nd,sdh->snh", z, model["net_w1"]) + model["net_b1"][:, None])
    out = np.einsum("snh,sho->sno", hidden, model["net_w2"]) + model["net_b2"][:, None]
    return out.mean(0) + model["net_offset"]


FIXES = (kernel_fix, linear_fix, net_fix)


def predict(inputs: np.ndarray, model: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 3) corrected roll, pitch, yaw: the fitted angles plus the regressors' mean fix."""
    return inputs[:, FITTED] + np.mean([fix(inputs, model) for fix in FIXES], axis=0)
