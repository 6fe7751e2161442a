"""Authentication at the edge and the per-key rate limit.

`AuthGate` authenticates every `/v1/...` request from its Authorization header *before* the
body is read or the route runs: a missing, unknown or revoked key costs one indexed lookup and
an HMAC, and is refused (401) without reading, parsing or validating its body. A known key then
takes a token from its bucket (the admin key has one too); an empty bucket is 429
`rate_limited` with `Retry-After`. An admitted request carries its Principal in the ASGI scope's
state, where `api.deps.get_principal` finds it (no second lookup) and the audit log reads who
acted.

The buckets live in this process (`app.state.rate_limiter`): each API replica limits on its
own, so N replicas behind a load balancer admit up to N times the configured rate per key.
Requests with a bad key are not limited per key (they have none); they are only logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors
from memsvc.algorithms.ratelimit import Decision, Limiter
from memsvc.errors import MemsvcError
from memsvc.services.auth import Principal, authenticate
from memsvc.services.runtime import Runtime

log = logging.getLogger(__name__)

PRINCIPAL_STATE = "principal"  # key of the admitted Principal in scope["state"]


def clock() -> float:
    """Seconds on a monotonic clock (the tests replace it)."""
    return time.monotonic()


def limiter(app: Any) -> Limiter | None:
    """The app's per-key limiter (made on first use from the settings); None when disabled."""
    state = app.state
    if not hasattr(state, "rate_limiter"):
        settings = state.runtime.settings
        state.rate_limiter = (
            Limiter(per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst)
            if settings.rate_limit_per_minute > 0
            else None
        )
    found: Limiter | None = state.rate_limiter
    return found


def bucket_key(principal: Principal) -> str:
    return "admin" if principal.is_admin else f"key:{principal.key_id}"


def check(app: Any, principal: Principal) -> Decision | None:
    """Take one token for this principal; the refusal, or None when admitted."""
    buckets = limiter(app)
    if buckets is None:
        return None
    decision = buckets.take(bucket_key(principal), clock())
    return None if decision.allowed else decision


def too_many(decision: Decision) -> StarletteHTTPException:
    """The 429 (api.errors renders it as `rate_limited`, keeping the Retry-After header)."""
    retry = decision.retry_after_header
    return StarletteHTTPException(
        429,
        f"rate limit exceeded for this key; retry after {retry} s",
        headers={"Retry-After": retry},
    )


def bearer_of(scope: Scope) -> str | None:
    """The bearer credentials, read the way fastapi's HTTPBearer reads them."""
    header = None
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            header = value.decode("latin-1")
            break
    scheme, credentials = get_authorization_scheme_param(header)
    if not header or scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


def gated(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class AuthGate:
    """Authenticate and rate-limit `/v1` requests before anything reads their body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not gated(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        rt: Runtime = app.state.runtime
        try:
            principal = await authenticate(rt, bearer_of(scope))
        except MemsvcError as exc:
            if exc.status == 401:
                # Not audited (a flood of bad keys must not fill the table): logged only.
                log.info("401 %s %s (%s)", scope["method"], scope.get("path"), exc.code)
                headers = {"WWW-Authenticate": "Bearer"}
            else:
                headers = {"Retry-After": "2"} if exc.status == 503 else {}
            response = errors.error_response(
                exc.status, exc.code, exc.message, exc.details, headers
            )
            await response(scope, receive, send)
            return
        refused = check(app, principal)
        if refused is not None:
            log.info(
                "429 %s %s for %s (retry after %s s)",
                scope["method"],
                scope.get("path"),
                principal.actor,
                refused.retry_after_header,
            )
            refusal = too_many(refused)
            response = errors.error_response(
                429, "rate_limited", str(refusal.detail), None, dict(refusal.headers or {})
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        await self.app(scope, receive, send)
