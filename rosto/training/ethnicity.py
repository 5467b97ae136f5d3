"""Train the ethnicity head: UTKFace → shared representation → 2240→256→4 MLP → ONNX.

Each chip goes through the serving pipeline (``rosto.training.representations``: detect,
landmarks, ``rosto.descriptor``'s representation), the same cached faces the age and gender
head learns from. ``others`` has no API class and is left out. The head standardises its
input itself, so the ONNX file takes the raw representation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rosto.features.ethnicity import LABELS, MODEL
from rosto.training import data, representations
from rosto.training.common import Timer, export_onnx, fit, predict, seed_everything, table
from rosto.training.metrics import age_band, confusion, confusion_text, grouped

SEED, EPOCHS, BATCH, LR = 0, 40, 256, 2e-3


class Head(nn.Module):
    """Standardise, then one hidden layer: small enough for 4.6k faces."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 256):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(len(mean), hidden), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(hidden, len(LABELS)),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class Exported(nn.Module):
    """The served graph: probabilities, not logits."""

    def __init__(self, head: Head):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(x), dim=1)


def faces(split: str, data_dir: Path, fresh: bool) -> tuple[np.ndarray, list[dict]]:
    """(M, 2240) representations and the label rows of the found faces of a split, ``others``
    out."""
    arrays, found = representations.utkface(split, data_dir, fresh)
    keep = np.array([row["race"] in LABELS for row in found])
    return arrays["representation"][keep], [row for row, k in zip(found, keep, strict=True) if k]


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/ethnicity.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    x_train, rows_train = faces("train", data_dir, fresh)
    x_dev, rows_dev = faces("dev", data_dir, fresh)
    y_train = np.array([LABELS.index(r["race"]) for r in rows_train])
    head = Head(x_train.mean(0), x_train.std(0) + 1e-6)
    inputs = torch.from_numpy(x_train)
    targets = torch.from_numpy(y_train)
    steps = int(np.ceil(len(targets) / BATCH))

    def batches(rng: np.random.Generator):
        order = torch.from_numpy(rng.permutation(len(targets)))
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            yield inputs[idx], targets[idx]

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, y, label_smoothing=0.1)

    fit(head, batches, loss, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="ethnicity")
    path = out / f"{MODEL}.onnx"
    export_onnx(Exported(head), x_dev[:2], path, ["probabilities"])
    predicted = predict(head, x_dev).argmax(1)
    truth = np.array([LABELS.index(r["race"]) for r in rows_dev])
    correct = predicted == truth
    rows = [("train faces", str(len(rows_train))), ("dev faces", str(len(rows_dev))),
            ("dev accuracy", f"{correct.mean():.3f}")]  # fmt: skip
    rows += [(f"  {g}", f"{a:.3f}") for g, a in
             grouped(correct, [r["gender"] for r in rows_dev]).items()]  # fmt: skip
    bands = grouped(correct, [age_band(int(r["age"])) for r in rows_dev])
    rows += [(f"  age {b}", f"{a:.3f}") for b, a in bands.items()]
    rows += [("guard", json.dumps(data.guard_record())), ("time", str(timer)),
             ("written", str(path))]  # fmt: skip
    matrix = confusion_text(confusion(truth, predicted, len(LABELS)), LABELS)
    return table(rows, "ethnicity (UTKFace dev, 4 classes)") + "\n\n" + matrix
