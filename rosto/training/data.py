"""Readers of the labelled sets in ``../shared/data`` (see its README), with fixed splits.

UTKFace and Figaro-1k come with splits. CelebA glasses faces, sunglasses selfies and LFW Part
Labels do not: one in five goes to ``dev`` by a CRC of its name (the person's name for LFW, so
one person's photos never sit on both sides). Benchmarks (``bench/datasets.py``) read the same
splits from here. Nothing here imports PyTorch.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPLITS = ("train", "dev")


def load(path: Path) -> np.ndarray:
    """RGB uint8 pixels as a client would send them (EXIF orientation applied)."""
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def load_mask(path: Path) -> np.ndarray:
    """A boolean mask from an 8-bit PNG (255 = inside)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) >= 128


def rows(manifest: Path) -> Iterator[dict]:
    with open(manifest, newline="") as f:
        yield from csv.DictReader(f)


def split_of(key: str) -> str:
    """``dev`` for one name in five, ``train`` otherwise; stable across runs and machines."""
    return "dev" if zlib.crc32(key.encode()) % 5 == 0 else "train"


def utkface(split: str, data: Path = DATA) -> Iterator[tuple[Path, dict]]:
    """UTKFace chips of a split with their row (age, gender, race)."""
    for row in rows(data / "utkface" / "labels.csv"):
        if row["split"] == split:
            yield data / row["file"], row


def glasses(split: str, data: Path = DATA) -> Iterator[tuple[Path, str]]:
    """CelebA faces and sunglasses selfies: (path, ``eyeglasses``|``no_glasses``|``sunglasses``).

    CelebA's eyeglasses include sunglasses; the selfie label is weak (the whole collection).
    """
    for row in rows(data / "glasses" / "manifest.csv"):
        if split_of(Path(row["file"]).name) == split:
            yield data / "glasses" / row["file"], row["label"]


def hair(split: str, data: Path = DATA) -> Iterator[tuple[Path, Path, str]]:
    """(image, mask, dataset) of Figaro-1k (``train`` = its training, ``dev`` = its testing)
    and LFW Part Labels (split by person); ``dataset`` is ``figaro`` or ``lfw``."""
    for row in rows(data / "hair" / "manifest.csv"):
        if row["dataset"] == "Figaro-1k":
            name, row_split = "figaro", "dev" if row["split"] == "testing" else "train"
        else:
            name, row_split = "lfw", split_of(Path(row["file"]).stem.rsplit("_", 1)[0])
        if row_split == split:
            yield data / "hair" / row["file"], data / "hair" / row["mask_file"], name
