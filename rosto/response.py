"""Small shapers for the response objects of API.md."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classes(labels: Sequence[str], probs: np.ndarray) -> dict:
    """``{"classes": {label: p}, "probability": p_max, "value": label}``, rounded to 2 places."""
    best = int(np.argmax(probs))
    return {
        "classes": {label: round(float(p), 2) for label, p in zip(labels, probs, strict=True)},
        "probability": round(float(probs[best]), 2),
        "value": labels[best],
    }


def point(xy: np.ndarray) -> dict:
    return {"x": int(round(float(xy[0]))), "y": int(round(float(xy[1])))}


def points(xys: np.ndarray) -> list[dict]:
    return [point(xy) for xy in xys]
