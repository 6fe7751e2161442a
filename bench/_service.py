"""Run benchmarks through the real service: the app in-process over ASGI (default) or a server."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

ADMIN_KEY = "bench-admin-key"


@contextlib.asynccontextmanager
async def service(url: str | None, database_url: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client. With `url`, talk to that server (set MEMSVC_ADMIN_KEY for it);
    otherwise start the app in-process on `database_url` or on a throwaway embedded PostgreSQL."""
    if url:
        key = os.environ.get("MEMSVC_ADMIN_KEY", ADMIN_KEY)
        async with httpx.AsyncClient(
            base_url=url, timeout=600, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client
        return
    from api.main import create_app
    from memsvc import embedded, migrate
    from memsvc.config import Settings

    settings = Settings(admin_key=ADMIN_KEY, run_worker=False)  # type: ignore[arg-type]
    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="memsvc-bench-")
        database_url = embedded.start(Path(tmp.name))
    migrate.upgrade(database_url, settings)
    app = create_app(settings, database_url=database_url)
    # Background enrichment runs on a worker inside this process, as `memsvc serve` does.
    from workers.runner import attach_worker

    attach_worker(app, database_url, concurrency=2)
    try:
        async with app.router.lifespan_context(app), _admin_client(app) as c:
            yield c
    finally:
        if tmp is not None:
            import pgserver

            pgserver.get_server(str(Path(tmp.name) / "pgdata")).cleanup()
            tmp.cleanup()


def _admin_client(app: Any) -> httpx.AsyncClient:
    """A client of the in-process app holding the admin key."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        timeout=600,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )


async def tenant_client(admin: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client holding a fresh tenant's read/write key, on the same transport as `admin`."""
    tenant = await admin.post("/v1/admin/tenants", json={"name": f"bench-{uuid.uuid4().hex}"})
    tenant.raise_for_status()
    key = await admin.post(
        "/v1/admin/keys", json={"tenant_id": tenant.json()["id"], "scopes": ["read", "write"]}
    )
    key.raise_for_status()
    return httpx.AsyncClient(
        transport=admin._transport,
        base_url=admin.base_url,
        timeout=600,
        headers={"Authorization": f"Bearer {key.json()['key']}"},
    )


@contextlib.asynccontextmanager
async def local_tenant(settings: Any) -> AsyncIterator[tuple[Any, str, httpx.AsyncClient]]:
    """The app in-process on a throwaway embedded PostgreSQL, with these settings (no worker:
    the caller runs jobs with work_until_idle): (app, database url, a new tenant's client)."""
    from api.main import create_app
    from memsvc import embedded, migrate

    settings = settings.model_copy(update={"admin_key": SecretStr(ADMIN_KEY), "run_worker": False})
    tmp = tempfile.TemporaryDirectory(prefix="memsvc-bench-")
    url = embedded.start(Path(tmp.name))
    try:
        migrate.upgrade(url, settings)
        app = create_app(settings, database_url=url)
        async with app.router.lifespan_context(app):
            async with _admin_client(app) as admin:
                client = await tenant_client(admin)
            async with client:
                yield app, url, client
    finally:
        import pgserver

        pgserver.get_server(str(Path(tmp.name) / "pgdata")).cleanup()
        tmp.cleanup()
