"""A whole batch: inputs → sources not yet in the output → records → journal (and table).

The runners (``local`` processes or ``on_ray`` actors) only compute records; this module alone
writes them, counts them for the progress bar and the summary, and decides what an interruption
means: the records written so far stay, and the same command resumes after them.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rosto.batch import local, on_ray
from rosto.batch.journal import Journal
from rosto.batch.records import Job
from rosto.batch.sources import expand
from rosto.batch.tables import journal_path, output_format, partial_path, write_table


@dataclass
class Summary:
    """What one run did: counts for this run's photos, and those skipped as already done."""

    output: Path
    photos: int = 0
    faces: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    table_rows: int | None = None

    def add(self, record: dict) -> None:
        self.photos += 1
        if "error" in record:
            self.errors[record["error"]["code"]] += 1
        else:
            self.faces += len(record["faces"])

    def text(self) -> str:
        rate = self.photos / self.seconds if self.seconds > 0 else 0.0
        errors = sum(self.errors.values())
        by_code = ", ".join(f"{code} {n}" for code, n in self.errors.most_common())
        lines = [
            f"{'interrupted after' if self.interrupted else 'analysed'} {self.photos} photos in "
            f"{self.seconds:.1f} s ({rate:.1f} photos/s): {self.faces} faces, {errors} errors"
            + (f" ({by_code})" if by_code else ""),
        ]
        if self.skipped:
            lines.append(f"skipped {self.skipped} photos already in {self.output}")
        if self.table_rows is not None:
            lines.append(f"wrote {self.table_rows} face rows to {self.output}")
        if self.interrupted:
            lines.append("rerun the same command to analyse the rest")
        return "\n".join(lines)


def run(
    inputs: Iterable[str],
    output: Path,
    job: Job,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool | None = None,
) -> Summary:
    """Analyse every photo of ``inputs`` not yet in ``output``; ``ray_address`` None: locally.

    ``progress`` None shows the bar when stderr is a terminal.
    """
    from tqdm import tqdm  # here, not above: workers import this package without needing it

    fmt = output_format(output)
    journal = Journal(journal_path(output))
    own_files = {os.path.abspath(p) for p in (output, journal.path, partial_path(output))}
    sources = [s for s in expand(inputs) if s not in own_files]  # `rosto batch . -o out.jsonl`
    done = journal.recover()
    if journal.truncated_bytes:
        print(
            f"rosto: cut off the unfinished last line of {journal.path} "
            f"({journal.truncated_bytes} bytes): its photo is analysed again",
            file=sys.stderr,
        )
    todo = [source for source in sources if source not in done]
    summary = Summary(output, skipped=len(sources) - len(todo))
    if ray_address is None:
        records = local.analyze_all(todo, job, workers or os.cpu_count() or 1)
    else:
        records = on_ray.analyze_all(todo, job, ray_address, workers)
    start = time.perf_counter()
    shown = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(todo), unit="photo", disable=not shown, smoothing=0.1)
    try:
        with journal:
            for record in records:
                journal.append(record)
                summary.add(record)
                bar.set_postfix(
                    faces=summary.faces, errors=sum(summary.errors.values()), refresh=False
                )
                bar.update()
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        records.close()
        bar.close()
        summary.seconds = time.perf_counter() - start
    if fmt != ".jsonl" and not summary.interrupted:
        summary.table_rows = write_table(journal, output)
    return summary


def default_threads(workers: int) -> int:
    """ONNX threads per worker: the cores shared out, 1 each once there are several workers."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))
