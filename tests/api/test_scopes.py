"""Every endpoint enforces the scope it needs, checked from `app.routes`.

NEEDS says, for every route of the app, which scopes a tenant key must hold (`read`: reads,
including the POSTs that only read; `write`: every change; `secrets`: revealing a vault secret;
`admin`: reviewing its tenant's quarantine) or that it is for the admin key alone. A route
missing from the table fails the test, so a new endpoint cannot ship without saying what it
needs. For each route, a key holding every scope but one it needs gets 403 `missing_scope`
(`admin_required` under /v1/admin), a tenant key holding every scope gets 403 `admin_required`
on the admin key's routes, and none of those refused requests changes the database; a key
holding exactly the scopes listed gets past the check.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import psycopg
from fastapi.routing import APIRoute
from psycopg import sql

from api.audit import READ_ONLY_POSTS
from memsvc.store.db import libpq_url
from tests.api.test_isolation_routes import _api_routes
from tests.conftest import ADMIN_KEY, _client

READ = frozenset({"read"})
WRITE = frozenset({"write"})
REVEAL = frozenset({"read", "secrets"})
REVIEW = frozenset({"admin"})  # a tenant key with the admin scope (its own tenant), or the admin
ADMIN = "admin"  # the admin key only (no tenant key, whatever its scopes)
TENANT_SCOPES = frozenset({"read", "write", "secrets", "admin"})

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}

# (method, route template) -> (what it needs, a minimal valid body or None)
NEEDS: dict[tuple[str, str], tuple[frozenset[str] | str, Any]] = {
    # admin
    ("POST", "/v1/admin/tenants"): (ADMIN, {"name": "by-a-tenant"}),
    ("GET", "/v1/admin/tenants"): (ADMIN, None),
    ("GET", "/v1/admin/tenants/{tenant_id}"): (ADMIN, None),
    ("POST", "/v1/admin/keys"): (ADMIN, {"tenant_id": "{tenant_id}", "scopes": ["read"]}),
    ("GET", "/v1/admin/keys"): (ADMIN, None),
    ("DELETE", "/v1/admin/keys/{key_id}"): (ADMIN, None),
    ("GET", "/v1/admin/audit"): (ADMIN, None),
    ("GET", "/v1/admin/quarantine"): (REVIEW, None),
    ("POST", "/v1/admin/quarantine/{memory_id}/release"): (REVIEW, {}),
    ("POST", "/v1/admin/quarantine/{memory_id}/reject"): (REVIEW, {}),
    # cubes
    ("POST", "/v1/cubes"): (WRITE, {"name": "new-cube"}),
    ("GET", "/v1/cubes"): (READ, None),
    ("GET", "/v1/cubes/{cube_id}"): (READ, None),
    ("PATCH", "/v1/cubes/{cube_id}"): (WRITE, {"name": "renamed"}),
    ("DELETE", "/v1/cubes/{cube_id}"): (WRITE, None),
    ("POST", "/v1/cubes/{cube_id}/restore"): (WRITE, None),
    ("POST", "/v1/cubes/{cube_id}/reindex"): (WRITE, None),
    ("GET", "/v1/cubes/{cube_id}/export"): (READ, None),
    ("POST", "/v1/cubes/import"): (WRITE, None),  # the body is JSONL, not JSON: no body here
    # memories
    ("POST", "/v1/cubes/{cube_id}/memories"): (WRITE, {"items": [{"content": "a new fact"}]}),
    ("GET", "/v1/cubes/{cube_id}/memories"): (READ, None),
    ("GET", "/v1/cubes/{cube_id}/memories/{memory_id}"): (READ, None),
    ("GET", "/v1/cubes/{cube_id}/memories/{memory_id}/lineage"): (READ, None),
    ("GET", "/v1/cubes/{cube_id}/memories/{memory_id}/history"): (READ, None),
    ("GET", "/v1/cubes/{cube_id}/memories/{memory_id}/links"): (READ, None),
    ("PATCH", "/v1/cubes/{cube_id}/memories/{memory_id}"): (WRITE, {"content": "changed"}),
    ("DELETE", "/v1/cubes/{cube_id}/memories/{memory_id}"): (WRITE, None),
    ("POST", "/v1/cubes/{cube_id}/memories/{memory_id}/restore"): (WRITE, None),
    ("POST", "/v1/cubes/{cube_id}/messages"): (
        WRITE,
        {"messages": [{"role": "user", "content": "I live in Lisbon."}]},
    ),
    ("GET", "/v1/cubes/{cube_id}/graph"): (READ, None),
    # search and the other reads sent as POST
    ("POST", "/v1/cubes/{cube_id}/search"): (READ, {"query": "a fact"}),
    ("POST", "/v1/search"): (READ, {"query": "a fact", "cube_ids": ["{cube_id}"]}),
    ("POST", "/v1/cubes/{cube_id}/thoughts/recall"): (READ, {"query": "a fact"}),
    ("POST", "/v1/cubes/{cube_id}/context"): (READ, {"query": "a fact"}),
    ("POST", "/v1/cubes/{cube_id}/generate"): (READ, {"prompt": "hi", "max_new_tokens": 1}),
    # jobs, usage, models
    ("GET", "/v1/jobs/{job_id}"): (READ, None),
    ("GET", "/v1/usage"): (READ, None),
    ("GET", "/v1/models"): (READ, None),
    # lifecycle
    ("POST", "/v1/cubes/{cube_id}/consolidate"): (WRITE, {}),
    ("POST", "/v1/cubes/{cube_id}/thoughts"): (WRITE, {"question": "Where?", "answer": "Rome."}),
    ("GET", "/v1/cubes/{cube_id}/core"): (READ, None),
    ("PUT", "/v1/cubes/{cube_id}/core/{label}"): (WRITE, {"value": "likes tea"}),
    ("POST", "/v1/cubes/{cube_id}/core/{label}/append"): (WRITE, {"content": "is kind"}),
    # activation
    ("POST", "/v1/cubes/{cube_id}/activation"): (WRITE, {}),
    ("GET", "/v1/cubes/{cube_id}/activation"): (READ, None),
}

# Variants of a route that need more than the route itself: (method, route, query) -> needs.
VARIANTS: dict[tuple[str, str, str], frozenset[str]] = {
    ("GET", "/v1/cubes/{cube_id}/memories/{memory_id}", "reveal=true"): REVEAL,
}


def _routes(app: Any) -> dict[tuple[str, str], APIRoute]:
    return {
        (method, route.path): route
        for route in _api_routes(app.routes)
        for method in route.methods or ()
    }


def _fill(value: Any, ids: dict[str, str]) -> Any:
    """Put the ids into a path or a body ("{cube_id}" -> the cube's id)."""
    if isinstance(value, str):
        return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _database(db_url: str) -> dict[str, list[str]]:
    """Every row of every table but audit_log (which records refusals by design), as text."""
    with psycopg.connect(libpq_url(db_url)) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            " AND tablename <> 'audit_log'"
        ).fetchall()
        return {
            f"{schema}.{table}": sorted(
                row
                for (row,) in conn.execute(
                    sql.SQL("SELECT t::text FROM {}.{} t").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                ).fetchall()
            )
            for schema, table in tables
        }


def _all_checks() -> list[tuple[str, str, str, frozenset[str] | str, Any]]:
    """(method, route, query, needs, body) for every route and variant."""
    checks = [(m, p, "", needs, body) for (m, p), (needs, body) in NEEDS.items()]
    for (m, p, query), needs in VARIANTS.items():
        checks.append((m, p, query, needs, NEEDS[(m, p)][1]))
    return checks


def test_every_route_has_an_entry(app):
    routes = _routes(app)
    missing = sorted(set(routes) - set(NEEDS) - PUBLIC)
    assert not missing, f"add these routes to NEEDS with the scope they need: {missing}"
    stale = sorted(set(NEEDS) - set(routes))
    assert not stale, f"routes no longer in the app: {stale}"
    for key, route in routes.items():
        if key in NEEDS and route.body_field is not None:
            assert NEEDS[key][1] is not None, f"give {key} a minimal valid body"
        if key[1].startswith("/v1/admin"):
            assert NEEDS[key][0] in (ADMIN, REVIEW), key
    # the POSTs the table calls reads are the ones the audit log leaves out, and vice versa
    read_posts = {p for (m, p), (needs, _) in NEEDS.items() if m == "POST" and needs == READ}
    assert read_posts == READ_ONLY_POSTS


async def _key(admin: httpx.AsyncClient, tenant_id: str, scopes: frozenset[str]) -> str:
    r = await admin.post("/v1/admin/keys", json={"tenant_id": tenant_id, "scopes": sorted(scopes)})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def test_a_key_without_the_scope_is_refused_and_nothing_is_written(
    app, admin, tenant_client, db_url
):
    owner = await tenant_client(scopes=tuple(TENANT_SCOPES))
    cube = (await owner.post("/v1/cubes", json={"name": "guarded"})).json()
    added = await owner.post(
        f"/v1/cubes/{cube['id']}/memories", json={"items": [{"content": "a guarded fact"}]}
    )
    assert added.status_code == 201, added.text
    spare = (
        await admin.post("/v1/admin/keys", json={"tenant_id": owner.tenant_id, "scopes": ["read"]})
    ).json()
    ids = {
        "cube_id": cube["id"],
        "memory_id": added.json()["items"][0]["id"],
        "job_id": added.json()["job_id"],
        "label": "human",
        "tenant_id": owner.tenant_id,
        "key_id": spare["id"],
    }
    lacking = {
        scope: _client(app, await _key(admin, owner.tenant_id, TENANT_SCOPES - {scope}))
        for scope in sorted(TENANT_SCOPES)
    }
    everything = _client(app, await _key(admin, owner.tenant_id, TENANT_SCOPES))
    before = _database(db_url)

    refused = 0
    try:
        for method, path, query, needs, body in _all_checks():
            url = _fill(path, ids) + (f"?{query}" if query else "")
            payload = _fill(body, ids)
            if needs == ADMIN:
                callers = [("admin_required", everything)]
            else:
                callers = [("missing_scope", lacking[s]) for s in sorted(needs)]
            for code, caller in callers:
                r = await caller.request(method, url, json=payload)
                assert r.status_code == 403, (method, url, code, r.status_code, r.text)
                allowed = {code, "admin_required"} if path.startswith("/v1/admin") else {code}
                assert r.json()["error"]["code"] in allowed, (method, url, r.text)
                refused += 1
    finally:
        for c in [*lacking.values(), everything]:
            await c.aclose()
    assert refused >= len(NEEDS)
    assert _database(db_url) == before, "a refused request changed the database"


async def test_the_listed_scopes_are_enough(app, admin, tenant_client):
    owner = await tenant_client(scopes=tuple(TENANT_SCOPES))
    cube = (await owner.post("/v1/cubes", json={"name": "open"})).json()
    added = (
        await owner.post(f"/v1/cubes/{cube['id']}/memories", json={"items": [{"content": "x"}]})
    ).json()
    spare = (
        await admin.post("/v1/admin/keys", json={"tenant_id": owner.tenant_id, "scopes": ["read"]})
    ).json()
    # Unknown cube and memory ids: a 404 shows the request got past the scope check to the
    # lookup, without doing the route's work (generation, purges) on real data.
    ids = {
        "cube_id": str(uuid.uuid4()),
        "memory_id": str(uuid.uuid4()),
        "job_id": added["job_id"],
        "label": "human",
        "tenant_id": owner.tenant_id,
        "key_id": spare["id"],
    }
    clients: dict[frozenset[str], httpx.AsyncClient] = {}
    try:
        for method, path, query, needs, body in _all_checks():
            if needs == ADMIN:
                caller = _client(app, ADMIN_KEY)
            else:
                assert isinstance(needs, frozenset)
                if needs not in clients:
                    clients[needs] = _client(app, await _key(admin, owner.tenant_id, needs))
                caller = clients[needs]
            url = _fill(path, ids) + (f"?{query}" if query else "")
            r = await caller.request(method, url, json=_fill(body, ids))
            assert r.status_code not in (401, 403, 422), (method, url, r.status_code, r.text)
            assert r.status_code < 500, (method, url, r.status_code, r.text)
            if needs == ADMIN:
                await caller.aclose()
    finally:
        for c in clients.values():
            await c.aclose()
