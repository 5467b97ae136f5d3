"""The JSON Lines file of a batch: one record per photo, the truth a rerun resumes from.

Only the parent process writes it, each record as one whole line in one ``write`` on a file
opened for appending, flushed to the disk (``fsync``) before the next: a run killed at any
moment (Ctrl-C, ``kill -9``, a power cut) loses no finished record, and at worst leaves the
line it was writing unfinished. Opening the journal again cuts such a trailing partial line
off, so the photo is analysed again and the file holds only whole records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


class Journal:
    def __init__(self, path: Path):
        self.path = path
        self.truncated_bytes = 0  # of a partial last line, cut off by ``recover``
        self.bad_lines = 0  # whole lines that are not a record (edited by hand?): ignored
        self._fd: int | None = None

    def recover(self) -> set[str]:
        """The sources already recorded; cuts off a trailing partial line first."""
        done: set[str] = set()
        if not self.path.exists():
            return done
        complete = 0
        with self.path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                complete += len(line)
                record = _parse(line)
                if record is None:
                    self.bad_lines += line.strip() != b""
                else:
                    done.add(record["source"])
        size = self.path.stat().st_size
        if complete < size:
            os.truncate(self.path, complete)
            self.truncated_bytes = size - complete
        return done

    def records(self) -> Iterator[dict]:
        """Every whole record in the file, in the order written."""
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            for line in f:
                record = _parse(line) if line.endswith(b"\n") else None
                if record is not None:
                    yield record

    def __enter__(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def append(self, record: dict) -> None:
        """Write ``record`` as one line and wait until it is on the disk."""
        assert self._fd is not None, "append inside `with journal:`"
        line = memoryview((json.dumps(record) + "\n").encode())
        while line:
            line = line[os.write(self._fd, line) :]
        os.fsync(self._fd)


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict) and isinstance(record.get("source"), str):
        return record
    return None
