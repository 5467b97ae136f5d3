"""The fine-pass detector's fine-tuning on synthetic data, in seconds: the warm start from an
exported graph computes that graph, and the tuning canvases keep their labels on their faces."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch", reason="training tests need the train extra (PyTorch)")

from rosto import cli, fine_faces  # noqa: E402
from rosto.training import fine_faces as recipe  # noqa: E402

SIDE = 64  # of the synthetic canvases
BRIGHT, DIM = 250, 140  # the left and right halves of a synthetic face


def random_net(seed: int) -> recipe.Net:
    """A Net with random weights and random batch-norm statistics and affine parameters, as a
    trained one has (fresh norms would fold into nothing)."""
    torch.manual_seed(seed)
    net = recipe.Net()
    for norm in net.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def test_warm_started_net_computes_the_exported_graph(tmp_path):
    path = tmp_path / "fine_faces.onnx"
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    recipe.export(random_net(0), image, path)
    calibration = torch.from_numpy(rng.uniform(-1, 1, (6, 3, 48, 64)).astype(np.float32))
    warm = recipe.warm_start(path, calibration)
    x = rng.uniform(-1, 1, (2, 3, 40, 56)).astype(np.float32)
    (graph,) = ort.InferenceSession(str(path)).run(None, {"input": x})
    with torch.no_grad():
        ours = recipe.Served(warm.eval())(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, graph, atol=1e-4)
    # in training mode the norms use the batch's statistics: on the calibration batch, the same
    with torch.no_grad():
        trained = recipe.Served(warm.train())(calibration).numpy()
        served = recipe.Served(warm.eval())(calibration).numpy()
    np.testing.assert_allclose(trained, served, atol=1e-3)


def test_warm_start_refuses_a_graph_of_another_shape(tmp_path):
    path = tmp_path / "other.onnx"
    recipe.export(recipe.Net(c3=48).eval(), np.zeros((32, 32, 3), np.uint8), path)
    with pytest.raises(ValueError, match="convolution"):
        recipe.warm_start(path, torch.zeros(1, 3, 32, 32))


def face_canvas(box: tuple[float, float, float, float], small: float = 0.0) -> dict:
    """A dark canvas with one face: its box BRIGHT on the left half, DIM on the right; the
    keypoints at set places of the box (right eye on the left). A ``small`` wide second face,
    when given, at the top left."""
    image = np.full((SIDE, SIDE, 3), 10, np.uint8)
    x0, y0, x1, y1 = (int(v) for v in box)
    image[y0:y1, x0 : (x0 + x1) // 2] = BRIGHT
    image[y0:y1, (x0 + x1) // 2 : x1] = DIM
    boxes = [box]
    if small:
        boxes.append((2, 2, 2 + small, 2 + small))
    boxes = np.array(boxes, np.float32)
    where = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.8], [0.1, 0.5], [0.9, 0.5]])
    sizes = boxes[:, 2:] - boxes[:, :2]
    keypoints = (boxes[:, None, :2] + where[None] * sizes[:, None]).astype(np.float32)
    return {"image": image, "boxes": boxes, "keypoints": keypoints,
            "ignore": np.zeros((0, 4), np.float32)}  # fmt: skip


def relative(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    return (points - box[:2]) / (box[2:] - box[:2])


def test_mosaic_halves_and_offsets_each_quarters_faces():
    quarters = [face_canvas((8 + 4 * k, 12, 40 + 4 * k, 44), small=8.0) for k in range(4)]
    made = recipe.mosaic(quarters, (SIDE, SIDE, 3))
    assert made["image"].shape == (SIDE, SIDE, 3) and made["image"].dtype == np.uint8
    assert len(made["boxes"]) == 4  # the 8 px faces are 4 px: narrower than the net's sizes
    assert len(made["ignore"]) == 4 and (made["ignore"][:, 2] - made["ignore"][:, 0] == 4).all()
    half = SIDE // 2
    for k, (box, points) in enumerate(zip(made["boxes"], made["keypoints"], strict=True)):
        offset = np.array([k % 2, k // 2]) * half
        np.testing.assert_allclose(box, quarters[k]["boxes"][0] / 2 + np.tile(offset, 2))
        np.testing.assert_allclose(points, quarters[k]["keypoints"][0] / 2 + offset)
        x0, y0, x1, y1 = box.round().astype(int)
        assert made["image"][y0 + 1 : y1 - 1, x0 + 1 : (x0 + x1) // 2 - 1].min() >= BRIGHT - 5


@pytest.mark.parametrize("mosaics", [0.0, 1.0])
def test_augmented_canvases_keep_labels_on_their_faces(mosaics):
    samples = [face_canvas((10 + 3 * k, 14, 50 + 3 * k, 54)) for k in range(4)]
    rng = np.random.default_rng(3)
    mirrored = 0
    for _ in range(20):
        made = recipe.augmented(samples[0], samples, mosaics, rng)
        grey = made["image"].astype(float).mean(axis=2)
        assert made["image"].shape == (SIDE, SIDE, 3) and made["image"].dtype == np.uint8
        assert len(made["boxes"]) == (4 if mosaics else 1)
        for box, points in zip(made["boxes"], made["keypoints"], strict=True):
            x0, y0, x1, y1 = box.round().astype(int)
            middle = (x0 + x1) // 2
            inner = grey[y0 + 2 : y1 - 2]
            left, right = inner[:, x0 + 2 : middle - 2], inner[:, middle + 2 : x1 - 2]
            flip = left.mean() < right.mean()  # the bright half on the right: mirrored
            mirrored += flip
            assert min(left.mean(), right.mean()) > 100  # the box lies on the face
            expected = relative(samples[0]["boxes"][0], samples[0]["keypoints"][0])
            if flip:  # mirrored: x from the other side, the subject's left and right swapped
                expected = expected[recipe.MIRRORED] * [-1, 1] + [1, 0]
            np.testing.assert_allclose(relative(box, points), expected, atol=1e-5)
        outside = np.ones_like(grey, dtype=bool)
        for x0, y0, x1, y1 in made["boxes"].round().astype(int):
            outside[y0 - 2 : y1 + 2, x0 - 2 : x1 + 2] = False
        assert grey[outside].mean() < 40  # no face outside the boxes
    assert 0 < mirrored < (80 if mosaics else 20)


@pytest.mark.parametrize("angle", [0.0, 15.0, -15.0])
def test_pasted_faces_keep_their_keypoints_and_centre_when_turned(angle):
    chip = np.full((80, 80, 3), 40, np.uint8)
    box = np.array([20, 20, 60, 60], np.float32)
    keypoints = np.array([[30, 34], [50, 34], [40, 42], [40, 52], [22, 40], [58, 40]], np.float32)
    for x, y in keypoints.astype(int):
        chip[y - 2 : y + 3, x - 2 : x + 3] = 255  # a bright dot on each keypoint
    rng = np.random.default_rng(0)
    for _ in range(6):  # mirrored or not, each light drawn
        canvas = np.zeros((200, 200, 3), np.float32)
        at = np.array([100.0, 90.0])
        placed, points = recipe.paste(canvas, chip, box, keypoints, 80, at, rng, angle)
        np.testing.assert_allclose((placed[:2] + placed[2:]) / 2, at, atol=1)
        np.testing.assert_allclose(placed[2:] - placed[:2], [80, 80], atol=1e-4)
        grey = canvas.mean(axis=2)
        for x, y in points.round().astype(int):
            assert grey[y - 1 : y + 2, x - 1 : x + 2].mean() > 2 * grey[80:100, 90:110].min()


def test_degraded_keeps_the_image_shape_and_draws_each_change():
    image = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    made = [recipe.degraded(image, rng) for _ in range(60)]
    assert all(m.shape == image.shape and m.dtype == np.uint8 for m in made)
    grey = sum((m[..., 0] == m[..., 1]).all() and (m[..., 1] == m[..., 2]).all() for m in made)
    untouched = sum((m == image).all() for m in made)
    assert 0 < grey < 30 and 10 < untouched < 50
    assert fine_faces.net_input(made[0]).shape == (1, 3, SIDE, SIDE)


def test_tune_from_is_refused_for_another_model_or_a_missing_file(tmp_path, capsys):
    graph = tmp_path / "fine_faces.onnx"
    graph.write_bytes(b"")
    for model, start in (("glasses", graph), ("fine_faces", tmp_path / "none.onnx")):
        argv = ["train", model, "--data", str(tmp_path), "--tune-from", str(start)]
        assert cli.main(argv) == 2
        assert "--tune-from needs fine_faces" in capsys.readouterr().err


def test_an_averaged_stage_holds_the_weighted_mean_of_both_graphs(tmp_path):
    start, tuned = tmp_path / "start.onnx", tmp_path / "tuned.onnx"
    image = np.zeros((32, 32, 3), np.uint8)
    recipe.export(random_net(0), image, start)
    recipe.export(random_net(1), image, tuned)
    begun, own = recipe.initializers(start), recipe.initializers(tuned)
    recipe.averaged(tuned, begun, 0.25)
    mixed = recipe.initializers(tuned)
    assert mixed.keys() == own.keys() and len(mixed) > 10
    for name, weight in mixed.items():
        np.testing.assert_allclose(weight, 0.25 * begun[name] + 0.75 * own[name], rtol=1e-6)
    x = np.zeros((1, 3, 32, 32), np.float32)
    (output,) = ort.InferenceSession(str(tuned)).run(None, {"input": x})
    assert output.shape[1] == fine_faces.OUTPUTS
    other = tmp_path / "other.onnx"
    recipe.export(recipe.Net(c3=48).eval(), image, other)
    with pytest.raises(ValueError, match="weight"):
        recipe.averaged(other, begun, 0.5)
