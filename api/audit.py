"""The audit log middleware: one row per mutating request that reached a route.

What is recorded: POST, PUT, PATCH and DELETE requests made with a valid key (the principal
api.ratelimit.AuthGate or api.deps.get_principal admitted) to an existing route, whatever
their outcome: a refused write (403, 404, 409, 413, 422, ...) is recorded with its status. The
row holds the actor (`admin` or `key:<id>`), the tenant and key, the method, the route template,
the path parameters (plus the `hard` flag of a delete), the status and the request id: never a
body, a header or another query parameter, which may hold memories and secrets.

What is not: reads (GET, and the POSTs that only read: search, context, thought recall,
generation; READ_ONLY_POSTS), requests with a missing or bad key (401: logged by the gate, so a
flood of bad keys cannot fill the table), rate-limited ones (429: refused before any route),
and paths that match no route (404/405 from the router).

Every request gets a request id: the caller's `X-Request-ID` when it is a short token, else a
new one; it is echoed in the `X-Request-ID` response header and stored with the row.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.ratelimit import PRINCIPAL_STATE
from memsvc.errors import Unavailable
from memsvc.services import audit
from memsvc.services.auth import Principal
from memsvc.services.runtime import Runtime

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# POST routes that only read (the `read` scope is enough for them): not audited. A search does
# bump the recall counters of what it returns, but that is bookkeeping of a read, and auditing
# every search would double the writes of the hottest path. tests/api/test_scopes.py checks this
# list against its table of the scope each route needs.
READ_ONLY_POSTS = frozenset(
    {
        "/v1/search",
        "/v1/cubes/{cube_id}/search",
        "/v1/cubes/{cube_id}/context",
        "/v1/cubes/{cube_id}/thoughts/recall",
        "/v1/cubes/{cube_id}/generate",
    }
)

# Query parameters that say *what* a mutation did (a soft or a hard delete); no other query
# value is stored.
RECORDED_QUERY = ("hard",)

REQUEST_ID_STATE = "request_id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_MAX_PARAM_CHARS = 200


def request_id_of(scope: Scope) -> str:
    """The request's id: one an outer middleware already chose, the caller's X-Request-ID when
    it is a plain token, else a new one."""
    state = scope.setdefault("state", {})
    known = state.get(REQUEST_ID_STATE)
    if isinstance(known, str) and known:
        return known
    chosen = None
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                chosen = text
            break
    state[REQUEST_ID_STATE] = chosen = chosen or uuid.uuid4().hex
    return chosen


def _clean(value: Any) -> str:
    """A parameter as stored: bounded, and without NUL (which jsonb cannot hold). A malformed
    id (a 422) is recorded as sent, up to the bound."""
    return str(value)[:_MAX_PARAM_CHARS].replace("\x00", "\ufffd")


def entry_for(scope: Scope, status: int, request_id: str) -> audit.Entry | None:
    """The row to write for this request, or None when it is not audited (module docstring)."""
    if scope["method"] not in MUTATING:
        return None
    principal = (scope.get("state") or {}).get(PRINCIPAL_STATE)
    route = scope.get("route")
    if not isinstance(principal, Principal) or not isinstance(route, APIRoute):
        return None
    if scope["method"] not in (route.methods or ()):
        return None  # 405 from the router: the route was not reached
    if scope["method"] == "POST" and route.path in READ_ONLY_POSTS:
        return None
    params: dict[str, Any] = {
        name: _clean(value) for name, value in (scope.get("path_params") or {}).items()
    }
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for name in RECORDED_QUERY:
        if name in query:
            params[name] = _clean(query[name][-1])
    tenant_id = principal.tenant_id
    if tenant_id is None and "tenant_id" in params:  # an admin acting on a tenant
        try:
            tenant_id = uuid.UUID(params["tenant_id"])
        except ValueError:
            tenant_id = None
    return audit.Entry(
        actor=principal.actor,
        tenant_id=tenant_id,
        key_id=principal.key_id,
        method=scope["method"],
        route=route.path,
        params=params,
        status=status,
        request_id=request_id,
    )


class AuditLog:
    """Record mutating requests in audit_log; echo the request id."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        started = False

        async def send_recorded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                # The row is written once the outcome (the status) is decided and before the
                # caller sees it: a client that got an answer knows its request is on record.
                # That costs one short INSERT per audited request (about a millisecond on its
                # own pooled connection), not a second transaction inside the route's.
                await self._record(scope, message["status"], request_id)
                headers = list(message.get("headers") or [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except Exception:
            if not started:  # unhandled: ServerErrorMiddleware answers 500 further out
                await self._record(scope, 500, request_id)
            raise

    async def _record(self, scope: Scope, status: int, request_id: str) -> None:
        entry = entry_for(scope, status, request_id)
        if entry is None:
            return
        try:
            rt: Runtime = scope["app"].state.runtime
            await audit.record(rt, entry)
        except Unavailable as exc:
            # The database is down: the request itself was refused with 503 (nothing written)
            # or committed just before; one line, not a traceback per request of an outage.
            log.error(
                "AUDIT WRITE FAILED (database unavailable: %s): %s %s %s by %s -> %s (request %s)",
                exc.message,
                entry.method,
                entry.route,
                entry.params,
                entry.actor,
                entry.status,
                entry.request_id,
            )
        except Exception:
            # Trade-off: the route's own transaction has already committed (or refused) by the
            # time the status is known, so failing the response now would report a write that
            # happened as an error, and a retry would repeat it. The outcome stands; the missing
            # row is logged loudly (with everything the row would have held) for an operator.
            log.exception(
                "AUDIT WRITE FAILED: %s %s %s by %s -> %s (request %s): the response stands, "
                "its audit row is missing",
                entry.method,
                entry.route,
                entry.params,
                entry.actor,
                entry.status,
                entry.request_id,
            )
