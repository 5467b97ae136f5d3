"""The one data path every entry point uses: image → faces → requested features → response.

The server, the CLI and the Python API all call ``analyze``. The image is decoded once by the
caller, faces are detected once, and each requested feature runs once on all faces as a batch.
Costly inputs that some features can compute ahead (``Feature.prepare``: hair's segmentation,
the expression nets) run in a background thread beside the others.
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
    # The costly inputs some features can compute ahead run in a background thread; this one
    # computes the other features meanwhile, and those last (alone, nothing to overlap).
    ahead = [n for n in names if features_by_name[n].prepare is not None] if len(names) > 1 else []
    if ahead:
        analysis.in_background([features_by_name[n].prepare for n in ahead])
    answers = {}
    for name in sorted(names, key=lambda n: n in ahead):
        start = time.perf_counter()
        answers[name] = features_by_name[name].compute(analysis)
        timings[name] = time.perf_counter() - start
    for name in names:  # the response's keys in the request's order, however computed
        for result, keys in zip(results, answers[name], strict=True):
            result.update(keys)
    return results
