"""The fine pass of large photos: a small face detector trained here, on the photo at half size.

BlazeFace's fine pass over a 2-MP photo (its input 0.6 of the photo, in strips) cost ~125 ms of
CPU, three quarters of its detection, in the first layers of a network built for 128-256 px
faces. Faces up to ~110 px of a large photo need far less: ``rosto train fine_faces`` trains a
fully convolutional net here (a stride-2 convolution, depthwise-separable blocks at strides 2
and 4, a stride-8 branch for context added back at stride 4) that reads the photo shrunk by
``SCALE`` (area averaging at exactly a half is a fast path of OpenCV) and gives per stride-4
cell a face probability, its box (centre offset in units of ``UNIT`` and log size) and
its six keypoints (offsets in units of the face's width). Its candidates are the local maxima
of the score; the detector pools them with its coarse BlazeFace pass's (the faces wider than
this net was trained for) and hands them to the verifier like BlazeFace's own. Where it reads
the photo at SCALE or less (photos from ~0.5 MP up) it reads it twice, as it is and mirrored,
and a cell's score is the mean of both reads (``fused``): a head turned one way is not the
net's mirror image of one turned the other, so more turned heads are found. A smaller photo,
read above SCALE (``stretch``), is read once: its second read took the 640×480 photo's
detection over its 12 ms budget.
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import models

MODEL = "fine_faces"
SCALE = 0.5  # of the photo: a 20 px face is 10 px in the net's input
MAX_PIXELS = 520_000  # of the net's input: a larger photo is shrunk more (2 MP at SCALE)
STRIDE = 4  # of the output cells, input pixels
MULTIPLE = 8  # the input's sides are padded to a multiple of the coarsest stride
UNIT = 16.0  # input pixels: box offsets are in these units, sizes are log(size / UNIT)
KEYPOINTS = 6
OUTPUTS = 1 + 4 + 2 * KEYPOINTS  # score, box, keypoints
WIDTHS = (5.0, 60.0)  # face widths (detector box) the net was trained on, input pixels
# Where BlazeFace's pass is coarser (``detection.LARGE``), the net answers a little wider: its
# boxes up to WIDER input pixels, and up to REFINED once R-Net has moved them (132 and 144 px
# of a 2-MP photo); elsewhere both are WIDTHS[1].
WIDER, REFINED = 66.0, 72.0
# Input pixels under which a refined box is no face the detector answers for (14 px of a 2-MP
# photo; faces are looked for down to 20 px): a 13 px button on Grace Hopper's jacket passed
# R-Net (0.87) and O-Net's veto (0.24). At 8 (16 px), 4 more of the real 2-MP mosaics' faces
# (6,474 → 6,470) and one of held-out seed 13's were lost.
SMALLEST = 7.0
# A cell's score from which it is a candidate. From 0.4, a synthetic 2-MP photo took ~6 ms
# more (47 R-Net crops of candidates, not 29) for one face more of held-out seed 13 and 5 more
# of the 6,578 faces of the real 2-MP mosaics; from 0.3, 181 R-Net crops, not 106, for one
# 640×480 face more.
THRESHOLD = 0.5
# Candidates per photo at most, best first, so the verifier's cost stays bounded; a crowd can
# hold many faces: at 100, the 2-MP mosaics of 36-64 real photos lost 11 faces, at 50, 132.
MOST = 300
# And the best EXTRA candidates scoring LOW..THRESHOLD, at a bounded cost in a photo of many
# textures: the small faces of a small photo that the net scores low (of the faces missed in 80
# synthetic 640×480 photos of seeds 11 and 12, 10 of 14 scored 0.23-0.44). The verifier sends
# them on to O-Net only from R-Net 0.8 (``rosto.detection``, ``gates``). 640×480 recall in
# 40 photos of seeds 11 / 12 / 13: 0.937 / 0.939 / 0.928 without, 0.955 / 0.956 / 0.946 with 5,
# 0.964 / 0.965 / 0.946 with 10 (but the 640×480 portrait's detection +2 ms, all its features
# then 40.1 ms against a 40 ms budget), 0.964 / 0.982 with 20 (a 640×480 photo 14 ms: over its
# 12 ms budget, O-Net looking at textures until the weak candidates' R-Net gate went to 0.8).
# EXTRA is now the single read's (``decode``'s default, as training measures the net); the
# detector's fused reads give MIRRORED_EXTRA_PIXELS' count.
LOW, EXTRA = 0.25, 5
# The net's scores mapped onto BlazeFace's (piecewise linear between these points), where the
# verifier's rules were chosen (``rosto.verifier``): textures score higher here than there.
CALIBRATION = ((0.0, 0.85, 0.97, 1.0), (0.0, 0.745, 0.8, 1.0))
# The candidates of the fused map (``fused``) start at MIRRORED_THRESHOLD, not THRESHOLD (a
# single read's, as in a 640×480 photo and as the net's training measures it). Figures:
# MODELS.md (detection).
MIRRORED_THRESHOLD = 0.45
# The weak candidates of the fused map are one per MIRRORED_EXTRA_PIXELS of the net's input, not
# EXTRA (a 2-MP photo's 541×962: 148; a ~0.5-MP photo's at half size: 34): the turned heads R-Net
# and O-Net keep at their labelled box but the fused map scores 0.25-0.35 rank 60-140th of its
# weak peaks. Faces found in the synthetic 2-MP photos of seeds 11 / 12 / 13 / 29 / 31
# (`bench.detection --count 40`): with 5, 275 / 262 / 294 / 306 / 253; 15 or 26, one more on
# 11, 13, 29 (26: and 31); 75 or 105, 276 / 263 / 296 / 307 / 254; 150, 278 / 264 / 296 / 308 /
# 254 (every seed ≥ 0.97; false boxes 17 → 19); 263, the same. Their R-Net crops cost:
# ``detection.WEAK_RNET``. Figures: MODELS.md ("Detection: more candidates for small turned
# faces").
MIRRORED_EXTRA_PIXELS = 3_500
# A small photo (up to a 640×480's 400×300) is read at up to SMALL_SCALE, not SCALE, its input up
# to SMALL_PIXELS: its 20-25 px faces 12.5-16 input px, not 10-12.5, where the net finds more.
# The net's widths (WIDTHS, WIDER, REFINED, SMALLEST) are then scaled with the read
# (``stretch``), so the hand-over to BlazeFace's pass stays at the same photo pixels. Read above
# the scale it was trained at, the net also finds small shiny things (a 17 px metal connector on
# the test astronaut's suit, 0.76): its candidates there get a stricter look
# (``verifier.STRICT_VETO``). 640×480 recall, seeds 11 / 12 / 13 / 29 / 31: 0.933 / 0.991 /
# 0.950 / 0.968 / 0.964 at SCALE, 0.962 / 1.000 / 0.970 / 0.979 / 0.973 at 0.625. Figures:
# MODELS.md ("Detection: 640×480 photos read at 0.625").
SMALL_SCALE, SMALL_PIXELS = 0.625, 120_000


def scale_for(height: int, width: int) -> float:
    """The photo's scale for the net's input: SCALE, or less where that exceeds MAX_PIXELS, or
    up to SMALL_SCALE where the input stays under SMALL_PIXELS."""
    small = min(SMALL_SCALE, (SMALL_PIXELS / (height * width)) ** 0.5)
    return max(small, min(SCALE, (MAX_PIXELS / (height * width)) ** 0.5))


def stretch(scale: float) -> float:
    """How much larger than at SCALE the photo is read at ``scale`` (1 at or under SCALE)."""
    return max(1.0, scale / SCALE)


def shrunk(image: np.ndarray, scale: float) -> np.ndarray:
    """The photo at ``scale`` (``scale_for``) for the net: above SCALE, enlarged bilinearly to
    twice ``scale`` and then halved by area (OpenCV's fast path), 0.74-0.88 ms of CPU for a
    640×480 photo at 0.625 where its area shrink took 1.65-2.05 and a bilinear one alone
    aliases."""
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    if scale <= SCALE:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    large = cv2.resize(image, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(large, size, interpolation=cv2.INTER_AREA)


def net_input(small: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) float32 in -1..1 of the uint8 image, padded with -1 (black) to multiples
    of MULTIPLE at the bottom and right."""
    height, width = small.shape[:2]
    shape = (-(-height // MULTIPLE) * MULTIPLE, -(-width // MULTIPLE) * MULTIPLE)
    batch = np.full((1, 3, *shape), -1.0, dtype=np.float32)
    view = batch[0, :, :height, :width]
    np.multiply(small.transpose(2, 0, 1), np.float32(1 / 127.5), out=view)
    view -= 1.0
    return batch


def decode(output: np.ndarray, threshold: float = THRESHOLD, extra: int = EXTRA
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Boxes (K, 4), keypoints (K, 6, 2) in input pixels and scores (K,) of the net's output
    (1, OUTPUTS, H, W): the cells scoring ``threshold`` or more that score highest among their
    3×3 neighbours, at most MOST, best first, then the best ``extra`` of those from LOW. Each
    one's box and keypoints are the mean of those its 3×3 neighbours give, weighted by their
    scores (on the synthetic 2-MP photos of seeds 11 and 12, 5 more of 318 faces had a candidate
    at IoU ≥ 0.4 than with the peak's own); computed at the peaks' neighbours only (filtering
    every plane of the map cost 2.6 ms of a 2-MP photo's CPU)."""
    score = output[0, 0]
    peak = (score >= min(threshold, LOW)) & (score >= cv2.dilate(score, np.ones((3, 3), np.uint8)))
    rows, cols = np.nonzero(peak)
    sure = int((score[rows, cols] >= threshold).sum())
    order = np.argsort(-score[rows, cols], kind="stable")[: min(sure, MOST) + extra]
    rows, cols = rows[order], cols[order]
    height, width = score.shape
    dy, dx = np.divmod(np.arange(9), 3)
    ys, xs = rows[:, None] + dy - 1, cols[:, None] + dx - 1  # (K, 9) neighbours
    weight = score[ys.clip(0, height - 1), xs.clip(0, width - 1)]
    weight = weight * ((ys >= 0) & (ys < height) & (xs >= 0) & (xs < width))
    raw = output[0, 1:][:, ys.clip(0, height - 1), xs.clip(0, width - 1)]  # (16, K, 9)
    cells = np.stack([(xs + 0.5) * STRIDE, (ys + 0.5) * STRIDE])  # (x, y)
    centre = cells + raw[0:2] * UNIT
    size = np.exp(np.clip(raw[2:4], -5, 5)) * UNIT
    points = cells[None] + raw[4:].reshape(KEYPOINTS, 2, *ys.shape) * size[None, :1]
    located = np.concatenate([centre - size / 2, centre + size / 2,
                              points.reshape(2 * KEYPOINTS, *ys.shape)])  # fmt: skip
    mean = ((located * weight).sum(axis=2) / weight.sum(axis=1)).T
    return mean[:, :4], mean[:, 4:].reshape(-1, KEYPOINTS, 2), score[rows, cols]


def threshold_of(mirror: bool) -> float:
    """The first score of the net's candidates: MIRRORED_THRESHOLD in a fused map, else
    THRESHOLD."""
    return MIRRORED_THRESHOLD if mirror else THRESHOLD


def extra_of(small: np.ndarray, mirror: bool) -> int:
    """How many weak candidates (LOW..``threshold_of``) the net may give in this shrunk photo:
    in a fused map one per MIRRORED_EXTRA_PIXELS of it, else EXTRA."""
    return small.shape[0] * small.shape[1] // MIRRORED_EXTRA_PIXELS if mirror else EXTRA


def mirrored(batch: np.ndarray) -> np.ndarray:
    """The (1, 3, H, W) input mirrored left to right, padding and all (its padding then on the
    left), so that the mirror's output cell j is the input's cell W-1-j exactly. OpenCV's flip
    plane by plane: numpy's copy of the reversed view took 3.3 ms of a 2-MP photo's CPU."""
    out = np.empty_like(batch)
    for plane, flipped in zip(batch[0], out[0], strict=True):
        cv2.flip(plane, 1, dst=flipped)
    return out


def fused(output: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """The photo's map (1, OUTPUTS, H, W), its scores made (in place) the mean of its own and
    its ``mirror``'s (the mirrored input's map) read back, cells flipped: a face one side
    scores low and the other high, as a turned head may be, is a candidate or not by both. The
    boxes and keypoints stay the photo's own: with the mean of both sides' (the mirror's x
    offsets negated, the subject's sides swapped) the 2-MP sets lost 5 faces and the AFW set a
    22 px face. The larger of the two scores rather than their mean found 8 more of the 1,704
    faces of seventeen seeds' synthetic 640×480 sets but took 7 more false boxes there, 18 more
    in the real 640×480 mosaics (for 10 faces fewer) and 9 more in 1-MP photos, and sent O-Net
    more textures (figures: MODELS.md, "Detection: the fine-pass net reads every photo
    mirrored")."""
    score = output[0, 0]
    score += mirror[0, 0, :, ::-1]
    score /= 2
    return output


def detections(small: np.ndarray, widest: float = WIDTHS[1], mirror: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Boxes, keypoints and scores (``CALIBRATION``) of the faces the net finds in the already
    shrunk photo, read as it is and, where ``mirror``, mirrored (``fused``), in its pixels; none
    wider than ``widest``, by default what it was trained for (its boxes of wider faces are
    loose, and outscored BlazeFace's good ones of them in the merge)."""
    batch = net_input(small)
    (output,) = models.run(MODEL, batch)
    if mirror:  # two runs: as one batch of 2, 4 ms more CPU at 2 MP
        output = fused(output, models.run(MODEL, mirrored(batch))[0])
    boxes, keypoints, scores = decode(output, threshold_of(mirror), extra_of(small, mirror))
    trained = boxes[:, 2] - boxes[:, 0] <= widest
    return boxes[trained], keypoints[trained], np.interp(scores[trained], *CALIBRATION)


def weak(scores: np.ndarray, mirror: bool = True) -> np.ndarray:
    """Which of the calibrated ``scores`` (``detections``) are of the weak candidates, under
    ``threshold_of`` before calibration."""
    return scores < np.interp(threshold_of(mirror), *CALIBRATION)
