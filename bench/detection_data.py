"""Small-face detection sets built from the dev data, labels from construction.

``groups/`` (AFW) labels only some faces, and all of them are 68 px or larger, so it cannot say
whether a detector finds the 20-40 px faces of a crowd, nor how often it fires on no face. Two
sets made here can:

- ``synthetic``: faces of HELEN and of AFLW2000's ``dev`` fold (boxes from their 68 labelled
  points, the same convention as ``groups/``; the fold is half of AFLW2000's faces by a CRC of
  the file name, ``rosto.training.data.aflw_split_of``: the fine-pass net's turned-head stage
  and the face judge train on the other half, so the turned heads here are faces neither saw)
  pasted with a soft edge, 20-120 px wide, onto backgrounds with no face in them (mosaics of
  scikit-image's photos of things, animals and scenes). Every face is labelled, so precision
  is exact. 2-MP and 640×480 canvases.
- ``groups_small``: each AFW group photo scaled so its smallest labelled face is 20-40 px wide,
  set into a 2-MP faceless background. Unlabelled AFW faces shrink with it: recall only.

Everything is generated from a fixed seed, so two runs measure the same pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from bench import datasets

BACKGROUNDS = (
    "coffee", "chelsea", "rocket", "hubble_deep_field", "brick", "grass", "gravel",
    "immunohistochemistry", "retina", "colorwheel", "clock", "moon", "cell", "page",
)  # fmt: skip
SIZES = (20, 120)  # pasted face widths (landmark box), pixels
CANVASES = {"2MP": (1200, 1632), "640x480": (480, 640)}


@dataclass
class Sample:
    name: str
    image: np.ndarray
    boxes: np.ndarray  # (K, 4) left, top, right, bottom
    complete: bool  # every face in the image is labelled (precision can be measured)
    origins: tuple[str, ...] = ()  # where each labelled face came from (synthetic photos)


@cache
def background_photos() -> tuple[np.ndarray, ...]:
    from skimage import data

    photos = []
    for name in BACKGROUNDS:
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        photos.append(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    return tuple(photos)


def background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A faceless photo mosaic: 2×2 random crops of different photos, each flipped at random."""
    height, width = shape
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    photos = background_photos()
    picks = rng.choice(len(photos), size=4, replace=False)
    cut_y, cut_x = int(height * rng.uniform(0.3, 0.7)), int(width * rng.uniform(0.3, 0.7))
    cells = [(0, cut_y, 0, cut_x), (0, cut_y, cut_x, width), (cut_y, height, 0, cut_x),
             (cut_y, height, cut_x, width)]  # fmt: skip
    for pick, (y0, y1, x0, x1) in zip(picks, cells, strict=True):
        photo = photos[pick]
        if rng.random() < 0.5:
            photo = photo[:, ::-1]
        scale = max((y1 - y0) / photo.shape[0], (x1 - x0) / photo.shape[1]) * rng.uniform(1, 1.5)
        big = cv2.resize(photo, (int(photo.shape[1] * scale) + 1, int(photo.shape[0] * scale) + 1))
        oy = rng.integers(0, big.shape[0] - (y1 - y0) + 1)
        ox = rng.integers(0, big.shape[1] - (x1 - x0) + 1)
        canvas[y0:y1, x0:x1] = big[oy : oy + y1 - y0, ox : ox + x1 - x0]
    return canvas


def pose_group(origin: str) -> str:
    """A synthetic face's group by its source (``Sample.origins``): HELEN (near-frontal
    portraits), or AFLW2000 by its absolute yaw, where detectors differ most."""
    if not origin.startswith("AFLW"):
        return "HELEN"
    yaw = abs(float(origin.split(" yaw ")[1].split()[0]))
    return "AFLW yaw " + ("< 30°" if yaw < 30 else "30-60°" if yaw < 60 else "≥ 60°")


POSE_GROUPS = ("HELEN", "AFLW yaw < 30°", "AFLW yaw 30-60°", "AFLW yaw ≥ 60°")


@cache
def face_sources() -> tuple[tuple[np.ndarray, np.ndarray, str], ...]:
    """(photo, landmark box, origin) of every HELEN face and of the AFLW2000 faces within ±99°
    of the ``dev`` fold (``rosto.training.data.aflw_split_of``: the other fold trains the
    fine-pass net's turned-head stage and the face judge); the origin names the photo, and an
    AFLW2000 face's yaw and pitch (degrees)."""
    from rosto.training.data import aflw

    sources = []
    for path, points in datasets.helen():
        box = np.array([*points.min(0), *points.max(0)])
        sources.append((datasets.load(path), box, f"HELEN {path.name}"))
    for path, points, row in aflw("dev"):
        yaw, pitch = float(row["yaw_deg"]), float(row["pitch_deg"])
        origin = f"AFLW {path.stem} yaw {yaw:.0f} pitch {pitch:.0f}"
        sources.append((datasets.load(path), np.array([*points.min(0), *points.max(0)]), origin))
    return tuple(sources)


def face_patch(photo: np.ndarray, box: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """The face and its surroundings (twice the box's size), scaled so the box is ``width``
    pixels wide; a soft elliptical alpha; and the box inside the patch."""
    centre = (box[:2] + box[2:]) / 2
    side = 2.0 * max(box[2] - box[0], box[3] - box[1])
    scale = width / (box[2] - box[0])
    out = max(4, round(side * scale))
    warp = np.array([[scale, 0, out / 2 - centre[0] * scale],
                     [0, scale, out / 2 - centre[1] * scale]])  # fmt: skip
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.warpAffine(photo, warp, (out, out), flags=interpolation,
                           borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    yy, xx = np.mgrid[0:out, 0:out] / out - 0.5
    alpha = np.clip((0.5 - np.hypot(xx, yy)) / 0.15, 0, 1)[..., None]
    placed = np.concatenate([warp @ [box[0], box[1], 1], warp @ [box[2], box[3], 1]])
    return patch, alpha, placed


def synthetic_image(shape: tuple[int, int], faces: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:  # fmt: skip
    """A faceless background with up to ``faces`` faces pasted where none overlaps another,
    their boxes and where each came from."""
    canvas = background(shape, rng).astype(np.float32)
    sources = face_sources()
    taken: list[np.ndarray] = []
    boxes, origins = [], []
    for _ in range(faces * 10):
        if len(boxes) == faces:
            break
        width = int(np.exp(rng.uniform(np.log(SIZES[0]), np.log(SIZES[1]))))
        photo, box, origin = sources[rng.integers(len(sources))]
        patch, alpha, placed = face_patch(photo, box, width)
        size = patch.shape[0]
        if size >= min(shape):
            continue
        y, x = rng.integers(0, shape[0] - size), rng.integers(0, shape[1] - size)
        region = np.array([x, y, x + size, y + size])
        if any(overlaps(region, t) for t in taken):
            continue
        taken.append(region)
        canvas[y : y + size, x : x + size] = (
            alpha * patch + (1 - alpha) * canvas[y : y + size, x : x + size]
        )
        boxes.append(placed + [x, y, x, y])
        origins.append(origin)
    return canvas.round().astype(np.uint8), np.array(boxes).reshape(-1, 4), tuple(origins)


def overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def synthetic(count: int = 40, seed: int = 11) -> Iterator[Sample]:
    """``count`` canvases of each size: 2-MP ones with up to 14 faces, 640×480 with up to 5;
    one in eight has no face at all."""
    rng = np.random.default_rng(seed)
    for canvas, shape in CANVASES.items():
        crowd = 14 if canvas == "2MP" else 5
        for i in range(count):
            faces = 0 if i % 8 == 7 else int(rng.integers(1, crowd + 1))
            image, boxes, origins = synthetic_image(shape, faces, rng)
            yield Sample(f"synthetic {canvas} #{i}", image, boxes, True, origins)


def groups_small(seed: int = 12) -> Iterator[Sample]:
    """Each AFW group photo shrunk so its smallest labelled face is 20-40 px wide, set at a
    random place into a 2-MP faceless background."""
    rng = np.random.default_rng(seed)
    for path, boxes in datasets.groups():
        photo = datasets.load(path)
        target = rng.uniform(20, 40)
        scale = target / (boxes[:, 2] - boxes[:, 0]).min()
        small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = background(CANVASES["2MP"], rng)
        h, w = (min(a, b) for a, b in zip(small.shape[:2], canvas.shape[:2], strict=True))
        y, x = rng.integers(0, canvas.shape[0] - h + 1), rng.integers(0, canvas.shape[1] - w + 1)
        canvas[y : y + h, x : x + w] = small[:h, :w]
        yield Sample(f"groups_small {path.name}", canvas, boxes * scale + [x, y, x, y], False)
