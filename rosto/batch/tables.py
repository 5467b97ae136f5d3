"""The analysts' table of a batch: one row per face, in CSV or Parquet, from the journal.

A face's nested keys become dotted columns (``emotion.value``, ``emotion.classes.happy``,
``bounds.top``); lists (landmark points, hair polygons) stay whole as JSON text in one cell.
Photos without a face, and error records, have no row: the JSON Lines journal has them.
The table is rewritten whole from the journal at the end of each run, into a temporary file
renamed over the old one, so it is never half written.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

from rosto.batch.journal import Journal
from rosto.errors import RostoError

FORMATS = (".jsonl", ".csv", ".parquet")
_ROWS_PER_PARQUET_GROUP = 10_000


def output_format(output: Path) -> str:
    """The output's format from its extension; checked before any photo is analysed."""
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        raise RostoError(
            f"--output {output}: the file must end in .jsonl (one record per photo), .csv or "
            ".parquet (one row per face)"
        )
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise RostoError(
                "Parquet output needs pyarrow: pip install 'rosto[ray]' (or pyarrow), or write .csv"
            ) from exc
    return suffix


def journal_path(output: Path) -> Path:
    """The JSON Lines journal of ``output``: itself, or beside a table with .jsonl instead."""
    return output if output.suffix.lower() == ".jsonl" else output.with_suffix(".jsonl")


def partial_path(output: Path) -> Path:
    """Where the table is written before it is renamed to ``output``."""
    return output.with_name(f".{output.name}.partial")


def flatten(face: dict, prefix: str = "") -> dict:
    """A face as flat columns: nested keys joined with dots, lists as JSON text."""
    row: dict = {}
    for key, value in face.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            row.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            row[name] = json.dumps(value, separators=(",", ":"))
        else:
            row[name] = value
    return row


def rows(journal: Journal) -> Iterator[dict]:
    """One row per face of every record: ``source``, ``face`` (0 = the largest), its columns."""
    for record in journal.records():
        for index, face in enumerate(record.get("faces") or ()):
            yield {"source": record["source"], "face": index, **flatten(face)}


def write_table(journal: Journal, output: Path) -> int:
    """Write the face table of ``journal`` to ``output`` (.csv or .parquet); the rows written."""
    kinds: dict[str, set[type]] = {"source": {str}, "face": {int}}
    count = 0
    for row in rows(journal):  # first pass: every column and the types of its values
        count += 1
        for name, value in row.items():
            kinds.setdefault(name, set()).add(type(value))
    temporary = partial_path(output)
    if output.suffix.lower() == ".csv":
        _write_csv(journal, temporary, list(kinds))
    else:
        _write_parquet(journal, temporary, kinds)
    os.replace(temporary, output)
    return count


def _write_csv(journal: Journal, path: Path, columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows(journal))


def _write_parquet(journal: Journal, path: Path, kinds: dict[str, set[type]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, _arrow_type(types)) for name, types in kinds.items()])
    with pq.ParquetWriter(path, schema) as writer:
        chunk: list[dict] = []
        for row in rows(journal):
            chunk.append(row)
            if len(chunk) == _ROWS_PER_PARQUET_GROUP:
                writer.write_table(pa.Table.from_pylist(chunk, schema))
                chunk = []
        writer.write_table(pa.Table.from_pylist(chunk, schema))


def _arrow_type(types: set[type]):
    import pyarrow as pa

    types = types - {type(None)}
    if types == {bool}:
        return pa.bool_()
    if types == {int}:
        return pa.int64()
    if types <= {int, float}:
        return pa.float64()
    return pa.string()
