"""Readers of the labelled sets in ``../shared/data`` (see its README), with fixed splits.

UTKFace and Figaro-1k come with splits. CelebA glasses faces, sunglasses selfies and LFW Part
Labels do not: one in five goes to ``dev`` by a CRC of its name (the person's name for LFW, so
one person's photos never sit on both sides). Benchmarks (``bench/datasets.py``) read the same
splits from here. Nothing here imports PyTorch.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPLITS = ("train", "dev")
# Public datasets brought in by ``python -m tools.prepare_faces`` (guarded, with manifests).
DATA_CACHE = Path(os.environ.get("ROSTO_DATA_CACHE", Path.home() / ".cache" / "rosto" / "data"))


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


def utkface_split_of(name: str) -> str:
    """UTKFace's split, free of identities, which UTKFace does not give: one minute in five of
    the crop timestamps in the names (``age_gender_race_YYYYMMDDHHMMssmmm.jpg.chip.jpg``) is
    ``dev``. Chips cropped in the same minute (the faces of one photo, the consecutive
    pictures of one source) stay on one side."""
    return split_of(name.split(".")[0].rsplit("_", 1)[1][:12])


def utkface(
    split: str, data: Path = DATA, full: Path = DATA_CACHE / "utkface"
) -> Iterator[tuple[Path, dict]]:
    """UTKFace chips of a split with their row (age, gender, race).

    All 23.7k chips (``tools.prepare_faces utkface``, guarded) when they are prepared in
    ``full``, else the 6,000 of ``data/utkface`` (both of its folders); either way split by
    ``utkface_split_of``, so the dev faces of the small set are dev faces of the full one.
    """
    manifest = full / "manifest.csv"
    if manifest.is_file():
        found = ((full / row["file"], row) for row in rows(manifest))
    else:
        found = ((data / row["file"], row) for row in rows(data / "utkface" / "labels.csv"))
    for path, row in found:
        if utkface_split_of(path.name) == split:
            yield path, row


def guard_record() -> dict:
    """Which unseen guard the training data passed: the record ``tools.prepare_faces`` wrote
    for each prepared dataset, and the sha256 of the guard as it is now."""
    guard = DATA.parent / "tools" / "unseen_guard.py"
    now = {f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:16]
           for f in (guard, guard.with_name("unseen.txt")) if f.is_file()}  # fmt: skip
    record = {"guard now": now}
    for name in ("utkface", "aaf", "cfp_profiles"):
        path = DATA_CACHE / name / "guard.json"
        if path.is_file():
            kept = json.loads(path.read_text())
            record[name] = {k: v[:16] for k, v in kept["guard"].items()}
    return record


def aflw_split_of(name: str) -> str:
    """AFLW2000-3D's two fixed folds (``pose/``), by the CRC32 of the photo's file name:
    ``train`` when even (the turned heads of the fine-pass net's third stage and of the face
    judge, ``rosto.training.fine_faces`` and ``face_judge``), ``dev`` when odd (the faces
    ``bench.detection`` pastes). Stable across runs and machines."""
    return "train" if zlib.crc32(name.encode()) % 2 == 0 else "dev"


def aflw(split: str, data: Path = DATA) -> Iterator[tuple[Path, np.ndarray, dict]]:
    """(photo, (68, 2) points, manifest row) of the AFLW2000-3D faces within ±99° in ``split``
    (``aflw_split_of``): the image-plane x, y of the fitted 3D landmarks, visible or not."""
    from scipy.io import loadmat

    for row in rows(data / "pose" / "manifest.csv"):
        if row["within_99deg"] == "1" and aflw_split_of(Path(row["file"]).name) == split:
            points = loadmat(str(data / "pose" / row["mat_file"]))["pt3d_68"][:2].T
            yield data / "pose" / row["file"], points, row


def cfp_profiles(full: Path = DATA_CACHE / "cfp_profiles") -> Iterator[tuple[Path, np.ndarray]]:
    """(photo, (30, 2) fiducial points) of CFP's profile photos (``tools.prepare_turned_heads``,
    guarded), for training only; nothing when they are not prepared."""
    for photo in sorted(full.glob("*.jpg")):
        points = np.loadtxt(photo.with_suffix(".txt"), delimiter=",", ndmin=2)
        yield photo, points


def aaf(full: Path = DATA_CACHE / "aaf") -> Iterator[tuple[Path, dict]]:
    """All-Age-Faces (``tools.prepare_faces aaf``, guarded): every face, for training only
    (mostly East Asian, no race label); nothing when it is not prepared."""
    manifest = full / "manifest.csv"
    if manifest.is_file():
        yield from ((full / row["file"], row) for row in rows(manifest))


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


SMILE_SETS = ("genki4k", "smilesmiled")  # prepared by ``python -m tools.prepare_smile``


def smile_cached(name: str, split: str, full: Path = DATA_CACHE) -> Iterator[tuple[Path, bool]]:
    """(path, smiling) of a prepared smile set's split: the whole of GENKI-4K or SMILEsmileD,
    split by source path as ``smile/`` of ``../shared/data`` is (``bench.datasets.smile_dev``),
    so no dev photo of the benchmark is ever a training photo."""
    for row in rows(full / name / "manifest.csv"):
        if split_of(row["source_path"]) == split:
            yield full / name / row["file"], row["label"] == "smile"


SMALL_FACE = 48  # px: about the face of SMILEsmileD's 64² crops


def small_grey(image: np.ndarray, box: np.ndarray, width: int = SMALL_FACE) -> np.ndarray:
    """The photo in grey, shrunk so the face box is ``width`` px wide, cut to 2 × 2 face boxes
    around the face: a portrait made into a small grey face like SMILEsmileD's."""
    scale = width / (box[2] - box[0])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    left, top = np.maximum((box[:2] * scale).round().astype(int) - width // 2, 0)
    crop = small[top : top + 2 * width, left : left + 2 * width]
    return cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
