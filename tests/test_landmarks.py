"""The landmark correction: applied to the points the API answers, and to nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from photos import mirror

from rosto.alignment import squares
from rosto.analysis import Analysis
from rosto.detection import detect
from rosto.features.landmarks import GROUPS
from rosto.landmarks import (
    MIRROR,
    YAW_FULL,
    YAW_NONE,
    aligned_boxes,
    answer_points,
    corrected,
    landmark_boxes,
    landmarks68,
)
from rosto.pipeline import analyze


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def portrait(request):
    return request.getfixturevalue(request.param)


def eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[36] - points[45]))


def test_the_answer_is_the_corrected_points_near_the_nets(portrait):
    """The correction moves points by a few percent of the eye distance (300-W's conventions:
    the eyebrows, the nose bridge, the chin), never far; the answer carries the corrected
    points, rounded, and the eye centres of the corrected eyes."""
    analysis = Analysis(portrait, detect(portrait))
    net, fixed = landmarks68(analysis)[0], answer_points(analysis)[0]
    shift = np.linalg.norm(fixed - net, axis=1) / eye_distance(net)
    assert 0.005 < shift.mean() < 0.06 and shift.max() < 0.15
    (face,) = analyze(portrait, ["landmarks"])
    answer = face["landmarks"]
    for name, idx in GROUPS.items():
        got = np.array([[p["x"], p["y"]] for p in answer[name]])
        assert np.abs(got - fixed[idx]).max() <= 0.5 + 1e-6, name
    eye = np.array([answer["right_eye_center"]["x"], answer["right_eye_center"]["y"]])
    assert np.abs(eye - fixed[36:42].mean(0)).max() <= 0.5 + 1e-6


def test_other_features_keep_the_nets_points(astronaut):
    """Every other consumer was trained on the net's own points: asking for the answer's points
    leaves ``landmarks68`` and the aligned rect built from it as they were."""
    plain = Analysis(astronaut, detect(astronaut))
    asked = Analysis(astronaut, detect(astronaut))
    answer_points(asked)
    assert np.array_equal(landmarks68(plain), landmarks68(asked))
    assert np.array_equal(aligned_boxes(plain), aligned_boxes(asked))
    assert not np.allclose(answer_points(asked), landmarks68(asked), atol=0.5)


def test_the_correction_of_a_mirrored_photo_is_mirrored(astronaut):
    """Fitted on photos and their mirror images: the corrected points of the mirrored portrait
    are the mirror of the portrait's (up to the detector's slightly different box)."""
    direct = answer_points(Analysis(astronaut, detect(astronaut)))[0]
    flipped_photo = mirror(astronaut)
    flipped = answer_points(Analysis(flipped_photo, detect(flipped_photo)))[0]
    back = flipped[MIRROR] * [-1, 1] + [astronaut.shape[1] - 1, 0]
    assert np.linalg.norm(back - direct, axis=1).mean() < 0.02 * eye_distance(direct)


def test_the_correction_fades_out_on_turned_faces(astronaut):
    """Full up to YAW_FULL, none past YAW_NONE (it never saw faces turned further)."""
    analysis = Analysis(astronaut, detect(astronaut))
    left, top, side = squares(landmark_boxes(analysis.faces[0].box[None]))[0]
    crop = (landmarks68(analysis)[:1] - [left, top]) / side
    full = corrected(crop, np.array([YAW_FULL]))
    half = corrected(crop, np.array([-(YAW_FULL + YAW_NONE) / 2]))
    assert np.array_equal(corrected(crop, np.array([YAW_NONE + 1])), crop)
    assert np.abs(full - crop).max() > 1e-3
    assert np.allclose(half - crop, (full - crop) / 2)
