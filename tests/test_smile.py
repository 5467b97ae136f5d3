"""smile: our head on the emotion graph's features, on package photos as portraits and as the
small grey tight crops (SMILEsmileD's kind) it was trained to read too."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rosto import detection, models
from rosto.pipeline import analyze
from rosto.training.data import small_grey


def tight_grey(image: np.ndarray, grow: float, side: int = 64) -> np.ndarray:
    """A ``side``² grey crop of the square ``grow`` detector boxes wide around the face."""
    box = detection.detect(image)[0].box
    centre, half = (box[:2] + box[2:]) / 2, grow * float(max(box[2:] - box[:2])) / 2
    left, top = np.maximum((centre - half).round().astype(int), 0)
    right, bottom = (centre + half).round().astype(int)
    crop = cv2.resize(image[top:bottom, left:right], (side, side), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def is_smiling(image: np.ndarray) -> bool:
    (face,) = analyze(image, ["smile"])
    assert 0.0 <= face["smile"]["probability"] <= 1.0
    assert face["smile"]["is_smiling"] is (face["smile"]["probability"] >= 0.5)
    return face["smile"]["is_smiling"]


@pytest.mark.parametrize("grow", [1.2, 1.5])
def test_a_smile_holds_on_a_64px_grey_tight_crop(astronaut, grace_hopper, grow):
    assert is_smiling(tight_grey(astronaut, grow)) is True
    assert is_smiling(tight_grey(grace_hopper, grow)) is False


def test_a_smile_holds_on_a_portrait_made_small_and_grey(astronaut, grace_hopper):
    for photo, smiling in ((astronaut, True), (grace_hopper, False)):
        assert is_smiling(small_grey(photo, detection.detect(photo)[0].box)) is smiling


def test_smile_reads_the_emotion_graph_once_for_all_faces(astronaut, grace_hopper):
    """No second pass over the faces: one emotion-graph run and one head run per request."""
    both = np.zeros((512, 1024, 3), np.uint8)
    both[:, :512], both[:, 512:] = astronaut, cv2.resize(grace_hopper, (512, 512))
    before = models.run_counts.copy()
    faces = analyze(both, ["smile"])
    assert len(faces) == 2
    counts = models.run_counts - before
    assert counts["expression"] == 1 and counts["smile"] == 1
    assert [f["smile"]["is_smiling"] for f in faces] in ([True, False], [False, True])
