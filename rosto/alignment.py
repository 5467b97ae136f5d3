"""Square face crops for the models, as one batch, and the way back to image pixels.

A crop is the square of side ``max(w, h)`` centred on a box, resampled to ``size`` with black
outside the image: the same picture face-api's ``extractFaces`` + ``padToSquare`` make
(crop, centre on black, resize), done as one affine warp per face.
"""

from __future__ import annotations

import cv2
import numpy as np


def squares(boxes: np.ndarray) -> np.ndarray:
    """(N, 3) left, top, side of the square centred on each (N, 4) box."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, side], axis=1)


def crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) float32 RGB 0..255 crops of the squares around ``boxes``."""
    out = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for i, (left, top, side) in enumerate(squares(boxes)):
        scale = size / side
        warp = np.array([[scale, 0, -left * scale], [0, scale, -top * scale]])
        out[i] = cv2.warpAffine(
            image, warp, (size, size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )  # fmt: skip
    return out


def to_image(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Points given as fractions (0..1) of each box's square → image pixels, (N, K, 2)."""
    sq = squares(boxes)
    return points * sq[:, None, 2:3] + sq[:, None, :2]


def padded_box(points: np.ndarray, padding: float = 0.2) -> np.ndarray:
    """The points' bounding box grown by ``padding`` of its size (face-api's aligned rect)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    grow = (hi - lo) * padding / 2
    return np.concatenate([lo - grow, hi + grow])
