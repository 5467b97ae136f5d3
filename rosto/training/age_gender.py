"""Train the age and gender head on the shared face representation (``rosto.descriptor``).

Data: UTKFace's training minutes (all 23.7k chips when ``tools.prepare_faces`` has brought
them, else the 6,000 of ``../shared/data``) and All-Age-Faces when prepared; measured on
UTKFace's dev minutes with every (age band, race, gender) cell weighing the same, as
``bench.accuracy`` does. Sampling is balanced by cell, so old faces and rare groups are not
drowned by UTKFace's young white majority (which pulls every age towards 30).

Age is a soft-bin expectation: the head gives a distribution over 0..AGES-1 years, trained
against a Gaussian around the label (σ grows with age: labels of old faces are vaguer), and
answers its mean.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rosto.descriptor import COMPACT
from rosto.features.age_gender import AGES, HEAD
from rosto.training import data
from rosto.training.common import Timer, export_onnx, fit, seed_everything, table
from rosto.training.metrics import BALANCED_BANDS, age_band, balanced_mean
from rosto.training.representations import AGE_GENDER, aaf, utkface

SEED, EPOCHS, BATCH, LR, HIDDEN = 0, 10, 256, 1e-3, 512
GENDERS = ("male", "female")  # the head's gender order, as face-api's
RACES = ("asian", "black", "indian", "white")


class Head(nn.Module):
    """Standardise, one shared hidden layer, then age bins and gender logits."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = HIDDEN):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.trunk = nn.Sequential(nn.Dropout(0.2), nn.Linear(len(mean), hidden), nn.ReLU(),
                                   nn.Dropout(0.3))  # fmt: skip
        self.age = nn.Linear(hidden, AGES)
        self.gender = nn.Linear(hidden, len(GENDERS))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk((x - self.mean) / self.std)
        return self.age(h), self.gender(h)


class Exported(nn.Module):
    """The served graph: age in years (the bins' expectation) and gender probabilities."""

    def __init__(self, head: Head):
        super().__init__()
        self.head = head
        self.register_buffer("years", torch.arange(AGES, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        age, gender = self.head(x)
        return torch.softmax(age, dim=1) @ self.years, torch.softmax(gender, dim=1)


# Face-api's pooled features (mirror-averaged, ``rosto.features.age_gender``), after the compact
# representation in the heads' input.
POOLED = 512
# The heads, by the leading columns of the input each reads: the compact representation alone,
# and with face-api's pooled features (they give age and gender what the recognition net's
# identity features lose; two heads averaged beat either alone, MODELS.md).
WIDTHS = (len(COMPACT), len(COMPACT) + POOLED)


class Fused(nn.Module):
    """The served graph: the heads' answers averaged, then with face-api's, then the age
    corrected for its bias (stretched about PIVOT years and shifted); all chosen out of fold
    on the training faces (``choose``).

    Input: the compact representation, face-api's pooled features, then its age, p(male),
    p(female) (``rosto.features.age_gender.head_inputs``)."""

    def __init__(self, heads: list[Exported], age_weight: float, gender_weight: float,
                 stretch: float = 0.0, shift: float = 0.0):  # fmt: skip
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.age_weight, self.gender_weight = age_weight, gender_weight
        self.stretch, self.shift = stretch, shift

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = WIDTHS[-1]
        answers = [head(x[:, :width]) for head, width in zip(self.heads, WIDTHS, strict=True)]
        age = torch.stack([a for a, _ in answers]).mean(0)
        gender = torch.stack([g for _, g in answers]).mean(0)
        w, v = self.age_weight, self.gender_weight
        age = w * age + (1 - w) * x[:, size]
        age = age + self.stretch * (age - PIVOT) + self.shift
        return age, v * gender + (1 - v) * x[:, size + 1 :]


def cell(row: dict) -> tuple[str, str, str]:
    return age_band(int(row["age"]), BALANCED_BANDS), row["race"] or "aaf", row["gender"]


def soft_targets(ages: np.ndarray) -> np.ndarray:
    """(N, AGES) Gaussian label distributions: σ = 1.5 years at birth, + 0.06 per year."""
    years = np.arange(AGES)
    sigma = 1.5 + 0.06 * ages[:, None]
    p = np.exp(-0.5 * ((years[None] - np.minimum(ages, AGES - 1)[:, None]) / sigma) ** 2)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def sample_weights(rows: list[dict]) -> np.ndarray:
    """Each face weighs 1/size of its cell (band, race or AAF, gender), normalised."""
    cells = [cell(r) for r in rows]
    counts: dict[tuple, int] = {}
    for c in cells:
        counts[c] = counts.get(c, 0) + 1
    w = np.array([1.0 / counts[c] for c in cells])
    return w / w.sum()


def evaluate(ages: np.ndarray, male: np.ndarray, rows: list[dict]) -> dict[str, tuple]:
    """Balanced dev figures (4 API races only) by group ("all", bands, races, genders):
    (age MAE, age bias, gender accuracy), each the mean of its cells' means."""
    keep = [i for i, r in enumerate(rows) if r["race"] in RACES]
    cells = [cell(rows[i]) for i in keep]
    truth = np.array([int(rows[i]["age"]) for i in keep])
    error = ages[keep] - truth
    right = (male[keep] > 0.5) == np.array([rows[i]["gender"] == "male" for i in keep])
    groups = [("all", lambda c: True)]
    groups += [(f"{lo}-{hi}", lambda c, b=f"{lo}-{hi}": c[0] == b) for lo, hi in BALANCED_BANDS]
    groups += [(r, lambda c, r=r: c[1] == r) for r in RACES]
    groups += [(g, lambda c, g=g: c[2] == g) for g in GENDERS]
    out = {}
    for name, chosen in groups:
        idx = [i for i, c in enumerate(cells) if chosen(c)]
        sub = [cells[i] for i in idx]
        out[name] = (balanced_mean(np.abs(error[idx]), sub), balanced_mean(error[idx], sub),
                     balanced_mean(right[idx], sub))  # fmt: skip
    return out


def figures(scores: dict[str, tuple], prefix: str = "") -> list[tuple[str, str]]:
    """Summary rows of ``evaluate``'s figures."""
    return [(f"{prefix}{name}: age MAE / bias / gender", f"{mae:.2f} / {bias:+.2f} / {acc:.3f}")
            for name, (mae, bias, acc) in scores.items()]  # fmt: skip


def head_inputs(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The heads' inputs (compact representation, face-api's pooled features: WIDTHS[-1]
    columns) and face-api's (age, p(male), p(female)) of cached faces."""
    return np.concatenate([arrays["compact"], arrays["faceapi_features"]], 1), arrays["faceapi"]


def training_set(data_dir: Path, fresh: bool, cached_only: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list[dict]]:  # fmt: skip
    """UTKFace's training minutes and All-Age-Faces: the heads' inputs, face-api's
    (age, p(male), p(female)) and label rows."""
    arrays, rows = utkface("train", data_dir, fresh, cached_only, AGE_GENDER)
    extra, extra_rows = aaf(fresh, cached_only, AGE_GENDER)
    if extra_rows:
        arrays = {k: np.concatenate([arrays[k], extra[k]]) for k in arrays}
    return *head_inputs(arrays), rows + extra_rows


def fit_head(x: np.ndarray, rows: list[dict], rng: np.random.Generator,
             epochs: int = EPOCHS, balanced: bool = True) -> Exported:  # fmt: skip
    """The trained head on inputs ``x`` of faces ``rows`` (soft age bins + gender)."""
    ages = np.array([int(r["age"]) for r in rows])
    inputs = torch.from_numpy(x)
    age_targets = torch.from_numpy(soft_targets(ages))
    gender_targets = torch.from_numpy(np.array([GENDERS.index(r["gender"]) for r in rows]))
    weights = sample_weights(rows) if balanced else np.full(len(rows), 1 / len(rows))
    head = Head(x.mean(0), x.std(0) + 1e-6)
    steps = int(np.ceil(len(rows) / BATCH))
    years = torch.arange(AGES, dtype=torch.float32)

    def batches(rng: np.random.Generator):
        for _ in range(steps):
            idx = torch.from_numpy(rng.choice(len(weights), BATCH, p=weights))
            yield inputs[idx], age_targets[idx], gender_targets[idx]

    def loss(outputs, age_target, gender_target):
        age_logits, gender_logits = outputs
        log_p = torch.log_softmax(age_logits, dim=1)
        expected, truth = log_p.exp() @ years, age_target @ years
        age = -(age_target * log_p).sum(1).mean() + 0.05 * (expected - truth).abs().mean()
        return age + nn.functional.cross_entropy(gender_logits, gender_target, label_smoothing=0.05)

    fit(head, batches, loss, epochs=epochs, steps=steps, lr=LR, rng=rng, desc="age_gender")
    return Exported(head)


WEIGHTS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)  # the head's share, tried out of fold
STRETCHES = (0.0, 0.04, 0.08, 0.12, 0.16)  # age bias corrections tried out of fold
PIVOT = 30.0
TIE = 0.005  # gender accuracies closer than this are taken as equal
FOLDS = 2


def fold_of(row: dict) -> int:
    """The training face's fold for out-of-fold answers: UTKFace by crop minute (as its dev
    split, so the faces of one photo stay together), All-Age-Faces by file."""
    name = Path(row["file"]).name
    key = name.split(".")[0].rsplit("_", 1)[1][:12] if row["race"] else name
    return zlib.crc32(f"fold {key}".encode()) % FOLDS


def fit_heads(x: np.ndarray, rows: list[dict], rng: np.random.Generator) -> list[Exported]:
    """One head per input width of WIDTHS."""
    return [fit_head(x[:, :width], rows, rng) for width in WIDTHS]


def heads_answers(heads: list[Exported], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The heads' (N,) ages and (N, 2) gender probabilities, averaged (as ``Fused`` does)."""
    answers = [predict_both(head, x[:, :width]) for head, width in zip(heads, WIDTHS, strict=True)]
    return np.mean([a for a, _ in answers], 0), np.mean([g for _, g in answers], 0)


def out_of_fold(x: np.ndarray, rows: list[dict], rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The heads' answers for every training face from heads trained on the other folds:
    what the blend and the bias correction are chosen on, so that the dev set only measures."""
    folds = np.array([fold_of(r) for r in rows])
    age, gender = np.zeros(len(rows), np.float32), np.zeros((len(rows), 2), np.float32)
    for fold in range(FOLDS):
        held = folds == fold
        heads = fit_heads(x[~held], [r for r, h in zip(rows, held, strict=True) if not h], rng)
        age[held], gender[held] = heads_answers(heads, x[held])
    return age, gender


def choose(age: np.ndarray, gender: np.ndarray, faceapi: np.ndarray, rows: list[dict]
           ) -> tuple[tuple[float, float, float, float], list[tuple[str, str]]]:  # fmt: skip
    """(age share, gender share, stretch, shift) of the blend with face-api, chosen on
    out-of-fold answers of the training faces (cells equally weighted), and the summary rows."""
    scores, summary = {}, []
    for w in WEIGHTS:
        blend = w * age + (1 - w) * faceapi[:, 0], w * gender[:, 0] + (1 - w) * faceapi[:, 1]
        scores[w] = evaluate(*blend, rows)["all"]
        summary += figures({"all": scores[w]}, f"out of fold, head share {w}, ")
    age_weight = min(WEIGHTS, key=lambda w: scores[w][0])
    # Shares within TIE of the best gender accuracy are not told apart (one standard error):
    # of those, the one nearest an even average of the two nets.
    best = max(scores[w][2] for w in WEIGHTS)
    tied = [w for w in WEIGHTS if scores[w][2] >= best - TIE]
    gender_weight = min(tied, key=lambda w: abs(w - 0.5))
    blended = age_weight * age + (1 - age_weight) * faceapi[:, 0]
    corrections = {}
    for stretch in STRETCHES:  # each with the shift that cancels the balanced bias
        stretched = blended + stretch * (blended - PIVOT)
        shift = round(-evaluate(stretched, faceapi[:, 1], rows)["all"][1], 2)
        corrections[stretch, shift] = evaluate(stretched + shift, faceapi[:, 1], rows)["all"]
        summary += figures({"all": corrections[stretch, shift]},
                           f"out of fold, stretch {stretch}, shift {shift:+.2f}, ")  # fmt: skip
    stretch, shift = min(corrections, key=lambda k: corrections[k][0])
    return (age_weight, gender_weight, stretch, shift), summary


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, choose the blend with face-api out of fold on the training faces, export
    ``out/age_gender_head.onnx``, measure on dev; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    x_train, faceapi_train, rows_train = training_set(data_dir, fresh)
    dev, rows_dev = utkface("dev", data_dir, fresh, cache=AGE_GENDER)
    x_dev, faceapi_dev = head_inputs(dev)
    rows = [("train faces", f"{len(rows_train)} (AAF {sum(not r['race'] for r in rows_train)})"),
            ("dev faces", str(len(rows_dev)))]  # fmt: skip
    oof_age, oof_gender = out_of_fold(x_train, rows_train, rng)
    choice, summary = choose(oof_age, oof_gender, faceapi_train, rows_train)
    age_weight, gender_weight, stretch, shift = choice
    rows += summary
    fused = Fused(fit_heads(x_train, rows_train, rng), age_weight, gender_weight, stretch, shift)
    inputs = np.concatenate([x_dev, faceapi_dev], axis=1)
    path = out / f"{HEAD}.onnx"
    export_onnx(fused, inputs[:2], path, ["age", "gender"])
    age, gender = predict_both(fused, inputs)
    rows += [*figures(evaluate(faceapi_dev[:, 0], faceapi_dev[:, 1], rows_dev),
                      "dev, face-api alone, "),
             (f"chosen: age {age_weight}, gender {gender_weight}, stretch {stretch}, shift "
              f"{shift:+.2f}", ""),
             *figures(evaluate(age, gender[:, 0], rows_dev), "dev, "),
             ("guard", json.dumps(data.guard_record())), ("time", str(timer)),
             ("written", str(path))]  # fmt: skip
    return table(rows, "age and gender (UTKFace dev minutes, cells equally weighted)")


def predict_both(model: nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) ages and (N, 2) gender probabilities of the exported graph, in PyTorch."""
    with torch.no_grad():
        model.eval()
        age, gender = model(torch.from_numpy(x))
    return age.numpy(), gender.numpy()
