"""The detector's second look (MTCNN's R-Net and O-Net): real faces kept at the sizes the fine
pass leaves unsure, textures dropped, sure faces not looked at; and the converted nets agree
with facenet-pytorch's own modules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_detection import faceless, paste

from bench.accuracy import iou
from rosto import detection, models, verifier
from rosto.verifier import area_of
from tools.sources import CACHE, SOURCES


def small_face_photo(portrait: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The portrait shrunk so its BlazeFace box is ``width`` px wide, and that box (the single
    256² pass's: the candidates the verifier's rules were chosen on)."""
    (face,) = detection.detect_once(portrait)
    scale = width / (face.box[2] - face.box[0])
    small = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return small, face.box * scale


@pytest.mark.parametrize("width", [22, 30, 45])
def test_small_real_faces_pass_both_nets(astronaut, grace_hopper, width):
    for portrait in (astronaut, grace_hopper):
        photo, box = small_face_photo(portrait, width)
        boxes = box[None]
        assert verifier.run("mtcnn_rnet", photo, boxes, 24)[0][0] >= verifier.GATE
        assert verifier.run("mtcnn_onet", photo, boxes, 48)[0][0] >= verifier.FACE
        kept, moved = verifier.verify(photo, boxes, np.array([verifier.UNSURE]))
        assert kept[0] and (moved == boxes).all()


@pytest.mark.parametrize("width", [24, 30, 40])
def test_a_loose_box_is_moved_onto_the_face(astronaut, grace_hopper, width):
    """An unsure candidate whose box is 1.5-1.6 times the face (and off to the side): O-Net
    turns that crop down, its box regression finds the face, and the look there keeps it."""
    for portrait, grow, shift in ((astronaut, 1.5, 0.0), (grace_hopper, 1.6, 0.2)):
        photo, box = small_face_photo(portrait, width)
        centre = (box[:2] + box[2:]) / 2 + [shift * width, 0]
        loose = np.concatenate([centre - grow * width / 2, centre + grow * width / 2])
        kept, moved = verifier.verify(photo, loose[None], np.array([0.3]))
        assert kept[0]
        assert iou(moved[0], box) >= 0.55 > iou(loose, box)


def test_textures_are_dropped_however_the_detector_scored_them():
    """Boxes of 20-120 px all over a faceless photo (rocket and coffee): none is kept as an
    unsure candidate, and O-Net vetoes nearly all of them as fairly sure ones."""
    photo = faceless((600, 800))
    rng = np.random.default_rng(0)
    sides = rng.uniform(20, 120, 200)
    corners = rng.uniform(0, 1, (200, 2)) * ([800, 600] - sides[:, None])
    boxes = np.concatenate([corners, corners + sides[:, None]], axis=1)
    assert not verifier.verify(photo, boxes, np.full(200, 0.7))[0].any()
    assert verifier.verify(photo, boxes, np.full(200, 0.8))[0].mean() < 0.1


@pytest.mark.parametrize("width", [24, 36])
def test_a_face_hidden_by_a_rejected_larger_candidate_is_found(astronaut, width):
    """The astronaut's face pasted small into a faceless photo, in the corner of an unsure box
    four times as wide (the detector's loose guess at a patch of texture): the non-maximum
    suppression keeps that box and drops the face's own, which lies inside it; the second look
    turns it down. The look at what it hid finds the face, once, at its own box."""
    canvas = faceless((480, 640))
    face = paste(canvas, astronaut, width, (300, 200))
    loose = np.concatenate([face[:2] - width / 4, face[:2] + 3.75 * width])
    boxes = np.stack([loose, face])
    keypoints = np.repeat(((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None], 6, axis=1)
    pool = (boxes, keypoints, np.array([0.3, 0.2]))
    suppressed = detection.faces_of(*pool)
    assert [f.score for f in suppressed] == [0.3]
    assert detection.confirmed(canvas, suppressed) == []
    (found,) = detection.confirmed(canvas, suppressed, pool)
    assert (found.box == face).all()


def test_a_turned_head_that_r_net_stops_is_left_to_o_net(shared_data):
    """An AFLW2000-3D face turned 45°, pasted 70 px wide into a faceless photo: R-Net scores
    it under its gate, O-Net over FACE. As a candidate the detector scored LIKELY it is a face,
    at its own box; scored under LIKELY it is not. Nor is it inside a face already kept, or
    where it fills a fifth of the photo (part of a tight crop's face)."""
    from bench.datasets import load

    photo = faceless((480, 640))
    box = paste(photo, load(shared_data / "pose" / "aflw2000" / "image01738.jpg"), 70, (300, 200))
    assert verifier.run("mtcnn_rnet", photo, box[None], 24)[0][0] < verifier.GATE
    assert verifier.run("mtcnn_onet", photo, box[None], 48)[0][0] >= verifier.FACE
    kept, moved = verifier.verify(photo, box[None], np.array([verifier.LIKELY]))
    assert kept[0] and (moved[0] == box).all()
    assert not verifier.verify(photo, box[None], np.array([verifier.LIKELY - 0.01]))[0].any()
    around = np.concatenate([box[:2] - 20, box[2:] + 20])
    kept, _ = verifier.verify(photo, np.stack([around, box]), np.array([0.95, verifier.LIKELY]))
    assert kept.tolist() == [True, False]
    left, top = (box[:2] - 35).astype(int)
    tight = photo[top : int(box[3]) + 35, left : int(box[2]) + 35]
    assert area_of(box[None])[0] >= verifier.PART * tight.shape[0] * tight.shape[1]
    corner = np.array([left, top, left, top])
    assert not verifier.verify(tight, (box - corner)[None], np.array([verifier.LIKELY]))[0].any()


def test_sure_faces_need_no_second_look(astronaut):
    before = models.run_counts.copy()
    box = np.array([[0.0, 0, 50, 50]])
    kept, moved = verifier.verify(astronaut, box, np.array([verifier.SURE_ENOUGH]))
    assert kept.tolist() == [True] and (moved == box).all()
    assert models.run_counts - before == {}


def test_a_fairly_sure_face_that_r_net_keeps_needs_no_o_net(astronaut, grace_hopper):
    """A real face the detector scored SURE..SURE_ENOUGH is kept on R-Net's look alone; a
    texture scored the same still goes on to O-Net, which vetoes it."""
    for portrait in (astronaut, grace_hopper):
        photo, box = small_face_photo(portrait, 30)
        before = models.run_counts.copy()
        kept, moved = verifier.verify(photo, box[None], np.array([verifier.SURE]))
        assert kept.tolist() == [True] and (moved == box).all()
        assert models.run_counts - before == {"mtcnn_rnet": 1}
    photo = faceless((480, 640))
    before = models.run_counts.copy()
    kept, _ = verifier.verify(photo, np.array([[100.0, 100, 140, 140]]), np.array([verifier.SURE]))
    assert kept.tolist() == [False]
    assert models.run_counts - before == {"mtcnn_rnet": 1, "mtcnn_onet": 1}


def test_a_small_face_on_a_larger_faces_body_is_worn_unless_sure():
    """A badge on the chest under a face found is dropped; beside or above the head, on the
    body of a face not kept, or as wide as a child's face in front of a parent, it stays."""
    boxes = np.array([[100, 100, 300, 300],  # the face found, 200 px
                      [150, 420, 174, 444],  # 24 px on its chest
                      [150, 420, 174, 444],  # the same, the detector sure of it
                      [360, 180, 384, 204],  # beside the head
                      [180, 20, 204, 44],  # above it
                      [150, 420, 190, 460],  # a fifth as wide: over BADGE
                      [620, 620, 644, 644],  # far below and aside
                      [700, 100, 900, 300],  # a face not kept...
                      [750, 420, 774, 444]], float)  # ...and a badge on its chest
    scores = np.array([0.95, 0.8, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8])
    kept = np.ones(len(boxes), dtype=bool)
    kept[7] = False
    worn = verifier.worn(boxes, scores, kept)
    assert worn.tolist() == [False, True, False, False, False, False, False, False, False]


def test_a_crowd_of_candidates_runs_in_bounded_batches(astronaut):
    boxes = np.tile([[180.0, 70, 280, 170]], (verifier.BATCH * 2 + 3, 1))
    before = models.run_counts.copy()
    kept, _ = verifier.verify(astronaut, boxes, np.full(len(boxes), 0.5))
    assert kept.all()
    assert (models.run_counts - before)["mtcnn_rnet"] == 3


@pytest.mark.slow  # ~10 s: imports torch and exports both nets
@pytest.mark.skipif(not (CACHE / SOURCES["facenet-pytorch"].slug).is_dir(),
                    reason="facenet-pytorch wheel not fetched (make weights)")  # fmt: skip
def test_converted_nets_match_the_package_modules(tmp_path):
    """The shipped graphs are what the converter makes from the pinned wheel, and they agree
    with the package's own torch modules on real face crops (``tools.convert.mtcnn``)."""
    from tools.convert import mtcnn
    from tools.sources import fetch, sha256

    package = fetch("facenet-pytorch")
    for path in mtcnn.convert(package, tmp_path, ["mtcnn_rnet", "mtcnn_onet"]):
        assert sha256(path) == sha256(models.weight_path(path.stem))
        assert mtcnn.parity(package, path.stem, path) <= mtcnn.PARITY_TOLERANCE
