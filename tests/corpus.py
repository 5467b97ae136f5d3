"""A seeded corpus of malformed requests to POST /api/v1/features, as raw HTTP/1.1 bytes.

Each probe is a complete request (``Connection: close``) built without an HTTP library, so
nothing in between can tidy it up: truncated and bit-flipped images of every supported format,
decompression bombs, odd colour modes, EXIF, malformed multipart, urlencoded and JSON bodies,
headers and tokens. The same seed gives the same corpus; the tests and bench/soak.py use it.
"""

from __future__ import annotations

import base64
import io
import json
import random
import string
import struct
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
BOUNDARY = "rosto-probe-7d1f"


def request(
    body: bytes,
    content_type: str | None,
    token: str | None,
    headers: list[tuple[str, str]] | None = None,
    method: str = "POST",
    path: str = "/api/v1/features",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: rosto", "Connection: close"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    """``parts``: (field name, file name or None, content)."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def upload(image: bytes, token: str, features: str = "bounds") -> bytes:
    body = multipart([("features", None, features.encode()), ("image", "probe", image)])
    return request(body, f"multipart/form-data; boundary={BOUNDARY}", token)


def as_json(payload: object, token: str) -> bytes:
    return request(json.dumps(payload).encode(), "application/json", token)


def picture(rng: random.Random, size: tuple[int, int] = (96, 72)) -> np.ndarray:
    """A small RGB gradient with noise: cheap to analyse, compresses like a photo."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 40, (height, width, 3))
    base = np.stack([xs * 2, ys * 3, (xs + ys)], axis=-1) % 216
    return (base + noise).astype(np.uint8)


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def flipped(data: bytes, rng: random.Random, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def image_probes(rng: random.Random, token: str, per_format: int) -> Iterator[tuple[str, bytes]]:
    """Truncated, bit-flipped and overwritten files of every format the API promises."""
    for fmt in FORMATS:
        data = encoded(Image.fromarray(picture(rng)), fmt)
        yield f"{fmt} intact", upload(data, token)
        for index in range(per_format):
            kind = index % 4
            if kind == 0:
                mutated, label = data[: rng.randrange(1, len(data))], "truncated"
            elif kind == 1:
                mutated, label = flipped(data, rng, rng.randint(1, 8)), "bit-flipped"
            elif kind == 2:
                start = rng.randrange(len(data))
                junk = rng.randbytes(rng.randint(1, 32))
                mutated, label = data[:start] + junk + data[start + len(junk) :], "overwritten"
            else:
                mutated, label = flipped(data[:64], rng, 2) + data[64:], "header bit-flipped"
            yield f"{fmt} {label} #{index}", upload(mutated, token)


def bomb_probes(token: str) -> Iterator[tuple[str, bytes]]:
    """Headers that declare far more pixels than the limit (or than the bytes hold)."""
    small = Image.new("RGB", (8, 8), (90, 120, 150))
    for width, height in ((50000, 50000), (65535, 65535), (7000, 7000), (40000, 1000)):
        yield f"PNG declares {width}x{height}", upload(png_declaring(width, height), token)
        jpeg = bytearray(encoded(small, "JPEG"))
        sof = jpeg.index(b"\xff\xc0")
        struct.pack_into(">HH", jpeg, sof + 5, min(height, 65535), min(width, 65535))
        yield f"JPEG declares {width}x{height}", upload(bytes(jpeg), token)
        gif = bytearray(encoded(small, "GIF"))
        struct.pack_into("<HH", gif, 6, min(width, 65535), min(height, 65535))
        yield f"GIF declares {width}x{height}", upload(bytes(gif), token)
        bmp = bytearray(encoded(small, "BMP"))
        struct.pack_into("<ii", bmp, 18, width, height)
        yield f"BMP declares {width}x{height}", upload(bytes(bmp), token)
        yield f"TIFF declares {width}x{height}", upload(tiff_declaring(small, width, height), token)
    webp = bytearray(encoded(small, "WEBP", lossless=True))
    bits = webp.index(b"VP8L") + 9  # after the chunk size and the 0x2f signature
    struct.pack_into("<I", webp, bits, (0x3FFF) | (0x3FFF << 14))
    yield "WebP declares 16384x16384", upload(bytes(webp), token)


def png_declaring(width: int, height: int) -> bytes:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(width * 3 + 1) * min(height, 4))  # a few rows of zeros
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)


def tiff_declaring(image: Image.Image, width: int, height: int) -> bytes:
    data = bytearray(encoded(image, "TIFF"))
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):  # ImageWidth, ImageLength, rewritten as LONG
            struct.pack_into("<HHII", data, entry, tag, 4, 1, width if tag == 256 else height)
    return bytes(data)


def mode_probes(rng: random.Random, token: str) -> Iterator[tuple[str, bytes]]:
    """Every colour mode Pillow can write in each format, and degenerate sizes."""
    rgb = Image.fromarray(picture(rng, (48, 40)))
    modes = ("1", "L", "LA", "P", "PA", "I", "I;16", "F", "CMYK", "YCbCr", "RGBA", "RGBX", "LAB")
    for mode in modes:
        try:
            converted = rgb.convert(mode)
        except ValueError:
            continue
        for fmt in FORMATS:
            try:
                data = encoded(converted, fmt)
            except (OSError, ValueError, KeyError):
                continue  # the format cannot hold this mode
            yield f"{fmt} mode {mode}", upload(data, token)
    for size in ((1, 1), (1, 300), (300, 1), (2, 2), (3000, 1)):
        for fmt in ("PNG", "JPEG", "GIF"):
            yield f"{fmt} {size[0]}x{size[1]}", upload(encoded(rgb.resize(size), fmt), token)
    palette = rgb.convert("P")
    palette.info["transparency"] = 0
    yield "PNG palette with transparency", upload(encoded(palette, "PNG"), token)
    yield "PNG 16-bit grey", upload(encoded(Image.new("I;16", (30, 20), 40000), "PNG"), token)
    frames = [rgb, rgb.rotate(90)]
    animated = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    yield "GIF animated", upload(animated, token)


def exif_probes(rng: random.Random, token: str) -> Iterator[tuple[str, bytes]]:
    rgb = Image.fromarray(picture(rng, (40, 30)))
    for orientation in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 65535):
        exif = Image.Exif()
        exif[0x0112] = orientation
        for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
            data = encoded(rgb, fmt, exif=exif.tobytes())
            yield f"{fmt} EXIF orientation {orientation}", upload(data, token)
    for index in range(16):
        blob = b"Exif\0\0" + rng.randbytes(rng.randint(0, 200))
        if index % 2:
            blob = b"Exif\0\0II*\0" + struct.pack("<I", rng.randrange(1 << 32)) + rng.randbytes(40)
        yield f"JPEG malformed EXIF #{index}", upload(encoded(rgb, "JPEG", exif=blob), token)


def multipart_probes(rng: random.Random, token: str, jpeg: bytes) -> Iterator[tuple[str, bytes]]:
    good = multipart([("features", None, b"bounds"), ("image", "a.jpg", jpeg)])
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    yield "multipart without boundary", request(good, "multipart/form-data", token)
    yield "multipart wrong boundary", request(good, "multipart/form-data; boundary=other", token)
    yield "multipart empty boundary", request(good, "multipart/form-data; boundary=", token)
    yield "multipart long boundary", request(good, "multipart/form-data; boundary=" + "b" * 300,
                                             token)
    yield "multipart no final boundary", request(good[: good.rindex(b"--" + BOUNDARY.encode())],
                                                 kind, token)
    yield "multipart empty body", request(b"", kind, token)
    yield "multipart LF line ends", request(good.replace(b"\r\n", b"\n"), kind, token)
    yield "multipart CR line ends", request(good.replace(b"\r\n", b"\r"), kind, token)
    no_disposition = f"--{BOUNDARY}\r\nX-Other: 1\r\n\r\nbounds\r\n--{BOUNDARY}--\r\n".encode()
    yield "multipart part without disposition", request(no_disposition, kind, token)
    no_name = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    yield "multipart part without name", request(no_name.encode(), kind, token)
    long_header = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{'n' * 20000}\"\r\n\r\n"
    yield "multipart 20 KB part header", request(long_header.encode() + b"x\r\n", kind, token)
    many = multipart([("features", None, b"bounds")] * 100 + [("image", "a.jpg", jpeg)])
    yield "multipart 100 fields", request(many, kind, token)
    files = multipart([(f"file{i}", "a.jpg", b"x") for i in range(6)] + [("image", "a", jpeg)])
    yield "multipart 6 files", request(files, kind, token)
    odd_names = ['../../etc/passwd', 'a"b', "\u00e9\u00e8.jpg", "a\\b", "", "x" * 5000]
    for name in odd_names:
        body = multipart([("features", None, b"bounds"), ("image", name, jpeg)])
        yield f"multipart filename {name[:12]!r}", request(body, kind, token)
    mixed = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"\r\n"
        "Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\nx\r\n--inner--\r\n"
        f"--{BOUNDARY}--\r\n"
    )
    yield "multipart nested multipart/mixed", request(mixed.encode(), kind, token)
    for index in range(30):
        yield f"multipart truncated #{index}", request(good[: rng.randrange(len(good))], kind,
                                                       token)
    for index in range(30):
        yield f"multipart bit-flipped #{index}", request(flipped(good, rng, rng.randint(1, 6)),
                                                         kind, token)
    for index in range(20):  # mutations in the structure only (the first 200 bytes)
        head = flipped(good[:200], rng, rng.randint(1, 4))
        yield f"multipart header bit-flipped #{index}", request(head + good[200:], kind, token)


def urlencoded_probes(rng: random.Random, token: str) -> Iterator[tuple[str, bytes]]:
    kind = "application/x-www-form-urlencoded"
    bodies = [
        b"%", b"%zz", b"&&&", b"=", b"==&==", b"features=age", b"url=", b"url=%00",
        b"url=http%3A%2F%2F%ED%A0%80.example%2F", b"features=%ED%A0%80&url=x",
        b"features=%FF%FE&url=http://a", b"url=" + b"a" * 70000, b"features[]=age&features[]=",
        b"features=age&" + b"x=1&" * 2000, b"url=http://[::1", b"url=http://:80/",
        b"url=javascript:alert(1)", b"url=//example.com/a.jpg", b"url=http://exa mple.com/",
        b"image=abc", b"image=", b"url=a&url=b", b"\x00\x01\x02", "url=é".encode("latin-1"),
    ]  # fmt: skip
    for index, body in enumerate(bodies):
        yield f"urlencoded #{index}", request(body, kind, token)
    for index in range(20):
        body = bytes(rng.choice(b"%=&+features[]url0123456789abcdefXYZ\xff\x00 ") for _ in
                     range(rng.randint(1, 80)))
        yield f"urlencoded random #{index}", request(body, kind, token)


def json_probes(rng: random.Random, token: str, jpeg: bytes) -> Iterator[tuple[str, bytes]]:
    encoded_jpeg = base64.b64encode(jpeg).decode()
    good = json.dumps({"features": ["bounds"], "image_base64": encoded_jpeg}).encode()
    payloads: list[object] = [
        {"features": 1, "url": "http://a.example/"}, {"features": None, "image_base64": "AAAA"},
        {"features": {}, "url": "x"}, {"features": [1], "url": "x"}, {"features": True},
        {"features": [[]], "url": "x"}, {"features": ["age", 1], "url": "x"},
        {"image_base64": 123}, {"image_base64": []}, {"image_base64": ""}, {"image_base64": "="},
        {"image_base64": "data:image/jpeg;base64,!!"}, {"image_base64": "data:,"},
        {"image_base64": base64.b64encode(b"not an image").decode()}, {"url": 1}, {"url": []},
        {"url": ""}, {"url": "ftp://x"}, {"url": "http://"}, {"url": "http://a.example/\ud800"},
        {"features": "\ud800\udfff\ud800", "url": "x"}, {"features": "a" * 100000, "url": "x"},
        {"features": ",".join(["bounds"] * 5000), "image_base64": "AAAA"},
        {"url": "x", "image_base64": "AAAA"}, {}, [], "age", 12, None, 1e308,
        {"features": "\u0000", "url": "x"}, {"features": "AGE;gender", "url": "x"},
    ]  # fmt: skip
    for index, payload in enumerate(payloads):
        yield f"json payload #{index}", as_json(payload, token)
    raw_bodies = [
        b"", b" ", b"{", b"}", b"{'features': 'age'}", b'{"features": "age",}', b"NaN",
        b'{"features": NaN}', b'{"a": 1e99999}', b'{"features": "age" // comment\n}',
        b"\xef\xbb\xbf" + good, good.decode().encode("utf-16"), b'{"features": "\xff\xfe"}',
        b'{"features": "age", "features": "gender", "url": "x"}', b"[" * 50 + b"]" * 50,
        b'{"features": ' + b"[" * 3000 + b"]" * 3000 + b"}", b"[" * 200000,
        b'{"url": "' + b"\\u0000" * 1000 + b'"}', b"\x00" * 100, b'"\\ud800"',
    ]  # fmt: skip
    for index, body in enumerate(raw_bodies):
        yield f"json raw #{index}", request(body, "application/json", token)
    for index in range(25):
        yield f"json truncated #{index}", request(good[: rng.randrange(len(good))],
                                                  "application/json", token)
    for index in range(25):
        yield f"json bit-flipped #{index}", request(flipped(good, rng, rng.randint(1, 4)),
                                                    "application/json", token)
    for index in range(20):
        text = "".join(rng.choice(string.printable + "\u00e9\u4e2d") for _ in range(30))
        yield f"json random features #{index}", as_json({"features": text, "url": "x"}, token)


def header_probes(rng: random.Random, token: str, jpeg: bytes) -> Iterator[tuple[str, bytes]]:
    body = multipart([("features", None, b"bounds"), ("image", "a.jpg", jpeg)])
    kinds = [
        "", "text/plain", "image/jpeg", "application/octet-stream", "application/json",
        "application/x-www-form-urlencoded", "MULTIPART/FORM-DATA; BOUNDARY=" + BOUNDARY,
        f'multipart/form-data; boundary="{BOUNDARY}"',
        f"multipart/form-data; boundary=a; boundary={BOUNDARY}", "multipart/form-data; boundary",
        "multipart/mixed; boundary=" + BOUNDARY, "application/json; charset=utf-16",
        "x" * 8000, "multipart/form-data; boundary=" + BOUNDARY + "; charset=\u00e9",
        ";;;", "*/*",
    ]  # fmt: skip
    for index, kind in enumerate(kinds):
        yield f"content-type #{index}", request(body, kind, token)
    extras = [
        [("Expect", "100-continue")], [("Accept", "text/html")], [("Accept-Encoding", "gzip")],
        [("Authorization", "Bearer other")], [("X-Forwarded-For", "127.0.0.1")],
        [(f"X-H{i}", "v") for i in range(90)], [("X-Utf8", "\u00e9\u00e8")],
        [("Cookie", "a=" + "b" * 4000)], [("Host", "other.example")], [("Range", "bytes=0-1")],
        [("Content-Encoding", "gzip")], [("Upgrade", "websocket"), ("Connection", "upgrade")],
    ]  # fmt: skip
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    for index, extra in enumerate(extras):
        yield f"extra headers #{index}", request(body, kind, token, extra)
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "GET", "TRACE", "FOO"):
        yield f"method {method}", request(body, kind, token, method=method)
    paths = [
        "/api/v1/features/", "/api/v1/features?features=age", "//api/v1/features",
        "/api/v1/features%00", "/API/V1/FEATURES", "/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/features#frag", "/api/v1/" + "a" * 6000, "/api/v1/features;x=1", "*",
    ]  # fmt: skip
    for path in paths:
        yield f"path {path[:20]}", request(body, kind, token, path=path)
    chunked = (
        "POST /api/v1/features HTTP/1.1\r\nHost: rosto\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: {kind}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunks = [b"%x\r\n%s\r\n" % (len(body[i : i + 999]), body[i : i + 999])
              for i in range(0, len(body), 999)]
    yield "chunked upload", chunked + b"".join(chunks) + b"0\r\n\r\n"
    yield "chunked, half the chunks", chunked + b"".join(chunks[: len(chunks) // 2]) + b"0\r\n\r\n"


def token_probes(rng: random.Random, token: str, jpeg: bytes) -> Iterator[tuple[str, bytes]]:
    body = multipart([("features", None, b"bounds"), ("image", "a.jpg", jpeg)])
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    alphabet = string.ascii_letters + string.digits + "-_"
    values = [
        "", "Token", "Token token=", 'Token token=""', "Token token=rosto_", "Bearer", "Bearer  ",
        f"bearer {token}", f"BEARER {token}", f"Bearer {token}x", f"Bearer {token} extra",
        f'Token token="{token}', f"Token token={token}, other=1", f"Token  token={token}",
        f"Bearer {token[:-1]}", f"Bearer {token.upper()}", "Basic dXNlcjpwdw==",
        "Bearer ' OR 1=1 --", "Bearer rosto_" + "A" * 43, "Bearer " + "x" * 10000,
        "Token token=\u00e9\u00e8", "Bearer \t" + token, "Digest username=a",
        f"Token token='{token}'", f"Token token=\"{token}\" extra=\"1\"",
    ]  # fmt: skip
    for _ in range(60):
        values.append("Bearer rosto_" + "".join(rng.choice(alphabet) for _ in range(43)))
    for index, value in enumerate(values):
        yield f"token #{index}", request(body, kind, None, [("Authorization", value)])
    yield "no token", request(body, kind, None)
    yield "two tokens", request(body, kind, token, [("Authorization", "Bearer x")])


def corpus(token: str, seed: int = 12, per_format: int = 80) -> list[tuple[str, bytes]]:
    """The probes, in a fixed order for ``seed``: (name, raw request)."""
    rng = random.Random(seed)
    jpeg = encoded(Image.fromarray(picture(rng)), "JPEG")
    makers: list[Callable[[], Iterator[tuple[str, bytes]]]] = [
        lambda: image_probes(rng, token, per_format),
        lambda: bomb_probes(token),
        lambda: mode_probes(rng, token),
        lambda: exif_probes(rng, token),
        lambda: multipart_probes(rng, token, jpeg),
        lambda: urlencoded_probes(rng, token),
        lambda: json_probes(rng, token, jpeg),
        lambda: header_probes(rng, token, jpeg),
        lambda: token_probes(rng, token, jpeg),
    ]
    return [probe for make in makers for probe in make()]
