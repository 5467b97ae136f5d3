"""`rosto batch`: a mixed collection → a record per photo, errors coded; resumable after kill -9."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import encode, png_header
from local_http import LocalServer, Route
from photos import blur, mirror, rotate, scale_brightness

from rosto.batch.journal import Journal
from rosto.batch.sources import expand
from rosto.batch.tables import flatten

REPO = Path(__file__).resolve().parents[1]

# name → the error code its record must carry, or the range of the age of its one face
YOUNG, OLD = range(18, 50), range(55, 100)  # Eileen Collins at ~40, Grace Hopper at ~76
EXPECTED = {
    "astronaut.jpg": YOUNG,
    "grace_hopper.png": OLD,
    "more/astronaut_mirrored.webp": YOUNG,
    "more/deeper/grace_hopper_rotated.jpg": OLD,
    "corrupt.jpg": "unsupported_image",
    "empty.jpg": "unsupported_image",
    "notes.txt": "unsupported_image",
    "bomb.png": "image_too_large",
}


@pytest.fixture(scope="module")
def collection(astronaut, grace_hopper, tmp_path_factory) -> Path:
    """Good photos (some transformed, in subfolders) and bad ones side by side."""
    folder = tmp_path_factory.mktemp("collection")
    (folder / "more" / "deeper").mkdir(parents=True)
    jpeg = encode(astronaut)
    files = {
        "astronaut.jpg": jpeg,
        "grace_hopper.png": encode(grace_hopper, "PNG"),
        "more/astronaut_mirrored.webp": encode(mirror(astronaut), "WEBP", quality=90),
        "more/deeper/grace_hopper_rotated.jpg": encode(rotate(grace_hopper, 15)),
        "corrupt.jpg": jpeg[: len(jpeg) // 3],
        "empty.jpg": b"",
        "notes.txt": b"shopping list: not a photo",
        "bomb.png": png_header(50_000, 50_000),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden: not a photo of the collection
    return folder


def rosto_batch(*args: str, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "rosto", "batch", *args]
    return subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, **popen)


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_inputs_folders_globs_and_lists(collection, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text(
        f"# my photos\n{collection / 'astronaut.jpg'}\n\nrelative/photo.jpg\n"
        "https://example.org/a.jpg\n"
    )
    table = tmp_path / "photos.csv"
    table.write_text("id,url\n1,https://example.org/b.jpg\n2,c.png\n")
    everything = expand([str(collection), str(collection / "**/*.jpg"), str(listed), str(table)])
    inside = [s for s in everything if s.startswith(str(collection))]
    found = {str(Path(s).relative_to(collection)) for s in inside}
    assert found == set(EXPECTED)  # recursive, hidden files out, duplicates once
    assert everything[len(EXPECTED) :] == [
        str(tmp_path / "relative" / "photo.jpg"),  # relative to the list's folder
        "https://example.org/a.jpg",
        "https://example.org/b.jpg",  # the CSV's url column
        str(tmp_path / "c.png"),
    ]


def test_journal_cuts_off_a_partial_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    whole = json.dumps({"source": "a.jpg", "faces": []}) + "\n"
    path.write_text(whole + '{"source": "b.jpg", "fa')
    journal = Journal(path)
    assert journal.recover() == {"a.jpg"}
    assert path.read_text() == whole and journal.truncated_bytes == len('{"source": "b.jpg", "fa')
    with journal:
        journal.append({"source": "b.jpg", "faces": []})
    assert [r["source"] for r in journal.records()] == ["a.jpg", "b.jpg"]


def test_flatten_nests_with_dots_and_keeps_lists_whole():
    face = {"age": 30, "emotion": {"value": "happy", "classes": {"happy": 0.9}}, "hair": {
        "polygons": [[{"x": 1, "y": 2}]]}}  # fmt: skip
    assert flatten(face) == {
        "age": 30,
        "emotion.value": "happy",
        "emotion.classes.happy": 0.9,
        "hair.polygons": '[[{"x":1,"y":2}]]',
    }


def test_batch_records_every_photo_and_codes_errors(collection, astronaut, tmp_path):
    with LocalServer({"/face.jpg": Route(body=encode(astronaut))}) as host:
        listed = tmp_path / "urls.txt"
        listed.write_text(f"{host.url('/face.jpg')}\nmissing.jpg\n")
        out = tmp_path / "faces.csv"
        args = [str(collection), str(listed), "-o", str(out), "--workers", "2"]
        done = rosto_batch(*args, "--allow-private-urls", "--features", "age,gender,bounds")
        _, stderr = done.communicate(timeout=180)
    assert done.returncode == 0, stderr
    records = {r["source"]: r for r in read_records(tmp_path / "faces.jsonl")}
    expected = {str(collection / name): code for name, code in EXPECTED.items()}
    expected[host.url("/face.jpg")] = YOUNG
    expected[str(tmp_path / "missing.jpg")] = "fetch_failed"
    assert set(records) == set(expected)
    for source, code in expected.items():
        record = records[source]
        assert record["seconds"] >= 0 and isinstance(record["timings"], dict)
        if isinstance(code, range):
            (face,) = record["faces"]
            assert face["age"] in code and set(face) == {"age", "gender", "bounds"}, record
        else:
            assert record["error"]["code"] == code and record["error"]["message"], source
    assert "5 errors" in stderr and "unsupported_image 3" in stderr  # the summary
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    assert {"source", "face", "age", "gender.value", "bounds.top"} <= set(rows[0])


def test_resume_after_kill_9_gives_one_record_per_photo(astronaut, grace_hopper, tmp_path):
    chance = random.Random()
    seed = chance.randrange(1 << 30)
    chance.seed(seed)
    photos = tmp_path / "photos"
    photos.mkdir()
    variants = [astronaut, grace_hopper, mirror(astronaut), mirror(grace_hopper)]
    for i in range(40):
        image = scale_brightness(blur(variants[i % 4], 1 + i % 3), 0.7 + 0.05 * (i % 7))
        (photos / f"photo_{i:02}.jpg").write_bytes(encode(image))
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest")
    out = photos / "out.jsonl"  # inside the folder: the output is no photo of it
    args = [str(photos), "-o", str(out), "--workers", "2"]
    kill_after = chance.randrange(0, 36)  # records written before the kill, then a random delay
    batch = rosto_batch(*args, start_new_session=True)
    deadline = time.monotonic() + 120
    while batch.poll() is None and time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= kill_after:
            time.sleep(chance.uniform(0, 0.05))
            break
        time.sleep(0.01)
    os.kill(batch.pid, signal.SIGKILL)
    batch.communicate(timeout=30)
    try:
        _wait_until_gone(batch.pid, seconds=10)  # the workers end with their parent
    finally:
        _kill_group(batch.pid)
    written = out.read_bytes().count(b"\n") if out.exists() else 0
    resumed = rosto_batch(*args)
    _, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, stderr
    sources = [r["source"] for r in read_records(out)]
    assert sorted(sources) == sorted(str(p) for p in photos.glob("*.jpg")), f"seed {seed}"
    assert f"skipped {written} photos" in stderr or written == 0, (seed, stderr)


def _wait_until_gone(group: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"worker processes outlived the killed batch by {seconds} s")


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
