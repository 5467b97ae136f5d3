"""The expression sets' labels and splits: every source's names parse to the API's emotions,
and no person sits on both sides of a split."""

from __future__ import annotations

import numpy as np
import pytest

from rosto.features.emotion import EMOTIONS
from rosto.training import expressions
from tools import prepare_expressions as prep

LEGEND = """user.id,image,emotion
628,facial-expressions_2868588k.jpg,anger
dwdii,George_W_Bush_0012.jpg,HAPPINESS
dwdii,George_W_Bush_0013.jpg,contempt
302,Jayamadhuri_101.jpg,sadness
302,twice.jpg,fear
302,twice.jpg,neutral
"""


def test_web_photos_get_api_emotions_and_a_person():
    label = prep.web_labels(LEGEND)
    assert label("images/George_W_Bush_0012.jpg") == ("happy", "George_W_Bush")
    assert label("images/Jayamadhuri_101.jpg") == ("sad", "Jayamadhuri")
    # a stock photo is its own person; contempt and doubly-labelled photos are left out
    stock = "facial-expressions_2868588k"
    assert label(f"images/{stock}.jpg") == ("angry", stock)
    assert label("images/George_W_Bush_0013.jpg") is None
    assert label("images/twice.jpg") is None
    assert label("images/unlisted.jpg") is None


def test_posed_and_fer_names_parse():
    assert prep.taiwanese_label("Taiwanese/faces_256x256/0712f03.jpg") == ("fear", "tw07")
    assert prep.taiwanese_label("Taiwanese/faces_256x256/1201002.jpg") is None
    assert prep.ck_label("CK+48/sadness/S011_002_00000020.png") == ("sad", "S011")
    assert prep.ck_label("CK+48/contempt/S138_008_00000007.png") is None
    assert prep.fer_train_label("train/fear/Training_123.jpg") == ("fear", "Training_123")
    assert prep.fer_train_label("train/disgust/Training_123.jpg3.jpg") is None


def test_the_person_split_is_stable_and_about_a_third():
    people = [f"person_{i}" for i in range(3000)]
    dev = [p for p in people if prep.split_of(p) == "dev"]
    assert 0.30 < len(dev) / len(people) < 0.37
    assert all(prep.split_of(p) == "dev" for p in dev)


@pytest.mark.parametrize("name", [expressions.PHOTOS, *expressions.POSED])
def test_prepared_sets_keep_each_person_on_one_side(name):
    if not expressions.available(name):
        pytest.skip(f"{name} not prepared (python -m tools.prepare_expressions)")
    sides: dict[str, set[str]] = {}
    for split in ("train", "dev"):
        for _, emotion, person in expressions.cached(name, split):
            assert emotion in EMOTIONS
            sides.setdefault(person, set()).add(split)
    assert len(sides) > 20 and all(len(s) == 1 for s in sides.values())
    assert len(expressions.guard_version(name)) == 64


def test_the_shipped_graph_is_both_nets_and_the_head(tmp_path, astronaut):
    """``expression.onnx`` as exported: its answer is the PyTorch head's on the two nets'
    features, which it also gives (smile's head reads them), blended with its
    ``registry_mean``, the mean of the two registry nets run alone."""
    pytest.importorskip("torch", reason="training tests need the train extra (PyTorch)")
    import onnxruntime as ort
    import torch

    from rosto import models
    from rosto.analysis import Analysis
    from rosto.detection import detect
    from rosto.features.emotion import (
        FACE_API,
        FACE_API_ORDER,
        OARRIAGA,
        OARRIAGA_ORDER,
        expression_inputs,
    )
    from rosto.training import emotion
    from rosto.training.common import predict, seed_everything

    seed_everything(0)
    colour, grey = expression_inputs(Analysis(astronaut, detect(astronaut)[:1]))
    colour, grey = (np.concatenate([x, x[:, :, ::-1]]) for x in (colour, grey))
    features = emotion.net_features(colour, grey)
    head = emotion.Head(features[:, :512].mean(0), features[:, :512].std(0) + 1e-3)
    emotion.export(head, tmp_path / "expression.onnx")
    sess = ort.InferenceSession(str(tmp_path / "expression.onnx"))
    probs, mean, served = sess.run(None, {"colour": colour, "grey": grey})
    np.testing.assert_allclose(served, features[:, :512], rtol=1e-5, atol=1e-5)
    (fa,) = models.run(FACE_API, colour)
    (oa,) = models.run(OARRIAGA, grey)
    order = [[o.index(e) for e in EMOTIONS] for o in (FACE_API_ORDER, OARRIAGA_ORDER)]
    np.testing.assert_allclose(mean, (fa[:, order[0]] + oa[:, order[1]]) / 2, atol=1e-6)
    alone = torch.softmax(torch.from_numpy(predict(head, features[:, :512])), 1).numpy()
    np.testing.assert_allclose(probs, emotion.blend(alone, mean), atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert mean[0].argmax() == EMOTIONS.index("happy")  # the astronaut smiles
