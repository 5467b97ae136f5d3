"""The analysis pipeline on real photos: right answers, one entry per face, lazy features."""

from __future__ import annotations

import multiprocessing
import threading

import cv2
import numpy as np
import pytest
from photos import collage, mirror, without_second_look

from rosto import analysis as analysis_module
from rosto import detection, models
from rosto.analysis import Analysis, ahead, set_compute_ahead
from rosto.config import Settings
from rosto.errors import RostoError
from rosto.features import API_FEATURES, resolve
from rosto.pipeline import analyze


@pytest.fixture(scope="module")
def astronaut_result(astronaut):
    return analyze(astronaut)


def test_one_face_with_every_available_feature(astronaut_result):
    assert len(astronaut_result) == 1
    face = astronaut_result[0]
    for key in ("age", "bounds", "emotion", "ethnicity", "gender", "glasses", "hair", "landmarks",
                "pose", "blur", "exposure", "smile"):  # fmt: skip
        assert key in face


def test_smiling_adult_woman(astronaut_result):
    face = astronaut_result[0]
    assert face["emotion"]["value"] == "happy"
    assert face["smile"]["is_smiling"] is True
    assert 20 <= face["age"] <= 60
    assert face["gender"]["value"] == "woman"


def test_bounds_frame_the_face(astronaut_result):
    b = astronaut_result[0]["bounds"]
    # Eileen Collins' face in skimage's astronaut: eyes near y=100, chin near y=175, x 170..270.
    assert 150 <= b["left"] < 200 and 250 < b["right"] <= 300
    assert 40 <= b["top"] < 100 and 160 < b["bottom"] <= 200


def test_landmarks_layout(astronaut_result):
    lm = astronaut_result[0]["landmarks"]
    sizes = {k: len(v) for k, v in lm.items() if isinstance(v, list)}
    assert sizes == {"jaw": 17, "right_eyebrow": 5, "left_eyebrow": 5, "nose": 9,
                     "right_eye": 6, "left_eye": 6, "upper_lip": 10, "under_lip": 10}  # fmt: skip
    total = sum(sizes.values()) + 3
    assert total == 71
    # The subject's right eye is on the image's left.
    assert lm["right_eye_center"]["x"] < lm["left_eye_center"]["x"]
    assert lm["right_eye_center"]["y"] < lm["mouth_center"]["y"]


def test_probabilities_are_rounded_distributions(astronaut_result):
    emotion = astronaut_result[0]["emotion"]
    assert abs(sum(emotion["classes"].values()) - 1.0) <= 0.05
    assert emotion["probability"] == max(emotion["classes"].values())
    assert all(round(p, 2) == p for p in emotion["classes"].values())


def test_older_woman_not_smiling(grace_hopper):
    (face,) = analyze(grace_hopper, ["age", "smile", "emotion"])
    assert face["age"] >= 50
    assert face["smile"]["is_smiling"] is False
    assert face["emotion"]["value"] == "neutral"


def test_several_faces_largest_first(astronaut, grace_hopper):
    photo = collage([grace_hopper, astronaut, mirror(astronaut)], [180, 360, 260])
    faces = analyze(photo, ["bounds"])
    assert len(faces) == 3
    widths = [f["bounds"]["right"] - f["bounds"]["left"] for f in faces]
    assert widths == sorted(widths, reverse=True)
    # The largest face belongs to the 360 px astronaut, second from the left.
    assert faces[0]["bounds"]["left"] > 180 * 512 / 600


def test_no_face_gives_empty_list():
    rng = np.random.default_rng(0)
    texture = (rng.random((240, 320, 3)) * 40 + 100).astype(np.uint8)
    assert analyze(texture, ["bounds", "age"]) == []


def test_tight_face_crop_is_still_found(astronaut):
    chip = astronaut[60:190, 160:285]
    (face,) = analyze(chip, ["bounds", "emotion"])
    assert face["emotion"]["value"] == "happy"


def test_emotion_frames_a_face_alike_at_any_size_and_inside_the_photo(astronaut):
    """oarriaga's grey crop follows the eyes and mouth: the same face, halved, gets the same
    square at half the size; a tight crop of the face gets a square inside it (no border)."""
    from rosto.analysis import Analysis
    from rosto.detection import detect
    from rosto.features.emotion import fer_boxes
    from rosto.landmarks import landmarks68

    def box(image):
        return fer_boxes(landmarks68(Analysis(image, detect(image)[:1])), *image.shape[:2])[0]

    half = box(cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA))
    full = box(astronaut)  # 512²
    side = full[2] - full[0]
    assert 60 < side < 200  # the face, not the photo
    np.testing.assert_allclose(half * 2, full, atol=0.05 * side)
    chip = astronaut[70:170, 170:270]
    left, top, right, bottom = box(chip)
    assert left >= 0 and top >= 0 and right <= 100 and bottom <= 100 and right - left > 80


def test_bounds_only_runs_no_attribute_model(astronaut):
    before = models.run_counts.copy()
    analyze(astronaut, ["bounds"])
    ran = without_second_look(models.run_counts - before)
    assert detection.uses_net(*astronaut.shape[:2])  # 512², its fine pass 320² padded
    assert set(ran) == {"blazeface", "fine_faces"}


def test_each_model_runs_once_per_request_for_all_faces(astronaut):
    photo = collage([astronaut, astronaut], [300, 300])
    before = models.run_counts.copy()
    faces = analyze(photo, ["age", "gender", "emotion", "smile", "landmarks", "pose"])
    assert len(faces) == 2
    ran = without_second_look(models.run_counts - before)
    assert detection.uses_net(*photo.shape[:2])
    assert ran == {
        "blazeface": 1,
        "fine_faces": 1,
        "face_landmark_68": 1,
        "age_gender": 1,
        "expression": 1,
        "smile": 1,
        "face_recognition": 1,
        "age_gender_head": 1,
    }


def test_a_shared_input_asked_from_two_threads_is_computed_once():
    """A background start and a request asking at the same time share one computation, and
    an error raised computing it reaches the request that asks."""
    started, release, calls = threading.Event(), threading.Event(), []

    def slow(_analysis):
        calls.append(1)
        started.set()
        release.wait(5)
        return np.arange(3)

    analysis = Analysis(np.zeros((8, 8, 3), np.uint8), [])
    analysis.in_background([lambda a: a.prepare("slow", slow)])
    assert started.wait(5)
    threading.Timer(0.05, release.set).start()
    assert analysis.shared("slow", slow).tolist() == [0, 1, 2] and len(calls) == 1

    def broken(_analysis):
        raise ValueError("no such input")

    analysis.in_background([lambda a: a.prepare("broken", broken)])
    with pytest.raises(ValueError, match="no such input"):
        analysis.shared("broken", broken)


def _background_runs_in_child(done) -> None:
    Analysis(np.zeros((8, 8, 3), np.uint8), []).in_background([lambda a: done.set()])
    raise SystemExit(0 if done.wait(5) else 1)


def test_background_steps_run_in_a_forked_child():
    """A child forked after the pool's threads started gets a pool of its own."""
    started = threading.Event()
    Analysis(np.zeros((8, 8, 3), np.uint8), []).in_background([lambda a: started.set()])
    assert started.wait(5)
    context = multiprocessing.get_context("fork")
    done = context.Event()
    child = context.Process(target=_background_runs_in_child, args=(done,))
    child.start()
    child.join(10)
    assert child.exitcode == 0


def test_inputs_computed_ahead_answer_as_when_asked_alone(astronaut):
    """With other features asked, hair's net and the expression nets run in a background
    thread beside them: the same answers, one pass each."""
    hair, smile = analyze(astronaut, ["hair"]), analyze(astronaut, ["smile"])
    before = models.run_counts.copy()
    together = analyze(astronaut, ["emotion", "glasses", "hair", "landmarks", "smile"])
    ran = models.run_counts - before
    assert ran["hair"] == 1 and ran["expression"] == 1 and ran["face_landmark_68"] == 1
    assert [f["hair"] for f in together] == [f["hair"] for f in hair]
    assert [f["smile"] for f in together] == [f["smile"] for f in smile]
    assert list(together[0]) == ["emotion", "glasses", "hair", "landmarks", "smile"]


def test_a_batch_worker_computes_nothing_ahead(astronaut):
    """With computing ahead off (batch workers), no step runs in the background thread: each
    input is computed in the request's own thread when asked for, with the same answers."""
    request = ["emotion", "glasses", "hair", "landmarks", "smile"]
    ahead = analyze(astronaut, request)
    threads: set[str] = set()

    def where(_analysis):
        threads.add(threading.current_thread().name)
        return 1

    set_compute_ahead(False)
    try:
        analysis = Analysis(astronaut, [])
        analysis.in_background([lambda a: a.prepare("where", where)])
        assert analysis.shared("where", where) == 1
        assert threads == {threading.current_thread().name}
        in_turn = analyze(astronaut, request)
    finally:
        set_compute_ahead(True)
    assert in_turn == ahead


def test_work_the_pool_has_not_begun_is_done_by_the_caller():
    """``ahead`` never waits behind other requests' background steps: while every pool thread
    is busy, the caller computes the value itself, and the queued copy never runs."""
    release, ran = threading.Event(), []
    busy = [analysis_module._background.submit(release.wait) for _ in range(8)]
    try:
        value = ahead(lambda: ran.append(threading.current_thread().name) or len(ran))
        assert value() == 1
    finally:
        release.set()
    for step in busy:
        step.result()
    assert ran == [threading.current_thread().name]


def test_age_gender_and_ethnicity_share_one_recognition_pass(astronaut):
    photo = collage([astronaut, astronaut], [300, 300])
    before = models.run_counts.copy()
    faces = analyze(photo, ["age", "gender", "ethnicity"])
    assert len(faces) == 2 and all({"age", "gender", "ethnicity"} <= set(f) for f in faces)
    ran = models.run_counts - before
    assert ran["face_recognition"] == 1 and ran["age_gender_head"] == 1


def test_face_api_age_and_gender_are_the_mean_of_the_crop_and_its_mirror_image(astronaut):
    """One pass of face-api's net over each face's crop and its left-right mirror image
    (OpenCV's flip here), its age, gender and pooled features averaged over the two."""
    from rosto.detection import detect
    from rosto.features.age_gender import MODEL, faceapi
    from rosto.landmarks import aligned_crops

    analysis = Analysis(astronaut, detect(astronaut)[:1])
    crop = aligned_crops(analysis)[0]
    direct, mirrored = (models.run(MODEL, c[None]) for c in (crop, cv2.flip(crop, 1)))
    for got, one, other in zip(faceapi(analysis), direct, mirrored, strict=True):
        np.testing.assert_allclose(got[0], (one[0] + other[0]) / 2, rtol=1e-5, atol=1e-5)
    assert abs(direct[0][0] - mirrored[0][0]) > 0.1  # the two views differ: the mean is a third


def test_age_and_gender_alone_read_the_same_inputs_as_with_ethnicity(astronaut):
    """Asked alone, age and gender run the recognition net on one crop per face instead of
    two; their answers must not depend on whether ethnicity was asked too."""
    photo = collage([astronaut, astronaut], [300, 240])
    before = models.run_counts.copy()
    alone = analyze(photo, ["age", "gender"])
    assert (models.run_counts - before)["face_recognition"] == 1
    both = analyze(photo, ["age", "gender", "ethnicity"])
    assert [f["age"] for f in alone] == [f["age"] for f in both]
    for a, b in zip(alone, both, strict=True):
        assert a["gender"]["value"] == b["gender"]["value"]
        assert a["gender"]["classes"] == b["gender"]["classes"]


@pytest.mark.parametrize("request_", ["ethnicity", "glasses,age", ["hair"]])
def test_operator_disabled_feature_is_refused_plainly(request_):
    with pytest.raises(RostoError) as err:
        resolve(request_, Settings(disabled_features="ethnicity,glasses,hair").disabled)
    assert err.value.status == 422 and err.value.code == "feature_disabled"


def test_unknown_feature_lists_the_valid_ones(astronaut):
    with pytest.raises(RostoError) as err:
        analyze(astronaut, "age,beauty")
    assert err.value.status == 422
    assert all(name in err.value.message for name in API_FEATURES)


def test_operator_can_turn_features_off(astronaut):
    off = Settings(disabled_features="gender, Age").disabled
    with pytest.raises(RostoError) as err:
        resolve("gender", off)
    assert err.value.code == "feature_disabled"
    (face,) = analyze(astronaut, resolve("all", off))
    assert "gender" not in face and "age" not in face and "emotion" in face


def test_children_from_the_dev_set_look_under_15(shared_data):
    from bench import datasets

    chips = [p for p, row in datasets.utkface_dev(shared_data) if 2 <= int(row["age"]) <= 6][:10]
    ages = [analyze(datasets.load(p), ["age"])[0]["age"] for p in chips]
    assert len(ages) == 10 and max(ages) < 15, ages
