"""age and gender: our head on the shared face representation, blended with face-api's net.

The head (``rosto.training.age_gender``) reads ``rosto.descriptor``'s compact representation
(one pass of the recognition net, which ethnicity shares when asked too), and was trained
with every (age band, race, gender) group sampled alike. Its graph also takes face-api's
age_gender answers and returns a weighted mean of both, the weights chosen on a balanced
UTKFace dev set (MODELS.md): one pass of each net for all faces, both features.
"""

from __future__ import annotations

import numpy as np

from rosto import models
from rosto.analysis import Analysis
from rosto.descriptor import compact
from rosto.features import Feature
from rosto.landmarks import aligned_crops
from rosto.response import classes

MODEL = "age_gender"  # face-api's net
HEAD = "age_gender_head"  # ours, on the shared representation (rosto.training.age_gender)
AGES = 100  # the head's age bins: 0..99 years
GENDERS = ("man", "woman")  # both nets' order: male, female


def _faceapi(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    age, gender = models.run(MODEL, aligned_crops(analysis))
    return age.reshape(-1), gender.reshape(-1, 2)


def faceapi(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """face-api's (N,) ages in years and (N, 2) man/woman probabilities."""
    return analysis.shared(MODEL, _faceapi)


def _predict(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    age, gender = faceapi(analysis)
    inputs = np.concatenate([compact(analysis), age[:, None], gender], axis=1)
    age, gender = models.run(HEAD, inputs.astype(np.float32))
    return age.reshape(-1), gender.reshape(-1, 2)


def predictions(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """(N,) ages in years and (N, 2) man/woman probabilities."""
    return analysis.shared(HEAD, _predict)


def compute_age(analysis: Analysis) -> list[dict]:
    ages, _ = predictions(analysis)
    return [{"age": int(np.clip(round(float(a)), 0, 120))} for a in ages]


def compute_gender(analysis: Analysis) -> list[dict]:
    _, probs = predictions(analysis)
    return [{"gender": classes(GENDERS, p)} for p in probs]


AGE = Feature("age", compute_age)
GENDER = Feature("gender", compute_gender)
