"""Detection of small faces in large photos: found, found once, nothing where there is no face.

Canvases are built from scikit-image's photos of things (no face in them) with the test
portraits pasted at known places and sizes; the label of a pasted face is the box the detector
gives on the full-size portrait, moved and scaled with it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photos import mirror

from bench.accuracy import iou
from bench.detection_data import face_patch
from rosto import detection, models

TWO_MP = (1224, 1632)


def faceless(shape: tuple[int, int]) -> np.ndarray:
    """A large photo with no face: scikit-image's rocket beside its coffee cup, upscaled."""
    from skimage import data

    height, width = shape
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:, : width // 2] = cv2.resize(data.rocket(), (width // 2, height))
    canvas[:, width // 2 :] = cv2.resize(data.coffee(), (width - width // 2, height))
    return canvas


def paste(canvas: np.ndarray, portrait: np.ndarray, width: int, at: tuple[int, int]) -> np.ndarray:
    """Paste the portrait's face (soft edge) so its detector box is ``width`` px wide with its
    patch's top-left corner at ``at``; returns the face's box in the canvas."""
    (face,) = detection.detect(portrait)
    patch, alpha, box = face_patch(portrait, face.box, width)
    x, y = at
    size = patch.shape[0]
    region = canvas[y : y + size, x : x + size].astype(np.float32)
    canvas[y : y + size, x : x + size] = (alpha * patch + (1 - alpha) * region).astype(np.uint8)
    return box + [x, y, x, y]


def matched(found: list, boxes: list[np.ndarray]) -> list[int]:
    """How many detections overlap each labelled box at IoU ≥ 0.4."""
    return [sum(iou(f.box, box) >= 0.4 for f in found) for box in boxes]


@pytest.fixture(scope="module")
def crowd(astronaut, grace_hopper) -> tuple[np.ndarray, list[np.ndarray]]:
    """A 2-MP photo with four small faces (24-60 px) spread over it."""
    canvas = faceless(TWO_MP)
    boxes = [
        paste(canvas, astronaut, 24, (200, 150)),
        paste(canvas, grace_hopper, 30, (1300, 300)),
        paste(canvas, mirror(astronaut), 40, (600, 900)),
        paste(canvas, mirror(grace_hopper), 60, (1100, 800)),
    ]
    return canvas, boxes


def test_small_faces_in_a_large_photo_are_each_found_once(crowd):
    canvas, boxes = crowd
    found = detection.detect(canvas)
    assert matched(found, boxes) == [1, 1, 1, 1]
    assert len(found) == len(boxes)


def test_the_old_single_pass_missed_them(crowd):
    """What this detector is for: the 256² thumbnail alone finds none of these faces."""
    canvas, boxes = crowd
    assert sum(matched(detection.detect_once(canvas), boxes)) <= 1


def test_a_large_face_seen_by_both_passes_is_one_face(astronaut):
    canvas = faceless(TWO_MP)
    box = paste(canvas, astronaut, 420, (500, 200))
    assert len(detection.passes(*TWO_MP)) == 2
    found = detection.detect(canvas)
    assert len(found) == 1
    assert iou(found[0].box, box) >= 0.5


def test_a_large_faceless_photo_has_no_face():
    assert detection.detect(faceless(TWO_MP)) == []


def test_cost_grows_with_the_photo_and_is_capped():
    def pixels(shape):
        return sum(h * w for _, (h, w) in detection.passes(*shape))

    vga, two_mp, twelve_mp = pixels((480, 640)), pixels(TWO_MP), pixels((3000, 4000))
    assert len(detection.passes(480, 640)) == 1
    assert vga < 0.4 * 480 * 640
    assert 4 * vga < two_mp <= twelve_mp <= detection.MAX_PIXELS + 256 * 256 + 100_000


def test_a_small_photo_runs_the_detector_once(astronaut):
    photo = cv2.resize(astronaut, (640, 480))
    before = models.run_counts.copy()
    assert len(detection.detect(photo)) == 1
    assert (models.run_counts - before) == {"blazeface": 1}


def test_shrunk_group_photos_keep_their_faces(shared_data):
    """AFW group photos shrunk until their smallest labelled face is 20-40 px, in a 2-MP frame."""
    from bench.detection_data import groups_small

    found = total = 0
    for sample in list(groups_small())[:10]:
        faces = detection.detect(sample.image)
        found += sum(n >= 1 for n in matched(faces, list(sample.boxes)))
        total += len(sample.boxes)
    assert found / total >= 0.95


@pytest.mark.parametrize("side", [48, 2400])
def test_a_tight_face_crop_of_any_size_is_found_once(astronaut, side):
    """Too tight for the passes alone, the crop is retried in a border (a large crop shrunk
    first, not copied at four times its size)."""
    chip = cv2.resize(astronaut[100:180, 185:265], (side, side))
    assert detection.detect_all(chip) == []
    (face,) = detection.detect(chip)
    assert iou(face.box, np.array([0, 0, side, side])) >= 0.4


def test_a_tight_grey_crop_seen_in_part_is_seen_whole(astronaut):
    """A 64 px grey crop of 1.2 face boxes (SMILEsmileD's kind): the passes alone find a box
    around part of the face; the bordered look finds the whole face, and it replaces it."""
    chip = cv2.resize(astronaut[92:188, 177:273], (64, 64), interpolation=cv2.INTER_AREA)
    chip = cv2.cvtColor(cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    (part,) = detection.detect_all(chip)
    (face,) = detection.detect(chip)
    assert face.area >= detection.PART_OF_FACE * part.area
    assert iou(face.box, np.array([0, 0, 64, 64])) >= 0.6
