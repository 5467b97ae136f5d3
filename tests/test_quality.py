"""Blur and exposure on synthetic blurring, resizing, darkening and brightening of portraits.

Blur is judged at the face's own pixel size: a Gaussian of σ ≥ 2 px is visible at full
resolution whatever the face's size, so it must read blurry from 60 to 800 px; a face shrunk
from a sharp photo is crisp however small, so it must read sharp (rosto/features/quality.py).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from photos import blur, scale_brightness

from rosto.pipeline import analyze
from rosto.training import data


def quality(image):
    """The quality of the photo's largest face (a face in the background may be found too)."""
    face = analyze(image, ["quality"])[0]
    assert set(face) == {"blur", "exposure"}
    return face


def blur_of(image):
    return quality(image)["blur"]


def jpeg(image: np.ndarray) -> np.ndarray:
    """Saved and read back as a client's JPEG (quality 90) would be."""
    _, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


def face_at_size(image: np.ndarray, width: int, box: np.ndarray | None = None) -> np.ndarray:
    """The photo around its face (2.5 face widths square), resized so the face box is ``width``
    px wide: shrunk with area averaging, enlarged with bicubic interpolation. The box is the
    detector's unless ``box`` (left, top, right, bottom) is given."""
    if box is None:
        (face,) = analyze(image, ["bounds"])
        b = face["bounds"]
        box = np.array([b["left"], b["top"], b["right"], b["bottom"]])
    side = int(box[2] - box[0])
    cx, cy = int(box[0] + box[2]) // 2, int(box[1] + box[3]) // 2
    half = round(side * 1.25)
    padded = cv2.copyMakeBorder(image, half, half, half, half, cv2.BORDER_REPLICATE)
    crop = padded[cy : cy + 2 * half, cx : cx + 2 * half]
    scale = width / side
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=method)


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def portrait(request):
    return request.getfixturevalue(request.param)


def test_sharp_portrait_is_sharp_and_balanced(portrait):
    q = quality(portrait)
    assert q["blur"]["is_blurry"] is False and q["blur"]["level"] > 120
    assert q["blur"]["threshold"] == 100
    assert q["exposure"]["level"] == "balanced"


def test_blurred_portrait_is_blurry(portrait):
    q = quality(blur(portrait, 3))
    assert q["blur"]["is_blurry"] is True and q["blur"]["level"] < 100


def test_blur_level_falls_as_blur_grows(portrait):
    levels = [blur_of(blur(portrait, s))["level"] for s in (0.5, 1.5, 3)]
    assert levels == sorted(levels, reverse=True)


@pytest.mark.parametrize("width", [60, 100])
def test_a_crisp_small_face_is_sharp(portrait, width):
    assert blur_of(jpeg(face_at_size(portrait, width)))["is_blurry"] is False


@pytest.mark.parametrize("width", [60, 100, 200, 400, 800])
def test_visible_blur_is_blurry_at_every_face_size(portrait, width):
    """σ = 2 px at the face's own size: the seed, measuring at 128 px, missed it above 256 px."""
    assert blur_of(jpeg(blur(face_at_size(portrait, width), 2)))["is_blurry"] is True


def test_a_sharp_face_keeps_its_level_when_shrunk(portrait):
    """The level means the same at every size: shrinking a sharp face changes it little."""
    levels = [blur_of(jpeg(face_at_size(portrait, w)))["level"] for w in (60, 100)]
    native = blur_of(portrait)["level"]
    assert all(native / 1.5 < level < native * 1.5 for level in levels)


def test_a_face_enlarged_four_times_is_blurry(portrait):
    """Upsampled pixels look soft at full size, as a person viewing the photo would see."""
    (face,) = analyze(portrait, ["bounds"])
    width = face["bounds"]["right"] - face["bounds"]["left"]
    assert blur_of(face_at_size(portrait, 4 * width))["is_blurry"] is True


def test_darkened_portrait_is_underexposed(portrait):
    assert quality(scale_brightness(portrait, 0.3))["exposure"]["level"] == "underexposed"


def test_brightened_portrait_is_overexposed(portrait):
    assert quality(scale_brightness(portrait, 2.2))["exposure"]["level"] == "overexposed"


@pytest.mark.parametrize("index", [0, 17, 34, 51])
def test_helen_faces_at_several_sizes(shared_data, index):
    """Dev photos with large faces: sharp when shrunk to 60–400 px, blurry with σ = 2 px. The
    face is framed by its labelled points, so the detector's box does not move the crop."""
    from bench.datasets import helen

    path, points = list(helen(shared_data))[index]
    image = data.load(path)
    for width in (60, 200, 400):
        resized = face_at_size(image, width, np.array([*points.min(0), *points.max(0)]))
        assert blur_of(jpeg(resized))["is_blurry"] is False, (path.name, width)
        assert blur_of(jpeg(blur(resized, 2)))["is_blurry"] is True, (path.name, width)


def test_grain_on_a_blurred_large_face_is_not_sharpness(shared_data):
    """Grain (σ 3 grey levels, as a dim photo's sensor noise) after a visible blur fills the fine
    band: this 800 px HELEN face read 105 and 99 without the grain step (quality.py), 92 and 82
    with it. (A smooth child's close-up, photo 34, still reads 102 at σ 3: MODELS.md.)"""
    from bench.datasets import helen

    index = 18
    path, points = list(helen(shared_data))[index]
    resized = face_at_size(data.load(path), 800, np.array([*points.min(0), *points.max(0)]))
    noise = np.random.default_rng(index).normal(0, 3, resized.shape)
    for sigma in (2, 3):
        grainy = np.clip(blur(resized, sigma) + noise, 0, 255).astype(np.uint8)
        assert blur_of(jpeg(grainy))["is_blurry"] is True, (path.name, sigma)
