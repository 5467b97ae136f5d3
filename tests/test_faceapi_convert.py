"""Unit tests of the face-api → ONNX converter: dequantisation, layer builders vs numpy
references of face-api's TF semantics, and the preprocessing reference. No package needed."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from tools.convert import faceapi as fa
from tools.parity_faceapi import crop_box, landmarks_in_image, pad_to_square, tf_resize_bilinear

RNG = np.random.default_rng(0)


def rand(*shape: int, scale: float = 0.5) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# --- numpy references of the TF ops face-api uses (NHWC, HWIO filters) ------------------------


def tf_pad(x: np.ndarray, k: int, stride: int, padding: str) -> np.ndarray:
    if padding == "VALID":
        return x
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        pads.append((total // 2, total - total // 2))  # TF: the extra pixel goes at the end
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def tf_conv(x, w, stride=1, padding="SAME", depthwise=False):
    k = w.shape[0]
    x = tf_pad(x.astype(np.float64), k, stride, padding)
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = 0.0
    for i in range(k):
        for j in range(w.shape[1]):
            patch = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
            out = out + (patch * w[i, j, :, 0] if depthwise else patch @ w[i, j])
    return out


def tf_separable(x, p, prefix, stride=1):
    out = tf_conv(x, p[f"{prefix}/depthwise_filter"], stride, depthwise=True)
    return tf_conv(out, p[f"{prefix}/pointwise_filter"]) + p[f"{prefix}/bias"]


def relu(x):
    return np.maximum(x, 0)


def tf_dense_block(x, p, prefix, first):
    """face-api's denseBlock4, transcribed."""
    if first:
        entry = tf_conv(x, p[f"{prefix}/conv0/filters"], 2) + p[f"{prefix}/conv0/bias"]
    else:
        entry = tf_separable(x, p, f"{prefix}/conv0", 2)
    out1 = relu(entry)
    out2 = tf_separable(out1, p, f"{prefix}/conv1")
    out3 = tf_separable(relu(out1 + out2), p, f"{prefix}/conv2")
    out4 = tf_separable(relu(out1 + out2 + out3), p, f"{prefix}/conv3")
    return relu(out1 + out2 + out3 + out4)


def separable_params(prefix: str, c_in: int, c_out: int) -> dict[str, np.ndarray]:
    return {f"{prefix}/depthwise_filter": rand(3, 3, c_in, 1),
            f"{prefix}/pointwise_filter": rand(1, 1, c_in, c_out),
            f"{prefix}/bias": rand(c_out)}


def dense_block_params(prefix: str, c_in: int, c_out: int, first: bool) -> dict[str, np.ndarray]:
    p = ({f"{prefix}/conv0/filters": rand(3, 3, c_in, c_out), f"{prefix}/conv0/bias": rand(c_out)}
         if first else separable_params(f"{prefix}/conv0", c_in, c_out))
    for i in range(1, 4):
        p |= separable_params(f"{prefix}/conv{i}", c_out, c_out)
    return p


def run_graph(g: fa.Graph, output: str, x: np.ndarray) -> np.ndarray:
    """Run a test graph on ``x`` (input shape left free: tests use any channel count)."""
    model = g.model("test", None, [(output, None)])
    model.graph.input[0].type.tensor_type.ClearField("shape")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def run_layer(weights, layer, x: np.ndarray) -> np.ndarray:
    """input (NHWC) → NCHW → layer → NHWC output."""
    g = fa.Graph(weights)
    out = layer(g, g.op("Transpose", "input", perm=[0, 3, 1, 2]))
    g.op("Transpose", out, perm=[0, 2, 3, 1], out="y")
    return run_graph(g, "y", x)


# --- weights ----------------------------------------------------------------------------------


def test_dequantise_uint8_is_tfjs_affine_in_double():
    q = np.array([0, 1, 128, 255], np.uint8)
    quant = {"dtype": "uint8", "scale": 0.004853619781194949, "min": -0.5872879935245888}
    got = fa.dequantise(q.tobytes(), "float32", [2, 2], quant)
    expected = (q.astype(np.float64) * quant["scale"] + quant["min"]).astype(np.float32)
    assert got.dtype == np.float32 and got.shape == (2, 2)
    np.testing.assert_array_equal(got.ravel(), expected)


def test_dequantise_int32_rounds_and_float32_passes_through():
    ints = fa.dequantise(bytes([0, 2]), "int32", [2], {"dtype": "uint8", "scale": 0.5, "min": 0})
    np.testing.assert_array_equal(ints, [0, 1])  # 1.0 → 1 (JS Math.round)
    raw = np.array([1.5, -2.25], "<f4")
    np.testing.assert_array_equal(fa.dequantise(raw.tobytes(), "float32", [2], None), raw)


def test_load_weights_walks_the_manifest_in_order(tmp_path):
    a = np.arange(6, dtype=np.uint8)
    b = np.array([0.5, 1.5], "<f4")
    (tmp_path / "m.bin").write_bytes(a.tobytes() + b.tobytes())
    manifest = [{"paths": ["m.bin"], "weights": [
        {"name": "a", "shape": [2, 3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 2.0, "min": -1.0}},
        {"name": "b", "shape": [2], "dtype": "float32"}]}]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    weights = fa.load_weights(tmp_path / "m.json")
    np.testing.assert_array_equal(weights["a"], (a * 2.0 - 1.0).reshape(2, 3))
    np.testing.assert_array_equal(weights["b"], b)
    (tmp_path / "m.bin").write_bytes(a.tobytes() + b.tobytes() + b"\0")
    with pytest.raises(ValueError, match="trailing"):
        fa.load_weights(tmp_path / "m.json")


def test_unused_weights_fail_the_build():
    g = fa.Graph({"forgotten": rand(3)})
    g.op("Identity", "input", out="y")
    with pytest.raises(ValueError, match="forgotten"):
        g.model("t", 4, [("y", None)])


# --- layer builders vs TF semantics ----------------------------------------------------------


@pytest.mark.parametrize("size,stride,padding", [(8, 2, "SAME"), (7, 2, "SAME"), (7, 1, "SAME"),
                                                 (9, 2, "VALID")])
def test_conv_matches_tf_padding(size, stride, padding):
    x, w, b = rand(2, size, size, 3, scale=50), rand(3, 3, 3, 5), rand(5)
    got = run_layer({}, lambda g, t: fa.conv(g, t, w, b, stride, padding), x)
    np.testing.assert_allclose(got, tf_conv(x, w, stride, padding) + b, rtol=1e-5, atol=1e-4)


def test_separable_conv_matches_tf():
    p = separable_params("s", 4, 6)
    x = rand(2, 7, 7, 4)
    got = run_layer(p, lambda g, t: fa.separable(g, t, "s", 2), x)
    np.testing.assert_allclose(got, tf_separable(x, p, "s", 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("first", [True, False])
def test_dense_block_matches_face_api(first):
    c_in = 3 if first else 4
    p = dense_block_params("dense0", c_in, 6, first)
    x = rand(2, 8, 8, c_in)
    got = run_layer(p, lambda g, t: fa.dense_block(g, t, "dense0", 4, first), x)
    np.testing.assert_allclose(got, tf_dense_block(x, p, "dense0", first), rtol=1e-5, atol=1e-5)


def test_landmark_net_end_to_end_with_random_weights():
    """Whole face_landmark_68 composition (tiny channels) vs a numpy transcription of face-api,
    raw 0..255 NHWC input, batch 2."""
    chans = [3, 4, 6, 8, 10]
    p = {}
    for i in range(4):
        p |= dense_block_params(f"dense{i}", chans[i], chans[i + 1], first=i == 0)
    p |= {"fc/weights": rand(10, 136), "fc/bias": rand(136)}
    g = fa.Graph(p)
    model = g.model("lm", 112, fa.build_landmarks(g))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.uniform(0, 255, (2, 112, 112, 3)).astype(np.float32)
    got = sess.run(None, {"input": x})[0]

    out = (x - np.array(fa.DLIB_MEAN_RGB, np.float32)) / 255
    for i in range(4):
        out = tf_dense_block(out, p, f"dense{i}", first=i == 0)
    expected = out.mean(axis=(1, 2)) @ p["fc/weights"] + p["fc/bias"]  # 7x7 → 1x1 avg pool
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_fold_affine_equals_conv_then_scale():
    x, w, b, s, t = rand(1, 6, 6, 3), rand(3, 3, 3, 4), rand(4), rand(4), rand(4)
    fw, fb = fa.fold_affine(w, b, s, t)
    np.testing.assert_allclose(tf_conv(x, fw) + fb, (tf_conv(x, w) + b) * s + t, atol=1e-5)
    dw = rand(3, 3, 3, 1)
    fdw, fdb = fa.fold_affine(dw, np.zeros(3, np.float32), s[:3], t[:3], channel_axis=2)
    np.testing.assert_allclose(tf_conv(x, fdw, depthwise=True) + fdb,
                               tf_conv(x, dw, depthwise=True) * s[:3] + t[:3], atol=1e-5)


def test_residual_down_pads_conv_output_and_shortcut_channels():
    """face_recognition's residualDown at an even size (conv 3 vs pool 4: zero row/col appended
    to the conv output) and with channel growth (shortcut zero-padded)."""
    c_in, c_out, size = 2, 4, 8
    p = {}
    for conv, ci in (("conv1", c_in), ("conv2", c_out)):
        p |= {f"r/{conv}/conv/filters": rand(3, 3, ci, c_out), f"r/{conv}/conv/bias": rand(c_out),
              f"r/{conv}/scale/weights": rand(c_out), f"r/{conv}/scale/biases": rand(c_out)}
    x = rand(1, size, size, c_in)
    got = run_layer(p, lambda g, t: fa.residual_down(g, t, "r", size)[0], x)

    def layer(v, conv, stride, padding):
        q = f"r/{conv}"
        out = tf_conv(v, p[f"{q}/conv/filters"], stride, padding) + p[f"{q}/conv/bias"]
        return out * p[f"{q}/scale/weights"] + p[f"{q}/scale/biases"]

    out = layer(relu(layer(x, "conv1", 2, "VALID")), "conv2", 1, "SAME")
    out = np.pad(out, [(0, 0), (0, 1), (0, 1), (0, 0)])
    pooled = x.reshape(1, 4, 2, 4, 2, c_in).mean(axis=(2, 4))
    pooled = np.concatenate([pooled, np.zeros_like(pooled)], axis=3)
    np.testing.assert_allclose(got, relu(pooled + out), rtol=1e-5, atol=1e-5)


def test_ssd_box_decode_matches_face_api():
    anchors = np.sort(RNG.uniform(0, 1, (5, 2, 2)), axis=1).reshape(5, 4)[:, [0, 2, 1, 3]]
    anchors = anchors.astype(np.float32)  # (ymin, xmin, ymax, xmax)
    enc = rand(2, 5, 4)
    g = fa.Graph({})
    fa.decode_ssd_boxes(g, "input", anchors)
    got = run_graph(g, "boxes", enc)
    size = anchors[:, 2:] - anchors[:, :2]
    center = anchors[:, :2] + size / 2 + enc[..., :2] / 10 * size
    half = np.exp(enc[..., 2:] / 5) * size / 2
    np.testing.assert_allclose(got, np.concatenate([center - half, center + half], -1),
                               rtol=1e-6, atol=1e-6)


def test_input_normalisation_in_graph_and_dynamic_batch():
    for batch in (1, 3):
        x = RNG.uniform(0, 255, (batch, 4, 4, 3)).astype(np.float32)
        got = run_layer({}, lambda g, t: fa.image_input(g, fa.DLIB_MEAN_RGB, 255.0), x)
        expected = (x - np.array(fa.DLIB_MEAN_RGB, np.float32)) / np.float32(255)
        np.testing.assert_array_equal(got, expected)


# --- preprocessing reference (tools.parity_faceapi) ------------------------------------------


def test_pad_to_square_centred_puts_extra_pixel_after():
    img = np.ones((5, 2, 3), np.float32)
    out = pad_to_square(img, centre=True)
    assert out.shape == (5, 5, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 1, 0, 0])  # 1 before, 2 after
    np.testing.assert_array_equal(pad_to_square(img, centre=False)[0, :, 0], [1, 1, 0, 0, 0])


def test_tf_resize_bilinear_uses_asymmetric_sampling():
    img = np.arange(4, dtype=np.float32).reshape(1, 4, 1).repeat(2, axis=0)
    np.testing.assert_array_equal(tf_resize_bilinear(img, 2)[0, :, 0], [0, 2])  # src = 0, 2
    np.testing.assert_array_equal(tf_resize_bilinear(img[:, :2], 4)[0, :, 0], [0, 0.5, 1, 1])


def test_crop_box_clips_then_floors():
    img = np.arange(10 * 10).reshape(10, 10, 1)
    crop = crop_box(img, (-2.5, 3.7, 6.0, 20.0))
    assert crop.shape == (6, 3, 1)  # x: 0..3.5 → w 3; y: 3.7 → 3, h min(20, 6.3) → 6
    assert crop[0, 0, 0] == 30


def test_landmarks_map_back_through_centred_padding():
    # crop 40 wide x 80 high: square side 80, 20 px of padding on the left
    values = np.tile([0.5, 0.25], 68)
    pts = landmarks_in_image(values, (100.0, 200.0, 40.0, 80.0), (80, 40, 3))
    np.testing.assert_allclose(pts[0], [100 + 0.5 * 80 - 20, 200 + 0.25 * 80])
