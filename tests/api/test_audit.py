"""The audit log: one row per mutating request that reached a route (refused ones too), none
for reads, never a body; readable page by page by the admin key only."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from memsvc.services import audit
from memsvc.store.db import libpq_url
from tests.conftest import _client

CONTENT = "Quentin keeps the spare key under the blue flowerpot"


def _rows(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_url(db_url), row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall()


def _only_new(db_url: str, seen: int) -> list[dict[str, Any]]:
    return _rows(db_url)[seen:]


async def test_writes_are_recorded_with_who_what_and_outcome(client, cube, db_url):
    cid = cube["id"]
    seen = len(_rows(db_url))  # the fixtures' own writes (tenant, key, cube) are there already
    assert seen >= 3

    r = await client.post(
        f"/v1/cubes/{cid}/memories",
        json={"items": [{"content": CONTENT}]},
        headers={"X-Request-ID": "req-add-1"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "req-add-1"
    mid = r.json()["items"][0]["id"]
    [row] = _only_new(db_url, seen)
    assert row["actor"] == f"key:{client.key_id}"
    assert str(row["tenant_id"]) == client.tenant_id and str(row["key_id"]) == client.key_id
    assert row["method"] == "POST"
    assert row["route"] == "/v1/cubes/{cube_id}/memories"
    assert row["params"] == {"cube_id": cid}
    assert row["status"] == 201
    assert row["request_id"] == "req-add-1"
    assert isinstance(row["at"], datetime) and row["at"].tzinfo is not None
    seen += 1

    r = await client.patch(f"/v1/cubes/{cid}/memories/{mid}", json={"content": CONTENT + "!"})
    assert r.status_code == 200, r.text
    [row] = _only_new(db_url, seen)
    assert (row["method"], row["route"], row["status"]) == (
        "PATCH",
        "/v1/cubes/{cube_id}/memories/{memory_id}",
        200,
    )
    assert row["params"] == {"cube_id": cid, "memory_id": mid}
    # a request id was made up, and told to the caller
    assert row["request_id"] == r.headers["x-request-id"] and len(row["request_id"]) >= 16
    seen += 1

    r = await client.delete(f"/v1/cubes/{cid}/memories/{mid}", params={"hard": "true"})
    assert r.status_code == 204
    [row] = _only_new(db_url, seen)
    assert (row["method"], row["status"]) == ("DELETE", 204)
    assert row["params"] == {"cube_id": cid, "memory_id": mid, "hard": "true"}
    seen += 1

    # reads leave no trace: GETs, and the POSTs that only read
    for method, url, body in (
        ("GET", "/v1/cubes", None),
        ("GET", f"/v1/cubes/{cid}", None),
        ("GET", f"/v1/cubes/{cid}/memories", None),
        ("GET", f"/v1/cubes/{cid}/memories/{mid}", None),
        ("POST", f"/v1/cubes/{cid}/search", {"query": "flowerpot"}),
        ("POST", "/v1/search", {"query": "flowerpot", "cube_ids": [cid]}),
        ("POST", f"/v1/cubes/{cid}/context", {"query": "flowerpot"}),
    ):
        r = await client.request(method, url, json=body)
        assert r.status_code < 500, r.text
    assert _only_new(db_url, seen) == []

    # the trail never holds a body: the content is nowhere in it
    with psycopg.connect(libpq_url(db_url)) as conn:
        everything = conn.execute("SELECT string_agg(a::text, '') FROM audit_log a").fetchone()[0]
    assert "Quentin" not in everything and "flowerpot" not in everything


async def test_refused_writes_are_recorded_with_their_status(
    app, admin, client, cube, tenant_client, db_url
):
    cid = cube["id"]
    reader = await tenant_client(scopes=("read",))
    seen = len(_rows(db_url))
    r = await client.post(f"/v1/cubes/{cid}/memories", json={"items": []})  # schema: 422
    assert r.status_code == 422
    r = await client.patch(f"/v1/cubes/{cid}/memories/{uuid.uuid4()}", json={"content": "x"})
    assert r.status_code == 404
    r = await reader.post("/v1/cubes", json={"name": "not allowed"})
    assert r.status_code == 403
    r = await client.post("/v1/cubes", json={"name": cube["name"]})  # duplicate: 409
    assert r.status_code == 409
    r = await client.delete("/v1/cubes/not%00a-uuid" + "x" * 300)  # a malformed id: 422
    assert r.status_code == 422
    rows = _only_new(db_url, seen)
    assert [(x["method"], x["route"], x["status"]) for x in rows] == [
        ("POST", "/v1/cubes/{cube_id}/memories", 422),
        ("PATCH", "/v1/cubes/{cube_id}/memories/{memory_id}", 404),
        ("POST", "/v1/cubes", 403),
        ("POST", "/v1/cubes", 409),
        ("DELETE", "/v1/cubes/{cube_id}", 422),
    ]
    assert rows[2]["actor"] == f"key:{reader.key_id}"
    # stored as sent, bounded, without the NUL jsonb cannot hold
    assert rows[4]["params"]["cube_id"].startswith("not\ufffda-uuidxxx")
    assert len(rows[4]["params"]["cube_id"]) == 200
    seen += len(rows)

    # not recorded: unknown keys (logged instead), unknown routes and methods
    async with _client(app, "msk_nope_nope") as stranger:
        assert (await stranger.post("/v1/cubes", json={"name": "x"})).status_code == 401
    async with _client(app, None) as anon:
        assert (await anon.delete(f"/v1/cubes/{cid}")).status_code == 401
    assert (await client.post("/v1/no-such-route", json={})).status_code == 404
    assert (await client.put(f"/v1/cubes/{cid}", json={})).status_code == 405
    assert _only_new(db_url, seen) == []

    # the admin's changes are recorded too; its target tenant is named
    r = await admin.delete(f"/v1/admin/keys/{reader.key_id}")
    assert r.status_code == 204
    [row] = _only_new(db_url, seen)
    assert row["actor"] == "admin" and row["key_id"] is None and row["tenant_id"] is None
    assert row["route"] == "/v1/admin/keys/{key_id}"
    assert row["params"] == {"key_id": reader.key_id}


async def test_only_the_admin_reads_the_trail_newest_first_in_pages(
    app, admin, client, cube, db_url
):
    cid = cube["id"]
    for i in range(5):
        r = await client.post(f"/v1/cubes/{cid}/memories", json={"items": [{"content": f"m{i}"}]})
        assert r.status_code == 201
    all_rows = _rows(db_url)
    ids_newest_first = [r["id"] for r in reversed(all_rows)]

    # tenants never see it, whatever their scopes
    r = await client.get("/v1/admin/audit")
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"
    r = await admin.post(
        "/v1/admin/keys",
        json={"tenant_id": client.tenant_id, "scopes": ["read", "write", "admin", "secrets"]},
    )
    async with _client(app, r.json()["key"]) as strong:
        r = await strong.get("/v1/admin/audit")
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"
        assert "m0" not in r.text

    # pages of 2, newest first, each entry once
    got: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await admin.get("/v1/admin/audit", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        got += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # the reads of the trail are not in it; the key made above is (it came after all_rows)
    assert got[1:] == ids_newest_first
    first = (await admin.get("/v1/admin/audit", params={"limit": 1})).json()["items"][0]
    assert first["route"] == "/v1/admin/keys" and first["actor"] == "admin"
    assert set(first) == {
        "id",
        "at",
        "actor",
        "tenant_id",
        "key_id",
        "method",
        "route",
        "params",
        "status",
        "request_id",
    }

    # one tenant's entries
    r = await admin.get("/v1/admin/audit", params={"tenant_id": client.tenant_id, "limit": 1000})
    items = r.json()["items"]
    assert {e["tenant_id"] for e in items} == {client.tenant_id}
    assert [e["route"] for e in items].count("/v1/cubes/{cube_id}/memories") == 5
    assert {e["actor"] for e in items} == {f"key:{client.key_id}"}
    r = await admin.get("/v1/admin/audit", params={"tenant_id": str(uuid.uuid4())})
    assert r.json() == {"items": [], "next_cursor": None}

    # a time window: since inclusive, until exclusive
    newest = datetime.fromisoformat(first["at"])
    r = await admin.get("/v1/admin/audit", params={"since": newest.isoformat(), "limit": 1000})
    assert [e["id"] for e in r.json()["items"]] == [first["id"]]
    r = await admin.get("/v1/admin/audit", params={"until": newest.isoformat(), "limit": 1000})
    assert first["id"] not in [e["id"] for e in r.json()["items"]]
    later = (newest + timedelta(days=1)).isoformat()
    assert (await admin.get("/v1/admin/audit", params={"since": later})).json()["items"] == []

    # bad input
    r = await admin.get("/v1/admin/audit", params={"cursor": "forged"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    r = await admin.get("/v1/admin/audit", params={"since": "2024-01-01T00:00:00"})
    assert r.status_code == 422  # naive datetimes are refused
    assert (await admin.get("/v1/admin/audit", params={"limit": 0})).status_code == 422


async def test_a_failed_audit_write_does_not_fail_the_request(
    client, cube, db_url, monkeypatch, caplog
):
    async def broken(rt: Any, entry: audit.Entry) -> int:
        raise RuntimeError("audit table unreachable")

    monkeypatch.setattr(audit, "record", broken)
    seen = len(_rows(db_url))
    with caplog.at_level(logging.ERROR, logger="api.audit"):
        r = await client.post(
            f"/v1/cubes/{cube['id']}/memories", json={"items": [{"content": CONTENT}]}
        )
    assert r.status_code == 201, r.text
    assert (await client.get(f"/v1/cubes/{cube['id']}/memories")).json()["items"]
    assert _only_new(db_url, seen) == []
    [record] = [rec for rec in caplog.records if "AUDIT WRITE FAILED" in rec.getMessage()]
    assert "/v1/cubes/{cube_id}/memories" in record.getMessage()
    assert CONTENT not in record.getMessage()


async def test_a_bad_request_id_is_replaced(client, cube, db_url):
    seen = len(_rows(db_url))
    for given in ("x" * 500, "has space", "new\\nline"):
        r = await client.patch(
            f"/v1/cubes/{cube['id']}", json={"description": "d"}, headers={"X-Request-ID": given}
        )
        assert r.status_code == 200
        assert r.headers["x-request-id"] != given
    rows = _only_new(db_url, seen)
    assert len(rows) == 3 and all(len(x["request_id"]) == 32 for x in rows)
