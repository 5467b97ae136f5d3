"""`rosto analyze`: the API's JSON without a server, and the --draw picture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import encode
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def rosto(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rosto", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_analyze_prints_the_api_json_and_draws(astronaut, tmp_path):
    photo, drawn = tmp_path / "astronaut.jpg", tmp_path / "drawn.png"
    photo.write_bytes(encode(astronaut))
    done = rosto("analyze", str(photo), "--features", "age", "--draw", str(drawn))
    assert done.returncode == 0, done.stderr
    (face,) = json.loads(done.stdout)["faces"]
    assert set(face) == {"age"}  # bounds were computed for the drawing only
    picture = np.asarray(Image.open(drawn).convert("RGB"))
    assert picture.shape == astronaut.shape and (picture != astronaut).any()


def test_analyze_several_photos_one_line_each(astronaut, tmp_path):
    photos = []
    for name, image in (("face.png", astronaut), ("blank.png", np.zeros((64, 64, 3), np.uint8))):
        photos.append(tmp_path / name)
        photos[-1].write_bytes(encode(image, "PNG"))
    done = rosto("analyze", *map(str, photos), "--features", "bounds")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert len(first["faces"]) == 1 and second == {"faces": []}


def test_analyze_reports_errors(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    done = rosto("analyze", str(notes))
    assert done.returncode == 1 and "notes.txt" in done.stderr and "JPEG, PNG" in done.stderr
    done = rosto("analyze", str(notes), "--features", "wings")
    assert done.returncode == 1 and "valid features are" in done.stderr
