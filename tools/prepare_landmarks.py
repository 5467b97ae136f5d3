"""Bring HELEN's training photos with their 300-W 68 points into the data cache, guarded.

    python -m tools.prepare_landmarks GITDIR      # Spinkoo/Face-alignement (a clone or git dir)

The pinned commit's ``helen/trainset/`` (870 photos, each with a ``.pts`` of 68 ``x y`` lines,
1-based pixels as ``../shared/data/landmarks_helen``; this copy has no ``version``/brace
header) is read blob by blob (``tools.prepare_faces.export``) into
``~/.cache/rosto/data/helen_train/`` (``ROSTO_DATA_CACHE``), outside the repository. Only the
training split: the repository's ``helen/testset`` holds our dev set's photos and ``afw/`` the
group photos of ``../shared/data/groups``. Then every photo that ``../shared/tools/unseen_guard.py``
reports is DELETED with its points, and so is any that is the same picture as a dev photo of
``landmarks_helen/`` or ``groups/`` (the same name, the same file, or a difference hash within
the guard's distance). ``guard.json`` records the source, the guard it passed and the counts.
``tools.fit_landmarks`` trains the landmark correction on what is left.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from tools.prepare_faces import (
    GUARD,
    SHARED,
    Dataset,
    data_cache,
    export,
    git_dir,
    guard_reports,
    guard_version,
)

HELEN_TRAIN = Dataset("Spinkoo/Face-alignement", "e08a16aa91ad771df34e75f70bc5aaf20238ff6a",
                      "helen/trainset",
                      "HELEN (Le et al. 2012) photos with the 300-W (iBUG) re-annotation: "
                      "research use only; the repository states no licence")  # fmt: skip
DEV_FOLDERS = ("landmarks_helen", "groups")  # dev photos no training photo may repeat


@cache
def guard_module():
    """``../shared/tools/unseen_guard.py`` as a module (its ``dhash``), loaded once."""
    spec = importlib.util.spec_from_file_location("unseen_guard", GUARD)
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)
    return guard


def fingerprints(paths: list[Path]) -> tuple[set[str], np.ndarray]:
    """The guard's own fingerprints (sha256, 128-bit difference hash as 16 bytes) of photos."""
    hashes = [guard_module().dhash(str(p)) for p in paths]
    table = np.array([list(h.to_bytes(16, "big")) for h in hashes if h is not None], np.uint8)
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}, table


def dev_duplicates(photos: list[Path], data: Path = SHARED / "data") -> list[Path]:
    """The photos that repeat a dev photo: by name, by file, or by picture (≤ 6 bits apart)."""
    dev = [p for name in DEV_FOLDERS for p in sorted((data / name).glob("*.jpg"))]
    dev_shas, dev_table = fingerprints(dev)
    dev_names = {p.stem for p in dev}
    repeats = []
    for photo in photos:
        shas, table = fingerprints([photo])
        distance = np.unpackbits(dev_table ^ table, axis=1).sum(1).min()
        if photo.stem in dev_names or shas & dev_shas or distance <= 6:
            repeats.append(photo)
    return repeats


def guarded(folder: Path, dataset: Dataset, points: str, source: str = "") -> dict:
    """Delete from ``folder`` every photo the unseen guard reports and every one repeating a dev
    photo (``dev_duplicates``), each with its ``points`` file, and record the source and the
    counts in its ``guard.json``; the record (``source``: the folder read, if not the
    dataset's)."""
    reported = guard_reports(folder)
    repeats = dev_duplicates(sorted(set(folder.glob("*.jpg")) - set(reported)))
    for photo in {*reported, *repeats}:
        photo.unlink()
        photo.with_suffix(points).unlink(missing_ok=True)
    record = {"repo": dataset.repo, "commit": dataset.commit,
              "folder": source or dataset.folder, "terms": dataset.terms, "guard": guard_version(),
              "dropped_by_guard": len(reported), "dropped_dev_duplicates": len(repeats),
              "kept": len(list(folder.glob("*.jpg")))}  # fmt: skip
    (folder / "guard.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def prepare(source: Path) -> dict:
    folder = data_cache() / "helen_train"
    export(HELEN_TRAIN, git_dir(source), folder)
    for pts in folder.glob("*.pts"):  # points whose photo is gone
        if not pts.with_suffix(".jpg").is_file():
            pts.unlink()
    return guarded(folder, HELEN_TRAIN, ".pts")


def command_line(prepare: Callable[[Path], dict], doc: str, argv: list[str] | None) -> None:
    """A one-source prepare tool's command line: the source's git directory in, the guard
    record (``guarded``) printed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("gitdir", type=Path, help="a clone or git directory of the source repo")
    args = parser.parse_args(argv)
    print(json.dumps(prepare(args.gitdir), indent=1))


def main(argv: list[str] | None = None) -> None:
    command_line(prepare, __doc__, argv)


if __name__ == "__main__":
    main()
