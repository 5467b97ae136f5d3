"""Train the ethnicity head: UTKFace → shared representation → 2240→256→4 MLP → ONNX.

Each chip goes through the serving pipeline (``rosto.training.representations``: detect,
landmarks, ``rosto.descriptor``'s representation), the same cached faces the age and gender
head learns from. ``others`` has no API class and is left out. The head standardises its
input itself, so the ONNX file takes the raw representation.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rosto.features.ethnicity import LABELS, MODEL
from rosto.training import common, data, representations
from rosto.training.age_gender import cell, sample_weights
from rosto.training.common import Timer, export_onnx, fit, predict, seed_everything, table
from rosto.training.metrics import BALANCED_BANDS, balanced_mean, confusion, confusion_text

SEED, EPOCHS, BATCH, LR, BALANCED = 0, 40, 256, 2e-3, True


# The head and its served graph, shared with the other classifier heads.
Head = partial(common.Head, classes=len(LABELS))
Exported = common.Softmaxed


def faces(split: str, data_dir: Path, fresh: bool,
          cache: str | None = None) -> tuple[np.ndarray, list[dict]]:  # fmt: skip
    """(M, 2240) representations and the label rows of the found faces of a split, ``others``
    out (``cache``: see ``representations.utkface``)."""
    arrays, found = representations.utkface(split, data_dir, fresh, cache=cache)
    keep = np.array([row["race"] in LABELS for row in found])
    return arrays["representation"][keep], [row for row, k in zip(found, keep, strict=True) if k]


def fit_head(x: np.ndarray, rows: list[dict], rng: np.random.Generator,
             balanced: bool = BALANCED, views: int = 1) -> Head:  # fmt: skip
    """The head trained on ``x``; ``balanced``: batches drawn with every (age band, race,
    gender) cell alike, as the balanced dev set weighs them; ``views``: how many rows each
    face has (an epoch is one pass over the faces)."""
    y = torch.from_numpy(np.array([LABELS.index(r["race"]) for r in rows]))
    head = Head(x.mean(0), x.std(0) + 1e-6)
    inputs = torch.from_numpy(x)
    weights = sample_weights(rows) if balanced else None
    steps = int(np.ceil(len(y) / views / BATCH))

    def batches(rng: np.random.Generator):
        if weights is not None:
            for _ in range(steps):
                idx = torch.from_numpy(rng.choice(len(weights), BATCH, p=weights))
                yield inputs[idx], y[idx]
            return
        order = torch.from_numpy(rng.permutation(len(y)))
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            yield inputs[idx], y[idx]

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, target, label_smoothing=0.1)

    fit(head, batches, loss, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="ethnicity")
    return head


def balanced_figures(correct: np.ndarray, rows: list[dict]) -> list[tuple[str, str]]:
    """Accuracy with every (age band, race, gender) cell weighing the same, overall and by
    band, race and gender, as ``bench.accuracy``'s balanced set reports it."""
    cells = [cell(r) for r in rows]
    out = [("balanced accuracy", f"{balanced_mean(correct, cells):.3f}")]
    for part, names in ((0, [f"{lo}-{hi}" for lo, hi in BALANCED_BANDS]), (1, LABELS),
                        (2, ("female", "male"))):  # fmt: skip
        for name in names:
            idx = [i for i, c in enumerate(cells) if c[part] == name]
            chosen = balanced_mean(correct[idx], [cells[i] for i in idx])
            out.append((f"  {name}", f"{chosen:.3f}"))
    return out


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/ethnicity.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    x_train, rows_train = faces("train", data_dir, fresh)
    # The same faces as the earlier pipeline cropped them: a second view of each (never fresh:
    # today's pipeline would make it a copy of the first).
    x_earlier, rows_earlier = faces("train", data_dir, False, representations.EARLIER_TRAIN)
    x_dev, rows_dev = faces("dev", data_dir, fresh)
    head = fit_head(np.concatenate([x_train, x_earlier]), rows_train + rows_earlier, rng,
                    views=2)  # fmt: skip
    path = out / f"{MODEL}.onnx"
    export_onnx(Exported(head), x_dev[:2], path, ["probabilities"])
    predicted = predict(head, x_dev).argmax(1)
    truth = np.array([LABELS.index(r["race"]) for r in rows_dev])
    correct = predicted == truth
    rows = [("train faces (today's pipeline / earlier)",
             f"{len(rows_train)} / {len(rows_earlier)}"),
            ("dev faces", str(len(rows_dev))),
            ("dev accuracy (faces as they come)", f"{correct.mean():.3f}"),
            *balanced_figures(correct, rows_dev),
            ("guard", json.dumps(data.guard_record())), ("time", str(timer)),
            ("written", str(path))]  # fmt: skip
    matrix = confusion_text(confusion(truth, predicted, len(LABELS)), LABELS)
    return table(rows, "ethnicity (UTKFace dev minutes, 4 classes)") + "\n\n" + matrix
