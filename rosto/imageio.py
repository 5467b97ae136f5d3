"""Untrusted image bytes → an RGB uint8 array, oriented as displayed, within the size limits.

Every client image passes here, so the limits are checked before any pixel is decoded: the
byte size first, then the pixel dimensions from the header (a few hundred bytes of PNG can
declare a 50000×50000 image). Decoding is restricted to the formats the API promises, which
also keeps Pillow's rarer, less-audited plugins away from client bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import ExifTags, Image

from rosto.errors import RostoError

MAX_BYTES = 4 * 1024 * 1024  # API.md: "at most 4 MB (4 × 1024 × 1024 bytes)"
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG includes phones' MPO files
_FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
_BAND_PIXELS = 1 << 20  # rows copied at a time from Pillow's image to the array
# What the Python facade accepts: a file path, the file's bytes, a Pillow image or pixels.
ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray
# EXIF orientation → the view of the stored pixels that shows the image upright
_ORIENTATION_FIX: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # rotated 180°
    4: lambda a: a[::-1],  # flipped
    5: lambda a: a.transpose(1, 0, 2),  # transposed
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],  # rotated 90° counter-clockwise: turn clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transversed
    8: lambda a: a.transpose(1, 0, 2)[::-1],  # rotated 90° clockwise: turn counter-clockwise
}


def decode(data: bytes, max_pixels: int, max_bytes: int | None = MAX_BYTES) -> np.ndarray:
    """Decode ``data`` to an (H, W, 3) uint8 RGB array with EXIF orientation applied.

    Raises 413 ``image_too_large`` over ``max_bytes`` (None: no byte limit, for local files)
    or ``max_pixels``, and 415 ``unsupported_image`` for anything that is not a complete image.
    """
    return pixels(open_image(data, max_pixels, max_bytes))


def open_image(data: bytes, max_pixels: int, max_bytes: int | None = MAX_BYTES) -> Image.Image:
    """``data``'s image, its header read and checked against the limits, no pixel decoded yet.

    The server reads the size from it to plan memory before ``pixels`` decodes.
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
    return im


def pixels(im: Image.Image) -> np.ndarray:
    """The pixels of an image from ``open_image``, which is closed after: see ``decode``.

    A colour JPEG is decoded straight into the array (``_jpeg_pixels``: 3 bytes a pixel). Any
    other image peaks at Pillow's decoded image plus the array (7 bytes a pixel for RGB): the
    conversion goes band by band and Pillow's copy is freed before an EXIF turn copies the array.
    """
    try:
        rgb = _jpeg_pixels(im)
        if rgb is None:
            im.load()  # the first frame only (GIF, WebP, TIFF); raises on truncated data
            rgb = _rgb_pixels(im)
        orientation = _orientation(im)
    except Exception as exc:
        raise _unsupported(
            f"the {im.format} image is truncated or corrupt ({exc}): send the complete file"
        ) from exc
    finally:
        im.close()
    del im
    return _upright(rgb, orientation)


def _jpeg_pixels(im: Image.Image) -> np.ndarray | None:
    """A colour JPEG's pixels, decoded by libjpeg-turbo straight into the array (simplejpeg), or
    None: not such a JPEG, or one libjpeg had to repair (truncated, corrupt), which Pillow then
    decodes or refuses as for any other image.

    Why: Pillow holds RGB in 4 bytes a pixel and the array is a second copy, 168 MB at once for
    a 24-MP photo, the largest part of a batch worker's peak; this writes 3 bytes a pixel once
    (72 MB), and in a third of Pillow's time. Both run libjpeg-turbo's default (accurate) DCT
    and upsampling: the same pixels, bit for bit (checked on the dev photos). ``strict`` refuses
    any file libjpeg warns about, so no photo that Pillow refuses is decoded here.
    """
    if im.format not in ("JPEG", "MPO") or im.mode != "RGB" or not isinstance(im.fp, io.BytesIO):
        return None
    try:  # getvalue(): the caller's bytes object itself, not a copy
        rgb = simplejpeg.decode_jpeg(im.fp.getvalue(), colorspace="RGB", strict=True)
    except ValueError:
        return None
    return rgb if rgb.shape == (im.height, im.width, 3) else None


def from_pil(im: Image.Image) -> np.ndarray:
    """A Pillow image → (H, W, 3) uint8 RGB as displayed: the pixels ``decode`` would give.

    Loads the first frame only (GIF, WebP, TIFF); raises on truncated data.
    """
    im.load()
    return _upright(_rgb_pixels(im), _orientation(im))


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


def _upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as displayed: one copy when EXIF says the stored image is turned, else none."""
    turn = _ORIENTATION_FIX.get(orientation)
    return rgb if turn is None else np.ascontiguousarray(turn(rgb))


def _rgb_pixels(im: Image.Image) -> np.ndarray:
    """Any mode → (H, W, 3) uint8 RGB: transparency composited on white, high bit depths
    scaled, not clipped.

    Memory matters here (a 24-megapixel image is 72 MB as RGB): no float64 copy, and modes
    other than RGB are converted a band of rows at a time, never as a whole second image.
    """
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(im, dtype=np.float32)  # a copy: scaled in place below
        full_scale = 65535.0  # 16-bit samples, also when Pillow widens them to mode "I"
        if im.mode == "F":
            full_scale = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
        values *= 255.0 / full_scale
        np.rint(values, out=values)
        np.clip(values, 0, 255, out=values)
        gray = values.astype(np.uint8)
        del values
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.has_transparency_data:
        return _by_bands(im, _on_white)
    return _by_bands(im, lambda band: band if band.mode == "RGB" else band.convert("RGB"))


def _on_white(band: Image.Image) -> Image.Image:
    rgba = band.convert("RGBA")
    rgb = Image.new("RGB", band.size, (255, 255, 255))
    rgb.paste(rgba, mask=rgba)  # alpha blending over white
    return rgb


def _by_bands(im: Image.Image, to_rgb: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """``to_rgb`` applied to bands of rows, copied into one array: neither a whole converted
    image nor ``np.asarray``'s ``tobytes()`` (two more whole copies) is ever made."""
    width, height = im.size
    out = np.empty((height, width, 3), np.uint8)
    band = max(1, _BAND_PIXELS // max(width, 1))
    for top in range(0, height, band):
        bottom = min(top + band, height)
        out[top:bottom] = np.asarray(to_rgb(im.crop((0, top, width, bottom))))
    return out
