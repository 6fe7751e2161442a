"""Rendering the admin pages: the Jinja environment, the page response, the error page, the
route class that turns every refusal into an HTML page (never the API's JSON), and the form
reader."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.admin_ui import charts
from api.admin_ui import session as sessions
from memsvc.errors import MemsvcError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
FORM_MAX_BYTES = 64 * 1024  # the largest form here is a tenant or key name

# Autoescape on for every template: memory content, names and tags are untrusted. The CSP
# forbids scripts and inline styles altogether, a second wall should an escape ever be missed.
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(
    ago=charts.ago,
    compact=charts.compact,
    dollars=charts.dollars,
    duration_days=charts.duration_days,
    short=charts.short_id,
    thousands=charts.thousands,
    when=charts.when,
    pretty=lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str),
)
HEADERS = {
    "Cache-Control": "no-store",  # pages show secrets (a new key) and tenants' memories
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def page(
    request: Request,
    template: str,
    *,
    session: sessions.Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = _ENV.get_template(template).render(
        request_path=request.url.path,
        session=session,
        csrf_field=sessions.CSRF_FIELD,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported form",
    422: "Invalid input",
    429: "Too many requests",
    503: "Service unavailable",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(
        request,
        "error.html",
        session=sessions.current(request),
        status=status,
        title=_TITLES.get(status, "Error"),
        status_code=status,
        message=message,
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "input"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)


class AdminRoute(APIRoute):
    """Every refusal of an admin page as a page: no session → the login form; a forged form →
    403; bad input, unknown ids, conflicts → their 4xx with the reason. Unexpected errors go
    on to the app's handler (logged, 500)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except sessions.LoginRequired:
                if request.method != "GET":
                    return error_page(request, 401, "your admin session has ended: log in again")
                return login_redirect(request)
            except sessions.CsrfRefused:
                log.warning(
                    "admin UI: refused a %s to %s without its CSRF token",
                    request.method,
                    request.url.path,
                )
                return error_page(
                    request, 403, "this form was not sent from this admin session (CSRF check)"
                )
            except RequestValidationError as exc:
                return error_page(request, 400, _validation_message(exc))
            except MemsvcError as exc:
                if exc.status >= 500 and exc.status != 503:
                    raise
                return error_page(request, exc.status, exc.message)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return guarded


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each). Read here rather than with
    Starlette's form parser, which needs python-multipart even for urlencoded bodies."""
    body = await request.body()
    if not body:
        return {}  # no fields (then no CSRF token either: the write is refused as forged)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise StarletteHTTPException(415, "send the form as application/x-www-form-urlencoded")
    if len(body) > FORM_MAX_BYTES:
        raise StarletteHTTPException(413, f"the form is over {FORM_MAX_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise StarletteHTTPException(400, "the form could not be read") from None
    return {name: values[0] for name, values in fields.items()}


def static_dir() -> Path:
    return STATIC
