"""Detection of small faces in large photos: found, found once, nothing where there is no face.

Canvases are built from scikit-image's photos of things (no face in them) with the test
portraits pasted at known places and sizes; the label of a pasted face is the box the detector
gives on the full-size portrait, moved and scaled with it.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from photos import mirror

from bench.accuracy import iou
from bench.detection_data import face_patch
from rosto import analysis, detection, fine_faces, models, verifier

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


def test_the_fine_pass_net_decodes_a_peak_and_nothing():
    """A map with no cell over the threshold gives no candidate (a faceless photo: a bare
    wall); one peak gives its box, from the cell's centre, offset and size (log units), and
    its neighbours' boxes weigh in by their scores."""
    output = np.zeros((1, fine_faces.OUTPUTS, 20, 24), np.float32)
    boxes, keypoints, scores = fine_faces.decode(output)
    assert boxes.shape == (0, 4) and keypoints.shape == (0, 6, 2) and scores.shape == (0,)
    output[0, 0, 5, 6] = 0.9  # cell centre (26, 22) in input pixels
    output[0, 1, 5, 6] = 0.25  # centre 4 px to the right
    output[0, 3:5, 5, 6] = np.log(2)  # 32 px wide and tall
    boxes, keypoints, scores = fine_faces.decode(output)
    assert np.allclose(boxes, [[14, 6, 46, 38]]) and np.allclose(scores, [0.9])
    output[0, 0, 5, 7] = 0.3  # a neighbour under the peak, its box 4 px further right
    output[0, 1, 5, 7] = 0.25
    output[0, 3:5, 5, 7] = np.log(2)
    boxes, _, _ = fine_faces.decode(output)
    assert np.allclose(boxes, [[14 + 4 * 0.3 / 1.2, 6, 46 + 4 * 0.3 / 1.2, 38]])


def test_weak_net_candidates_are_taken_while_the_extra_budget_lasts():
    """Peaks under THRESHOLD but from LOW are candidates too, the best EXTRA of them; sure
    ones all are (up to MOST)."""
    output = np.zeros((1, fine_faces.OUTPUTS, 40, 40), np.float32)
    weak = np.linspace(fine_faces.LOW, fine_faces.THRESHOLD - 0.01, fine_faces.EXTRA + 5)
    for k, value in enumerate(weak):  # peaks 3 cells apart: none is another's neighbour
        output[0, 0, 3 * (k // 10) + 1, 3 * (k % 10) + 1] = value
    output[0, 0, 30, 30] = fine_faces.THRESHOLD + 0.1
    output[0, 0, 30, 35] = fine_faces.LOW - 0.01
    _, _, scores = fine_faces.decode(output)
    assert len(scores) == 1 + fine_faces.EXTRA
    assert np.allclose(scores, [fine_faces.THRESHOLD + 0.1, *weak[::-1][: fine_faces.EXTRA]])


def test_the_weak_candidates_grow_with_a_fused_maps_input():
    """Where the net reads the photo mirrored, its weak candidates are one per
    MIRRORED_EXTRA_PIXELS of its input (~150 in a 2-MP photo); a single read (a 640×480 photo
    read above SCALE) gives EXTRA, from THRESHOLD rather than MIRRORED_THRESHOLD."""
    small = [np.zeros((h, w, 3), np.uint8) for h, w in [(300, 400), (612, 816)]]
    assert fine_faces.extra_of(small[0], mirror=False) == fine_faces.EXTRA
    assert fine_faces.extra_of(small[1], mirror=True) == 142
    assert fine_faces.threshold_of(False) == fine_faces.THRESHOLD > fine_faces.MIRRORED_THRESHOLD


def test_the_fine_pass_net_alone_finds_the_tiny_crowd(astronaut, grace_hopper):
    """The fine-pass net on the photo at half size, nothing else: a candidate of its own at
    IoU ≥ 0.4 on nearly every one of the 49 faces of 18-26 px, and its sure candidates
    (``verifier.SURE_ENOUGH``, kept without a second look) are all faces."""
    canvas = faceless(TWO_MP)
    portraits = [astronaut, grace_hopper, mirror(astronaut), mirror(grace_hopper)]
    places = [(x, y) for y in range(100, 1100, 160) for x in range(100, 1500, 200)]
    boxes = [paste(canvas, portraits[k % 4], 18 + k % 5 * 2, at) for k, at in enumerate(places)]
    assert detection.uses_net(*TWO_MP)
    scale = fine_faces.scale_for(*TWO_MP)
    found, keypoints, scores = fine_faces.detections(detection.resized(canvas, scale))
    found /= scale
    hits = [max(iou(f, box) for f in found) >= 0.4 for box in boxes]
    assert sum(hits) >= 45
    sure = found[scores >= verifier.SURE_ENOUGH]
    assert all(max(iou(f, box) for box in boxes) >= 0.4 for f in sure)
    assert keypoints.shape == (len(found), 6, 2)


def test_the_mirrored_read_is_flipped_back_onto_the_photo(crowd):
    """The fine-pass net reads the photo mirrored too (``fine_faces.fused``): the mirror's score
    map, flipped back, peaks on the faces where the photo's own does, and the mirrored photo's
    candidates are the photo's, mirrored, with the same scores (its width a multiple of 8: no
    padding moves)."""
    canvas, boxes = crowd
    scale = fine_faces.scale_for(*canvas.shape[:2])
    small = detection.resized(canvas, scale)
    assert small.shape[1] % fine_faces.MULTIPLE == 0
    batch = fine_faces.net_input(small)
    assert np.array_equal(fine_faces.mirrored(batch), batch[..., ::-1])
    (own,) = models.run(fine_faces.MODEL, batch)
    (mirror,) = models.run(fine_faces.MODEL, fine_faces.mirrored(batch))
    back = mirror[0, 0, :, ::-1]
    for box in boxes:
        col, row = ((box[:2] + box[2:]) / 2 * scale // fine_faces.STRIDE).astype(int)
        near = np.s_[row - 1 : row + 2, col - 1 : col + 2]
        assert own[0, 0][near].max() >= 0.5 and back[near].max() >= 0.5
    found, _, scores = fine_faces.detections(small)
    flipped, _, flipped_scores = fine_faces.detections(np.ascontiguousarray(small[:, ::-1]))
    flipped[:, [0, 2]] = small.shape[1] - flipped[:, [2, 0]]
    for box in boxes:
        faces = [max(range(len(f)), key=lambda i: iou(f[i], box * scale)) for f in (found, flipped)]
        assert iou(found[faces[0]], box * scale) >= 0.4
        assert iou(flipped[faces[1]], box * scale) >= 0.4
        assert np.isclose(scores[faces[0]], flipped_scores[faces[1]], atol=1e-4)


def test_blazefaces_pass_beside_the_net_gives_the_answers_in_turn(crowd, monkeypatch):
    """From 640×480 up BlazeFace's pass runs in the background thread beside the fine-pass
    net's (``analysis.ahead``): the same faces, bit for bit, as when it runs in turn."""
    passes = []

    def recorded(*args):
        passes.append(threading.current_thread().name)
        return in_turn_pass(*args)

    in_turn_pass = detection.blazeface_pass
    monkeypatch.setattr(detection, "blazeface_pass", recorded)
    # A pool of its own: other tests' background steps may still hold the shared one's threads.
    monkeypatch.setattr(analysis, "_background", ThreadPoolExecutor(1, thread_name_prefix="bg"))
    canvas, _ = crowd
    beside = detection.detect(canvas)
    analysis.set_compute_ahead(False)
    try:
        in_turn = detection.detect(canvas)
    finally:
        analysis.set_compute_ahead(True)
    assert passes[0].startswith("bg") and passes[1] == threading.current_thread().name
    assert len(beside) == len(in_turn) == 4
    for a, b in zip(beside, in_turn, strict=True):
        assert np.array_equal(a.box, b.box) and np.array_equal(a.keypoints, b.keypoints)
        assert a.score == b.score


def test_the_old_single_pass_missed_them(crowd):
    """What this detector is for: the 256² thumbnail alone finds none of these faces."""
    canvas, boxes = crowd
    assert sum(matched(detection.detect_once(canvas), boxes)) <= 1


@pytest.mark.parametrize("width", [100, 480])
def test_a_large_face_seen_by_both_passes_is_one_face(astronaut, width):
    """A face the fine-pass net and BlazeFace's coarse pass both see (100 px), or BlazeFace
    alone (480 px: its 0.3 pass sees it wider than ``CLOSE``, so the 256² thumbnail runs too
    and its box answers)."""
    canvas = faceless(TWO_MP)
    box = paste(canvas, astronaut, width, (500, 200))
    assert detection.uses_net(*TWO_MP)
    before = models.run_counts["blazeface"]
    found = detection.detect(canvas)
    scale, _ = detection.blazeface_plan(*TWO_MP)
    assert models.run_counts["blazeface"] - before == (2 if width * scale > detection.CLOSE else 1)
    assert len(found) == 1
    assert iou(found[0].box, box) >= 0.5


@pytest.mark.parametrize("width", [110, 140])
def test_the_quarter_pass_hands_over_to_the_net(astronaut, grace_hopper, width):
    """From 1.5 MP BlazeFace's pass is at a quarter of the photo (half the net's copy), and
    faces at the hand-over (the net answers for refined boxes up to 144 px of a 2-MP photo,
    BlazeFace there from 96 px) are found, each once; under 1.5 MP the pass stays at 0.3."""
    assert detection.blazeface_plan(*TWO_MP)[0] == pytest.approx(0.25)
    assert detection.blazeface_plan(1000, 1200)[0] == pytest.approx(0.3)
    canvas = faceless(TWO_MP)
    boxes = [paste(canvas, astronaut, width, (300, 250)),
             paste(canvas, mirror(grace_hopper), width, (1100, 700))]  # fmt: skip
    assert matched(detection.detect(canvas), boxes) == [1, 1]


def test_a_large_faceless_photo_has_no_face():
    assert detection.detect(faceless(TWO_MP)) == []


def input_pixels(shape: tuple[int, int]) -> tuple[int, int]:
    """The detectors' input pixels for a photo of ``shape``: in all, and in the largest input."""
    _, (rows, cols) = detection.blazeface_plan(*shape)
    inputs = [rows * cols]
    if detection.uses_net(*shape):
        scale = fine_faces.scale_for(*shape)
        inputs.append(round(shape[0] * scale) * round(shape[1] * scale))
    return sum(inputs), max(inputs)


def test_cost_grows_with_the_photo_and_is_capped():
    (vga, _), (two_mp, _), (twelve_mp, _) = map(input_pixels, [(480, 640), TWO_MP, (3000, 4000)])
    assert detection.uses_net(480, 640)
    assert not detection.uses_net(375, 500)
    assert vga < 0.5 * 480 * 640  # the net's read at 0.625 (0.39 of the photo), BlazeFace's at 0.3
    assert 4 * vga < two_mp <= twelve_mp <= 1.6 * fine_faces.MAX_PIXELS


@pytest.mark.parametrize("shape", [TWO_MP, (3000, 4000), (4000, 3000), (2000, 12000), (40, 9000)])
def test_no_input_is_larger_than_its_cap(shape):
    """The activations are bounded however large or long the photo: the net's input and each
    BlazeFace pass's are capped."""
    _, largest = input_pixels(shape)
    assert largest <= max(fine_faces.MAX_PIXELS, detection.ONE_PASS)


@pytest.mark.parametrize("shape", [(480, 640), (375, 500)])
def test_a_photo_runs_each_detector_once(astronaut, shape):
    """640×480: the fine-pass net (one read: above SCALE) and BlazeFace's coarser pass once each;
    500×375: BlazeFace's fine pass alone. The second look's nets take the candidates in
    one batch each: R-Net's refinement of the net's boxes, the look, and once more those a
    rejected candidate hid; O-Net the look and those R-Net stopped, each once more at the boxes
    its regression moved."""
    photo = cv2.resize(astronaut, shape[::-1])
    before = models.run_counts.copy()
    assert len(detection.detect(photo)) == 1
    runs = models.run_counts - before
    net = detection.uses_net(*shape)
    assert runs["blazeface"] == 1 and runs["fine_faces"] == net
    assert set(runs) <= {"blazeface", "fine_faces", "mtcnn_rnet", "mtcnn_onet"}
    assert runs["mtcnn_rnet"] <= 2 + net and runs["mtcnn_onet"] <= 2 + 2 * net


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


def test_benchmark_counts_recall_by_head_pose() -> None:
    """bench.detection's score says which pasted faces were found, by source and yaw: a box
    matching at IoU ≥ 0.4 counts, one beside the face does not, and the table prints both."""
    from bench import detection as bench_detection
    from bench.detection_data import Sample

    labels = np.array([[0, 0, 40, 40], [100, 0, 140, 40], [200, 0, 240, 40], [300, 0, 340, 40]])
    origins = ("HELEN a.jpg", "AFLW x yaw -12 pitch 3", "AFLW y yaw 45 pitch 0",
               "AFLW z yaw -75 pitch 9")  # fmt: skip
    found = np.array([[2, 2, 42, 42], [100, 0, 140, 40], [220, 0, 260, 40]], dtype=float)
    sample = Sample("synthetic 640x480 #0", np.zeros((48, 400, 3), np.uint8), labels, True,
                    origins)  # fmt: skip
    result = bench_detection.score(lambda _: found, [sample])
    assert result["recall by pose"] == {"HELEN": [1, 1], "AFLW yaw < 30°": [1, 1],
                                        "AFLW yaw 30-60°": [0, 1], "AFLW yaw ≥ 60°": [0, 1]}
    assert result["recall"] == 0.5 and result["precision"] == 2 / 3
    json.dumps(result)  # the benchmark writes it
    table = bench_detection.pose_table({"sets": {"synthetic 640×480": {"shipped": result}}})
    row = "| synthetic 640×480 | shipped | 1.000 (1/1) | 1.000 (1/1) | 0.000 (0/1) | 0.000 (0/1) |"
    assert row in table


def test_benchmark_leaves_out_faces_under_the_smallest_width() -> None:
    """bench.detection's score with ``smallest``: a labelled face narrower than it counts
    neither as a face nor, when found, as a false box; a box on no face is one."""
    from bench import detection as bench_detection
    from bench.detection_data import Sample

    labels = np.array([[0, 0, 40, 40], [100, 0, 115, 15]])
    found = np.array([[2, 2, 42, 42], [100, 0, 115, 15], [200, 0, 240, 40]], dtype=float)
    sample = Sample("shrunk", np.zeros((48, 300, 3), np.uint8), labels, True)
    every = bench_detection.score(lambda _: found, [sample])
    assert (every["faces"], every["found"], every["false boxes"]) == (2, 2, 1)
    wide = bench_detection.score(lambda _: found, [sample], smallest=20)
    assert (wide["faces"], wide["found"], wide["false boxes"]) == (1, 1, 1)


def test_seeds_benchmark_sums_its_sets(shared_data) -> None:
    """bench.detection_seeds on one seed's smallest sets: counts per set and seed, their totals,
    and the table naming the seeds under 0.97; the shrunk set's labels shrink with the photo."""
    from bench import detection_seeds

    result = detection_seeds.run([11], count=1, scales=[0.5])
    assert set(result["totals"]) == {"2MP", "640x480", "2MP ×0.5"}
    for name, total in result["totals"].items():
        assert total == result["per seed"][name][11]
        assert 0 <= total["found"] <= total["faces"]
    assert result["totals"]["2MP"]["faces"] >= result["totals"]["2MP ×0.5"]["faces"] > 0
    assert "| 2MP ×0.5 |" in detection_seeds.table(result)
