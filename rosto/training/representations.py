"""The faces the age, gender and ethnicity heads learn from, as the serving pipeline sees them.

Every photo goes through detection, landmarks, ``rosto.descriptor``'s shared representation
and face-api's age_gender net, exactly as in a request; the arrays are cached in chunks of
1,000 photos (a run over tens of thousands survives an interruption, and any prefix of the
chunks is a fair sample: photos are ordered by a CRC of their names). Dev faces are UTKFace's
dev minutes (``data.utkface_split_of``): no head ever trains on them.

    python -m rosto.training.representations    # extract everything, nice'd, in the background
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rosto.analysis import Analysis
from rosto.descriptor import compact, representation
from rosto.features.age_gender import faceapi
from rosto.training import cache_dir, data
from rosto.training.faces import extract

CHUNK = 1000
# The caches' names: change one when the pipeline before the heads changes. "v4": the training
# faces through the pipeline since the detector's bordered second look at tight crops (8d04b05;
# it changed the face found in about 9% of UTKFace's 200² chips), "v3": the dev faces, the same.
# All-Age-Faces' 13-59-year-olds are still those cached before 8d04b05 (after the whole-photo
# detector and the mirrored landmarks): their faces are not tight crops, and the re-cached
# children and over-60s moved by 3% (median) with none moved by 20%, against 9% of UTKFace's.
CACHES = {"train": "agegender_v4", "dev": "agegender_v3", "aaf_middle": "agegender"}
# The training faces as the pipeline before ac03354 saw them (the 256² letterbox detector,
# landmarks not averaged with the mirror image; their cache is kept as it was):
# other boxes, landmarks and so crops of the same faces. The ethnicity head learns from both
# caches, a second view of each face that makes it hold across small crop shifts (MODELS.md).
EARLIER_TRAIN = "agegender"


# The age and gender heads' faces (every split and All-Age-Faces, the current pipeline, since
# face-api's net answers for each face's crop and its mirror image and gives its pooled features).
AGE_GENDER = "agegender_v5"


def inputs(analysis: Analysis) -> dict[str, np.ndarray]:
    """(1, 2240) representation of the face (the ethnicity head's input; the caches of
    ``CACHES`` also hold face-api's direct answers of their time, which no head reads now)."""
    return {"representation": representation(analysis)}


def age_gender_inputs(analysis: Analysis) -> dict[str, np.ndarray]:
    """(1, 1216) compact representation, (1, 3) face-api's age, p(male), p(female) and (1, 512)
    pooled features of the face (each the mean of its crop and mirror image's): the age and
    gender heads' inputs, as served."""
    age, gender, features = faceapi(analysis)
    return {"compact": compact(analysis), "faceapi": np.concatenate([age[:, None], gender], 1),
            "faceapi_features": features}  # fmt: skip


def stable_order(items: Sequence[tuple[Path, dict]]) -> list[tuple[Path, dict]]:
    """Items in the order of a CRC of their names: any prefix is a fair random sample."""
    return sorted(items, key=lambda item: (zlib.crc32(item[0].name.encode()), item[0].name))


def faces(name: str, items: Sequence[tuple[Path, dict]], fresh: bool = False,
          cached_only: bool = False, cache: str = CACHES["train"]):  # fmt: skip
    """Arrays of the found faces of ``items`` and their rows; cached by chunks of CHUNK under
    the name ``cache`` (``AGE_GENDER``: ``age_gender_inputs``, else ``inputs``).
    ``cached_only``: only the chunks already extracted (a fair sample, for quick trials)."""
    compute = age_gender_inputs if cache == AGE_GENDER else inputs
    items = stable_order(items)
    arrays: dict[str, list[np.ndarray]] = {}
    found_rows: list[dict] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        tag = zlib.crc32("\n".join(p.name for p, _ in chunk).encode())
        key = f"{cache}_{name}_{start:05d}_{tag:08x}"
        if cached_only and not (cache_dir() / f"{key}.npz").is_file():
            continue
        cached = extract(key, [p for p, _ in chunk], compute, fresh)
        for key, value in cached.items():
            if key != "found":
                arrays.setdefault(key, []).append(value)
        found_rows += [row for (_, row), f in zip(chunk, cached["found"], strict=True) if f]
    return {k: np.concatenate(v) for k, v in arrays.items()}, found_rows


def utkface(split: str, data_dir: Path, fresh: bool = False, cached_only: bool = False,
            cache: str | None = None):  # fmt: skip
    """Arrays and rows of the found UTKFace faces of a split (full copy when prepared), from
    the cache ``cache`` (default: the split's ``CACHES``)."""
    return faces(f"utkface_{split}", list(data.utkface(split, data_dir)), fresh, cached_only,
                 cache or CACHES[split])  # fmt: skip


AAF_AGES = (12, 60)  # All-Age-Faces faces cached first: children up to 12 and adults from 60


def aaf(fresh: bool = False, cached_only: bool = False, cache: str | None = None):
    """Arrays and rows of every found All-Age-Faces face; empty when not prepared.

    Two cached sets: the children and old faces (``AAF_AGES``: the ages UTKFace is thin in
    and our models are weakest at, extracted first) and the ages between them; both under
    ``cache`` when given, else each under its ``CACHES`` name."""
    young, old = AAF_AGES
    items = list(data.aaf())
    ends = [(p, r) for p, r in items if not young < int(r["age"]) < old]
    middle = [(p, r) for p, r in items if young < int(r["age"]) < old]
    parts = [faces(name, chosen, fresh, cached_only, cache or CACHES.get(name, CACHES["train"]))
             for name, chosen in (("aaf", ends), ("aaf_middle", middle)) if chosen]  # fmt: skip
    parts = [(arrays, rows) for arrays, rows in parts if rows]
    if not parts:
        return {}, []
    arrays = {k: np.concatenate([a[k] for a, _ in parts]) for k in parts[0][0]}
    return arrays, [row for _, rows in parts for row in rows]


def extract_all(data_dir: Path = data.DATA, fresh: bool = False) -> None:
    """Extract (and cache) every face the recipes use: UTKFace dev, train, then AAF, for
    ethnicity then for age and gender."""
    for cache in (None, AGE_GENDER):
        for split in ("dev", "train"):
            utkface(split, data_dir, fresh, cache=cache)
        aaf(fresh, cache=cache)


if __name__ == "__main__":
    extract_all()
