"""The face judge's training, its cheap parts: labels by overlap, jittered and random boxes,
balanced weights, the second look's candidates recorded (and the verifier put back), the net's
input and output as the verifier feeds it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need the train extra (PyTorch)")

from test_verifier import small_face_photo  # noqa: E402

from rosto import verifier  # noqa: E402
from rosto.training import face_judge  # noqa: E402


def test_labels_by_overlap():
    faces = np.array([[100.0, 100, 150, 150]])
    boxes = np.array([[102.0, 101, 151, 149], [120, 120, 170, 170], [300, 300, 350, 350]])
    assert face_judge.labels(boxes, faces).tolist() == [1, -1, 0]
    assert face_judge.labels(boxes, faces[:0]).tolist() == [0, 0, 0]


def test_jittered_and_random_boxes_stay_near():
    rng = np.random.default_rng(0)
    faces = np.array([[100.0, 100, 150, 150], [10, 20, 40, 50]])
    copies = face_judge.jittered(faces, 5, rng)
    assert copies.shape == (10, 4)
    assert (verifier.overlaps(copies, faces).max(axis=1) >= 0.45).all()
    squares = face_judge.random_boxes((480, 640), 50, rng)
    sides = squares[:, 2:] - squares[:, :2]
    assert np.allclose(sides[:, 0], sides[:, 1]) and (sides >= 16).all()
    assert (squares[:, :2] >= 0).all() and (squares[:, 2] <= 640).all()


def test_weights_balance_faces_and_not():
    marks = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    weights = face_judge.balanced(marks)
    assert weights[marks == 1].sum() == pytest.approx(weights[marks == 0].sum())


def test_recorded_candidates_are_the_second_looks_and_put_back(astronaut):
    verify = verifier.verify
    photo, box = small_face_photo(astronaut, 30)
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[: photo.shape[0], : photo.shape[1]] = photo
    boxes = face_judge.proposals(canvas)
    assert verifier.verify is verify
    assert len(boxes) and verifier.overlaps(box[None], boxes).max() >= 0.5


def test_the_net_takes_crops_as_the_verifier_makes_them():
    crops = np.zeros((3, face_judge.SIDE, face_judge.SIDE, 3), np.float32)
    out = face_judge.Served(face_judge.Net().eval())(torch.from_numpy(crops))
    assert out.shape == (3,) and ((out >= 0) & (out <= 1)).all()
