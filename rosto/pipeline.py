"""The one data path every entry point uses: image → faces → requested features → response.

The server, the CLI and the Python API all call ``analyze``. The image is decoded once by the
caller, faces are detected once, and each requested feature runs once on all faces as a batch.
Inputs that need only the detections start first, in the background (``Feature.start``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from rosto import detection
from rosto.analysis import Analysis
from rosto.features import registry, resolve


def analyze(
    image: np.ndarray,
    features: str | Iterable[str] | None = None,
    timings: dict[str, float] | None = None,
) -> list[dict]:
    """Analyse an RGB uint8 image; one dict per face, largest face first (API.md's ``faces``).

    ``timings``, when given, receives the seconds spent in detection and in each feature
    (a feature's time includes the shared inputs it was first to ask for).
    """
    names = resolve(features)
    timings = {} if timings is None else timings
    start = time.perf_counter()
    faces = detection.detect(image)
    timings["detection"] = time.perf_counter() - start
    analysis = Analysis(image, faces, names)
    results: list[dict] = [{} for _ in faces]
    if not faces:
        return results
    features_by_name = registry()
    if len(names) > 1:  # alone, a feature has nothing to overlap its inputs with
        for name in names:
            if features_by_name[name].start is not None:
                features_by_name[name].start(analysis)
    for name in names:
        start = time.perf_counter()
        for result, keys in zip(results, features_by_name[name].compute(analysis), strict=True):
            result.update(keys)
        timings[name] = time.perf_counter() - start
    return results
