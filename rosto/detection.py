"""Face detection: MediaPipe BlazeFace, once per image, small faces included.

BlazeFace (the 256 px "back" model) is fully convolutional: it finds faces from about 12 to
256 pixels wide in its input, whatever the input's size. One pass over the whole photo scaled
by ``FINE_SCALE`` therefore finds faces down to 20 px in the photo. The input's pixels are
capped (``MAX_PIXELS``), so the cost grows with the photo up to about 2 MP and stays bounded
after that (larger photos then find faces down to 20·√(MP/2.2) px). Small photos and chips are
scaled up to 256 px on their longer side, as a letterbox would.

A pass runs over overlapping strips of bounded size, one after another, so its memory is that
of one strip whatever the photo (ONNX Runtime holds ~100 bytes of activations per input
pixel). Where there are several strips, each answers only for the faces narrower than the
overlap, wholly inside it; a coarser pass at a third of the scale answers for the wider ones,
and so on until a pass fits in one strip; a 256² thumbnail is added where that pass could
still hold a face wider than BlazeFace sees (a small photo that is one close portrait). The
detector's first layers (its "stem", down to a quarter of the input's resolution: most of the
work) are not
run again in the strips' overlaps: they are computed once over the whole input, piece by piece
with a narrow margin that makes them exact, and each strip runs the rest (the "trunk").

Each pass decodes the SSD anchors' regressions into boxes and six keypoints (right eye, left
eye, nose tip, mouth, right ear, left ear — the subject's sides); the passes' boxes are pooled,
filtered by score and non-maximum suppression, and returned largest first. A photo that may
itself be a tight face crop (no face found, or one filling a fifth of the photo or more) is
seen once more with a border around it: a face filling the detector's whole field is often
missed, or found only in part (a box around the nose and one eye on SMILEsmileD's 64² crops,
where the landmarks and every attribute crop then go wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise, product

import cv2
import numpy as np

from rosto import models, small_faces, verifier
from rosto.face import Face


@dataclass(frozen=True)
class Detector:
    model: str
    size: int  # square input side
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell), finest first
    # Per anchor layer, the graph outputs holding its (scores, regressions); one output index
    # twice means a single output whose rows are [score, 16 regressions].
    outputs: tuple[tuple[int, int], ...]

    @property
    def stride(self) -> int:
        """The coarsest anchor stride: an input of any size must be a multiple of it."""
        return self.layers[-1][0]


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
# Every candidate scoring SCORE_THRESHOLD or more is pooled; which of them are faces is left
# to the second look (``rosto.verifier``): 20-40 px faces often score 0.1-0.4 at 12-24 px.
SCORE_THRESHOLD = verifier.UNSURE
NMS_OVERLAP = 0.5  # intersection over the smaller box's area
CROP_BORDER = 0.5  # share of the photo's size added on each side for the tight-crop retry
TIGHT_CROP = 0.2  # the largest face's share of the photo's area from which it may be a crop
# The bordered photo's face replaces the first answer when it is this many times larger: the
# first saw part of the face (SMILEsmileD: median 3.4×; UTKFace chips, whose first box is
# right, 1.0×, 90th percentile 1.6×).
PART_OF_FACE = 2.0
FINE_SCALE = 0.6  # a 20 px face becomes 12 px, the smallest BlazeFace finds reliably
MAX_PIXELS = 800_000  # of the fine pass's input: the cost stops growing past ~2.2 MP
# A pass runs tile by tile, so ONNX Runtime's activations (~100 bytes per input pixel, several
# times that in a fragmented heap) are those of one tile, not of the whole photo: strips of at
# most TILE_PIXELS input pixels (split across too where wider than TILE_WIDTH) that share
# OVERLAP pixels with their neighbours, so a face up to OVERLAP wide lies wholly in one of them.
# A tiled pass answers only for those faces; wider ones are left to the next pass, over the
# photo scaled by 1/LEVEL_STEP more (where they are OVERLAP/LEVEL_STEP px and wider), until a
# pass fits in one tile and sees every size.
TILE_PIXELS = 256 * 1024
TILE_WIDTH = 1280
OVERLAP = 96
LEVEL_STEP = 3
# The detector cut in two (``split_at`` in tools/convert): the stem, its layers at half the
# input's resolution and the first at a quarter (~75% of the work), and the trunk. A stem
# output depends on the input rows and columns within ~20 px of it (a 5×5 convolution at stride
# 2, seven 3×3 at stride 1, one at stride 2), so pieces run with STEM_MARGIN (a multiple of
# STEM_STRIDE) join into exactly the whole input's features.
STEM, TRUNK = f"{DETECTOR.model}_stem", f"{DETECTOR.model}_trunk"
STEM_STRIDE = 4
STEM_MARGIN = 20
STEM_PIXELS = 128 * 1024  # of a stem piece without its margins: smaller pieces stay in cache
LARGEST_FACE = 320  # input pixels: where the last pass could hold a wider face, a 256² one too


@lru_cache(maxsize=16)
def anchors(detector: Detector, height: int, width: int) -> np.ndarray:
    """(A, 2) anchor centres in input pixels for an input of this size, in the outputs' order
    (shared between calls: read only)."""
    centres = []
    for stride, per_cell in detector.layers:
        xs, ys = np.meshgrid((np.arange(width // stride) + 0.5) * stride,
                             (np.arange(height // stride) + 0.5) * stride)  # fmt: skip
        centres.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(centres)


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    """The image scaled by ``scale`` (area-averaged when shrinking, so small faces keep their
    features rather than aliasing)."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def network_input(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The uint8 image in the top-left corner of a black input of ``shape`` (height, width),
    cropped to it: (1, height, width, 3) float32 in -1..1, as BlazeFace was trained. Written in
    place: no float64 or whole-size temporary."""
    batch = np.full((1, *shape, 3), -1.0, dtype=np.float32)
    part = image[: shape[0], : shape[1]]
    view = batch[0, : part.shape[0], : part.shape[1]]
    np.multiply(part, np.float32(1 / 127.5), out=view)
    view -= 1.0
    return batch


def scaled_input(image: np.ndarray, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """The image scaled by ``scale`` into the top-left corner of a black input of ``shape``."""
    return network_input(resized(image, scale), shape)


def raw_detections(
    detector: Detector, batch: np.ndarray, model: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (A,) and regressions (A, 16) of one input image, in anchor order (``model``: the
    detector's trunk fed its stem's features, rather than the whole detector)."""
    outputs = models.run(model or detector.model, batch)
    scores = [outputs[i][0, :, 0] for i, _ in detector.outputs]
    regressions = [outputs[j][0, :, -16:] for _, j in detector.outputs]
    return np.concatenate(scores), np.concatenate(regressions)


def decode(detector: Detector, shape: tuple[int, int], scores: np.ndarray,
           regressions: np.ndarray, threshold: float = SCORE_THRESHOLD):  # fmt: skip
    """Boxes (K, 4) and keypoints (K, 6, 2) in input pixels, and scores (K,), above threshold."""
    centres = anchors(detector, *shape)
    probs = 1.0 / (1.0 + np.exp(-np.clip(scores, -80, 80)))
    keep = probs >= threshold
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
    left = np.ones(len(boxes), dtype=bool)
    kept: list[int] = []
    for best in np.argsort(-scores):
        if not left[best]:
            continue
        kept.append(int(best))
        left &= verifier.overlaps(boxes[best : best + 1], boxes, of_smaller=True)[0] <= threshold
    return kept


Detections = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes, keypoints, scores


def one_pass(image: np.ndarray, scale: float, shape: tuple[int, int],
             detector: Detector = DETECTOR, threshold: float = SCORE_THRESHOLD) -> Detections:
    """Boxes, keypoints and scores of one pass over the image scaled by ``scale`` into an
    input of ``shape``, in the image's pixels."""
    batch = scaled_input(image, scale, shape)
    raw = raw_detections(detector, batch)
    boxes, keypoints, scores = decode(detector, shape, *raw, threshold)
    return boxes / scale, keypoints / scale, scores


def faces_of(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> list[Face]:
    """One face per group of overlapping boxes, the best-scored box of each."""
    return [
        Face(box=boxes[i], score=float(scores[i]), keypoints=keypoints[i])
        for i in nms(boxes, scores, NMS_OVERLAP)
    ]


def detect_once(image: np.ndarray, detector: Detector = DETECTOR) -> list[Face]:
    """One pass of a fixed-size detector over the image fitted into its square input, scores
    of 0.5 and more: how this project detected faces before the fine pass (benchmarks)."""
    scale = detector.size / max(image.shape[:2])
    size = (detector.size, detector.size)
    return faces_of(*one_pass(image, scale, size, detector, threshold=0.5))


def passes(height: int, width: int) -> list[tuple[float, tuple[int, int]]]:
    """(scale, input shape) of each pass over an image of this size, finest first: the fine
    pass, each coarser level while the previous one needed tiles, and the 256² thumbnail where
    the last level could still hold a face wider than BlazeFace sees (a close portrait)."""
    size, stride = DETECTOR.size, DETECTOR.stride
    scale = max(FINE_SCALE, size / max(height, width))
    scale = min(scale, (MAX_PIXELS / (height * width)) ** 0.5)
    planned = []
    while True:
        shape = (ceil(height * scale, stride), ceil(width * scale, stride))
        planned.append((scale, shape))
        if len(tiles(shape)) == 1:
            break
        scale /= LEVEL_STEP
    if min(height, width) * scale > LARGEST_FACE:
        planned.append((size / max(height, width), (size, size)))
    return planned


def spans(length: int, most: int) -> list[tuple[int, int]]:
    """(start, size) of the tiles along one side of ``length`` input pixels: as few as cover it
    in tiles of about ``most`` or less, each sharing at least OVERLAP pixels with the next;
    starts and sizes are multiples of the stride, so a face inside two tiles meets the same
    anchors in both and gets the same box."""
    stride = DETECTOR.stride
    if length <= most:
        return [(0, length)]
    count = ceil((length - OVERLAP) / (most - OVERLAP))
    size = ceil((length - OVERLAP) / count + OVERLAP, stride)
    while (step := ceil((length - size) / (count - 1), stride)) > size - OVERLAP:
        size += stride
    return [(min(k * step, length - size), size) for k in range(count)]


def pieces(length: int, most: int) -> list[tuple[int, int]]:
    """(start, size) of as few pieces as cut ``length`` into parts of about ``most`` or less,
    end to end, cut at multiples of the stride."""
    count = max(1, ceil(length / max(most, 1)))
    cuts = [min(ceil(k * length / count, DETECTOR.stride), length) for k in range(count + 1)]
    return [(start, end - start) for start, end in pairwise(cuts) if end > start]


def tiles(shape: tuple[int, int]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((top, rows), (left, columns)) of each tile of an input of ``shape``: strips as wide as
    the input (up to TILE_WIDTH), as tall as TILE_PIXELS allows."""
    columns = spans(shape[1], TILE_WIDTH)
    most_rows = max(TILE_PIXELS // columns[0][1] // DETECTOR.stride * DETECTOR.stride, 3 * OVERLAP)
    return list(product(spans(shape[0], most_rows), columns))


def ceil(value: float, multiple: int = 1) -> int:
    """The smallest multiple of ``multiple`` at or above ``value``."""
    return -int(-value // multiple) * multiple


def tiled_pass(small: np.ndarray, shape: tuple[int, int], proposed: list | None = None
               ) -> Detections:  # fmt: skip
    """Boxes, keypoints and scores of the image (already scaled for this pass, padded to
    ``shape``), run tile by tile, in its pixels. Where there are several tiles, each keeps only
    the faces up to OVERLAP wide that lie wholly inside it: a face cut by a tile's edge is found
    whole in the neighbour, so none is found twice or in parts. The tiles' costly early layers
    are computed once for the whole input (``stem_features``), not again in each overlap;
    given a ``proposed`` list, the small-face head's proposals on them are added to it. A pass
    of one tile runs the whole detector at once and no head: split into stem, head and trunk
    for it, a 640×480 photo's detection took 10.8-11.3 → 12.6-13.1 ms on the quiet 2-core
    machine, past its 12 ms budget (MODELS.md, "Detection: the small-face head")."""
    planned = tiles(shape)
    if len(planned) == 1:
        return decode(DETECTOR, shape, *raw_detections(DETECTOR, network_input(small, shape)))
    features = stem_features(small, shape)
    if proposed is not None:
        proposed.append(small_faces.proposals(features))
    found = []
    for (top, rows), (left, cols) in planned:
        part = features[:, :, top // STEM_STRIDE : (top + rows) // STEM_STRIDE,
                        left // STEM_STRIDE : (left + cols) // STEM_STRIDE]  # fmt: skip
        raw = raw_detections(DETECTOR, np.ascontiguousarray(part), model=TRUNK)
        boxes, keypoints, scores = decode(DETECTOR, (rows, cols), *raw)
        inside = boxes[:, 2] - boxes[:, 0] <= OVERLAP
        inside &= (boxes[:, 0] >= 0) | (left == 0)
        inside &= (boxes[:, 1] >= 0) | (top == 0)
        inside &= (boxes[:, 2] <= cols) | (left + cols == shape[1])
        inside &= (boxes[:, 3] <= rows) | (top + rows == shape[0])
        offset = np.array([left, top])
        found.append((boxes[inside] + np.tile(offset, 2), keypoints[inside] + offset,
                      scores[inside]))  # fmt: skip
    boxes, keypoints, scores = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return boxes, keypoints, scores


def stem_features(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The stem's output (1, C, height/4, width/4) for the whole input of ``shape`` (the image
    padded as ``network_input`` pads it), computed in pieces of at most ~STEM_PIXELS: each piece
    is run with STEM_MARGIN more input on every side where there is more input, and keeps the
    rows and columns that margin makes exact. So the result is that of one run over the whole
    input (tests/test_detection.py) at the memory of one piece, and no input is run twice but
    the margins' (at 2 MP 27% more rows than the input; the overlapping strips ran 39% more),
    less per pixel than larger pieces (MODELS.md, "Fused residual Adds")."""
    height, width = shape
    columns = pieces(width, TILE_WIDTH)
    most_rows = STEM_PIXELS // max(cols for _, cols in columns)
    out = None
    for (top, rows), (left, cols) in product(pieces(height, most_rows), columns):
        y0, y1 = max(top - STEM_MARGIN, 0), min(top + rows + STEM_MARGIN, height)
        x0, x1 = max(left - STEM_MARGIN, 0), min(left + cols + STEM_MARGIN, width)
        piece = network_input(small[y0:y1, x0:x1], (y1 - y0, x1 - x0))
        (part,) = models.run(STEM, piece)
        if out is None:
            out = np.empty((1, part.shape[1], height // STEM_STRIDE, width // STEM_STRIDE),
                           np.float32)  # fmt: skip
        dy, dx = (top - y0) // STEM_STRIDE, (left - x0) // STEM_STRIDE
        out[:, :, top // STEM_STRIDE : (top + rows) // STEM_STRIDE,
            left // STEM_STRIDE : (left + cols) // STEM_STRIDE] = part[
            :, :, dy : dy + rows // STEM_STRIDE, dx : dx + cols // STEM_STRIDE]  # fmt: skip
    return out


def in_photo(detections: Detections, ratio: np.ndarray) -> Detections:
    """Boxes, keypoints and scores in a pass's pixels → in the photo's, ``ratio`` (x, y) being
    the pass's size over the photo's."""
    boxes, keypoints, scores = detections
    return boxes / np.tile(ratio, 2), keypoints / ratio, scores


def detect_all(image: np.ndarray) -> list[Face]:
    """Faces found by every pass, duplicates merged, unsure ones kept only if a second look
    confirms them. The photo is scaled once, for the fine pass; each coarser pass scales the
    previous pass's copy, not the photo again."""
    found, proposed = [], []
    small, previous = image, 1.0
    for scale, shape in passes(*image.shape[:2]):
        small = resized(small, scale / previous)
        ratio = np.divide(small.shape[1::-1], image.shape[1::-1])  # x, y: exact after rounding
        found.append(in_photo(tiled_pass(small, shape, None if found else proposed), ratio))
        if proposed and len(found) == 1:
            proposed[0] = in_photo(proposed[0], ratio)
        previous = scale
    pool = tuple(np.concatenate(parts) for parts in zip(*found, strict=True))
    return confirmed(image, faces_of(*pool), pool, proposed[0] if proposed else None)


def confirmed(image: np.ndarray, faces: list[Face], pool: Detections | None = None,
              proposals: Detections | None = None) -> list[Face]:  # fmt: skip
    """The faces the detector is sure of, and the unsure ones that a second look confirms
    (``rosto.verifier``), then those of the ``pool`` of every pass's candidates that a rejected
    one had hidden (``verifier.hidden``), then the small-face head's ``proposals`` that no
    candidate looked at or face found already holds (``small_faces.unseen``), with the same
    strict look at higher scores (``small_faces.LOOK``). A face whose box the
    second look moved keeps its keypoints, moved and scaled with the box; faces are merged
    again in case two candidates met there."""
    if not faces and proposals is None:
        return faces
    boxes = np.array([f.box for f in faces]).reshape(-1, 4)
    scores = np.array([f.score for f in faces])
    keypoints = np.array([f.keypoints for f in faces]).reshape(-1, 6, 2)
    kept, moved = verifier.verify(image, boxes, scores)

    def look_again(extra: Detections, which: np.ndarray, tiers: verifier.Tiers = verifier.STRICT
                   ) -> None:  # fmt: skip
        """Add the ``which`` of the ``extra`` candidates, kept if the strict look keeps them."""
        nonlocal boxes, keypoints, scores, moved, kept
        more = verifier.look_again(image, extra[0][which], tiers)
        pairs = ((boxes, extra[0]), (keypoints, extra[1]), (scores, extra[2]), (moved, extra[0]))
        boxes, keypoints, scores, moved = (np.concatenate([first, part[which]])
                                           for first, part in pairs)  # fmt: skip
        kept = np.concatenate([kept, more])

    if pool is not None:
        inside = verifier.hidden(pool[0], boxes, kept, moved[kept])
        if len(inside):
            look_again(pool, inside[nms(pool[0][inside], pool[2][inside], NMS_OVERLAP)])
    if proposals is not None:
        new = small_faces.unseen(proposals[0], boxes, moved[kept])
        if len(new):
            look_again(proposals, new, small_faces.LOOK)
    if not kept.any():
        return []
    scale = (moved[:, 2] - moved[:, 0]) / np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    before, after = (boxes[:, :2] + boxes[:, 2:]) / 2, (moved[:, :2] + moved[:, 2:]) / 2
    keypoints = (keypoints - before[:, None]) * scale[:, None, None] + after[:, None]
    return faces_of(moved[kept], keypoints[kept], scores[kept])


def in_a_border(image: np.ndarray) -> list[Face]:
    """Faces of a photo that may be one tight face crop: the photo shrunk into the middle of a
    256² thumbnail whose rest is its mean colour (CROP_BORDER of its size on each side), one
    pass. Shrinking first keeps a large faceless photo from being copied at four times its
    size; a face that fills the photo needs no more pixels than that."""
    height, width = image.shape[:2]
    size = DETECTOR.size
    scale = size / ((1 + 2 * CROP_BORDER) * max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    pad = np.array([(size - new_w) // 2, (size - new_h) // 2])
    colour = tuple(int(c) for c in small.reshape(-1, 3).mean(0))
    bottom, right = size - new_h - pad[1], size - new_w - pad[0]
    thumbnail = cv2.copyMakeBorder(small, pad[1], bottom, pad[0], right, cv2.BORDER_CONSTANT,
                                   value=colour)  # fmt: skip
    faces = confirmed(thumbnail, faces_of(*one_pass(thumbnail, 1.0, (size, size))))
    return [
        Face(box=(f.box - np.tile(pad, 2)) / scale, score=f.score,
             keypoints=(f.keypoints - pad) / scale)  # fmt: skip
        for f in faces
    ]


def detect(image: np.ndarray) -> list[Face]:
    """Every face in an RGB uint8 image, largest first."""
    faces = sorted(detect_all(image), key=lambda f: -f.area)
    chip = max(image.shape[:2]) <= DETECTOR.size  # may be a crop whatever part of it was found
    if not faces or chip or faces[0].area >= TIGHT_CROP * image.shape[0] * image.shape[1]:
        framed = sorted(in_a_border(image), key=lambda f: -f.area)
        if framed and (not faces or seen_whole(framed, faces)):
            return framed
    return faces


def seen_whole(framed: list[Face], faces: list[Face]) -> bool:
    """Whether the bordered look (``framed``) saw a tight crop's face whole where the passes
    saw parts of it: a face ``PART_OF_FACE`` times larger, or fewer faces and none smaller
    (the passes split one face into two overlapping boxes)."""
    larger = framed[0].area / faces[0].area
    return larger >= PART_OF_FACE or (len(framed) < len(faces) and larger >= 1)
