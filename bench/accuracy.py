"""Accuracy of every feature on the dev sets, measured through the public pipeline.

Each image goes through ``rosto.pipeline.analyze`` exactly as a client's would (detect → align
→ model), so the figures are what the API answers. Chips (UTKFace, FER2013, CelebA) are sent
as they are: the pipeline's own handling of tight crops is part of what is measured.

    python -m bench.accuracy [--limit N] [--only age,emotion] [--write MODELS.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from bench import datasets
from rosto.features.quality import BLUR_THRESHOLD
from rosto.pipeline import analyze
from rosto.training import expressions
from rosto.training.data import SMALL_FACE, small_grey
from rosto.training.metrics import (
    BALANCED_BANDS,
    age_band,
    balanced_mean,
    confusion,
    polygon_mask,
)
from rosto.training.metrics import iou as mask_iou

PER_CELL = 40  # faces per (band, race, gender) cell of the balanced UTKFace set
GENDER_WORDS = {"female": "woman", "male": "man"}


def box_of(face: dict) -> np.ndarray:
    b = face["bounds"]
    return np.array([b["left"], b["top"], b["right"], b["bottom"]], dtype=float)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def landmarks_array(face: dict) -> np.ndarray:
    """The 68 iBUG points back out of the API's grouped layout."""
    from rosto.features.landmarks import GROUPS

    pts = np.zeros((68, 2))
    for name, idx in GROUPS.items():
        pts[idx] = [[p["x"], p["y"]] for p in face["landmarks"][name]]
    return pts


def best_match(faces: list[dict], target: np.ndarray) -> dict | None:
    """The detected face that overlaps the labelled box most, if any overlaps."""
    scored = [(iou(box_of(f), target), f) for f in faces]
    scored = [s for s in scored if s[0] > 0.1]
    return max(scored, key=lambda s: s[0])[1] if scored else None


def limited(items, limit: int | None):
    items = list(items)
    if limit and len(items) > limit:
        step = len(items) / limit
        items = [items[int(i * step)] for i in range(limit)]
    return items


def detection(limit: int | None) -> dict:
    """Recall of groups/ (AFW) at IoU 0.3 and 0.5, then the small-face sets of
    ``bench.detection`` (IoU ≥ 0.4): recall, recall of faces under 30 px, and precision where
    every face is labelled."""
    from bench.detection import score, sets

    found = {0.3: 0, 0.5: 0}
    total = 0
    for path, boxes in limited(datasets.groups(), limit):
        faces = analyze(datasets.load(path), ["bounds"])
        for gt in boxes:
            best = max((iou(box_of(f), gt) for f in faces), default=0.0)
            for threshold in found:
                found[threshold] += best >= threshold
            total += 1
    out: dict = {"faces": total, **{f"recall@IoU{t}": found[t] / total for t in found}}
    for name, samples in list(sets(count=limit or 40).items())[1:]:
        r = score(lambda image: np.array([box_of(f) for f in analyze(image, ["bounds"])]
                                         ).reshape(-1, 4), limited(samples, limit))  # fmt: skip
        out[f"{name}: faces"] = r["faces"]
        out[f"{name}: recall@IoU0.4"] = r["recall"]
        out[f"{name}: recall@IoU0.4 of faces < 30 px"] = r["recall by width"]["0-30"]
        if "precision" in r:
            out[f"{name}: precision"] = r["precision"]
    return out


def jpeg(image: np.ndarray, quality: int = 90) -> np.ndarray:
    """The image as a client would send it: JPEG-encoded, then decoded."""
    _, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


YAW_RANGES = ((0, 30), (30, 60), (60, 100))  # the last also holds the few faces past 90°


def yaw_range(yaw: float) -> str:
    lo, hi = next(r for r in YAW_RANGES if r[0] <= abs(yaw) < r[1])
    return f"yaw {lo}-{min(hi, 90)}"


def landmarks(limit: int | None) -> dict:
    """HELEN: NME over the inter-ocular (outer eye corner) distance. AFLW2000-3D, by yaw: over
    the square root of the points' box area (the usual measure there, as a turned face's eye
    distance shrinks to nothing), all 68 points, hidden ones at their fitted position."""
    errors, missed = [], 0
    for path, gt in limited(datasets.helen(), limit):
        box = np.array([*gt.min(0), *gt.max(0)])
        face = best_match(analyze(datasets.load(path), ["bounds", "landmarks"]), box)
        if face is None:
            missed += 1
            continue
        inter_ocular = np.linalg.norm(gt[36] - gt[45])
        errors.append(np.linalg.norm(landmarks_array(face) - gt, axis=1).mean() / inter_ocular)
    out: dict = {"faces": len(errors), "missed": missed,
                 "NME (inter-ocular)": float(np.mean(errors))}  # fmt: skip
    turned: dict[str, list[float]] = defaultdict(list)
    for path, gt, yaw in limited(datasets.aflw_landmarks(), limit):
        box = np.array([*gt.min(0), *gt.max(0)])
        face = best_match(analyze(datasets.load(path), ["bounds", "landmarks"]), box)
        if face is not None:
            error = np.linalg.norm(landmarks_array(face) - gt, axis=1).mean()
            turned[yaw_range(yaw)].append(error / np.sqrt(np.prod(box[2:] - box[:2])))
    for name in (yaw_range(lo) for lo, _ in YAW_RANGES):
        out[f"AFLW2000-3D {name}: faces"] = len(turned[name])
        out[f"AFLW2000-3D {name}: NME (box)"] = float(np.mean(turned[name]))
    return out


def pose(limit: int | None) -> dict:
    """MAE of each angle, overall and by yaw range. The correction is fitted on these very
    faces, so the shipped model's answers here would be in-sample: each face is predicted by
    a model fitted, through the same pipeline, on the other four fifths (``tools.fit_pose``).
    "3D fit alone" is the first step without the learned correction."""
    from rosto.headpose import FITTED
    from tools.fit_pose import cross_validated, samples

    x, truth, photo, flipped, which, missed = samples(datasets.DATA, limit)
    original = ~flipped & (which == 0)
    answers = {"3D fit alone": x[:, FITTED], "": cross_validated(x, truth, photo, which)}
    out: dict = {"faces": int(original.sum()), "missed": missed}
    yaw = np.array([yaw_range(y) for y in truth[original, 2]])
    for label, predicted in answers.items():
        errors = np.abs(np.clip(np.round(predicted), -90, 90) - truth)[original]
        for group in ("", *(yaw_range(lo) for lo, _ in YAW_RANGES)):
            pick = yaw == group if group else np.ones(len(yaw), bool)
            for axis, name in enumerate(("roll", "pitch", "yaw")):
                key = " ".join(w for w in (label, group, name, "MAE") if w)
                out[key] = float(errors[pick, axis].mean())
    return out


def balanced_faces(per_cell: int) -> dict[tuple[str, str, str], list[tuple[Path, dict]]]:
    """UTKFace dev faces by (age band, race, gender) cell, at most ``per_cell`` each (evenly
    spaced in name order), over the 5 bands × 4 API races × 2 genders."""
    from rosto.features.ethnicity import LABELS

    cells: dict[tuple[str, str, str], list[tuple[Path, dict]]] = defaultdict(list)
    for path, row in sorted(datasets.utkface_dev(), key=lambda item: item[0].name):
        if row["race"] in LABELS:
            band = age_band(int(row["age"]), BALANCED_BANDS)
            cells[band, row["race"], row["gender"]].append((path, row))
    return {cell: limited(cells[cell], per_cell) for cell in sorted(cells)}


def utkface_balanced(limit: int | None) -> dict:
    """Age, gender and ethnicity on UTKFace dev with every (band, race, gender) cell weighing
    the same: each figure is the mean of its cells' means (per band: of that band's 8 cells)."""
    from rosto.features.ethnicity import LABELS

    cells = balanced_faces(min(PER_CELL, limit // 40) if limit else PER_CELL)
    faces: list[dict] = []
    missed = 0
    for cell, items in cells.items():
        for path, row in items:
            found = analyze(datasets.load(path), ["age", "gender", "ethnicity"])
            if not found:
                missed += 1
                continue
            face, age = found[0], int(row["age"])
            faces.append({"cell": cell, "error": face["age"] - age,
                          "gender": face["gender"]["value"] == GENDER_WORDS[row["gender"]],
                          "race": LABELS.index(row["race"]),
                          "answer": LABELS.index(face["ethnicity"]["value"])})  # fmt: skip
    sizes = [len(v) for v in cells.values()]
    out: dict = {"faces": len(faces), "missed": missed,
                 "cells (faces each)": f"{len(cells)} ({min(sizes)}-{max(sizes)})"}  # fmt: skip

    def mean(key: Callable[[dict], float], keep: Callable[[tuple], bool] = lambda c: True):
        chosen = [f for f in faces if keep(f["cell"])]
        return balanced_mean([key(f) for f in chosen], [f["cell"] for f in chosen])

    groups = [(b, lambda c, b=b: c[0] == b) for b in (f"{lo}-{hi}" for lo, hi in BALANCED_BANDS)]
    groups += [(r, lambda c, r=r: c[1] == r) for r in LABELS]
    groups += [(g, lambda c, g=g: c[2] == g) for g in GENDER_WORDS]
    measures = {"age MAE": lambda f: abs(f["error"]), "age bias": lambda f: f["error"],
                "gender accuracy": lambda f: f["gender"],
                "ethnicity accuracy": lambda f: f["race"] == f["answer"]}  # fmt: skip
    for name, key in measures.items():
        out[name] = mean(key)
        out.update({f"{name} {group}": mean(key, keep) for group, keep in groups})
    matrix = confusion([f["race"] for f in faces], [f["answer"] for f in faces], len(LABELS))
    out.update({f"{label} → " + "/".join(LABELS): " ".join(map(str, row))
                for label, row in zip(LABELS, matrix, strict=True)})  # fmt: skip
    out["cells"] = {" ".join(cell): {name: mean(key, lambda c, cell=cell: c == cell)
                                     for name, key in measures.items() if name != "age bias"}
                    for cell in cells}  # fmt: skip
    for cell, size in zip(cells, sizes, strict=True):
        out["cells"][" ".join(cell)]["faces"] = size
    return out


def gender_celeba(limit: int | None) -> dict:
    correct, missed = [], 0
    for path, expected in limited(datasets.celeba_gender(), limit):
        faces = analyze(datasets.load(path), ["gender"])
        if not faces:
            missed += 1
            continue
        correct.append(faces[0]["gender"]["value"] == expected)
    return {"faces": len(correct), "missed": missed, "gender accuracy": float(np.mean(correct))}


FAIRFACE_CHILDREN = ("0-2", "3-9")  # FairFace's bins for ages ≤ 9


def gender_fairface(limit: int | None) -> dict:
    """Gender on FairFace photos (30 per age bin and gender, children included), every
    (bin, gender) cell weighing the same; children = the 0-2 and 3-9 bins."""
    items = list(datasets.fairface540())
    if not items:
        return {"skipped": "fairface540 not prepared: python -m tools.prepare_faces fairface540"}
    cells: dict[tuple[str, str], list[bool]] = defaultdict(list)
    missed = 0
    for path, age_bin, expected in limited(items, limit):
        faces = analyze(datasets.load(path), ["gender"])
        if not faces:
            missed += 1
            continue
        cells[age_bin, expected].append(faces[0]["gender"]["value"] == expected)

    def mean(keep: Callable[[tuple[str, str]], bool]) -> float:
        return float(np.mean([np.mean(v) for c, v in cells.items() if keep(c)]))

    out: dict = {
        "faces": sum(map(len, cells.values())),
        "missed": missed,
        "gender accuracy": mean(lambda c: True),
        "gender accuracy children 0-9": mean(lambda c: c[0] in FAIRFACE_CHILDREN),
    }
    for word in ("man", "woman"):
        out[f"gender accuracy {word}"] = mean(lambda c, w=word: c[1] == w)
    for age_bin in sorted({c[0] for c in cells}, key=lambda b: int(b.rstrip("+").split("-")[0])):
        out[f"gender accuracy {age_bin}"] = mean(lambda c, b=age_bin: c[0] == b)
    return out


EMOTION_PER_CLASS = {"photos": 150, "posed": 100, "fer": 300}  # dev faces per class at most
FER_ENLARGED = 4


def per_class(items: list, label_of: Callable, cap: int, limit: int | None) -> list:
    """At most ``cap`` items per class (``limit`` over the classes), evenly spaced in each."""
    by_class: dict[str, list] = defaultdict(list)
    for item in items:
        by_class[label_of(item)].append(item)
    share = min(cap, limit // len(by_class)) if limit else cap
    return [item for _, group in sorted(by_class.items()) for item in limited(group, share)]


def emotion_scores(outcomes: dict[str, list[bool]], missed: int, prefix: str = "") -> dict:
    """Balanced accuracy (every class weighs the same, as in a set balanced per class), then
    each class's accuracy and its number of faces."""
    balanced = float(np.mean([np.mean(v) for v in outcomes.values()]))
    out = {f"{prefix}faces": sum(len(v) for v in outcomes.values()), f"{prefix}missed": missed,
           f"{prefix}balanced accuracy": balanced}  # fmt: skip
    for c, v in sorted(outcomes.items()):
        out[f"{prefix}{c} (n={len(v)})"] = float(np.mean(v))
    return out


def emotion_answers(items: list, image_of: Callable) -> tuple[dict[str, list[bool]], int]:
    """Per class, whether the largest face's emotion matches; and how many photos had no face."""
    outcomes: dict[str, list[bool]] = defaultdict(list)
    missed = 0
    for path, expected, *_ in items:
        faces = analyze(image_of(path), ["emotion"])
        if not faces:
            missed += 1
            continue
        outcomes[expected].append(faces[0]["emotion"]["value"] == expected)
    return outcomes, missed


def unprepared(*names: str) -> dict | None:
    """A row saying how to bring the cached sets in, when one of ``names`` is missing."""
    missing = [n for n in names if not expressions.available(n)]
    if not missing:
        return None
    return {"skipped": f"{', '.join(missing)} not prepared: python -m tools.prepare_expressions"}


def emotion_photos(limit: int | None) -> dict:
    """Crowd-labelled web photos (the dev third of people), at most 150 per class."""
    if skipped := unprepared(expressions.PHOTOS):
        return skipped
    items = per_class(list(expressions.cached(expressions.PHOTOS, "dev")), lambda i: i[1],
                      EMOTION_PER_CLASS["photos"], limit)  # fmt: skip
    return emotion_scores(*emotion_answers(items, datasets.load))


def emotion_posed(limit: int | None) -> dict:
    """Posed photos of the dev third of people: Taiwanese (256² colour), CK+ (48² grey)."""
    if skipped := unprepared(*expressions.POSED):
        return skipped
    out: dict = {}
    for name in expressions.POSED:
        items = per_class(list(expressions.cached(name, "dev")), lambda i: i[1],
                          EMOTION_PER_CLASS["posed"], limit)  # fmt: skip
        out.update(emotion_scores(*emotion_answers(items, datasets.load), prefix=f"{name} "))
    return out


def enlarged(path: Path) -> np.ndarray:
    image = datasets.load(path)
    size = (image.shape[1] * FER_ENLARGED, image.shape[0] * FER_ENLARGED)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def emotion_fer(limit: int | None) -> dict:
    """FER2013 dev chips, at most 300 per class: at 48 px as they are, and enlarged ×4
    (bicubic), as a client's larger photo of the same face would be."""
    items = per_class(list(expressions.fer2013("dev")), lambda i: i[1], EMOTION_PER_CLASS["fer"],
                      limit)  # fmt: skip
    out = emotion_scores(*emotion_answers(items, datasets.load), prefix="48 px ")
    out.update(emotion_scores(*emotion_answers(items, enlarged), prefix=f"×{FER_ENLARGED} "))
    return out


def smile(limit: int | None) -> dict:
    """Accuracy on the dev fifth of GENKI-4K (colour portraits) and SMILEsmileD (64² grey
    crops), per class, and on the GENKI faces made small and grey (face 48 px). The smile head
    (``rosto train smile``) was trained on the other four fifths of both sets."""
    correct: dict[str, list[bool]] = defaultdict(list)
    missed: dict[str, int] = defaultdict(int)
    for path, expected, dataset in limited(datasets.smile_dev(), limit):
        image = datasets.load(path)
        variants = {dataset: image}
        found = analyze(image, ["bounds"]) if dataset == "GENKI-4K" else []
        if found:
            variants[f"GENKI-4K grey, face {SMALL_FACE} px"] = small_grey(image, box_of(found[0]))
        for name, photo in variants.items():
            faces = analyze(photo, ["smile"])
            if not faces:
                missed[name] += 1
                continue
            right = faces[0]["smile"]["is_smiling"] == expected
            correct[name].append(right)
            correct[f"{name}, {'smiling' if expected else 'not smiling'}"].append(right)
    out: dict = {}
    classes = (", smiling", ", not smiling")  # the per-class keys (a set's name may hold ", ")
    for name in sorted(missed.keys() | {k for k in correct if not k.endswith(classes)}):
        out[f"{name}: faces (missed)"] = f"{len(correct[name])} ({missed[name]})"
        out[f"{name}: accuracy"] = float(np.mean(correct[name]))
        for label in ("smiling", "not smiling"):
            out[f"{name}: accuracy {label}"] = float(np.mean(correct[f"{name}, {label}"]))
    return out


BLUR_SIZES = (60, 100, 200, 400, 800)  # face widths (detector box) the photos are shrunk to
BLUR_SIGMAS = (0.0, 1.0, 2.0, 3.0)  # Gaussian σ in px at that size; 1 px is not scored


def blur(limit: int | None) -> dict:
    """Blur judged at face sizes 60–800 px: each photo shrunk (never enlarged) so its face box
    is that wide, then blurred with a Gaussian of σ px and saved as a JPEG (quality 90), as a
    client's photo would be. Visibly blurred: σ ≥ 2 px, an edge spread over ~5 px at full
    size; sharp: not blurred. σ = 1 px (edges over ~2.5 px, the softness of many camera
    photos) is reported but scored neither way. The margin rows judge again with the threshold
    moved 5% against each side: what is left when the cut is a little off."""
    levels: dict[tuple[int, float], list[int]] = defaultdict(list)
    for path in limited(datasets.blur_photos(), limit):
        image = datasets.load(path)
        faces = analyze(image, ["bounds"])
        if not faces:
            continue
        native = box_of(faces[0])
        for size in BLUR_SIZES:
            scale = size / (native[2] - native[0])
            if scale > 1:
                continue
            shrunk = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            for sigma in BLUR_SIGMAS:
                blurred = cv2.GaussianBlur(shrunk, (0, 0), sigma) if sigma else shrunk
                face = best_match(analyze(jpeg(blurred), ["bounds", "quality"]), native * scale)
                if face is not None:
                    levels[size, sigma].append(face["blur"]["level"])
    out: dict = {}
    for size in BLUR_SIZES:
        sharp, soft = np.array(levels[size, 0.0]), np.array(levels[size, 1.0])
        visible = np.array(levels[size, 2.0] + levels[size, 3.0])
        out[f"{size} px: faces"] = len(sharp)
        out[f"{size} px: sharp judged sharp"] = float(np.mean(sharp >= BLUR_THRESHOLD))
        out[f"{size} px: σ 2–3 px judged blurry"] = float(np.mean(visible < BLUR_THRESHOLD))
        out[f"{size} px: σ 1 px judged blurry (not scored)"] = float(np.mean(soft < BLUR_THRESHOLD))
        out[f"{size} px: margin: sharp judged sharp at threshold × 1.05"] = float(
            np.mean(sharp >= 1.05 * BLUR_THRESHOLD)
        )
        out[f"{size} px: margin: σ 2–3 px judged blurry at threshold × 0.95"] = float(
            np.mean(visible < 0.95 * BLUR_THRESHOLD)
        )
    return out


def blur_own_size(limit: int | None) -> dict:
    """Blur answered on photos at their own size, as sent: the HELEN portraits (faces of
    200–1,000 px) unblurred and blurred with σ = 3 px, GENKI-4K webcam faces (~100–190 px),
    CelebA chips and UTKFace dev chips (200 px, many enlarged from smaller photos), the last
    three evenly spaced samples of 300, 200 and 300. Only the first face found is read."""
    helen = [path for path, _ in datasets.helen()]
    celeba = [path for path, label in datasets.glasses_dev() if label != "sunglasses"]
    sets = {
        "HELEN": (helen, 0),
        "HELEN blurred σ 3 px": (helen, 3),
        "GENKI-4K": (limited([path for path, _ in datasets.genki()], 300), 0),
        "CelebA": (limited(celeba, 200), 0),
        "UTKFace dev": (limited([path for path, _ in datasets.utkface_dev()], 300), 0),
    }
    out: dict = {}
    for name, (paths, sigma) in sets.items():
        blurry = []
        for path in limited(paths, limit):
            image = datasets.load(path)
            faces = analyze(cv2.GaussianBlur(image, (0, 0), sigma) if sigma else image, ["quality"])
            if faces:
                blurry.append(faces[0]["blur"]["is_blurry"])
        out[f"{name}: faces"] = len(blurry)
        if sigma:
            out[f"{name}: judged blurry"] = float(np.mean(blurry))
        else:
            out[f"{name}: judged sharp"] = 1 - float(np.mean(blurry))
    return out


def glasses(limit: int | None) -> dict:
    """Exact class per photo: CelebA no_glasses → not-using-glasses, CelebA eyeglasses and the
    sunglasses selfies → using-glasses; "called goggles" counts real faces answered goggles."""
    expected = {"no_glasses": "not-using-glasses", "eyeglasses": "using-glasses",
                "sunglasses": "using-glasses"}  # fmt: skip
    by_label: dict[str, list[bool]] = defaultdict(list)
    goggles, missed = 0, 0
    for path, label in limited(datasets.glasses_dev(), limit):
        faces = analyze(datasets.load(path), ["glasses"])
        if not faces:
            missed += 1
            continue
        value = faces[0]["glasses"]["value"]
        by_label[label].append(value == expected[label])
        goggles += value == "swimming-goggles"
    celeba = by_label["no_glasses"] + by_label["eyeglasses"]
    out = {"faces": sum(len(v) for v in by_label.values()), "missed": missed,
           "CelebA accuracy": float(np.mean(celeba))}  # fmt: skip
    out.update({f"accuracy {k}": float(np.mean(v)) for k, v in sorted(by_label.items())})
    out["called swimming-goggles"] = goggles
    return out


def glasses_photos(limit: int | None) -> dict:
    """Glasses (any) vs none on faces detected in ordinary photos, not CelebA's chips."""
    by_label: dict[str, list[bool]] = defaultdict(list)
    answers: dict[Path, list[dict]] = {}
    for path, centre, label in limited(datasets.glasses_photos(), limit):
        if path not in answers:
            answers[path] = analyze(datasets.load(path), ["bounds", "glasses"])
        face = min(
            answers[path], key=lambda f: np.abs(box_of(f).reshape(2, 2).mean(0) - centre).sum()
        )
        wearing = face["glasses"]["value"] != "not-using-glasses"
        by_label[label].append(wearing == (label == "eyeglasses"))
    out = {"faces": sum(len(v) for v in by_label.values()),
           "accuracy": float(np.mean([c for v in by_label.values() for c in v]))}  # fmt: skip
    out.update({f"accuracy {k}": float(np.mean(v)) for k, v in sorted(by_label.items())})
    return out


def hair(limit: int | None) -> dict:
    """Per-photo IoU of the largest face's hair polygons with the true mask; a photo with no
    face found scores 0 in the first figure and is left out of the second. The pooled figure
    (all photos' intersections over all their unions, faces found) is the one most papers give:
    it weighs photos by their hair area, so a cap or a bald head counts for little in it."""
    scores: dict[str, list[float]] = defaultdict(list)
    found: dict[str, list[float]] = defaultdict(list)
    pooled: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(2))
    for path, mask, dataset in limited(datasets.hair_dev(), limit):
        image, truth = datasets.load(path), datasets.load_mask(mask)
        faces = analyze(image, ["hair"])
        predicted = polygon_mask(faces[0]["hair"]["polygons"] if faces else [], image.shape)
        score = mask_iou(predicted, truth)
        scores[dataset].append(score if faces else 0.0)
        if faces:
            found[dataset].append(score)
            pooled[dataset] += [(predicted & truth).sum(), (predicted | truth).sum()]
    out: dict = {}
    for dataset in sorted(scores):
        out[f"{dataset} photos (faces found)"] = f"{len(scores[dataset])} ({len(found[dataset])})"
        out[f"{dataset} mean IoU"] = float(np.mean(scores[dataset]))
        out[f"{dataset} mean IoU, faces found"] = float(np.mean(found[dataset]))
        out[f"{dataset} pooled IoU, faces found"] = float(pooled[dataset][0] / pooled[dataset][1])
    return out


BENCHMARKS: dict[str, tuple[str, Callable[[int | None], dict]]] = {
    "detection": ("groups/ (AFW) and the small-face sets of bench.detection", detection),
    "landmarks": ("landmarks_helen/ (HELEN test, 300-W points)", landmarks),
    "pose": ("pose/ (AFLW2000-3D, within ±99°), 5-fold cross-validated", pose),
    "utkface_balanced": (
        "UTKFace dev minutes, 40 band × race × gender cells weighted equally",
        utkface_balanced,
    ),
    "gender_celeba": (
        "glasses/ CelebA faces, Male attribute (unseen by every model)",
        gender_celeba,
    ),
    "gender_fairface": (
        "FairFace photos, 30 per age bin × gender, children included (unseen by every model)",
        gender_fairface,
    ),
    "emotion_photos": (
        "crowd-labelled web photos (muxspace/facial_expressions), dev people, ≤150 per class",
        emotion_photos,
    ),
    "emotion_fer": ("fer2013/dev chips, ≤300 per class, 48 px and enlarged ×4", emotion_fer),
    "emotion_posed": ("posed photos (Taiwanese, CK+48), dev people, ≤100 per class", emotion_posed),
    "smile": ("smile/ dev fifth (source path CRC): GENKI-4K, SMILEsmileD", smile),
    "blur": (
        "landmarks_helen/ + every 8th pose/ photo, shrunk to each face size, Gaussian blur",
        blur,
    ),
    "blur_own_size": (
        "HELEN portraits (also σ 3 px), GENKI-4K, CelebA and UTKFace chips at their own size",
        blur_own_size,
    ),
    "glasses": ("glasses/ dev fifth: CelebA faces, sunglasses selfies", glasses),
    "glasses_photos": (
        "HELEN + AFW photos, faces labelled by eye (bench/glasses_ordinary.csv)",
        glasses_photos,
    ),
    "hair": ("hair/ Figaro-1k testing, LFW Part Labels dev fifth of people", hair),
}


def table(results: dict[str, dict]) -> str:
    lines = ["| benchmark | data | metric | value |", "|---|---|---|---|"]
    for name, metrics in results.items():
        for metric, value in metrics.items():
            if isinstance(value, dict):
                continue  # per-cell figures: ``cells_table``
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            lines.append(f"| {name} | {BENCHMARKS[name][0]} | {metric} | {shown} |")
    return "\n".join(lines)


def cells_table(cells: dict[str, dict]) -> str:
    """The balanced UTKFace set cell by cell: faces, age MAE, gender and ethnicity accuracy."""
    lines = ["| age band | race | gender | faces | age MAE | gender | ethnicity |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for cell, m in cells.items():
        lines.append(f"| {' | '.join(cell.split())} | {m['faces']} | {m['age MAE']:.1f} | "
                     f"{m['gender accuracy']:.2f} | {m['ethnicity accuracy']:.2f} |")  # fmt: skip
    return "\n".join(lines)


def write_section(path: Path, marker: str, body: str) -> None:
    """Replace the text between ``<!-- marker -->`` and ``<!-- /marker -->`` in ``path``."""
    text = path.read_text()
    pattern = re.compile(rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)", re.S)
    if not pattern.search(text):
        sys.exit(f"{path} has no <!-- {marker} --> section")
    path.write_text(pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="at most N images per benchmark (evenly spaced)")
    parser.add_argument("--only", help="comma-separated benchmarks: " + ",".join(BENCHMARKS))
    parser.add_argument("--write", type=Path, help="update the accuracy section of this file")
    parser.add_argument("--json", type=Path, default=Path("bench/results/accuracy.json"))
    args = parser.parse_args()
    if not datasets.DATA.is_dir():
        sys.exit(f"dev data not found at {datasets.DATA}")
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    # Earlier results stay, so --only reruns a part; the table shows the benchmarks' order.
    earlier = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results = {name: earlier[name] for name in BENCHMARKS if name in earlier}
    for name in names:
        start = time.perf_counter()
        results[name] = BENCHMARKS[name][1](args.limit)
        print(f"{name}: {results[name]} ({time.perf_counter() - start:.0f} s)", flush=True)
    results = {name: results[name] for name in BENCHMARKS if name in results}
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.write:
        write_section(args.write, "bench:accuracy", table(results))
        if "utkface_balanced" in results:
            cells = cells_table(results["utkface_balanced"]["cells"])
            write_section(args.write, "bench:balanced", cells)


if __name__ == "__main__":
    main()
