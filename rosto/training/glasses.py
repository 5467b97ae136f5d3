"""Train the glasses net: eye regions → a 4-layer CNN → ``glasses.onnx`` (3 classes).

Eye regions come from the serving pipeline (detect, landmarks, levelled crop) at 1.25× the
served extent, so training can jitter scale, angle and position and still crop inside real
pixels. Classes: CelebA ``no_glasses`` → not-using-glasses; CelebA ``eyeglasses`` (which
include sunglasses) and the sunglasses selfies → using-glasses; goggles drawn onto the bare
faces (``rosto.training.goggles``) → swimming-goggles. Drawn goggles are easier than real ones
and far more frequent than in life, so the exported graph lowers their logit by ``PRIOR``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rosto.analysis import Analysis
from rosto.features.glasses import LABELS, MODEL, WIDTH, region_crops
from rosto.landmarks import eye_centres
from rosto.training import data, goggles
from rosto.training.common import Timer, export_onnx, fit, predict, seed_everything, table
from rosto.training.faces import extract

EXTENT = 1.25
SOURCE_WIDTH = round(WIDTH * EXTENT)
SEED, EPOCHS, BATCH, LR = 0, 24, 64, 3e-3
PRIOR = -3.0  # added to the goggles logit: drawn goggles were a third of training
NOT, GOGGLES, GLASSES = (LABELS.index(n) for n in
                         ("not-using-glasses", "swimming-goggles", "using-glasses"))  # fmt: skip
CLASS_OF = {"no_glasses": NOT, "eyeglasses": GLASSES, "sunglasses": GLASSES}


def regions(analysis: Analysis) -> dict[str, np.ndarray]:
    crop = region_crops(analysis.image, eye_centres(analysis), EXTENT, SOURCE_WIDTH)
    return {"region": crop.astype(np.uint8)}


class GlassesNet(nn.Module):
    """Four conv blocks on the 48×96 region; raw RGB 0..255 NHWC in, logits out."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]  # fmt: skip
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(channels, len(LABELS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.permute(0, 3, 1, 2) - 127.5) / 64.0
        return self.classifier(self.features(x).mean(dim=(2, 3)))


class Exported(nn.Module):
    """The served graph: softmax of the logits with the goggles prior applied."""

    def __init__(self, net: GlassesNet):
        super().__init__()
        self.net = net
        bias = torch.zeros(len(LABELS))
        bias[GOGGLES] = PRIOR
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x) + self.bias, dim=1)


def centre(source: np.ndarray) -> np.ndarray:
    """The served region inside a 1.25× source crop (same pixel scale, same centre)."""
    h, w = source.shape[1:3]
    dy, dx = (h - WIDTH // 2) // 2, (w - WIDTH) // 2
    return np.ascontiguousarray(source[:, dy : dy + WIDTH // 2, dx : dx + WIDTH]).astype(np.float32)


def augment(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random scale, angle, shift, mirror and colour: (N, h, w, 3) sources → (N, 48, 96, 3)."""
    n = len(batch)
    x = batch.permute(0, 3, 1, 2).float()
    angle = torch.from_numpy(rng.uniform(-0.12, 0.12, n)).float()
    scale = torch.from_numpy(rng.uniform(0.88, 1.12, n) / EXTENT).float()
    flip = torch.from_numpy(np.where(rng.random(n) < 0.5, -1.0, 1.0)).float()
    shift = torch.from_numpy(rng.normal(0, 0.03, (n, 2))).float()
    aspect = x.shape[3] / x.shape[2]
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin / aspect, shift[:, 0]], 1),
        torch.stack([sin * aspect * flip, cos, shift[:, 1]], 1),
    ], 1)  # fmt: skip
    grid = F.affine_grid(theta, [n, 3, WIDTH // 2, WIDTH], align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    gain = torch.from_numpy(rng.uniform(0.6, 1.4, (n, 1, 1, 1)) *
                            rng.uniform(0.85, 1.15, (n, 3, 1, 1))).float()  # fmt: skip
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = torch.from_numpy(rng.uniform(0.7, 1.3, (n, 1, 1, 1))).float()
    x = (x - mean) * contrast + mean * gain
    blur = torch.from_numpy(rng.random(n) < 0.2)
    x[blur] = F.avg_pool2d(x[blur], 3, stride=1, padding=1, count_include_pad=False)
    x = x + torch.randn_like(x) * float(rng.uniform(0, 6))
    return x.clamp(0, 255).permute(0, 2, 3, 1).contiguous()


def sources(split: str, data_dir: Path, fresh: bool) -> tuple[np.ndarray, np.ndarray, list]:
    """1.25× eye regions, class indices and labels of the found faces of a split."""
    items = list(data.glasses(split, data_dir))
    arrays = extract(f"glasses_{split}_regions{SOURCE_WIDTH}", [p for p, _ in items], regions,
                     fresh)  # fmt: skip
    labels = [label for (_, label), f in zip(items, arrays["found"], strict=True) if f]
    return arrays["region"], np.array([CLASS_OF[label] for label in labels]), labels


def with_goggles(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The set plus a drawn-goggles copy of every bare face."""
    bare = x[y == NOT]
    drawn = np.stack([goggles.draw(c, EXTENT, rng) for c in bare])
    return np.concatenate([x, drawn]), np.concatenate([y, np.full(len(drawn), GOGGLES)])


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/glasses.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    x_train, y_train, _ = sources("train", data_dir, fresh)
    x_train, y_train = with_goggles(x_train, y_train, rng)
    x_dev, y_dev, labels_dev = sources("dev", data_dir, fresh)
    net = GlassesNet()
    inputs, targets = torch.from_numpy(x_train), torch.from_numpy(y_train)
    weights = torch.from_numpy(len(y_train) / (len(LABELS) * np.bincount(y_train))).float()
    steps = math.ceil(len(targets) / BATCH)

    def batches(rng: np.random.Generator):
        order = torch.from_numpy(rng.permutation(len(targets)))
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            yield augment(inputs[idx], rng), targets[idx]

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, weight=weights, label_smoothing=0.05)

    fit(net, batches, loss, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="glasses")
    path = out / f"{MODEL}.onnx"
    exported = Exported(net)
    export_onnx(exported, centre(x_dev[:2]), path, ["probabilities"])
    predicted = predict(exported, centre(x_dev)).argmax(1)
    drawn = np.stack([goggles.draw(c, EXTENT, np.random.default_rng(SEED + 1))
                      for c in x_dev[y_dev == NOT]])  # fmt: skip
    goggles_found = (predict(exported, centre(drawn)).argmax(1) == GOGGLES).mean()
    rows = [("train faces (+ drawn goggles)", str(len(y_train))),
            ("dev faces", str(len(y_dev)))]  # fmt: skip
    for name in ("no_glasses", "eyeglasses", "sunglasses"):
        pick = np.array([label == name for label in labels_dev])
        rows.append((f"dev {name} correct", f"{(predicted[pick] == y_dev[pick]).mean():.3f}"))
    celeba = np.array([label != "sunglasses" for label in labels_dev])
    rows += [("dev CelebA accuracy", f"{(predicted[celeba] == y_dev[celeba]).mean():.3f}"),
             ("dev real faces called goggles", f"{(predicted == GOGGLES).mean():.3f}"),
             ("dev drawn goggles found", f"{goggles_found:.3f}"),
             ("time", str(timer)), ("written", str(path))]  # fmt: skip
    return table(rows, "glasses (dev: CelebA 1 in 5, sunglasses selfies 1 in 5)")
