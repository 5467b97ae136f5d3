"""bounds: the face rectangle, clipped to the image."""

from __future__ import annotations

from rosto.analysis import Analysis
from rosto.features import Feature


def compute(analysis: Analysis) -> list[dict]:
    height, width = analysis.image.shape[:2]
    out = []
    for face in analysis.faces:
        left, top, right, bottom = face.box
        out.append({"bounds": {
            "bottom": int(round(min(max(bottom, 0), height - 1))),
            "left": int(round(min(max(left, 0), width - 1))),
            "right": int(round(min(max(right, 0), width - 1))),
            "top": int(round(min(max(top, 0), height - 1))),
        }})  # fmt: skip
    return out


FEATURE = Feature("bounds", compute)
