"""The 68 iBUG landmarks of every face (face-api's landmark_68 net), and the eye centres.

Shared inputs: computed once per request for all faces, whichever features ask. The net's own
points (``landmarks68``) feed every model and rule that reads landmarks; the landmarks feature
answers them corrected towards 300-W's annotation (``answer_points``).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from rosto import alignment, models
from rosto.analysis import Analysis
from rosto.headpose import fitted_angles
from rosto.models import WEIGHTS_DIR

MODEL = "face_landmark_68"
INPUT = 112
# The net was trained on face-api's SSD boxes, taller than BlazeFace's: the detector box grown
# by BOX_SCALE and moved down by BOX_SHIFT of its height. Grid search on HELEN and AFLW2000-3D
# with mirror averaging (HELEN NME 0.0446 → 0.0426, AFLW turned 60-90°: 0.146 → 0.133 of the
# box; MODELS.md).
BOX_SCALE, BOX_SHIFT = 1.2, 0.08
# iBUG index of each point's mirror image (the subject's right eye corner ↔ left, and so on).
MIRROR = np.array([
    *range(16, -1, -1), *range(26, 21, -1), *range(21, 16, -1), 27, 28, 29, 30,
    35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
])  # fmt: skip


def landmark_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) detector boxes → the boxes the landmark net expects."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = boxes[:, 2:] - boxes[:, :2]
    centre[:, 1] += BOX_SHIFT * size[:, 1]
    half = size * BOX_SCALE / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def _landmark_net(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """The net on each face's crop and on its mirror image, one batch; the two answers are
    averaged (the mirror's points flipped back), which halves the net's left-right quirks.
    Also the net's pooled features of both crops, (N, 2, 256): head pose reads them."""
    boxes = landmark_boxes(np.stack([face.box for face in analysis.faces]))
    batch = alignment.crops(analysis.image, boxes, INPUT)
    out, features = models.run(MODEL, np.concatenate([batch, batch[:, :, ::-1]]))
    direct, mirrored = np.split(out.reshape(-1, 68, 2), 2)
    mirrored = mirrored[:, MIRROR] * [-1, 1] + [1, 0]
    points = alignment.to_image((direct + mirrored) / 2, boxes)
    return points, np.stack(np.split(features, 2), axis=1)


def landmarks68(analysis: Analysis) -> np.ndarray:
    """(N, 68, 2) float landmarks in image pixels, iBUG order."""
    return analysis.shared("landmark_net", _landmark_net)[0]


def landmark_features(analysis: Analysis) -> np.ndarray:
    """(N, 2, 256) the landmark net's pooled features of each face's crop, then its mirror's."""
    return analysis.shared("landmark_net", _landmark_net)[1]


def eye_centres(analysis: Analysis, points: np.ndarray | None = None) -> np.ndarray:
    """(N, 2, 2): the subject's right then left eye centre, as the mean of each eye contour
    (of ``points``, by default the net's ``landmarks68``)."""
    pts = landmarks68(analysis) if points is None else points
    return np.stack([pts[:, 36:42].mean(axis=1), pts[:, 42:48].mean(axis=1)], axis=1)


@cache
def correction() -> dict[str, np.ndarray]:
    """The answer's correction: a ridge regression's standardisation and weights
    (``tools.fit_landmarks``)."""
    with np.load(WEIGHTS_DIR / "landmark_correction.npz") as data:
        return {name: data[name].astype(np.float64) for name in data.files}


# The correction acts in full up to this fitted yaw (degrees) and fades out by the next: its
# training faces reach 27.5° at the 95th percentile, 33° at the 99th. Beyond them it learnt
# nothing, and on AFLW2000-3D's turned faces (30-60°, 60-90°) it made the points worse.
YAW_FULL, YAW_NONE = 25.0, 35.0


def corrected(
    crop_points: np.ndarray, yaw: np.ndarray, model: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """(N, 68, 2) the net's points as fractions of its crop's square, corrected: plus the ridge
    regression's residual (``model``, by default the shipped ``correction()``), weighted 1 → 0
    as the fitted ``yaw`` (N,) goes from YAW_FULL to YAW_NONE."""
    model = correction() if model is None else model
    x = crop_points.reshape(len(crop_points), -1)
    fix = (x - model["mean"]) / model["std"] @ model["weights"] + model["offset"]
    weight = np.clip((YAW_NONE - np.abs(yaw)) / (YAW_NONE - YAW_FULL), 0.0, 1.0)
    return crop_points + weight[:, None, None] * fix.reshape(-1, 68, 2)


def fitted(analysis: Analysis) -> np.ndarray:
    """(N, 3) roll, pitch, yaw of the mean face fitted to each face's ``landmarks68``, once per
    request: head pose and the answer's correction both read them."""
    return analysis.shared(
        "fitted_angles", lambda a: np.array([fitted_angles(p) for p in landmarks68(a)])
    )


def _answer_points(analysis: Analysis) -> np.ndarray:
    points = landmarks68(analysis)
    boxes = landmark_boxes(np.stack([face.box for face in analysis.faces]))
    square = alignment.squares(boxes)
    crop = (points - square[:, None, :2]) / square[:, None, 2:]
    return alignment.to_image(corrected(crop, fitted(analysis)[:, 2]), boxes)


def answer_points(analysis: Analysis) -> np.ndarray:
    """(N, 68, 2) the points the API answers: the net's, plus a learned correction
    (``landmark_correction.npz``: a ridge regression of the 136 coordinates in the crop's frame,
    trained on HELEN's training photos, MODELS.md), faded out on turned faces. It moves the
    points towards 300-W's manual annotation. Only the landmarks feature reads them: every other
    consumer (descriptor crops, the aligned rect, expression crops, smile, glasses, head pose)
    was trained on the net's own ``landmarks68`` and keeps reading those."""
    return analysis.shared("answer_points", _answer_points)


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
