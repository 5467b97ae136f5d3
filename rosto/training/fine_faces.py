"""Train the fine-pass detector of large photos (``rosto.fine_faces``): pixels → faces of 12-120 px.

Training canvases are made here, none of the benchmark's faces or backgrounds (HELEN, AFLW2000's
``dev`` fold, AFW and scikit-image's photos are never read): real photos whose own faces the
shipped detector finds at full size (LFW, Figaro-1k, the sunglasses selfies, CelebA faces,
GENKI-4K), scaled at random so those faces are 12-120 px wide and set side by side on a 384²
canvas over another training photo (heads seen from behind in Figaro-1k: hard negatives), and
chips of UTKFace's train split and All-Age-Faces pasted on it (``paste``). Every face is
labelled with the box and keypoints the detector gave it at full size, scaled; faces outside
the net's sizes and those another photo covers are left out of the loss. The canvas is shrunk
by ``fine_faces.SCALE`` as the photo is; cells near a face's centre are positives, the rest of
its box neither.

The base net (EPOCHS on the canvases, mirrored at random) is then fine-tuned in TUNES stages,
each warm-started from the previous stage's exported graph (``warm_start``) on the same
canvases, a share of them as 2×2 mosaics at half size (more faces near the smallest width),
some grey, JPEG-compressed or noisy as users' photos often are (``augmented``). The last stage
adds TURNED canvases on which the pasted chips are the turned heads of AFLW2000-3D's ``train``
fold (``turned_heads``: the training photos' faces are near-frontal, and turned heads were the
benchmark's misses); its export is then averaged with its start, half each (``averaged``:
alone it found more turned heads but lost small real faces). The shipped weights are the last
stage's export; ``--tune-from`` runs the stages alone (``--first-stage K`` from stage K: the
shipped weights are ``rosto train fine_faces --tune-from STAGE2.onnx --first-stage 3``, stage 2's
graph being the one shipped before the turned-head stage, sha256 f1ddf618…).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from rosto import detection, fine_faces, verifier
from rosto.analysis import Analysis
from rosto.training import cache_dir, data
from rosto.training.common import Batches, Timer, export_onnx, fit, seed_everything, table
from rosto.training.data import load
from rosto.training.faces import extract

SEED, EPOCHS, BATCH, LR = 0, 20, 32, 4e-3
RECIPE = 1  # of the cached photos and canvases: change it when they would be made differently
CANVAS = 384  # photo pixels; the net sees it shrunk by fine_faces.SCALE
CANVASES, HELD_OUT = 8000, 400
PHOTOS = 1200  # at most, of each real-photo set
WIDTHS = (12, 120)  # face widths (detector box) drawn for the canvases, photo pixels
SCALES = (0.35, 2.0)  # of the background photo, at least enough to cover the canvas
REAL, PASTED = 4, 5  # at most, per canvas: real photos set on it, chips pasted on it
CHIPS = 2500  # of each of UTKFace and All-Age-Faces
MIRRORED = np.array([1, 0, 2, 3, 5, 4])  # the six keypoints' order in a mirrored face


class Stage(NamedTuple):
    """A fine-tuning stage: ``epochs`` at ``lr``, ``mosaics`` of its canvases 2×2 mosaics; with
    ``turned``, TURNED canvases of AFLW2000's turned heads (``turned_canvases``) added; with
    ``average``, the exported graph's weights are that share the stage's start's, the rest the
    tuned net's (``averaged``)."""

    epochs: int
    lr: float
    mosaics: float
    turned: bool = False
    average: float = 0.0


# Fine-tuning stages after the base, each seeded with TUNE_SEED at its start and warm-started
# from the previous stage's ONNX. The turned-head stage alone found more turned heads but lost
# small real faces and drew ~20 px boxes on the tests' photos; half its start kept neither.
TUNE_SEED = 1
TUNES = (Stage(10, 1e-3, 0.3), Stage(10, 1e-3, 0.4),
         Stage(6, 1e-3, 0.4, turned=True, average=0.5))  # fmt: skip
TURNED = 4000  # canvases with AFLW2000's training-fold faces pasted on them
HEAD_OVERLAP, HEAD_WIDTH = 0.3, 40  # IoU with the labelled points' extent; px
TURN = 15.0  # degrees: those faces turned in the image plane at random, up to this either way
GREY, JPEG, NOISE = 0.15, 0.2, 0.15  # shares of the tuning canvases made so
QUALITY = (25, 80)  # of the JPEG compression, drawn in [25, 80)
SIGMA = (2.0, 8.0)  # of the Gaussian noise, grey levels, drawn
CALIBRATION = 62  # one training canvas in this many sets the warm-started batch norms


def face_box(analysis: Analysis) -> dict[str, np.ndarray]:
    face = analysis.faces[0]
    return {"box": face.box[None], "keypoints": face.keypoints[None]}


def chips(fresh: bool) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, box, keypoints) of the training chips where the detector finds a face."""
    utk = [path for path, _ in data.utkface("train")][::4][:CHIPS]
    aaf = [path for path, _ in data.aaf()][::4][:CHIPS]
    out = []
    for name, paths in (("utkface_train", utk), ("aaf", aaf)):
        found = extract(f"face_chips_{name}_{len(paths)}", paths, face_box, fresh)
        kept = [p for p, f in zip(paths, found["found"], strict=True) if f]
        out += list(zip(kept, found["box"], found["keypoints"], strict=True))
    return out


def turned_heads(fresh: bool) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, box, keypoints) of the AFLW2000-3D faces of the ``train`` fold
    (``data.aflw_split_of``; yaw up to ±99°, the benchmark pastes the other fold), as
    ``labelled_heads`` keeps them (450² photos, faces of 130-250 px; all 190: IoU with their 68
    points' extent 0.43-0.95, median 0.77)."""
    aflw = [(path, points) for path, points, _ in data.aflw("train")]
    return labelled_heads("aflw_train", aflw, fresh)


def profile_heads(fresh: bool) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, box, keypoints) of CFP's profile photos (``data.cfp_profiles``, yaw about 60-90°;
    the face judge's turned heads beside AFLW's), as ``labelled_heads`` keeps them (their 30
    points cover the visible half of the face: 1,983 of 2,000 found, median IoU 0.61, a few
    boxes on another face or a 20 px photo left out). Empty when they are not prepared."""
    return labelled_heads("cfp_profiles", list(data.cfp_profiles()), fresh)


def labelled_heads(name: str, labelled: list[tuple[Path, np.ndarray]], fresh: bool
                   ) -> list[tuple[Path, np.ndarray, np.ndarray]]:  # fmt: skip
    """The box and keypoints the shipped detector gives each photo's largest face at full size
    (cached as ``name``), less what the unseen guard reports, kept where the box's centre lies
    within the extent of the face's labelled points, overlaps that extent by HEAD_OVERLAP (IoU)
    and is HEAD_WIDTH px wide: heads the detector misses at full size have no box of ours."""
    extents = {path: np.array([*points.min(0), *points.max(0)]) for path, points in labelled}
    if not extents:
        return []
    paths = unguarded(list(extents))
    found = extract(f"fine_faces_{name}_{len(paths)}", paths, face_box, fresh)
    kept = [p for p, f in zip(paths, found["found"], strict=True) if f]
    out = []
    for path, box, keypoints in zip(kept, found["box"], found["keypoints"], strict=True):
        centre, extent = (box[:2] + box[2:]) / 2, extents[path]
        inside = (extent[:2] <= centre).all() and (centre <= extent[2:]).all()
        overlap = verifier.overlaps(box[None], extent[None])[0, 0]
        if inside and overlap >= HEAD_OVERLAP and box[2] - box[0] >= HEAD_WIDTH:
            out.append((path, box, keypoints))
    return out


def unguarded(paths: list[Path]) -> list[Path]:
    """The paths less every file that ``../shared/tools/unseen_guard.py`` reports in their
    folders (on the dev data it reports a few Figaro and selfie photos)."""
    guard = data.DATA.parent / "tools" / "unseen_guard.py"
    folders = sorted({str(path.parent) for path in paths})
    done = subprocess.run([sys.executable, str(guard), *folders], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode not in (0, 1):
        raise RuntimeError(f"unseen_guard failed: {done.stderr}")
    reported = {Path(line.split("\t")[0]) for line in done.stdout.splitlines() if "\t" in line}
    return [path for path in paths if path not in reported]


def real_photos(fresh: bool) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, boxes (K, 4), keypoints (K, 6, 2)) of the training photos and every face the
    shipped detector finds in them: LFW and Figaro-1k (hair), sunglasses selfies and CelebA
    faces (glasses), GENKI-4K (smile); less what the unseen guard reports."""
    hair = list(data.hair("train"))
    glasses = list(data.glasses("train"))
    paths = [image for image, _, name in hair if name == "lfw"][:PHOTOS]
    paths += [image for image, _, name in hair if name == "figaro"][:PHOTOS]
    paths += [path for path, label in glasses if label == "sunglasses"][:PHOTOS]
    paths += [path for path, label in glasses if label != "sunglasses"][::3][:PHOTOS]
    paths += [path for path, _ in data.smile_cached("genki4k", "train")][::2][:PHOTOS]
    paths = unguarded(paths)
    cache = cache_dir() / f"fine_faces_photos_v{RECIPE}_{len(paths)}.npz"
    if cache.is_file() and not fresh:
        with np.load(cache) as saved:
            boxes, keypoints, counts = saved["boxes"], saved["keypoints"], saved["counts"]
    else:
        found = [detection.detect(load(p)) for p in tqdm(paths, desc="photos' faces",
                                                         file=sys.stderr)]  # fmt: skip
        counts = np.array([len(f) for f in found])
        boxes = np.array([f.box for fs in found for f in fs]).reshape(-1, 4)
        keypoints = np.array([f.keypoints for fs in found for f in fs]).reshape(-1, 6, 2)
        np.savez(cache, boxes=boxes, keypoints=keypoints, counts=counts)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return [(p, boxes[a:b], keypoints[a:b])
            for p, a, b in zip(paths, starts[:-1], starts[1:], strict=True)]  # fmt: skip


def mirrored(width: int, boxes: np.ndarray, keypoints: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Boxes and keypoints of a photo ``width`` wide mirrored left to right."""
    boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    points = keypoints[:, MIRRORED].copy()
    points[..., 0] = width - points[..., 0]
    return boxes, points


def background(photo: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """A CANVAS² cut of the photo scaled at random, at least to cover the canvas (no mirrored
    copies of its faces, which would be unlabelled), mirrored at random; its faces' boxes and
    keypoints there."""
    scale = float(np.exp(rng.uniform(*np.log(SCALES))))
    scale = max(scale, CANVAS / min(photo.shape[:2]))
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes, keypoints = boxes * scale, keypoints * scale
    if rng.random() < 0.5:
        big = big[:, ::-1]
        boxes, keypoints = mirrored(big.shape[1], boxes, keypoints)
    oy = rng.integers(0, big.shape[0] - CANVAS + 1)
    ox = rng.integers(0, big.shape[1] - CANVAS + 1)
    offset = np.array([ox, oy])
    return (np.ascontiguousarray(big[oy : oy + CANVAS, ox : ox + CANVAS]),
            boxes - np.tile(offset, 2), keypoints - offset)  # fmt: skip


def paste(canvas: np.ndarray, chip: np.ndarray, box: np.ndarray, keypoints: np.ndarray,
          width: float, at: np.ndarray, rng: np.random.Generator, angle: float = 0.0
          ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Paste the chip's face ``width`` px wide centred at ``at`` (with 1.5 boxes of its
    surroundings, a soft oval edge, a random light, blur and mirror), turned ``angle``
    degrees in the image plane; its box (as wide, about the turned centre) and keypoints (the
    subject's right and left swapped in a mirrored face)."""
    scale = width / (box[2] - box[0])
    centre = (box[:2] + box[2:]) / 2
    side = int(np.ceil(1.5 * max(box[2] - box[0], box[3] - box[1]) * scale))
    flip = rng.random() < 0.5
    cos, sin = np.cos(np.radians(angle)) * scale, np.sin(np.radians(angle)) * scale
    linear = np.array([[-cos if flip else cos, sin], [sin if flip else -sin, cos]])
    warp = np.concatenate([linear, (side / 2 - linear @ centre)[:, None]], axis=1)
    patch = cv2.warpAffine(chip, warp, (side, side), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_REFLECT).astype(np.float32)  # fmt: skip
    patch = patch * rng.uniform(0.6, 1.25) + rng.uniform(-20, 20)
    if rng.random() < 0.15:
        patch[:] = patch.mean(axis=2, keepdims=True)
    if rng.random() < 0.4:
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.4, 1.2))
    yy, xx = (np.mgrid[0:side, 0:side] + 0.5) / side - 0.5
    alpha = np.clip((0.5 - np.hypot(xx, yy)) / 0.15, 0, 1)[..., None]
    top_left = (at - side / 2).round().astype(int)
    y0, x0 = max(top_left[1], 0), max(top_left[0], 0)
    y1, x1 = min(top_left[1] + side, canvas.shape[0]), min(top_left[0] + side, canvas.shape[1])
    part = (slice(y0 - top_left[1], y1 - top_left[1]), slice(x0 - top_left[0], x1 - top_left[0]))
    region = canvas[y0:y1, x0:x1]
    region[:] = alpha[part] * patch[part] + (1 - alpha[part]) * region
    half = (box[2:] - box[:2]) * scale / 2
    points = (keypoints @ warp[:, :2].T + warp[:, 2] + top_left)[MIRRORED if flip else slice(None)]
    placed = side / 2 + top_left  # the box's centre, where the warp puts it
    return np.concatenate([placed - half, placed + half]), points


def canvas(photos: list, faces: list, rng: np.random.Generator, turn: float = 0.0
           ) -> dict[str, np.ndarray]:  # fmt: skip
    """One training canvas in the net's input pixels: a background photo, up to REAL photos
    with faces scaled to a random width and set on it, up to PASTED chips (turned in the
    image plane by up to ``turn`` degrees either way); the faces' boxes and keypoints, and the
    boxes left out of the loss (``ignore``)."""
    path, own, points = photos[rng.integers(len(photos))]
    image, boxes, keypoints = background(load(path), own, points, rng)
    image = image.astype(np.float32)
    rects: list[np.ndarray] = []
    labelled, labelled_points = [boxes], [keypoints]
    for _ in range(int(rng.integers(0, REAL + 1))):
        path, own, points = photos[rng.integers(len(photos))]
        photo = load(path)
        if len(own):  # its largest face a random width
            scale = float(np.exp(rng.uniform(*np.log(WIDTHS)))) / (own[0, 2] - own[0, 0])
        else:  # a faceless photo (a head from behind) of a random size
            scale = float(np.exp(rng.uniform(np.log(40), np.log(CANVAS)))) / max(photo.shape)
        size = np.array(photo.shape[1::-1]) * scale
        if (size >= CANVAS).any() or (size < 8).any():
            continue
        small = cv2.resize(photo, tuple(int(s) for s in np.maximum(size.round(), 1)),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        own, points = own * scale, points * scale
        if rng.random() < 0.5:
            small = small[:, ::-1]
            own, points = mirrored(small.shape[1], own, points)
        for _ in range(5):
            at = rng.integers(0, CANVAS - np.array(small.shape[1::-1]) + 1)
            rect = np.concatenate([at, at + small.shape[1::-1]]).astype(np.float32)
            if not rects or verifier.overlaps(rect[None], np.array(rects)).max() == 0:
                break
        else:
            continue
        x0, y0, x1, y1 = rect.astype(int)
        image[y0:y1, x0:x1] = small
        rects.append(rect)
        labelled.append(own + np.tile(at, 2))
        labelled_points.append(points + at)
    boxes, keypoints = np.concatenate(labelled), np.concatenate(labelled_points)
    covered = np.zeros(len(boxes), dtype=bool)
    first = len(labelled[0])  # the background's faces: those a photo covers are left out
    if rects and first:
        covered[:first] = verifier.overlaps(boxes[:first], np.array(rects)).max(axis=1) > 0
    pasted, pasted_points = [], []
    for _ in range(int(rng.integers(0, PASTED + 1)) * 3):
        if len(pasted) >= PASTED:
            break
        width = float(np.exp(rng.uniform(*np.log(WIDTHS))))
        at = rng.uniform(0, CANVAS, size=2)
        near = np.concatenate([at - width, at + width])[None]
        taken = np.concatenate([boxes, *[p[None] for p in pasted]]).reshape(-1, 4)
        if len(taken) and verifier.overlaps(near, taken).max() > 0:
            continue
        chip_path, box, chip_points = faces[rng.integers(len(faces))]
        angle = rng.uniform(-turn, turn) if turn else 0.0
        placed, placed_points = paste(image, load(chip_path), box, chip_points, width, at, rng,
                                      angle)  # fmt: skip
        pasted.append(placed)
        pasted_points.append(placed_points)
    if pasted:
        boxes = np.concatenate([boxes, np.array(pasted)])
        keypoints = np.concatenate([keypoints, np.array(pasted_points)])
        covered = np.concatenate([covered, np.zeros(len(pasted), dtype=bool)])
    if rng.random() < 0.3:
        image = image * rng.uniform(0.6, 1.3) + rng.uniform(-25, 25)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    image = np.clip(image, 0, 255).round().astype(np.uint8)
    small = detection.resized(image, fine_faces.SCALE)
    scale = fine_faces.SCALE
    widths = (boxes[:, 2] - boxes[:, 0]) * scale
    fits = (widths >= fine_faces.WIDTHS[0]) & (widths <= fine_faces.WIDTHS[1]) & ~covered
    return {"image": small, "boxes": boxes[fits] * scale, "keypoints": keypoints[fits] * scale,
            "ignore": boxes[~fits] * scale}  # fmt: skip


def targets(sample: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per output cell: 1 (near a face's centre), 0 (background) or -1 (left out: the rest of
    a face's box, faces outside the net's sizes or covered); and the regression targets of the
    positive cells (box offset and log size, keypoints in units of the face's width)."""
    stride = fine_faces.STRIDE
    grid = (sample["image"].shape[0] // stride, sample["image"].shape[1] // stride)
    cy, cx = np.mgrid[0 : grid[0], 0 : grid[1]] * stride + stride / 2
    label = np.zeros(grid, np.float32)
    regression = np.zeros((fine_faces.OUTPUTS - 1, *grid), np.float32)
    for box in np.concatenate([sample["boxes"], sample["ignore"]]):
        grow = 0.1 * (box[2:] - box[:2])
        x0, y0 = box[:2] - grow
        x1, y1 = box[2:] + grow
        label[(cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)] = -1
    for box, points in zip(sample["boxes"], sample["keypoints"], strict=True):
        width = box[2] - box[0]
        centre = (box[:2] + box[2:]) / 2
        distance = np.hypot(cx - centre[0], cy - centre[1])
        near = distance <= max(0.15 * width, distance.min() + 1e-3)
        label[near] = 1
        cells = np.stack([cx[near], cy[near]], axis=1)
        size = box[2:] - box[:2]
        offsets = (centre - cells) / fine_faces.UNIT
        logs = np.broadcast_to(np.log(size / fine_faces.UNIT), offsets.shape)
        marks = (points[None] - cells[:, None]) / width
        regression[:, near] = np.concatenate([offsets, logs, marks.reshape(len(cells), -1)], 1).T
    return label, regression


def block(channels: int, out: int, stride: int = 1, kernel: int = 3) -> nn.Module:
    """Depthwise ``kernel``² (at ``stride``), then 1×1 to ``out`` channels, batch-normed."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel, stride, kernel // 2, groups=channels, bias=False),
        nn.BatchNorm2d(channels),
        nn.Conv2d(channels, out, 1, bias=False), nn.BatchNorm2d(out),
    )  # fmt: skip


class Residual(nn.Module):
    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.body = block(channels, channels, kernel=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class Net(nn.Module):
    """Stride 2: a 3×3 convolution to 16 channels and a residual block; stride 4: 32 channels,
    two blocks; stride 8: 64 channels, two 5×5 blocks, brought back to stride 4 (1×1 to 32,
    nearest ×2) and added; a block, then 1×1 to the score and regressions per stride-4 cell."""

    def __init__(self, c1: int = 16, c2: int = 32, c3: int = 64):
        super().__init__()
        self.s2 = nn.Sequential(nn.Conv2d(3, c1, 3, 2, 1, bias=False), nn.BatchNorm2d(c1),
                                nn.ReLU(), Residual(c1))  # fmt: skip
        self.s4 = nn.Sequential(block(c1, c2, 2), nn.ReLU(), Residual(c2), Residual(c2))
        self.s8 = nn.Sequential(block(c2, c3, 2), nn.ReLU(), Residual(c3, 5), Residual(c3, 5))
        self.up = nn.Sequential(nn.Conv2d(c3, c2, 1, bias=False), nn.BatchNorm2d(c2))
        self.head = nn.Sequential(Residual(c2), nn.Conv2d(c2, fine_faces.OUTPUTS, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s4 = self.s4(self.s2(x))
        context = F.interpolate(self.up(self.s8(s4)), scale_factor=2.0, mode="nearest")
        return self.head(F.relu(s4 + context))


class Served(nn.Module):
    """The exported graph: the score as a probability, then the regressions."""

    def __init__(self, net: Net):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return torch.cat([torch.sigmoid(out[:, :1]), out[:, 1:]], dim=1)


def loss(out: torch.Tensor, label: torch.Tensor, regression: torch.Tensor) -> torch.Tensor:
    """Focal loss on the cells not left out, per positive cell; smooth L1 on the positives'
    box and keypoints."""
    logits = out[:, 0]
    counted = label >= 0
    target = label.clamp(min=0)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    focal = bce * ((1 - p) * target + p * (1 - target)) ** 2 * (0.25 + 0.5 * target)
    positives = (label == 1).sum().clamp(min=1)
    score = (focal * counted).sum() / positives
    mask = (label == 1)[:, None]
    each = F.smooth_l1_loss(out[:, 1:], regression, reduction="none", beta=0.1) * mask
    boxes, marks = each[:, :4].sum() / 4, each[:, 4:].sum() / (fine_faces.OUTPUTS - 5)
    return score + (4 * boxes + 2 * marks) / positives


def flipped(sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The canvas mirrored left to right, its faces with it."""
    width = sample["image"].shape[1]
    boxes, keypoints = mirrored(width, sample["boxes"], sample["keypoints"])
    ignore = mirrored(width, sample["ignore"], np.zeros((len(sample["ignore"]), 6, 2)))[0]
    return {"image": np.ascontiguousarray(sample["image"][:, ::-1]), "boxes": boxes,
            "keypoints": keypoints, "ignore": ignore}  # fmt: skip


def batch_of(samples: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs (as ``fine_faces.net_input``), labels and regressions of a few canvases."""
    made = [targets(s) for s in samples]
    images = torch.from_numpy(np.concatenate([fine_faces.net_input(s["image"]) for s in samples]))
    labels = torch.from_numpy(np.stack([m[0] for m in made]))
    regressions = torch.from_numpy(np.stack([m[1] for m in made]))
    return images.contiguous(memory_format=torch.channels_last), labels, regressions


def measure(net: Net, samples: list) -> list[tuple[str, str]]:
    """Recall of the held-out canvases' faces by a candidate scoring ≥ 0.5 (IoU ≥ 0.4 with
    the face's box), candidates ≥ 0.5 per canvas, and the keypoints' mean error in face
    widths."""
    net.eval()
    found = total = proposed = 0
    errors = []
    for sample in samples:
        with torch.no_grad():
            out = Served(net)(torch.from_numpy(fine_faces.net_input(sample["image"])))
        boxes, points, _ = fine_faces.decode(out.numpy(), 0.5)
        proposed += len(boxes)
        for box, truth in zip(sample["boxes"], sample["keypoints"], strict=True):
            total += 1
            if len(boxes) and (iou := verifier.overlaps(box[None], boxes)[0]).max() >= 0.4:
                found += 1
                best = points[iou.argmax()]
                errors.append(np.hypot(*(best - truth).T).mean() / (box[2] - box[0]))
    return [("held-out faces", str(total)),
            ("found by a candidate ≥ 0.5 (IoU ≥ 0.4)", f"{found / max(total, 1):.3f}"),
            ("candidates ≥ 0.5 per canvas", f"{proposed / len(samples):.2f}"),
            ("keypoint error, face widths", f"{np.mean(errors):.3f}")]  # fmt: skip


def canvases(photos: list, faces: list, count: int, rng: np.random.Generator, desc: str,
             turn: float = 0.0) -> list[dict]:  # fmt: skip
    return [canvas(photos, faces, rng, turn)
            for _ in tqdm(range(count), desc=desc, file=sys.stderr)]  # fmt: skip


def turned_canvases(photos: list, fresh: bool) -> list[dict]:
    """TURNED canvases as the others, but the pasted faces AFLW2000's turned heads
    (``turned_heads``, each on about 60 canvases: at random widths, places, lights, mirrored,
    turned by up to TURN degrees in the image plane); from their own seed, cached."""
    cached = cache_dir() / f"fine_faces_turned_v{RECIPE}_{SEED}_{TURNED}.pt"
    if cached.is_file() and not fresh:
        return torch.load(cached, weights_only=False)
    rng = np.random.default_rng([SEED, TURNED])
    samples = canvases(photos, turned_heads(fresh), TURNED, rng, "turned canvases", TURN)
    torch.save(samples, cached)
    return samples


def training_canvases(photos: list, faces: list, fresh: bool, rng: np.random.Generator
                      ) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """The training and held-out canvases, from the cache when there (``rng`` then left as
    making them left it, so training draws the same either way)."""
    cached = cache_dir() / f"fine_faces_canvases_v{RECIPE}_{SEED}_{CANVASES}.pt"
    if cached.is_file() and not fresh:
        samples, held_out, state = torch.load(cached, weights_only=False)
        rng.bit_generator.state = state
    else:
        samples = canvases(photos, faces, CANVASES, rng, "canvases")
        held_out = canvases(photos, faces, HELD_OUT, rng, "held-out canvases")
        torch.save((samples, held_out, rng.bit_generator.state), cached)
    return samples, held_out


def mosaic(quarters: list[dict], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Four canvases at half size in a 2×2 canvas of ``shape``: their faces half as wide, those
    now narrower than the net's sizes left out of the loss."""
    half = shape[0] // 2
    image = np.zeros(shape, np.uint8)
    boxes, points, ignore = [], [], []
    for k, quarter in enumerate(quarters):
        qy, qx = divmod(k, 2)
        image[qy * half : (qy + 1) * half, qx * half : (qx + 1) * half] = cv2.resize(
            quarter["image"], (half, half), interpolation=cv2.INTER_AREA)  # fmt: skip
        offset = np.array([qx * half, qy * half], np.float32)
        wide = (quarter["boxes"][:, 2] - quarter["boxes"][:, 0]) / 2 >= fine_faces.WIDTHS[0]
        boxes.append(quarter["boxes"][wide] / 2 + np.tile(offset, 2))
        points.append(quarter["keypoints"][wide] / 2 + offset)
        ignore += [quarter["boxes"][~wide] / 2 + np.tile(offset, 2),
                   quarter["ignore"] / 2 + np.tile(offset, 2)]  # fmt: skip
    return {"image": image, "boxes": np.concatenate(boxes).reshape(-1, 4),
            "keypoints": np.concatenate(points).reshape(-1, 6, 2),
            "ignore": np.concatenate(ignore).reshape(-1, 4)}  # fmt: skip


def degraded(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image made grey (GREY of the time), JPEG-compressed (JPEG; its RGB given to OpenCV
    as they are, the artefacts JPEG's all the same) and noisy (NOISE), each drawn apart."""
    draws = rng.random(3)
    if draws[0] < GREY:
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    if draws[1] < JPEG:
        quality = int(rng.integers(*QUALITY))
        _, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image),
                                  [cv2.IMWRITE_JPEG_QUALITY, quality])  # fmt: skip
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    if draws[2] < NOISE:
        sigma = rng.uniform(*SIGMA)
        image = np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def augmented(sample: dict, samples: list[dict], mosaics: float, rng: np.random.Generator
              ) -> dict[str, np.ndarray]:  # fmt: skip
    """A tuning canvas: ``mosaics`` of the time a 2×2 mosaic of four random ``samples``
    instead of ``sample``; ``degraded``; mirrored half of the time."""
    if rng.random() < mosaics:
        quarters = [samples[rng.integers(len(samples))] for _ in range(4)]
        sample = mosaic(quarters, sample["image"].shape)
    sample = {**sample, "image": degraded(sample["image"], rng)}
    return flipped(sample) if rng.random() < 0.5 else sample


def shuffled(samples: list[dict], steps: int,
             prepare: Callable[[list[dict], np.random.Generator], list[dict]]
             ) -> Batches:  # fmt: skip
    """Batches of one epoch (a ``fit`` argument): the samples in a random order, each batch's
    canvases as ``prepare`` makes them."""

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(samples))
        for i in range(steps):
            yield batch_of(prepare([samples[j] for j in order[i * BATCH : (i + 1) * BATCH]], rng))

    return batches


def mirrored_at_random(chosen: list[dict], rng: np.random.Generator) -> list[dict]:
    """The base training's canvases: each mirrored half of the time."""
    flips = rng.random(len(chosen)) < 0.5
    return [flipped(s) if f else s for s, f in zip(chosen, flips, strict=True)]


def export(net: Net, example: np.ndarray, path: Path) -> None:
    """The net as served (``Served``), with a dynamic batch, height and width."""
    export_onnx(Served(net), fine_faces.net_input(example), path, ["output"], spatial=True)


def load_fused(net: Net, path: Path) -> None:
    """Put the convolutions of the exported graph at ``path`` into ``net``. The export folded
    each batch norm into the convolution before it: those norms become identities plus the
    folded bias (the graph's function, in eval mode)."""
    graph = onnx.load(str(path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # the exporter keeps one of equal tensors, the others Identity nodes
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    fused = [(weights[n.input[1]], weights[n.input[2]]) for n in graph.node if n.op_type == "Conv"]
    convolutions = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    norms = iter([m for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    for conv, (weight, bias) in zip(convolutions, fused, strict=True):
        if tuple(conv.weight.shape) != weight.shape:
            raise ValueError(f"{path}: a {weight.shape} convolution where Net has {conv}")
        conv.weight.data = torch.from_numpy(weight.copy())
        if conv.bias is not None:
            conv.bias.data = torch.from_numpy(bias.copy())
            continue
        norm = next(norms)
        norm.weight.data.fill_(1.0)
        norm.bias.data = torch.from_numpy(bias.copy())
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)


@torch.no_grad()
def calibrate(net: Net, inputs: torch.Tensor) -> None:
    """Give each batch norm of a ``load_fused`` net its input's mean and variance on ``inputs``
    as running statistics, its scale and shift undoing them: eval mode computes the same, and
    training mode, which normalises by each batch's own statistics, nearly the same (identity
    norms would have it normalise activations the net never saw normalised)."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(k: int):
        def hook(_module: nn.Module, args: tuple[torch.Tensor], _out: torch.Tensor) -> None:
            stats[k] = (args[0].mean((0, 2, 3)), args[0].var((0, 2, 3), unbiased=False))

        return hook

    hooks = [norm.register_forward_hook(keep(k)) for k, norm in enumerate(norms)]
    net.eval()
    net(inputs)
    for handle in hooks:
        handle.remove()
    for k, norm in enumerate(norms):
        mean, var = stats[k]
        norm.weight.data = torch.sqrt(var + norm.eps)
        norm.bias.data = norm.bias.data + mean
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)


def warm_start(path: Path, inputs: torch.Tensor) -> Net:
    """A trainable ``Net`` computing the exported graph at ``path`` (its batch norms calibrated
    on ``inputs``); a ValueError if it does not, on the first input."""
    net = Net()
    load_fused(net, path)
    calibrate(net, inputs)
    with torch.no_grad():
        ours = Served(net)(inputs[:1].contiguous()).numpy()
    first = np.ascontiguousarray(inputs[:1].numpy())
    (theirs,) = ort.InferenceSession(str(path)).run(None, {"input": first})
    if (gap := float(np.abs(ours - theirs).max())) > 1e-3:
        raise ValueError(f"{path}: the warm-started net differs from the graph by {gap:.2g}")
    return net


def calibration(samples: list[dict]) -> torch.Tensor:
    """The inputs that set a warm-started net's batch norms: one canvas in CALIBRATION."""
    return batch_of(samples[::CALIBRATION])[0]


def base_net(samples: list[dict], rng: np.random.Generator) -> Net:
    """The net trained from scratch: EPOCHS at LR, the canvases mirrored at random."""
    net = Net().to(memory_format=torch.channels_last)
    steps = len(samples) // BATCH
    batches = shuffled(samples, steps, mirrored_at_random)
    fit(net, batches, loss, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="fine faces")
    return net.to(memory_format=torch.contiguous_format)


def tune(start: Path, samples: list[dict], epochs: int, lr: float, mosaics: float) -> Net:
    """The net of the graph at ``start`` trained on: ``epochs`` at ``lr``, the canvases as
    ``augmented`` makes them with ``mosaics`` of them mosaics; seeded with TUNE_SEED."""
    rng = seed_everything(TUNE_SEED)
    torch.use_deterministic_algorithms(False)  # as in ``train``
    net = warm_start(start, calibration(samples)).to(memory_format=torch.channels_last)
    steps = len(samples) // BATCH

    def prepare(chosen: list[dict], rng: np.random.Generator) -> list[dict]:
        return [augmented(s, samples, mosaics, rng) for s in chosen]

    batches = shuffled(samples, steps, prepare)
    fit(net, batches, loss, epochs=epochs, steps=steps, lr=lr, rng=rng, desc="fine faces tune")
    return net.to(memory_format=torch.contiguous_format)


def initializers(path: Path) -> dict[str, np.ndarray]:
    """The weights of the exported graph at ``path``, by name."""
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def averaged(path: Path, start: dict[str, np.ndarray], share: float) -> None:
    """Rewrite the exported graph at ``path`` with each weight ``share`` of ``start``'s (the
    stage's start, ``initializers``) and the rest its own: a weight average of a fine-tuned net
    and the net it began from keeps much of what each does well (WiSE-FT, Wortsman et al.
    2022). Both graphs come from ``export`` (batch norms folded, same names and shapes)."""
    graph = onnx.load(str(path))
    mixed = []
    for tensor in graph.graph.initializer:
        own, begun = numpy_helper.to_array(tensor), start.get(tensor.name)
        if begun is None or begun.shape != own.shape:
            raise ValueError(f"{path}: the start has no {own.shape} weight {tensor.name}")
        mix = (share * begun + (1 - share) * own).astype(own.dtype)
        mixed.append(numpy_helper.from_array(mix, tensor.name))
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(mixed)
    onnx.save(graph, str(path))


def stages_table(columns: list[tuple[str, list[tuple[str, str]]]]) -> list[tuple[str, str]]:
    """Rows of ``measure`` side by side, one column per stage."""
    rows = [("stage", " | ".join(name for name, _ in columns))]
    for k, (name, _) in enumerate(columns[0][1]):
        rows.append((name, " | ".join(measured[k][1] for _, measured in columns)))
    return rows


def stage_path(k: int, stages: int, out: Path) -> Path:
    """Where stage ``k``'s ONNX goes (0: the base): the cache, the last stage's into ``out``."""
    if k == stages:
        return out / f"{fine_faces.MODEL}.onnx"
    return cache_dir() / f"{fine_faces.MODEL}_stage{k}.onnx"


def train(data_dir: Path, out: Path, fresh: bool = False, start: Path | None = None,
          first: int = 1) -> str:  # fmt: skip
    """The base net, then the TUNES stages, each from the ONNX the previous one exported
    (``stage_path``); with ``start`` (an exported graph, left as it is), only the stages from
    the ``first`` (1-based) on."""
    if not 1 <= first <= len(TUNES):
        raise ValueError(f"no fine-tuning stage {first}: there are {len(TUNES)}")
    timer = Timer()
    rng = seed_everything(SEED)
    # PyTorch's deterministic kernels and its default layout made a step 5 times slower (4.1
    # against 0.74 s for 32 canvases, two threads): seeded, but not held to bit-identical sums.
    torch.use_deterministic_algorithms(False)
    photos, faces = real_photos(fresh), chips(fresh)
    samples, held_out = training_canvases(photos, faces, fresh, rng)
    example = held_out[0]["image"]
    if start is None:
        first = 1
        net = base_net(samples, rng)
        columns = [(f"base ({EPOCHS} epochs)", measure(net, held_out))]
        start = stage_path(0, len(TUNES), out)
        export(net, example, start)
    else:
        columns = [(f"start ({start.name})", measure(warm_start(start, calibration(samples)),
                                                     held_out))]  # fmt: skip
    turned: list[dict] = []
    for k, stage in enumerate(TUNES[first - 1 :], first):
        if stage.turned and not turned:
            turned = turned_canvases(photos, fresh)
        begun = initializers(start)  # read now: the stage may write over its start
        net = tune(start, samples + turned if stage.turned else samples, stage.epochs,
                   stage.lr, stage.mosaics)  # fmt: skip
        name = f"tune {k} ({stage.epochs} epochs, lr {stage.lr:g}, mosaics {stage.mosaics:g}"
        columns.append((name + (", turned heads)" if stage.turned else ")"),
                        measure(net, held_out)))  # fmt: skip
        start = stage_path(k, len(TUNES), out)
        export(net, example, start)
        if stage.average:
            shutil.copyfile(start, cache_dir() / f"{fine_faces.MODEL}_stage{k}_tuned.onnx")
            averaged(start, begun, stage.average)
            averaged_net = warm_start(start, calibration(samples))
            columns.append((f"tune {k}, {stage.average:g} of its start",
                            measure(averaged_net, held_out)))  # fmt: skip
    rows = stages_table(columns)
    rows += [("real photos", str(len(photos))), ("chips", str(len(faces))),
             ("canvases", str(len(samples))), ("turned-head canvases", str(len(turned))),
             ("time", str(timer)), ("guard", str(data.guard_record()))]  # fmt: skip
    return table(rows, "fine-pass detector")
