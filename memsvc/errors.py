"""Domain errors. One base class; the API maps each to the contract's error shape in one place.

Each subclass carries the HTTP status and the snake_case code of the REST contract, so services
raise meaningful errors without knowing about HTTP.
"""

from __future__ import annotations

from typing import Any


class MemsvcError(Exception):
    """Something went wrong in memsvc."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None):
        self.message = message or (self.__doc__ or "").strip()
        if code:
            self.code = code
        self.details = details
        super().__init__(self.message)


class InvalidRequest(MemsvcError):
    """The request is not valid."""

    status = 422
    code = "invalid_request"


class BadRequest(MemsvcError):
    """The request could not be read."""

    status = 400
    code = "bad_request"


class Unauthorized(MemsvcError):
    """A valid API key is required: send `Authorization: Bearer <key>`."""

    status = 401
    code = "unauthorized"


class Forbidden(MemsvcError):
    """This key lacks the scope this operation needs."""

    status = 403
    code = "forbidden"


class NotFound(MemsvcError):
    """No such resource (or it belongs to another tenant)."""

    status = 404
    code = "not_found"


class Conflict(MemsvcError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(MemsvcError):
    """The request is too large."""

    status = 413
    code = "payload_too_large"


class Unavailable(MemsvcError):
    """The service cannot answer right now; retry shortly."""

    status = 503
    code = "unavailable"
