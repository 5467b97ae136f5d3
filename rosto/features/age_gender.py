"""age and gender: face-api's age_gender net on the aligned crop, run once for both features."""

from __future__ import annotations

import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.features import Feature
from rosto.landmarks import aligned_crops
from rosto.response import classes

MODEL = "age_gender"
GENDERS = ("man", "woman")  # the net's order: male, female


def _predict(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    age, gender = models.run(MODEL, aligned_crops(analysis))
    return age.reshape(-1), gender.reshape(-1, 2)


def predictions(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """(N,) ages in years and (N, 2) man/woman probabilities."""
    return analysis.shared(MODEL, _predict)


def compute_age(analysis: Analysis) -> list[dict]:
    ages, _ = predictions(analysis)
    return [{"age": int(np.clip(round(float(a)), 0, 120))} for a in ages]


def compute_gender(analysis: Analysis) -> list[dict]:
    _, probs = predictions(analysis)
    return [{"gender": classes(GENDERS, p)} for p in probs]


AGE = Feature("age", compute_age)
GENDER = Feature("gender", compute_gender)
