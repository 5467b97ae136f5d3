"""Errors that reach a client: each carries the HTTP status and the snake_case code of API.md.

One class per code, so Python users catch what they mean (``except rosto.UnknownFeature``) from
the local facade and from the HTTP client alike: the client turns each error answer back into
the class of its code (``from_code``), and ``/openapi.json`` lists the same table.
"""

from __future__ import annotations


class RostoError(Exception):
    """An error with a status and a code; its message says what was wrong and how to fix it."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        message = _printable(message)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class RetryLater(RostoError):
    """A refusal the client should retry after ``retry_after`` seconds (the Retry-After header)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float = 1,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class BadRequest(RostoError):
    """Neither or both of `image` and `url`, a malformed form or JSON body."""


class BadUrl(RostoError):
    """The url is malformed, not http(s), or points to a non-public address."""

    code = "bad_url"


class Unauthorized(RostoError):
    """The Authorization header is missing or malformed, or its token unknown or revoked."""

    status, code = 401, "unauthorized"


class NotFound(RostoError):
    """No such path: the API is POST /api/v1/features."""

    status, code = 404, "not_found"


class MethodNotAllowed(RostoError):
    """The path exists but not with this HTTP method."""

    status, code = 405, "method_not_allowed"


class ImageTooLarge(RostoError):
    """The image is over 4 MiB (uploaded or downloaded) or over the server's pixel limit."""

    status, code = 413, "image_too_large"


class UnsupportedImage(RostoError):
    """The bytes are not a complete JPEG, PNG, WebP, BMP, GIF or TIFF image."""

    status, code = 415, "unsupported_image"


class UnknownFeature(RostoError):
    """A requested feature name is not one of the API's (the message lists the valid ones)."""

    status, code = 422, "unknown_feature"


class FeatureUnavailable(RostoError):
    """An API feature this version of Rosto does not implement."""

    status, code = 422, "feature_unavailable"


class FeatureDisabled(RostoError):
    """A feature the operator of this server turned off."""

    status, code = 422, "feature_disabled"


class InvalidRequest(RostoError):
    """The request does not match the operation's parameters."""

    status, code = 422, "invalid_request"


class RateLimited(RetryLater):
    """The token's requests per minute are used up; retry after `Retry-After` seconds."""

    status, code = 429, "rate_limited"


class InternalError(RostoError):
    """The server failed on this request; its log has the details."""

    status, code = 500, "internal_error"


class MissingModelError(RostoError):
    """A weight file the package should ship is absent: a broken install, not a client error."""

    status, code = 500, "model_missing"


class FetchFailed(RostoError):
    """The image at the url could not be downloaded (no answer, an HTTP error, a bad redirect)."""

    status, code = 502, "fetch_failed"


class Overloaded(RetryLater):
    """The server sheds the request while at capacity; retry after `Retry-After` seconds."""

    status, code = 503, "overloaded"


class NotReady(RostoError):
    """The models are still loading (GET /readyz)."""

    status, code = 503, "not_ready"


class FetchTimeout(RostoError):
    """Downloading the image at the url took too long."""

    status, code = 504, "fetch_timeout"


# Every code the server answers with, by code: what the client raises and /openapi.json lists.
API_ERRORS: dict[str, type[RostoError]] = {
    cls.code: cls
    for cls in (
        BadRequest, BadUrl, Unauthorized, NotFound, MethodNotAllowed, ImageTooLarge,
        UnsupportedImage, UnknownFeature, FeatureUnavailable, FeatureDisabled, InvalidRequest,
        RateLimited, InternalError, MissingModelError, FetchFailed, Overloaded, NotReady,
        FetchTimeout,
    )
}  # fmt: skip


def from_code(code: str, message: str, status: int, retry_after: float | None = None) -> RostoError:
    """The exception of an error answer: its code's class, or a plain RostoError for others."""
    cls = API_ERRORS.get(code)
    if cls is None:
        return RostoError(message, code=code, status=status)
    if issubclass(cls, RetryLater):
        return cls(message, status=status, retry_after=1 if retry_after is None else retry_after)
    return cls(message, status=status)


def specific(err: RostoError) -> RostoError:
    """``err`` as the class of its code (the server raises plain RostoErrors with a code)."""
    if type(err) is not RostoError and type(err) is not RetryLater:
        return err
    return from_code(err.code, err.message, err.status, getattr(err, "retry_after", None))


def _printable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode escaped (a lone surrogate becomes ``\\ud800``).

    Messages quote the client's input back; encoding them as JSON must not fail.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
