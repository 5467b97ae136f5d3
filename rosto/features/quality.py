"""quality: blur (a contrast-normalised Laplacian variance) and exposure of the face region.

Blur is judged where a person sees it: on the face at its own pixel size, full resolution.
Shrinking a face first (as the seed did, to 128 px) hides the blur of a large face, and
measuring the raw Laplacian of a small one calls it blurry because small faces carry more
detail per pixel. So the level compares two bands of the grey face at its native resolution:
the Laplacian at 1–2 px (a difference of Gaussians, σ 1 and 2 px) and the same one octave
coarser (σ 2 and 4 px). Natural images hold about the same share of their detail in every
octave, so for a sharp face this ratio is the same at 60 px and at 800 px, whatever its
contrast or lighting; a blur of σ px empties the fine band first. The level is the fine band's
variance after scaling the face's contrast so that the coarse band's variance is
``REFERENCE_VARIANCE``: still a Laplacian variance with threshold 100 (API.md), now with the
same meaning at every face size.

Grain is not sharpness: sensor noise and JPEG blocks put fine-band variance everywhere alike,
so a blurred photo with grain reads sharper than it looks. The quietest part of a face shows
that grain (the 5th-percentile 16-px block of the fine band: on a sharp face still some skin
texture, on a blurred one little but grain), so ``GRAIN_SHARE`` of it is taken from the fine
band (half: all of it would take a sharp face's skin texture too), and a quarter as much from
the coarse one (where white grain puts a quarter of its variance, an octave coarser).

The threshold sits between unblurred faces (sharp) and faces blurred with a Gaussian of σ ≥ 2
px (an edge spread over ~5 px: blurry) on downscaled HELEN and AFLW2000 photos, saved as JPEG
90 and 60 and with grain of σ 3 grey levels: in the middle (in log) of the constants for which
the worse of the two rates at every face size stays highest when the threshold moves by ±5%
(``python -m bench.accuracy --only blur``, MODELS.md): room on both sides, not the edge of
either.

Faces over ``MAX_SIDE`` px are measured on a grid of ``TILES``² native-resolution tiles spread
over the face box, so the cost stays bounded (a few ms) however large the face.

Exposure compares the face's mean luminance and its share of clipped pixels against thresholds
set on synthetic darkening and brightening of sharp portraits (``tests/test_quality.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto.analysis import Analysis
from rosto.features import Feature

BLUR_THRESHOLD = 100
# Fine/coarse band ratio 0.263, grain taken out → level 100: blurry below.
REFERENCE_VARIANCE = 380.0
GRAIN_SHARE, GRAIN_BLOCK, GRAIN_PERCENTILE = 0.5, 16, 5  # half the quietest 16-px block's variance
MAX_SIDE, TILES, TILE = 384, 3, 128  # larger faces: 3×3 tiles of 128 px at native resolution
DARK_MEAN, DARK_SHARE = 60, 0.5  # mean luminance below, or share of pixels under 30 above
BRIGHT_MEAN, BRIGHT_SHARE = 200, 0.4  # mean luminance above, or share of pixels over 240 above


def face_region(analysis: Analysis, box: np.ndarray) -> np.ndarray:
    """The face box of the image as a grey uint8 array, at the image's own resolution."""
    height, width = analysis.image.shape[:2]
    left, top, right, bottom = np.round(box).astype(int)
    left, top = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
    right, bottom = min(max(right, left + 1), width), min(max(bottom, top + 1), height)
    return cv2.cvtColor(analysis.image[top:bottom, left:right], cv2.COLOR_RGB2GRAY)


def tiles(grey: np.ndarray) -> list[np.ndarray]:
    """The whole region, or for a large one a grid of tiles spread evenly over it."""
    height, width = grey.shape
    if max(height, width) <= MAX_SIDE:
        return [grey]
    tops = np.linspace(0, max(height - TILE, 0), TILES).round().astype(int)
    lefts = np.linspace(0, max(width - TILE, 0), TILES).round().astype(int)
    return [grey[t : t + TILE, left : left + TILE] for t in tops for left in lefts]


def band_variances(grey: np.ndarray) -> tuple[float, float]:
    """Variances of the fine (σ 1–2 px) and coarse (σ 2–4 px) Laplacian bands, less the grain:
    GRAIN_SHARE of the fine band's variance in its quietest block, a quarter of that coarser."""
    g = grey.astype(np.float32)
    g1, g2, g4 = (cv2.GaussianBlur(g, (0, 0), s, borderType=cv2.BORDER_REFLECT) for s in (1, 2, 4))
    fine = np.square(g1 - g2 - (g1 - g2).mean())
    rows, cols = (max(n // GRAIN_BLOCK, 1) for n in fine.shape)
    height, width = fine.shape[0] // rows, fine.shape[1] // cols
    blocks = fine[: rows * height, : cols * width].reshape(rows, height, cols, width).mean((1, 3))
    grain = GRAIN_SHARE * float(np.percentile(blocks, GRAIN_PERCENTILE))
    return float(fine.mean()) - grain, float(np.var(g2 - g4)) - grain / 4


def blur_level(grey: np.ndarray) -> int:
    """The fine band's variance with the coarse band's normalised to REFERENCE_VARIANCE."""
    fine, coarse = np.sum([band_variances(t) for t in tiles(grey)], axis=0)
    if coarse <= 1e-6:  # a flat region (a blank or clipped box): no detail at any scale
        return 0
    return int(round(REFERENCE_VARIANCE * fine / coarse))


def exposure_level(grey: np.ndarray) -> str:
    mean = float(grey.mean())
    if mean < DARK_MEAN or (grey < 30).mean() > DARK_SHARE:
        return "underexposed"
    if mean > BRIGHT_MEAN or (grey > 240).mean() > BRIGHT_SHARE:
        return "overexposed"
    return "balanced"


def compute(analysis: Analysis) -> list[dict]:
    out = []
    for face in analysis.faces:
        grey = face_region(analysis, face.box)
        level = blur_level(grey)
        out.append({
            "blur": {"is_blurry": level < BLUR_THRESHOLD, "level": level,
                     "threshold": BLUR_THRESHOLD},
            "exposure": {"level": exposure_level(grey)},
        })  # fmt: skip
    return out


FEATURE = Feature("quality", compute)
