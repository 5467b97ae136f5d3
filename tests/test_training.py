"""The training code on tiny synthetic data, in seconds: no real model is trained here."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort
import pytest
from conftest import encode

from rosto import cli
from rosto.training import data


def test_without_torch_training_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert cli.main(["train", "glasses", "--data", str(tmp_path)]) == 2
    assert "pip install 'rosto[train]'" in capsys.readouterr().err


def test_utkface_split_keeps_a_minute_of_crops_on_one_side():
    minute = [f"{age}_0_0_201701121315{second:02d}123.jpg.chip.jpg" for age, second in
              [(3, 0), (40, 17), (71, 59)]]  # fmt: skip
    assert len({data.utkface_split_of(n) for n in minute}) == 1
    stamps = [f"30_1_2_2017011{d}{h:02d}{m:02d}00000.jpg.chip.jpg" for d in range(3)
              for h in range(24) for m in range(0, 60, 3)]  # fmt: skip
    dev = sum(data.utkface_split_of(n) == "dev" for n in stamps) / len(stamps)
    assert 0.17 < dev < 0.23


def test_dev_split_is_stable_and_one_in_five():
    names = [f"{i:06d}.jpg" for i in range(3000)]
    dev = [n for n in names if data.split_of(n) == "dev"]
    assert 0.17 < len(dev) / len(names) < 0.23
    assert all(data.split_of(n) == "dev" for n in dev)


def test_aflw_folds_are_stable_halves():
    names = [f"image{i:05d}.jpg" for i in range(4000)]
    train = {n for n in names if data.aflw_split_of(n) == "train"}
    assert 0.45 < len(train) / len(names) < 0.55
    assert all(data.aflw_split_of(n) == "train" for n in train)  # the same name, the same fold


def test_aflw_folds_split_the_pose_faces_in_two(shared_data):
    from bench import detection_data

    folds = {split: {path for path, _, _ in data.aflw(split, shared_data)} for split in data.SPLITS}
    assert not folds["train"] & folds["dev"]
    assert len(folds["train"] | folds["dev"]) == 400  # pose/'s faces within ±99°
    assert 180 <= len(folds["dev"]) <= 220
    pasted = {o.split()[1] for _, _, o in detection_data.face_sources() if o.startswith("AFLW")}
    assert pasted == {path.stem for path in folds["dev"]}


def test_lfw_people_sit_on_one_side_of_the_split(shared_data):
    sides: dict[str, set[str]] = {}
    for split in data.SPLITS:
        for image, _, dataset in data.hair(split, shared_data):
            if dataset == "lfw":
                sides.setdefault(image.stem.rsplit("_", 1)[0], set()).add(split)
    assert len(sides) > 100 and all(len(s) == 1 for s in sides.values())


torch = pytest.importorskip("torch", reason="training tests need the train extra (PyTorch)")

from rosto.training import age_gender, ethnicity, glasses, goggles, hair  # noqa: E402
from rosto.training.common import export_onnx, fit, predict, seed_everything  # noqa: E402
from rosto.training.faces import extract  # noqa: E402


def onnx_matches_torch(module: torch.nn.Module, example: np.ndarray, path) -> np.ndarray:
    """Export, run a batch of 1 and of 3 with ONNX Runtime, compare with PyTorch."""
    export_onnx(module, example[:1], path, ["probabilities"])
    sess = ort.InferenceSession(str(path))
    for batch in (example[:1], example):
        (got,) = sess.run(None, {"input": batch})
        np.testing.assert_allclose(got, predict(module, batch), atol=1e-4)
    return got


@pytest.mark.parametrize(
    "exported, shape",
    [
        (lambda: ethnicity.Exported(ethnicity.Head(np.zeros(128), np.ones(128))), (3, 128)),
        (lambda: glasses.Exported(glasses.GlassesNet()), (3, 48, 96, 3)),
        (lambda: hair.Exported(hair.HairNet()), (3, 128, 128, 3)),
    ],
    ids=["ethnicity", "glasses", "hair"],
)
def test_exported_graphs_match_torch_with_a_dynamic_batch(tmp_path, exported, shape):
    seed_everything(0)
    example = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    out = onnx_matches_torch(exported(), example, tmp_path / "m.onnx")
    assert out.shape[0] == 3 and (out >= 0).all() and (out <= 1).all()
    if out.ndim == 2:
        np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-5)


def test_age_gender_graph_gives_years_and_gender_with_a_dynamic_batch(tmp_path):
    seed_everything(0)
    x = np.random.default_rng(0).normal(0, 1, (3, 64)).astype(np.float32)
    model = age_gender.Exported(age_gender.Head(np.zeros(64), np.ones(64), hidden=16))
    export_onnx(model, x[:1], tmp_path / "m.onnx", ["age", "gender"])
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    for batch in (x[:1], x):
        age, gender = sess.run(None, {"input": batch})
        want_age, want_gender = age_gender.predict_both(model, batch)
        np.testing.assert_allclose(age, want_age, atol=1e-3)
        np.testing.assert_allclose(gender, want_gender, atol=1e-5)
    assert age.shape == (3,) and ((age >= 0) & (age <= age_gender.AGES - 1)).all()
    np.testing.assert_allclose(gender.sum(axis=1), 1, atol=1e-5)


def test_fused_graph_averages_the_two_heads_then_blends_with_face_api(tmp_path):
    seed_everything(0)
    width = age_gender.WIDTHS[-1]
    x = np.random.default_rng(0).normal(0, 1, (3, width + 3)).astype(np.float32)
    x[:, width:] = [[40.0, 0.9, 0.1], [8.0, 0.2, 0.8], [70.0, 0.6, 0.4]]  # face-api's answers
    heads = [age_gender.Exported(age_gender.Head(np.zeros(w), np.ones(w), hidden=8))
             for w in age_gender.WIDTHS]  # fmt: skip
    fused = age_gender.Fused(heads, 0.5, 0.25, stretch=0.1, shift=1.0)
    export_onnx(fused, x[:1], tmp_path / "m.onnx", ["age", "gender"])
    age, gender = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})
    head_age, head_gender = age_gender.heads_answers(heads, x[:, :width])
    want = 0.5 * head_age + 0.5 * x[:, width]
    np.testing.assert_allclose(age, want + 0.1 * (want - age_gender.PIVOT) + 1.0, atol=1e-3)
    np.testing.assert_allclose(gender, 0.25 * head_gender + 0.75 * x[:, width + 1 :], atol=1e-5)


def test_soft_age_targets_peak_at_the_label_and_widen_with_age():
    targets = age_gender.soft_targets(np.array([2, 70]))
    assert targets.argmax(1).tolist() == [2, 70]
    np.testing.assert_allclose(targets.sum(1), 1, atol=1e-6)
    assert targets[0].max() > 2 * targets[1].max()


def test_balanced_sampling_gives_every_group_the_same_weight():
    rows = [{"age": "30", "race": "white", "gender": "male"}] * 90
    rows += [{"age": "70", "race": "indian", "gender": "female"}] * 10
    w = age_gender.sample_weights(rows)
    assert abs(w[:90].sum() - 0.5) < 1e-9 and abs(w[90:].sum() - 0.5) < 1e-9


def test_age_gender_head_learns_a_synthetic_task_in_seconds():
    rng = seed_everything(0)
    ages = rng.integers(1, 90, 400)
    x = (ages[:, None] / 30.0 + rng.normal(0, 0.05, (400, 8))).astype(np.float32)
    x[:, 0] = ages % 2  # the "gender" cue
    rows = [{"age": str(a), "race": "white", "gender": ("male", "female")[a % 2]} for a in ages]
    model = age_gender.fit_head(x, rows, rng, epochs=40)
    age, gender = age_gender.predict_both(model, x)
    assert np.abs(age - ages).mean() < 8 and (gender.argmax(1) == ages % 2).mean() > 0.95


def test_blend_with_face_api_is_chosen_on_out_of_fold_answers():
    ages = np.repeat([5, 16, 30, 50, 70], 8)
    rows = [{"age": str(a), "race": r, "gender": g, "file": f"{a}_0_0_2016010112{i:02d}00000.jpg"}
            for i, (a, r, g) in enumerate(zip(ages, ["asian", "black", "indian", "white"] * 10,
                                              ["male", "female"] * 20, strict=True))]  # fmt: skip
    male = np.array([r["gender"] == "male" for r in rows], dtype=np.float32)
    head_age, head_gender = ages.astype(np.float32), np.stack([1 - male, male], 1)  # always wrong
    faceapi = np.stack([ages + 10.0, male, 1 - male], 1)  # 10 years old, gender always right
    (age_w, gender_w, stretch, shift), _ = age_gender.choose(head_age, head_gender, faceapi, rows)
    # all of the exact head's age; of the face-api shares that are all right, the nearest 0.5
    assert (age_w, gender_w, stretch) == (1.0, 0.4, 0.0) and abs(shift) < 1e-6
    assert {age_gender.fold_of(r) for r in rows} == {0, 1}
    same_minute = [{**rows[0], "file": "1_0_0_20160101120059999.jpg.chip.jpg"}, rows[0]]
    assert len({age_gender.fold_of(r) for r in same_minute}) == 1


def synthetic_regions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Skin-toned eye regions (source size), half with a dark frame across the eye line."""
    h, w = 60, glasses.SOURCE_WIDTH
    x = rng.normal(170, 20, (n, h, w, 3)).clip(0, 255)
    y = np.arange(n) % 2 * glasses.GLASSES
    x[y == glasses.GLASSES, 20:34, 20:100] = rng.uniform(10, 50)
    return x.astype(np.uint8), y


def test_glasses_recipe_learns_a_synthetic_task_in_seconds():
    rng = seed_everything(0)
    x, y = synthetic_regions(96, rng)
    net = glasses.GlassesNet(widths=(8, 16))
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def batches(rng):
        order = rng.permutation(len(x))
        for i in range(3):
            idx = torch.from_numpy(order[i * 32 : (i + 1) * 32])
            yield glasses.augment(inputs[idx], rng), targets[idx]

    fit(net, batches, torch.nn.functional.cross_entropy, epochs=6, steps=3, lr=1e-2, rng=rng,
        desc="test")  # fmt: skip
    x_test, y_test = synthetic_regions(40, np.random.default_rng(1))
    assert (predict(net, glasses.centre(x_test)).argmax(1) == y_test).mean() >= 0.9


def test_glasses_augment_keeps_size_and_range():
    x, _ = synthetic_regions(4, np.random.default_rng(0))
    out = glasses.augment(torch.from_numpy(x), np.random.default_rng(0))
    assert out.shape == (4, 48, 96, 3) and out.min() >= 0 and out.max() <= 255


def test_hair_augment_moves_image_and_mask_together():
    size = hair.SOURCE
    image = np.zeros((2, size, size, 3), np.uint8)
    mask = np.zeros((2, size, size), np.float32)
    image[:, 30:90, 50:120, 0] = 255
    mask[:, 30:90, 50:120] = 1
    out, out_mask = hair.augment(torch.from_numpy(image), torch.from_numpy(mask),
                                 np.random.default_rng(3))  # fmt: skip
    side = hair.INPUT
    assert out.shape == (2, side, side, 3) and out_mask.shape == (2, side, side)
    red = (out[..., 0] > 60) & (out[..., 1] < 60)
    agree = (red == (out_mask > 0.5)).float().mean()
    assert agree > 0.97 and (out_mask > 0.5).any()


def test_hair_loss_prefers_the_right_mask():
    mask = torch.zeros(1, 16, 16)
    mask[:, 4:12, 4:12] = 1
    right, wrong = (mask * 2 - 1) * 5, (1 - mask * 2) * 5
    assert hair.loss_fn(right, mask) < 0.1 < hair.loss_fn(wrong, mask)


def test_drawn_goggles_cover_the_eyes_and_reach_the_edges():
    crop = np.full((60, glasses.SOURCE_WIDTH, 3), 180, np.uint8)
    one = goggles.draw(crop, glasses.EXTENT, np.random.default_rng(5))
    again = goggles.draw(crop, glasses.EXTENT, np.random.default_rng(5))
    np.testing.assert_array_equal(one, again)
    (right, left), _ = goggles.eye_positions(crop.shape[1], glasses.EXTENT)
    changed = np.abs(one.astype(int) - crop).sum(axis=2) > 30
    for x, y in (right, left):
        assert changed[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3].mean() > 0.8
    eye_rows = slice(int(right[1]) - 6, int(right[1]) + 6)
    assert changed[eye_rows, :2].any() and changed[eye_rows, -2:].any()  # the strap
    assert not changed[-8:].any()  # nothing drawn below the eyes' band


def test_extract_keeps_found_faces_and_caches(tmp_path, monkeypatch, astronaut):
    monkeypatch.setenv("ROSTO_TRAINING_CACHE", str(tmp_path / "cache"))
    face, blank = tmp_path / "face.jpg", tmp_path / "blank.jpg"
    face.write_bytes(encode(astronaut))
    blank.write_bytes(encode(np.full((200, 200, 3), 90, np.uint8)))

    def boxes(analysis):
        return {"box": np.stack([f.box for f in analysis.faces])}

    arrays = extract("t", [face, blank], boxes)
    assert arrays["found"].tolist() == [True, False] and arrays["box"].shape == (1, 4)

    def fails(_):
        raise AssertionError("the cache should have answered")

    np.testing.assert_array_equal(extract("t", [face, blank], fails)["box"], arrays["box"])
