"""Rosto: self-hosted face attribute analysis answering the Rosto.io API.

In Python, the same answers two ways, in the same shape (API.md's list of faces)::

    import rosto
    faces = rosto.analyze("photo.jpg", features="age,gender")  # in this process
    faces = rosto.Client("http://127.0.0.1:8000", token).features(image="photo.jpg")  # over HTTP

``import rosto`` stays light: the models (ONNX Runtime) load on the first ``analyze`` and the
HTTP client on the first use of ``Client``, so a client-only program never loads the models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rosto.errors import (
    API_ERRORS,
    BadRequest,
    BadUrl,
    FeatureDisabled,
    FeatureUnavailable,
    FetchFailed,
    FetchTimeout,
    ImageTooLarge,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    MissingModelError,
    NotFound,
    NotReady,
    Overloaded,
    RateLimited,
    RetryLater,
    RostoError,
    Unauthorized,
    UnknownFeature,
    UnsupportedImage,
)

if TYPE_CHECKING:
    from rosto.client import Client, ConnectionFailed, Timeout
    from rosto.imageio import ImageSource

__version__ = "0.1.0"

# The server's default (Settings.max_pixels): what `rosto serve` accepts, the facade accepts.
MAX_PIXELS = 40_000_000

__all__ = [
    "API_ERRORS", "BadRequest", "BadUrl", "Client", "ConnectionFailed", "FeatureDisabled",
    "FeatureUnavailable", "FetchFailed", "FetchTimeout", "ImageTooLarge", "InternalError",
    "InvalidRequest", "MethodNotAllowed", "MissingModelError", "NotFound", "NotReady",
    "Overloaded", "RateLimited", "RetryLater", "RostoError", "Timeout", "Unauthorized",
    "UnknownFeature", "UnsupportedImage", "analyze",
]  # fmt: skip

_CLIENT_NAMES = ("Client", "ConnectionFailed", "Timeout")


def analyze(
    image: ImageSource,
    features: str | Iterable[str] | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
) -> list[dict]:
    """The faces of ``image`` as the API answers them: one dict per face, largest first.

    ``image``: a file path, the file's bytes, a PIL image or a uint8 numpy array (RGB, RGBA or
    grey). Bytes and files are decoded exactly as the server decodes an upload (EXIF orientation
    applied); ``features``: names as a comma-separated string or a list (default: all).
    Raises the error classes of the API (``UnknownFeature``, ``UnsupportedImage``, ...).
    """
    from rosto.errors import specific
    from rosto.imageio import load
    from rosto.pipeline import analyze as run_pipeline

    try:
        return run_pipeline(load(image, max_pixels), features)
    except RostoError as err:
        typed = specific(err)
        if typed is err:
            raise
        raise typed from err


def __getattr__(name: str) -> Any:
    """``rosto.Client`` and its errors, imported on first use (PEP 562)."""
    if name in _CLIENT_NAMES:
        from rosto import client

        return getattr(client, name)
    raise AttributeError(f"module 'rosto' has no attribute {name!r}")
