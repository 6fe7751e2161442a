"""Every error leaves as the contract's shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorResponse
from memsvc.errors import MemsvcError

log = logging.getLogger(__name__)


def _declared(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# The error responses any authenticated route may give, declared in the OpenAPI document (each
# in the contract's shape), so that a client or a schema checker knows every status it can see.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _declared(
        "The body is not JSON or not UTF-8 (`invalid_json`), a cursor was forged "
        "(`invalid_cursor`), or the JSON is nested too deeply (`too_deep`)."
    ),
    401: _declared("No key, or an unknown or revoked one (`unauthorized`, `invalid_key`)."),
    403: _declared(
        "A scope is missing (`missing_scope`), the route is the admin's (`admin_required`), "
        "or it works on a tenant's data and needs a tenant key (`tenant_key_required`)."
    ),
    404: _declared("An unknown (or another tenant's) cube, memory, job, key or tenant."),
    409: _declared("A conflict: a duplicate name, `expected_version` moved on, and the like."),
    413: _declared("The body, a content, a batch or a query is over its limit."),
    415: _declared("A body that is not sent as `application/json` (`unsupported_media_type`)."),
    422: _declared(
        "The request breaks the schema (`invalid_request`, `details` naming each field) or "
        "a rule of the route (its own code)."
    ),
    429: _declared("Rate limited (`rate_limited`): retry after `Retry-After` seconds."),
    500: _declared("A bug (`internal_error`): it has been logged."),
    503: _declared("The database (or a model) is not available (`unavailable`); retry shortly."),
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type")})
    return out


async def _on_memsvc_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MemsvcError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 503:
        headers = {"Retry-After": "2"}
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(
            400, "invalid_json", "the body is not valid JSON (or not UTF-8)", details
        )
    if not _is_json(request.headers.get("content-type")) and any(
        d["field"] == "body" and d["type"] in ("model_attributes_type", "dict_type")
        for d in details
    ):
        # FastAPI reads a body as JSON only when it says it is: a body sent as text/plain,
        # a form, or with no Content-Type arrives as bytes
        return error_response(
            415,
            "unsupported_media_type",
            "send the body as JSON, with Content-Type: application/json",
        )
    first = details[0] if details else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return error_response(422, "invalid_request", message, details)


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's "error parsing the body": a JSON body that is not UTF-8 (a
        # UnicodeDecodeError, not a JSONDecodeError); the contract calls it invalid_json
        return error_response(400, "invalid_json", "the body is not valid JSON (or not UTF-8)")
    code = _HTTP_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


async def _on_db_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa_exc.DBAPIError)
    if exc.connection_invalidated or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError
    ):
        return error_response(
            503,
            "unavailable",
            "the database is not reachable; retry shortly",
            headers={"Retry-After": "2"},
        )
    if isinstance(exc, sa_exc.DataError):
        return error_response(422, "invalid_value", "a value is out of range for storage")
    log.exception("database error", exc_info=exc)
    return error_response(500, "internal_error", "internal error; it has been logged")


async def _on_recursion(_: Request, __: Exception) -> JSONResponse:
    return error_response(400, "too_deep", "the JSON body is nested too deeply")


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(MemsvcError, _on_memsvc_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(sa_exc.DBAPIError, _on_db_error)
    app.add_exception_handler(RecursionError, _on_recursion)
    app.add_exception_handler(Exception, _on_unexpected)
