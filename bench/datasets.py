"""Readers of the labelled dev sets in ``../shared/data`` (see its README), one per benchmark.

Each yields (path, label) pairs; images are read by the caller with ``load``. Dev splits only:
nothing here is used for training or choosing thresholds except where a benchmark says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rosto.training.data import DATA, DATA_CACHE, load, load_mask, rows

__all__ = ["DATA", "load", "load_mask", "rows"]  # shared with the training code


def utkface_dev(data: Path = DATA) -> Iterator[tuple[Path, dict]]:
    """UTKFace's dev minutes (``rosto.training.data.utkface_split_of``): from the full guarded
    copy when ``tools.prepare_faces`` has brought it, else from ``data/utkface``."""
    from rosto.training.data import utkface

    return utkface("dev", data)


def fer_dev(data: Path = DATA) -> Iterator[tuple[Path, str]]:
    for row in rows(data / "fer2013" / "labels.csv"):
        if row["split"] == "dev":
            yield data / row["file"], row["emotion"]


def groups(data: Path = DATA) -> Iterator[tuple[Path, np.ndarray]]:
    """Group photos with (K, 4) ground-truth boxes as left, top, right, bottom."""
    for row in rows(data / "groups" / "labels.csv"):
        boxes = np.array([[float(v) for v in b.split(",")] for b in row["boxes"].split(";")])
        boxes[:, 2:] += boxes[:, :2]
        yield data / row["file"], boxes


def read_pts(pts: Path) -> np.ndarray:
    """(68, 2) 0-based pixels of a 300-W ``.pts`` file (1-based ``x y`` lines; the ``version``
    and brace lines, where the file has them, skipped)."""
    values = []
    for line in pts.read_text().splitlines():
        parts = line.replace(",", " ").split()
        if len(parts) == 2 and all(p.replace(".", "").replace("-", "").isdigit() for p in parts):
            values.append([float(p) for p in parts])
    return np.array(values) - 1.0


def helen(data: Path = DATA) -> Iterator[tuple[Path, np.ndarray]]:
    """HELEN test photos with their (68, 2) 0-based iBUG points."""
    for pts in sorted((data / "landmarks_helen").glob("*.pts")):
        yield pts.with_suffix(".jpg"), read_pts(pts)


def aflw(data: Path = DATA) -> Iterator[tuple[Path, tuple[float, float, float]]]:
    """AFLW2000-3D faces within ±99° with their (roll, pitch, yaw) in degrees."""
    for row in rows(data / "pose" / "manifest.csv"):
        if row["within_99deg"] == "1":
            angles = float(row["roll_deg"]), float(row["pitch_deg"]), float(row["yaw_deg"])
            yield data / "pose" / row["file"], angles


def aflw_landmarks(data: Path = DATA) -> Iterator[tuple[Path, np.ndarray, float]]:
    """AFLW2000-3D faces within ±99° with their (68, 2) points (the image-plane x, y of the
    fitted 3D landmarks, visible or not) and the absolute yaw in degrees."""
    from scipy.io import loadmat

    for path, (_, _, yaw) in aflw(data):
        points = loadmat(str(path.with_suffix(".mat")))["pt3d_68"][:2].T
        yield path, points, abs(yaw)


def blur_photos(data: Path = DATA) -> Iterator[Path]:
    """Photos with large, sharp faces for the blur benchmark: the HELEN portraits (faces of
    200–1,000 px) and every 8th AFLW2000-3D face (about 200 px)."""
    for path, _ in helen(data):
        yield path
    for i, (path, _) in enumerate(aflw(data)):
        if i % 8 == 0:
            yield path


def genki(data: Path = DATA) -> Iterator[tuple[Path, bool]]:
    for row in rows(data / "smile" / "manifest.csv"):
        if row["dataset"] == "GENKI-4K":
            yield data / "smile" / row["file"], row["smile"] == "1"


def smile_dev(data: Path = DATA) -> Iterator[tuple[Path, bool, str]]:
    """The dev fifth of ``smile/`` (GENKI-4K, SMILEsmileD), one source path in five by CRC32
    (``rosto.training.data.split_of``): (path, smiling, dataset)."""
    from rosto.training.data import split_of

    for row in rows(data / "smile" / "manifest.csv"):
        if split_of(row["source_path"]) == "dev":
            dataset = "GENKI-4K" if row["dataset"] == "GENKI-4K" else "SMILEsmileD"
            yield data / "smile" / row["file"], row["smile"] == "1", dataset


def celeba_gender(data: Path = DATA) -> Iterator[tuple[Path, str]]:
    """CelebA faces of ``glasses/`` with their Male attribute: gender on faces no model saw."""
    for row in rows(data / "glasses" / "manifest.csv"):
        if row["celeba_male"] in ("1", "-1"):
            yield data / "glasses" / row["file"], "man" if row["celeba_male"] == "1" else "woman"


def fairface540(folder: Path = DATA_CACHE / "fairface540") -> Iterator[tuple[Path, str, str]]:
    """FairFace photos of every age bin, children included (``tools.prepare_faces fairface540``,
    guarded), with their age bin and gender ("man"/"woman"): faces no model here was trained on.
    Nothing when the folder is not prepared."""
    if (folder / "manifest.csv").is_file():
        for row in rows(folder / "manifest.csv"):
            word = "man" if row["gender"] == "male" else "woman"
            yield folder / row["file"], row["age_bin"], word


def glasses_dev(data: Path = DATA) -> Iterator[tuple[Path, str]]:
    """The dev fifth of ``glasses/`` (CelebA faces, sunglasses selfies): (path, label)."""
    from rosto.training.data import glasses

    return glasses("dev", data)


def hair_dev(data: Path = DATA) -> Iterator[tuple[Path, Path, str]]:
    """Figaro-1k testing and the dev fifth of LFW Part Labels people: (image, mask, dataset)."""
    from rosto.training.data import hair

    return hair("dev", data)


def glasses_photos(data: Path = DATA) -> Iterator[tuple[Path, tuple[int, int], str]]:
    """Faces of HELEN and AFW photos labelled ``eyeglasses`` (any, sunglasses included) or
    ``no_glasses`` by eye for this benchmark (``glasses_ordinary.csv``: every face BlazeFace
    finds, bar 6 unreadable ones): (photo, face centre, label)."""
    for row in rows(Path(__file__).with_name("glasses_ordinary.csv")):
        yield data / row["file"], (int(row["face_x"]), int(row["face_y"])), row["label"]
