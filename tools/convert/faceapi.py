"""Convert the face-api.js networks of ``@vladmandic/face-api@1.7.15`` (MIT) to ONNX.

The package ships weights only (``model/<net>_model-weights_manifest.json`` + ``.bin``, mostly
uint8 affine-quantised); the architectures live in its TypeScript sources (``src/``) and are
rewritten here with ``onnx.helper``, one small builder per layer kind. No TensorFlow involved.

    python -m tools.convert.faceapi PACKAGE_DIR [--out build/models] [--names face_landmark_68 ...]

Every graph takes one input ``input``: float32 NHWC ``[N, S, S, 3]``, RGB, **raw 0..255 pixel
values** (batch N is dynamic). face-api's own input normalisation is part of the graph, so the
caller only crops, pads and resizes. Inside, the graph is NCHW.

How face-api builds each input (its Node path, where the image is a tensor; browsers draw onto a
canvas instead, which resamples differently):

* Face box → crop. ``extractFaceTensors``: the box (x, y, w, h in image pixels) is clipped to the
  image (``x0 = max(x, 0)``, ``w' = min(x + w - x0, W - x0)``, same for y), then x0, y0, w', h' are
  each **floored**, and the crop is ``image[y0:y0+h', x0:x0+w']``.
* Crop → square. ``padToSquare(isCenterImage)`` pads the short side with **zeros (black)**.
  Centred for the 112/150 nets: ``d = |h - w|``, ``round(d / 2)`` (JS rounds .5 up) rows/cols
  *after* the image and the remaining ``d - round(d / 2)`` *before* it (an odd d puts the extra
  pixel after). Not centred for ssd_mobilenetv1 and tiny_face_detector: all ``d`` after the image
  (bottom or right), so the image stays at the top-left.
* Square → S x S. ``tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false)``: the
  legacy TF sampling ``src = dst * (M / S)`` (M = square side), no antialiasing. This is NOT
  ``cv2.resize`` (half-pixel centres); ``tools.parity_faceapi.tf_resize_bilinear`` replicates it
  exactly. Skipped when the square is already S x S.

Which box each net gets (``globalApi``): the landmark nets get the detector box as is.
age_gender and face_expression get the detector box when called straight after detection, but
after ``withFaceLandmarks()`` (the accurate, documented way) they get ``alignedRect``: the min/max
bounding box of the 68 landmarks (image pixels) grown by 20 % of its width and height, i.e.
``(x - 0.1 w, y - 0.1 h, 1.2 w, 1.2 h)``; no rotation. face_recognition gets the dlib-style box
``align(useDlibAlignment)``: centres of left eye (pts 36-41), right eye (42-47), mouth (48-67);
``size = floor(mean(|mouth - left eye|, |mouth - right eye|) / 0.45)``; ``ref`` = mean of the
three centres; box ``(floor(max(0, ref.x - 0.5 size)), floor(max(0, ref.y - 0.43 size)), size,
size)`` (sides capped at w' + x and h' + y, w', h' = detector crop size: never binding in practice).
The whole recipe is checked against face-api's own JS pipeline by ``tools.parity_faceapi``.

Networks and outputs (labels in order):

* ``face_landmark_68`` / ``face_landmark_68_tiny``: S = 112; ``landmarks`` [N, 136] =
  x0, y0, x1, y1, ... for the 68 iBUG points, in units of the padded square's side: pixel
  coordinate in the 112 input = value * 112. face-api maps them back to the image with
  ``x = x0 + v_x * M - (M - w') / 2``, ``y = y0 + v_y * M - (M - h') / 2`` (M = max(w', h'),
  w', h' = floored crop size, x0, y0 = detector box origin before flooring). Same frame as the
  legacy resize: pixel i of the input samples source coordinate i * M / 112. ``features``
  [N, 256] (fewer for the tiny net): the average-pooled map the points are read from.
* ``age_gender``: S = 112; ``age`` [N] (years, regression) and ``gender`` [N, 2] softmax =
  [male, female]; ``features`` [N, 512]: the average-pooled map both are read from.
* ``face_expression``: S = 112; ``expressions`` [N, 7] softmax = [neutral, happy, sad, angry,
  fearful, disgusted, surprised].
* ``face_recognition``: S = 150; ``descriptor`` [N, 128] (face-api compares with euclidean
  distance, 0.6 = same person by default); ``features`` [N, 1024] = the last 256×2×2 map
  before pooling, flattened channel-major (Rosto's ethnicity head reads it).
* ``ssd_mobilenetv1``: S = 512 fixed (the 5118 anchors assume it), image padded bottom/right;
  ``boxes`` [N, 5118, 4] = (ymin, xmin, ymax, xmax) already decoded against the anchors (the
  decode is in the graph), relative to the padded 512 square, not clipped; ``scores`` [N, 5118] =
  sigmoid of the face logit. Before NMS. face-api then keeps score > 0.5 (minConfidence), runs
  greedy NMS at IoU 0.5 (max 100), clips boxes to [0, 1] and maps them to image pixels with
  ``v * 512 / round(side * 512 / M) * side`` (side = W for x, H for y; ≈ v * M).
* ``tiny_face_detector``: S any multiple of 32 (face-api default 416), image padded bottom/right;
  ``grid`` [N, S/32, S/32, 5, 5] raw YOLO cells (row, col, anchor, [tx, ty, tw, th, conf]).
  face-api keeps score = sigmoid(conf) > 0.5 and decodes with G = S/32, (aw, ah) =
  ``TINY_ANCHORS[anchor]``, W_r, H_r = image size scaled to max side S and rounded:
  ``cx = (col + sigmoid(tx)) / G * S / W_r``, ``bw = exp(tw) * aw / G * S / W_r`` (y, h alike
  with row, ty, th, ah, H_r); box ``(cx - bw/2, cy - bh/2, bw, bh)`` times image W, H; NMS IoU 0.4.

Normalisation folded into the graph: (x - [122.782, 117.001, 104.298]) / 255 for the 112/150 nets,
(x - [117.001, 114.697, 97.404]) / 255 for tiny_face_detector, x / 127.5 - 1 for ssd_mobilenetv1.
Folded into neighbouring weights (float64, exact up to float32 rounding): the conv bias + scale
layer of face_recognition and the depthwise batch norms of ssd_mobilenetv1. Weights are stored as
float32: a dequantised uint8 weight ``q * scale + min`` is generally not a float16 value (2.4 % of
face_landmark_68's are), and float16 storage moved outputs by 6e-5 (gender) to 3e-2 (age, years;
tiny grid), beyond the 1e-4 parity bar.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)  # face-api's meanRgb of the 112/150 nets
TINY_MEAN_RGB = (117.001, 114.697, 97.404)
TINY_ANCHORS = ((1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061),
                (4.266906, 5.178857), (9.041765, 10.66308))
EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
SSD_BN_EPSILON = 0.0010000000474974513
SSD_SIZE = 512


# ---------------------------------------------------------------------------------------------
# Weights


def dequantise(raw: bytes, dtype: str, shape: list[int], quantization: dict | None) -> np.ndarray:
    """One tensor of a TF.js weights blob, dequantised the way tfjs-core does it.

    uint8/uint16 affine quantisation is ``q * scale + min`` computed in double precision then
    stored as float32 (int32 tensors are rounded), so the result matches tfjs bit for bit.
    """
    if quantization is None:
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()
    if quantization["dtype"] not in ("uint8", "uint16"):
        raise ValueError(f"unsupported quantization {quantization['dtype']}")
    q = np.frombuffer(raw, dtype=quantization["dtype"]).astype(np.float64)
    values = q * quantization["scale"] + quantization["min"]
    if dtype == "int32":
        return np.floor(values + 0.5).astype(np.int32).reshape(shape)  # JS Math.round
    return values.astype(np.float32).reshape(shape)


def load_weights(manifest_path: Path) -> dict[str, np.ndarray]:
    """All tensors of a TF.js weights manifest, by name (shards concatenated as tfjs does)."""
    weights: dict[str, np.ndarray] = {}
    for group in json.loads(manifest_path.read_text()):
        blob = b"".join((manifest_path.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization")
            itemsize = np.dtype(quant["dtype"] if quant else spec["dtype"]).itemsize
            nbytes = int(np.prod(spec["shape"], dtype=np.int64)) * itemsize
            weights[spec["name"]] = dequantise(
                blob[offset:offset + nbytes], spec["dtype"], spec["shape"], quant)
            offset += nbytes
        if offset != len(blob):
            raise ValueError(f"{manifest_path}: {len(blob) - offset} trailing bytes")
    return weights


# ---------------------------------------------------------------------------------------------
# Graph builder


class Graph:
    """Nodes and initialisers of one network; each layer helper returns its output's name.

    ``take`` hands out package weights and remembers which were used, so a network that
    forgets a tensor (an architecture mismatch) fails loudly instead of converting silently.
    """

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def take(self, name: str) -> np.ndarray:
        self.used.add(name)
        return self.weights[name]

    def has(self, name: str) -> bool:
        return name in self.weights

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: np.ndarray | float | list, hint: str = "c") -> str:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        output = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output

    def model(self, name: str, image_size: int | None, outputs: list[tuple[str, list | None]],
              ignored: frozenset[str] = frozenset()) -> onnx.ModelProto:
        """Wrap the graph; ``image_size`` None leaves H and W dynamic."""
        unused = {k for k, v in self.weights.items() if v.dtype == np.float32}
        unused -= self.used | ignored
        if unused:
            raise ValueError(f"{name}: weights not used by the architecture: {sorted(unused)}")
        side = image_size or "S"
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", side, side, 3])],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o, shape in outputs],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="rosto.tools.convert.faceapi")
        model.ir_version = 8  # readable by onnxruntime >= 1.14
        return model


# Layer kinds. Filters arrive in TF layout (HWIO, depthwise HWC1) and are transposed to ONNX's
# OIHW. "SAME" is TF's padding (extra row/column at the end) = ONNX SAME_UPPER.

def _pad_attrs(padding: str | int) -> dict:
    if isinstance(padding, int):
        return {"pads": [padding] * 4}
    return {"auto_pad": "SAME_UPPER" if padding == "SAME" else "VALID"}


def conv(g: Graph, x: str, filters: np.ndarray, bias: np.ndarray | None, stride: int = 1,
         padding: str | int = "SAME") -> str:
    """Dense convolution; ``filters`` HWIO."""
    inputs = [x, g.const(filters.transpose(3, 2, 0, 1), "w")]
    if bias is not None:
        inputs.append(g.const(bias, "b"))
    return g.op("Conv", *inputs, strides=[stride, stride], **_pad_attrs(padding))


def depthwise(g: Graph, x: str, filters: np.ndarray, bias: np.ndarray | None, stride: int = 1,
              padding: str | int = "SAME") -> str:
    """Depthwise convolution (channel multiplier 1); ``filters`` HWC1."""
    channels = filters.shape[2]
    inputs = [x, g.const(filters.transpose(2, 3, 0, 1), "dw")]
    if bias is not None:
        inputs.append(g.const(bias, "b"))
    return g.op("Conv", *inputs, group=channels, strides=[stride, stride],
                **_pad_attrs(padding))


def separable(g: Graph, x: str, prefix: str, stride: int = 1,
              padding: str | int = "SAME") -> str:
    """``tf.separableConv2d`` + bias: depthwise 3x3, then pointwise 1x1 carrying the bias."""
    out = depthwise(g, x, g.take(f"{prefix}/depthwise_filter"), None, stride, padding)
    return conv(g, out, g.take(f"{prefix}/pointwise_filter"), g.take(f"{prefix}/bias"))


def dense(g: Graph, x: str, weights: np.ndarray, bias: np.ndarray, out: str | None = None) -> str:
    """Fully connected layer; ``weights`` [in, out] as in face-api."""
    return g.op("Add", g.op("MatMul", x, g.const(weights, "fc_w")), g.const(bias, "fc_b"),
                out=out)


def relu(g: Graph, x: str) -> str:
    return g.op("Relu", x)


def relu6(g: Graph, x: str) -> str:
    return g.op("Clip", x, g.const(np.float32(0)), g.const(np.float32(6)))


def add(g: Graph, a: str, b: str) -> str:
    return g.op("Add", a, b)


def pool(g: Graph, op_type: str, x: str, kernel: int, stride: int,
         padding: str = "VALID") -> str:
    """MaxPool/AveragePool; TF 'SAME' max pooling ignores the padding, as ONNX does."""
    return g.op(op_type, x, kernel_shape=[kernel, kernel], strides=[stride, stride],
                **_pad_attrs(padding))


def flatten(g: Graph, x: str) -> str:
    """[N, C, 1, 1] → [N, C] (face-api flattens NHWC, identical when H = W = 1)."""
    return g.op("Flatten", x, axis=1)


def leaky(g: Graph, x: str) -> str:
    """tinyYolov2's leaky: relu(x - 0.1 x) + 0.1 x = max(x, 0.1 x)."""
    return g.op("LeakyRelu", x, alpha=0.10000000149011612)


def image_input(g: Graph, mean_rgb: tuple[float, float, float] | None, divisor: float,
                minus: float | None = None) -> str:
    """NHWC raw RGB → NCHW, normalised in face-api's order: ((x - mean) / divisor) - minus.

    Transposed first: the same values, but ONNX Runtime subtracts a per-channel mean from NCHW
    in long runs, where on NHWC it broadcast three values at a time (0.2-0.5 ms of a 112² or
    150² crop's run, up to a sixth of age_gender's).
    """
    x = g.op("Transpose", "input", perm=[0, 3, 1, 2])
    if mean_rgb is not None:
        mean = np.array(mean_rgb, np.float32).reshape(1, 3, 1, 1)
        x = g.op("Sub", x, g.const(mean, "mean_rgb"))
    x = g.op("Div", x, g.const(np.float32(divisor), "divisor"))
    if minus is not None:
        x = g.op("Sub", x, g.const(np.float32(minus), "minus"))
    return x


def fold_affine(filters: np.ndarray, bias: np.ndarray, scale: np.ndarray, shift: np.ndarray,
                channel_axis: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``(conv(x, filters) + bias) * scale + shift`` (per output channel) into one conv.

    Done in float64: the only rounding left is the final float32 cast. The output channel is
    axis 3 of HWIO filters and axis 2 of depthwise HWC1 filters.
    """
    shape = [1, 1, 1, 1]
    shape[channel_axis] = -1
    s = scale.astype(np.float64)
    folded = filters.astype(np.float64) * s.reshape(shape)
    return (folded.astype(np.float32),
            (bias.astype(np.float64) * s + shift.astype(np.float64)).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# face-api networks


def dense_block(g: Graph, x: str, prefix: str, n_convs: int, first: bool) -> str:
    """face-api's denseBlock3/denseBlock4: stride-2 entry conv, then densely summed separables.

    Sums are nested right to left (out1 + (out2 + (out3 + out4))) as in the JS.
    """
    if first:
        entry = conv(g, x, g.take(f"{prefix}/conv0/filters"), g.take(f"{prefix}/conv0/bias"), 2)
    else:
        entry = separable(g, x, f"{prefix}/conv0", 2)
    outs = [relu(g, entry)]
    block_in = outs[0]
    for i in range(1, n_convs):
        outs.append(separable(g, block_in, f"{prefix}/conv{i}"))
        total = outs[-1]
        for earlier in reversed(outs[:-1]):
            total = add(g, earlier, total)
        block_in = relu(g, total)
    return block_in


def feature_extractor(g: Graph, x: str) -> str:
    """FaceFeatureExtractor (4 blocks of 4 convs) or the tiny one (3 of 3), pooled to [N, C]."""
    tiny = not g.has("dense3/conv0/bias")
    n_blocks = n_convs = 3 if tiny else 4
    for i in range(n_blocks):
        x = dense_block(g, x, f"dense{i}", n_convs, first=i == 0)
    return flatten(g, pool(g, "AveragePool", x, 14 if tiny else 7, 2))


def face_processor(g: Graph, out: str | None = None) -> str:
    """Shared body of the landmark and expression nets: features → fc logits."""
    features = feature_extractor(g, image_input(g, DLIB_MEAN_RGB, 255.0))
    return dense(g, features, g.take("fc/weights"), g.take("fc/bias"), out)


def build_landmarks(g: Graph) -> list[tuple[str, list]]:
    """The 68 points, and the pooled features they are read from (head pose reads those too:
    they see the face's shading, which the points alone do not carry)."""
    features = feature_extractor(g, image_input(g, DLIB_MEAN_RGB, 255.0))
    g.op("Identity", features, out="features")
    weights = g.take("fc/weights")
    dense(g, features, weights, g.take("fc/bias"), "landmarks")
    return [("landmarks", ["N", 136]), ("features", ["N", weights.shape[0]])]


def build_expression(g: Graph) -> list[tuple[str, list]]:
    g.op("Softmax", face_processor(g), out="expressions", axis=1)
    return [("expressions", ["N", len(EXPRESSIONS)])]


def reduction_block(g: Graph, x: str, prefix: str, activate_input: bool = True) -> str:
    out = relu(g, x) if activate_input else x
    out = separable(g, out, f"{prefix}/separable_conv0")
    out = separable(g, relu(g, out), f"{prefix}/separable_conv1")
    out = pool(g, "MaxPool", out, 3, 2, "SAME")
    shortcut = conv(g, x, g.take(f"{prefix}/expansion_conv/filters"),
                    g.take(f"{prefix}/expansion_conv/bias"), 2)
    return add(g, out, shortcut)


def main_block(g: Graph, x: str, prefix: str) -> str:
    out = x
    for i in range(3):
        out = separable(g, relu(g, out), f"{prefix}/separable_conv{i}")
    return add(g, out, x)


def build_age_gender(g: Graph) -> list[tuple[str, list]]:
    """TinyXception(2 main blocks) → 7x7 average pool → age regression + gender softmax; the
    pooled 512 are a third output, ``features`` (the age and gender head reads them)."""
    x = image_input(g, DLIB_MEAN_RGB, 255.0)
    x = relu(g, conv(g, x, g.take("entry_flow/conv_in/filters"),
                     g.take("entry_flow/conv_in/bias"), 2))
    x = reduction_block(g, x, "entry_flow/reduction_block_0", activate_input=False)
    x = reduction_block(g, x, "entry_flow/reduction_block_1")
    i = 0
    while g.has(f"middle_flow/main_block_{i}/separable_conv0/bias"):
        x = main_block(g, x, f"middle_flow/main_block_{i}")
        i += 1
    x = reduction_block(g, x, "exit_flow/reduction_block")
    x = relu(g, separable(g, x, "exit_flow/separable_conv"))
    pooled = flatten(g, pool(g, "AveragePool", x, 7, 2))
    age = dense(g, pooled, g.take("fc/age/weights"), g.take("fc/age/bias"))
    g.op("Reshape", age, g.const(np.array([-1], np.int64)), out="age")
    gender = dense(g, pooled, g.take("fc/gender/weights"), g.take("fc/gender/bias"))
    g.op("Softmax", gender, out="gender", axis=1)
    g.op("Identity", pooled, out="features")
    return [("age", ["N"]), ("gender", ["N", 2]), ("features", ["N", 512])]


def scaled_conv(g: Graph, x: str, prefix: str, stride: int, padding: str,
                with_relu: bool) -> str:
    """face_recognition's convLayer: conv + bias, scale layer (x * w + b) folded in."""
    filters, bias = fold_affine(g.take(f"{prefix}/conv/filters"), g.take(f"{prefix}/conv/bias"),
                                g.take(f"{prefix}/scale/weights"),
                                g.take(f"{prefix}/scale/biases"))
    out = conv(g, x, filters, bias, stride, padding)
    return relu(g, out) if with_relu else out


def residual(g: Graph, x: str, prefix: str) -> str:
    out = scaled_conv(g, x, f"{prefix}/conv1", 1, "SAME", True)
    out = scaled_conv(g, out, f"{prefix}/conv2", 1, "SAME", False)
    return relu(g, add(g, out, x))


def residual_down(g: Graph, x: str, prefix: str, size: int) -> tuple[str, int]:
    """Stride-2 residual; the shortcut is a 2x2 average pool zero-padded to the new channels.

    When the valid 3x3/2 conv comes out one smaller than the pooled shortcut (odd sizes),
    face-api appends a zero row and column to the conv output; so does this graph.
    """
    out = scaled_conv(g, x, f"{prefix}/conv1", 2, "VALID", True)
    out = scaled_conv(g, out, f"{prefix}/conv2", 1, "SAME", False)
    conv_size, pool_size = (size - 3) // 2 + 1, (size - 2) // 2 + 1
    if conv_size != pool_size:
        out = g.op("Pad", out, g.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)))
    shortcut = pool(g, "AveragePool", x, 2, 2)
    c_in = g.weights[f"{prefix}/conv1/conv/filters"].shape[2]
    c_out = g.weights[f"{prefix}/conv2/conv/filters"].shape[3]
    if c_in != c_out:
        pads = np.array([0, 0, 0, 0, 0, c_out - c_in, 0, 0], np.int64)
        shortcut = g.op("Pad", shortcut, g.const(pads))
    return relu(g, add(g, shortcut, out)), pool_size


def build_recognition(g: Graph) -> list[tuple[str, list]]:
    """ResNet-34-like dlib face descriptor net on a 150² input."""
    x = scaled_conv(g, image_input(g, DLIB_MEAN_RGB, 255.0), "conv32_down", 2, "VALID", True)
    x = pool(g, "MaxPool", x, 3, 2)
    size = ((150 - 7) // 2 + 1 - 3) // 2 + 1
    stages = [("conv32", 3, False), ("conv64", 3, True), ("conv128", 2, True),
              ("conv256", 2, True)]
    for stage, n_plain, down in stages:
        if down:
            x, size = residual_down(g, x, f"{stage}_down", size)
        for i in range(1, n_plain + 1):
            x = residual(g, x, f"{stage}_{i}")
    x, _ = residual_down(g, x, "conv256_down_out", size)
    pooled = g.op("ReduceMean", x, axes=[2, 3], keepdims=0)
    g.op("MatMul", pooled, g.const(g.take("fc"), "fc_w"), out="descriptor")
    g.op("Flatten", x, out="features", axis=1)
    return [("descriptor", ["N", 128]), ("features", ["N", 1024])]


def ssd_pointwise(g: Graph, x: str, prefix: str, stride: int = 1) -> str:
    """SSD's pointwiseConvLayer (despite the name, 3x3 for some): conv + bn offset, relu6."""
    return relu6(g, conv(g, x, g.take(f"{prefix}/weights"),
                         g.take(f"{prefix}/convolution_bn_offset"), stride))


def ssd_depthwise(g: Graph, x: str, prefix: str, stride: int) -> str:
    """Depthwise conv + batch norm (folded), relu6."""
    scale = g.take(f"{prefix}/BatchNorm/gamma").astype(np.float64) / np.sqrt(
        g.take(f"{prefix}/BatchNorm/moving_variance").astype(np.float64) + SSD_BN_EPSILON)
    shift = g.take(f"{prefix}/BatchNorm/beta") - g.take(f"{prefix}/BatchNorm/moving_mean") * scale
    filters = g.take(f"{prefix}/depthwise_weights")
    filters, bias = fold_affine(filters, np.zeros(filters.shape[2], np.float32), scale, shift,
                                channel_axis=2)
    return relu6(g, depthwise(g, x, filters, bias, stride))


def box_predictor(g: Graph, x: str, idx: int) -> tuple[str, str]:
    """Per-cell box encodings [N, cells*anchors, 4] and class logits [N, cells*anchors, 3]."""
    prefix = f"Prediction/BoxPredictor_{idx}"
    results = []
    for head, width in (("BoxEncodingPredictor", 4), ("ClassPredictor", 3)):
        out = conv(g, x, g.take(f"{prefix}/{head}/weights"), g.take(f"{prefix}/{head}/biases"))
        nhwc = g.op("Transpose", out, perm=[0, 2, 3, 1])
        results.append(g.op("Reshape", nhwc, g.const(np.array([0, -1, width], np.int64))))
    return results[0], results[1]


def decode_ssd_boxes(g: Graph, encodings: str, anchors: np.ndarray) -> str:
    """face-api's decodeBoxesLayer, same float32 operation order, anchors precomputed."""
    anchors = anchors.reshape(-1, 4)
    sizes = (anchors[:, 2:] - anchors[:, :2]).astype(np.float32)
    centers = (anchors[:, :2] + sizes / np.float32(2)).astype(np.float32)

    def part(start: int) -> str:
        return g.op("Slice", encodings, g.const(np.array([start], np.int64)),
                    g.const(np.array([start + 2], np.int64)), g.const(np.array([2], np.int64)))

    sizes_c = g.const(sizes, "anchor_size")
    center = g.op("Add", g.op("Mul", g.op("Div", part(0), g.const(np.float32(10))), sizes_c),
                  g.const(centers, "anchor_center"))
    half = g.op("Div", g.op("Mul", g.op("Exp", g.op("Div", part(2), g.const(np.float32(5)))),
                            sizes_c), g.const(np.float32(2)))
    return g.op("Concat", g.op("Sub", center, half), g.op("Add", center, half), out="boxes",
                axis=2)


def build_ssd(g: Graph) -> list[tuple[str, list]]:
    """SSD MobileNetV1 face detector at 512²: decoded boxes + face scores, before NMS."""
    x = ssd_pointwise(g, image_input(g, None, 127.5, 1.0), "MobilenetV1/Conv2d_0_pointwise", 2)
    conv11 = ""
    for i in range(1, 14):
        x = ssd_depthwise(g, x, f"MobilenetV1/Conv2d_{i}_depthwise", 2 if i in (2, 4, 6, 12) else 1)
        x = ssd_pointwise(g, x, f"MobilenetV1/Conv2d_{i}_pointwise")
        if i == 11:
            conv11 = x
    features = [conv11, x]
    for i in range(8):
        x = ssd_pointwise(g, x, f"Prediction/Conv2d_{i}_pointwise", 2 if i % 2 else 1)
        if i % 2:
            features.append(x)
    heads = [box_predictor(g, f, i) for i, f in enumerate(features)]
    encodings = g.op("Concat", *(h[0] for h in heads), axis=1)
    logits = g.op("Concat", *(h[1] for h in heads), axis=1)
    decode_ssd_boxes(g, encodings, g.take("Output/extra_dim"))
    face = g.op("Gather", logits, g.const(np.array(1, np.int64)), axis=2)
    g.op("Sigmoid", face, out="scores")
    return [("boxes", ["N", 5118, 4]), ("scores", ["N", 5118])]


def build_tiny_detector(g: Graph) -> list[tuple[str, list]]:
    """Tiny YOLOv2 with separable convs (TinyFaceDetector); raw grid, any input multiple of 32."""
    x = image_input(g, TINY_MEAN_RGB, 255.0)
    x = leaky(g, conv(g, x, g.take("conv0/filters"), g.take("conv0/bias"), 1, "VALID"))
    x = pool(g, "MaxPool", x, 2, 2, "SAME")
    for i in range(1, 6):
        x = leaky(g, separable(g, x, f"conv{i}", padding=1))
        x = pool(g, "MaxPool", x, 2, 2 if i < 5 else 1, "SAME")
    for i in (6, 7):  # absent from tiny_face_detector_model, present in tiny_yolov2 variants
        if g.has(f"conv{i}/bias"):
            x = leaky(g, separable(g, x, f"conv{i}", padding=1))
    x = conv(g, x, g.take("conv8/filters"), g.take("conv8/bias"), 1, "VALID")
    nhwc = g.op("Transpose", x, perm=[0, 2, 3, 1])
    anchors = len(TINY_ANCHORS)
    g.op("Reshape", nhwc, g.const(np.array([0, 0, 0, anchors, -1], np.int64)), out="grid")
    return [("grid", ["N", "G", "G", anchors, 5])]


# ---------------------------------------------------------------------------------------------
# Conversion


NETWORKS: dict[str, tuple[str, Callable[[Graph], list[tuple[str, list]]], int | None]] = {
    # name: (manifest stem in the package's model/, builder, fixed input side or None)
    "face_landmark_68": ("face_landmark_68_model", build_landmarks, 112),
    "age_gender": ("age_gender_model", build_age_gender, 112),
    "face_expression": ("face_expression_model", build_expression, 112),
    "ssd_mobilenetv1": ("ssd_mobilenetv1_model", build_ssd, SSD_SIZE),
    "face_recognition": ("face_recognition_model", build_recognition, 150),
    "face_landmark_68_tiny": ("face_landmark_68_tiny_model", build_landmarks, 112),
    "tiny_face_detector": ("tiny_face_detector_model", build_tiny_detector, None),
}
# Float tensors of the SSD manifest left over from its TF graph; face-api ignores them too.
IGNORED = frozenset({"Preprocessor/mul/x", "Preprocessor/sub/y"})
TINY_CHECK_SIZE = 416  # face-api's default inputSize, used when checking the dynamic graph


def build(package_dir: Path, name: str) -> onnx.ModelProto:
    """The ONNX model of network ``name`` from the package's weights."""
    stem, builder, size = NETWORKS[name]
    g = Graph(load_weights(package_dir / "model" / f"{stem}-weights_manifest.json"))
    outputs = builder(g)
    return g.model(name, size, outputs, IGNORED)


def check(path: Path, batch: int = 2) -> dict[str, tuple[int, ...]]:
    """onnx.checker, then one ORT run on a random batch; returns the output shapes."""
    onnx.checker.check_model(str(path), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    side = sess.get_inputs()[0].shape[1]
    side = side if isinstance(side, int) else TINY_CHECK_SIZE
    x = np.random.default_rng(0).uniform(0, 255, (batch, side, side, 3)).astype(np.float32)
    shapes = {}
    for meta, value in zip(sess.get_outputs(), sess.run(None, {"input": x}), strict=True):
        if value.shape[0] != batch or not np.isfinite(value).all():
            raise ValueError(f"{path}: bad output {meta.name} {value.shape}")
        shapes[meta.name] = value.shape
    return shapes


def convert(package_dir: Path, out_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Write ``out_dir/<name>.onnx`` for each network (all by default), checked; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(NETWORKS):
        path = out_dir / f"{name}.onnx"
        onnx.save(build(package_dir, name), path)
        check(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path,
                        help="extracted @vladmandic/face-api package (holds model/)")
    parser.add_argument("--out", type=Path, default=Path("build/models"))
    parser.add_argument("--names", nargs="+", choices=list(NETWORKS), default=None)
    args = parser.parse_args()
    for path in convert(args.package_dir, args.out, args.names):
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
