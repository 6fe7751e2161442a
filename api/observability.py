"""Per-request observability: the latency histogram, the request id of every log line, and one
log line per request."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import request_id_of
from memsvc.observability.logs import request_id_var
from memsvc.observability.metrics import UNMATCHED

log = logging.getLogger("memsvc.request")


def route_label(scope: Scope) -> str:
    """The matched route's template, never the raw path (see metrics.UNMATCHED)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestObserver:
    """Outermost middleware: names the request (X-Request-ID), times it, logs it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped to the server

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            route = route_label(scope)
            rt = getattr(scope["app"].state, "runtime", None)
            if rt is not None:
                rt.metrics.observe_request(scope["method"], route, status, seconds)
            log.info(
                "%s %s -> %s in %.1f ms",
                scope["method"],
                route,
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            request_id_var.reset(token)
