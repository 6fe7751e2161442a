"""The async SDK against the real app in-process (httpx.ASGITransport): real PostgreSQL,
the real embedding model, the real worker for the jobs, a tiny real LM for activation. One
tour calls every route of the app through the SDK and checks that none was left out."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from memsvc.client import (
    ROUTES,
    AsyncMemoryClient,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from memsvc.client.models import Memory
from tests.api.test_isolation_routes import _api_routes as api_routes
from tests.conftest import ADMIN_KEY
from tests.tiny_lm import make_tiny_lm
from workers.runner import work_until_idle

# Served by memsvc but not an API operation.
NOT_OPERATIONS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/admin", "/metrics"}
# In the REST contract, not (yet) served by the app: the SDK has them, the server lacks them.
CONTRACT_ONLY: set[tuple[str, str]] = set()

JAN, FEB, MAR = "2026-01-10T10:00:00+00:00", "2026-02-10T10:00:00+00:00", "2026-03-10T10:00:00Z"


def served_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in api_routes(app.routes)
        if route.methods
        for method in route.methods
        if route.path not in NOT_OPERATIONS and method != "HEAD"
    }


class RouteRecorder(httpx.AsyncBaseTransport):
    """The app's ASGI transport, noting the route template of every request it carries."""

    def __init__(self, app: Any):
        self.inner = httpx.ASGITransport(app=app)
        self.templates = [
            (method, path, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
            for method, path in served_routes(app)
        ]
        self.seen: set[tuple[str, str]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for method, path, pattern in self.templates:
            if method == request.method and pattern.match(request.url.path):
                self.seen.add((method, path))
        return await self.inner.handle_async_request(request)


@pytest.fixture(scope="session")
def sdk_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("sdk-tiny-lm") / "model", seed=0)


@pytest.fixture
async def app(db_url, test_settings, embedder, sdk_lm_dir, tmp_path) -> AsyncIterator[Any]:
    settings = test_settings.model_copy(
        update={"activation_model": str(sdk_lm_dir), "data_dir": tmp_path}
    )
    application = create_app(settings, database_url=db_url, embedder=embedder)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def recorder(app: Any) -> RouteRecorder:
    return RouteRecorder(app)


def sdk(transport: httpx.AsyncBaseTransport, key: str) -> AsyncMemoryClient:
    return AsyncMemoryClient("http://memsvc.test", api_key=key, transport=transport)


@pytest.fixture
async def admin_sdk(recorder: RouteRecorder) -> AsyncIterator[AsyncMemoryClient]:
    async with sdk(recorder, ADMIN_KEY) as client:
        yield client


@pytest.fixture
async def tenant_sdk(
    admin_sdk: AsyncMemoryClient, recorder: RouteRecorder
) -> AsyncIterator[AsyncMemoryClient]:
    tenant = await admin_sdk.create_tenant(f"sdk-{uuid.uuid4().hex[:8]}")
    key = await admin_sdk.create_key(tenant.id, scopes=["read", "write", "admin", "secrets"])
    async with sdk(recorder, key.key) as client:
        client.tenant_id = tenant.id  # type: ignore[attr-defined]
        yield client


def test_every_served_route_has_an_sdk_method(app: Any) -> None:
    served = served_routes(app)
    assert served - ROUTES == set(), "routes the SDK cannot call"
    # The SDK calls nothing the server lacks, but for the contract's routes not served yet
    # (when the server adds them, this fails: check the SDK's methods against them).
    assert ROUTES - served == CONTRACT_ONLY


async def drain(app: Any, db_url: str) -> None:
    await work_until_idle(db_url, app.state.runtime)


async def test_sdk_tour_calls_every_route(
    app: Any,
    db_url: str,
    admin_sdk: AsyncMemoryClient,
    tenant_sdk: AsyncMemoryClient,
    recorder: RouteRecorder,
) -> None:
    await tour_admin(admin_sdk, tenant_sdk, recorder)
    cube_id = await tour_cubes(app, db_url, tenant_sdk)
    await tour_memories(app, db_url, tenant_sdk, cube_id)
    await tour_lifecycle(app, db_url, tenant_sdk, cube_id)
    await tour_quarantine(admin_sdk, tenant_sdk, cube_id)
    await tour_service(admin_sdk, tenant_sdk)
    assert served_routes(app) - recorder.seen == set(), "routes the tour did not call"


async def tour_admin(
    admin: AsyncMemoryClient, tenant: AsyncMemoryClient, transport: RouteRecorder
) -> None:
    tenant_id = tenant.tenant_id  # type: ignore[attr-defined]
    assert (await admin.get_tenant(tenant_id)).id == tenant_id
    assert tenant_id in {t.id for t in await admin.list_tenants()}
    spare = await admin.create_key(tenant_id, scopes=["read"], name="spare")
    assert spare.key and spare.scopes == ["read"] and spare.name == "spare"
    listed = await admin.list_keys(tenant_id=tenant_id)
    assert spare.id in {k.id for k in listed} and all(not hasattr(k, "key") for k in listed)
    await admin.revoke_key(spare.id)
    async with sdk(transport, spare.key) as revoked:
        with pytest.raises(AuthenticationError) as raised:
            await revoked.list_cubes()
    assert raised.value.status == 401 and raised.value.code
    # a tenant key never passes an admin route
    with pytest.raises(PermissionDeniedError) as denied:
        await tenant.list_tenants()
    assert denied.value.code == "admin_required"


async def tour_cubes(app: Any, db_url: str, client: AsyncMemoryClient) -> uuid.UUID:
    cube = await client.create_cube("main", description="the tour", config={"k": 1})
    assert cube.name == "main" and cube.config == {"k": 1} and cube.memory_count == 0
    with pytest.raises(ConflictError):
        await client.create_cube("main")
    others = [await client.create_cube(f"extra-{i}") for i in range(3)]
    page = await client.list_cubes(limit=2)
    assert len(page.items) == 2 and page.next_cursor
    assert [c.id async for c in client.iter_cubes(limit=2)] == [cube.id] + [c.id for c in others]
    changed = await client.update_cube(cube.id, description=None, owner="ada")
    assert changed.description is None and changed.owner == "ada"
    assert (await client.get_cube(cube.id)).owner == "ada"
    await client.delete_cube(others[0].id)
    assert (await client.restore_cube(others[0].id)).id == others[0].id
    await client.delete_cube(others[1].id, hard=True)
    with pytest.raises(NotFoundError) as missing:
        await client.get_cube(others[1].id)
    assert missing.value.code == "cube_not_found"
    accepted = await client.reindex_cube(cube.id)
    await drain(app, db_url)
    assert (await client.get_job(accepted.job_id)).status == "done"
    records = await client.export_cube(cube.id)
    assert records[0]["kind"] == "memsvc-export"
    copy = await client.import_cube(records, name="main copy", keep_ids=False)
    assert copy.cube.name == "main copy" and copy.cube.id != cube.id
    assert copy.counts["memory"] == records[0]["counts"]["memory"]
    return cube.id


async def tour_memories(app: Any, db_url: str, client: AsyncMemoryClient, cube_id: Any) -> None:
    added = await client.add_memories(
        cube_id,
        [
            "Alice lives in York and works as a nurse.",
            {"content": "Alice's cat is called Miso.", "memory_type": "semantic", "tags": ["pet"]},
            {"content": "Alice drinks green tea every morning.", "user_id": "alice"},
        ],
    )
    assert len(added.items) == 3 and all(isinstance(m, Memory) for m in added.items)
    one = await client.add_memory(cube_id, "Bob hikes in the Lake District.", tags=["bob"])
    assert one.tags == ["bob"] and one.cube_id == cube_id
    await drain(app, db_url)  # enrichment: notes, links, the entity graph
    ids = [m.id for m in added.items] + [one.id]
    assert [m.id async for m in client.iter_memories(cube_id, limit=3)] == ids
    assert [m.id for m in (await client.list_memories(cube_id, tag="pet")).items] == [ids[1]]

    memory = await client.get_memory(cube_id, ids[0])
    patched = await client.update_memory(
        cube_id, ids[0], content="Alice lives in Leeds.", reason="moved"
    )
    assert patched.version > memory.version and patched.content == "Alice lives in Leeds."
    with pytest.raises(ConflictError) as stale:
        await client.update_memory(cube_id, ids[0], content="x", expected_version=memory.version)
    assert stale.value.code == "version_conflict"
    history = await client.get_history(cube_id, ids[0])
    assert history.versions[-1].change_kind == "user_update"
    assert history.versions[-1].reason == "moved"
    assert [v.version for v in history.versions] == sorted(v.version for v in history.versions)

    await client.delete_memory(cube_id, ids[3])
    assert (await client.get_memory(cube_id, ids[3])).status == "deleted"
    assert (await client.restore_memory(cube_id, ids[3])).status == "active"
    await client.delete_memory(cube_id, ids[3], hard=True)
    with pytest.raises(NotFoundError) as gone:
        await client.get_memory(cube_id, ids[3])
    assert gone.value.code == "memory_not_found" and gone.value.message

    lineage = await client.get_lineage(cube_id, ids[0])
    assert lineage.memory_id == ids[0]
    assert (await client.get_links(cube_id, ids[0])).memory_id == ids[0]
    graph = [page async for page in client.iter_graph(cube_id, limit=2)]
    assert graph and sum(len(p.nodes) for p in graph) == graph[0].counts.get("nodes", 0)

    found = await client.search(cube_id, "Where does Alice live?", top_k=2, mode="hybrid")
    assert found.results[0].memory.id == ids[0] and found.results[0].score > 0
    both = await client.search_cubes([cube_id], "cat", filters={"tags": ["pet"]})
    assert [h.memory.id for h in both.results] == [ids[1]]
    with pytest.raises(ValidationError) as invalid:
        await client.search(cube_id, "x", mode="telepathy")
    assert invalid.value.status == 422 and invalid.value.details

    said = await client.add_messages(
        cube_id,
        [{"role": "user", "content": "I moved to Bristol last week.", "timestamp": FEB}],
        user_id="alice",
        session_id="s1",
    )
    assert said.status == "done" and len(said.turn_ids) == 1
    queued = await client.add_messages(
        cube_id, [{"role": "user", "content": "My sister is Jane."}], mode="async"
    )
    assert queued.status == "queued" and queued.job_id
    await drain(app, db_url)
    done = await client.wait_for_job(queued.job_id, timeout=5)
    assert done.status == "done"


async def tour_lifecycle(app: Any, db_url: str, client: AsyncMemoryClient, cube_id: Any) -> None:
    written = await client.write_core(cube_id, "human", "Name: Alice.")
    assert written.created and written.block.content.startswith("Name: Alice")
    appended = await client.append_core(cube_id, "human", "Likes tea.")
    assert not appended.created and "Likes tea." in appended.block.content
    assert [m.id for m in await client.list_core(cube_id)] == [written.block.id]
    context = await client.get_context(cube_id, "What does Alice drink?", budget_tokens=500)
    assert "Name: Alice" in context.context and context.tokens <= 500

    thoughts = await client.add_thoughts(
        cube_id, "What does Alice drink?", "Alice drinks green tea every morning."
    )
    assert thoughts.thoughts
    recalled = await client.recall_thoughts(cube_id, "What does Alice drink?", top_k=3)
    assert recalled.results

    consolidation = await client.consolidate(cube_id, kinds=["forgetting"])
    await drain(app, db_url)
    assert (await client.get_job(consolidation.job_id)).finished

    build = await client.build_activation(cube_id)
    await drain(app, db_url)
    state = await client.get_activation(cube_id)
    assert state.activation_id == build.activation_id and state.status == "ready"
    generated = await client.generate(cube_id, "Where does Alice live?", max_new_tokens=4)
    assert generated.activation == "used" and generated.cached_tokens > 0


async def tour_quarantine(
    admin: AsyncMemoryClient, client: AsyncMemoryClient, cube_id: Any
) -> None:
    for when in (JAN, FEB):  # the user's fact, stated twice
        await client.add_messages(
            cube_id, [{"role": "user", "content": "I live in London.", "timestamp": when}],
            user_id="u1", session_id="s9",
        )  # fmt: skip
    paris = {"content": "I live in Paris.", "user_id": "u1", "occurred_at": MAR}
    held = []
    for source in ("tool:web_search", "tool:other_search"):
        out = await client.add_memories(cube_id, [{**paris, "source": source}], infer=True)
        [fact] = [i for i in out.inferred if i.memory.memory_type == "semantic"]
        assert fact.decision == "quarantine"
        held.append(fact.memory.id)
    entries = {e.memory.id: e async for e in client.iter_quarantine(cube_id=cube_id, limit=1)}
    assert set(held) <= set(entries) and entries[held[0]].contradicted_ids
    released = await client.release_quarantined(held[0], note="checked")
    assert released.resolution == "released" and released.note == "checked"
    rejected = await admin.reject_quarantined(held[1])
    assert rejected.resolution == "rejected"


async def tour_service(admin: AsyncMemoryClient, client: AsyncMemoryClient) -> None:
    assert (await client.healthz()).status == "ok"
    assert (await client.readyz()).ready
    models = await client.list_models()
    assert models.models and models.models[0].kind == "embedding"
    usage = await client.get_usage()
    assert usage.totals.calls >= 0
    audit = [e async for e in admin.iter_audit(limit=5)]
    assert len(audit) > 5 and {e.method for e in audit} >= {"POST", "PATCH", "DELETE"}
