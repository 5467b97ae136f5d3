"""emotion: our head on the two registry expression nets' own features, in the API's order.

face-api's expression net (colour, 112² aligned crop) and oarriaga's mini-Xception (grey 64²,
FER2013) both run on every face; the head (``rosto train emotion``) reads their last features
before each net's classifier and was trained on real web photos, posed photos and FER2013
chips at two sizes. The plain mean of the two nets' answers, which this feature gave before,
read real photos at 0.489 and lost 6 points on a chip enlarged ×4 (MODELS.md). Nets and head
are one graph, ``expression.onnx``, one session per request; it also gives that mean
(``registry_mean``) and the 512 features (``net_features``), which smile's head reads.
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import aligned_crops
from rosto.response import classes

EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
MODEL = "expression"  # both registry nets and the head, made by ``rosto train emotion``
FACE_API = "face_expression"
FACE_API_ORDER = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
OARRIAGA = "emotion"
OARRIAGA_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
OARRIAGA_SIZE = 64


def grey_input(crops: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 1) oarriaga's input from RGB 0..255 crops: grey, scaled to -1..1."""
    small = [cv2.resize(c, (OARRIAGA_SIZE, OARRIAGA_SIZE), interpolation=cv2.INTER_AREA)
             for c in crops]  # fmt: skip
    grey = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in small])
    return (grey[..., None] / 127.5 - 1.0).astype(np.float32)


def _run(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    crops = aligned_crops(analysis)
    head, mean, features = models.run(MODEL, crops, grey_input(crops))
    return head, mean, features


def probabilities(analysis: Analysis) -> np.ndarray:
    """(N, 7) emotion probabilities in ``EMOTIONS`` order: the head's answer."""
    return analysis.shared("emotion", _run)[0]


def registry_mean(analysis: Analysis) -> np.ndarray:
    """(N, 7) the mean of the two registry nets' probabilities, in ``EMOTIONS`` order."""
    return analysis.shared("emotion", _run)[1]


def net_features(analysis: Analysis) -> np.ndarray:
    """(N, 512) face-api's pooled features, then oarriaga's last block's channels averaged:
    what the emotion head reads (and the smile head)."""
    return analysis.shared("emotion", _run)[2]


def compute(analysis: Analysis) -> list[dict]:
    return [{"emotion": classes(EMOTIONS, p)} for p in probabilities(analysis)]


FEATURE = Feature("emotion", compute)
