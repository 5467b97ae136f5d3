"""ethnicity, glasses and hair: our own trained models, through the pipeline on real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from photos import collage, without_second_look

from rosto import detection, models
from rosto.features import hair
from rosto.pipeline import analyze
from rosto.training import data
from rosto.training.metrics import iou, polygon_mask

PALETTE = json.loads((models.WEIGHTS_DIR / "hair_palette.json").read_text())["colours"]


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    (face,) = analyze(astronaut, ["bounds", "ethnicity", "glasses", "hair"])
    return face


def test_bare_face_is_not_using_glasses(astronaut_face):
    assert astronaut_face["glasses"]["value"] == "not-using-glasses"


def test_eyeglasses_are_seen_on_a_photo_no_model_trained_on(grace_hopper):
    (face,) = analyze(grace_hopper, ["glasses"])  # she wears tortoiseshell-framed glasses
    assert face["glasses"]["value"] == "using-glasses"
    assert face["glasses"]["classes"]["swimming-goggles"] <= 0.05
    assert set(face["glasses"]["classes"]) == {"not-using-glasses", "swimming-goggles",
                                               "using-glasses"}  # fmt: skip


def test_ethnicity_is_a_distribution_over_the_api_classes(astronaut_face):
    eth = astronaut_face["ethnicity"]
    assert set(eth["classes"]) == {"asian", "black", "indian", "white"}
    assert abs(sum(eth["classes"].values()) - 1) <= 0.03
    assert eth["value"] == max(eth["classes"], key=eth["classes"].get)


@pytest.mark.parametrize("mirrored", [False, True])
def test_package_portraits_read_as_white(astronaut, grace_hopper, mirrored):
    # Eileen Collins and Grace Hopper; the grey-toned Hopper portrait is the harder one.
    for photo in (astronaut, grace_hopper):
        (face,) = analyze(photo[:, ::-1] if mirrored else photo, ["ethnicity"])
        assert face["ethnicity"]["value"] == "white"
        assert face["ethnicity"]["classes"]["white"] >= 0.6


def test_hair_outlines_the_head_above_the_face(astronaut, astronaut_face):
    value, bounds = astronaut_face["hair"], astronaut_face["bounds"]
    assert value["color"]["name"] in ("dark brown", "brown", "light brown")  # she is a brunette
    assert len(value["color"]["hex"]) == 7 and value["color"]["hex"].startswith("#")
    assert value["polygons"] and all(len(p) >= 3 for p in value["polygons"])
    xy = np.array([[p["x"], p["y"]] for poly in value["polygons"] for p in poly])
    h, w = astronaut.shape[:2]
    assert (xy >= 0).all() and (xy[:, 0] < w).all() and (xy[:, 1] < h).all()
    assert xy[:, 1].min() < bounds["top"]  # hair rises above the face box
    mask = polygon_mask(value["polygons"], astronaut.shape)
    face_box = mask[
        bounds["top"] + 20 : bounds["bottom"], bounds["left"] + 15 : bounds["right"] - 15
    ]
    # ...and mostly leaves the face out: her shadowed cheek is partly taken for hair (a known
    # defect of the shipped net, MODELS.md), about a fifth of the box.
    assert face_box.mean() < 0.25


def test_each_new_model_runs_once_for_all_faces(astronaut, grace_hopper):
    photo = collage([astronaut, grace_hopper], [300, 300])
    before = models.run_counts.copy()
    faces = analyze(photo, ["ethnicity", "glasses", "hair"])
    assert len(faces) == 2
    ran = without_second_look(models.run_counts - before)
    assert detection.uses_net(*photo.shape[:2])
    assert ran == {"blazeface": 1, "fine_faces": 1, "face_landmark_68": 1, "face_recognition": 1,
                   "ethnicity": 1, "glasses": 1, "hair": 1}  # fmt: skip


@pytest.mark.parametrize("face_area", [80.0 * 80.0, 0.0])  # 0: a degenerate box
def test_no_visible_hair_gives_no_polygons_and_no_colour(astronaut, face_area):
    region = np.array([100.0, 0.0, 400.0, 300.0])
    nothing = np.zeros((hair.INPUT, hair.INPUT), np.float32)
    value = hair.face_hair(astronaut, nothing, region, face_area)
    assert value == {"hair": {"color": {"hex": None, "name": "none"}, "polygons": []}}


@pytest.mark.parametrize("probability, has_hair", [(0.65, False), (0.95, True)])
def test_a_guessed_cap_of_hair_is_no_hair(astronaut, probability, has_hair):
    """The same large cap above the face: answered only when the net is sure of it."""
    region = np.array([100.0, 0.0, 400.0, 300.0])
    probs = np.zeros((hair.INPUT, hair.INPUT), np.float32)
    probs[20:70, 40:120] = probability
    value = hair.face_hair(astronaut, probs, region, 80.0 * 80.0)["hair"]
    assert bool(value["polygons"]) is has_hair
    assert (value["color"]["name"] != "none") is has_hair


def test_colour_ignores_highlights_and_shadows():
    rng = np.random.default_rng(0)
    blond = np.array([196, 162, 118]) + rng.normal(0, 6, (700, 3))
    shine = np.full((150, 3), 250.0)
    shadow = np.full((150, 3), 12.0)
    named = hair.colour(np.concatenate([blond, shine, shadow]).clip(0, 255))
    assert named["name"] == "blond"


@pytest.mark.parametrize("entry", PALETTE, ids=lambda e: e["name"])
def test_every_palette_colour_is_named_itself(entry):
    rgb = np.array([int(entry["hex"][i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    assert hair.colour(np.tile(rgb, (50, 1)))["name"] == entry["name"]


def test_split_hair_gives_several_polygons_in_image_pixels():
    mask = np.zeros((100, 100), bool)
    mask[10:40, 5:30] = True
    mask[10:45, 70:95] = True
    polygons = hair.trace(mask, left=200.0, top=50.0, scale=2.0)
    assert len(polygons) == 2
    for poly in polygons:
        assert poly[:, 0].min() >= 200 + 2 * 5 - 1 and poly[:, 1].min() >= 50 + 2 * 10 - 1


# Dev-split photos (never trained on), checked by eye: an older man in clear eyeglasses, a man
# in aviator sunglasses, two bare faces, two selfies in sunglasses.
EYEGLASSES = ["celeba/eyeglasses/000264.jpg", "celeba/eyeglasses/000266.jpg"]
BARE = ["celeba/no_glasses/000010.jpg", "celeba/no_glasses/000020.jpg"]
SUNGLASSES = [
    "sunglasses_selfies/selfies_10_images_005.jpg",
    "sunglasses_selfies/selfies_10_images_008.jpg",
]


@pytest.mark.parametrize("file, expected", [(f, "using-glasses") for f in EYEGLASSES + SUNGLASSES]
                         + [(f, "not-using-glasses") for f in BARE])  # fmt: skip
def test_glasses_on_labelled_photos(shared_data, file, expected):
    faces = analyze(data.load(shared_data / "glasses" / file), ["glasses"])
    assert faces[0]["glasses"]["value"] == expected


# The first two dev photos of each set, in manifest order, with one face found — bar Figaro's
# Frame00013, whose mask outlines a woman seen from behind, not the man in a hat that is found.
# (Frame00032 and Frame00060, heads seen from behind, were found by the detector before its
# second look at unsure faces, and Frame00089 before MTCNN's nets took that look; they show no
# face.)
HAIR = [
    "figaro1k/images/Frame00112-org.jpg",
    "figaro1k/images/Frame00102-org.jpg",
    "lfw_parts/images/Aaron_Peirsol_0001.jpg",
    "lfw_parts/images/Aaron_Peirsol_0002.jpg",
]


@pytest.mark.parametrize("file", HAIR)
def test_hair_polygons_overlap_the_true_mask(shared_data, file):
    row = next(r for r in data.rows(shared_data / "hair" / "manifest.csv") if r["file"] == file)
    image = data.load(shared_data / "hair" / file)
    truth = data.load_mask(shared_data / "hair" / row["mask_file"])
    (face,) = analyze(image, ["hair"])[:1]
    assert iou(polygon_mask(face["hair"]["polygons"], image.shape), truth) >= 0.5


# UTKFace chips of adults (20-60) in the dev minutes (``data.utkface_split_of``: no head trained
# on them), the first two of each class in file order that the shipped head answers right: a
# regression check on faces it never trained on, not a measure.
ETHNICITY = {
    "asian": ["train/20_1_2_20170104020725236", "dev/21_1_2_20161219211717693"],
    "black": ["train/20_0_1_20170112191235269", "dev/20_0_1_20170113132706143"],
    "indian": ["train/20_1_3_20170104222022391", "train/20_1_3_20170104231525073"],
    "white": ["train/20_0_0_20170110232156775", "train/20_1_0_20170103175634288"],
}


@pytest.mark.parametrize("name, race", [(f, r) for r, fs in ETHNICITY.items() for f in fs])
def test_known_faces_get_their_labelled_ethnicity(shared_data, name, race):
    path = shared_data / "utkface" / f"{name}.jpg.chip.jpg"
    assert data.utkface_split_of(path.name) == "dev"
    (face,) = analyze(data.load(path), ["ethnicity"])[:1]
    assert face["ethnicity"]["value"] == race
