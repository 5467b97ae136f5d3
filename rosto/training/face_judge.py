"""Train the face judge (``face_judge.onnx``): is the square crop of a detector candidate a face?

MTCNN's O-Net, the verifier's last word on unsure candidates, was trained mostly on near-frontal
faces: it turns down many heads turned 30° or more even at a perfect box. This small CNN sees
what the verifier sees (``verifier.square_crops`` of a candidate's box, ``verifier.CROP``, at
``SIDE``²) and was trained on what the shipped detector proposes on training photos:

* canvases made here (``canvas``): a 2×2 mosaic of training photos (LFW, Figaro-1k with its heads
  seen from behind, the sunglasses selfies, CelebA, GENKI-4K; their own faces labelled by the
  shipped detector's boxes) or drawn textures (``texture``: lettering and signs of a vocabulary
  written here and random letters and digits, gravel, strokes, glowing blobs), 2-MP or 640×480
  as the benchmark's, with faces 20-120 px wide pasted on it: turned heads, AFLW2000-3D's
  ``train`` fold (up to ±99°; the benchmark pastes the other fold) and CFP's profile photos
  (about 60-90°: AFLW's 190 heads alone were too few for the 45-75° heads the detector still
  misses), and UTKFace-train and All-Age-Faces chips (``fine_faces.paste``);
* the candidates the detector's passes give the second look there (recorded at
  ``verifier.verify`` and ``verifier.look_again``, ``proposals``), plus random boxes: a face
  where a candidate's IoU with a labelled face is ``FACE_IOU`` or more, not one under
  ``NOT_FACE_IOU`` (textures, hands, ears, backs of heads, an eye or a mouth of a large face),
  left out between;
* the labelled faces' own boxes jittered (scale, shift ±10%), so every pasted turned head is
  a positive even where no candidate found it;
* at training time mirrored, lit, blurred, grey or JPEG-compressed at random; the detector's
  own candidates that are no face weigh ``HARD`` times as much.

HELEN, AFLW2000's ``dev`` fold, AFW and scikit-image's photos (the benchmark's) are never read,
nor copied from: the drawn text is no benchmark or test photo's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from rosto import detection, verifier
from rosto.training import cache_dir, data
from rosto.training.common import Timer, export_onnx, fit, predict, seed_everything, table
from rosto.training.data import load
from rosto.training.fine_faces import chips, paste, profile_heads, real_photos, turned_heads

SEED, EPOCHS, BATCH, LR = 0, 6, 128, 3e-3
RECIPE = 6  # of the cached crops: change it when they would be made differently
SIDE = verifier.JUDGE_SIDE  # the crop's side, as O-Net's
CANVASES = {"2MP": ((1200, 1632), 14), "640x480": ((480, 640), 5)}  # shape, most faces pasted
PHOTOS_PER_SHAPE, HELD_OUT = 500, 60  # canvases of each shape: training, held out
WIDTHS = (20, 120)  # pasted face widths (detector box), photo pixels
TURNED = 0.5  # share of the pasted faces from AFLW2000's train fold
PROFILES = 0.25  # share of the pasted faces from CFP's profiles; the rest chips
FACE_IOU, NOT_FACE_IOU = 0.45, 0.15
RANDOM_BOXES = 20  # per canvas: random squares 16-300 px, labelled as candidates are
HARD = 2.0  # weight of the detector's candidates that are no face, over random boxes
JITTERS = 3  # jittered copies of each labelled face's box
TEXTURED = 0.45  # share of the mosaic's cells made of a drawn texture rather than a photo
# Text drawn on the lettering and sign textures: a generic vocabulary of signs and labels written
# here (no benchmark or test photo's words), and random strings of these characters.
VOCABULARY = ("open", "closed", "exit", "sale", "stop", "menu", "hotel", "parking", "bus", "taxi",
              "street", "avenue", "north", "south", "east", "west", "bakery", "pharmacy", "bank",
              "police", "school", "library", "museum", "garage", "tickets", "platform", "gate",
              "entrance", "welcome", "price", "total", "daily", "fresh", "special", "discount",
              "news", "sport", "music", "radio", "city", "green", "blue", "summer", "winter",
              "no", "yes", "pull", "push", "floor", "room", "office", "kitchen", "delivery",
              "free", "new", "best", "club", "team", "final", "zone", "service")  # fmt: skip
CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
         cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL,
         cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)  # fmt: skip


def mosaic_background(shape: tuple[int, int], photos: list, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A 2×2 mosaic of random training photos, each scaled to cover its cell (×1-1.5) and
    mirrored at random; the boxes of their faces inside it (cut ones too)."""
    height, width = shape
    canvas = np.zeros((height, width, 3), np.float32)
    cut_y, cut_x = int(height * rng.uniform(0.3, 0.7)), int(width * rng.uniform(0.3, 0.7))
    cells = [(0, cut_y, 0, cut_x), (0, cut_y, cut_x, width), (cut_y, height, 0, cut_x),
             (cut_y, height, cut_x, width)]  # fmt: skip
    faces = []
    for y0, y1, x0, x1 in cells:
        if rng.random() < TEXTURED:
            canvas[y0:y1, x0:x1] = texture((y1 - y0, x1 - x0), rng)
            continue
        path, boxes, _ = photos[rng.integers(len(photos))]
        photo = load(path)
        scale = max((y1 - y0) / photo.shape[0], (x1 - x0) / photo.shape[1]) * rng.uniform(1, 1.5)
        big = cv2.resize(photo, (int(photo.shape[1] * scale) + 1, int(photo.shape[0] * scale) + 1))
        boxes = boxes * scale
        if rng.random() < 0.5:
            big = big[:, ::-1]
            boxes = np.stack([big.shape[1] - boxes[:, 2], boxes[:, 1], big.shape[1] - boxes[:, 0],
                              boxes[:, 3]], 1)  # fmt: skip
        oy = rng.integers(0, big.shape[0] - (y1 - y0) + 1)
        ox = rng.integers(0, big.shape[1] - (x1 - x0) + 1)
        canvas[y0:y1, x0:x1] = big[oy : oy + y1 - y0, ox : ox + x1 - x0]
        boxes = boxes + np.array([x0 - ox, y0 - oy, x0 - ox, y0 - oy])
        cell = np.array([[x0, y0, x1, y1]], np.float64)
        faces.append(boxes[verifier.overlaps(boxes, cell, of_smaller=True)[:, 0] > 0.3])
    return canvas, np.concatenate([np.zeros((0, 4)), *faces])


def texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A faceless drawn texture of ``shape``: lettering or signs, grainy stones, strokes (grass,
    straw) or glowing blobs on the dark (stars, lamps), at a random scale; hard negatives no
    training photo holds (the detector's candidates fall on such patterns in users' photos)."""
    height, width = shape
    kind = rng.integers(5)
    if kind == 0:  # lettering or signs, turned by up to 30°
        image = turned(lettering if rng.random() < 0.5 else signs, shape, rng)
    elif kind == 1:  # grains and stones: noise smoothed at a few scales, lit
        image = np.zeros((height, width), np.float32)
        for sigma in rng.uniform(1, 25, 3):
            image += cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32),
                                      (0, 0), float(sigma)) * float(sigma)  # fmt: skip
        image = (image - image.mean()) / (image.std() + 1e-6)
        shade = cv2.Sobel(image, cv2.CV_32F, 1, 1)
        grey = 128 + 40 * image + 60 * shade / (np.abs(shade).max() + 1e-6)
        image = grey[..., None] * rng.uniform(0.7, 1.2, 3).astype(np.float32)
    elif kind == 2:  # strokes
        base = rng.uniform(30, 200, 3)
        image = np.full((height, width, 3), base, np.float32)
        for _ in range(int(height * width / 800)):
            start = rng.uniform([0, 0], [width, height])
            end = start + rng.normal(0, 40, 2)
            cv2.line(image, tuple(int(v) for v in start), tuple(int(v) for v in end),
                     tuple(float(v) for v in base * rng.uniform(0.4, 1.8)), int(rng.integers(1, 6)),
                     cv2.LINE_AA)  # fmt: skip
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2))
    elif kind == 4:  # gravel: grey stones, lit from one side
        image = np.full((height, width), rng.uniform(60, 160), np.float32)
        light = rng.uniform(-1, 1, 2)
        for _ in range(int(height * width / rng.uniform(150, 900))):
            at = tuple(int(v) for v in rng.uniform([0, 0], [width, height]))
            axes = tuple(int(v) for v in rng.uniform(3, 30, 2))
            cv2.ellipse(image, at, axes, float(rng.uniform(0, 180)), 0, 360,
                        float(rng.uniform(70, 200)), -1)  # fmt: skip
        image = cv2.GaussianBlur(image, (0, 0), 1.0)
        relief = light[0] * cv2.Sobel(image, cv2.CV_32F, 1, 0) + light[1] * cv2.Sobel(
            image, cv2.CV_32F, 0, 1)  # fmt: skip
        image = (image + 0.15 * relief)[..., None] * rng.uniform(0.85, 1.1, 3).astype(np.float32)
    else:  # glowing blobs on the dark
        image = np.zeros((height, width, 3), np.float32)
        for _ in range(int(rng.integers(3, 40))):
            glow = np.zeros((height, width), np.float32)
            at = tuple(int(v) for v in rng.uniform([0, 0], [width, height]))
            cv2.circle(glow, at, int(rng.integers(2, 60)), 1.0, -1)
            glow = cv2.GaussianBlur(glow, (0, 0), float(rng.uniform(2, 30)))
            image += glow[..., None] * rng.uniform(80, 400, 3).astype(np.float32)
    return np.clip(image, 0, 255)


def phrase(rng: np.random.Generator) -> str:
    """A word of ``VOCABULARY`` (lower, upper or title case) or a random string of 1-9 letters
    and digits."""
    if rng.random() < 0.5:
        word = str(rng.choice(VOCABULARY))
        return (word, word.upper(), word.title())[int(rng.integers(3))]
    return "".join(rng.choice(list(CHARACTERS), int(rng.integers(1, 10))))


def ink(rng: np.random.Generator, paper: np.ndarray) -> tuple[float, ...]:
    """A colour that stands out from ``paper`` (dark on light, light on dark)."""
    light = paper.mean() > 128
    return tuple(float(v) for v in (rng.uniform(0, 100, 3) if light else rng.uniform(150, 255, 3)))


def write(image: np.ndarray, text: str, at: tuple[int, int], size: float, colour: tuple,
          rng: np.random.Generator) -> None:  # fmt: skip
    """``text`` drawn in place in a random OpenCV font (italic at random), ``size`` its scale."""
    font = int(rng.choice(FONTS)) | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    thickness = max(1, int(size * rng.uniform(0.5, 2.5)))
    cv2.putText(image, text, at, font, size, colour, thickness, cv2.LINE_AA)


def lettering(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Lines of words and random strings, of one random size, on paper (half of the time a
    light grey, else any plain colour)."""
    height, width = shape
    if rng.random() < 0.5:
        paper = rng.uniform(150, 255) * rng.uniform(0.9, 1.0, 3)
    else:
        paper = rng.uniform(0, 255, 3)
    image = np.full((height, width, 3), paper.round(), np.uint8)
    size = float(np.exp(rng.uniform(np.log(0.4), np.log(5.0))))
    step = int(30 * size * rng.uniform(0.9, 1.6)) + 4
    colour = ink(rng, paper)
    for y in range(step, height + step, step):
        line = " ".join(phrase(rng) for _ in range(int(width / (60 * size)) + 2))
        write(image, line, (int(rng.uniform(-50, 0)), y), size, colour, rng)
    return image


def signs(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Panels, labels and logo-like badges (filled rectangles, discs, triangles with a border or
    rings) each with a word, a few letters or digits, over a plain colour or a soft gradient."""
    height, width = shape
    plain = np.full((height, width, 3), rng.uniform(0, 255, 3), np.float32)
    plain += np.linspace(0, rng.uniform(-60, 60), height, dtype=np.float32)[:, None, None]
    image = np.clip(plain, 0, 255).round().astype(np.uint8)  # putText draws on uint8 only
    for _ in range(int(rng.integers(2, 12))):
        side = float(np.exp(rng.uniform(np.log(20), np.log(max(21, min(height, width) * 0.8)))))
        x, y = (int(v) for v in rng.uniform([0, 0], [width, height]))
        fill = rng.uniform(0, 255, 3)
        colour = tuple(float(v) for v in fill)
        half = int(side / 2)
        shape_kind = int(rng.integers(4))
        if shape_kind == 0:  # a panel, wider than tall
            tall = int(half * rng.uniform(0.3, 0.8))
            cv2.rectangle(image, (x - half, y - tall), (x + half, y + tall), colour, -1)
        elif shape_kind == 1:  # a disc
            cv2.circle(image, (x, y), half, colour, -1, cv2.LINE_AA)
        elif shape_kind == 2:  # a triangle or polygon
            corners = int(rng.integers(3, 9))
            angles = np.linspace(0, 2 * np.pi, corners, endpoint=False) + rng.uniform(0, np.pi)
            points = np.stack([x + half * np.cos(angles), y + half * np.sin(angles)], 1)
            cv2.fillPoly(image, [points.round().astype(np.int32)], colour, cv2.LINE_AA)
        else:  # rings
            for radius in range(half, 2, -max(3, int(half * rng.uniform(0.15, 0.4)))):
                cv2.circle(image, (x, y), radius, tuple(float(v) for v in rng.uniform(0, 255, 3)),
                           max(1, int(radius * 0.1)), cv2.LINE_AA)  # fmt: skip
        if rng.random() < 0.5:  # a border
            cv2.circle(image, (x, y), half, ink(rng, fill), max(1, half // 10), cv2.LINE_AA)
        text = phrase(rng)[: int(rng.integers(1, 8))]
        size = max(0.3, side / (30 * max(1, len(text))) * rng.uniform(0.8, 1.6))
        write(image, text, (x - half + int(side * 0.1), y + int(side * 0.15)), size,
              ink(rng, fill), rng)  # fmt: skip
    return image


def turned(draw, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``draw``(shape, rng) made on a larger square and turned by up to ±30°, cut to ``shape``."""
    height, width = shape
    side = int(np.hypot(height, width)) + 2
    image = draw((side, side), rng)
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), float(rng.uniform(-30, 30)), 1.0)
    image = cv2.warpAffine(image, turn, (side, side), borderMode=cv2.BORDER_REFLECT)
    top, left = (side - height) // 2, (side - width) // 2
    return image[top : top + height, left : left + width]


def canvas(shape: tuple[int, int], most: int, photos: list, turned: list, profiles: list,
           others: list, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A training canvas (uint8) and the boxes of every face on it: up to ``most`` faces
    pasted (``TURNED`` of them AFLW's turned heads, ``PROFILES`` CFP's profiles) where none
    overlaps another."""
    image, boxes = mosaic_background(shape, photos, rng)
    pasted: list[np.ndarray] = []
    for _ in range(int(rng.integers(0, most + 1)) * 5):
        if len(pasted) >= most:
            break
        width = float(np.exp(rng.uniform(*np.log(WIDTHS))))
        at = rng.uniform([width, width], [shape[1] - width, shape[0] - width])
        near = np.concatenate([at - width, at + width])[None]
        if pasted and verifier.overlaps(near, np.array(pasted)).max() > 0:
            continue
        draw = rng.random()
        source = turned if draw < TURNED else others
        if profiles and TURNED <= draw < TURNED + PROFILES:
            source = profiles
        path, box, points = source[rng.integers(len(source))]
        placed, _ = paste(image, load(path), box, points, width, at, rng)
        pasted.append(placed)
    boxes = np.concatenate([boxes, np.array(pasted).reshape(-1, 4)])
    return np.clip(image, 0, 255).round().astype(np.uint8), boxes


@contextmanager
def recorded() -> Iterator[list[np.ndarray]]:
    """The boxes the detector hands the second look (``verifier.verify``, ``look_again``) while
    in the block, appended to the list it yields."""
    seen: list[np.ndarray] = []
    verify, look_again = verifier.verify, verifier.look_again

    def verify_seen(image, boxes, *args, **kwargs):
        seen.append(boxes.copy())
        return verify(image, boxes, *args, **kwargs)

    def look_again_seen(image, boxes, *args, **kwargs):
        seen.append(boxes.copy())
        return look_again(image, boxes, *args, **kwargs)

    verifier.verify, verifier.look_again = verify_seen, look_again_seen
    try:
        yield seen
    finally:
        verifier.verify, verifier.look_again = verify, look_again


def proposals(image: np.ndarray) -> np.ndarray:
    """(N, 4) the boxes the shipped detector's passes hand the second look in this photo."""
    with recorded() as seen:
        detection.detect_all(image)
    return np.concatenate(seen).reshape(-1, 4) if seen else np.zeros((0, 4))


def labels(boxes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """1 (a face: IoU ≥ FACE_IOU with a labelled one), 0 (IoU under NOT_FACE_IOU with every
    one) or -1 (left out) per box."""
    if not len(faces):
        return np.zeros(len(boxes), int)
    best = verifier.overlaps(boxes, faces).max(axis=1)
    return np.where(best >= FACE_IOU, 1, np.where(best < NOT_FACE_IOU, 0, -1))


def jittered(boxes: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """``copies`` of each box scaled by 0.85-1.15 and shifted by up to ±10% of its size."""
    boxes = np.repeat(boxes, copies, axis=0)
    size = (boxes[:, 2:] - boxes[:, :2]) * rng.uniform(0.85, 1.15, (len(boxes), 1))
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.uniform(-0.1, 0.1, (len(boxes), 2)) * size
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


def random_boxes(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random squares 16-300 px wide inside a photo of ``shape``."""
    side = np.exp(rng.uniform(np.log(16), np.log(300), count))
    left = rng.uniform(0, np.maximum(shape[1] - side, 1))
    top = rng.uniform(0, np.maximum(shape[0] - side, 1))
    return np.stack([left, top, left + side, top + side], axis=1)


def canvas_crops(image: np.ndarray, faces: np.ndarray, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Crops (uint8), labels and kinds (0 candidate, 1 random box, 2 a face's jittered box) of
    one canvas."""
    parts = [proposals(image), random_boxes(image.shape[:2], RANDOM_BOXES, rng),
             jittered(faces, JITTERS, rng)]  # fmt: skip
    boxes = np.concatenate(parts)
    kinds = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    marks = labels(boxes, faces)
    keep = marks >= 0
    crops = verifier.square_crops(image, boxes[keep], SIDE)
    return np.clip(crops, 0, 255).round().astype(np.uint8), marks[keep], kinds[keep]


def crops_of(count: int, seed: int, fresh: bool) -> dict[str, np.ndarray]:
    """The crops of ``count`` canvases of each shape made from ``seed`` (cached)."""
    path = cache_dir() / f"face_judge_v{RECIPE}_{seed}_{count}.npz"
    if path.is_file() and not fresh:
        with np.load(path) as cached:
            return dict(cached)
    rng = np.random.default_rng(seed)
    photos, turned, others = real_photos(False), turned_heads(False), chips(False)
    profiles = profile_heads(False)
    out: dict[str, list[np.ndarray]] = {"crops": [], "labels": [], "kinds": [], "wide": []}
    for name, (shape, most) in CANVASES.items():
        for _ in tqdm(range(count), desc=f"face judge {name} canvases", file=sys.stderr):
            image, faces = canvas(shape, most, photos, turned, profiles, others, rng)
            crops, marks, kinds = canvas_crops(image, faces, rng)
            out["crops"].append(crops)
            out["labels"].append(marks)
            out["kinds"].append(kinds)
            out["wide"].append(np.full(len(marks), name == "2MP"))
    arrays = {k: np.concatenate(v) for k, v in out.items()}
    np.savez(path, **arrays)
    return arrays


class Net(nn.Module):
    """Four 3×3 convolutions (16-64 channels) each with a 2×2 max pool, then a 64-unit layer:
    ~8 M multiply-adds a 48² crop, NHWC 0..255 in (as ``verifier.square_crops`` gives)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for before, after in ((3, 16), (16, 32), (32, 64), (64, 64)):
            layers += [nn.Conv2d(before, after, 3, padding=1, bias=False),
                       nn.BatchNorm2d(after), nn.ReLU(inplace=True), nn.MaxPool2d(2)]  # fmt: skip
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (SIDE // 16) ** 2, 64), nn.ReLU(inplace=True),
            nn.Dropout(0.3), nn.Linear(64, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2) / 127.5 - 1.0
        return self.head(self.features(x))[:, 0]


class Served(nn.Module):
    """The graph shipped: the face probability of each crop."""

    def __init__(self, net: Net) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def augmented(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A batch of uint8 crops as float32, each mirrored, lit, blurred, grey or JPEG-compressed
    at random."""
    out = crops.astype(np.float32)
    for k in range(len(out)):
        crop = out[k]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = crop * rng.uniform(0.6, 1.3) + rng.uniform(-25, 25)
        if rng.random() < 0.15:
            crop = np.repeat(crop.mean(axis=2, keepdims=True), 3, axis=2)
        if rng.random() < 0.25:
            crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.4, 1.3))
        crop = np.clip(crop, 0, 255)
        if rng.random() < 0.2:
            quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 80))]
            encoded = cv2.imencode(".jpg", crop.astype(np.uint8), quality)[1]
            crop = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED).astype(np.float32)
        out[k] = crop
    return out


def loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    each = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (each * weights).mean()


def balanced(marks: np.ndarray) -> np.ndarray:
    """Per-crop weights under which faces and not-faces weigh alike."""
    faces = marks.mean()
    return np.where(marks == 1, 0.5 / faces, 0.5 / (1 - faces)).astype(np.float32)


def measure(probabilities: np.ndarray, marks: np.ndarray, kinds: np.ndarray
            ) -> list[tuple[str, str]]:  # fmt: skip
    """Held-out rows: faces and not-faces, and at 0.5 / 0.9 how many of each are judged faces
    (of the detector's candidates alone, too)."""
    rows = [("held-out crops (faces / not)", f"{(marks == 1).sum()} / {(marks == 0).sum()}")]
    for name, which in (("all", kinds >= 0), ("candidates", kinds == 0)):
        for threshold in (0.5, 0.9):
            said = probabilities >= threshold
            rows.append((f"{name} ≥ {threshold}: faces kept / not-faces kept",
                         f"{said[which & (marks == 1)].mean():.3f} / "
                         f"{said[which & (marks == 0)].mean():.4f}"))  # fmt: skip
    return rows


def train(data_dir: Path, out: Path, fresh: bool = False) -> str:
    """Crops of PHOTOS_PER_SHAPE canvases of each shape (seed SEED) and HELD_OUT (seed SEED + 1),
    EPOCHS of balanced BCE; the net exported to ``out``/face_judge.onnx."""
    timer = Timer()
    rng = seed_everything(SEED)
    torch.use_deterministic_algorithms(False)
    made = crops_of(PHOTOS_PER_SHAPE, SEED, fresh)
    held = crops_of(HELD_OUT, SEED + 1, fresh)
    crops, marks = made["crops"], made["labels"].astype(np.float32)
    weights = torch.from_numpy(balanced(marks) * np.where(
        (made["kinds"] == 0) & (marks == 0), HARD, 1.0).astype(np.float32))  # fmt: skip
    steps = len(crops) // BATCH

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(crops))
        for i in range(steps):
            chosen = order[i * BATCH : (i + 1) * BATCH]
            yield (torch.from_numpy(augmented(crops[chosen], rng)),
                   torch.from_numpy(marks[chosen]), weights[chosen])  # fmt: skip

    net = Net()
    fit(net, batches, loss, epochs=EPOCHS, steps=steps, lr=LR, rng=rng, desc="face judge")
    served = Served(net)
    probabilities = predict(served, held["crops"].astype(np.float32))
    export_onnx(served, held["crops"][:1].astype(np.float32), out / "face_judge.onnx", ["face"])
    rows = measure(probabilities, held["labels"], held["kinds"])
    rows += [("training crops (faces / not)", f"{int(marks.sum())} / {int((1 - marks).sum())}"),
             ("time", str(timer)), ("guard", str(data.guard_record()))]  # fmt: skip
    return table(rows, "face judge")
