"""Convert MTCNN's three networks of PyPI ``facenet-pytorch==2.6.0`` (MIT) to ONNX.

The wheel ships the weights as PyTorch state dicts (``facenet_pytorch/data/{pnet,rnet,onet}.pt``,
ported by the package from davidsandberg/facenet's MTCNN, MIT, itself from Zhang et al.'s
Caffe models) and the architectures as ``torch.nn`` modules (``facenet_pytorch/models/mtcnn.py``).
The converter runs the package's own modules, loaded from the wheel's files (the rest of the
package, which needs torchvision, is not imported), exports them with ``torch.onnx``, and checks
the ONNX graphs against those modules on real face crops and on noise (max abs difference
``PARITY_TOLERANCE``): the parity check of this source, run at every build.

    python -m tools.convert.mtcnn PACKAGE_DIR [--out build/models]

Every graph takes ``image``: float32 NHWC ``[N, S, S, 3]``, RGB, **raw 0..255 pixel values**;
the package's normalisation (``(x - 127.5) * 0.0078125``, ``detect_face``) and the NCHW
transpose are inside the graph. Crops are made the package's way: the square around a box,
resampled with area averaging (``imresample``: ``interpolate(mode="area")``).

* ``mtcnn_pnet``: any S ≥ 12 (fully convolutional, stride 2 per output cell, a 12² window);
  ``probabilities`` [N, 2, H', W'] (softmax [not face, face]) and ``regression`` [N, 4, H', W'].
* ``mtcnn_rnet``: S = 24; ``probabilities`` [N, 2]; ``regression`` [N, 4].
* ``mtcnn_onet``: S = 48; ``probabilities`` [N, 2]; ``regression`` [N, 4]: the box corners'
  shifts (left, top, right, bottom) in units of the crop's side; ``landmarks`` [N, 10]: x of the
  five points (left eye, right eye, nose, mouth left, mouth right, as seen), then their y, as
  fractions of the crop's side.

Each PReLU is written as ``Relu(x) + slope · Min(x, 0)`` (``prelu_as_relu``): the same values,
bit for bit, at a third less of O-Net's time for a batch of crops.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

PACKAGE = "facenet_pytorch"
# ONNX name → (class in models/mtcnn.py, input side or 0 for any, its state dict's sha256)
NETWORKS: dict[str, tuple[str, int, str]] = {
    "mtcnn_pnet": ("PNet", 0, "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
    "mtcnn_rnet": ("RNet", 24, "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
    "mtcnn_onet": ("ONet", 48, "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
}
OUTPUTS = {"PNet": ["regression", "probabilities"],
           "RNet": ["regression", "probabilities"],
           "ONet": ["regression", "landmarks", "probabilities"]}  # the modules' return order
PARITY_TOLERANCE = 1e-4


def package_modules(package_dir: Path) -> types.ModuleType:
    """``facenet_pytorch.models.mtcnn`` of the extracted wheel, without the package's
    ``__init__`` (it imports torchvision, which only the package's detection loop needs): the
    one module it imports from is stubbed, every network class is the package's own."""
    root = package_dir / PACKAGE
    for name in (PACKAGE, f"{PACKAGE}.models", f"{PACKAGE}.models.utils"):
        stub = types.ModuleType(name)
        stub.__path__ = []
        sys.modules.setdefault(name, stub)
    detect = types.ModuleType(f"{PACKAGE}.models.utils.detect_face")
    detect.detect_face = detect.extract_face = None
    sys.modules.setdefault(detect.__name__, detect)
    spec = importlib.util.spec_from_file_location(f"{PACKAGE}.models.mtcnn",
                                                  root / "models" / "mtcnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def network(package_dir: Path, name: str):
    """The package's network ``name`` with its pretrained weights, after checking their sha256
    (the module loads ``../data/<net>.pt`` next to itself)."""
    cls, _, digest = NETWORKS[name]
    weights = package_dir / PACKAGE / "data" / f"{cls.lower()}.pt"
    if hashlib.sha256(weights.read_bytes()).hexdigest() != digest:
        raise ValueError(f"{weights}: sha256 differs from the pinned {digest}")
    return getattr(package_modules(package_dir), cls)(pretrained=True).eval()


def wrapped(net):
    """The network behind the package's input normalisation, on NHWC 0..255 RGB."""
    import torch

    class RawPixels(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, image):
            return self.net((image.permute(0, 3, 1, 2) - 127.5) * 0.0078125)

    return RawPixels().eval()


def export(package_dir: Path, name: str, path: Path) -> None:
    import torch

    cls, side, _ = NETWORKS[name]
    dims = {0: "N"} if side else {0: "N", 1: "H", 2: "W"}
    example = torch.zeros(1, side or 48, side or 48, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(wrapped(network(package_dir, name)), (example,), str(path),
                          input_names=["image"], output_names=OUTPUTS[cls],
                          dynamic_axes={"image": dims}, opset_version=17, dynamo=False)  # fmt: skip
    model = prelu_as_relu(onnx.load(path))
    model.producer_name, model.producer_version = "rosto tools.convert.mtcnn", ""
    onnx.save(model, path)


def prelu_as_relu(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with each ``PRelu(x, slope)`` replaced by ``Relu(x) + slope · Min(x, 0)``.

    ONNX Runtime's CPU PRelu broadcasts its per-channel slope slowly, and more so over a batch:
    O-Net's first PRelu took 0.09 ms for one 48² crop and 0.80 ms for four (one thread), more
    than the convolution before it. Relu, Min, Mul and Add are its fast elementwise kernels:
    O-Net on four crops 2.2 → 1.5 ms, R-Net on eight 0.81 → 0.47 ms. The values are exactly
    PReLU's: where x ≥ 0 the sum is x + 0, where x < 0 it is 0 + slope · x, one rounding each.
    """
    graph = model.graph
    nodes = []
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), (y,), hint = node.input, node.output, node.name
        nodes += [
            helper.make_node("Relu", [x], [f"{hint}/positive"], name=f"{hint}/relu"),
            helper.make_node("Min", [x, f"{hint}/zero"], [f"{hint}/below"], name=f"{hint}/min"),
            helper.make_node("Mul", [f"{hint}/below", slope], [f"{hint}/negative"],
                             name=f"{hint}/mul"),  # fmt: skip
            helper.make_node("Add", [f"{hint}/positive", f"{hint}/negative"], [y],
                             name=f"{hint}/add"),  # fmt: skip
        ]
        graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), f"{hint}/zero"))
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def parity_inputs(side: int) -> np.ndarray:
    """Real faces (scikit-image's astronaut, matplotlib's Grace Hopper, at several zooms) and
    noise, as NHWC 0..255 crops of ``side``²."""
    import cv2
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = np.asarray(Image.open(f).convert("RGB"))
    crops = []
    for photo, (cx, cy, w) in ((astronaut, (225, 110, 110)), (hopper, (255, 210, 220))):
        for zoom in (0.8, 1.0, 1.3):
            half = int(w * zoom / 2)
            crop = photo[max(cy - half, 0) : cy + half, max(cx - half, 0) : cx + half]
            crops.append(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA))
    noise = np.random.default_rng(0).integers(0, 256, (2, side, side, 3))
    return np.concatenate([np.stack(crops), noise]).astype(np.float32)


def parity(package_dir: Path, name: str, path: Path) -> float:
    """Max abs difference between the ONNX graph and the package's own module, every output."""
    import torch

    side = NETWORKS[name][1] or 64
    x = parity_inputs(side)
    with torch.no_grad():
        expected = [t.numpy() for t in wrapped(network(package_dir, name))(torch.from_numpy(x))]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})
    return max(float(np.abs(a - b).max()) for a, b in zip(got, expected, strict=True))


def convert(package_dir: Path, out_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Write ``out_dir/<name>.onnx`` for each network (all by default), parity-checked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(NETWORKS):
        path = out_dir / f"{name}.onnx"
        export(package_dir, name, path)
        onnx.checker.check_model(str(path), full_check=True)
        worst = parity(package_dir, name, path)
        if worst > PARITY_TOLERANCE:
            raise ValueError(f"{name}: ONNX differs from facenet-pytorch's module by {worst:.2e}")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="extracted facenet-pytorch wheel")
    parser.add_argument("--out", type=Path, default=Path("build/models"))
    parser.add_argument("--names", nargs="+", choices=list(NETWORKS), default=None)
    args = parser.parse_args()
    for path in convert(args.package_dir, args.out, args.names):
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB  parity "
              f"{parity(args.package_dir, path.stem, path):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
