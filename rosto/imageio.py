"""Untrusted image bytes → an RGB uint8 array, oriented as displayed, within the size limits.

Every client image passes here, so the limits are checked before any pixel is decoded: the
byte size first, then the pixel dimensions from the header (a few hundred bytes of PNG can
declare a 50000×50000 image). Decoding is restricted to the formats the API promises, which
also keeps Pillow's rarer, less-audited plugins away from client bytes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from rosto.errors import RostoError

MAX_BYTES = 4 * 1024 * 1024  # API.md: "at most 4 MB (4 × 1024 × 1024 bytes)"
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG includes phones' MPO files
_FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
# What the Python facade accepts: a file path, the file's bytes, a Pillow image or pixels.
ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray
_ORIENTATION_FIX = {  # EXIF orientation → the transform that shows the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode(data: bytes, max_pixels: int, max_bytes: int | None = MAX_BYTES) -> np.ndarray:
    """Decode ``data`` to an (H, W, 3) uint8 RGB array with EXIF orientation applied.

    Raises 413 ``image_too_large`` over ``max_bytes`` (None: no byte limit, for local files)
    or ``max_pixels``, and 415 ``unsupported_image`` for anything that is not a complete image.
    """
    if not data:
        raise _unsupported("the image is empty (0 bytes): send the image file's content")
    if max_bytes is not None and len(data) > max_bytes:
        raise too_large(f"the image is {len(data)} bytes, over the limit of {max_bytes} bytes")
    Image.init()  # registers every plugin: Image.open(formats=...) only looks names up
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise too_large(f"the image's pixel dimensions are too large ({exc})") from exc
    except Exception as exc:  # Pillow raises many types on malformed headers
        raise _unsupported(
            f"the data is not a {_FORMAT_NAMES} image: send an image in one of these formats"
        ) from exc
    _check_pixels(*im.size, max_pixels)
    try:
        return from_pil(im)
    except Exception as exc:
        raise _unsupported(
            f"the {im.format} image is truncated or corrupt ({exc}): send the complete file"
        ) from exc


def from_pil(im: Image.Image) -> np.ndarray:
    """A Pillow image → (H, W, 3) uint8 RGB as displayed: the pixels ``decode`` would give.

    Loads the first frame only (GIF, WebP, TIFF); raises on truncated data.
    """
    im.load()
    rgb = _to_rgb(im)
    transpose = _ORIENTATION_FIX.get(_orientation(im))
    if transpose is not None:
        rgb = rgb.transpose(transpose)
    return np.ascontiguousarray(np.asarray(rgb))


def load(image: ImageSource, max_pixels: int) -> np.ndarray:
    """What the Python facade accepts → the array ``decode`` would give the server.

    A path or bytes are decoded as an upload is (no byte limit: the file is local already); a
    Pillow image is oriented and converted as a decoded one; an array is taken as RGB (H, W, 3),
    RGBA (H, W, 4, composited on white) or grey (H, W), uint8.
    """
    if isinstance(image, (str, os.PathLike)):
        image = Path(image).read_bytes()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode(bytes(image), max_pixels, max_bytes=None)
    if isinstance(image, np.ndarray):
        _check_array(image)
        _check_pixels(image.shape[1], image.shape[0], max_pixels)
        if image.ndim == 3 and image.shape[2] == 3:
            return np.ascontiguousarray(image)  # already what decode gives: no copy
        image = Image.fromarray(np.ascontiguousarray(image))
    if not isinstance(image, Image.Image):
        raise TypeError(
            f"cannot analyse a {type(image).__name__}: pass a file path, the file's bytes, "
            "a PIL image or a numpy array"
        )
    _check_pixels(*image.size, max_pixels)
    return from_pil(image)


def _check_array(array: np.ndarray) -> None:
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype != np.uint8 or not shape_ok:
        raise TypeError(
            f"cannot analyse a {array.dtype} array of shape {array.shape}: pass uint8 pixels, "
            "(H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey"
        )


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise too_large(
            f"the image is {width}×{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} pixels"
        )


def too_large(reason: str) -> RostoError:
    """The 413 of API.md, shared by uploads, downloads and pixel limits."""
    return RostoError(
        f"{reason}: send a smaller image (downscale it or compress it more)",
        code="image_too_large",
        status=413,
    )


def _unsupported(message: str) -> RostoError:
    return RostoError(message, code="unsupported_image", status=415)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1 = as stored); malformed EXIF counts as 1, the pixels are fine."""
    try:
        return int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return 1


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any mode → RGB: transparency composited on white, high bit depths scaled, not clipped."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(im, dtype=np.float64)
        full_scale = 65535.0  # 16-bit samples, also when Pillow widens them to mode "I"
        if im.mode == "F":
            full_scale = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
        gray = np.rint(np.clip(values * (255.0 / full_scale), 0, 255)).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")
