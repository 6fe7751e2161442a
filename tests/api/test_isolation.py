"""Tenant isolation: another tenant's cube or memory is a 404 (never a 403), on every route.

The route list comes from `app.routes`, so a route added later cannot skip the check.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
from fastapi.routing import APIRoute

from memsvc.store.db import libpq_url
from workers.runner import work_until_idle

# Minimal valid bodies, by (method, path). A new route with a body must be listed here (the
# test fails loudly otherwise, rather than passing on a 422 that hides a missing check).
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/cubes/{cube_id}"): {"name": "stolen"},
    ("POST", "/v1/cubes/{cube_id}/memories"): {"items": [{"content": "injected by A"}]},
    ("PATCH", "/v1/cubes/{cube_id}/memories/{memory_id}"): {"content": "overwritten by A"},
    ("POST", "/v1/cubes/{cube_id}/search"): {"query": "secret plans"},
    ("POST", "/v1/cubes/{cube_id}/messages"): {"messages": [{"role": "user", "content": "hello"}]},
    ("POST", "/v1/cubes/{cube_id}/consolidate"): {},
    ("POST", "/v1/cubes/{cube_id}/thoughts"): {"question": "Where?", "answer": "Paris."},
    ("POST", "/v1/cubes/{cube_id}/thoughts/recall"): {"query": "secret plans"},
    ("PUT", "/v1/cubes/{cube_id}/core/{label}"): {"value": "injected"},
    ("POST", "/v1/cubes/{cube_id}/core/{label}/append"): {"content": "injected"},
    ("POST", "/v1/cubes/{cube_id}/context"): {"query": "secret plans"},
    ("POST", "/v1/cubes/{cube_id}/activation"): {},
    ("POST", "/v1/cubes/{cube_id}/generate"): {
        "prompt": "hi",
        "max_new_tokens": 1,
        "use_activation": True,
    },
}


def _snapshot(db_url: str, cube_id: str) -> dict[str, Any]:
    """Everything stored about a cube, as plain rows."""
    with psycopg.connect(libpq_url(db_url)) as conn:
        cube = conn.execute(
            "SELECT row_to_json(c)::text FROM cubes c WHERE id = %s", (cube_id,)
        ).fetchall()
        mems = conn.execute(
            "SELECT row_to_json(m)::text FROM memories m WHERE cube_id = %s ORDER BY id",
            (cube_id,),
        ).fetchall()
        versions = conn.execute(
            "SELECT row_to_json(v)::text FROM memory_versions v JOIN memories m "
            "ON m.id = v.memory_id WHERE m.cube_id = %s ORDER BY v.memory_id, v.version",
            (cube_id,),
        ).fetchall()
        derived = {
            table: conn.execute(
                f"SELECT row_to_json(t)::text FROM {table} t WHERE cube_id = %s ORDER BY 1",
                (cube_id,),
            ).fetchall()
            for table in ("memory_links", "graph_nodes", "graph_mentions", "graph_edges")
        }
    return {"cube": cube, "memories": mems, "versions": versions, **derived}


def _api_routes(routes: Any) -> Any:
    """Every APIRoute of the app, descending into included routers (FastAPI >= 0.16x wraps
    them in `_IncludedRouter` entries of `app.routes`)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        sub = getattr(route, "original_router", None)
        if sub is not None:
            yield from _api_routes(sub.routes)


def _cube_routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route in _api_routes(app.routes):
        if "{cube_id}" in route.path:
            for method in sorted(route.methods):
                out.append((method, route.path, route))
    # the walk sees what the OpenAPI document (the public route list) sees
    public = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if "{cube_id}" in path
        for method in ops
    }
    assert {(m, p) for m, p, _ in out} == public
    return out


def _fill(path: str, ids: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return ids.get(name, str(uuid.uuid4()))

    return re.sub(r"\{([^}]+)\}", sub, path)


async def _setup(tenant_client: Any) -> tuple[Any, Any, dict[str, Any], dict[str, Any], str]:
    a = await tenant_client()
    b = await tenant_client()
    a_cube = (await a.post("/v1/cubes", json={"name": "a-cube"})).json()
    r = await b.post("/v1/cubes", json={"name": "b-cube"})
    assert r.status_code == 201, r.text
    b_cube = r.json()
    r = await b.post(
        f"/v1/cubes/{b_cube['id']}/memories",
        json={
            "items": [
                {"content": "B's secret plans for the launch", "session_id": "s"},
                {"content": "B's second secret about the budget", "session_id": "s"},
            ]
        },
    )
    assert r.status_code == 201, r.text
    b_memory = r.json()["items"][0]["id"]
    # one soft-deleted memory too, so "restore" has something it could wrongly restore
    deleted = r.json()["items"][1]["id"]
    assert (await b.delete(f"/v1/cubes/{b_cube['id']}/memories/{deleted}")).status_code == 204
    return a, b, a_cube, b_cube, b_memory


async def test_every_cube_route_is_404_for_another_tenant(app, tenant_client, db_url):
    a, b, a_cube, b_cube, b_memory = await _setup(tenant_client)
    await work_until_idle(db_url, app.state.runtime)  # B's notes, links and graph exist too
    before = _snapshot(db_url, b_cube["id"])
    assert before["graph_nodes"] and before["graph_mentions"]
    routes = _cube_routes(app)
    paths = {p for _, p, _ in routes}
    # the routes the contract names are all there (so the loop below really covers them)
    for expected in (
        "/v1/cubes/{cube_id}",
        "/v1/cubes/{cube_id}/restore",
        "/v1/cubes/{cube_id}/memories",
        "/v1/cubes/{cube_id}/memories/{memory_id}",
        "/v1/cubes/{cube_id}/memories/{memory_id}/restore",
        "/v1/cubes/{cube_id}/memories/{memory_id}/history",
        "/v1/cubes/{cube_id}/search",
    ):
        assert expected in paths

    ids = {"cube_id": b_cube["id"], "memory_id": b_memory, "label": "human"}
    checked = 0
    for method, path, route in routes:
        url = _fill(path, ids)
        has_body = route.body_field is not None
        if has_body:
            assert (method, path) in BODIES, f"add a minimal body for {method} {path}"
        body = BODIES.get((method, path)) if has_body else None
        variants: list[dict[str, str]] = [{}]
        if method == "DELETE":
            variants.append({"hard": "true"})
        for params in variants:
            r = await a.request(method, url, json=body, params=params)
            assert r.status_code == 404, (method, url, params, r.status_code, r.text)
            err = r.json()["error"]
            assert set(err) == {"code", "message", "details"}
            assert b_cube["name"] not in r.text
            checked += 1
    assert checked >= 12

    # B's things are also invisible when A names them through an id of A's own cube
    r = await a.get(f"/v1/cubes/{a_cube['id']}/memories/{b_memory}")
    assert r.status_code == 404
    r = await a.get(f"/v1/cubes/{a_cube['id']}/memories/{b_memory}/history")
    assert r.status_code == 404
    r = await a.patch(f"/v1/cubes/{a_cube['id']}/memories/{b_memory}", json={"content": "x y"})
    assert r.status_code == 404
    r = await a.delete(f"/v1/cubes/{a_cube['id']}/memories/{b_memory}", params={"hard": "true"})
    assert r.status_code == 404

    # multi-cube search naming B's cube among A's own
    for cube_ids in ([b_cube["id"]], [a_cube["id"], b_cube["id"]]):
        r = await a.post("/v1/search", json={"query": "secret plans", "cube_ids": cube_ids})
        assert r.status_code == 404, r.text
        assert "secret" not in r.text

    # A's cube list never shows B's cube
    r = await a.get("/v1/cubes", params={"limit": 1000})
    assert r.status_code == 200
    listed = {c["id"] for c in r.json()["items"]}
    assert listed == {a_cube["id"]}

    # nothing of B changed (no reinforcement, no version, no rename, no delete)
    assert _snapshot(db_url, b_cube["id"]) == before
    r = await b.get(f"/v1/cubes/{b_cube['id']}")
    assert r.status_code == 200 and r.json()["name"] == "b-cube"
    r = await b.get(f"/v1/cubes/{b_cube['id']}/memories/{b_memory}")
    assert r.json()["content"] == "B's secret plans for the launch"
    assert r.json()["recall_count"] == 0


async def test_soft_deleted_cube_of_another_tenant_cannot_be_restored(tenant_client, db_url):
    a = await tenant_client()
    b = await tenant_client()
    b_cube = (await b.post("/v1/cubes", json={"name": "gone"})).json()
    assert (await b.delete(f"/v1/cubes/{b_cube['id']}")).status_code == 204
    before = _snapshot(db_url, b_cube["id"])
    r = await a.post(f"/v1/cubes/{b_cube['id']}/restore")
    assert r.status_code == 404
    r = await a.delete(f"/v1/cubes/{b_cube['id']}", params={"hard": "true"})
    assert r.status_code == 404
    assert _snapshot(db_url, b_cube["id"]) == before
    # B itself can still restore it
    r = await b.post(f"/v1/cubes/{b_cube['id']}/restore")
    assert r.status_code == 200, r.text


async def test_unknown_and_foreign_ids_are_indistinguishable(tenant_client):
    a = await tenant_client()
    b = await tenant_client()
    b_cube = (await b.post("/v1/cubes", json={"name": "b"})).json()
    foreign = await a.get(f"/v1/cubes/{b_cube['id']}")
    unknown = await a.get(f"/v1/cubes/{uuid.uuid4()}")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
