"""The shared inputs of one request: computed at most once, for all faces at once.

Features never run a model on their own inputs twice: anything two features could need
(landmarks, an aligned crop, a model's raw output) is asked for through ``Analysis.shared``,
which memoises it for the request.

Some inputs can be computed ahead, in one background thread per request (``in_background``),
while the request's own thread computes the others: hair's segmentation (it needs only the
detections) and the expression nets' pass. ONNX Runtime releases the GIL, so two models run
side by side on two cores, better than one model split across both (its small layers leave the
second core waiting). Whoever asks first computes a value; a later asker waits for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from rosto.face import Face


def _pool() -> ThreadPoolExecutor:
    """Background computations of every request in this process. Each waits mostly inside ONNX
    Runtime; a request whose input has not begun here by the time it asks computes it itself."""
    return ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 4),
                              thread_name_prefix="rosto-shared")  # fmt: skip


_background = _pool()


def _after_fork() -> None:
    """A forked child has none of the parent's threads: its own pool, or queued steps would
    never run (and hold their images)."""
    global _background
    _background = _pool()


os.register_at_fork(after_in_child=_after_fork)
_ahead = True


def set_compute_ahead(enabled: bool) -> None:
    """Whether requests compute inputs ahead in the background thread (``in_background``).

    A batch worker turns it off: the other workers already fill the cores, and a second stream
    per photo holds two models' activations at once (a Ray actor peaked at 401 MB with it, and
    one worker's extra speed from it shrinks what more workers add).
    """
    global _ahead
    _ahead = enabled


T = TypeVar("T")


def ahead(compute: Callable[[], T]) -> Callable[[], T]:
    """``compute`` begun in the background thread (``set_compute_ahead``), while the caller
    does other work; the function returned gives its value. Where the pool has not begun it by
    then (other requests' steps ahead of it), the caller computes it itself rather than wait."""
    if not _ahead:
        return compute
    future = _background.submit(compute)
    return lambda: compute() if future.cancel() else future.result()


class Analysis:
    """One decoded image, its detected faces, and the inputs derived from them."""

    def __init__(self, image: np.ndarray, faces: list[Face], requested: Collection[str] = ()):
        self.image = image  # (H, W, 3) uint8 RGB, oriented
        self.faces = faces
        # The request's features: a shared input that several need in different amounts (the
        # recognition net's crops) is then computed once, in the one batch all of them need.
        self.requested = frozenset(requested)
        self._shared: dict[Any, Future] = {}
        self._lock = threading.Lock()

    def shared(self, key: Any, compute: Callable[[Analysis], Any]) -> Any:
        """The value of ``compute(self)`` under ``key``, computed on first request only."""
        self.prepare(key, compute)
        return self._shared[key].result()

    def prepare(self, key: Any, compute: Callable[[Analysis], Any]) -> None:
        """Compute the value under ``key`` unless some thread has begun it; never waits."""
        with self._lock:
            if key in self._shared:
                return
            cell = self._shared[key] = Future()
        try:
            cell.set_result(compute(self))
        except BaseException as error:  # handed to every asker, raised where it asks
            cell.set_exception(error)

    def in_background(self, steps: list[Callable[[Analysis], None]]) -> None:
        """Run ``steps`` (each ``prepare``-ing inputs) one after another in a background thread:
        one stream beside the request's own, as many as there are cores to share. Off
        (``set_compute_ahead``), each input is computed when first asked for."""
        if _ahead:
            _background.submit(lambda: [step(self) for step in steps])
