"""Train the small-face head: BlazeFace's stem features → where a 8-28 px face is, its box.

BlazeFace's fine pass puts no candidate at all on many faces of 20-30 px in a photo (12-18 px
in its input): its anchors (strides 16 and 32) are too coarse for them. Its stem's features
(stride 4, 24 channels; ``rosto.detection.stem_features``) are computed for the whole input
anyway, so a small head on them (``rosto.small_faces``) proposes such faces for the price of
two convolutions; the verifier's second look decides which proposals are faces.

Training photos are made here, none of the benchmark's faces or backgrounds: UTKFace (train
split) and All-Age-Faces chips, their face box and keypoints as the shipped detector gives
them on the chip, pasted 14-48 px wide (photo pixels) onto Figaro-1k training photos (hair,
heads seen from behind: hard negatives), LFW and the sunglasses selfies, less what the unseen
guard reports, scaled at random, where the faces the detector finds in the photo are left out of
the loss. Each 320² canvas is shrunk by ``FINE_SCALE`` as the fine
pass shrinks a photo and run through the stem. Cells near a face's centre are positives;
the rest of a face's box, and every face outside the head's sizes, neither.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from rosto import detection, models, small_faces
from rosto.analysis import Analysis
from rosto.training import cache_dir, data
from rosto.training.common import Timer, export_onnx, fit, seed_everything, table
from rosto.training.data import load
from rosto.training.faces import extract

SEED, EPOCHS, BATCH, LR = 0, 20, 32, 3e-3
RECIPE = 4  # of the cached canvases: change it when they would be made differently
CANVAS = 320  # photo pixels; the stem sees it shrunk by FINE_SCALE
CANVASES, HELD_OUT = 6000, 600
CHIPS = 2500  # of each of UTKFace and All-Age-Faces
WIDTHS = (14, 48)  # pasted face widths (detector box), photo pixels
SCALES = (0.35, 2.0)  # of the background photo (smaller ones are mirrored to fill the canvas)
FACES = 7  # at most, per canvas; one canvas in six has none


def face_box(analysis: Analysis) -> dict[str, np.ndarray]:
    face = analysis.faces[0]
    return {"box": face.box[None], "keypoints": face.keypoints[None]}


def chips(fresh: bool) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, box, keypoints) of the training chips where the detector finds a face."""
    utk = [path for path, _ in data.utkface("train")][::4][:CHIPS]
    aaf = [path for path, _ in data.aaf()][::4][:CHIPS]
    out = []
    for name, paths in (("utkface_train", utk), ("aaf", aaf)):
        found = extract(f"small_faces_chips_{name}_{len(paths)}", paths, face_box, fresh)
        kept = [p for p, f in zip(paths, found["found"], strict=True) if f]
        out += list(zip(kept, found["box"], found["keypoints"], strict=True))
    return out


def backgrounds(fresh: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, boxes of the faces the detector finds in it) of the training photos of
    Figaro-1k (hair, heads from behind), the sunglasses selfies (scenes) and LFW."""
    paths = [image for image, _, _ in data.hair("train")]
    paths += [path for path, label in data.glasses("train") if label == "sunglasses"]
    paths = unguarded(paths)
    cache = cache_dir() / f"small_faces_backgrounds_{len(paths)}.npz"
    if cache.is_file() and not fresh:
        with np.load(cache) as saved:
            boxes, counts = saved["boxes"], saved["counts"]
    else:
        most, small_faces.MOST = small_faces.MOST, 0  # the faces found without this head
        try:
            found = [detection.detect(load(p)) for p in tqdm(paths, desc="background faces",
                                                             file=sys.stderr)]  # fmt: skip
        finally:
            small_faces.MOST = most
        counts = np.array([len(f) for f in found])
        boxes = np.array([f.box for fs in found for f in fs]).reshape(-1, 4)
        np.savez(cache, boxes=boxes, counts=counts)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return [(load(p), boxes[a:b]) for p, a, b in zip(paths, starts[:-1], starts[1:], strict=True)]


def paste(canvas: np.ndarray, chip: np.ndarray, box: np.ndarray, width: float, at: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Paste the chip's face ``width`` px wide centred at ``at`` (with 1.5 boxes of its
    surroundings, a soft oval edge, a random light, blur and mirror); its box."""
    scale = width / (box[2] - box[0])
    centre = (box[:2] + box[2:]) / 2
    side = int(np.ceil(1.5 * max(box[2] - box[0], box[3] - box[1]) * scale))
    flip = rng.random() < 0.5
    sx = -scale if flip else scale
    warp = np.array([[sx, 0, side / 2 - centre[0] * sx], [0, scale, side / 2 - centre[1] * scale]])
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
    corners = np.array([[box[0], box[1]], [box[2], box[3]]]) @ warp[:, :2].T + warp[:, 2]
    return np.concatenate([corners.min(0), corners.max(0)]) + np.tile(top_left, 2)


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


def own_faces(photo: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """A uint8 mask of the photo: 1 within the faces the detector found in it, grown by a
    quarter of their size on each side."""
    mask = np.zeros(photo.shape[:2], np.uint8)
    for box in boxes:
        grow = 0.25 * (box[2:] - box[:2])
        x0, y0 = np.maximum(box[:2] - grow, 0).astype(int)
        x1, y1 = np.ceil(box[2:] + grow).astype(int)
        mask[y0:y1, x0:x1] = 1
    return mask


def canvas(faces: list, photos: list, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One training canvas: a background photo scaled at random (mirrored around to fill the
    canvas when it is smaller) and cut at random, faces pasted on it, shrunk as the fine pass
    shrinks photos; the pasted faces' boxes in the shrunk canvas's pixels, and
    per stem cell whether it lies in one of the background's own faces (left out of the
    loss)."""
    photo, own = photos[rng.integers(len(photos))]
    layers = np.dstack([photo, own_faces(photo, own)])
    scale = float(np.exp(rng.uniform(*np.log(SCALES))))
    big = cv2.resize(layers, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    below, right = max(CANVAS - big.shape[0], 0), max(CANVAS - big.shape[1], 0)
    big = np.pad(big, ((0, below), (0, right), (0, 0)), mode="symmetric")
    if rng.random() < 0.5:
        big = big[:, ::-1]
    oy = rng.integers(0, big.shape[0] - CANVAS + 1)
    ox = rng.integers(0, big.shape[1] - CANVAS + 1)
    cut = big[oy : oy + CANVAS, ox : ox + CANVAS]
    image, ignore = cut[..., :3].astype(np.float32), cut[..., 3]
    count = 0 if rng.random() < 1 / 6 else int(rng.integers(1, FACES + 1))
    boxes, taken = [], []
    for _ in range(count * 5):
        if len(boxes) == count:
            break
        width = float(np.exp(rng.uniform(*np.log(WIDTHS))))
        at = rng.uniform(0, CANVAS, size=2)
        if any(np.hypot(*(at - t)) < 1.1 * (width + w) for t, w in taken):
            continue
        path, box, _ = faces[rng.integers(len(faces))]
        boxes.append(paste(image, load(path), box, width, at, rng))
        taken.append((at, width))
    image = np.clip(image, 0, 255).round().astype(np.uint8)
    fine = detection.FINE_SCALE
    small = detection.resized(image, fine)
    shape = (small.shape[0] // 4 * 4, small.shape[1] // 4 * 4)
    (features,) = models.run(detection.STEM, detection.network_input(small, shape))
    grid = features.shape[2:]
    return {
        "features": features[0].astype(np.float16),
        "boxes": np.array(boxes).reshape(-1, 4) * fine,
        "ignore": cv2.resize(ignore, grid[::-1], interpolation=cv2.INTER_AREA) > 0,
    }


def targets(sample: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per stem cell: 1 (near a face's centre), 0 (background) or -1 (left out: the rest of
    a face's box, the background's own faces); and the box targets (``small_faces.encode``)
    of the positive cells."""
    grid = sample["ignore"].shape
    stride = small_faces.STRIDE
    cy, cx = np.mgrid[0 : grid[0], 0 : grid[1]] * stride + stride / 2
    label = np.where(sample["ignore"], -1, 0).astype(np.float32)
    regression = np.zeros((small_faces.REGRESSIONS, *grid), np.float32)
    for box in sample["boxes"]:
        width = box[2] - box[0]
        centre = (box[:2] + box[2:]) / 2
        inside = (cx >= box[0]) & (cx <= box[2]) & (cy >= box[1]) & (cy <= box[3])
        label[inside & (label == 0)] = -1
        if not small_faces.SIZES[0] <= width <= small_faces.SIZES[1]:
            continue
        distance = np.hypot(cx - centre[0], cy - centre[1])
        near = distance <= max(0.2 * width, distance.min() + 1e-3)
        label[near] = 1
        cells = np.stack([cx[near], cy[near]], axis=1)
        regression[:, near] = small_faces.encode(box, cells).T
    return label, regression


def keypoint_template(faces: list) -> np.ndarray:
    """(6, 2) the chips' mean keypoints in units of their box, from its top-left corner."""
    return np.mean([(points - box[:2]) / (box[2:] - box[:2]) for _, box, points in faces], axis=0)


class Head(nn.Module):
    """A separable 3×3 convolution (1×1 to a few channels, ReLU, depthwise 3×3, ReLU), then
    1×1 to a score and the box: a dense 3×3 costs 3-4 times as much in ONNX Runtime (~5 ms
    against ~1.4 over a 2-MP photo's stem features, one thread) for no better proposals."""

    def __init__(self, hidden: int = small_faces.HIDDEN):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(small_faces.CHANNELS, hidden, 1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.ReLU(),
            nn.Conv2d(hidden, 1 + small_faces.REGRESSIONS, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Served(nn.Module):
    """The exported graph: the score as a probability, then the regressions."""

    def __init__(self, head: Head):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(x)
        return torch.cat([torch.sigmoid(out[:, :1]), out[:, 1:]], dim=1)


def loss(out: torch.Tensor, label: torch.Tensor, regression: torch.Tensor) -> torch.Tensor:
    """Focal loss on the cells not left out, per positive cell; smooth L1 on the positives'
    regressions."""
    logits = out[:, 0]
    counted = label >= 0
    target = label.clamp(min=0)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    focal = bce * ((1 - p) * target + p * (1 - target)) ** 2 * (0.25 + 0.5 * target)
    positives = (label == 1).sum().clamp(min=1)
    score = (focal * counted).sum() / positives
    mask = (label == 1)[:, None]
    boxes = (F.smooth_l1_loss(out[:, 1:], regression, reduction="none", beta=0.1) * mask).sum()
    return score + boxes / positives / small_faces.REGRESSIONS * 4


def dataset(faces: list, photos: list, count: int, rng: np.random.Generator, desc: str
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:  # fmt: skip
    samples = [canvas(faces, photos, rng) for _ in tqdm(range(count), desc=desc, file=sys.stderr)]
    made = [targets(s) for s in samples]
    features = torch.from_numpy(np.stack([s["features"] for s in samples]))
    labels = torch.from_numpy(np.stack([m[0] for m in made]))
    regressions = torch.from_numpy(np.stack([m[1] for m in made]))
    return features, labels, regressions, samples


def measure(head: Head, samples: list) -> list[tuple[str, str]]:
    """Recall of the held-out canvases' faces in the head's sizes by the proposals
    (IoU ≥ 0.4 of a proposal with the face's box), and proposals per canvas."""
    head.eval()
    found = total = proposed = 0
    for sample in samples:
        with torch.no_grad():
            out = Served(head)(torch.from_numpy(sample["features"][None].astype(np.float32)))
        boxes, _ = small_faces.decode(out.numpy())
        proposed += len(boxes)
        for box in sample["boxes"]:
            if not small_faces.SIZES[0] <= box[2] - box[0] <= small_faces.SIZES[1]:
                continue
            total += 1
            if len(boxes) and detection.verifier.overlaps(box[None], boxes).max() >= 0.4:
                found += 1
    return [("held-out faces in the head's sizes", str(total)),
            ("found by a proposal (IoU ≥ 0.4)", f"{found / max(total, 1):.3f}"),
            ("proposals per 320² canvas", f"{proposed / len(samples):.2f}")]  # fmt: skip


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    timer = Timer()
    rng = seed_everything(SEED)
    models.set_threads(1)
    faces, photos = chips(fresh), backgrounds(fresh)
    cached = cache_dir() / f"small_faces_canvases_v{RECIPE}_{SEED}_{CANVASES}.pt"
    if cached.is_file() and not fresh:
        # the generator as the canvases left it: training from the cache draws the same batches
        features, labels, regressions, held_out, state = torch.load(cached, weights_only=False)
        rng.bit_generator.state = state
    else:
        features, labels, regressions, _ = dataset(faces, photos, CANVASES, rng, "canvases")
        held_out = dataset(faces, photos, HELD_OUT, rng, "held-out canvases")[3]
        torch.save((features, labels, regressions, held_out, rng.bit_generator.state), cached)
    head = Head()
    steps = len(features) // BATCH

    def batches(rng: np.random.Generator):
        order = torch.from_numpy(rng.permutation(len(features)))
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            yield features[idx].float(), labels[idx], regressions[idx]

    fit(head, batches, loss, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="small faces")
    rows = measure(head, held_out)
    export_onnx(Served(head), features[:1].float().numpy(), out / f"{small_faces.MODEL}.onnx",
                ["output"], spatial=True)  # fmt: skip
    template = np.array2string(keypoint_template(faces), precision=3, separator=", ")
    rows += [("keypoint template (small_faces.KEYPOINTS)", " ".join(template.split())),
             ("chips", str(len(faces))), ("background photos", str(len(photos))),
             ("canvases", str(len(features))), ("time", str(timer)),
             ("guard", str(data.guard_record()))]  # fmt: skip
    return table(rows, "small-face head")
