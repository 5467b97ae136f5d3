"""Shared test photos: faces shipped by installable packages, and the dev data when present."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_astronaut() -> np.ndarray:
    """Eileen Collins, smiling adult woman (512×512 RGB), from scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def load_grace_hopper() -> np.ndarray:
    """Grace Hopper, older woman in uniform (600×512 RGB), from matplotlib's sample data."""
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


def encode(image: np.ndarray, fmt: str = "JPEG", **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **params)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A valid PNG start that declares ``width``×``height`` pixels: a decompression-bomb probe."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    return load_grace_hopper()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The dev data folder; tests that need it skip, visibly, on a clone without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"dev data not present at {SHARED_DATA} (labelled-photo tests skipped)")
    return SHARED_DATA
