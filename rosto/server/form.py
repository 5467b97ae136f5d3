"""The body of ``POST /api/v1/features`` in any of its forms → one ``ImageRequest``.

Clients send multipart (``image`` file or ``url``), urlencoded (``url``) or JSON
(``url`` or ``image_base64``), with ``features`` comma-separated or repeated Rails-style as
``features[]``. The body is counted while it streams in, so an oversized upload is refused
at the limit instead of being buffered whole.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request

from rosto.errors import RostoError
from rosto.imageio import MAX_BYTES, too_large

_FORM_LIMIT = MAX_BYTES + 64 * 1024  # the image plus the other fields and part headers
_JSON_LIMIT = MAX_BYTES * 4 // 3 + 64 * 1024  # base64 inflates by 4/3
_OVER = f"more than an image of at most {MAX_BYTES} bytes (4 MiB) needs"
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
_USAGE = (
    "send features and either an image file (multipart field `image`) or a public image URL "
    "(field `url`)"
)

@dataclass(frozen=True)
class ImageRequest:
    """What a request asks for: features (None: all), and the image's bytes or its URL."""

    features: list[str] | None
    source: bytes | str


async def read_request(request: Request) -> ImageRequest:
    """Parse the body by its content type; 400, or 413 past the size limit."""
    try:
        return await _read_body(request)
    except ClientDisconnect as exc:  # e.g. closed by the server for stalling (protocol.py)
        raise _bad_request("the connection closed before the whole body arrived") from exc


async def _read_body(request: Request) -> ImageRequest:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = _JSON_LIMIT if media_type == "application/json" else _FORM_LIMIT
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"the request is {declared} bytes, {_OVER}")
    limited = Request(request.scope, _counting(request.receive, limit))
    if media_type == "application/json":
        return _from_json(await limited.body())
    if media_type in _FORMS or not media_type:
        try:
            async with limited.form(max_files=4, max_fields=64) as form:
                return await _from_form(form)
        except (HTTPException, MultiPartException) as exc:
            raise _bad_request(f"malformed form body ({_detail(exc)}): {_USAGE}") from exc
    raise _bad_request(
        f"unsupported Content-Type {media_type!r}: use multipart/form-data, "
        "application/x-www-form-urlencoded or application/json"
    )


def _counting(receive: Callable[[], Awaitable[dict]], limit: int) -> Callable[[], Awaitable[dict]]:
    """``receive`` that raises 413 once more than ``limit`` body bytes have arrived."""
    received = 0

    async def receive_counted() -> dict:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large(f"the request is over {limit} bytes, {_OVER}")
        return message

    return receive_counted


async def _from_form(form: FormData) -> ImageRequest:
    features = [*form.getlist("features"), *form.getlist("features[]")]
    for value in features:
        if not isinstance(value, str):
            raise _bad_request("`features` must be a text field, e.g. features=gender,age")
    for field in ("image", "url"):
        if len(form.getlist(field)) > 1:
            raise _bad_request(
                f"the request has several `{field}` fields: send one image per request"
            )
    image = form.get("image")
    url = form.get("url")
    if isinstance(url, UploadFile):
        raise _bad_request("`url` must be a text field, not a file")
    if isinstance(image, str):
        raise _bad_request("`image` must be a file part (curl: -F image=@photo.jpg)")
    data = None if image is None else await image.read()
    return _checked(features or None, data, url)


def _from_json(body: bytes) -> ImageRequest:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_request(f"the body is not valid JSON ({exc})") from exc
    except RecursionError as exc:  # arrays or objects nested thousands deep
        raise _bad_request(
            'the JSON body is nested too deeply: send a flat object, e.g. {"features": "age", ...}'
        ) from exc
    if not isinstance(payload, dict):
        raise _bad_request('the JSON body must be an object, e.g. {"features": "age", "url": ...}')
    features = payload.get("features")
    if isinstance(features, str):
        features = [features]
    if features is not None and not (
        isinstance(features, list) and all(isinstance(f, str) for f in features)
    ):
        raise _bad_request('`features` must be a string or a list of strings, e.g. ["age"]')
    url, encoded = payload.get("url"), payload.get("image_base64")
    for name, value in (("url", url), ("image_base64", encoded)):
        if value is not None and not isinstance(value, str):
            raise _bad_request(f"`{name}` must be a string")
    return _checked(features or None, None if encoded is None else _b64decode(encoded), url)


def _b64decode(encoded: str) -> bytes:
    if encoded.startswith("data:") and "," in encoded:  # a data: URL, as browsers make them
        encoded = encoded.split(",", 1)[1]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_request(f"`image_base64` is not valid base64 ({exc})") from exc


def _checked(features: list[str] | None, image: bytes | None, url: str | None) -> ImageRequest:
    if image is None and not url:
        raise _bad_request(f"the request has no image: {_USAGE}")
    if image is not None and url:
        raise _bad_request(f"the request has both an image and a url: {_USAGE}, not both")
    return ImageRequest(features, url if image is None else image)


def _bad_request(message: str) -> RostoError:
    return RostoError(message, code="bad_request", status=400)


def _detail(exc: Exception) -> str:
    return str(getattr(exc, "detail", None) or getattr(exc, "message", None) or exc)
