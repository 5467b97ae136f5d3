"""Face detection: MediaPipe BlazeFace-family detectors, once per image.

The image is letterboxed into the detector's square input (aspect kept, black bars), the
SSD anchors' regressions decoded into boxes and six keypoints (right eye, left eye, nose tip,
mouth, right ear, left ear — the subject's sides), filtered by score and non-maximum
suppression, and returned largest first. A photo that is itself a tight face crop (the
detector then sees a face filling its whole field and often misses it) is retried once with
a border around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rosto import models
from rosto.face import Face


@dataclass(frozen=True)
class Detector:
    model: str
    size: int  # square input side
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell), finest first
    # Per anchor layer, the graph outputs holding its (scores, regressions); one output index
    # twice means a single output whose rows are [score, 16 regressions].
    outputs: tuple[tuple[int, int], ...]


DETECTORS = {
    d.model: d
    for d in (
        Detector("blazeface", 256, ((16, 2), (32, 6)), ((0, 2), (1, 3))),
        Detector("blazeface_front", 128, ((8, 2), (16, 6)), ((0, 2), (1, 3))),
        Detector("facemesh_detection_short", 128, ((8, 2), (16, 6)), ((0, 0),)),
        Detector("facemesh_detection_full", 192, ((4, 1),), ((0, 0),)),  # output 1: persons
    )
}
DETECTOR = DETECTORS["blazeface"]
SCORE_THRESHOLD = 0.5
NMS_OVERLAP = 0.5  # intersection over the smaller box's area
CROP_BORDER = 0.5  # share of the image's size added on each side for the retry


def anchors(detector: Detector) -> np.ndarray:
    """(A, 2) anchor centres as fractions of the input, in the order of the outputs."""
    centres = []
    for stride, per_cell in detector.layers:
        cells = detector.size // stride
        grid = (np.arange(cells) + 0.5) / cells
        xs, ys = np.meshgrid(grid, grid)
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
    return np.concatenate(centres)


_anchors: dict[str, np.ndarray] = {}


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, np.ndarray]:
    """The image scaled into a black ``size`` square: (1, size, size, 3) in -1..1, scale, offset."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    off = np.array([(size - new_w) // 2, (size - new_h) // 2])
    canvas[off[1] : off[1] + new_h, off[0] : off[0] + new_w] = resized
    return (canvas[None].astype(np.float32) / 127.5 - 1.0), scale, off


def raw_detections(detector: Detector, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores (A,) and regressions (A, 16) of one letterboxed image, in anchor order."""
    outputs = models.run(detector.model, batch)
    scores = [outputs[i][0, :, 0] for i, _ in detector.outputs]
    regressions = [outputs[j][0, :, -16:] for _, j in detector.outputs]
    return np.concatenate(scores), np.concatenate(regressions)


def decode(detector: Detector, scores: np.ndarray, regressions: np.ndarray):
    """Boxes (K, 4) and keypoints (K, 6, 2) in input pixels, and scores (K,), above threshold."""
    if detector.model not in _anchors:
        _anchors[detector.model] = anchors(detector) * detector.size
    centres = _anchors[detector.model]
    probs = 1.0 / (1.0 + np.exp(-np.clip(scores, -80, 80)))
    keep = probs >= SCORE_THRESHOLD
    reg, ctr = regressions[keep], centres[keep]
    cx, cy = ctr[:, 0] + reg[:, 0], ctr[:, 1] + reg[:, 1]
    half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = reg[:, 4:16].reshape(-1, 6, 2) + ctr[:, None, :]
    return boxes, keypoints, probs[keep]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best first.

    Overlap is measured against the smaller box: faces do not nest, so a box lying mostly
    inside a better one is a second guess at the same face (the detector fires on the inner
    face region too), even when their IoU is small.
    """
    order = list(np.argsort(-scores))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order:
        best = order.pop(0)
        kept.append(best)
        lt = np.maximum(boxes[best, :2], boxes[order, :2])
        rb = np.minimum(boxes[best, 2:], boxes[order, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        overlap = inter / (np.minimum(areas[best], areas[order]) + 1e-9)
        order = [i for i, o in zip(order, overlap, strict=True) if o <= threshold]
    return kept


def detect_once(image: np.ndarray, detector: Detector = DETECTOR) -> list[Face]:
    batch, scale, off = letterbox(image, detector.size)
    boxes, keypoints, scores = decode(detector, *raw_detections(detector, batch))
    faces = []
    for i in nms(boxes, scores, NMS_OVERLAP):
        box = (boxes[i].reshape(2, 2) - off) / scale
        points = (keypoints[i] - off) / scale
        faces.append(Face(box=box.ravel(), score=float(scores[i]), keypoints=points))
    return faces


def with_border(image: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """The image centred on a canvas grown by ``share`` of its size on each side, in its mean
    colour, and the offset of the original inside it."""
    height, width = image.shape[:2]
    pad = np.array([round(width * share), round(height * share)])
    colour = tuple(int(c) for c in image.reshape(-1, 3).mean(0))
    grown = cv2.copyMakeBorder(
        image, pad[1], pad[1], pad[0], pad[0], cv2.BORDER_CONSTANT, value=colour
    )
    return grown, pad


def detect(image: np.ndarray) -> list[Face]:
    """Every face in an RGB uint8 image, largest first."""
    faces = detect_once(image)
    if not faces:
        grown, pad = with_border(image, CROP_BORDER)
        faces = [
            Face(box=f.box - np.tile(pad, 2), score=f.score, keypoints=f.keypoints - pad)
            for f in detect_once(grown)
        ]
    return sorted(faces, key=lambda f: -f.area)
