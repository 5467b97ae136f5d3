"""Static int8 quantisation (ONNX Runtime, QDQ) of the attribute nets that cost the most CPU.

The float graph stays the reference; this writes ``<name>_int8.onnx`` beside it: weights int8
per output channel, activations 8-bit with ranges calibrated on crops of **training** photos
made by the serving pipeline itself (detection → landmarks → the feature's crop, as in a
request), never on a dev or test photo. Calibration is deterministic (photos in a fixed CRC
order, the pipeline on one thread), so the same float graph gives the same int8 bytes.

    python -m tools.convert.quantise [--names face_recognition hair] [--out build/models]

Float graphs: ``face_recognition`` from ``tools/convert/faceapi.py`` (``make weights`` writes it
to ``build/models``);
``hair`` as ``rosto train hair`` wrote it (commit ``e9ad88f``), read from the repository's
history and checked against its sha256 (a retrained float graph: update ``SHIPPED_FLOAT``). The
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
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from rosto import alignment, descriptor, models
from rosto.features import hair
from rosto.landmarks import landmarks68
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


def recognition_crops(analysis) -> np.ndarray:
    """The descriptor crop and the 1.3× wider one: the two face_recognition sees per face."""
    points = landmarks68(analysis)
    return np.concatenate([descriptor.crops(analysis.image, points),
                           descriptor.crops(analysis.image, points, descriptor.WIDE)])  # fmt: skip


def hair_crops(analysis) -> np.ndarray:
    """The hair region and its mirror image, as ``rosto.features.hair`` batches them."""
    batch = alignment.crops(analysis.image, hair._regions(analysis), hair.INPUT)
    return np.concatenate([batch, batch[:, :, ::-1]])


def utkface_train() -> list[Path]:
    return [path for path, _ in data.utkface("train")]


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
    float_from: str | None = None  # this tensor's node and every later one stay float32


RECIPES: dict[str, Recipe] = {
    # the last residual stage (2×2, from relu_138: under 1% of the multiply-adds) in float: the
    # heads read its ``features``, and the int8 stage moved their answers (MODELS.md)
    "face_recognition": Recipe(utkface_train, recognition_crops, CalibrationMethod.Percentile,
                               QuantType.QUInt8, {"CalibPercentile": 99.999}, "relu_138"),
    "hair": Recipe(hair_train, hair_crops, CalibrationMethod.Percentile, QuantType.QUInt8,
                   {"CalibPercentile": 99.99}),
}  # fmt: skip

# The float graphs as last shipped (commit, sha256): hair's is the one ``rosto train hair``
# wrote; face_recognition's is the one ``tools/convert/faceapi.py`` writes, byte for byte.
SHIPPED_FLOAT = {
    "face_recognition": ("5511a6b",
                         "432db8b2153a14a9e3f763eb78d26ea6328c9fd8971f2aba1510b4299fff84bf"),
    "hair": ("5511a6b", "2db2b898486f1d0773f6eb0f05233e78efc40af0114bfdb3089a4c3e73dea51d"),
}  # fmt: skip


def shipped_float(name: str, out_dir: Path) -> Path:
    """``out_dir/<name>_float.onnx``: the float graph of ``name`` out of the repository's
    history (``SHIPPED_FLOAT``), sha256-checked."""
    commit, sha = SHIPPED_FLOAT[name]
    member = f"rosto/weights/{name}.onnx"
    blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{member}"],
                          check=True, capture_output=True).stdout  # fmt: skip
    if hashlib.sha256(blob).hexdigest() != sha:
        raise ValueError(f"{commit}:{member} does not match its sha256 {sha}")
    path = out_dir / f"{name}_float.onnx"
    path.write_bytes(blob)
    return path


def float_graph(name: str, build: Path) -> Path:
    """The float graph of ``name``: face-api's from ``make weights`` (``build/<name>.onnx``);
    hair's (trained, not converted) out of the repository's history."""
    if name == "hair":
        return shipped_float(name, build)
    path = build / f"{name}.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run `make weights` (tools.build_weights) first")
    return path


class Crops(CalibrationDataReader):
    """Feeds the calibration crops in passes of ``BATCH``."""

    def __init__(self, input_name: str, crops: np.ndarray):
        self.batches: Iterator[np.ndarray] = iter(np.array_split(crops, -(-len(crops) // BATCH)))
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: batch.astype(np.float32)}


def float_nodes(path: Path, first: str | None) -> list[str]:
    """Names of the nodes of the graph at ``path`` from the one that outputs ``first`` on, in
    graph order (unnamed nodes are named after their first output, in the file too)."""
    graph = onnx.load(str(path))
    for node in graph.graph.node:
        node.name = node.name or node.output[0]
    onnx.save(graph, str(path))
    names = [node.name for node in graph.graph.node]
    outputs = [node.output[0] for node in graph.graph.node]
    return names[outputs.index(first) :] if first else []


def quantise(source: Path, out: Path, crops: np.ndarray, recipe: Recipe) -> Path:
    """``source`` → ``out``: shape inference and ORT's graph optimisations, then QDQ int8."""
    input_name = ort.InferenceSession(str(source)).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        kept = float_nodes(prepared, recipe.float_from)
        quantize_static(str(prepared), str(out), Crops(input_name, crops),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=recipe.activations,
                        calibrate_method=recipe.method, extra_options=recipe.options,
                        nodes_to_exclude=kept)  # fmt: skip
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
