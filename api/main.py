"""The FastAPI application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import admin_ui, errors
from api.audit import AuditLog
from api.observability import RequestObserver
from api.ratelimit import AuthGate
from api.routes import (
    activation,
    admin,
    audit,
    cubes,
    health,
    jobs,
    lifecycle,
    links,
    memories,
    messages,
    metrics,
    models,
    quarantine,
    search,
    transfer,
    usage,
)
from memsvc import __version__
from memsvc.config import Settings, get_settings
from memsvc.models.embedder import TextEmbedder
from memsvc.models.llm import LLM
from memsvc.models.remote import make_embedder
from memsvc.services.runtime import Runtime
from memsvc.store.db import Database, create_engine


def _operation_id(route: APIRoute) -> str:
    # Clean OpenAPI operation ids (tag-function), so generated clients get readable names.
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


class BodyLimit:
    """Refuse request bodies over the limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = errors.error_response(
            413, "payload_too_large", f"the request body exceeds {self.max_bytes} bytes"
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(StarletteHTTPException):
    # An HTTPException, so FastAPI's body parsing re-raises it (as a 413) instead of turning
    # it into a generic 400 "error parsing the body"; the middleware catches it otherwise.
    def __init__(self, max_bytes: int):
        super().__init__(413, f"the request body exceeds {max_bytes} bytes")


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    embedder: TextEmbedder | None = None,
    llm: LLM | None = None,
) -> FastAPI:
    """Build the app. `database_url` must point at a migrated database (see memsvc.cli)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("create_app needs a database URL (memsvc serve starts one for you)")
    shared_embedder = embedder or make_embedder(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(create_engine(url, pool_size=settings.db_pool_size))
        app.state.runtime = Runtime(
            settings=settings, db=db, embedder=shared_embedder, llm_override=llm
        )
        try:
            yield
        finally:
            await db.dispose()

    app = FastAPI(
        title="memsvc",
        version=__version__,
        description="Long-term memory for AI agents: MemCubes on PostgreSQL + pgvector.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    errors.install(app)
    for module in (
        health,
        admin,
        audit,
        cubes,
        memories,
        messages,
        links,
        search,
        jobs,
        usage,
        lifecycle,
        activation,
        models,
        quarantine,
        transfer,
        metrics,
    ):
        # every error status a route can answer is declared (health declares its own)
        own_responses = module is health or module is metrics
        app.include_router(module.router, responses=None if own_responses else errors.RESPONSES)
    admin_ui.install(app)  # the admin web pages at /admin (not in the OpenAPI document)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    # Outermost last: the audit log sees every outcome; the gate authenticates before any body.
    app.add_middleware(AuthGate)
    app.add_middleware(AuditLog)
    # Outermost of all: it names the request before anything logs, and times everything.
    app.add_middleware(RequestObserver)
    return app
