"""age and gender: our heads on the shared face representation, blended with face-api's net.

face-api's net runs on each face's crop and its mirror image in one batch, and its answers and
pooled features are averaged over the two (a face and its mirror are the same person, of the
same age: the average halves the net's left-right quirks, +1 point of gender, MODELS.md). Two
heads (``rosto.training.age_gender``, trained with every (age band, race, gender) group sampled
alike) read ``rosto.descriptor``'s compact representation, one of them also face-api's pooled
features; their graph also takes face-api's answers and returns a weighted mean of all, the
weights chosen out of fold on the training faces (MODELS.md): one pass of each net for all
faces, both features.
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


def _faceapi(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    crops = aligned_crops(analysis)
    age, gender, features = models.run(MODEL, np.concatenate([crops, crops[:, :, ::-1]]))
    n = len(crops)
    return ((age[:n] + age[n:]) / 2, (gender[:n] + gender[n:]) / 2,
            (features[:n] + features[n:]) / 2)  # fmt: skip


def faceapi(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """face-api's (N,) ages in years, (N, 2) man/woman probabilities and (N, 512) pooled
    features, each the mean of the face's crop and its mirror image."""
    return analysis.shared(MODEL, _faceapi)


def head_inputs(compact: np.ndarray, faceapi: tuple[np.ndarray, ...]) -> np.ndarray:
    """(N, 1731) the heads' graph input: the compact representation, face-api's pooled features,
    then its age, p(man), p(woman)."""
    age, gender, features = faceapi
    return np.concatenate([compact, features, age[:, None], gender], axis=1).astype(np.float32)


def _prepare_faceapi(analysis: Analysis) -> None:
    analysis.prepare(MODEL, _faceapi)


def _predict(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    # face-api's pass needs only the landmarks, as the recognition net's pass does: it runs in
    # the background thread while this one computes the landmarks, then the compact
    # representation (two models side by side, rosto.analysis).
    analysis.in_background([_prepare_faceapi])
    age, gender = models.run(HEAD, head_inputs(compact(analysis), faceapi(analysis)))
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
