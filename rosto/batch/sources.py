"""A batch's command-line inputs → the ordered list of photo sources (absolute paths or URLs).

An input is a file, a folder (every file below it, recursively, hidden ones excepted), a glob
(``photos/**/*.jpg``), or a list file — a ``.txt`` or ``.csv`` named on the command line —
whose lines are paths or image URLs. Files found inside folders and globs are always photos,
so a stray ``notes.txt`` in an album becomes an error record, not a list.

Paths become absolute: a source is the photo's identity in the output (what a rerun skips)
and what a Ray worker opens, whatever its working directory.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from rosto.errors import RostoError

LIST_SUFFIXES = (".txt", ".csv")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_GLOB_CHARS = re.compile(r"[*?[]")
# CSV columns that hold the photo, by preference; without any of them the first column does.
_SOURCE_COLUMNS = (
    "source", "url", "image_url", "path", "image_path", "file", "filename", "file_name", "image",
    "photo",
)  # fmt: skip


def is_url(source: str) -> bool:
    """Whether a source is fetched (any ``scheme://``; fetch refuses all but http and https)."""
    return bool(_URL.match(source))


def expand(inputs: Iterable[str]) -> list[str]:
    """Every photo source named by ``inputs``, in order, each once."""
    sources: dict[str, None] = {}
    for item in inputs:
        found = list(_expand_one(item))
        if not found:
            raise RostoError(f"{item}: no such file or folder, and no file matches it as a glob")
        sources.update(dict.fromkeys(found))
    return list(sources)


def _expand_one(item: str) -> Iterator[str]:
    if is_url(item):
        yield item
        return
    path = Path(item).expanduser()
    if path.is_dir():
        yield from _folder(path)
    elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
        yield from _list_file(path)
    elif path.exists() or path.is_symlink():
        yield os.path.abspath(path)
    elif _GLOB_CHARS.search(item):
        for match in sorted(glob.glob(os.path.expanduser(item), recursive=True)):
            if Path(match).is_dir():
                yield from _folder(Path(match))
            else:
                yield os.path.abspath(match)


def _folder(folder: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.abspath(os.path.join(root, name))


def _list_file(path: Path) -> Iterator[str]:
    """The sources listed in ``path``; relative paths are relative to the list's folder."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RostoError(f"{path}: cannot read this list of photos ({exc})") from exc
    if path.suffix.lower() == ".csv":
        entries = _csv_column(lines)
    else:
        entries = (line.strip() for line in lines if not line.lstrip().startswith("#"))
    for entry in entries:
        if not entry:
            continue
        if is_url(entry):
            yield entry
        else:
            yield os.path.abspath(path.parent / Path(entry).expanduser())


def _csv_column(lines: list[str]) -> Iterator[str]:
    rows = list(csv.reader(lines))
    if not rows:
        return
    header = [cell.strip().lower() for cell in rows[0]]
    named = [header.index(name) for name in _SOURCE_COLUMNS if name in header]
    column = named[0] if named else 0
    for row in rows[1:] if named else rows:
        if len(row) > column:
            yield row[column].strip()
