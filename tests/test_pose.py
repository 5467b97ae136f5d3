"""Head pose signs: mirroring flips yaw and roll, rotating the photo changes roll by as much."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photos import mirror, rotate

from rosto.pipeline import analyze


def pose(image):
    (face,) = analyze(image, ["pose"])
    return face["pose"]


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def portrait(request):
    return request.getfixturevalue(request.param)


def test_values_are_integer_degrees_in_range(portrait):
    p = pose(portrait)
    assert set(p) == {"x_roll", "y_pitch", "z_yaw"}
    assert all(isinstance(v, int) and -90 <= v <= 90 for v in p.values())


def test_mirroring_flips_yaw_and_roll(portrait):
    p, m = pose(portrait), pose(mirror(portrait))
    assert abs(p["z_yaw"] + m["z_yaw"]) <= 4
    assert abs(p["x_roll"] + m["x_roll"]) <= 4
    assert abs(p["y_pitch"] - m["y_pitch"]) <= 4


@pytest.mark.parametrize("degrees", [20, -20])
def test_rotating_the_photo_changes_roll_by_as_much(portrait, degrees):
    before, after = pose(portrait), pose(rotate(portrait, degrees))
    # The photo turned counter-clockwise: the head tilts towards the image's left (roll < 0).
    assert abs((after["x_roll"] - before["x_roll"]) + degrees) <= 5
    assert abs(after["z_yaw"] - before["z_yaw"]) <= 6


def test_landmarks_of_a_mirrored_photo_are_the_mirror_image(portrait):
    """Mirror averaging makes the 68 points of a flipped photo the flipped points, each point
    trading places with its mirror partner (the subject's right eye corner ↔ left)."""
    from rosto.analysis import Analysis
    from rosto.detection import detect
    from rosto.landmarks import MIRROR, landmarks68

    width = portrait.shape[1]
    direct = landmarks68(Analysis(portrait, detect(portrait)))[0]
    flipped_photo = np.ascontiguousarray(portrait[:, ::-1])
    flipped = landmarks68(Analysis(flipped_photo, detect(flipped_photo)))[0]
    back = flipped[MIRROR] * [-1, 1] + [width, 0]
    eye_distance = np.linalg.norm(direct[36] - direct[45])
    error = np.linalg.norm(back - direct, axis=1).mean() / eye_distance
    assert error < 0.03


def test_a_level_portrait_reads_level(portrait):
    """Both sitters face the camera: the seed's camera, centred on the photo rather than on the
    face, read them as looking 16–28° down."""
    p = pose(portrait)
    assert abs(p["y_pitch"]) <= 10 and abs(p["z_yaw"]) <= 10 and abs(p["x_roll"]) <= 8


@pytest.mark.parametrize("where", ["below", "right"])
def test_padding_the_photo_around_the_face_keeps_the_pose(portrait, where):
    """Pose is relative to the line of sight to the face, not to the photo's centre."""
    height, width = portrait.shape[:2]
    pad = {"below": (0, 2 * height, 0, 0), "right": (0, 0, 0, 2 * width)}[where]
    padded = cv2.copyMakeBorder(portrait, *pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    before, after = pose(portrait), pose(padded)
    assert all(abs(before[k] - after[k]) <= 8 for k in before), (before, after)



def test_landmark_net_features_of_a_mirrored_photo_keep_their_mean(portrait):
    """Pose reads the mean and the difference of the landmark net's pooled features of the crop
    and of its mirror image: for a flipped photo the two crops trade places, so the mean, which
    pitch leans on, stays (up to the detector's box moving by a pixel or two)."""
    from rosto.analysis import Analysis
    from rosto.detection import detect
    from rosto.landmarks import landmark_features

    def mean_features(photo):
        return landmark_features(Analysis(photo, detect(photo)))[0].mean(0)

    direct = mean_features(portrait)
    flipped = mean_features(np.ascontiguousarray(portrait[:, ::-1]))
    assert direct.shape == (256,)
    assert np.corrcoef(direct, flipped)[0, 1] > 0.99


def test_aflw_angle_order_round_trips_and_agrees_with_euler_when_level():
    """AFLW2000's x-y-z angles read back from their rotation; the two orders agree on a turn
    about one axis and nearly so on a face looking at the camera, but not on a turned, tilted
    face."""
    from rosto.headpose import aflw_euler, aflw_matrix, aflw_order

    for angles in ([10.0, -25.0, 60.0], [-40.0, 15.0, -75.0], [5.0, 0.0, 0.0]):
        assert np.allclose(aflw_euler(aflw_matrix(np.array(angles))), angles)
    for angles in ([0.0, 0.0, 50.0], [0.0, -20.0, 0.0], [30.0, 0.0, 0.0]):
        assert np.allclose(aflw_order(np.array(angles)), angles)
    assert np.allclose(aflw_order(np.array([3.0, 5.0, 4.0])), [3.0, 5.0, 4.0], atol=0.5)
    assert not np.allclose(aflw_order(np.array([20.0, 10.0, 60.0])), [20.0, 10.0, 60.0], atol=3)
