"""emotion: face-api's expression net on the aligned crop, in the API's class order."""

from __future__ import annotations

import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import aligned_crops
from rosto.response import classes

MODEL = "face_expression"
NET_ORDER = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
_TO_API = [NET_ORDER.index(e) for e in EMOTIONS]


def _predict(analysis: Analysis) -> np.ndarray:
    (probs,) = models.run(MODEL, aligned_crops(analysis))
    return probs.reshape(-1, len(NET_ORDER))[:, _TO_API]


def probabilities(analysis: Analysis) -> np.ndarray:
    """(N, 7) emotion probabilities in ``EMOTIONS`` order."""
    return analysis.shared(MODEL, _predict)


def compute(analysis: Analysis) -> list[dict]:
    return [{"emotion": classes(EMOTIONS, p)} for p in probabilities(analysis)]


FEATURE = Feature("emotion", compute)
