"""Train the hair segmenter: hair regions → a small U-Net → ``hair.onnx`` (192² probabilities).

Regions come from the serving pipeline (detector box → ``rosto.features.hair.regions``) at
1.25× the served extent so training can jitter scale, angle and position. Photos where no
face is found (Figaro has many heads seen from behind) still teach hair: their whole image is
the region. Figaro-1k training + LFW Part Labels (4 in 5 people) train; Figaro testing and the
other LFW people measure, as mean per-image IoU of the served polygons against the masks.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from rosto import alignment
from rosto.analysis import Analysis
from rosto.features.hair import INPUT, MODEL, face_hair, mirrored_mean, regions
from rosto.training import data
from rosto.training.common import Timer, export_onnx, fit, predict, seed_everything, table
from rosto.training.data import load, load_mask
from rosto.training.faces import extract, largest_face
from rosto.training.metrics import iou, polygon_mask

EXTENT = 1.25
SOURCE = round(INPUT * EXTENT)
SEED, EPOCHS, BATCH, LR = 0, 70, 16, 3e-3
WIDTHS = (16, 32, 64, 96, 160)


def grown(region: np.ndarray) -> np.ndarray:
    """Regions grown by ``EXTENT`` about their centres."""
    centre, half = (region[:, :2] + region[:, 2:]) / 2, (region[:, 2:] - region[:, :2]) / 2
    return np.concatenate([centre - half * EXTENT, centre + half * EXTENT], axis=1)


def face_region(analysis: Analysis) -> dict[str, np.ndarray]:
    box = grown(regions(analysis.faces[0].box[None]))
    return {"image": alignment.crops(analysis.image, box, SOURCE).astype(np.uint8), "box": box}


def whole_image(_: Path, image: np.ndarray) -> dict[str, np.ndarray]:
    """The region of a photo without a detected face: the square around the whole image."""
    h, w = image.shape[:2]
    half = max(h, w) / 2
    box = np.array([[w / 2 - half, h / 2 - half, w / 2 + half, h / 2 + half]])
    return {"image": alignment.crops(image, box, SOURCE).astype(np.uint8), "box": box}


def mask_crop(mask: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 0..1 crop of a boolean mask, as ``alignment.crops`` crops images."""
    rgb = np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2)
    return alignment.crops(rgb, box[None], size)[0, ..., 0] / 255.0


def samples(split: str, data_dir: Path, fresh: bool) -> dict[str, np.ndarray]:
    """Region crops, mask crops, whether a face was found, and the dataset of every photo."""
    items = list(data.hair(split, data_dir))
    arrays = extract(f"hair_{split}_regions{SOURCE}", [p for p, _, _ in items], face_region,
                     fresh, fallback=whole_image)  # fmt: skip
    arrays["mask"] = np.stack(
        [
            mask_crop(load_mask(m), box, SOURCE).astype(np.float32)
            for (_, m, _), box in zip(items, arrays["box"], strict=True)
        ]
    )
    arrays["dataset"] = np.array([d for _, _, d in items])
    return arrays


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))  # fmt: skip


class HairNet(nn.Module):
    """A U-Net whose stride-2 stem works at half the input (96² of 192²), five levels down to
    6² for the context of a whole head, and bilinear logits back to the input size: hair
    outlines are smooth at that scale. NHWC RGB 0..255 in, (N, S, S) logits out."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))  # fmt: skip
        self.down = nn.ModuleList(
            [block(widths[0], widths[0])]
            + [block(a, b) for a, b in zip(widths, widths[1:], strict=False)]
        )
        self.bottom = block(widths[-1], widths[-1])
        self.up = nn.ModuleList(
            [block(a + b, b) for a, b in zip(widths[:0:-1], widths[-2::-1], strict=True)]
        )  # fmt: skip
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem((x.permute(0, 3, 1, 2) - 127.5) / 64.0)
        skips = []
        for i, layer in enumerate(self.down):
            x = layer(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.bottom(x)
        for layer, skip in zip(self.up, skips[-2::-1], strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = layer(torch.cat([x, skip], dim=1))
        x = F.interpolate(self.out(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        return x[:, 0]


class Exported(nn.Module):
    """The served graph: hair probabilities (N, S, S)."""

    def __init__(self, net: HairNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def augment(
    images: torch.Tensor, masks: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random scale, angle, shift, mirror and colour of (N, S, S, 3) sources and their masks."""
    n = len(images)
    x = torch.cat([images.permute(0, 3, 1, 2).float(), masks[:, None]], dim=1)
    angle = torch.from_numpy(rng.uniform(-0.2, 0.2, n)).float()
    scale = torch.from_numpy(rng.uniform(0.8, 1.2, n) / EXTENT).float()
    flip = torch.from_numpy(np.where(rng.random(n) < 0.5, -1.0, 1.0)).float()
    shift = torch.from_numpy(rng.normal(0, 0.06, (n, 2))).float()
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, [n, 4, INPUT, INPUT], align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    image, mask = x[:, :3], x[:, 3]
    gain = torch.from_numpy(rng.uniform(0.6, 1.4, (n, 1, 1, 1)) *
                            rng.uniform(0.85, 1.15, (n, 3, 1, 1))).float()  # fmt: skip
    mean = image.mean(dim=(1, 2, 3), keepdim=True)
    contrast = torch.from_numpy(rng.uniform(0.7, 1.3, (n, 1, 1, 1))).float()
    image = ((image - mean) * contrast + mean * gain).clamp(0, 255)
    return image.permute(0, 2, 3, 1).contiguous(), mask


def loss_fn(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice: the second keeps thin hair from being ignored."""
    probs = torch.sigmoid(logits)
    inter = (probs * mask).sum(dim=(1, 2))
    dice = 1 - (2 * inter + 1) / (probs.sum(dim=(1, 2)) + mask.sum(dim=(1, 2)) + 1)
    return F.binary_cross_entropy_with_logits(logits, mask) + dice.mean()


def served_ious(model: nn.Module, split: str, data_dir: Path) -> dict[str, list[float]]:
    """Per-photo IoU of the served polygons with the true mask, by dataset; a photo without a
    detected face counts 0 (the API answers nothing for it)."""
    out: dict[str, list[float]] = {}
    items = list(data.hair(split, data_dir))
    for path, mask_file, dataset in tqdm(items, desc="measure", file=sys.stderr, leave=False):
        image, truth = load(path), load_mask(mask_file)
        analysis = largest_face(image)
        score = 0.0
        if analysis is not None:
            region = regions(analysis.faces[0].box[None])
            crop = alignment.crops(image, region, INPUT)
            probs = mirrored_mean(lambda x: predict(model, x), crop)[0]
            hair = face_hair(image, probs, region[0], analysis.faces[0].area)["hair"]
            score = iou(polygon_mask(hair["polygons"], image.shape), truth)
        out.setdefault(dataset, []).append(score)
        if analysis is not None:
            out.setdefault(f"{dataset} with a face", []).append(score)
    return out


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Train, export ``out/hair.onnx``; returns the summary table."""
    timer = Timer()
    rng = seed_everything(SEED)
    train_set = samples("train", data_dir, fresh)
    net = HairNet()
    images = torch.from_numpy(train_set["image"])
    masks = torch.from_numpy(train_set["mask"])
    steps = math.ceil(len(images) / BATCH)

    def batches(rng: np.random.Generator):
        order = torch.from_numpy(rng.permutation(len(images)))
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            yield augment(images[idx], masks[idx], rng)

    fit(net, batches, loss_fn, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="hair")
    exported = Exported(net)
    path = out / f"{MODEL}.onnx"
    export_onnx(exported, np.zeros((1, INPUT, INPUT, 3), np.float32), path, ["probabilities"])
    ious = served_ious(exported, "dev", data_dir)
    rows = [("train photos (with a face)",
             f"{len(images)} ({int(train_set['found'].sum())})")]  # fmt: skip
    rows += [(f"dev mean IoU {name}", f"{np.mean(v):.3f} ({len(v)} photos)")
             for name, v in sorted(ious.items())]  # fmt: skip
    rows += [("time", str(timer)), ("written", str(path))]
    return table(rows, "hair (Figaro-1k testing, LFW Part Labels 1 in 5 people)")
