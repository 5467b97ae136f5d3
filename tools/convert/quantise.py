"""Static int8 quantisation (ONNX Runtime, QDQ) of the attribute nets that cost the most CPU.

The float graph stays the reference; this writes ``<name>_int8.onnx`` beside it: weights int8
per output channel, activations 8-bit with ranges calibrated on crops of **training** photos
made by the serving pipeline itself (detection → landmarks → the feature's crop, as in a
request), never on a dev or test photo. Calibration is deterministic (photos in a fixed CRC
order, the pipeline on one thread), so the same float graph gives the same int8 bytes.

    python -m tools.convert.quantise [--names hair] [--out build/models]

Float graphs: a converted net's from ``build/models`` (``make weights`` writes them there);
``hair`` as ``rosto train hair`` wrote it (commit ``e9ad88f``), read from the repository's
history and checked against its sha256 (a retrained float graph: update ``HAIR_FLOAT``). The
recipes (calibration method, activation type) were chosen on the dev sets' accuracy through the
pipeline (MODELS.md, "Int8 graphs").
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from rosto import alignment, models
from rosto.features import hair
from rosto.training import data
from rosto.training.faces import largest_face

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = 150  # training photos with a face per model: two crops each (~300 crops)
BATCH = 10  # crops per calibration pass


def stable(paths: list[Path]) -> list[Path]:
    """Photos in the order of a CRC of their names: any prefix is a fair, fixed sample."""
    return sorted(paths, key=lambda p: (zlib.crc32(p.name.encode()), p.name))


def served_crops(paths: list[Path], crops: Callable[..., np.ndarray]) -> np.ndarray:
    """``crops(analysis)`` of the largest face of the first ``PHOTOS`` photos with a face."""
    out = []
    for path in stable(paths):
        analysis = largest_face(data.load(path))
        if analysis is not None:
            out.append(crops(analysis))
        if len(out) == PHOTOS:
            break
    return np.concatenate(out)


def hair_crops(analysis) -> np.ndarray:
    """The hair region and its mirror image, as ``rosto.features.hair`` batches them."""
    batch = alignment.crops(analysis.image, hair._regions(analysis), hair.INPUT)
    return np.concatenate([batch, batch[:, :, ::-1]])


def hair_train() -> list[Path]:
    """Figaro-1k's training photos and LFW Part Labels' training people."""
    return [image for image, _, _ in data.hair("train")]


@dataclass(frozen=True)
class Recipe:
    photos: Callable[[], list[Path]]  # training photos to calibrate on
    crops: Callable[..., np.ndarray]  # an analysis → the net's input crops
    method: CalibrationMethod
    activations: QuantType
    options: dict = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    "hair": Recipe(hair_train, hair_crops, CalibrationMethod.Percentile, QuantType.QUInt8,
                   {"CalibPercentile": 99.99}),
}  # fmt: skip

# The float graph of ``hair`` (``rosto train hair``): the commit that holds it, and its sha256.
HAIR_FLOAT = ("5511a6b", "rosto/weights/hair.onnx",
              "2db2b898486f1d0773f6eb0f05233e78efc40af0114bfdb3089a4c3e73dea51d")  # fmt: skip


def float_graph(name: str, build: Path) -> Path:
    """The float graph of ``name``: ``build/<name>.onnx`` (face-api's, from ``make weights``) or,
    for hair, the trained graph out of git history, sha256-checked."""
    if name != "hair":
        path = build / f"{name}.onnx"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: run `make weights` (tools.build_weights) first")
        return path
    commit, member, sha = HAIR_FLOAT
    blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{member}"],
                          check=True, capture_output=True).stdout  # fmt: skip
    if hashlib.sha256(blob).hexdigest() != sha:
        raise ValueError(f"{commit}:{member} does not match its sha256 {sha}")
    path = build / "hair_float.onnx"
    path.write_bytes(blob)
    return path


class Crops(CalibrationDataReader):
    """Feeds the calibration crops in passes of ``BATCH``."""

    def __init__(self, input_name: str, crops: np.ndarray):
        self.batches: Iterator[np.ndarray] = iter(np.array_split(crops, -(-len(crops) // BATCH)))
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: batch.astype(np.float32)}


def quantise(source: Path, out: Path, crops: np.ndarray, recipe: Recipe) -> Path:
    """``source`` → ``out``: shape inference and ORT's graph optimisations, then QDQ int8."""
    input_name = ort.InferenceSession(str(source)).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Crops(input_name, crops),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=recipe.activations,
                        calibrate_method=recipe.method, extra_options=recipe.options)  # fmt: skip
    return out


def convert(build: Path, names: list[str] | None = None) -> list[Path]:
    """Write ``build/<name>_int8.onnx`` for each model of ``RECIPES`` (all by default)."""
    build.mkdir(parents=True, exist_ok=True)
    models.set_threads(1)  # the calibration crops bit for bit on any machine's thread count
    written = []
    for name in names or list(RECIPES):
        recipe = RECIPES[name]
        crops = served_crops(recipe.photos(), recipe.crops)
        written.append(quantise(float_graph(name, build), build / f"{name}_int8.onnx", crops,
                                recipe))  # fmt: skip
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", choices=list(RECIPES), default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "models")
    args = parser.parse_args()
    for path in convert(args.out, args.names):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{digest}  {path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
