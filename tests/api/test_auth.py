"""Authentication and authorisation: 401 for missing/invalid/revoked keys, 403 for scopes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
from fastapi.routing import APIRoute

from memsvc.store.db import libpq_url


def _err(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    return body["error"]


def _client(app: Any, headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://memsvc.test", headers=headers
    )


async def test_missing_and_garbage_keys_are_401(app, client, cube):
    cid = cube["id"]
    good_key = client.headers["Authorization"].removeprefix("Bearer ")
    prefix, lookup, secret = good_key.split("_", 2)
    bad_headers = [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer msk_abc_def"},
        {"Authorization": f"Bearer {prefix}_{lookup}_{secret}x"},  # right lookup, wrong secret
        {"Authorization": f"Bearer {prefix}_{lookup}_"},
        {"Authorization": f"Bearer {prefix}_{lookup[::-1]}_{secret}"},
        {"Authorization": "Bearer " + good_key.upper()},
        {"Authorization": "Bearer test-admin-key-0123456789x"},
    ]
    for headers in bad_headers:
        async with _client(app, headers) as c:
            for method, url, body in (
                ("GET", "/v1/cubes", None),
                ("GET", f"/v1/cubes/{cid}", None),
                ("POST", f"/v1/cubes/{cid}/memories", {"items": [{"content": "x"}]}),
                ("POST", f"/v1/cubes/{cid}/search", {"query": "x"}),
                ("GET", "/v1/admin/tenants", None),
            ):
                r = await c.request(method, url, json=body)
                _err(r, 401)
                assert r.headers.get("www-authenticate", "").startswith("Bearer"), headers
    r = await client.get(f"/v1/cubes/{cid}/memories")
    assert r.status_code == 200 and r.json()["items"] == []  # nothing was written


async def test_revoked_key_is_401_at_once(admin, tenant_client):
    c = await tenant_client()
    assert (await c.get("/v1/cubes")).status_code == 200
    r = await admin.delete(f"/v1/admin/keys/{c.key_id}")
    assert r.status_code == 204
    _err(await c.get("/v1/cubes"), 401)
    _err(await c.post("/v1/cubes", json={"name": "after-revoke"}), 401)
    # revoking twice is harmless; an unknown key is 404
    assert (await admin.delete(f"/v1/admin/keys/{c.key_id}")).status_code == 204
    _err(await admin.delete(f"/v1/admin/keys/{uuid.uuid4()}"), 404)
    keys = (await admin.get("/v1/admin/keys", params={"tenant_id": c.tenant_id})).json()
    assert [k["revoked_at"] is not None for k in keys["items"]] == [True]


async def test_read_only_key_gets_403_on_writes(app, admin, tenant_client):
    writer = await tenant_client()
    r = await admin.post("/v1/admin/keys", json={"tenant_id": writer.tenant_id, "scopes": ["read"]})
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["read"]
    cube = (await writer.post("/v1/cubes", json={"name": "c"})).json()
    cid = cube["id"]
    mem = (
        await writer.post(f"/v1/cubes/{cid}/memories", json={"items": [{"content": "a fact"}]})
    ).json()["items"][0]
    mid = mem["id"]
    async with _client(app, {"Authorization": f"Bearer {r.json()['key']}"}) as reader:
        # reads work
        assert (await reader.get("/v1/cubes")).status_code == 200
        assert (await reader.get(f"/v1/cubes/{cid}")).status_code == 200
        assert (await reader.get(f"/v1/cubes/{cid}/memories/{mid}")).status_code == 200
        assert (await reader.get(f"/v1/cubes/{cid}/memories/{mid}/history")).status_code == 200
        # writes do not
        for method, url, body in (
            ("POST", "/v1/cubes", {"name": "new"}),
            ("PATCH", f"/v1/cubes/{cid}", {"name": "renamed"}),
            ("DELETE", f"/v1/cubes/{cid}", None),
            ("DELETE", f"/v1/cubes/{cid}?hard=true", None),
            ("POST", f"/v1/cubes/{cid}/restore", None),
            ("POST", f"/v1/cubes/{cid}/memories", {"items": [{"content": "more"}]}),
            ("PATCH", f"/v1/cubes/{cid}/memories/{mid}", {"content": "changed"}),
            ("DELETE", f"/v1/cubes/{cid}/memories/{mid}", None),
            ("DELETE", f"/v1/cubes/{cid}/memories/{mid}?hard=true", None),
            ("POST", f"/v1/cubes/{cid}/memories/{mid}/restore", None),
            ("POST", f"/v1/cubes/{cid}/consolidate", {}),
            ("POST", f"/v1/cubes/{cid}/thoughts", {"question": "Who?", "answer": "Ann."}),
            ("PUT", f"/v1/cubes/{cid}/core/human", {"value": "likes tea"}),
            ("POST", f"/v1/cubes/{cid}/core/persona/append", {"content": "is kind"}),
        ):
            err = _err(await reader.request(method, url, json=body), 403)
            assert err["code"] == "missing_scope", (method, url)
    after = (await writer.get(f"/v1/cubes/{cid}/memories/{mid}")).json()
    assert after["content"] == "a fact" and after["version"] == 1
    assert after["status"] == mem["status"] == "pending"  # stored; enrichment not run yet
    assert (await writer.get(f"/v1/cubes/{cid}")).json()["name"] == "c"
    assert len((await writer.get("/v1/cubes")).json()["items"]) == 1
    assert len((await writer.get(f"/v1/cubes/{cid}/memories")).json()["items"]) == 1


def _admin_routes(app: Any) -> list[tuple[str, str]]:
    def walk(routes: Any) -> Any:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            sub = getattr(route, "original_router", None)
            if sub is not None:
                yield from walk(sub.routes)

    return [
        (method, route.path)
        for route in walk(app.routes)
        if route.path.startswith("/v1/admin")
        for method in sorted(route.methods)
    ]


async def test_tenant_key_gets_403_on_admin_routes(app, client):
    routes = _admin_routes(app)
    assert len(routes) >= 5
    bodies = {
        ("POST", "/v1/admin/tenants"): {"name": "sneaky"},
        ("POST", "/v1/admin/keys"): {"tenant_id": client.tenant_id, "scopes": ["read"]},
    }
    for method, path in routes:
        url = (
            path.replace("{tenant_id}", client.tenant_id)
            .replace("{key_id}", client.key_id)
            .replace("{memory_id}", str(uuid.uuid4()))
        )
        err = _err(await client.request(method, url, json=bodies.get((method, path))), 403)
        assert err["code"] == "admin_required", (method, path)
    # the key was not revoked, no tenant was created
    assert (await client.get("/v1/cubes")).status_code == 200


async def test_admin_key_on_tenant_routes_is_a_clear_403(admin, client, cube):
    cid = cube["id"]
    for method, url, body in (
        ("POST", "/v1/cubes", {"name": "by-admin"}),
        ("GET", "/v1/cubes", None),
        ("GET", f"/v1/cubes/{cid}", None),
        ("POST", f"/v1/cubes/{cid}/memories", {"items": [{"content": "x"}]}),
        ("GET", f"/v1/cubes/{cid}/memories", None),
        ("POST", f"/v1/cubes/{cid}/search", {"query": "x"}),
        ("POST", "/v1/search", {"query": "x", "cube_ids": [cid]}),
    ):
        err = _err(await admin.request(method, url, json=body), 403)
        assert err["code"] == "tenant_key_required", (method, url)
        assert "tenant key" in err["message"]
    assert [c["id"] for c in (await client.get("/v1/cubes")).json()["items"]] == [cid]


async def test_keys_are_stored_hashed(admin, tenant_client, db_url):
    c = await tenant_client()
    key = c.headers["Authorization"].removeprefix("Bearer ")
    secret = key.split("_", 2)[2]
    assert len(secret) >= 32
    with psycopg.connect(libpq_url(db_url)) as conn:
        rows = conn.execute(
            "SELECT row_to_json(k)::text, salt, hash FROM api_keys k WHERE id = %s",
            (c.key_id,),
        ).fetchall()
        everything = conn.execute(
            "SELECT string_agg(row_to_json(k)::text, '') FROM api_keys k"
        ).fetchone()[0]
    assert len(rows) == 1
    as_text, salt, digest = rows[0]
    assert len(salt) >= 16 and len(digest) == 32
    for haystack in (as_text, everything):
        assert key not in haystack
        assert secret not in haystack
    assert secret.encode() not in bytes(digest) and secret.encode() not in bytes(salt)
    # the admin listing never shows secrets either
    listing = await admin.get("/v1/admin/keys")
    assert listing.status_code == 200
    assert secret not in listing.text and "hash" not in listing.json()["items"][0]
    # and the key still works (so the check above is about a live key)
    assert (await c.get("/v1/cubes")).status_code == 200
