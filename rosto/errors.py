"""Errors that reach a client: each carries the HTTP status and the snake_case code of API.md."""


class RostoError(Exception):
    """An error with a status and a code; its message says what was wrong and how to fix it."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class MissingModelError(RostoError):
    """A weight file the package should ship is absent: a broken install, not a client error."""

    status = 500
    code = "model_missing"


class RetryLater(RostoError):
    """A refusal the client should retry after ``retry_after`` seconds (the Retry-After header)."""

    def __init__(self, message: str, *, code: str, status: int, retry_after: int):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after
