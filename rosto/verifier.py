"""The second look at the detector's unsure candidates: MTCNN's R-Net, then its O-Net.

BlazeFace's fine pass scores a 20-40 px face anywhere from 0.1 to 0.9, and textures as high.
Its own score of a candidate seen again up close was a weak judge: accepting more there traded
faces for false detections one for one. MTCNN's refinement nets (PyPI ``facenet-pytorch``,
converted by ``tools/convert/mtcnn.py``) were trained for exactly this: telling a face from the
background in a small square crop. R-Net (24² input, ~0.07 ms of CPU a crop) drops most
textures cheaply; O-Net (48², ~0.4 ms) judges the rest. Chosen on the synthetic small-face sets of
``bench.detection_data`` (two seeds, 24 photos of each size; MODELS.md "Detection"):

* a candidate scoring ``SURE_ENOUGH`` or more is a face;
* one scoring ``LIKELY``..``SURE_ENOUGH`` is a face when R-Net scores it ``RNET_FACE`` or more
  (O-Net turns down some occluded faces that R-Net accepts: a hand over the mouth in AFW);
* one scoring ``SURE``..``SURE_ENOUGH`` that R-Net did not keep is a face unless O-Net scores it
  under ``VETO`` (the false detections BlazeFace was sure of scored 0.05-0.16 there, and R-Net
  0.002-0.03: 352 of the 359 true faces of three seeds' synthetic sets and AFW that BlazeFace
  scored ``SURE``..``SURE_ENOUGH`` are kept by R-Net alone, at a sixth of O-Net's cost);
* one scoring ``UNSURE``..``SURE`` is a face when R-Net scores it ``GATE`` or more and O-Net
  ``FACE`` or more;
* one that R-Net let through but O-Net turned down is looked at once more where O-Net's own
  box regression puts the face (the square of that box), and kept with that box if O-Net then
  scores it ``FACE`` or more: BlazeFace's boxes of its weakest candidates are often off the face
  by a third of its size, as MTCNN's own cascade corrects its proposals;
* one scoring ``LIKELY``..``SURE`` that R-Net stopped (under ``GATE``, not under ``FLOOR``)
  gets the same O-Net look (its box, then O-Net's moved box), if it lies in no face kept, fills
  less than ``PART`` of the photo. R-Net turns down turned heads that O-Net accepts: of the
  synthetic 2-MP faces the second look lost (seeds 11-13), 3 of the 5 R-Net stopped were
  profiles (yaw 39-68°) that O-Net scored 0.96-0.98. R-Net also turns down crops off a face,
  which O-Net accepts: on UTKFace's 200² chips, whose face fills the photo, such part-face
  boxes replaced whole faces (9 of 4,790 chips) until a box filling a fifth of the photo was
  left to R-Net's gate, and inside a face kept such a box is a part of it. (From a detector
  score of 0.3 with R-Net ≥ 0.15 as well, the look also took a lace pattern and a brick wall
  in 2-MP mosaics of real photos, for one held-out synthetic face more.)

A candidate the second look turns down may have hidden a face: the detector's non-maximum
suppression keeps one box of a group of overlapping ones, and a box lying mostly inside a
better-scored one is suppressed, even when that one is several times larger (a loose 0.2 box
around a textured patch swallowing the 0.17 box of a 25 px face in it). So the pooled
candidates that a rejected candidate at least ``SWALLOWED`` times their area covered, that are
no second guess at a box already looked at and lie in no face kept, get the same second look
(``hidden``), a stricter one (``look_again``): R-Net ``RNET_FACE`` or more, then O-Net ``FACE``
or more, at the candidate's own box. The faces found this way scored R-Net 1.00 and O-Net
0.96-1.00 there; O-Net's moved box accepted an ear on the back of a head and a dark blob among
990 real dev photos, and a lower R-Net gate sends a rejected candidate's leftovers to O-Net in
ordinary portraits. 3 more of the 476 faces of the synthetic sets of two seeds, no false
detection more (MODELS.md, "Detection").

MTCNN was trained mostly on near-frontal faces: O-Net turns down many heads turned 30° or more even
at a perfect box (R-Net / O-Net 0.99 / 0.23 at the labelled box of a missed AFLW face). Where the
fine-pass net ran (from 640×480 up), a candidate the cascade turned down that the detector scored
``JUDGED`` or more is looked at once more by a face judge trained here on the detector's own
candidates over training photos, AFLW2000's train fold of turned heads and CFP's profile photos
(``rosto.training.face_judge``, 48² like O-Net, ~0.2 ms a crop): kept when the judge scores it
``JUDGE`` or more and R-Net and O-Net do not rule it out (``JUDGE_RNET``, ``JUDGE_ONET``). The
judge alone is no good last word: at 0.95 it took 45 gravel stones, cat eyes and ears of the
benchmark's backgrounds for faces over two seeds' synthetic sets, against 4 turned heads; with the
other nets' floors and the detector's 0.6, 4 turned heads for 1 (chosen on seeds 11 and 12;
MODELS.md, "Detection: a face judge for turned heads"). Under O-Net 0.3 it took uniform emblems for
faces (the judge 0.97, O-Net 0.20 and 0.28, on the astronaut's and Grace Hopper's).
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto import models

MODELS = ("mtcnn_rnet", "mtcnn_onet", "face_judge")
UNSURE = 0.1  # the detector's lowest score worth a look
SURE = 0.75
SURE_ENOUGH = 0.9
GATE = 0.3  # R-Net's score to go on to O-Net (but see LIKELY)
# R-Net's score under which a stopped candidate gets no O-Net look all the same: on photos the
# fine-pass net's candidates (``rosto.fine_faces``), of the 14.6 per synthetic 2-MP photo that
# R-Net stopped (seeds 11-13), O-Net kept 2 turned faces (R-Net 0.03 and 0.28), half of them
# scored under 0.02: without them a 2-MP photo sends O-Net 18 crops, not 35 (-7 ms of CPU),
# the same faces found (seeds 11-13, AFW, real 2-MP mosaics).
FLOOR = 0.02
PART = 0.2  # share of the photo's area from which a box may be part of a face cropped tight
FACE = 0.9  # O-Net's score to keep an unsure candidate
LIKELY = 0.5  # the detector's score from which R-Net alone may keep a candidate, or not stop it
RNET_FACE = 0.8  # R-Net's score that keeps such a candidate
VETO = 0.2  # O-Net's score under which a fairly sure candidate is dropped
# The detector's fairly sure candidates it asks to be ``strict`` with (the fine-pass net's, read
# above the scale it was trained at: ``fine_faces.SMALL_SCALE``) are dropped under STRICT_VETO
# rather than VETO, and those R-Net scores under GATE are judged as unsure ones (O-Net ``FACE``,
# then at its moved box). The false faces the net found there (17-18 px, small shiny things on
# the test portraits read at 0.5625-0.65) scored R-Net 0.12-0.19 or O-Net 0.31-0.38; the
# synthetic 640×480 faces kept by VETO alone R-Net 0.45-0.50 and O-Net 0.73-0.77; a turned head
# R-Net scored 0.14 O-Net 1.00 (dropped while R-Net's GATE alone stopped such candidates).
# Figures: MODELS.md ("Detection: 640×480 photos read at 0.625").
STRICT_VETO = 0.5
CROP = 1.15  # the square crop's side, in the candidate box's longer side
BATCH = 64  # crops per run: bounded memory for a crowd's candidates
SWALLOWED = 3.0  # a rejected box at least this many times a pooled one's area may hide it
# The face judge trained here (``rosto.training.face_judge``): its score from which a candidate
# MTCNN's nets turned down is a face all the same (turned heads), and the crop side it sees.
JUDGE = 0.9
JUDGE_SIDE = 48
JUDGED = 0.6  # the detector's score from which a candidate turned down is judged
JUDGE_RNET, JUDGE_ONET = 0.2, 0.3  # R-Net's and O-Net's scores it must reach as well
INSIDE = 0.5  # share of a box's area within another from which it lies inside it
# A face kept under BADGE times as wide as another face kept, centred on that one's body (TORSO:
# within this many of its widths either side of its centre, from / to this many of its heights
# below it), is a badge, an emblem or a print on the clothes unless the detector is sure of it
# (``worn``). The benchmarks' faces have no bodies (faces pasted at 20-120 px, mosaics of
# unrelated photos): at 0.25 the rule dropped 8 true faces of the synthetic sets of seeds
# 11-31 (0.20-0.24 as wide as a face above them) and 8 of the real mosaics' under 40 px; at 0.15
# none of either (one false 15 px box of seed 12), and still the insignia and patches of the
# tests' photos (0.10-0.11).
BADGE = 0.15
TORSO = (1.5, 0.5, 3.0)
SAME = 0.5  # IoU from which a pooled box is a second guess at a box already looked at


def squares(boxes: np.ndarray, crop: float) -> np.ndarray:
    """(N, 4) squares of ``crop`` times each box's longer side, around its centre."""
    half = crop * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    return np.concatenate([centre - half[:, None], centre + half[:, None]], axis=1)


def square_crops(image: np.ndarray, boxes: np.ndarray, side: int, crop: float = CROP
                 ) -> np.ndarray:  # fmt: skip
    """(N, side, side, 3) float32 0..255: the square of ``crop`` box sides around each box's
    centre, black outside the photo, sampled bilinearly (area averaging, as the package
    resamples, kept 3 fewer of the 170 faces of the synthetic 2-MP set and as many elsewhere)."""
    crops = np.empty((len(boxes), side, side, 3), np.float32)
    for out, square in zip(crops, squares(boxes, crop), strict=True):
        scale = side / max(square[2] - square[0], 1.0)
        warp = np.array([[scale, 0, -square[0] * scale], [0, scale, -square[1] * scale]])
        out[:] = cv2.warpAffine(image, warp, (side, side), flags=cv2.INTER_LINEAR)
    return crops


def outputs_of(model: str, image: np.ndarray, boxes: np.ndarray, side: int, crop: float = CROP
               ) -> list[list[np.ndarray]]:  # fmt: skip
    """A net's outputs on each box's square crop, one list per batch of BATCH boxes."""
    return [models.run(model, square_crops(image, boxes[i : i + BATCH], side, crop))
            for i in range(0, len(boxes), BATCH)]  # fmt: skip


def judged(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The face judge's face probability (N,) of each box's square crop."""
    outputs = outputs_of("face_judge", image, boxes, JUDGE_SIDE)
    return np.concatenate([o[0] for o in outputs]) if outputs else np.zeros(0)


def run(model: str, image: np.ndarray, boxes: np.ndarray, side: int, crop: float = CROP
        ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One MTCNN net on each box's square crop, in batches: face probabilities (N,) and box
    regressions (N, 4) (the square's corners' shifts, in units of its side)."""
    outputs = outputs_of(model, image, boxes, side, crop)
    if not outputs:
        return np.zeros(0), np.zeros((0, 4))
    return (np.concatenate([o[-1][:, 1] for o in outputs]),
            np.concatenate([o[0] for o in outputs]))  # fmt: skip


def verify(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
           vetoable: np.ndarray | None = None, gates: np.ndarray | float = GATE,
           judge: bool = False, strict: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Which candidates (boxes (K, 4) in the image's pixels, detector scores (K,)) are faces,
    and their boxes: the detector's, or O-Net's where its second look moved the face. The
    ``vetoable`` ones (K,) that R-Net would keep alone are kept unless O-Net vetoes them, as
    fairly sure ones: the fine-pass net's (it scores name badges and emblems 0.7-0.8, which
    R-Net takes for faces, 0.91, and O-Net does not, 0.002). ``gates``: R-Net's score from
    which each unsure candidate goes on to O-Net (``GATE``; higher for the net's weakest);
    ``judge``: the face judge looks at those the cascade turned down (``judged_faces``);
    ``strict`` (K,): fairly sure ones that O-Net drops under STRICT_VETO, judged as unsure
    ones where R-Net scores them under GATE."""
    boxes = boxes.copy()
    kept = scores >= SURE_ENOUGH
    fairly_sure = (scores >= SURE) & ~kept
    unsure = (scores >= UNSURE) & (scores < SURE)
    stopped = np.zeros(len(boxes), dtype=bool)
    rnet = np.zeros(len(boxes))
    onet = np.full(len(boxes), np.nan)  # O-Net's score at each box, where it looked
    if (unsure | fairly_sure).any():
        rnet[unsure | fairly_sure] = run("mtcnn_rnet", image, boxes[unsure | fairly_sure], 24)[0]
        by_rnet = (unsure | fairly_sure) & (scores >= LIKELY) & (rnet >= RNET_FACE)
        if vetoable is not None:
            fairly_sure |= by_rnet & vetoable
            by_rnet &= ~vetoable
        kept |= by_rnet
        fairly_sure &= ~kept
        unsure &= ~fairly_sure
        stopped = unsure & ~kept & (rnet < GATE) & (rnet >= FLOOR) & (scores >= LIKELY)
        unsure &= ~kept & (rnet >= gates)
        if strict is not None:
            doubtful = fairly_sure & strict & (rnet < GATE)
            fairly_sure &= ~doubtful
            unsure |= doubtful
    looked = np.flatnonzero(fairly_sure | unsure)
    if len(looked):
        vetoes = VETO if strict is None else np.where(strict[looked], STRICT_VETO, VETO)
        onet[looked] = onet_look(image, boxes, kept, looked,
                                 np.where(fairly_sure[looked], vetoes, FACE), unsure[looked])
    stopped &= area_of(boxes) < PART * image.shape[0] * image.shape[1]
    if stopped.any() and kept.any():
        stopped[stopped] = overlaps(boxes[stopped], boxes[kept], of_smaller=True).max(1) <= INSIDE
    if stopped.any():
        onet[stopped] = onet_look(image, boxes, kept, np.flatnonzero(stopped), FACE, True)
    if judge:
        doubted = np.flatnonzero(~kept & (scores >= JUDGED) & (rnet >= JUDGE_RNET))
        kept[judged_faces(image, boxes, doubted, onet)] = True
    return kept, boxes


def judged_faces(image: np.ndarray, boxes: np.ndarray, doubted: np.ndarray,
                 onet: np.ndarray) -> np.ndarray:  # fmt: skip
    """Those of the ``doubted`` candidates (indices) that the face judge scores ``JUDGE`` or
    more and O-Net at least ``JUDGE_ONET`` at their boxes: its score where the cascade already
    looked there (``onet``, NaN elsewhere; filled in here), one pass for the others."""
    if len(doubted):
        doubted = doubted[judged(image, boxes[doubted]) >= JUDGE]
    unseen = doubted[np.isnan(onet[doubted])]
    if len(unseen):
        onet[unseen] = run("mtcnn_onet", image, boxes[unseen], 48)[0]
    return doubted[onet[doubted] >= JUDGE_ONET]


def onet_look(image: np.ndarray, boxes: np.ndarray, kept: np.ndarray, looked: np.ndarray,
              threshold: np.ndarray | float, movable: np.ndarray | bool
              ) -> np.ndarray:  # fmt: skip
    """O-Net at the ``looked`` candidates, marked ``kept`` where it scores ``threshold`` or
    more; a ``movable`` one it turns down is looked at once more at the square its regression
    gives, and takes that box (in ``boxes``) where O-Net then scores ``FACE`` or more. O-Net's
    scores at the boxes looked at (K,)."""
    onet, shifts = run("mtcnn_onet", image, boxes[looked], 48)
    face = onet >= threshold
    kept[looked[face]] = True
    again = ~face & movable
    if again.any():
        moved = regressed(boxes[looked[again]], shifts[again])
        found = run("mtcnn_onet", image, moved, 48, crop=1.0)[0] >= FACE
        boxes[looked[again][found]] = moved[found]
        kept[looked[again][found]] = True
    return onet


def regressed(boxes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(N, 4) the squares where O-Net's box regressions (``shifts``, from its look at the
    boxes' ``CROP`` squares) put the faces."""
    square = squares(boxes, CROP)
    return square + shifts * (square[:, 2:3] - square[:, 0:1])


def overlaps(boxes: np.ndarray, others: np.ndarray, of_smaller: bool = False) -> np.ndarray:
    """(N, M) IoU of each box with each of the others, or their intersection over the smaller
    of the two areas."""
    sides = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    sides -= np.maximum(boxes[:, None, :2], others[None, :, :2])
    np.maximum(sides, 0, out=sides)
    inter = sides[:, :, 0] * sides[:, :, 1]
    area, other = area_of(boxes)[:, None], area_of(others)[None, :]
    return inter / np.maximum(np.minimum(area, other) if of_smaller else area + other - inter,
                              1e-9)  # fmt: skip


def area_of(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas, zero for an empty box (plain ufuncs: called a few times per candidate)."""
    sides = np.maximum(boxes[:, 2:] - boxes[:, :2], 0)
    return sides[:, 0] * sides[:, 1]


def held(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N, M): whether each of the boxes lies inside each of the ``others`` that is at least
    SWALLOWED times its area (faces do not nest: such a box is a part of the other's face)."""
    inside = overlaps(boxes, others, of_smaller=True) > INSIDE
    return inside & (area_of(others)[None, :] >= SWALLOWED * area_of(boxes)[:, None])


def hidden(pool: np.ndarray, looked: np.ndarray, kept: np.ndarray, faces: np.ndarray,
           around: bool = False) -> np.ndarray:  # fmt: skip
    """Indices of the pooled candidate boxes (P, 4) that a rejected candidate may have hidden
    from the second look: inside one of the ``looked`` boxes that was not ``kept`` and at least
    SWALLOWED times their area (or, ``around``, holding one and SWALLOWED times its area: the
    fine-pass net's box on an eye of a large face outscores BlazeFace's of the whole face), no
    second guess (IoU ≥ SAME) at any box looked at, and inside none of the ``faces`` found."""
    rejected = looked[~kept]
    if not len(pool) or not len(rejected):
        return np.zeros(0, dtype=int)
    swallowed = held(rejected, pool).T if around else held(pool, rejected)
    candidate = swallowed.any(axis=1) & (overlaps(pool, looked).max(axis=1) < SAME)
    if len(faces):
        candidate &= overlaps(pool, faces, of_smaller=True).max(axis=1) <= INSIDE
    return np.flatnonzero(candidate)


def worn(boxes: np.ndarray, scores: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Which of the ``kept`` boxes (N, 4), the detector scoring them under SURE_ENOUGH, lie on
    the body of another kept face at least 1 / BADGE times as wide (``TORSO``): a body hides
    what is behind it, so a face that much smaller in front of it is no one's. The nets find
    faces in emblems and patches on clothes as they find small faces: at 20 px every one of
    them takes a shield-shaped insignia for a face (the fine-pass net 0.75, R-Net 0.72, O-Net
    0.69, the face judge 0.96), and O-Net's score of it moved from 0.01 to 0.71 as its box
    moved by a pixel."""
    sizes = boxes[:, 2:] - boxes[:, :2]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    offsets = (centres[:, None] - centres[None]) / np.maximum(sizes[None], 1e-6)  # (N, N, 2)
    half_width, top, bottom = TORSO
    on_body = (np.abs(offsets[..., 0]) <= half_width) & (offsets[..., 1] >= top)
    on_body &= offsets[..., 1] <= bottom
    on_body &= sizes[:, None, 0] <= BADGE * sizes[None, :, 0]
    return kept & (scores < SURE_ENOUGH) & (on_body & kept[None]).any(axis=1)


Tiers = tuple[tuple[float, float], ...]  # (R-Net, O-Net) scores that together keep a box
STRICT: Tiers = ((RNET_FACE, FACE),)


def look_again(image: np.ndarray, boxes: np.ndarray, tiers: Tiers = STRICT) -> np.ndarray:
    """Which of the ``hidden`` candidates' boxes (K, 4) are faces, at those boxes: R-Net
    ``RNET_FACE`` or more, then O-Net ``FACE`` or more (or, given other ``tiers``, both nets
    scoring at least one pair of them)."""
    rnet = run("mtcnn_rnet", image, boxes, 24)[0]
    kept = rnet >= min(r for r, _ in tiers)
    if kept.any():
        onet = run("mtcnn_onet", image, boxes[kept], 48)[0]
        kept[kept] = np.any([(rnet[kept] >= r) & (onet >= o) for r, o in tiers], axis=0)
    return kept
