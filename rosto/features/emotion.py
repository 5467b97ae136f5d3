"""emotion: our head on the two registry expression nets' own features, in the API's order.

face-api's expression net (colour, 112² aligned crop) and oarriaga's mini-Xception (grey 64²
of the face framed as a FER2013 chip, ``fer_boxes``) both run on every face; the head
(``rosto train emotion``) reads their last features before each net's classifier and was
trained on real web photos, posed photos and FER2013 chips at two sizes, all detected and
cropped as served; its answer is blended with the two nets' mean (MODELS.md). Nets and head
are one graph, ``expression.onnx``, one session per request; it also gives that mean
(``registry_mean``) and the 512 features (``net_features``), which smile's head reads.
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import alignment, models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import aligned_crops, landmarks68
from rosto.response import classes

EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
MODEL = "expression"  # both registry nets and the head, made by ``rosto train emotion``
FACE_API = "face_expression"
FACE_API_ORDER = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
OARRIAGA = "emotion"
OARRIAGA_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
OARRIAGA_SIZE = 64
# Where FER2013's 48 px chips put the subject's right eye, left eye and mouth centre (fractions
# of the chip's side: the median over its training chips, which ``rosto train emotion``
# reports). oarriaga's net learnt on such chips; framed like them, a face reads as it learnt.
FER_EYES_MOUTH = np.array([[0.329, 0.391], [0.662, 0.388], [0.498, 0.755]])


def grey_input(crops: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 1) oarriaga's input from RGB 0..255 crops: grey, scaled to -1..1."""
    small = [cv2.resize(c, (OARRIAGA_SIZE, OARRIAGA_SIZE), interpolation=cv2.INTER_AREA)
             for c in crops]  # fmt: skip
    grey = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in small])
    return (grey[..., None] / 127.5 - 1.0).astype(np.float32)


def eyes_and_mouth(landmarks: np.ndarray) -> np.ndarray:
    """(N, 3, 2): the subject's right eye, left eye and mouth centres of (N, 68, 2) landmarks."""
    return np.stack([landmarks[:, 36:42].mean(1), landmarks[:, 42:48].mean(1),
                     landmarks[:, 48:60].mean(1)], axis=1)  # fmt: skip


def fer_boxes(landmarks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 4) for (N, 68, 2) landmarks: the square in which the face's eyes and mouth fall
    where FER2013's chips put them (scale and shift fitted by least squares to the three
    points), moved and shrunk to lie inside the image. It follows the eyes and mouth, not the
    landmarks' extent, so a face is framed alike at any size; and the net never sees the black
    border it never learnt on: a face cropped as tightly as a chip is framed by the photo."""
    points = eyes_and_mouth(landmarks)
    reference = FER_EYES_MOUTH - FER_EYES_MOUTH.mean(0)
    centred = points - points.mean(1, keepdims=True)
    side = (centred * reference).sum((1, 2)) / (reference**2).sum()
    centre = points.mean(1) + side[:, None] * (0.5 - FER_EYES_MOUTH.mean(0))
    side = np.clip(side, 1.0, min(height, width))
    room = np.stack([width - side, height - side], axis=1)
    corner = np.clip(centre - side[:, None] / 2, 0, room)
    return np.concatenate([corner, corner + side[:, None]], axis=1)


def expression_inputs(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """The graph's two inputs: face-api's aligned 112² crop, and oarriaga's grey 64² of the
    face framed as a FER2013 chip (``fer_boxes``)."""
    boxes = fer_boxes(landmarks68(analysis), *analysis.image.shape[:2])
    framed = alignment.crops(analysis.image, boxes, 112)
    return aligned_crops(analysis), grey_input(framed)


def _run(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    head, mean, features = models.run(MODEL, *expression_inputs(analysis))
    return head, mean, features


def prepare(analysis: Analysis) -> None:
    """The nets' one pass, computed ahead (emotion's and smile's input)."""
    analysis.prepare("emotion", _run)


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


FEATURE = Feature("emotion", compute, prepare)
