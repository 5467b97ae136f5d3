"""ethnicity: our small head on face_recognition's last feature map (``rosto.descriptor``).

Trained by ``python -m rosto.training ethnicity`` on UTKFace (its ``others`` left out: the
API has no such class). The head reads the net's 1024 ``features`` of the descriptor crop and
of a crop 1.3× as wide (forehead, hairline, cheeks), and the 8×8 Lab thumbnail of the wide
crop: the recognition net is trained to see past skin tone and lighting, the thumbnail keeps
them. Two passes of the net per face (batched for all faces) and a 2240→256→4 product.
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.descriptor import crops, features
from rosto.features import Feature
from rosto.landmarks import landmarks68
from rosto.response import classes

MODEL = "ethnicity"
LABELS = ("asian", "black", "indian", "white")  # the head's output order
WIDE = 1.3  # the second crop's width, in descriptor crops
THUMB = 8


def thumbnails(batch: np.ndarray) -> np.ndarray:
    """(N, 192) 8×8 Lab thumbnails (OpenCV's 0..100, -127..127) of (N, S, S, 3) RGB crops."""
    small = [cv2.resize(c, (THUMB, THUMB), interpolation=cv2.INTER_AREA) for c in batch]
    lab = [cv2.cvtColor(np.clip(s / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
           for s in small]  # fmt: skip
    return np.stack(lab).reshape(len(batch), -1)


def head_inputs(tight: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """(N, 2240) head input from (N, 150, 150, 3) descriptor crops and their wide versions."""
    out = features(np.concatenate([tight, wide]))
    n = len(tight)
    return np.concatenate([out[:n], out[n:], thumbnails(wide)], axis=1)


def compute(analysis: Analysis) -> list[dict]:
    points = landmarks68(analysis)
    inputs = head_inputs(crops(analysis.image, points), crops(analysis.image, points, WIDE))
    (probs,) = models.run(MODEL, inputs)
    return [{"ethnicity": classes(LABELS, p)} for p in probs]


FEATURE = Feature("ethnicity", compute)
