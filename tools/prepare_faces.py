"""Bring a pinned public face dataset from a GitHub repository into the training data cache.

    python -m tools.prepare_faces utkface GITDIR   # mattans/AgeProgression (UTKFace, 200² chips)
    python -m tools.prepare_faces aaf GITDIR       # middleyuan/All-Age-Faces-Dataset
    python -m tools.prepare_faces fairface540 GITDIR  # thlaiquid-ai/demographic-test-images

``GITDIR`` is a clone (or bare git directory) of the source repository; the pinned commit is
read from it blob by blob, so a newer HEAD changes nothing. The images land in
``~/.cache/rosto/data/<name>/`` (``ROSTO_DATA_CACHE``), outside the
repository. Then ``../shared/tools/unseen_guard.py`` runs on the folder and every file it
reports is DELETED, as are the files it reports in the dataset's own folder of
``../shared/data``, if it has one (duplicates inside the dataset).
``manifest.csv`` lists what is left with its labels; ``guard.json`` records which guard
(sha256 of the script and of ``unseen.txt``) the folder passed, and the training runs copy
that record into their output.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GUARD = SHARED / "tools" / "unseen_guard.py"
RACES = ("white", "black", "asian", "indian", "others")  # UTKFace's race digits 0..4


@dataclass(frozen=True)
class Dataset:
    repo: str
    commit: str
    folder: str  # inside the repository
    terms: str
    shared: str = ""  # the folder of ../shared/data holding the same dataset, if any
    labels_file: str = ""  # a label file inside ``folder``, when names carry no labels


DATASETS = {
    "utkface": Dataset(
        "mattans/AgeProgression", "2d937c615a3d10408db0ea795842e569bc9eedb0",
        "data/UTKFace/unlabeled",
        "UTKFace: non-commercial research only; the repository states no licence", "utkface",
    ),
    "aaf": Dataset(
        "middleyuan/All-Age-Faces-Dataset", "28741a75e2efb7a2f96e13d4beb58411536f473d",
        "All-Age-Faces Dataset/aglined faces",
        "All-Age-Faces: research dataset, citation asked; the repository states no licence",
    ),
    "fairface540": Dataset(
        "thlaiquid-ai/demographic-test-images", "3225e93be7349143e5496eda971c65969efe7c35",
        "fairface", "FairFace (CC BY 4.0, the repository's LICENSE); 540 train-split photos, "
        "1.25 margin, 30 per (age bin, gender)", labels_file="ground_truth.json",
    ),
}  # fmt: skip


def data_cache() -> Path:
    default = Path.home() / ".cache" / "rosto" / "data"
    return Path(os.environ.get("ROSTO_DATA_CACHE", default))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def guard_version() -> dict[str, str]:
    """Which guard a folder passed: the sha256 of the script and of its fingerprint list."""
    return {"unseen_guard.py": sha256(GUARD), "unseen.txt": sha256(GUARD.with_name("unseen.txt"))}


def guard_reports(folder: Path) -> list[Path]:
    """The files the unseen guard reports under ``folder``."""
    done = subprocess.run([sys.executable, str(GUARD), str(folder)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode not in (0, 1) or "unseen photo(s) found" not in done.stderr:
        sys.exit(f"unseen guard failed on {folder}: {done.stderr}")
    return [Path(line.split("\t")[0]) for line in done.stdout.splitlines() if "\t" in line]


def utkface_labels(name: str) -> dict | None:
    """``age_gender_race_date.jpg.chip.jpg`` → labels; None for the few malformed names."""
    m = re.fullmatch(r"(\d+)_([01])_([0-4])_(\d{17})\.jpg\.chip\.jpg", name)
    if not m:
        return None
    age, gender, race, stamp = m.groups()
    return {"age": int(age), "gender": ("male", "female")[int(gender)],
            "race": RACES[int(race)], "stamp": stamp}  # fmt: skip


def aaf_labels(name: str) -> dict | None:
    """``%05dA%02d.jpg`` = id + age; ids 00000–07380 are female, 07381–13321 male."""
    m = re.fullmatch(r"(\d{5})A(\d{2})\.jpg", name)
    if not m:
        return None
    ident, age = int(m.group(1)), int(m.group(2))
    return {"age": age, "gender": "female" if ident <= 7380 else "male", "race": "",
            "stamp": ""}  # fmt: skip


def fairface_labels(entry: dict) -> dict:
    """One ``ground_truth.json`` entry: FairFace's age bin (0-2, 3-9, 10-19 … 70+) and gender;
    no race in this copy. ``age`` is left empty: a bin is not an age."""
    return {"age": "", "age_bin": entry["age"], "gender": entry["gender"].lower(), "race": "",
            "stamp": ""}  # fmt: skip


LABELS = {"utkface": utkface_labels, "aaf": aaf_labels}
LABEL_FILES = {"fairface540": fairface_labels}  # datasets labelled by ``Dataset.labels_file``


def export(ds: Dataset, gitdir: Path, out: Path) -> None:
    """The pinned commit's folder, files flattened into ``out`` (blob by blob: snapshots may
    lack the repository's large files elsewhere, which ``git archive`` would trip on)."""
    git = ["git", "--git-dir", str(gitdir)]
    listing = subprocess.run([*git, "ls-tree", "-z", ds.commit, ds.folder + "/"],
                             capture_output=True, check=True).stdout  # fmt: skip
    entries = [e.split(b"\t", 1) for e in listing.split(b"\0") if e]
    blobs = [(meta.split()[2].decode(), Path(path.decode()).name) for meta, path in entries]
    if not blobs:
        sys.exit(f"{ds.repo}@{ds.commit} has no {ds.folder} in {gitdir}")
    write_blobs(gitdir, blobs, out)


def write_blobs(gitdir: Path, blobs: list[tuple[str, str]], out: Path) -> None:
    """Each (blob id, file name) of the git directory written as ``out``/name, in one batch."""
    out.mkdir(parents=True, exist_ok=True)
    batch = subprocess.run(["git", "--git-dir", str(gitdir), "cat-file", "--batch"],
                           input="\n".join(b for b, _ in blobs).encode() + b"\n",
                           capture_output=True, check=True).stdout  # fmt: skip
    pos = 0
    for _, name in blobs:
        header_end = batch.index(b"\n", pos)
        header = batch[pos:header_end].split()
        if header[1] == b"missing":  # a large file the snapshot lacks (SMILEsmileD's zip)
            pos = header_end + 1
            continue
        size = int(header[2])
        (out / name).write_bytes(batch[header_end + 1 : header_end + 1 + size])
        pos = header_end + 2 + size


def git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def prepare(name: str, source: Path) -> Path:
    ds = DATASETS[name]
    folder = data_cache() / name
    images = folder / "images"
    export(ds, git_dir(source), images)
    listed = {}
    if ds.labels_file:
        label_path = images / ds.labels_file
        listed = {e["filename"]: LABEL_FILES[name](e) for e in json.loads(label_path.read_text())}
        label_path.unlink()
    reported = guard_reports(images)
    shared = SHARED / "data" / ds.shared
    shared_dupes = {p.name for p in guard_reports(shared)} if ds.shared else set()
    for path in reported:
        path.unlink()
    kept = []
    for path in sorted(images.iterdir()):
        labels = listed.get(path.name) if ds.labels_file else LABELS[name](path.name)
        if path.name in shared_dupes or labels is None:
            path.unlink()
            continue
        kept.append({"file": f"images/{path.name}", **labels})
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    record = {"repo": ds.repo, "commit": ds.commit, "folder": ds.folder, "terms": ds.terms,
              "guard": guard_version(), "dropped_by_guard": len(reported),
              "dropped_shared_duplicates": len(shared_dupes), "kept": len(kept)}  # fmt: skip
    (folder / "guard.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=DATASETS)
    parser.add_argument("gitdir", type=Path, help="a clone or git directory of the source repo")
    args = parser.parse_args(argv)
    prepare(args.name, args.gitdir)


if __name__ == "__main__":
    main()
