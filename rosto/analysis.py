"""The shared inputs of one request: computed at most once, for all faces at once.

Features never run a model on their own inputs twice: anything two features could need
(landmarks, an aligned crop, a model's raw output) is asked for through ``Analysis.shared``,
which memoises it for the request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from rosto.face import Face


class Analysis:
    """One decoded image, its detected faces, and the inputs derived from them."""

    def __init__(self, image: np.ndarray, faces: list[Face], requested: Collection[str] = ()):
        self.image = image  # (H, W, 3) uint8 RGB, oriented
        self.faces = faces
        # The request's features: a shared input that several need in different amounts (the
        # recognition net's crops) is then computed once, in the one batch all of them need.
        self.requested = frozenset(requested)
        self._shared: dict[Any, Any] = {}

    def shared(self, key: Any, compute: Callable[[Analysis], Any]) -> Any:
        """The value of ``compute(self)`` under ``key``, computed on first request only."""
        if key not in self._shared:
            self._shared[key] = compute(self)
        return self._shared[key]
