"""Exceptions of the SDK: one per HTTP status family of the contract's error shape
`{"error": {"code", "message", "details"}}`, so callers catch what they can act on."""

from __future__ import annotations

from typing import Any

import httpx

from memsvc.client.retry import retry_after_seconds


class MemsvcError(Exception):
    """An error answered by memsvc (or met on the way to it). `status` is the HTTP status
    (None when no response came back), `code` the contract's snake_case code."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "error",
        details: Any = None,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
    ):
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.request_id = request_id
        self.headers = headers or httpx.Headers()


class ValidationError(MemsvcError):
    """400 or 422: the request was malformed or broke a rule; `details` names the fields."""


class AuthenticationError(MemsvcError):
    """401: no key, or an unknown or revoked one."""


class PermissionDeniedError(MemsvcError):
    """403: the key lacks a scope, or the route is the admin's."""


class NotFoundError(MemsvcError):
    """404: no such cube, memory, job, key or tenant (or another tenant's)."""


class ConflictError(MemsvcError):
    """409: a duplicate name, `expected_version` moved on, a forbidden status change."""


class PayloadTooLargeError(MemsvcError):
    """413: the body, a content, a batch or a query is over its limit."""


class RateLimitError(MemsvcError):
    """429: the key's bucket is empty; nothing was done. `retry_after` is in seconds."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class UnavailableError(MemsvcError):
    """503: the database (or a model) is not available. `outcome == "unknown"` means a write
    may or may not have been saved: read it back before sending it again."""

    @property
    def outcome(self) -> str | None:
        return self.details.get("outcome") if isinstance(self.details, dict) else None


class APIConnectionError(MemsvcError):
    """No response: the server could not be reached, or the connection broke or timed out."""


_BY_STATUS: dict[int, type[MemsvcError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: RateLimitError,
    503: UnavailableError,
}


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The contract's `error` object; a stand-in when a proxy or a crash answered otherwise."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload["error"]
    text = response.text[:500] or response.reason_phrase
    return {"code": f"http_{response.status_code}", "message": text, "details": payload}


def error_from_response(response: httpx.Response) -> MemsvcError:
    body = error_body(response)
    kind = _BY_STATUS.get(response.status_code, MemsvcError)
    return kind(
        str(body.get("message") or ""),
        status=response.status_code,
        code=str(body.get("code") or "error"),
        details=body.get("details"),
        request_id=response.headers.get("x-request-id"),
        headers=response.headers,
    )


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    return APIConnectionError(f"{type(exc).__name__}: {exc}", code="connection_error")
