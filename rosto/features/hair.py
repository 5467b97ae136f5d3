"""hair: our small segmentation net on a square around each face → polygons and a colour.

The region (``REGION_SCALE`` face boxes wide, raised by ``REGION_RAISE``) holds the hair of
nearly every head while keeping the face large enough at 192² to find its outline. The net
sees each region and its mirror image in one batch and their maps are averaged. The mask
comes back to image pixels as simplified outer polygons, several when the hair is split (long
hair on both shoulders). The colour is the median Lab colour of the inner hair pixels once
the brightest and darkest fifth are dropped (highlights, shadows), named by the nearest entry
of ``hair_palette.json``. Too little hair (bald, covered), or hair the net is unsure of (its
guesses at caps, helmets and bald crowns), answers no polygons and the colour
``{"hex": null, "name": "none"}`` rather than a colour measured on skin or a hat.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

import cv2
import numpy as np

from rosto import alignment, models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.models import WEIGHTS_DIR
from rosto.response import points

MODEL = "hair"
INPUT = 192
REGION_SCALE, REGION_RAISE = 3.6, 0.25  # region side / face box side; shift up / box height
THRESHOLD = 0.5
MASK_SIDE = 384  # the mask is traced at most at this resolution
SIMPLIFY = 0.004  # polygon tolerance, in region sides
MIN_PART = 0.1  # a separate hair part smaller than this share of the largest one is dropped
MIN_HAIR = 0.02  # hair area under this share of the face box area means "no hair"
MIN_CONFIDENCE = 0.8  # hair pixels averaging a lower probability are the net guessing: no hair
NO_HAIR = {"hex": None, "name": "none"}
PROBABILITIES = "hair_probabilities"  # the shared input's key


def regions(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) square hair regions around (N, 4) detector boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    size = np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 - REGION_RAISE * (boxes[:, 3] - boxes[:, 1])
    half = REGION_SCALE * size / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def _regions(analysis: Analysis) -> np.ndarray:
    return regions(np.stack([face.box for face in analysis.faces]))


def mirrored_mean(net: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    """(N, INPUT, INPUT) mean of the net's maps of each crop and of its mirror image, in one run:
    the two views disagree mostly on uncertain outlines, and averaging them measured better."""
    probs = net(np.concatenate([batch, batch[:, :, ::-1]])).reshape(2, -1, INPUT, INPUT)
    return (probs[0] + probs[1][:, :, ::-1]) / 2


def _probabilities(analysis: Analysis) -> np.ndarray:
    batch = alignment.crops(analysis.image, _regions(analysis), INPUT)
    return mirrored_mean(lambda x: models.run(MODEL, x)[0], batch)


def probabilities(analysis: Analysis) -> np.ndarray:
    """(N, INPUT, INPUT) hair probability over each face's region."""
    return analysis.shared(PROBABILITIES, _probabilities)


def prepare(analysis: Analysis) -> None:
    """The net needs only the face boxes: it can run beside the landmarks' chain."""
    analysis.prepare(PROBABILITIES, _probabilities)


@cache
def palette() -> tuple[list[str], np.ndarray]:
    """Names and Lab colours (OpenCV's 0..100, -127..127 scale) of the hair palette."""
    entries = json.loads((WEIGHTS_DIR / "hair_palette.json").read_text())["colours"]
    rgb = np.array([[int(e["hex"][i : i + 2], 16) for i in (1, 3, 5)] for e in entries])
    return [e["name"] for e in entries], to_lab(rgb.astype(np.float32))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB 0..255 → Lab."""
    flat = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(rgb.shape)


def colour(pixels: np.ndarray) -> dict:
    """The hair colour of (K, 3) RGB pixels: hex of the robust median and the nearest name."""
    lab = to_lab(pixels)
    lo, hi = np.percentile(lab[:, 0], [20, 80])
    kept = lab[(lab[:, 0] >= lo) & (lab[:, 0] <= hi)]
    median = np.median(kept if len(kept) else lab, axis=0)
    rgb = cv2.cvtColor(median.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_Lab2RGB)
    hex_ = "#" + "".join(f"{int(round(float(c) * 255)):02x}" for c in np.clip(rgb.ravel(), 0, 1))
    names, refs = palette()
    weights = np.array([1.0, 2.0, 2.0])  # hue and saturation tell hair colours apart
    nearest = int(np.argmin((((refs - median) * weights) ** 2).sum(axis=1)))
    return {"hex": hex_, "name": names[nearest]}


def trace(mask: np.ndarray, left: float, top: float, scale: float) -> list[np.ndarray]:
    """Outer outlines of a boolean mask as (K, 2) image-pixel polygons, largest first."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)  # fmt: skip
    if not contours:
        return []
    areas = np.array([cv2.contourArea(c) for c in contours])
    polygons = []
    for i in np.argsort(-areas):
        if areas[i] < MIN_PART * areas.max() or areas[i] <= 0:
            break
        simple = cv2.approxPolyDP(contours[i], SIMPLIFY * mask.shape[0], True).reshape(-1, 2)
        if len(simple) >= 3:
            polygons.append((simple + 0.5) * scale + [left, top] - 0.5)
    return polygons


def face_hair(image: np.ndarray, probs: np.ndarray, region: np.ndarray, face_area: float) -> dict:
    """One face's ``hair`` value from its region's probability map."""
    left, top, side = alignment.squares(region[None])[0]
    res = int(min(MASK_SIDE, max(INPUT, round(side))))
    resized = cv2.resize(probs, (res, res), interpolation=cv2.INTER_LINEAR)
    mask = resized >= THRESHOLD
    # Only pixels inside the image count (the region is padded with black beyond it).
    scale = side / res
    h, w = image.shape[:2]
    centres = (np.arange(res) + 0.5) * scale
    cols = (centres + left >= 0) & (centres + left < w)
    rows = (centres + top >= 0) & (centres + top < h)
    mask &= rows[:, None] & cols[None, :]
    if (
        not mask.any()
        or mask.sum() * scale**2 < MIN_HAIR * face_area
        or resized[mask].mean() < MIN_CONFIDENCE
    ):
        return {"hair": {"color": dict(NO_HAIR), "polygons": []}}
    polygons = trace(mask, left, top, scale)
    pixels = alignment.crops(image, region[None], res)[0]
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    chosen = pixels[inner if inner.sum() >= 20 else mask]
    clipped = [np.clip(p, 0, [w - 1, h - 1]) for p in polygons]
    return {"hair": {"color": colour(chosen), "polygons": [points(p) for p in clipped]}}


def compute(analysis: Analysis) -> list[dict]:
    probs = probabilities(analysis)
    return [
        face_hair(analysis.image, p, r, face.area)
        for p, r, face in zip(probs, _regions(analysis), analysis.faces, strict=True)
    ]


FEATURE = Feature("hair", compute, prepare)
