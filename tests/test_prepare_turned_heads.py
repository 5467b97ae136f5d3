"""CFP's profile photos and their points leave the git tree under one flat name each."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

from rosto.training import data
from tools import prepare_turned_heads as prep
from tools.prepare_faces import write_blobs


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def test_profiles_and_their_points_are_flattened_and_frontal_photos_left(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    root = repo / prep.CFP_PROFILES.folder
    files = {
        "Images/train/007/profile/02.jpg": b"jpeg 7 2",
        "Images/test/451/profile/01.jpg": b"jpeg 451 1",
        "Images/train/007/frontal/01.jpg": b"frontal",
        "Fiducials/007/profile/02.txt": b"1.5,2\n3,4.25\n",
        "Fiducials/451/profile/01.txt": b"5,6\n7,8\n",
        "Fiducials/007/frontal/01.txt": b"x",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "cfp")
    pinned = replace(prep.CFP_PROFILES, commit=git(repo, "rev-parse", "HEAD"))
    monkeypatch.setattr(prep, "CFP_PROFILES", pinned)
    out = tmp_path / "out"
    write_blobs(repo / ".git", prep.profile_blobs(repo / ".git"), out)
    assert sorted(p.name for p in out.iterdir()) == ["007_02.jpg", "007_02.txt", "451_01.jpg",
                                                     "451_01.txt"]  # fmt: skip
    assert (out / "451_01.jpg").read_bytes() == b"jpeg 451 1"
    photos = list(data.cfp_profiles(out))
    assert [p.name for p, _ in photos] == ["007_02.jpg", "451_01.jpg"]
    np.testing.assert_allclose(photos[0][1], [[1.5, 2], [3, 4.25]])


def test_guarded_drops_reported_and_dev_repeats_with_their_points(tmp_path, monkeypatch):
    """The guard step both prepare tools share: a photo the guard reports and one repeating a dev
    photo go with their points file; the record counts them and names the pinned source."""
    from tools import prepare_landmarks

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.jpg").write_bytes(b"jpg")
        (tmp_path / f"{name}.txt").write_text("1,2")
    monkeypatch.setattr(prepare_landmarks, "guard_reports", lambda folder: [folder / "a.jpg"])
    monkeypatch.setattr(prepare_landmarks, "dev_duplicates",
                        lambda photos: [p for p in photos if p.stem == "b"])  # fmt: skip
    record = prepare_landmarks.guarded(tmp_path, prep.CFP_PROFILES, ".txt", "read/here")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jpg", "c.txt", "guard.json"]
    counts = [record[k] for k in ("dropped_by_guard", "dropped_dev_duplicates", "kept")]
    assert counts == [1, 1, 1]
    assert record["commit"] == prep.CFP_PROFILES.commit and record["folder"] == "read/here"
    assert json.loads((tmp_path / "guard.json").read_text()) == record
