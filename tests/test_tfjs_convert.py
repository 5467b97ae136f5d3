"""The TF.js graph → ONNX converter on tiny synthetic graphs, checked against numpy references.

Each graph is written in the TF.js format (GraphDef JSON + weights manifest + .bin) with random
weights, converted, run in ONNX Runtime with a batch > 1 and compared with a direct numpy
implementation of the TF op semantics (NHWC, SAME padding with the odd pixel last, ...).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tools.convert.tfjs_graph import (
    blocked_shortcuts,
    convert_graph,
    load_graph,
    read_weights,
)

RNG = np.random.default_rng(7)


def _attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": value}
    if isinstance(value, str):
        return {"s": base64.b64encode(value.encode()).decode()}
    if value and isinstance(value[0], str):
        return {"list": {"s": [_attr(v)["s"] for v in value]}}
    return {"list": {"i": [str(v) for v in value]}}


class TfjsGraph:
    """Writes a TF.js graph model: nodes as GraphDef JSON, constants into one weight shard."""

    def __init__(self, input_shape: list[int]):
        self.nodes: list[dict[str, Any]] = []
        self.specs: list[dict[str, Any]] = []
        self.data: list[bytes] = []
        self.input_shape = input_shape
        self.node("x", "Placeholder", [])

    def node(self, name: str, op: str, inputs: list[str], **attrs: Any) -> str:
        encoded = {k: _attr(v) for k, v in attrs.items()}
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": encoded})
        return name

    def const(self, name: str, value: Any) -> str:
        array = np.asarray(value)
        array = array.astype(np.int32 if array.dtype.kind == "i" else np.float32)
        self.specs.append({"name": name, "shape": list(array.shape), "dtype": str(array.dtype)})
        self.data.append(array.tobytes())
        return self.node(name, "Const", [])

    def weight(self, name: str, *shape: int) -> np.ndarray:
        array = RNG.normal(0, 0.5, shape).astype(np.float32)
        self.const(name, array)
        return array

    def save(self, directory: Path, outputs: list[str]) -> Path:
        (directory / "m.bin").write_bytes(b"".join(self.data))
        port = {"name": "x:0", "dtype": "DT_FLOAT",
                "tensorShape": {"dim": [{"size": str(d)} for d in self.input_shape]}}
        model = {
            "format": "graph-model",
            "modelTopology": {"node": self.nodes},
            "weightsManifest": [{"paths": ["m.bin"], "weights": self.specs}],
            "signature": {
                "inputs": {"x:0": port},
                "outputs": {o: {"name": f"{o}:0", "dtype": "DT_FLOAT"} for o in outputs},
            },
        }
        path = directory / "m.json"
        path.write_text(json.dumps(model))
        return path

    def run(self, directory: Path, outputs: list[str], x: np.ndarray) -> list[np.ndarray]:
        model = convert_graph(load_graph(self.save(directory, outputs)))
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        return session.run(outputs, {"x": x})


def _conv_attrs(stride: int, padding: str = "SAME") -> dict[str, Any]:
    return {"strides": [1, stride, stride, 1], "padding": padding, "data_format": "NHWC",
            "dilations": [1, 1, 1, 1]}


# --- numpy references of the TF ops -----------------------------------------------------------


def same_pad(x: np.ndarray, kernel: tuple[int, int], stride: int, value: float = 0) -> np.ndarray:
    pads = []
    for n, k in zip(x.shape[1:3], kernel, strict=True):
        total = max((-(-n // stride) - 1) * stride + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def windows(x: np.ndarray, kernel: tuple[int, int], stride: int):
    """Yield (i, j, strided view) for each kernel tap over an already padded NHWC input."""
    oh, ow = ((n - k) // stride + 1 for n, k in zip(x.shape[1:3], kernel, strict=True))
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            yield i, j, x[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride]


def conv_ref(x: np.ndarray, w: np.ndarray, stride: int, depthwise: bool = False) -> np.ndarray:
    x = same_pad(x.astype(np.float64), w.shape[:2], stride)
    total = 0
    for i, j, patch in windows(x, w.shape[:2], stride):
        if depthwise:
            total = total + (patch[..., None] * w[i, j]).reshape(*patch.shape[:3], -1)
        else:
            total = total + patch @ w[i, j]
    return total


def maxpool_ref(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    padded = same_pad(x, (k, k), stride, -np.inf)
    return np.max([patch for _, _, patch in windows(padded, (k, k), stride)], axis=0)


def resize_half_pixel_ref(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF ResizeBilinear with half_pixel_centers (edges clamped)."""
    for axis, n_out in ((1, out_h), (2, out_w)):
        n_in = x.shape[axis]
        src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        low = np.floor(src)
        frac = (src - low).reshape([-1 if a == axis else 1 for a in range(4)])
        lo = np.take(x, np.clip(low, 0, n_in - 1).astype(int), axis)
        hi = np.take(x, np.clip(low + 1, 0, n_in - 1).astype(int), axis)
        x = lo + (hi - lo) * frac
    return x


def conv_transpose_ref(x: np.ndarray, w: np.ndarray, stride: int, out_hw: tuple[int, int]):
    """Conv2DBackpropInput, SAME: scatter every input pixel through the filter [kh,kw,out,in]."""
    kh, kw = w.shape[:2]
    pads = [max((n_in - 1) * stride + k - n, 0) // 2
            for n_in, k, n in zip(x.shape[1:3], (kh, kw), out_hw, strict=True)]
    out = np.zeros((x.shape[0], out_hw[0] + kh + stride, out_hw[1] + kw + stride, w.shape[2]))
    for i in range(kh):
        for j in range(kw):
            contrib = x.astype(np.float64) @ w[i, j].T
            out[:, i:i + x.shape[1] * stride:stride, j:j + x.shape[2] * stride:stride] += contrib
    return out[:, pads[0]:pads[0] + out_hw[0], pads[1]:pads[1] + out_hw[1]]


# --- tests ------------------------------------------------------------------------------------


def test_conv_relu6_depthwise_prelu_matches_numpy(tmp_path: Path) -> None:
    g = TfjsGraph([-1, 8, 8, 3])  # even size: SAME pads stride 2 unevenly
    w1, b1 = g.weight("w1", 3, 3, 3, 4), g.weight("b1", 4)
    g.node("conv", "_FusedConv2D", ["x", "w1", "b1"], fused_ops=["BiasAdd", "Relu"],
           num_args=1, **_conv_attrs(2))
    g.node("relu6", "Relu6", ["conv"])
    w2 = g.weight("w2", 3, 3, 4, 2)
    g.node("dw", "DepthwiseConv2dNative", ["relu6", "w2"], **_conv_attrs(1))
    w3, b3, alpha = g.weight("w3", 1, 1, 8, 5), g.weight("b3", 5), g.weight("alpha", 1, 1, 5)
    g.node("pw", "_FusedConv2D", ["dw", "w3", "b3", "alpha"], fused_ops=["BiasAdd", "Prelu"],
           num_args=2, **_conv_attrs(1, "VALID"))
    x = RNG.normal(0, 1, (3, 8, 8, 3)).astype(np.float32)
    (y,) = g.run(tmp_path, ["pw"], x)

    h = np.clip(np.maximum(conv_ref(x, w1, 2) + b1, 0), 0, 6)
    h = conv_ref(h, w2, 1, depthwise=True) @ w3[0, 0] + b3
    expected = np.where(h > 0, h, alpha * h)
    assert y.shape == (3, 4, 4, 5)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_layout_transposes_only_at_the_edges(tmp_path: Path) -> None:
    g = TfjsGraph([-1, 8, 8, 2])
    g.weight("w", 3, 3, 2, 2)
    g.node("c1", "Conv2D", ["x", "w"], **_conv_attrs(1))
    g.node("r", "Relu", ["c1"])
    g.node("c2", "Conv2D", ["r", "w"], **_conv_attrs(1))
    g.node("sum", "AddV2", ["c2", "c1"])
    model = convert_graph(load_graph(g.save(tmp_path, ["sum"])))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Transpose") == 2
    assert model.opset_import[0].version == 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 8, 8, 2]


def test_pool_pad_mean_softmax_match_numpy(tmp_path: Path) -> None:
    g = TfjsGraph([-1, 8, 8, 3])
    g.node("mp", "MaxPool", ["x"], ksize=[1, 3, 3, 1], **_conv_attrs(2))
    g.const("pads", [[0, 0], [0, 0], [0, 0], [0, 2]])
    g.node("pad", "Pad", ["mp", "pads"])
    g.node("gap", "AvgPool", ["pad"], ksize=[1, 4, 4, 1], **_conv_attrs(4, "VALID"))
    g.const("axes", [1, 2])
    g.node("mean", "Mean", ["gap", "axes"], keep_dims=False)
    g.node("sm", "Softmax", ["mean"])
    x = RNG.normal(0, 1, (2, 8, 8, 3)).astype(np.float32)
    (y,) = g.run(tmp_path, ["sm"], x)

    pooled = np.pad(maxpool_ref(x, 3, 2), [(0, 0)] * 3 + [(0, 2)]).mean(axis=(1, 2))
    expected = np.exp(pooled) / np.exp(pooled).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_reshape_frozen_at_batch_1_carries_the_batch(tmp_path: Path) -> None:
    g = TfjsGraph([1, 4, 4, 2])  # as blazeface: placeholder and reshape target say batch 1
    w = g.weight("w", 1, 1, 2, 2)
    g.node("c", "Conv2D", ["x", "w"], **_conv_attrs(1))
    g.const("shape", [1, 32, 1])
    g.node("flat", "Reshape", ["c", "shape"])
    x = RNG.normal(0, 1, (3, 4, 4, 2)).astype(np.float32)
    (y,) = g.run(tmp_path, ["flat"], x)
    np.testing.assert_allclose(y, conv_ref(x, w, 1).reshape(3, 32, 1), atol=1e-6)


def test_dynamic_shape_pack_reshape_concat(tmp_path: Path) -> None:
    """The detector head pattern: Shape → StridedSlice → Pack → Reshape, then ConcatV2."""
    g = TfjsGraph([-1, 4, 4, 3])
    g.const("begin", [0])
    g.const("end", [1])
    g.const("step", [1])
    g.node("shape", "Shape", ["x"])
    g.node("n", "StridedSlice", ["shape", "begin", "end", "step"], shrink_axis_mask=1)
    g.const("m1", -1)
    g.const("three", 3)
    g.node("target", "Pack", ["n", "m1", "three"], axis=0)
    g.node("rows", "Reshape", ["x", "target"])
    g.const("axis", 2)
    g.node("both", "ConcatV2", ["rows", "rows", "axis"])
    x = RNG.normal(0, 1, (2, 4, 4, 3)).astype(np.float32)
    (y,) = g.run(tmp_path, ["both"], x)
    rows = x.reshape(2, 16, 3)
    np.testing.assert_array_equal(y, np.concatenate([rows, rows], axis=2))


def test_matmul_slice_expand_div(tmp_path: Path) -> None:
    g = TfjsGraph([-1, 6])
    w, b = g.weight("w", 6, 4), g.weight("b", 4)
    g.node("fc", "_FusedMatMul", ["x", "w", "b"], fused_ops=["BiasAdd", "Relu"], num_args=1,
           transpose_a=False, transpose_b=False)
    g.node("t", "Tanh", ["fc"])
    g.const("begin", [0, 1])
    g.const("end", [0, 3])
    g.const("step", [1, 1])
    g.node("cols", "StridedSlice", ["t", "begin", "end", "step"], begin_mask=1, end_mask=1)
    g.const("ax", -1)
    g.node("e", "ExpandDims", ["cols", "ax"])
    g.const("four", 4.0)
    g.const("half", 0.5)
    g.node("two", "Mul", ["four", "half"])  # constant: folded at conversion
    g.node("out", "RealDiv", ["e", "two"])
    x = RNG.normal(0, 1, (4, 6)).astype(np.float32)
    (y,) = g.run(tmp_path, ["out"], x)
    expected = np.tanh(np.maximum(x @ w + b, 0))[:, 1:3, None] / 2
    np.testing.assert_allclose(y, expected, atol=1e-6)
    model = convert_graph(load_graph(tmp_path / "m.json"))
    assert "Mul" not in {n.op_type for n in model.graph.node}


def test_resize_depth_to_space_conv_transpose(tmp_path: Path) -> None:
    g = TfjsGraph([-1, 3, 5, 8])
    g.const("size", [6, 10])
    g.node("up", "ResizeBilinear", ["x", "size"], align_corners=False, half_pixel_centers=True)
    g.node("d2s", "DepthToSpace", ["x"], block_size=2, data_format="NHWC")
    g.const("out_size", [1, 6, 10, 3])
    w = g.weight("wt", 3, 3, 3, 8)
    g.node("deconv", "Conv2DBackpropInput", ["out_size", "wt", "x"], **_conv_attrs(2))
    x = RNG.normal(0, 1, (2, 3, 5, 8)).astype(np.float32)
    up, d2s, deconv = g.run(tmp_path, ["up", "d2s", "deconv"], x)

    np.testing.assert_allclose(up, resize_half_pixel_ref(x, 6, 10), atol=1e-5)
    expected = x.reshape(2, 3, 5, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 10, 2)
    np.testing.assert_array_equal(d2s, expected)
    np.testing.assert_allclose(deconv, conv_transpose_ref(x, w, 2, (6, 10)), atol=1e-5)


def test_read_weights_dequantises_float16_and_uint8(tmp_path: Path) -> None:
    half = np.array([[0.5, -1.25, 3.0e-3]], np.float16)
    codes = np.array([0, 1, 255], np.uint8)
    ints = np.array([7, -2], np.int32)
    (tmp_path / "w.bin").write_bytes(half.tobytes() + codes.tobytes() + ints.tobytes())
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": "h", "shape": [1, 3], "dtype": "float32",
         "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        {"name": "q", "shape": [3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.01}},
        {"name": "i", "shape": [2], "dtype": "int32"},
    ]}]
    weights = read_weights(manifest, tmp_path)
    assert weights["h"].dtype == np.float32
    np.testing.assert_array_equal(weights["h"], half.astype(np.float32))
    np.testing.assert_allclose(weights["q"], [-1.0, -0.99, 1.55], rtol=1e-6)
    np.testing.assert_array_equal(weights["i"], ints)

    manifest[0]["weights"].pop()
    with pytest.raises(ValueError, match="8 bytes not described"):
        read_weights(manifest, tmp_path)


def test_float16_storage_only_when_exact_and_conversion_deterministic(tmp_path: Path) -> None:
    g = TfjsGraph([-1, 4, 4, 8])
    g.const("exact", RNG.normal(0, 1, (3, 3, 8, 8)).astype(np.float16).astype(np.float32))
    g.weight("inexact", 3, 3, 8, 8)
    g.node("c1", "Conv2D", ["x", "exact"], **_conv_attrs(1))
    g.node("c2", "Conv2D", ["c1", "inexact"], **_conv_attrs(1))
    path = g.save(tmp_path, ["c2"])
    model = convert_graph(load_graph(path))
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types == {"c1/weights/f16": 10, "c2/weights": 1}  # FLOAT16, FLOAT
    assert model.SerializeToString() == convert_graph(load_graph(path)).SerializeToString()


def test_blocked_shortcuts_compute_the_same_without_pads(tmp_path: Path) -> None:
    """``blocked_shortcuts`` (the detector's residual Adds fused by ONNX Runtime): identity 1×1
    convolutions after the MaxPool shortcut and in place of its zero channel Pad give the outputs
    of the graph as converted (within float rounding: a fused Add sums in another order)."""
    g = TfjsGraph([-1, 8, 8, 3])
    g.weight("w", 3, 3, 3, 3)
    g.node("c1", "Conv2D", ["x", "w"], **_conv_attrs(1))
    g.node("r1", "Relu", ["c1"])
    g.node("sum1", "AddV2", ["c1", "r1"])
    g.node("mp", "MaxPool", ["sum1"], ksize=[1, 2, 2, 1], **_conv_attrs(2))
    g.weight("w2", 2, 2, 3, 3)
    g.node("c2", "Conv2D", ["sum1", "w2"], **_conv_attrs(2))
    g.node("sum2", "AddV2", ["c2", "mp"])  # the stride-2 block: MaxPool shortcut
    g.node("mp2", "MaxPool", ["sum2"], ksize=[1, 2, 2, 1], **_conv_attrs(2))
    g.const("pads", [[0, 0], [0, 0], [0, 0], [0, 3]])
    g.node("pad", "Pad", ["mp2", "pads"])
    g.weight("w3", 2, 2, 3, 6)
    g.node("c3", "Conv2D", ["sum2", "w3"], **_conv_attrs(2))
    g.node("sum3", "AddV2", ["c3", "pad"])  # the MaxPool shortcut padded with zero channels
    model = convert_graph(load_graph(g.save(tmp_path, ["sum3"])))
    original = model.SerializeToString()
    blocked = blocked_shortcuts(model)
    ops = [n.op_type for n in blocked.graph.node]
    assert "Pad" not in ops and ops.count("Conv") == 3 + 2

    def run(m: Any, feed: np.ndarray) -> np.ndarray:
        session = ort.InferenceSession(m if isinstance(m, bytes) else m.SerializeToString(),
                                       providers=["CPUExecutionProvider"])  # fmt: skip
        return session.run(None, {session.get_inputs()[0].name: feed})[0]

    x = RNG.normal(0, 1, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(run(blocked, x), run(original, x), rtol=1e-5, atol=1e-5)
