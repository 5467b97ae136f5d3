"""What keeps a batch worker's memory near what it uses: glibc's settings and trims.

A worker's peak was mostly memory its heap held free and could not reuse. Each photo's ONNX
Runtime activations, crops and pixels are blocks of a few MB whose sizes change from photo to
photo; freed between small objects that live on, they leave holes too small for the next
photo's blocks, and the heap grows (after 12 group photos: 190 MB free in a 265 MB heap).
Blocks of 2 MiB and more mapped on their own (glibc's ``mmap_threshold``) go back to the system
when freed, so the heap stops growing: peak 362 → 283 MB over 100 dev photos. In 4 KiB pages
those fresh blocks cost 30-40 % more CPU (a page fault per 4 KiB); in transparent huge pages
(``hugetlb``) one fault per 2 MiB, no more CPU than glibc's defaults. So the threshold only
goes with huge pages, where the kernel offers them.

glibc reads these tunables when a process starts: the runners put them in the environment of
the workers they start (``worker_environment``). Elsewhere (musl, macOS) they mean nothing.

What the heap holds free is given back (``malloc_trim``) after a photo once it has grown by
100 MB, and before any large photo is decoded (``make_room_for``).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TUNABLES = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=2097152"
_HUGE_PAGES = Path("/sys/kernel/mm/transparent_hugepage/enabled")
_TRIM_SLACK = 100 * 2**20
LARGE_PHOTO = 8_000_000  # pixels: 24 MB of RGB
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc (macOS, musl): nothing to trim
    _LIBC = None
_rss_after_trim = 0


def worker_environment() -> dict[str, str]:
    """The variables a worker process starts with: glibc's tunables above, unless the user
    set their own or this machine's kernel has no transparent huge pages."""
    if _LIBC is None or "GLIBC_TUNABLES" in os.environ or not huge_pages():
        return {}
    return {"GLIBC_TUNABLES": TUNABLES}


def huge_pages() -> bool:
    """Whether the kernel gives transparent huge pages to a process that asks (``madvise``)."""
    try:
        return "[never]" not in _HUGE_PAGES.read_text()
    except OSError:
        return False


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set, for the processes started meanwhile."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def release_free_memory() -> None:
    """Give the heap's free pages back to the system once it holds 100 MB more than after the
    last time: glibc keeps what a large group photo needed, and a worker would stay at its
    largest photo's size. Not after every photo: a trim costs ~15 ms of CPU (6-13 % more CPU
    over the dev photos when it came after each 32 MB of growth)."""
    if rss() >= _rss_after_trim + _TRIM_SLACK:
        _trim()


def make_room_for(pixels: int) -> None:
    """Before a photo of ``pixels`` is decoded: from ``LARGE_PHOTO`` up, give the heap's free
    pages back first. Its arrays are mapped outside the heap (``mmap_threshold``) and cannot
    reuse them, so the 30-40 MB that group photos leave free in the heap would stay resident
    beside them, at the worker's peak. A trim costs ~15 ms; such a photo's analysis, seconds."""
    if pixels >= LARGE_PHOTO:
        _trim()


def _trim() -> None:
    global _rss_after_trim
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
        _rss_after_trim = rss()


def rss() -> int:
    """This process's resident memory in bytes (0 where /proc is absent)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0
