"""GET /v1/models: the loaded models, their device and memory, and the model budget."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.main import create_app
from api.routes import models as models_routes
from memsvc.config import Settings
from memsvc.models.embedder import Embedder
from memsvc.models.remote import RemoteEmbedder
from tests.embedding_server import EmbeddingServer


def _with_models_route(application: Any) -> Any:
    if not any(getattr(route, "path", None) == "/v1/models" for route in application.routes):
        application.include_router(models_routes.router)  # until api/main.py registers it
    return application


@pytest.fixture
async def app(db_url: str, test_settings: Settings, embedder: Embedder) -> AsyncIterator[Any]:
    application = _with_models_route(
        create_app(test_settings, database_url=db_url, embedder=embedder)
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_models_lists_the_loaded_embedder(
    client: httpx.AsyncClient, cube: dict[str, Any], embedder: Embedder
) -> None:
    cid = cube["id"]
    added = await client.post(
        f"/v1/cubes/{cid}/memories", json={"items": [{"content": "Alice adopted a beagle"}]}
    )
    assert added.status_code == 201, added.text
    found = await client.post(f"/v1/cubes/{cid}/search", json={"query": "who has a dog?"})
    assert found.status_code == 200, found.text

    r = await client.get("/v1/models")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["default_device"] == "cpu"
    assert body["budget_bytes"] == 4096 << 20
    [entry] = [m for m in body["models"] if m["kind"] == "embedding"]
    assert entry["name"] == embedder.model_name
    assert entry["device"] == "cpu" and entry["loaded"] is True and entry["pinned"] is True
    assert entry["bytes"] > 0 and entry["bytes"] == embedder.resident_bytes
    assert entry["batches"] >= 1 and entry["texts"] >= 2  # the memory and the query
    assert body["used_bytes"] >= entry["bytes"]
    assert body["models"][0] == entry  # the embedder first

    # Asking again lists it once.
    again = (await client.get("/v1/models")).json()
    assert [m["name"] for m in again["models"]].count(embedder.model_name) == 1


async def test_models_needs_a_key_with_the_read_scope(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, tenant_client: Any
) -> None:
    r = await anon.get("/v1/models")
    assert r.status_code == 401, r.text
    r = await anon.get("/v1/models", headers={"Authorization": "Bearer msk_nope_nope"})
    assert r.status_code == 401, r.text
    writer = await tenant_client(scopes=("write",))
    r = await writer.get("/v1/models")
    assert r.status_code == 403 and r.json()["error"]["code"] == "missing_scope", r.text
    assert (await admin.get("/v1/models")).status_code == 200


@pytest.fixture(scope="module")
def embedding_server(embedder: Embedder) -> Iterator[EmbeddingServer]:
    with EmbeddingServer(embedder) as server:
        yield server


async def test_a_remote_embedder_serves_the_api_and_is_listed(
    db_url: str, test_settings: Settings, embedding_server: EmbeddingServer
) -> None:
    remote = RemoteEmbedder(
        "openai/all-MiniLM-L6-v2", api_base=embedding_server.base, dimension=384
    )
    application = _with_models_route(
        create_app(test_settings, database_url=db_url, embedder=remote)
    )
    headers = {"Authorization": f"Bearer {test_settings.admin_key_value}"}
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://memsvc.test",
            headers=headers,
        ) as admin,
    ):
        tenant = (await admin.post("/v1/admin/tenants", json={"name": "remote"})).json()
        key = await admin.post(
            "/v1/admin/keys", json={"tenant_id": tenant["id"], "scopes": ["read", "write"]}
        )
        tenant_headers = {"Authorization": f"Bearer {key.json()['key']}"}
        seen = len(embedding_server.requests)
        cube = (await admin.post("/v1/cubes", json={"name": "c"}, headers=tenant_headers)).json()
        items = [{"content": "Alice adopted a beagle"}, {"content": "The sink is leaking"}]
        added = await admin.post(
            f"/v1/cubes/{cube['id']}/memories", json={"items": items}, headers=tenant_headers
        )
        assert added.status_code == 201, added.text
        found = await admin.post(
            f"/v1/cubes/{cube['id']}/search",
            json={"query": "who has a dog?", "mode": "dense"},
            headers=tenant_headers,
        )
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["memory"]["content"] == "Alice adopted a beagle"
        assert len(embedding_server.requests) > seen  # the vectors came from the server

        body = (await admin.get("/v1/models")).json()
    [entry] = [m for m in body["models"] if m["kind"] == "embedding"]
    assert entry["name"] == "openai/all-MiniLM-L6-v2" and entry["device"] == "remote"
    assert entry["bytes"] == 0 and entry["loaded"] is True
    assert entry["api_base"] == embedding_server.base
