"""Proposals of small faces from BlazeFace's stem features: a second source of candidates.

BlazeFace's anchors lie every 16 and 32 input pixels, and on many faces of 12-18 px in its
input (20-30 px in a photo at the fine pass's 0.6) none of them scores even 0.03, so the
verifier never sees them. The detector's stem (its layers down to stride 4, 24 channels) is
computed for the whole fine-pass input anyway (``rosto.detection.stem_features``); a small
head trained here (``rosto train small_faces``: a separable 3×3 convolution to ``HIDDEN``
channels, then a 1×1 to a score and a box per cell) reads it and proposes the faces of ``SIZES``
input pixels, their six keypoints placed in the box as they lie on average (``KEYPOINTS``).
The proposals are no faces yet: the detector hands them to the verifier's strict look
(``rosto.verifier.look_again``), at higher scores (``LOOK``).
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import models, verifier

MODEL = "small_faces"
STRIDE = 4  # of the stem's features, input pixels
CHANNELS = 24
HIDDEN = 16
REGRESSIONS = 4  # box centre (2) and size (2)
UNIT = 16.0  # input pixels: offsets are in these units, sizes are log(size / UNIT)
SIZES = (8, 28)  # face widths the head was trained to propose, input pixels
THRESHOLD = 0.3  # a cell's score from which it proposes a face
# Proposals looked at, best first, so the verifier's cost stays bounded: MOST in a 2-MP photo
# (~45,600 stem cells), as many per cell in a larger input, and FEWEST in a smaller one of
# several strips (when the head also ran on 640×480 photos, the best 8 found there what the
# best 20 found).
MOST, FEWEST, CELLS = 20, 8, 45_600
# IoU with a candidate already looked at from which a proposal is a second guess at it, not
# looked at again. Higher than the verifier's own (0.5): a loose, rejected BlazeFace box 1.7
# times a 23 px face's width still met the head's good box of it at 0.51.
SAME = 0.7
# The (R-Net, O-Net) scores from which the strict look keeps a proposal: R-Net 0.93, then O-Net
# 0.9 as for the candidates a rejected one hid (which keep R-Net's 0.8): the faces the head
# added to the synthetic photos of seeds 11 and 12 scored R-Net 0.946-1.000 there; on 1,477
# real dev photos, a boy's eyebrow, a yellow emoji and a bit of a poster 0.80-0.91, two true
# faces 0.99. Or R-Net 0.85 with O-Net 0.99: two more synthetic turned faces (seeds 11 and 12,
# R-Net 0.86 and 0.93-, O-Net 1.00); in 2-MP mosaics of real photos, the hair over a boy's
# face, a yellow icon and a blurred face that R-Net 0.85 alone let through scored O-Net
# 0.905-0.931.
LOOK = ((0.93, verifier.FACE), (0.85, 0.99))
# The six keypoints (right eye, left eye, nose tip, mouth, right ear, left ear) in units of the
# box from its top-left corner: their mean over the training chips (``rosto train
# small_faces`` prints it).
KEYPOINTS = np.array([[0.284, 0.302], [0.69, 0.304], [0.471, 0.553], [0.475, 0.747],
                      [0.096, 0.36], [0.914, 0.379]])  # fmt: skip


def encode(box: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(N, REGRESSIONS) targets of one face's box (4,) at cell centres (N, 2)."""
    centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    offsets = (centre - cells) / UNIT
    return np.concatenate([offsets, np.broadcast_to(np.log(size / UNIT), offsets.shape)], axis=1)


def decode(output: np.ndarray, threshold: float = THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (K, 4) in input pixels and scores (K,) of the head's output (1, 1 + REGRESSIONS,
    H, W): the cells scoring ``threshold`` or more that score highest among their 3×3
    neighbours, at most ``most(cells)``, best first."""
    score = output[0, 0]
    peak = (score >= threshold) & (score >= cv2.dilate(score, np.ones((3, 3), np.uint8)))
    rows, cols = np.nonzero(peak)
    order = np.argsort(-score[rows, cols])[: most(score.size)]
    rows, cols = rows[order], cols[order]
    cells = (np.stack([cols, rows], axis=1) + 0.5) * STRIDE
    reg = output[0, 1:, rows, cols]  # (K, REGRESSIONS)
    centre = cells + reg[:, :2] * UNIT
    half = np.exp(reg[:, 2:4]) * UNIT / 2
    return np.concatenate([centre - half, centre + half], axis=1), score[rows, cols]


def most(cells: int) -> int:
    """How many proposals an input of this many stem cells may make (0 when MOST is 0)."""
    return min(MOST, max(FEWEST, round(MOST * cells / CELLS)))


def proposals(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, keypoints and scores of the small faces the head proposes on the stem's
    features (1, CHANNELS, H, W), in the stem's input pixels."""
    (output,) = models.run(MODEL, features)
    boxes, scores = decode(output)
    keypoints = boxes[:, None, :2] + KEYPOINTS * (boxes[:, None, 2:] - boxes[:, None, :2])
    return boxes, keypoints, scores


def unseen(boxes: np.ndarray, looked: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Indices of the proposed boxes (K, 4) that are no second guess (IoU ≥ ``SAME``) at a
    candidate ``looked`` at, and lie in none of the ``faces`` found."""
    keep = np.ones(len(boxes), dtype=bool)
    if len(looked):
        keep &= verifier.overlaps(boxes, looked).max(axis=1) < SAME
    if len(faces):
        keep &= verifier.overlaps(boxes, faces, of_smaller=True).max(axis=1) <= verifier.INSIDE
    return np.flatnonzero(keep)
