"""`rosto batch --ray` on a 2-CPU Ray cluster started here: the same records as the local run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_batch import EXPECTED, collection  # noqa: F401 - the same mixed collection fixture

from rosto.batch.journal import Journal
from rosto.batch.records import Job
from rosto.batch.run import run

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")

# Both runs on one ONNX thread per worker, so that their floats are bit for bit the same.
JOB = Job(features=("age", "bounds", "emotion", "gender", "landmarks"), max_pixels=40_000_000)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def without_timings(output: Path) -> dict[str, dict]:
    records = Journal(output).records()
    return {r["source"]: {k: v for k, v in r.items() if k not in ("seconds", "timings")}
            for r in records}  # fmt: skip


def test_ray_records_equal_the_local_ones(collection, local_ray, tmp_path):  # noqa: F811
    local = run([str(collection)], tmp_path / "local.jsonl", JOB, workers=2, progress=False)
    on_ray = run([str(collection)], tmp_path / "ray.jsonl", JOB, ray_address="", progress=False)
    assert on_ray.photos == local.photos == len(EXPECTED) and on_ray.errors == local.errors
    expected = without_timings(tmp_path / "local.jsonl")
    assert without_timings(tmp_path / "ray.jsonl") == expected
    assert sum(len(r.get("faces", ())) for r in expected.values()) == 4
    again = run([str(collection)], tmp_path / "ray.jsonl", JOB, ray_address="", progress=False)
    assert again.photos == 0 and again.skipped == len(EXPECTED)  # the same resume on Ray
