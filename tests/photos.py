"""Transformations of the test photos: what a client might send instead of a clean portrait."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np

from rosto import verifier


def mirror(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotated counter-clockwise as displayed, about the centre, on a canvas that keeps it all."""
    height, width = image.shape[:2]
    rot = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    rot[:, 2] += (new_w - width) / 2, (new_h - height) / 2
    return cv2.warpAffine(image, rot, (new_w, new_h), borderMode=cv2.BORDER_REPLICATE)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def scale_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def collage(images: list[np.ndarray], sizes: list[int], gap: int = 40) -> np.ndarray:
    """The images scaled to the given heights, side by side on grey: several faces, known sizes."""
    scaled = [
        cv2.resize(im, (round(im.shape[1] * h / im.shape[0]), h))
        for im, h in zip(images, sizes, strict=True)
    ]
    height = max(sizes) + 2 * gap
    width = sum(im.shape[1] for im in scaled) + gap * (len(scaled) + 1)
    canvas = np.full((height, width, 3), 128, dtype=np.uint8)
    x = gap
    for im in scaled:
        canvas[gap : gap + im.shape[0], x : x + im.shape[1]] = im
        x += im.shape[1] + gap
    return canvas


def without_second_look(runs: Counter) -> Counter:
    """Model runs of a request less the detector's second look (``rosto.verifier``), which
    takes all of a photo's candidates in a bounded number of batches per net, however many:
    R-Net's refinement of the fine-pass net's boxes, R-Net's look, O-Net's and its look at
    the boxes it moves, the same for the candidates R-Net stopped, and one strict look (R-Net,
    then O-Net) at each of the hidden and the containing candidates."""
    looks = {name: runs[name] for name in verifier.MODELS if name in runs}
    assert looks.get("mtcnn_rnet", 0) <= 4 and looks.get("mtcnn_onet", 0) <= 6, looks
    return Counter({name: count for name, count in runs.items() if name not in looks})
