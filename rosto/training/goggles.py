"""Swimming goggles drawn onto bare eye regions: the only goggles our data can offer.

No photo of swimming goggles exists in the labelled data, so the class is learnt from
drawings on bare CelebA eye regions: two small sealed lenses (tinted, mirrored or clear) in
a rubber gasket, a nose bridge, and a wide strap from each lens to the edge of the region,
the feature no pair of glasses has. Drawn at 4× and area-averaged down, so edges look like
a camera's rather than a rasteriser's. The eye positions are fixed by the region's frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from rosto.features.glasses import BOTTOM, HALF_WIDTH, TOP

SUPERSAMPLE = 4
LENS_TINTS = (  # RGB, opacity range
    ((20, 22, 28), (0.75, 0.97)),  # smoke
    ((30, 70, 170), (0.6, 0.95)),  # blue
    ((150, 160, 175), (0.7, 0.95)),  # silver mirror
    ((120, 40, 140), (0.6, 0.9)),  # purple
    ((220, 120, 30), (0.55, 0.9)),  # amber
    ((200, 220, 235), (0.15, 0.35)),  # clear
)
STRAP_COLOURS = ((15, 15, 15), (30, 60, 200), (200, 30, 40), (240, 240, 240), (40, 160, 60),
                 (230, 200, 30), (240, 100, 170), (90, 90, 100))  # fmt: skip


def eye_positions(width: int, extent: float) -> tuple[np.ndarray, float]:
    """Pixel centres of the right and left eye in a region crop, and pixels per eye distance."""
    unit = width / (2 * HALF_WIDTH * extent)
    height = width * (BOTTOM - TOP) / (2 * HALF_WIDTH)
    y = height / 2 - (TOP + BOTTOM) / 2 * unit
    return np.array([[width / 2 - unit / 2, y], [width / 2 + unit / 2, y]]), unit


def draw(crop: np.ndarray, extent: float, rng: np.random.Generator) -> np.ndarray:
    """The uint8 (H, W, 3) eye-region ``crop`` wearing randomly styled swimming goggles."""
    h, w = crop.shape[:2]
    s = SUPERSAMPLE
    eyes, unit = eye_positions(w, extent)
    eyes, unit = eyes * s, unit * s
    layer = np.zeros((h * s, w * s, 3), np.float32)
    alpha = np.zeros((h * s, w * s), np.float32)

    def paint(mask: np.ndarray, colour, opacity: float) -> None:
        m = mask.astype(bool)
        layer[m] = colour
        alpha[m] = opacity

    tilt = rng.uniform(-8, 8)
    axes = np.array([rng.uniform(0.26, 0.36), rng.uniform(0.17, 0.26)]) * unit
    rim = max(1, int(rng.uniform(0.05, 0.1) * unit))
    strap = rng.uniform(0.12, 0.32) * unit
    rim_colour = STRAP_COLOURS[rng.integers(len(STRAP_COLOURS))]
    strap_colour = rim_colour if rng.random() < 0.6 else STRAP_COLOURS[
        rng.integers(len(STRAP_COLOURS))]  # fmt: skip
    tint, (lo, hi) = LENS_TINTS[rng.integers(len(LENS_TINTS))]
    shift = rng.normal(0, 0.04, size=2) * unit
    centres = [tuple(int(v) for v in e + shift) for e in eyes]
    # Strap first: from each lens outward to the region's edge, slightly angled.
    for centre, side in zip(centres, (-1, 1), strict=True):
        end = (0 if side < 0 else w * s - 1, int(centre[1] + rng.uniform(-0.15, 0.1) * unit))
        mask = np.zeros_like(alpha, np.uint8)
        cv2.line(mask, centre, end, 1, int(strap))
        paint(mask, strap_colour, 1.0)
    bridge = np.zeros_like(alpha, np.uint8)
    cv2.line(bridge, centres[0], centres[1], 1, max(1, int(rng.uniform(0.03, 0.07) * unit)))
    paint(bridge, rim_colour, 1.0)
    for centre, side in zip(centres, (-1, 1), strict=True):
        size = tuple(int(a) for a in axes)
        gasket = np.zeros_like(alpha, np.uint8)
        cv2.ellipse(gasket, centre, (size[0] + rim, size[1] + rim), side * tilt, 0, 360, 1, -1)
        paint(gasket, rim_colour, 0.95)
        lens = np.zeros_like(alpha, np.uint8)
        cv2.ellipse(lens, centre, size, side * tilt, 0, 360, 1, -1)
        lens_mask = lens.astype(bool)
        layer[lens_mask] = tint
        alpha[lens_mask] = rng.uniform(lo, hi)
        if rng.random() < 0.6:  # a specular highlight
            spot = np.zeros_like(alpha, np.uint8)
            offset = (int(centre[0] - axes[0] * 0.3), int(centre[1] - axes[1] * 0.4))
            cv2.ellipse(spot, offset, (max(1, int(axes[0] * 0.35)), max(1, int(axes[1] * 0.2))),
                        -20, 0, 360, 1, -1)  # fmt: skip
            m = spot.astype(bool)
            layer[m] = 255
            alpha[m] = np.maximum(alpha[m], rng.uniform(0.4, 0.8))
    layer = cv2.resize(layer * alpha[..., None], (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)[..., None]
    out = crop.astype(np.float32) * (1 - alpha) + layer
    return np.clip(out, 0, 255).astype(np.uint8)
