"""What every training recipe shares: seeding, the optimisation loop, ONNX export, the report.

Imports PyTorch: only ``rosto.training`` recipes import this module.
"""

from __future__ import annotations

import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

Batches = Callable[[np.random.Generator], Iterator[tuple[torch.Tensor, ...]]]


class Head(nn.Module):
    """Standardise, then one hidden layer: the classifier heads on a shared representation
    (ethnicity, emotion)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, classes: int, hidden: int = 256):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(len(mean), hidden), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(hidden, classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class Softmaxed(nn.Module):
    """The served graph of a classifier: probabilities, not logits."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(x), dim=1)


class Averaged(nn.Module):
    """The served graph of several heads of one recipe (other seeds): the mean of their
    probabilities. One head's answer hangs on its seed by about a point where the labels are
    noisy (smile on SMILEsmileD); the mean does not, and each head is cheap."""

    def __init__(self, heads: list[nn.Module]):
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.softmax(h(x), dim=1) for h in self.heads]).mean(0)


def seed_everything(seed: int) -> np.random.Generator:
    """Fix every source of randomness for a reproducible run.

    One intra-op thread by default (``ROSTO_TRAINING_THREADS``): float sums then add up in
    one order, and on a shared 2-core machine a second thread mostly waits for the first.
    """
    torch.set_num_threads(int(os.environ.get("ROSTO_TRAINING_THREADS", "1")))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


def fit(
    model: nn.Module,
    batches: Batches,
    loss_fn: Callable[..., torch.Tensor],
    *,
    epochs: int,
    steps: int,
    lr: float,
    rng: np.random.Generator,
    desc: str,
    weight_decay: float = 1e-4,
) -> None:
    """AdamW with a one-cycle schedule; ``batches(rng)`` yields ``steps`` batches per epoch.

    Each batch is ``(inputs, *targets)``; ``loss_fn(outputs, *targets)`` gives the loss.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps)
    for epoch in range(epochs):
        model.train()
        bar = tqdm(batches(rng), total=steps, desc=f"{desc} {epoch + 1}/{epochs}",
                   file=sys.stderr, leave=False, dynamic_ncols=True)  # fmt: skip
        total = 0.0
        for i, (inputs, *targets) in enumerate(bar, 1):
            loss = loss_fn(model(inputs), *targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            bar.set_postfix(loss=f"{total / i:.4f}")
        bar.close()
        print(f"{desc} epoch {epoch + 1}/{epochs}: loss {total / steps:.4f}", file=sys.stderr)


def fit_balanced_head(sets: dict[str, tuple[np.ndarray, np.ndarray]], columns: slice,
                      weights: dict[str, float], rng: np.random.Generator, *, classes: int,
                      epochs: int, lr: float, batch: int, desc: str, hidden: int = 256) -> Head:
    """A ``Head`` on ``columns`` of every view of every face of ``sets`` (name → (M, V, F)
    inputs, (M,) class labels); each set's classes weigh as if balanced, then the set by
    ``weights`` (default 1); cross-entropy with label smoothing 0.1."""
    xs, ys, ws = [], [], []
    for name, (x, y) in sets.items():
        counts = np.bincount(y, minlength=classes).astype(float)
        per_class = np.where(counts > 0, len(y) / (classes * np.maximum(counts, 1)), 0)
        w = per_class[y] * weights.get(name, 1.0)
        xs.append(x[:, :, columns].reshape(-1, columns.stop - columns.start))
        ys.append(np.repeat(y, x.shape[1]))
        ws.append(np.repeat(w, x.shape[1]))
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    head = Head(x.mean(0), x.std(0) + 1e-6, classes, hidden)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    sample = torch.from_numpy((w / w.mean()).astype(np.float32))
    steps = int(np.ceil(len(y) / batch))

    def batches(rng: np.random.Generator):
        order = torch.from_numpy(rng.permutation(len(y)))
        for i in range(steps):
            idx = order[i * batch : (i + 1) * batch]
            yield inputs[idx], targets[idx], sample[idx]

    def loss(logits: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        each = nn.functional.cross_entropy(logits, t, label_smoothing=0.1, reduction="none")
        return (each * s).mean()

    fit(head, batches, loss, epochs=epochs, steps=steps, lr=lr, rng=rng, desc=desc)
    return head


@torch.no_grad()
def predict(model: nn.Module, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    """The model's outputs on a numpy array, in eval mode, batch by batch."""
    model.eval()
    outs = [model(torch.from_numpy(inputs[i : i + batch])).numpy() for i in
            range(0, len(inputs), batch)]  # fmt: skip
    return np.concatenate(outs)


def export_onnx(model: nn.Module, example: np.ndarray, path: Path, outputs: list[str],
                spatial: bool = False) -> None:
    """Opset 17, input ``input`` with a dynamic batch (and height and width of NCHW maps when
    ``spatial``), float32 weights."""
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: "N", 2: "H", 3: "W"} if spatial else {0: "N"}
    dynamic = {name: axes for name in ["input", *outputs]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.from_numpy(example),), str(path), dynamo=False, opset_version=17,
            input_names=["input"], output_names=outputs, dynamic_axes=dynamic,
        )  # fmt: skip


def table(rows: list[tuple[str, str]], title: str) -> str:
    """A two-column plain-text summary table."""
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * len(title)] + [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


class Timer:
    """Wall-clock seconds since creation, for the summary."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.start:.0f} s"
