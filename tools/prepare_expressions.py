"""Bring the public facial-expression sets into the data cache, guarded and split by person.

    python -m tools.prepare_expressions [--mirror /work/.mirror] [--out ~/.cache/rosto/data]

Each source is one pinned commit of a public GitHub repository (``SOURCES``; MODELS.md gives
their terms). The script reads the files out of a git copy of that repository
(``<mirror>/<owner>+<name>/repo``, or any clone holding the commit), writes them under
``<out>/<name>/``, runs ``../shared/tools/unseen_guard.py`` on the folder and deletes every
file it reports, then writes ``manifest.csv`` (file, emotion, person, split) of the files that
remain and ``guard.txt`` (the guard's version: the sha256 of its ``unseen.txt``, and what it
dropped). The guard is also run on ``../shared/data/fer2013``: its reports (duplicates inside
FER2013) go to ``<out>/fer2013_guard/`` and are left out of emotion training and tuning.

Emotions are the API's seven; CK+'s and the web set's ``contempt`` has no API class and is
left out. Splits are by person (``person`` column), so no one's photos sit on both sides.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GUARD = SHARED / "tools" / "unseen_guard.py"
DEFAULT_OUT = Path.home() / ".cache" / "rosto" / "data"
# One person in DEV_EVERY goes to dev. A third, not a fifth: fear and disgust are rare in real
# photos, and a dev class of three photos says nothing.
DEV_EVERY = 3

Label = Callable[[str], "tuple[str, str] | None"]  # repo path → (emotion, person) or None


def split_of(person: str) -> str:
    """``dev`` for one person in ``DEV_EVERY``, ``train`` otherwise; stable everywhere."""
    return "dev" if zlib.crc32(person.encode()) % DEV_EVERY == 0 else "train"


def web_labels(legend: str) -> Label:
    """muxspace/facial_expressions: ``data/legend.csv`` (user, image, emotion in any case).

    Person: the name before the photo number (LFW-style ``George_W_Bush_0001.jpg`` and the
    film-still names share this shape); stock photos without one are each their own person.
    Names labelled twice with different emotions are left out.
    """
    names = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
             "neutral": "neutral", "sadness": "sad", "surprise": "surprise"}  # fmt: skip
    labels: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(legend)):
        labels.setdefault(row["image"], set()).add(row["emotion"].strip().lower())

    def label(path: str) -> tuple[str, str] | None:
        found = labels.get(path.removeprefix("images/"), set())
        if len(found) != 1 or next(iter(found)) not in names:
            return None
        stem = Path(path).stem
        numbered = re.search(r"[A-Za-z]{3}[_\-]?\d+$", stem)
        person = re.sub(r"[_\-]?\d+$", "", stem) if numbered else stem
        return names[next(iter(found))], person

    return label


def fer_train_label(path: str) -> tuple[str, str] | None:
    """FER2013 training chips under their original names (``train/<emotion>/Training_<id>.jpg``);
    the copies this repository added by augmentation (``Training_<id>.jpg<n>.jpg``) are left
    out. FER2013 has no person ids: each chip is its own "person", and all are ``train``."""
    match = re.fullmatch(r"train/(\w+)/(Training_\d+)\.jpg", path)
    return (match.group(1), match.group(2)) if match else None


def ck_label(path: str) -> tuple[str, str] | None:
    """CK+48: ``CK+48/<emotion>/S###_seq_frame.png``; the subject is ``S###``."""
    names = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
             "sadness": "sad", "surprise": "surprise"}  # fmt: skip
    folder, name = Path(path).parent.name, Path(path).name
    return (names[folder], name.split("_")[0]) if folder in names else None


def taiwanese_label(path: str) -> tuple[str, str] | None:
    """``PPTVeNN.jpg``: performer PP, expression letter e (a neutral … g surprised)."""
    letters = dict(zip("abcdefg", ("neutral", "happy", "sad", "angry", "disgust", "fear",
                                   "surprise"), strict=True))  # fmt: skip
    match = re.fullmatch(r"(\d\d)\d\d([a-g])\d\d", Path(path).stem)
    return (letters[match.group(2)], "tw" + match.group(1)) if match else None


@dataclass(frozen=True)
class Source:
    name: str  # the cache folder
    repo: str
    commit: str
    folder: str  # the repository folder that holds the images
    labels: Callable[[Callable[[str], str]], Label]  # given a reader of repo files
    split: Callable[[str], str] = split_of  # person → split

    def git_dir(self, mirror: Path) -> Path:
        return mirror / self.repo.replace("/", "+") / "repo"


SOURCES = (
    Source("facial_expressions", "muxspace/facial_expressions",
           "5fb9c13afac07c55eae8d25eb6b50af344ad60c9", "images",
           lambda read: web_labels(read("data/legend.csv"))),
    Source("fer2013_train", "RecepTahirGunlu/Duygu-Tanima",
           "8d429277ec5ff4aa605657546f26dd8139204fa0", "train", lambda read: fer_train_label,
           lambda person: "train"),
    Source("ck48", "WuJie1010/Facial-Expression-Recognition.Pytorch",
           "fefe6653f3e09912693a73c54e6a8247adca3090", "CK+48", lambda read: ck_label),
    Source("taiwanese", "lai-wei-cheng/b12207073",
           "790c44989ebf3b9835806512ce2f929fe441244f", "Taiwanese/faces_256x256",
           lambda read: taiwanese_label),
)  # fmt: skip


def guard_version() -> str:
    """The sha256 of the guard's fingerprint list: which unseen set a folder was checked against."""
    return hashlib.sha256((GUARD.parent / "unseen.txt").read_bytes()).hexdigest()


def guarded(folder: Path) -> list[str]:
    """Run the guard on ``folder``; the lines it reports (path TAB reason)."""
    done = subprocess.run([sys.executable, str(GUARD), str(folder)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode not in (0, 1):
        sys.exit(f"unseen_guard failed on {folder}: {done.stderr}")
    return [line for line in done.stdout.splitlines() if line.strip()]


def write_guard(folder: Path, dropped: list[str]) -> None:
    lines = [f"unseen.txt sha256 {guard_version()}", f"dropped {len(dropped)}", *dropped]
    (folder / "guard.txt").write_text("\n".join(lines) + "\n")


def prepare(source: Source, mirror: Path, out: Path) -> dict[str, int]:
    git = source.git_dir(mirror)

    def read(path: str) -> str:
        return subprocess.run(["git", "--git-dir", str(git), "show", f"{source.commit}:{path}"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    label = source.labels(read)
    folder = out / source.name
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", str(git), "archive", source.commit,
                              source.folder], capture_output=True, check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and label(m.name)]
        tar.extractall(folder, members=members, filter="data")
    dropped = guarded(folder)
    for line in dropped:
        Path(line.split("\t")[0]).unlink()
    write_guard(folder, dropped)
    counts: dict[str, int] = {}
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "emotion", "person", "split"])
        for m in sorted(members, key=lambda m: m.name):
            if (folder / m.name).is_file():
                emotion, person = label(m.name)
                writer.writerow([m.name, emotion, person, source.split(person)])
                key = f"{source.split(person)} {emotion}"
                counts[key] = counts.get(key, 0) + 1
    print(f"{source.name}: {len(members)} labelled, {len(dropped)} dropped by the guard",
          file=sys.stderr)  # fmt: skip
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", help="comma-separated source names (and/or fer2013_guard)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else [s.name for s in SOURCES]
    for source in SOURCES:
        if source.name in names:
            print(source.name, dict(sorted(prepare(source, args.mirror, args.out).items())))
    if not args.only or "fer2013_guard" in names:
        fer = args.out / "fer2013_guard"
        fer.mkdir(parents=True, exist_ok=True)
        write_guard(fer, guarded(SHARED / "data" / "fer2013"))


if __name__ == "__main__":
    main()
