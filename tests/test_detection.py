"""Detection of small faces in large photos: found, found once, nothing where there is no face.

Canvases are built from scikit-image's photos of things (no face in them) with the test
portraits pasted at known places and sizes; the label of a pasted face is the box the detector
gives on the full-size portrait, moved and scaled with it.
"""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import pytest
from photos import mirror

from bench.accuracy import iou
from bench.detection_data import face_patch
from rosto import detection, models, small_faces

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


def test_a_crowd_of_tiny_faces_is_found_without_false_ones(astronaut, grace_hopper):
    """49 faces 18-26 px wide over a 2-MP photo: most score under 0.4 in the fine pass and are
    kept by the second look (0.4 as the first threshold found 38 of them, 0.3 finds 45)."""
    canvas = faceless(TWO_MP)
    portraits = [astronaut, grace_hopper, mirror(astronaut), mirror(grace_hopper)]
    places = [(x, y) for y in range(100, 1100, 160) for x in range(100, 1500, 200)]
    boxes = [paste(canvas, portraits[k % 4], 18 + k % 5 * 2, at) for k, at in enumerate(places)]
    found = detection.detect(canvas)
    hits = matched(found, boxes)
    assert sum(n >= 1 for n in hits) >= 44
    assert max(hits) == 1 and len(found) == sum(hits)


def test_the_small_face_head_alone_proposes_the_tiny_crowd(astronaut, grace_hopper):
    """The head on the fine pass's stem features, its proposals through the strict second look
    and nothing else (no BlazeFace candidate): every proposal it ranks first (``MOST``) is one
    of the 49 faces of 18-26 px, and the look keeps them (all 20 with the shipped head)."""
    canvas = faceless(TWO_MP)
    portraits = [astronaut, grace_hopper, mirror(astronaut), mirror(grace_hopper)]
    places = [(x, y) for y in range(100, 1100, 160) for x in range(100, 1500, 200)]
    boxes = [paste(canvas, portraits[k % 4], 18 + k % 5 * 2, at) for k, at in enumerate(places)]
    scale, shape = detection.passes(*TWO_MP)[0]
    small = detection.resized(canvas, scale)
    ratio = np.divide(small.shape[1::-1], canvas.shape[1::-1])
    proposed, keypoints, scores = small_faces.proposals(detection.stem_features(small, shape))
    assert len(proposed) == small_faces.MOST
    assert all(max(iou(p / np.tile(ratio, 2), box) for box in boxes) >= 0.4 for p in proposed)
    found = detection.confirmed(canvas, [], None, (proposed / np.tile(ratio, 2), keypoints / ratio,
                                                   scores))  # fmt: skip
    hits = matched(found, boxes)
    assert sum(n >= 1 for n in hits) >= small_faces.MOST - 3
    assert max(hits) == 1 and len(found) == sum(hits)


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


def input_pixels(shape: tuple[int, int]) -> tuple[int, int]:
    """The detector's input pixels for a photo of ``shape``: in all, and in its largest input."""
    inputs = [
        rows * cols
        for _, tiled in detection.passes(*shape)
        for (_, rows), (_, cols) in detection.tiles(tiled)
    ]
    return sum(inputs), max(inputs)


def test_cost_grows_with_the_photo_and_is_capped():
    (vga, _), (two_mp, _), (twelve_mp, _) = map(input_pixels, [(480, 640), TWO_MP, (3000, 4000)])
    assert len(detection.passes(480, 640)) == 1
    assert vga < 0.4 * 480 * 640
    assert 4 * vga < two_mp <= twelve_mp <= 1.7 * detection.MAX_PIXELS


@pytest.mark.parametrize("shape", [TWO_MP, (3000, 4000), (4000, 3000), (2000, 12000), (40, 9000)])
def test_no_input_is_larger_than_one_tile(shape):
    """The fine pass's activations are those of one tile, however large or long the photo
    (strips are at least three overlaps high, so a wide one may pass the budget a little)."""
    _, largest = input_pixels(shape)
    assert largest <= 1.2 * detection.TILE_PIXELS


def test_the_stem_then_the_trunk_are_the_whole_detector(astronaut):
    batch = detection.network_input(cv2.resize(astronaut, (320, 256)), (256, 320))
    (features,) = models.run(detection.STEM, batch)
    split = models.run(detection.TRUNK, features)
    for part, whole in zip(split, models.run(detection.DETECTOR.model, batch), strict=True):
        np.testing.assert_allclose(part, whole, rtol=0, atol=1e-4)


@pytest.mark.parametrize("shape", [(736, 992), (96, 2624)])
def test_the_stem_in_pieces_is_the_stem_over_the_whole_input(shape, monkeypatch):
    """Pieces run with their margin join into exactly the features of one run over the whole
    input (small pieces here, so there are several along each side)."""
    monkeypatch.setattr(detection, "STEM_PIXELS", 96 * 256)
    monkeypatch.setattr(detection, "TILE_WIDTH", 1024)
    small = cv2.resize(faceless(TWO_MP), (shape[1] - 7, shape[0] - 5))  # padded like a pass's
    (whole,) = models.run(detection.STEM, detection.network_input(small, shape))
    np.testing.assert_array_equal(detection.stem_features(small, shape), whole)


def test_spans_cover_the_side_and_overlap():
    for length in range(32, 3000, 32):
        spans = detection.spans(length, 384)
        assert spans[0][0] == 0 and sum(spans[-1]) == length
        for (start, size), (following, _) in pairwise(spans):
            assert start % 32 == 0 and size % 32 == 0
            assert start + size - following >= detection.OVERLAP


def test_faces_across_tile_seams_are_found_once(astronaut, grace_hopper):
    """Faces of every size, centred on the seams between the fine pass's tiles: each is found
    once, whole (by the tile that holds it, or by the coarser pass when it is too wide)."""
    canvas = faceless(TWO_MP)
    (scale, shape), _ = detection.passes(*TWO_MP)
    tiles = detection.tiles(shape)
    rows = [row for row, _ in tiles]
    assert len(rows) >= 3 and len({column for _, column in tiles}) == 1
    seams = [(start + size + following) / 2 / scale
             for (start, size), (following, _) in pairwise(rows)]  # fmt: skip
    faces = [
        (astronaut, 28, 150, seams[0]),
        (grace_hopper, 60, 500, seams[1]),
        (mirror(astronaut), 110, 900, seams[0]),
        (mirror(grace_hopper), 170, 1350, seams[1]),  # wider than the overlap: the next pass's
    ]
    boxes = []
    for portrait, width, x, y in faces:
        (face,) = detection.detect(portrait)
        _, _, placed = face_patch(portrait, face.box, width)
        centre = (placed[:2] + placed[2:]) / 2  # of the face in its patch
        boxes.append(paste(canvas, portrait, width, (round(x - centre[0]), round(y - centre[1]))))
    found = detection.detect(canvas)
    assert matched(found, boxes) == [1] * len(boxes)
    assert len(found) == len(boxes)


def test_a_small_photo_runs_the_detector_once(astronaut):
    photo = cv2.resize(astronaut, (640, 480))
    before = models.run_counts.copy()
    assert len(detection.detect(photo)) == 1
    runs = models.run_counts - before
    assert runs["blazeface"] == 1  # the whole net at once: no small-face head on one strip
    # the second look's nets take its candidates in one batch each, and once more those that a
    # rejected candidate hid (one here, in the lower left)
    assert set(runs) <= {"blazeface", "mtcnn_rnet", "mtcnn_onet"} and max(runs.values()) <= 2


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
    """A 64 px grey crop of 1.2 face boxes (SMILEsmileD's kind): the passes alone find at most
    a box around part of the face (the second look drops the one BlazeFace gives); the bordered
    look finds the whole face."""
    chip = cv2.resize(astronaut[92:188, 177:273], (64, 64), interpolation=cv2.INTER_AREA)
    chip = cv2.cvtColor(cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    parts = detection.detect_all(chip)
    (face,) = detection.detect(chip)
    assert all(face.area >= detection.PART_OF_FACE * part.area for part in parts)
    assert iou(face.box, np.array([0, 0, 64, 64])) >= 0.6
