"""Training inputs made by the serving pipeline itself, so a model learns what it will see.

Each photo goes through detection and the shared inputs exactly as in a request; the largest
face's derived arrays (an aligned crop, an eye region, a hair region...) are cached in
``cache_dir()`` under a name that says which data and which recipe made them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rosto import detection
from rosto.analysis import Analysis
from rosto.training import cache_dir
from rosto.training.data import load

Extract = Callable[[Analysis], dict[str, np.ndarray]]


def largest_face(image: np.ndarray) -> Analysis | None:
    """The analysis of the photo's largest detected face, or None when none is found."""
    faces = detection.detect(image)
    return Analysis(image, faces[:1]) if faces else None


def extract(
    name: str,
    paths: Sequence[Path],
    compute: Extract,
    fresh: bool = False,
    fallback: Callable[[Path, np.ndarray], dict[str, np.ndarray]] | None = None,
    view: Callable[[np.ndarray], np.ndarray | None] | None = None,
) -> dict[str, np.ndarray]:
    """``compute``'s arrays for the largest face of each photo, stacked, plus ``found``.

    ``found`` (bool per photo) marks photos with a face; arrays have one row per found face,
    or per photo when ``fallback(path, image)`` gives the rows of photos without one.
    ``view(image)``, when given, is what the pipeline sees instead of the photo (None: no face).
    Cached as ``<cache>/<name>.npz``: change ``name`` when the recipe changes.
    """
    path = cache_dir() / f"{name}.npz"
    if path.is_file() and not fresh:
        with np.load(path) as cached:
            return dict(cached)
    found, rows = [], []
    for photo in tqdm(paths, desc=f"faces {name}", file=sys.stderr, dynamic_ncols=True):
        image = load(photo)
        seen = view(image) if view is not None else image
        analysis = largest_face(seen) if seen is not None else None
        found.append(analysis is not None)
        if analysis is not None:
            rows.append({k: v[0] for k, v in compute(analysis).items()})
        elif fallback is not None:
            rows.append({k: v[0] for k, v in fallback(photo, image).items()})
    arrays = {k: np.stack([r[k] for r in rows]) for k in rows[0]} if rows else {}
    arrays["found"] = np.array(found)
    np.savez(path, **arrays)
    return arrays
