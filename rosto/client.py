"""A Python client for Rosto's HTTP API: the faces of an image, or the API's error as an exception.

``Client(url, token).features(image=... | url=..., features=...)`` answers what
``rosto.analyze`` answers locally (API.md's list of faces). Each error answer becomes the class
of its code (``rosto.errors.API_ERRORS``) carrying the server's message; 429 and 503 are retried
after their ``Retry-After`` (a bounded number of times, each wait bounded too); one connection
pool serves every call, so a loop over many photos does not reconnect each time.
"""

from __future__ import annotations

import email.utils
import io
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import httpx

from rosto import __version__
from rosto.errors import RostoError, from_code

DEFAULT_URL = "http://127.0.0.1:8000"
_RETRIED = (429, 503)  # rate limited, overloaded: both say when to come back


class ConnectionFailed(RostoError):
    """No HTTP answer: the server is down, unreachable, or dropped the connection."""

    status, code = 0, "connection_failed"


class Timeout(RostoError):
    """The server did not answer within the client's timeout."""

    status, code = 0, "timeout"


class Client:
    """A connection to one Rosto server with one token; close it (or use ``with``) when done.

    ``timeout``: seconds for connecting and for each read; ``retries``: how many times a 429 or
    503 is retried; ``max_wait``: the longest ``Retry-After`` (seconds) worth waiting for, past
    which the error is raised at once (a rate limit's minute, say).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        max_wait: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"User-Agent": f"rosto-python/{__version__}"}
        if token:
            headers["Authorization"] = f'Token token="{token}"'
        self.url = url.rstrip("/")
        self.retries = retries
        self.max_wait = max_wait
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def features(
        self,
        image: str | os.PathLike | bytes | IO[bytes] | Any = None,
        *,
        url: str | None = None,
        features: str | Iterable[str] | None = None,
    ) -> list[dict]:
        """The faces of ``image`` (a path, bytes, a binary file, a PIL image or a numpy array)
        or of the image at ``url`` (the server downloads it), one dict per face, largest first.

        ``features``: names, comma-separated or a list (default: all). Raises the class of the
        API's error code (``rosto.UnknownFeature``, ``rosto.Unauthorized``, ...).
        """
        if (image is None) == (url is None):
            raise TypeError("pass either image= or url=, not both")
        fields = {} if features is None else {"features": _joined(features)}
        if url is not None:
            response = self._post(data={**fields, "url": url})
        else:
            name, content = _upload(image)
            response = self._post(data=fields, files={"image": (name, content)})
        return response.json()["faces"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _post(self, **request: Any) -> httpx.Response:
        """POST /api/v1/features, retrying 429/503 while allowed; raises on an error answer."""
        attempt = 0
        while True:
            try:
                response = self._http.post("/api/v1/features", **request)
            except httpx.TimeoutException as exc:
                raise Timeout(f"{self.url} did not answer in time ({exc!r})") from exc
            except httpx.TransportError as exc:
                raise ConnectionFailed(f"could not reach {self.url} ({exc!r})") from exc
            if response.is_success:
                return response
            wait = _retry_after(response, attempt)
            retry = response.status_code in _RETRIED and attempt < self.retries
            if not retry or wait > self.max_wait:
                raise _error(response, wait)
            time.sleep(wait)
            attempt += 1


def _joined(features: str | Iterable[str]) -> str:
    return features if isinstance(features, str) else ",".join(features)


def _upload(image: Any) -> tuple[str, bytes]:
    """A file name and the bytes to upload: files as they are, pixels as lossless PNG."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return path.name, path.read_bytes()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return "image", bytes(image)
    if hasattr(image, "read"):
        return Path(getattr(image, "name", "image")).name, image.read()
    from PIL import Image  # only for pixels: a file upload needs no imaging library

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "image.png", buffer.getvalue()


def _retry_after(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait: the Retry-After header (seconds or an HTTP date), else a backoff."""
    value = response.headers.get("Retry-After", "").strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
        else:
            return max(0.0, when.timestamp() - time.time())
    return 0.5 * 2**attempt


def _error(response: httpx.Response, retry_after: float) -> RostoError:
    """The exception of an error answer: API.md's JSON, or the status for any other body."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code = f"http_{response.status_code}"
        message = f"HTTP {response.status_code} from {response.url}: {response.text[:200]}"
    return from_code(code, message, response.status_code, retry_after)
