"""Readers of the facial-expression sets: FER2013 (``../shared/data``) and the public sets that
``python -m tools.prepare_expressions`` brings into the data cache (real web photos, CK+,
Taiwanese posed photos), each split by person. Shared by ``rosto train emotion`` and
``bench.accuracy``; nothing here imports PyTorch.

Files the unseen guard reported are gone from the cached sets; for FER2013, which is read where
it lies, ``fer2013`` leaves out the guard's reports itself (``fer2013_guard/guard.txt``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from rosto.training.data import DATA, rows

DATA_CACHE = Path(os.environ.get("ROSTO_DATA_CACHE", Path.home() / ".cache" / "rosto" / "data"))
PHOTOS = "facial_expressions"  # crowd-labelled web photos: the set that matters most
POSED = ("taiwanese", "ck48")


def guard_file(name: str, cache: Path = DATA_CACHE) -> Path:
    return cache / name / "guard.txt"


def guard_version(name: str, cache: Path = DATA_CACHE) -> str:
    """The unseen guard's version (sha256 of its fingerprint list) a cached set passed."""
    first = guard_file(name, cache).read_text().splitlines()[0]
    return first.removeprefix("unseen.txt sha256 ")


def available(name: str, cache: Path = DATA_CACHE) -> bool:
    return (cache / name / "manifest.csv").is_file() and guard_file(name, cache).is_file()


def cached(name: str, split: str, cache: Path = DATA_CACHE) -> Iterator[tuple[Path, str, str]]:
    """(path, emotion, person) of a prepared set's split."""
    for row in rows(cache / name / "manifest.csv"):
        if row["split"] == split:
            yield cache / name / row["file"], row["emotion"], row["person"]


def fer_dropped(cache: Path = DATA_CACHE) -> set[str]:
    """File names in ``fer2013/`` that the guard reported (duplicates of unseen photos)."""
    path = guard_file("fer2013_guard", cache)
    if not path.is_file():
        return set()
    return {Path(line.split("\t")[0]).name for line in path.read_text().splitlines()[2:]}


def fer2013(split: str, data: Path = DATA, cache: Path = DATA_CACHE) -> Iterator[tuple[Path, str]]:
    """(path, emotion) of FER2013's ``train`` or ``dev`` chips, the guard's reports left out."""
    dropped = fer_dropped(cache)
    for row in rows(data / "fer2013" / "labels.csv"):
        if row["split"] == split and Path(row["file"]).name not in dropped:
            yield data / row["file"], row["emotion"]
