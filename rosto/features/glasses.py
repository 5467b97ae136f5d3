"""glasses: a small CNN of ours on the eye region, levelled and scaled by the eye centres.

The eye region (3.2 × 1.6 inter-ocular distances, eyes level) holds frames, lenses and the
temples where a goggle strap runs, and nothing else: a 96×48 crop is enough and costs well
under a millisecond. Trained by ``python -m rosto.training glasses`` on CelebA eyeglasses/none
and sunglasses selfies; ``swimming-goggles`` was learnt from goggles drawn onto bare faces
(no photo of them exists in our data) and its logit is lowered by a fixed prior (MODELS.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import eye_centres
from rosto.response import classes

MODEL = "glasses"
LABELS = ("not-using-glasses", "swimming-goggles", "using-glasses")  # the net's output order
WIDTH = 96  # the crop is WIDTH × WIDTH / 2
# The region in eye distances from the eyes' midpoint (x towards the subject's left, y down).
HALF_WIDTH, TOP, BOTTOM = 1.6, -0.7, 0.9


def region_transforms(eyes: np.ndarray, extent: float = 1.0, width: int = WIDTH) -> np.ndarray:
    """(N, 2, 3) affine maps from image pixels to the eye-region crop, ``width`` pixels wide.

    ``eyes`` (N, 2, 2): the subject's right then left eye centre. ``extent`` > 1 widens the
    region about the same centre (training crops it again while jittering).
    """
    right, left = eyes[:, 0].astype(np.float64), eyes[:, 1].astype(np.float64)
    axis = left - right
    iod = np.maximum(np.linalg.norm(axis, axis=1), 1e-6)
    unit = width / (2 * HALF_WIDTH * extent)  # crop pixels per inter-ocular distance
    cos, sin = axis[:, 0] / iod, axis[:, 1] / iod
    rot = (unit / iod)[:, None, None] * np.stack([np.stack([cos, sin], 1),
                                                  np.stack([-sin, cos], 1)], 1)  # fmt: skip
    height = width * (BOTTOM - TOP) / (2 * HALF_WIDTH)
    centre = np.array([width / 2, height / 2 - (TOP + BOTTOM) / 2 * unit])
    offset = centre - np.einsum("nij,nj->ni", rot, (right + left) / 2)
    return np.concatenate([rot, offset[:, :, None]], axis=2)


def region_crops(
    image: np.ndarray, eyes: np.ndarray, extent: float = 1.0, width: int = WIDTH
) -> np.ndarray:
    """(N, width / 2, width, 3) float32 RGB 0..255 eye-region crops, black outside the image.

    A large face is warped to a whole multiple of the size first and area-averaged down, so a
    thin frame is blurred rather than aliased away.
    """
    size = np.array([width, width // 2])
    out = []
    for t in region_transforms(eyes, extent, width):
        zoom = max(1, int(1 / np.sqrt(abs(np.linalg.det(t[:, :2])))))
        crop = cv2.warpAffine(image, t * zoom, tuple(size * zoom), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
        out.append(cv2.resize(crop, tuple(size), interpolation=cv2.INTER_AREA) if zoom > 1
                   else crop)  # fmt: skip
    return np.stack(out).astype(np.float32)


def _probabilities(analysis: Analysis) -> np.ndarray:
    (probs,) = models.run(MODEL, region_crops(analysis.image, eye_centres(analysis)))
    return probs


def compute(analysis: Analysis) -> list[dict]:
    return [{"glasses": classes(LABELS, p)} for p in _probabilities(analysis)]


FEATURE = Feature("glasses", compute)
