"""The shipped pack: every model loads, is documented with its current hash, and runs."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from rosto import models
from rosto.errors import MissingModelError

MODELS_MD = Path(__file__).resolve().parents[1] / "MODELS.md"
SHIPPED = sorted(p for p in models.WEIGHTS_DIR.iterdir() if p.suffix in (".onnx", ".json", ".npz"))


def test_missing_weight_names_the_file():
    with pytest.raises(MissingModelError, match="no_such_model.onnx"):
        models.session("no_such_model")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_is_in_models_md_with_its_sha256(path):
    text = MODELS_MD.read_text()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"`{path.name}`" in text, f"{path.name} has no row in MODELS.md"
    assert digest in text, f"MODELS.md has a stale sha256 for {path.name}: now {digest}"


@pytest.mark.parametrize("name", models.available())
def test_every_shipped_model_loads_and_runs_a_batch(name):
    sess = models.session(name)
    shapes = [[d if isinstance(d, int) else 2 if i == 0 else 256 for i, d in enumerate(arg.shape)]
              for arg in sess.get_inputs()]  # fmt: skip
    outputs = models.run(name, *(np.full(shape, 127.0, dtype=np.float32) for shape in shapes))
    assert outputs and all(o.shape[0] == 2 and np.isfinite(o).all() for o in outputs)
    assert name in models.loaded()
