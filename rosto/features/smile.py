"""smile: a small head on the expression nets' own features, the "happy" and the mouth's shape.

``expression.onnx`` (the emotion feature's one session) gives, besides the emotion answer,
the 512 features its head reads; ``smile.onnx`` (``rosto train smile``) reads those, the
logit of the two nets' mean "happy" and the mouth's width, opening and corner lift (in the
eye-levelled frame, relative to the eye distance). It was trained on GENKI-4K portraits, the
same made small and grey, and SMILEsmileD's 64² grey crops, each class weighing the same; the
logistic of "happy" and the mouth's shape it replaces read SMILEsmileD's crops at 0.84
(MODELS.md). The graph is five such heads and answers their mean: one head's answer on
SMILEsmileD's noisily labelled crops hung on its seed by about a point.
"""

from __future__ import annotations

import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.features.emotion import EMOTIONS, net_features, prepare, registry_mean
from rosto.landmarks import eye_centres, landmarks68

MODEL = "smile"
HAPPY = EMOTIONS.index("happy")


def happy_logit(happy: np.ndarray) -> np.ndarray:
    """The logit of a "happy" probability, clipped away from 0 and 1."""
    p = np.clip(happy, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def mouth_shape(points: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """(N, 3) width, opening and corner lift of each mouth, in eye distances, eyes levelled."""
    right, left = eyes[:, 0], eyes[:, 1]
    axis = left - right
    iod = np.linalg.norm(axis, axis=1)
    cos, sin = axis[:, 0] / iod, axis[:, 1] / iod
    rot = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)  # (N, 2, 2)
    p = np.einsum("nij,nkj->nki", rot, points - right[:, None]) / iod[:, None, None]
    width = np.linalg.norm(p[:, 54] - p[:, 48], axis=1)
    opening = p[:, 66, 1] - p[:, 62, 1]
    lift = p[:, 60:68, 1].mean(1) - (p[:, 48, 1] + p[:, 54, 1]) / 2
    return np.stack([width, opening, lift], axis=1)


def inputs(analysis: Analysis) -> np.ndarray:
    """(N, 516) the head's inputs: the nets' 512 features, logit of "happy", mouth shape."""
    happy = happy_logit(registry_mean(analysis)[:, HAPPY])
    shape = mouth_shape(landmarks68(analysis), eye_centres(analysis))
    return np.concatenate([net_features(analysis), happy[:, None], shape], axis=1).astype(
        np.float32
    )


def compute(analysis: Analysis) -> list[dict]:
    (probs,) = models.run(MODEL, inputs(analysis))
    return [
        {"smile": {"is_smiling": bool(p >= 0.5), "probability": round(float(p), 2)}}
        for p in probs[:, 1]
    ]


FEATURE = Feature("smile", compute, prepare)
