"""Test fixtures: a real PostgreSQL + pgvector and the real embedding model.

Migrations run once into a template database; each test gets its own clone of it
(`CREATE DATABASE ... TEMPLATE`), so tests are isolated and cheap. Set
MEMSVC_TEST_DATABASE_URL to use a server of your own; otherwise an embedded one (pgserver) is
started in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from api.main import create_app
from memsvc import migrate
from memsvc.config import Settings
from memsvc.models.embedder import Embedder
from memsvc.store.db import libpq_url

# No scheduled consolidation during tests: a worker drained at the scheduled minute would
# otherwise consolidate every cube of the test under way. (Tests run schedule_all themselves.)
os.environ["MEMSVC_CONSOLIDATION_CRON"] = ""
os.environ["MEMSVC_ACTIVATION_REFRESH_CRON"] = ""

ADMIN_KEY = "test-admin-key-0123456789"
VAULT_KEY = (
    "3aDtVUOeaqjRZOHGXpKhBhKOiu-HnPM5M6VkEpmJERU="  # a Fernet key for the tests' vault secrets
)
ARTIFACTS = Path(__file__).parent / "artifacts"


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    given = os.environ.get("MEMSVC_TEST_DATABASE_URL")
    if given:
        yield given
        return
    import pgserver

    root = Path(tempfile.mkdtemp(prefix="memsvc-test-pg-"))
    server = pgserver.get_server(str(root / "pgdata"), cleanup_mode="stop")
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def _admin_execute(server_url: str, sql: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    return Settings(
        admin_key=ADMIN_KEY,  # type: ignore[arg-type]
        vault_keys=VAULT_KEY,  # type: ignore[arg-type]
        database_url=None,
        run_worker=False,
    )


@pytest.fixture(scope="session")
def template_db(pg_server_url: str, test_settings: Settings) -> Iterator[str]:
    name = f"memsvc_tpl_{uuid.uuid4().hex[:8]}"
    _admin_execute(pg_server_url, f'CREATE DATABASE "{name}"')
    migrate.upgrade(_with_database(pg_server_url, name), test_settings)
    yield name
    _admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    name = f"memsvc_t_{uuid.uuid4().hex[:10]}"
    _admin_execute(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_database(pg_server_url, name)
    _admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@contextlib.asynccontextmanager
async def started_app(
    settings: Settings, db_url: str, embedder: Embedder | None = None, **overrides: Any
) -> AsyncIterator[Any]:
    """The app on `db_url` with `overrides` of the settings, its lifespan running."""
    application = create_app(
        settings.model_copy(update=overrides), database_url=db_url, embedder=embedder
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def app(db_url: str, test_settings: Settings, embedder: Embedder) -> AsyncIterator[Any]:
    async with started_app(test_settings, db_url, embedder) as application:
        yield application


def _client(app: Any, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://memsvc.test", headers=headers
    )


@pytest.fixture
async def admin(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, ADMIN_KEY) as client:
        yield client


@pytest.fixture
async def anon(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, None) as client:
        yield client


TenantFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def tenant_client(app: Any, admin: httpx.AsyncClient) -> AsyncIterator[TenantFactory]:
    """Factory: a client authenticated as a new tenant's key (scopes as asked)."""
    opened: list[httpx.AsyncClient] = []

    async def make(scopes: tuple[str, ...] = ("read", "write"), name: str | None = None):
        tenant = await admin.post("/v1/admin/tenants", json={"name": name or uuid.uuid4().hex})
        assert tenant.status_code == 201, tenant.text
        key = await admin.post(
            "/v1/admin/keys", json={"tenant_id": tenant.json()["id"], "scopes": list(scopes)}
        )
        assert key.status_code == 201, key.text
        client = _client(app, key.json()["key"])
        client.tenant_id = tenant.json()["id"]  # type: ignore[attr-defined]
        client.key_id = key.json()["id"]  # type: ignore[attr-defined]
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
async def client(tenant_client: TenantFactory) -> httpx.AsyncClient:
    return await tenant_client()


@pytest.fixture
async def cube(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/v1/cubes", json={"name": "main"})
    assert response.status_code == 201, response.text
    return response.json()
