"""Blur and exposure on synthetic blurring, darkening and brightening of sharp portraits."""

from __future__ import annotations

import pytest
from photos import blur, scale_brightness

from rosto.pipeline import analyze


def quality(image):
    (face,) = analyze(image, ["quality"])
    assert set(face) == {"blur", "exposure"}
    return face


@pytest.fixture(scope="module", params=["astronaut", "grace_hopper"])
def portrait(request):
    return request.getfixturevalue(request.param)


def test_sharp_portrait_is_sharp_and_balanced(portrait):
    q = quality(portrait)
    assert q["blur"]["is_blurry"] is False and q["blur"]["level"] > 300
    assert q["blur"]["threshold"] == 100
    assert q["exposure"]["level"] == "balanced"


def test_blurred_portrait_is_blurry(portrait):
    q = quality(blur(portrait, 3))
    assert q["blur"]["is_blurry"] is True and q["blur"]["level"] < 100


def test_blur_level_falls_as_blur_grows(portrait):
    levels = [quality(blur(portrait, s))["blur"]["level"] for s in (0.5, 1.5, 3)]
    assert levels == sorted(levels, reverse=True)


def test_darkened_portrait_is_underexposed(portrait):
    assert quality(scale_brightness(portrait, 0.3))["exposure"]["level"] == "underexposed"


def test_brightened_portrait_is_overexposed(portrait):
    assert quality(scale_brightness(portrait, 2.2))["exposure"]["level"] == "overexposed"
