"""Tenant isolation on every route, generated from the app's route table.

Tenant A holds a key with every scope; tenant B holds cubes (one live, one soft-deleted),
memories (live, soft-deleted, a vault secret), a core block, a thought, conversation turns, a
job, an activation build, notes, links and an entity graph. Every route that names something
a tenant owns (a cube, memory or job in its path; a cube, memory or tenant in its query or
body) is called by A, with every method, naming B's things in every way it can:

- B's ids in the path (live cube, soft-deleted cube, soft-deleted memory; DELETE also with
  `hard=true`, GET also with `reveal=true`), and A's own cube with B's memory;
- B's ids in the query or the body, from A's own cube (the REFERENCES table);

and must get 404, exactly the 404 an id that does not exist gets (so nothing tells A that B's
thing exists). Routes under /v1/admin may refuse A's tenant key with 403 instead, the same for
every id. Afterwards nothing in the database has changed (the audit log aside: it records the
refusals), and B still sees its data as it was.

The route list is `app.routes`, checked equal to the OpenAPI document; a route with a body
must be in BODIES, a route naming owned ids outside its path in REFERENCES, and every path
parameter must be known: a new route fails here until it is listed, rather than pass unseen.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute
from psycopg import sql
from pydantic import TypeAdapter

from memsvc.store.db import libpq_url
from workers.runner import work_until_idle

# Path parameters naming what a tenant owns, and the others a route may have.
OWNED = {"cube_id", "memory_id", "job_id"}
KNOWN_PATH_PARAMS = OWNED | {"label", "tenant_id", "key_id"}
# Tables a refused request writes to by design: the audit trail records refusals.
UNWATCHED = {"audit_log"}

# A minimal valid body for every route with one that this test calls ("{name}" is replaced by
# the id of that name). Valid, so that a 404 cannot be a 422 in disguise: checked below.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/admin/keys"): {"tenant_id": "{tenant_id}", "scopes": ["read"]},
    ("PATCH", "/v1/cubes/{cube_id}"): {"name": "stolen"},
    ("POST", "/v1/cubes/{cube_id}/memories"): {"items": [{"content": "injected by A"}]},
    ("PATCH", "/v1/cubes/{cube_id}/memories/{memory_id}"): {"content": "overwritten by A"},
    ("POST", "/v1/cubes/{cube_id}/messages"): {"messages": [{"role": "user", "content": "hi"}]},
    ("POST", "/v1/cubes/{cube_id}/search"): {"query": "secret plans"},
    ("POST", "/v1/search"): {"query": "secret plans", "cube_ids": ["{cube_id}"]},
    ("POST", "/v1/cubes/{cube_id}/consolidate"): {},
    ("POST", "/v1/cubes/{cube_id}/thoughts"): {"question": "Where?", "answer": "Paris."},
    ("POST", "/v1/cubes/{cube_id}/thoughts/recall"): {"query": "secret plans"},
    ("PUT", "/v1/cubes/{cube_id}/core/{label}"): {"value": "injected"},
    ("POST", "/v1/cubes/{cube_id}/core/{label}/append"): {"content": "injected"},
    ("POST", "/v1/cubes/{cube_id}/context"): {"query": "secret plans"},
    ("POST", "/v1/cubes/{cube_id}/activation"): {},
    ("POST", "/v1/cubes/{cube_id}/generate"): {"prompt": "hi", "max_new_tokens": 1},
    ("POST", "/v1/admin/quarantine/{memory_id}/release"): {"note": "by A"},
    ("POST", "/v1/admin/quarantine/{memory_id}/reject"): {"note": "by A"},
}

# Routes naming owned things in the query or the body: each way to name B's thing from A's
# side. "{own_cube}" is A's cube; the other names are B's ids.
REFERENCES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("POST", "/v1/search"): [
        {"body": {"query": "secret plans", "cube_ids": ["{cube_id}"]}},
        {"body": {"query": "secret plans", "cube_ids": ["{own_cube}", "{cube_id}"]}},
        {"body": {"query": "secret plans", "cube_ids": ["{own_cube}", "{gone_cube}"]}},
    ],
    ("GET", "/v1/usage"): [{"params": {"cube_id": "{cube_id}"}}],
    ("POST", "/v1/cubes/{cube_id}/activation"): [
        {"path": {"cube_id": "{own_cube}"}, "body": {"memory_ids": ["{memory_id}"]}},
    ],
    ("GET", "/v1/admin/quarantine"): [
        {"params": {"tenant_id": "{tenant_id}"}},
        {"params": {"cube_id": "{cube_id}"}},
    ],
    ("GET", "/v1/admin/keys"): [{"params": {"tenant_id": "{tenant_id}"}}],
    ("GET", "/v1/admin/audit"): [{"params": {"tenant_id": "{tenant_id}"}}],
    ("POST", "/v1/admin/keys"): [{"body": {"tenant_id": "{tenant_id}", "scopes": ["read"]}}],
}
# Field names that name an owned thing, wherever they appear.
OWNED_FIELDS = {"cube_id", "cube_ids", "memory_id", "memory_ids", "job_id", "tenant_id"}


# --- the route table ------------------------------------------------------------------------
def _api_routes(routes: Any) -> Iterator[APIRoute]:
    """Every APIRoute, descending into included routers (FastAPI >= 0.16x wraps them in
    `_IncludedRouter` entries of `app.routes`). Routes left out of the OpenAPI document (the
    admin web pages, /metrics) are not API operations: they have tests of their own."""
    for route in routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield route
        sub = getattr(route, "original_router", None)
        if sub is not None:
            yield from _api_routes(sub.routes)


def _operations(app: Any) -> list[tuple[str, str, APIRoute]]:
    out = [(m, r.path, r) for r in _api_routes(app.routes) for m in sorted(r.methods)]
    public = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert {(m, p) for m, p, _ in out} == public, "the walk must see the whole public API"
    return out


def _path_params(path: str) -> set[str]:
    return {m.split(":")[0] for m in re.findall(r"\{([^}]+)\}", path)}


def _named_outside_path(app: Any, method: str, path: str) -> set[str]:
    """Owned-id fields of the route's query parameters and body (top level)."""
    spec = app.openapi()
    op = spec["paths"][path][method.lower()]
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    for option in [schema, *schema.get("anyOf", [])]:
        ref = option.get("$ref")
        if ref:
            names |= set(spec["components"]["schemas"][ref.split("/")[-1]].get("properties", {}))
    return names & OWNED_FIELDS


def _subst(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{([a-z_]+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, list):
        return [_subst(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, ids) for k, v in value.items()}
    return value


def _state(db_url: str) -> dict[str, str]:
    """A fingerprint of every row of every table (one md5 per table)."""
    out: dict[str, str] = {}
    with psycopg.connect(libpq_url(db_url)) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            if table not in UNWATCHED:
                row = conn.execute(
                    sql.SQL(
                        "SELECT count(*)::text || ':' || md5(coalesce("
                        "string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
                    ).format(sql.Identifier(table))
                ).fetchone()
                assert row is not None
                out[table] = row[0]
    return out


# --- the two tenants ------------------------------------------------------------------------
@pytest.fixture
async def victim(app, admin, tenant_client, db_url) -> dict[str, Any]:
    b = await tenant_client(("read", "write", "admin", "secrets"))
    live = (await b.post("/v1/cubes", json={"name": "b-live"})).json()
    gone = (await b.post("/v1/cubes", json={"name": "b-gone"})).json()
    base = f"/v1/cubes/{live['id']}"
    r = await b.post(
        f"{base}/memories",
        json={
            "items": [
                {"content": "B's secret plans for the launch", "session_id": "s"},
                {"content": "B's second secret about the budget", "session_id": "s"},
                {
                    "content": "B's door code",
                    "memory_type": "knowledge_vault",
                    "fields": {"secret_value": "4711", "caption": "door"},
                },
            ]
        },
    )
    assert r.status_code == 201, r.text
    items = r.json()["items"]
    job_id = r.json()["job_id"]
    assert (await b.delete(f"{base}/memories/{items[1]['id']}")).status_code == 204
    for method, url, body in (
        ("PUT", f"{base}/core/human", {"value": "B is a nurse."}),
        ("POST", f"{base}/thoughts", {"question": "B's pet?", "answer": "A cat."}),
        ("POST", f"{base}/messages", {"messages": [{"role": "user", "content": "I'm in Leeds."}]}),
        ("POST", f"{base}/activation", {}),
        ("POST", f"/v1/cubes/{gone['id']}/memories", {"items": [{"content": "B's old plan"}]}),
    ):
        r = await b.request(method, url, json=body)
        assert r.status_code in (200, 201, 202), (url, r.text)
    gone_memory = r.json()["items"][0]["id"]
    assert (await b.delete(f"/v1/cubes/{gone['id']}")).status_code == 204
    await work_until_idle(db_url, app.state.runtime)  # notes, links, graph; the jobs done
    ids = {
        "cube_id": live["id"],
        "memory_id": items[0]["id"],
        "deleted_memory": items[1]["id"],
        "vault_memory": items[2]["id"],
        "gone_cube": gone["id"],
        "gone_memory": gone_memory,
        "job_id": job_id,
        "tenant_id": b.tenant_id,
        "key_id": b.key_id,
        "label": "human",
    }
    return {"client": b, "ids": ids, "live": live}


# --- the test -------------------------------------------------------------------------------
def _variants(method: str, path: str, ids: dict[str, str], own: dict[str, str]) -> list[dict]:
    """Every way to name B's things in this route's path (each with its query)."""
    params = _path_params(path)
    variants = [{"path": {}}]
    if "memory_id" in params:
        variants += [
            {"path": {"memory_id": ids["deleted_memory"]}},
            {"path": {"memory_id": ids["vault_memory"]}},
            {"path": {"cube_id": ids["gone_cube"], "memory_id": ids["gone_memory"]}},
        ]
        if "cube_id" in params:
            variants.append({"path": {"cube_id": own["own_cube"]}})
    elif "cube_id" in params:
        variants.append({"path": {"cube_id": ids["gone_cube"]}})
    queries: list[dict[str, str]] = [{}]
    if method == "DELETE":
        queries.append({"hard": "true"})
    if method == "GET" and path.endswith("{memory_id}"):
        queries.append({"reveal": "true"})
    return [{**v, "params": q} for v in variants for q in queries]


def _swapped(request: Any, swap: dict[str, str]) -> Any:
    """The same request with every one of B's ids replaced by an id that exists nowhere."""
    text = json.dumps(request)
    for old, new in swap.items():
        text = text.replace(old, new)
    return json.loads(text)


def _masked(text: str, ids: list[str]) -> str:
    for i in ids:
        text = text.replace(i, "<id>")
    return text


async def test_every_route_naming_another_tenants_things_is_404(
    app, admin, tenant_client, victim, db_url
):
    a = await tenant_client(("read", "write", "admin", "secrets"))
    own_cube = (await a.post("/v1/cubes", json={"name": "a-cube"})).json()
    own = {"own_cube": own_cube["id"]}
    ids = victim["ids"]
    swap = {v: str(uuid.uuid4()) for k, v in ids.items() if k != "label"}
    masks = [*swap, *swap.values()]
    before = _state(db_url)
    for table in ("graph_nodes", "graph_mentions", "memory_versions", "activations"):
        assert not before[table].startswith("0:"), f"B's {table} are missing"

    checked: list[tuple[str, str]] = []
    for method, path, route in _operations(app):
        params = _path_params(path)
        assert params <= KNOWN_PATH_PARAMS, f"{method} {path}: say what {params} names"
        outside = _named_outside_path(app, method, path)
        if outside:
            assert (method, path) in REFERENCES, (
                f"{method} {path} names {outside} outside its path: add it to REFERENCES"
            )
        # an admin route's tenant and key ids are another tenant's things too
        owned = params & (OWNED | {"tenant_id", "key_id"})
        if not (owned or outside):
            continue  # names nothing of anyone's (the cube list is checked below)
        body_template = None
        if route.body_field is not None:
            assert (method, path) in BODIES, f"add a minimal body for {method} {path}"
            body_template = BODIES[(method, path)]
            body_type = route.dependant.body_params[0].field_info.annotation
            TypeAdapter(body_type).validate_python(_subst(body_template, {**ids, **own}))
        calls = [
            {"path": v["path"], "params": v["params"], "body": body_template}
            for v in _variants(method, path, ids, own)
        ]
        if not owned:
            calls = []  # only the references name B's things
        for ref in REFERENCES.get((method, path), []):
            calls.append({"path": {}, "params": {}, "body": body_template, **ref})
        for call in calls:
            names = {**ids, **_subst(call["path"], {**ids, **own})}
            url = re.sub(r"\{([^}]+)\}", lambda m, n=names: n[m.group(1)], path)
            query = _subst(call["params"], {**ids, **own})
            body = _subst(call["body"], {**ids, **own})
            r = await a.request(method, url, params=query, json=body)
            where = (method, url, query, body)
            allowed = (403, 404) if path.startswith("/v1/admin/") else (404,)
            assert r.status_code in allowed, (where, r.status_code, r.text[:300])
            assert set(r.json()["error"]) == {"code", "message", "details"}, where
            for secret in ("B's", "b-live", "b-gone", "4711", "nurse"):
                assert secret not in r.text, (where, r.text)
            # ...exactly what it gets when B's ids are replaced by ids that exist nowhere
            twin_url, twin_query, twin_body = _swapped((url, query, body), swap)
            twin = await a.request(method, twin_url, params=twin_query, json=twin_body)
            assert twin.status_code == r.status_code, (where, twin.status_code, twin.text)
            assert _masked(twin.text, masks) == _masked(r.text, masks), (where, twin.text, r.text)
            checked.append((method, path))
    routes_checked = set(checked)
    for expected in (
        ("GET", "/v1/cubes/{cube_id}"),
        ("DELETE", "/v1/cubes/{cube_id}"),
        ("POST", "/v1/cubes/{cube_id}/restore"),
        ("PATCH", "/v1/cubes/{cube_id}/memories/{memory_id}"),
        ("GET", "/v1/cubes/{cube_id}/memories/{memory_id}/history"),
        ("POST", "/v1/cubes/{cube_id}/search"),
        ("POST", "/v1/search"),
        ("GET", "/v1/jobs/{job_id}"),
        ("GET", "/v1/usage"),
        ("POST", "/v1/cubes/{cube_id}/generate"),
    ):
        assert expected in routes_checked, expected
    assert len(routes_checked) >= 35 and len(checked) >= 100, (len(routes_checked), len(checked))
    assert set(BODIES) <= routes_checked, set(BODIES) - routes_checked  # no stale entries
    assert set(REFERENCES) <= routes_checked, set(REFERENCES) - routes_checked

    # A's cube list shows A's cube only
    r = await a.get("/v1/cubes", params={"limit": 1000})
    assert r.status_code == 200
    assert {c["id"] for c in r.json()["items"]} == {own_cube["id"]}

    # nothing changed anywhere: no write, no recall, no version, no job
    after = _state(db_url)
    assert after == before, [t for t in after if before.get(t) != after.get(t)]
    b = victim["client"]
    r = await b.get(f"/v1/cubes/{ids['cube_id']}")
    assert r.status_code == 200 and r.json()["name"] == "b-live"
    r = await b.get(f"/v1/cubes/{ids['cube_id']}/memories/{ids['memory_id']}")
    assert r.json()["content"] == "B's secret plans for the launch"
    assert r.json()["recall_count"] == 0 and r.json()["version"] >= 1
    # and B itself can still restore what it soft-deleted
    r = await b.post(f"/v1/cubes/{ids['gone_cube']}/restore")
    assert r.status_code == 200, r.text
    r = await b.post(f"/v1/cubes/{ids['cube_id']}/memories/{ids['deleted_memory']}/restore")
    assert r.status_code == 200, r.text
    assert json.loads(r.text)["status"] == "active"
