"""Client bytes → RGB arrays: formats, orientation, colour modes, and every refusal."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import encode, png_header
from PIL import Image, ImageOps

from rosto import imageio
from rosto.errors import RostoError
from rosto.imageio import MAX_BYTES, decode, open_image

MP = 40_000_000


@pytest.fixture(scope="module")
def photo(astronaut: np.ndarray) -> np.ndarray:
    return astronaut[::4, ::4].copy()  # 128×128 keeps the round trips fast


def refusal(data: bytes, max_pixels: int = MP) -> RostoError:
    with pytest.raises(RostoError) as caught:
        decode(data, max_pixels)
    return caught.value


@pytest.mark.parametrize(
    ("fmt", "params", "lossless"),
    [
        ("PNG", {}, True),
        ("BMP", {}, True),
        ("TIFF", {}, True),
        ("WEBP", {"lossless": True}, True),
        ("JPEG", {"quality": 95}, False),
        ("WEBP", {"quality": 90}, False),
        ("GIF", {}, False),  # palette quantisation
    ],
)
def test_formats_decode_to_rgb(photo, fmt, params, lossless):
    decoded = decode(encode(photo, fmt, **params), MP)
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    if lossless:
        np.testing.assert_array_equal(decoded, photo)
    else:
        assert np.abs(decoded.astype(int) - photo).mean() < 12


def test_gif_first_frame(photo):
    frames = [Image.fromarray(photo), Image.fromarray(255 - photo)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode(buf.getvalue(), MP)
    assert np.abs(decoded.astype(int) - photo).mean() < 12


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(photo, orientation):
    stored = photo[:, :96]  # not square, so a rotation shows in the shape
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    np.testing.assert_array_equal(decode(data, MP), expected)


def test_exif_orientation_of_jpeg_rotates_what_is_shown(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show the stored image turned 90° clockwise
    decoded = decode(encode(photo[:, :96], "JPEG", quality=95, exif=exif), MP)
    assert decoded.shape == (96, 128, 3)
    assert np.abs(decoded.astype(int) - np.rot90(photo[:, :96], k=-1)).mean() < 6


@pytest.mark.parametrize(
    ("mode", "fill", "expected"),
    [
        ("L", 90, (90, 90, 90)),
        ("1", 1, (255, 255, 255)),
        ("LA", (90, 0), (255, 255, 255)),  # fully transparent → the white background
        ("RGBA", (10, 20, 30, 255), (10, 20, 30)),
        ("RGBA", (10, 20, 30, 0), (255, 255, 255)),
        ("I;16", 40000, (156, 156, 156)),  # 16-bit scaled to 8 bits, not clipped to 255
    ],
)
def test_colour_modes_become_rgb(mode, fill, expected):
    data = encode_image(Image.new(mode, (8, 6), fill), "PNG")
    decoded = decode(data, MP)
    assert decoded.shape == (6, 8, 3)
    assert tuple(decoded[0, 0]) == expected


def test_cmyk_jpeg_becomes_rgb():
    decoded = decode(encode_image(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), MP)
    assert decoded.shape == (8, 8, 3)
    red, green, blue = decoded[4, 4].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_palette_with_transparency_becomes_white():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0] * 256)
    decoded = decode(encode_image(image, "PNG", transparency=0), MP)
    assert (decoded == 255).all()


def encode_image(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def test_empty_bytes_are_unsupported():
    err = refusal(b"")
    assert (err.status, err.code) == (415, "unsupported_image")
    assert "empty" in err.message


@pytest.mark.parametrize(
    "data",
    [b"this is not an image\n" * 10, b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0"],
    ids=["text", "gif-magic-only", "png-magic-only", "jpeg-magic-only"],
)
def test_non_images_are_unsupported(data):
    err = refusal(data)
    assert (err.status, err.code) == (415, "unsupported_image")
    assert "JPEG, PNG" in err.message  # says which formats to send


def test_formats_outside_the_api_are_refused(photo):
    assert refusal(encode(photo, "PPM")).status == 415


def test_truncated_jpeg_is_refused_not_grey(photo):
    data = encode(photo, "JPEG", quality=95)
    err = refusal(data[: len(data) // 2])
    assert (err.status, err.code) == (415, "unsupported_image")
    assert "truncated" in err.message and "complete file" in err.message


def test_over_4_mib_is_too_large_before_decoding():
    err = refusal(b"\0" * (MAX_BYTES + 1))
    assert (err.status, err.code) == (413, "image_too_large")
    assert str(MAX_BYTES) in err.message


def test_byte_limit_can_be_lifted_for_local_files(photo):
    assert decode(encode(photo, "PNG"), MP, max_bytes=None).shape == photo.shape


@pytest.mark.parametrize("side", [8000, 50000])
def test_pixel_bombs_are_refused_from_the_header(side):
    start = time.perf_counter()
    err = refusal(png_header(side, side))
    assert time.perf_counter() - start < 1.0  # no attempt to allocate the pixels
    assert (err.status, err.code) == (413, "image_too_large")


def test_pixel_limit_is_configurable(photo):
    err = refusal(encode(photo, "PNG"), max_pixels=100 * 100)
    assert err.status == 413
    assert "128×128" in err.message and "10000" in err.message


# --- memory: a large image costs its pixels, not copies of them -------------------------------


@pytest.mark.parametrize("mode", ["RGB", "P", "RGBA", "LA", "CMYK", "L"])
def test_band_by_band_conversion_equals_a_whole_one(photo, mode):
    tall = np.concatenate([photo] * 20, axis=0)  # 2560×128: several bands
    image = Image.fromarray(tall).convert(mode)
    if mode in ("RGBA", "LA"):
        alpha = Image.fromarray((np.arange(tall.shape[0] * 128) % 256).astype(np.uint8).reshape(
            tall.shape[0], 128))
        image.putalpha(alpha)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    data = encode_image(image, fmt)
    whole = Image.open(io.BytesIO(data))
    if mode in ("RGBA", "LA"):
        white = Image.new("RGBA", whole.size, (255, 255, 255, 255))
        whole = Image.alpha_composite(white, whole.convert("RGBA"))
    expected = np.asarray(whole.convert("RGB")).astype(int)
    assert np.abs(decode(data, MP).astype(int) - expected).max() <= 1  # blending rounds


DECODE_PEAK = """
import sys
from pathlib import Path
from rosto.imageio import decode
def rss(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    return int(next(l for l in lines if l.startswith(field)).split()[1]) * 1024
data = Path(sys.argv[1]).read_bytes()
before = rss("VmRSS")
image = decode(data, 40_000_000)
print(image.shape, rss("VmHWM") - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_a_24_megapixel_jpeg_decodes_in_about_3_bytes_per_pixel(photo, tmp_path):
    path = tmp_path / "24mp.jpg"
    Image.fromarray(photo).resize((6000, 4000), Image.BILINEAR).save(path, "JPEG", quality=60)
    done = subprocess.run(
        [sys.executable, "-c", DECODE_PEAK, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    shape, peak = done.stdout.rsplit(")", 1)
    assert shape == "(4000, 6000, 3"
    # The array alone (72 MB), decoded into by libjpeg-turbo: 184 MB through Pillow's image (4
    # bytes a pixel) and a copy, 307 MB with a conversion copy and tobytes() as well.
    assert int(peak) < 100_000_000, f"{int(peak) / 1e6:.0f} MB above the start"


@pytest.mark.parametrize(
    "params", [{}, {"progressive": True}, {"subsampling": 0, "quality": 90}, {"quality": 40}]
)
def test_colour_jpegs_decode_to_pillows_own_pixels(astronaut, params):
    """The direct decode (simplejpeg) gives what Pillow decodes, bit for bit."""
    data = encode(astronaut[:301, :203], "JPEG", **params)  # sizes off the 16-pixel blocks
    photo = open_image(data, MP)
    assert imageio._jpeg_pixels(photo) is not None  # the direct path, not Pillow's
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(decode(data, MP), expected)
