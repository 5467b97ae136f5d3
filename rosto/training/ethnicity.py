"""Train the ethnicity head: UTKFace → recognition features → 2240→256→4 MLP → ONNX.

Each chip goes through the serving pipeline (detect, landmarks, the two crops of
``rosto.features.ethnicity``); every training face is seen as is and mirrored. ``others`` has
no API class and is left out. The head standardises its input itself, so the ONNX file takes
the raw input of ``head_inputs``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rosto.analysis import Analysis
from rosto.descriptor import crops
from rosto.features.ethnicity import LABELS, MODEL, WIDE, head_inputs
from rosto.landmarks import landmarks68
from rosto.training import data
from rosto.training.common import Timer, export_onnx, fit, predict, seed_everything, table
from rosto.training.faces import extract
from rosto.training.metrics import age_band, confusion, confusion_text, grouped

SEED, EPOCHS, BATCH, LR = 0, 40, 256, 2e-3


def views(analysis: Analysis) -> dict[str, np.ndarray]:
    """(1, 2, 2240) head inputs of the face: as served and mirrored."""
    points = landmarks68(analysis)
    tight, wide = crops(analysis.image, points), crops(analysis.image, points, WIDE)
    out = head_inputs(np.concatenate([tight, tight[:, :, ::-1]]),
                      np.concatenate([wide, wide[:, :, ::-1]]))  # fmt: skip
    return {"views": out[None]}


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
    """(M, 2, 2240) views and the label rows of the found faces of a split, ``others`` out."""
    items = list(data.utkface(split, data_dir))
    name = f"utkface_{split}_recognition_features_wide{WIDE}"
    arrays = extract(name, [p for p, _ in items], views, fresh)
    found = [row for (_, row), f in zip(items, arrays["found"], strict=True) if f]
    keep = np.array([row["race"] in LABELS for row in found])
    return arrays["views"][keep], [row for row, k in zip(found, keep, strict=True) if k]


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/ethnicity.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    x_train, rows_train = faces("train", data_dir, fresh)
    x_dev, rows_dev = faces("dev", data_dir, fresh)
    y_train = np.array([LABELS.index(r["race"]) for r in rows_train])
    flat = x_train.reshape(-1, x_train.shape[-1])
    head = Head(flat.mean(0), flat.std(0) + 1e-6)
    inputs = torch.from_numpy(flat)
    targets = torch.from_numpy(np.repeat(y_train, x_train.shape[1]))
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
    export_onnx(Exported(head), x_dev[:2, 0], path, ["probabilities"])
    predicted = predict(head, np.ascontiguousarray(x_dev[:, 0])).argmax(1)
    truth = np.array([LABELS.index(r["race"]) for r in rows_dev])
    correct = predicted == truth
    rows = [("train faces", str(len(rows_train))), ("dev faces", str(len(rows_dev))),
            ("dev accuracy", f"{correct.mean():.3f}")]  # fmt: skip
    rows += [(f"  {g}", f"{a:.3f}") for g, a in
             grouped(correct, [r["gender"] for r in rows_dev]).items()]  # fmt: skip
    bands = grouped(correct, [age_band(int(r["age"])) for r in rows_dev])
    rows += [(f"  age {b}", f"{a:.3f}") for b, a in bands.items()]
    rows += [("time", str(timer)), ("written", str(path))]
    matrix = confusion_text(confusion(truth, predicted, len(LABELS)), LABELS)
    return table(rows, "ethnicity (UTKFace dev, 4 classes)") + "\n\n" + matrix
