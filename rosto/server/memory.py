"""What keeps one worker's memory bounded under load (measured in bench/soak.py).

- ``Lanes``: at most one analysis per CPU computes at a time (more only add memory: every
  ONNX Runtime session's arena grows to hold the runs in flight together), and an image of
  ``LARGE_PIXELS`` or more computes alone, so two big decodes never add up.
- ``tune_malloc``: glibc keeps freed memory for reuse: per-thread arenas fragment, and after a
  large buffer is freed its dynamic mmap threshold rises so the next ones come from the heap,
  which rarely shrinks. Two arenas and a fixed 1 MiB threshold hand image buffers back to the
  system when freed; ``release`` trims the heap after a large image.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LARGE_PIXELS = 8_000_000
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters

logger = logging.getLogger("uvicorn.error")


class Lanes:
    """A semaphore of ``count`` lanes where a large image takes all of them."""

    def __init__(self, count: int):
        self.count = max(1, count)
        self._free = self.count
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Block until the image's lanes are free (all for a large one), then hold them."""
        need = self.count if pixels >= LARGE_PIXELS else 1
        with self._changed:
            self._changed.wait_for(lambda: self._free >= need)
            self._free -= need
        try:
            yield
        finally:
            with self._changed:
                self._free += need
                self._changed.notify_all()
            if need > 1:
                release()


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only: musl and macOS have no mallopt
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError, TypeError):
        return None
    return libc


_LIBC = _libc()


def tune_malloc() -> None:
    """Two malloc arenas and fixed thresholds (see the module's docstring); glibc only."""
    if _LIBC is None:
        return
    for parameter, value in (
        (_M_ARENA_MAX, 2),
        (_M_MMAP_THRESHOLD, 1 << 20),
        (_M_TRIM_THRESHOLD, 8 << 20),
    ):
        if not _LIBC.mallopt(parameter, value):
            logger.warning("mallopt(%s, %s) failed: memory may stay higher", parameter, value)


def release() -> None:
    """Give the heap's free memory back to the system (after a large image)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
