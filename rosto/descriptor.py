"""face-api's face_recognition net: the shared face representation under our trained heads.

Trained to tell identities apart, the net keeps what makes faces differ (and so ethnicity,
which age_gender's pooled features lose: 55% against 86% for a head trained on each,
MODELS.md). Its ``features`` output, the last 256×2×2 map before pooling, keeps where on the
face a cue is and measures better than the 128-d ``descriptor`` (MODELS.md). The crop is
face-api's dlib-style box from the eye and mouth centres, optionally widened about its centre.

``representation`` is ethnicity's input: the ``features`` of that crop and of a crop 1.3× as
wide (forehead, hairline, cheeks), and the 8×8 Lab thumbnail of the wide crop (skin tone and
lighting, which the net is trained to see past). ``compact`` is age and gender's: the same
without the wide crop's features (a second crop per face costs the net's time again, more than
everything else age and gender run, and gave them 0.1 year of MAE and no gender accuracy,
MODELS.md). Either is computed once per request for all faces, the net's crops in one batch.
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import alignment, models
from rosto.analysis import Analysis
from rosto.landmarks import landmarks68

MODEL = "face_recognition"
INPUT = 150
WIDE = 1.3  # the second crop's width, in descriptor crops
THUMB = 8
FEATURES = 1024  # the net's ``features`` per crop
SIZE = 2 * FEATURES + 3 * THUMB * THUMB  # the representation's length
# ``compact``'s columns of the representation: the tight crop's features and the thumbnail.
COMPACT = np.r_[0:FEATURES, 2 * FEATURES : SIZE]


def boxes(points: np.ndarray, zoom: float = 1.0) -> np.ndarray:
    """(N, 4) face-api's ``align(useDlibAlignment)`` boxes from (N, 68, 2) landmarks,
    ``zoom`` times as wide about their centres."""
    right_eye, left_eye = points[:, 36:42].mean(1), points[:, 42:48].mean(1)
    mouth = points[:, 48:68].mean(1)
    size = np.linalg.norm(mouth - right_eye, axis=1) + np.linalg.norm(mouth - left_eye, axis=1)
    size = size / 2 / 0.45
    centre = (right_eye + left_eye + mouth) / 3  # face-api puts it 0.43 of the side from the top
    centre[:, 1] += 0.07 * size
    half = (zoom * size / 2)[:, None]
    return np.concatenate([centre - half, centre + half], axis=1)


def crops(image: np.ndarray, points: np.ndarray, zoom: float = 1.0) -> np.ndarray:
    """(N, 150, 150, 3) float32 RGB 0..255 crops of the net's box ``zoom`` times as wide."""
    return alignment.crops(image, boxes(points, zoom), INPUT)


def features(batch: np.ndarray) -> np.ndarray:
    """(N, 1024) ``features`` of (N, 150, 150, 3) crops."""
    _, out = models.run(MODEL, batch)
    return out


def thumbnails(batch: np.ndarray) -> np.ndarray:
    """(N, 192) 8×8 Lab thumbnails (OpenCV's 0..100, -127..127) of (N, S, S, 3) RGB crops."""
    small = [cv2.resize(c, (THUMB, THUMB), interpolation=cv2.INTER_AREA) for c in batch]
    lab = [cv2.cvtColor(np.clip(s / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
           for s in small]  # fmt: skip
    return np.stack(lab).reshape(len(batch), -1)


def head_inputs(tight: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """(N, 2240) representation from (N, 150, 150, 3) descriptor crops and their wide versions:
    one pass of the net for both."""
    out = features(np.concatenate([tight, wide]))
    n = len(tight)
    return np.concatenate([out[:n], out[n:], thumbnails(wide)], axis=1)


def _representation(analysis: Analysis) -> np.ndarray:
    points = landmarks68(analysis)
    return head_inputs(crops(analysis.image, points), crops(analysis.image, points, WIDE))


def representation(analysis: Analysis) -> np.ndarray:
    """(N, 2240) float32: the faces' full representation (see the module docstring)."""
    return analysis.shared("representation", _representation)


def _compact(analysis: Analysis) -> np.ndarray:
    points = landmarks68(analysis)
    tight = features(crops(analysis.image, points))
    return np.concatenate([tight, thumbnails(crops(analysis.image, points, WIDE))], axis=1)


WIDE_READERS = frozenset({"ethnicity"})  # the features whose head reads the wide crop's pass


def compact(analysis: Analysis) -> np.ndarray:
    """(N, 1216) float32 ``representation[:, COMPACT]``: the tight crop's ``features`` and the
    wide crop's thumbnail (age and gender's input). One pass of the net; when the request also
    asks for a feature that reads the wide crop, both crops' single batch serves both."""
    if analysis.requested & WIDE_READERS:
        return representation(analysis)[:, COMPACT]
    return analysis.shared("compact", _compact)
