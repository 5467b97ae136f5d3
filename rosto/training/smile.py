"""Train the smile head on the expression nets' own features: GENKI-4K + SMILEsmileD → ONNX.

``expression.onnx`` already computes, for every face, face-api's pooled 256 features and
oarriaga's 256 last-block channels (the emotion head's input). The smile head reads those
512, the logit of the two nets' mean "happy" and the mouth's shape (width, opening, corner
lift), 516 inputs in all: one small graph after the emotion one, nothing else to run.

Training inputs come from the serving pipeline (detection → landmarks → the aligned crop),
on the training four fifths (by source path, as ``bench.datasets.smile_dev``) of the whole of
GENKI-4K (colour portraits) and SMILEsmileD (64² grey crops, about a quarter smiling; every
other crop not smiling is left out), each face as served and mirrored, and every GENKI face
also made small and grey (face 48 px, as the benchmark does). Each set's two classes weigh
the same: the dev sets are balanced, and a user's photo is not three times likelier not to
smile because SMILEsmileD's crops are. ``HEADS`` heads are trained one after another from
one seed; the exported graph answers their mean (``common.Averaged``).
The data comes from ``python -m tools.prepare_smile`` (guarded).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rosto import detection
from rosto.analysis import Analysis
from rosto.features.emotion import EMOTIONS
from rosto.features.smile import happy_logit, mouth_shape
from rosto.landmarks import eye_centres, landmarks68
from rosto.training import common, emotion
from rosto.training.common import Timer, export_onnx, predict, seed_everything, table
from rosto.training.data import DATA_CACHE, SMILE_SETS, rows, small_grey, smile_cached, split_of
from rosto.training.faces import extract

MODEL = "smile"
# 15 epochs, not 30: the dev fifth read SMILEsmileD ~0.8 points better at each of 5 seeds;
# cross-validation on the training faces (tools.smile_cv) sees no difference either way
SEED, EPOCHS, BATCH, LR = 0, 15, 256, 1e-3
HEADS = 5  # the served answer is their mean (``common.Averaged``): no seed's lottery
FEATURES = 512
SET_WEIGHTS: dict[str, float] = {}  # every training set weighs by its size
NOT_SMILING_EVERY = 2  # of SMILEsmileD's 7k training crops not smiling: enough, and half the time
HAPPY = EMOTIONS.index("happy")
FA_HAPPY, OA_HAPPY = FEATURES + HAPPY, FEATURES + len(EMOTIONS) + HAPPY  # in net_features


def face_inputs(analysis: Analysis) -> dict[str, np.ndarray]:
    """(1, 2, 526) the nets' features as served and mirrored, and (1, 3) the mouth's shape."""
    shape = mouth_shape(landmarks68(analysis), eye_centres(analysis))
    return {**emotion.views(analysis), "shape": shape}


def grey_face(image: np.ndarray) -> np.ndarray | None:
    """The photo made small and grey around its largest face (None: no face)."""
    faces = detection.detect(image)
    return small_grey(image, faces[0].box) if faces else None


def served_inputs(views: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(M, V, 516) the head's inputs of each view: features, logit of "happy", mouth shape."""
    happy = (views[..., FA_HAPPY] + views[..., OA_HAPPY]) / 2
    repeated = np.repeat(shape[:, None], views.shape[1], axis=1)
    return np.concatenate([views[..., :FEATURES], happy_logit(happy)[..., None], repeated],
                          axis=-1).astype(np.float32)  # fmt: skip


Sets = dict[str, tuple[np.ndarray, np.ndarray]]


def face_set(name: str, items: list[tuple[Path, bool]], fresh: bool,
             view: Callable[[np.ndarray], np.ndarray | None] | None = None) -> tuple:  # fmt: skip
    """(M, V, 516) inputs and (M,) labels of the found faces of ``items``."""
    # The cache's name carries the emotion graph's recipe: its crops make the features.
    arrays = extract(f"smile_{name}_{emotion.RECIPE}", [p for p, _ in items], face_inputs, fresh,
                     view=view)  # fmt: skip
    labels = np.array([y for (_, y), f in zip(items, arrays["found"], strict=True) if f])
    return served_inputs(arrays["views"], arrays["shape"]), labels.astype(np.int64)


def shared_dev(data_dir: Path) -> dict[str, list[tuple[Path, bool]]]:
    """The benchmark's dev fifth of ``smile/`` (``bench.datasets.smile_dev``), per dataset."""
    out: dict[str, list[tuple[Path, bool]]] = {"GENKI-4K": [], "SMILEsmileD": []}
    for row in rows(data_dir / "smile" / "manifest.csv"):
        if split_of(row["source_path"]) == "dev":
            name = "GENKI-4K" if row["dataset"] == "GENKI-4K" else "SMILEsmileD"
            out[name].append((data_dir / "smile" / row["file"], row["smile"] == "1"))
    return out


def datasets(data_dir: Path, fresh: bool) -> tuple[Sets, Sets]:
    """The benchmark's dev sets and the training sets (the caches' training four fifths; of
    SMILEsmileD's crops not smiling, one in ``NOT_SMILING_EVERY``)."""
    dev_items = shared_dev(data_dir)
    dev: Sets = {
        "GENKI-4K": face_set("genki_dev", dev_items["GENKI-4K"], fresh),
        "GENKI-4K grey 48 px": face_set("genki_dev_grey", dev_items["GENKI-4K"], fresh,
                                        grey_face),  # fmt: skip
        "SMILEsmileD": face_set("smilesmiled_dev", dev_items["SMILEsmileD"], fresh),
    }
    genki = list(smile_cached(SMILE_SETS[0], "train"))
    smiled = list(smile_cached(SMILE_SETS[1], "train"))
    smiled = [i for i in smiled if i[1]] + [i for i in smiled if not i[1]][::NOT_SMILING_EVERY]
    train: Sets = {
        "GENKI-4K": face_set("genki_train", genki, fresh),
        "GENKI-4K grey 48 px": face_set("genki_train_grey", genki, fresh, grey_face),
        "SMILEsmileD": face_set(f"smilesmiled_train_{NOT_SMILING_EVERY}", smiled, fresh),
    }
    return train, dev


def fit_head(train: Sets, columns: slice, rng: np.random.Generator,
             hidden: int = 256, epochs: int = EPOCHS) -> common.Head:
    """A head on ``columns`` of the inputs, every view of every face; each set's two classes
    weigh as if balanced, each set by ``SET_WEIGHTS``."""
    return common.fit_balanced_head(train, columns, SET_WEIGHTS, rng, classes=2, epochs=epochs,
                                    lr=LR, batch=BATCH, desc="smile", hidden=hidden)  # fmt: skip


def accuracies(smiling: Callable[[np.ndarray], np.ndarray], dev: Sets) -> list[tuple[str, str]]:
    """Accuracy of each dev set as served (view 0), and per class."""
    out = []
    for name, (x, y) in dev.items():
        right = smiling(np.ascontiguousarray(x[:, 0])) == y.astype(bool)
        per = "  ".join(f"{label} {right[y == k].mean():.3f}" for k, label in
                        ((1, "smiling"), (0, "not smiling")))  # fmt: skip
        out.append((f"  {name} ({len(y)})", f"{right.mean():.3f}  ({per})"))
    return out


def guard_versions() -> str:
    """The unseen guard (sha256 of ``unseen.txt``, first 16) each training set passed."""
    found = []
    for name in SMILE_SETS:
        record = json.loads((DATA_CACHE / name / "guard.json").read_text())
        found.append(f"{name} {record['guard']['unseen.txt'][:16]} ({record['dropped_by_guard']}"
                     " dropped)")  # fmt: skip
    return ", ".join(found)


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/smile.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    for name in SMILE_SETS:
        if not (DATA_CACHE / name / "guard.json").is_file():
            raise SystemExit(f"{name} not prepared: python -m tools.prepare_smile {name} GITDIR")
    train_sets, dev = datasets(data_dir, fresh)
    rows_out = [(f"train faces {k}", f"{len(y)} ({int(y.sum())} smiling)")
                for k, (_, y) in train_sets.items()]  # fmt: skip
    rows_out += [("'happy' of the two nets > 0.5 (before)", "")]
    rows_out += accuracies(lambda x: x[:, FEATURES] > 0, dev)
    shape_head = fit_head(train_sets, slice(FEATURES, FEATURES + 4), rng, hidden=16)
    rows_out += [("head on 'happy' + mouth shape", "")]
    rows_out += accuracies(lambda x: predict(shape_head, x[:, FEATURES:])[:, 1] >
                           predict(shape_head, x[:, FEATURES:])[:, 0], dev)  # fmt: skip
    heads = [fit_head(train_sets, slice(0, FEATURES + 4), rng) for _ in range(HEADS)]
    rows_out += [("one head on features + 'happy' + mouth shape", "")]
    rows_out += accuracies(lambda x: predict(heads[0], x).argmax(1) == 1, dev)
    served = common.Averaged(heads)
    rows_out += [(f"the mean of {HEADS} such heads (shipped)", "")]
    rows_out += accuracies(lambda x: predict(served, x)[:, 1] >= 0.5, dev)
    path = out / f"{MODEL}.onnx"
    export_onnx(served, np.zeros((2, FEATURES + 4), np.float32), path, ["probabilities"])
    rows_out += [("unseen guard (unseen.txt sha256)", guard_versions()), ("time", str(timer)),
                 ("written", str(path))]  # fmt: skip
    return table(rows_out, "smile (accuracy on the benchmark's dev fifth, as served)")
