"""Face detection: MediaPipe BlazeFace and a fine-pass net trained here, once per image.

BlazeFace (the 256 px "back" model) is fully convolutional: it finds faces from about 12 to
256 pixels wide in its input, whatever the input's size. One pass over the photo scaled by
``FINE_SCALE`` therefore finds faces down to 20 px in the photo. Small photos and chips are
scaled up to 256 px on their longer side, as a letterbox would.

Where that fine pass would be larger than ``ONE_PASS`` input pixels (from 640×480 up), a
small detector trained here takes its place (``rosto.fine_faces``: the photo at half size,
faces of 10-120 px; BlazeFace's early layers at stride 2 were three quarters of a 2-MP photo's
detection), and BlazeFace runs once more at half the fine scale (from ``LARGE`` photo pixels at
``LARGE_STEP`` below it: a quarter of a 2-MP photo), for the wider faces.
The inputs' pixels are capped (``MAX_PIXELS``, ``fine_faces.MAX_PIXELS``), so the cost and the
memory grow with the photo up to about 2 MP and stay bounded after that (larger photos then
find faces down to 20·√(MP/2) px). Where the net runs and BlazeFace's pass sees a face wider
than ``CLOSE`` input pixels (a close portrait), a 256² thumbnail pass answers for such faces.

Each BlazeFace pass decodes the SSD anchors' regressions into boxes and six keypoints (right
eye, left eye, nose tip, mouth, right ear, left ear — the subject's sides), the fine-pass net
gives the same per face candidate; the passes' boxes are pooled,
filtered by score and non-maximum suppression, and returned largest first. A photo that may
itself be a tight face crop (no face found, or one filling a fifth of the photo or more) is
seen once more with a border around it: a face filling the detector's whole field is often
missed, or found only in part (a box around the nose and one eye on SMILEsmileD's 64² crops,
where the landmarks and every attribute crop then go wrong).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import cv2
import numpy as np

from rosto import analysis, fine_faces, models, verifier
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
# The fine pass's input pixels up to which BlazeFace runs it; over them (from a 640×480 photo,
# 110,592, up) the fine-pass net does, and BlazeFace's pass is at half the fine scale
# (LEVEL_STEP): at a third (0.2 of a 2-MP photo) its boxes of 100-200 px faces were loose and
# the net's outscored them (2-MP mosaics of real photos: 6,424 of 6,578 faces against 6,477;
# at 0.25, 6,465). On synthetic 640×480 photos (24 of seeds 11 / 12 / 13) the net and the
# verifier find 0.982 / 0.984 / 0.968 of the faces, BlazeFace's fine pass 0.947 / 0.903 /
# 0.919: 20-28 px faces that none of its anchors scored.
ONE_PASS = 100_000
LEVEL_STEP = 2
NARROWEST = 20  # input pixels: BlazeFace's narrower boxes are left to the net where it runs
# From LARGE photo pixels BlazeFace's pass is at LARGE_STEP below the fine scale (0.25 of a
# 2-MP photo: exactly half the net's half-size copy, OpenCV's fast area path, where 0.3 took
# 3.7 ms of CPU to resize; a third fewer input pixels), its boxes from LARGE_NARROWEST input
# pixels (96 px of a 2-MP photo), and the net answers for refined boxes up to
# ``fine_faces.REFINED`` (144 px of it): at 0.25 with the hand-over of 0.3, the real 2-MP
# mosaics lost 16 faces of 100-210 px that BlazeFace scored 0.1-0.3 there and the net's box,
# refined by R-Net, had grown past 60 input pixels; from 20 input pixels, 3 false boxes more on
# seed 31. Figures: MODELS.md, "Detection: BlazeFace's pass at a quarter of a 2-MP photo".
LARGE = 1_500_000
LARGE_STEP = 2.4
LARGE_NARROWEST = 24
# Input pixels of BlazeFace's pass where the net runs, over which its boxes of a face are loose
# (it was made for 256² inputs): where it scores such a box ``verifier.LIKELY`` or more (a
# close portrait), a 256² thumbnail pass runs and answers for the faces this wide. HELEN
# portraits' landmark NME: 0.0492 with the 0.3 pass's boxes alone, 0.0444 with both passes'
# pooled, 0.0449 with a thumbnail on every photo whose pass could hold a face wider than 320 px
# (7 ms of a 2-MP photo's CPU); from 96 px 0.0426, from 128 px 0.0431. The blur benchmark's
# sharp faces judged sharp (its box is the region measured) at 400 / 800 px: 0.932 / 0.952
# from 96 px (two faces at the threshold, level 99 and 98), 0.956 / 0.952 from 128 px.
CLOSE = 128


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


def one_pass(
    image: np.ndarray,
    scale: float,
    shape: tuple[int, int],
    detector: Detector = DETECTOR,
    threshold: float = SCORE_THRESHOLD,
) -> Detections:
    """Boxes, keypoints and scores of one pass over the image scaled by ``scale`` into an
    input of ``shape``, in the image's pixels."""
    batch = scaled_input(image, scale, shape)
    raw = raw_detections(detector, batch)
    boxes, keypoints, scores = decode(detector, shape, *raw, threshold)
    return boxes / scale, keypoints / scale, scores


def faces_of(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> list[Face]:
    """One face per group of overlapping boxes, the best-scored box of each."""
    return faces_at((boxes, keypoints, scores), nms(boxes, scores, NMS_OVERLAP))


def subset(detections: Detections, which: np.ndarray) -> Detections:
    """The boxes, keypoints and scores of the ``which`` detections (a mask or indices)."""
    return tuple(part[which] for part in detections)


def faces_at(detections: Detections, indices: list[int]) -> list[Face]:
    """The faces of these detections' ``indices``."""
    boxes, keypoints, scores = detections
    return [Face(box=boxes[i], score=float(scores[i]), keypoints=keypoints[i]) for i in indices]


def detect_once(image: np.ndarray, detector: Detector = DETECTOR) -> list[Face]:
    """One pass of a fixed-size detector over the image fitted into its square input, scores
    of 0.5 and more: how this project detected faces before the fine pass (benchmarks)."""
    scale = detector.size / max(image.shape[:2])
    size = (detector.size, detector.size)
    return faces_of(*one_pass(image, scale, size, detector, threshold=0.5))


def fine_pass(height: int, width: int) -> tuple[float, tuple[int, int]]:
    """(scale, input shape) of BlazeFace's fine pass over an image of this size."""
    scale = max(FINE_SCALE, DETECTOR.size / max(height, width))
    scale = min(scale, (MAX_PIXELS / (height * width)) ** 0.5)
    return scale, input_shape(height, width, scale)


def input_shape(height: int, width: int, scale: float) -> tuple[int, int]:
    """The input of a pass at ``scale``: the scaled image padded to multiples of the stride."""
    return ceil(height * scale, DETECTOR.stride), ceil(width * scale, DETECTOR.stride)


def uses_net(height: int, width: int) -> bool:
    """Whether the fine-pass net takes BlazeFace's fine pass's place (more than ONE_PASS
    input pixels)."""
    rows, cols = fine_pass(height, width)[1]
    return rows * cols > ONE_PASS


def blazeface_plan(height: int, width: int) -> tuple[float, tuple[int, int]]:
    """(scale, input shape) of BlazeFace's pass over an image of this size: the fine pass, or
    where the net takes its place the one a LEVEL_STEP (LARGE_STEP) coarser."""
    scale, shape = fine_pass(height, width)
    if uses_net(height, width):
        scale /= LARGE_STEP if large(height, width) else LEVEL_STEP
        shape = input_shape(height, width, scale)
    return scale, shape


def large(height: int, width: int) -> bool:
    """Whether the photo has LARGE pixels or more (BlazeFace's pass a LARGE_STEP coarser)."""
    return height * width >= LARGE


def thumbnail(height: int, width: int) -> tuple[float, tuple[int, int]]:
    """(scale, input shape) of the 256² pass over an image of this size."""
    return DETECTOR.size / max(height, width), (DETECTOR.size, DETECTOR.size)


def ceil(value: float, multiple: int = 1) -> int:
    """The smallest multiple of ``multiple`` at or above ``value``."""
    return -int(-value // multiple) * multiple


def blazeface_pass(small: np.ndarray, shape: tuple[int, int]) -> Detections:
    """Boxes, keypoints and scores of the image (already scaled for this pass, padded to
    ``shape``), in its pixels."""
    return decode(DETECTOR, shape, *raw_detections(DETECTOR, network_input(small, shape)))


def scaled_pass(image: np.ndarray, scale: float, shape: tuple[int, int]
                ) -> tuple[np.ndarray, Detections]:  # fmt: skip
    """The image scaled by ``scale`` (for a pass of input ``shape``) and the boxes, keypoints
    and scores of BlazeFace's pass over it, in its pixels."""
    small = resized(image, scale)
    return small, blazeface_pass(small, shape)


def in_photo(detections: Detections, ratio: np.ndarray) -> Detections:
    """Boxes, keypoints and scores in a pass's pixels → in the photo's, ``ratio`` (x, y) being
    the pass's size over the photo's."""
    boxes, keypoints, scores = detections
    return boxes / np.tile(ratio, 2), keypoints / ratio, scores


def detect_all(image: np.ndarray) -> list[Face]:
    """Faces found by every pass, duplicates merged, unsure ones kept only if a second look
    confirms them. The photo is scaled once for the first pass; each coarser pass scales the
    previous pass's copy, not the photo again."""
    height, width = image.shape[:2]
    net, wider = uses_net(height, width), large(height, width)
    found = []
    small, previous = image, 1.0
    scale, shape = blazeface_plan(height, width)
    if net:  # BlazeFace's pass in the background thread while the net's runs in this one
        previous = fine_faces.scale_for(height, width)
        stretch = fine_faces.stretch(previous)
        mirror = stretch == 1  # a small photo read above SCALE is read once (fine_faces)
        small = fine_faces.shrunk(image, previous)
        blazeface_result = analysis.ahead(partial(scaled_pass, small, scale / previous, shape))
        trained = fine_faces.WIDER if wider else fine_faces.WIDTHS[1]
        raw = fine_faces.detections(small, trained * stretch, mirror)
        candidates, rnet = refined(image, in_photo(raw, ratio_of(small, image)))
        widths = (candidates[0][:, 2] - candidates[0][:, 0]) * previous / stretch
        widest = fine_faces.REFINED if wider else fine_faces.WIDTHS[1]
        hopeless = fine_faces.weak(candidates[2], mirror) & (rnet < WEAK_RNET)
        fits = (widths >= fine_faces.SMALLEST) & (widths <= widest) & ~hopeless
        found.append(subset(candidates, fits))
    small, candidates = blazeface_result() if net else scaled_pass(small, scale, shape)
    if not net:
        found.append(in_photo(candidates, ratio_of(small, image)))
    else:  # the net's faces: BlazeFace's boxes of faces this small are loose
        widths = candidates[0][:, 2] - candidates[0][:, 0]
        keep, wide = widths >= (LARGE_NARROWEST if wider else NARROWEST), widths > CLOSE
        close = bool((candidates[2][keep & wide] >= verifier.LIKELY).any())
        found.append(in_photo(subset(candidates, keep & ~(wide & close)), ratio_of(small, image)))
        if close:  # a close portrait: the thumbnail answers for the wide faces
            size, shape = thumbnail(height, width)
            thumb = resized(small, size / scale)
            candidates = blazeface_pass(thumb, shape)
            keep = candidates[0][:, 2] - candidates[0][:, 0] >= NARROWEST
            found.append(in_photo(subset(candidates, keep), ratio_of(thumb, image)))
    pool = tuple(np.concatenate(parts) for parts in zip(*found, strict=True))
    order = nms(pool[0], pool[2], NMS_OVERLAP)
    faces = faces_at(pool, order)
    if not net:
        return confirmed(image, faces, pool)
    from_net = np.array(order, dtype=int) < len(found[0][0])
    weak = from_net & fine_faces.weak(pool[2][order], mirror)
    gates = np.where(weak, verifier.RNET_FACE, verifier.GATE)
    strict = from_net if stretch > 1 else None  # read above its training scale: small shiny things
    return confirmed(image, faces, pool, around=True, vetoable=from_net, gates=gates, judge=True,
                     strict=strict)


# R-Net's regressed box is MTCNN's, a third taller than wide; its square, shrunk by the
# verifier's crop (so the verifier's crop of it is the square R-Net regressed) and by SQUARE,
# is BlazeFace's box of the face: on the real 2-MP mosaics, faces under 120 px had boxes
# 1.00 / 0.99 times as wide and tall as BlazeFace's of them at full size (0.80-0.87 and
# 1.04-1.07 as regressed), which the landmark crop and the answer's bounds expect.
SQUARE = 1.04
# R-Net's score at the fine-pass net's own box (its refinement's look) under which a weak
# candidate (``fine_faces.weak``) goes no further: most of a 2-MP photo's ~150 are textures
# that R-Net looked at twice (refinement, then the verifier's gate of 0.8 at the moved box).
# On ``bench.detection``'s 2-MP latency photo, R-Net crops 69 with 5 weak candidates, 266 with
# 148, 194 from 0.05, 174 from 0.2, 170 from 0.5 (CPU 87 → 115 ungated, 99 from 0.2, load 4);
# the synthetic 2-MP sets' faces the same at 0.05, 0.2 and 0.5, the real 2-MP mosaics' 6,480
# at 0.2, 6,479 at 0.5.
WEAK_RNET = 0.2


def refined(image: np.ndarray, detections: Detections) -> tuple[Detections, np.ndarray]:
    """The candidates' boxes moved where R-Net's box regression puts the face (as MTCNN's own
    cascade refines its proposals), as BlazeFace's square box (``SQUARE``), keypoints moved
    and scaled with them: the fine-pass net's boxes of small faces are often a third of a face
    off, where R-Net and O-Net then turn the face down. And R-Net's face score at each
    candidate's own box."""
    boxes, keypoints, scores = detections
    if not len(boxes):
        return detections, np.zeros(0)
    rnet, shifts = verifier.run("mtcnn_rnet", image, boxes, 24)
    square = verifier.squares(boxes, verifier.CROP)
    moved = square + shifts * (square[:, 2:3] - square[:, 0:1])
    centre = (moved[:, :2] + moved[:, 2:]) / 2
    half = (moved[:, 2:] - moved[:, :2]).max(axis=1, keepdims=True) / 2 / (verifier.CROP * SQUARE)
    moved = np.concatenate([centre - half, centre + half], axis=1)
    return (moved, moved_keypoints(keypoints, boxes, moved), scores), rnet


def moved_keypoints(keypoints: np.ndarray, boxes: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """The keypoints (K, 6, 2) of the boxes moved and scaled with them to the ``moved`` ones."""
    scale = (moved[:, 2] - moved[:, 0]) / np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    before, after = (boxes[:, :2] + boxes[:, 2:]) / 2, (moved[:, :2] + moved[:, 2:]) / 2
    return (keypoints - before[:, None]) * scale[:, None, None] + after[:, None]


def ratio_of(small: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(x, y) of the pass's size over the photo's: exact after rounding."""
    return np.divide(small.shape[1::-1], image.shape[1::-1])


# A pooled candidate holding a face kept (SWALLOWED times its area) and scoring this much or
# more gets the strict look where the net ran: a net box on an eye or the mouth of a large face
# outscores BlazeFace's box of the whole face in the merge, and the face's box is suppressed
# (2-MP mosaics of real photos: 6,468 → 6,479 of 6,578 faces found, 85 → 72 extra boxes).
CONTAINER_SCORE = 0.1


def confirmed(image: np.ndarray, faces: list[Face], pool: Detections | None = None,
              around: bool = False, vetoable: np.ndarray | None = None,
              gates: np.ndarray | float = verifier.GATE, judge: bool = False,
              strict: np.ndarray | None = None) -> list[Face]:  # fmt: skip
    """The faces the detector is sure of, and the unsure ones that a second look confirms
    (``rosto.verifier``; O-Net may veto the ``vetoable`` ones R-Net keeps; ``gates``: R-Net's
    score from which each goes on to O-Net), then those of the
    ``pool`` of every pass's candidates that a rejected one had hidden (``verifier.hidden``;
    ``around``: or held, and those that hold a kept face, ``containers``), with a stricter
    look; a kept face inside a kept container is a part of it. A face whose box the second
    look moved keeps its keypoints, moved and scaled with the box; faces are merged again in
    case two candidates met there. ``judge``: the face judge trained here may keep candidates
    the MTCNN nets turned down (``verifier.judged_faces``; where the fine-pass net ran). A face
    kept on the body of a much larger one is an emblem on the clothes (``verifier.worn``)."""
    if not faces:
        return faces
    boxes = np.array([f.box for f in faces]).reshape(-1, 4)
    scores = np.array([f.score for f in faces])
    keypoints = np.array([f.keypoints for f in faces]).reshape(-1, 6, 2)
    kept, moved = verifier.verify(image, boxes, scores, vetoable, gates, judge, strict)

    def look_again(which: np.ndarray) -> np.ndarray:
        """Add the ``which`` of the pooled candidates (one per overlapping group), kept if the
        strict look keeps them; whether each was kept."""
        nonlocal boxes, keypoints, scores, moved, kept
        which = which[nms(pool[0][which], pool[2][which], NMS_OVERLAP)]
        more = verifier.look_again(image, pool[0][which])
        pairs = ((boxes, pool[0]), (keypoints, pool[1]), (scores, pool[2]), (moved, pool[0]))
        boxes, keypoints, scores, moved = (np.concatenate([first, part[which]])
                                           for first, part in pairs)  # fmt: skip
        kept = np.concatenate([kept, more])
        return more

    if pool is not None:
        inside = verifier.hidden(pool[0], boxes, kept, moved[kept])
        if around:
            inside = np.union1d(inside, verifier.hidden(pool[0], boxes, kept, moved[kept], True))
        if len(inside):
            look_again(inside)
        if around and kept.any():
            holding = containers(moved[kept], pool)
            if len(holding) and look_again(holding).any():
                kept &= ~verifier.held(moved, moved[kept]).any(axis=1)
    kept &= ~verifier.worn(moved, scores, kept)
    if not kept.any():
        return []
    keypoints = moved_keypoints(keypoints, boxes, moved)
    return faces_of(moved[kept], keypoints[kept], scores[kept])


def containers(faces: np.ndarray, pool: Detections) -> np.ndarray:
    """Indices of the pooled candidates scoring CONTAINER_SCORE or more that hold one of the
    ``faces`` kept (see CONTAINER_SCORE)."""
    holds = verifier.held(faces, pool[0]).any(axis=0) & (pool[2] >= CONTAINER_SCORE)
    return np.flatnonzero(holds)


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
        Face(
            box=(f.box - np.tile(pad, 2)) / scale,
            score=f.score,
            keypoints=(f.keypoints - pad) / scale,
        )  # fmt: skip
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
