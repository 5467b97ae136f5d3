"""The face judge trained here (``face_judge.onnx``): real faces accepted at the sizes the second
look sees, mirrored too; textures and an eye of a large face turned down."""

from __future__ import annotations

import numpy as np
import pytest
from test_detection import faceless
from test_verifier import small_face_photo

from rosto import detection, verifier


@pytest.mark.parametrize("width", [24, 40, 90])
def test_real_faces_are_judged_faces(astronaut, grace_hopper, width):
    for portrait in (astronaut, grace_hopper):
        photo, box = small_face_photo(portrait, width)
        mirrored = np.ascontiguousarray(photo[:, ::-1])
        flipped_box = np.array([photo.shape[1] - box[2], box[1], photo.shape[1] - box[0], box[3]])
        scores = [verifier.judged(photo, box[None])[0],
                  verifier.judged(mirrored, flipped_box[None])[0]]  # fmt: skip
        assert min(scores) >= verifier.JUDGE


def test_textures_and_parts_of_a_face_are_not():
    """Boxes of 20-120 px all over a faceless photo (rocket and coffee): hardly any reaches the
    judge's bar; an eye of the astronaut's large face does not either."""
    photo = faceless((600, 800))
    rng = np.random.default_rng(0)
    sides = rng.uniform(20, 120, 200)
    corners = rng.uniform(0, 1, (200, 2)) * ([800, 600] - sides[:, None])
    boxes = np.concatenate([corners, corners + sides[:, None]], axis=1)
    assert (verifier.judged(photo, boxes) >= verifier.JUDGE).mean() < 0.02
    assert len(verifier.judged(photo, boxes[:0])) == 0


def test_an_eye_of_a_large_face_is_not_a_face(astronaut):
    (face,) = detection.detect(astronaut)
    width = face.box[2] - face.box[0]
    eye = np.concatenate([face.keypoints[0] - width / 8, face.keypoints[0] + width / 8])
    assert verifier.judged(astronaut, eye[None])[0] < 0.5
