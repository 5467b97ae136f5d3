"""age and gender: face-api's age_gender net on the aligned crop, run once for both features."""

from __future__ import annotations

import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import aligned_crops
from rosto.response import classes

MODEL = "age_gender"
HEAD = "age_gender_head"  # ours, on the shared representation (rosto.training.age_gender)
AGES = 100  # the head's age bins: 0..99 years
GENDERS = ("man", "woman")  # the net's order: male, female


def _faceapi(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    age, gender = models.run(MODEL, aligned_crops(analysis))
    return age.reshape(-1), gender.reshape(-1, 2)


def faceapi(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """face-api's (N,) ages in years and (N, 2) man/woman probabilities."""
    return analysis.shared(MODEL, _faceapi)


def predictions(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """(N,) ages in years and (N, 2) man/woman probabilities."""
    return faceapi(analysis)


def compute_age(analysis: Analysis) -> list[dict]:
    ages, _ = predictions(analysis)
    return [{"age": int(np.clip(round(float(a)), 0, 120))} for a in ages]


def compute_gender(analysis: Analysis) -> list[dict]:
    _, probs = predictions(analysis)
    return [{"gender": classes(GENDERS, p)} for p in probs]


AGE = Feature("age", compute_age)
GENDER = Feature("gender", compute_gender)
