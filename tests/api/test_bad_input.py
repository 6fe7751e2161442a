"""Bad input: the contract's error shape, the right status, nothing written, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from memsvc.config import Settings
from memsvc.store.db import libpq_url
from tests.conftest import started_app


@pytest.fixture
def seen(client: httpx.AsyncClient) -> list[httpx.Response]:
    """Every response this test's client receives; none may be a 500."""
    responses: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        responses.append(response)

    client.event_hooks["response"].append(record)
    yield responses
    assert responses, "the hook saw no response"
    assert all(r.status_code < 500 for r in responses), [
        (r.request.method, str(r.request.url), r.status_code) for r in responses
    ]


def _counts(db_url: str) -> tuple[int, int, int]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_versions),"
            " (SELECT count(*) FROM cubes)"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def _err(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


async def _one(client: httpx.AsyncClient, cid: str, content: str = "a stored fact") -> str:
    r = await client.post(f"/v1/cubes/{cid}/memories", json={"items": [{"content": content}]})
    assert r.status_code == 201, r.text
    return r.json()["items"][0]["id"]


async def test_bad_memory_items_write_nothing(client, cube, db_url, seen):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/memories"
    before = _counts(db_url)
    cases: list[tuple[Any, int, str | None]] = [
        ({"items": [{"content": "x", "memory_type": "dream"}]}, 422, "invalid_request"),
        ({"items": [{"content": "x" * 64_001}]}, 413, "content_too_large"),
        ({"items": [{"content": "x"}] * 1001}, 413, "batch_too_large"),
        ({"items": []}, 422, "empty_batch"),
        ({"items": [{"content": "   "}]}, 422, "empty_content"),
        ({"items": [{"content": ""}]}, 422, "empty_content"),
        ({"items": [{"content": "nul \x00 inside"}]}, 422, "invalid_request"),
        ({"items": [{"content": "ok", "tags": ["a\x00b"]}]}, 422, "invalid_request"),
        ({"items": [{"content": "ok", "metadata": {"k\x00": 1}}]}, 422, "invalid_request"),
        (
            {"items": [{"content": "ok", "occurred_at": "2024-05-01T10:00:00"}]},
            422,
            "invalid_request",
        ),
        ({"items": [{"content": "ok", "colour": "blue"}]}, 422, "invalid_request"),
        ({"items": [{"content": "ok"}], "unexpected": True}, 422, "invalid_request"),
        (
            {"items": [{"content": "ok", "memory_type": "core", "fields": {"label": "robot"}}]},
            422,
            "invalid_fields",
        ),
        (
            {"items": [{"content": "ok", "memory_type": "episodic", "fields": {"nope": 1}}]},
            422,
            "invalid_fields",
        ),
        (
            {
                "items": [
                    {
                        "content": "my bank pin is 1234",
                        "memory_type": "knowledge_vault",
                        "fields": {"secret_value": "1234", "caption": "pin"},
                    }
                ]
            },
            422,
            "secret_in_content",
        ),
        ({"items": [{"content": "ok", "metadata": "not an object"}]}, 422, "invalid_request"),
        ({"items": [{"content": "   "}], "infer": True}, 422, "empty_content"),
        ({"items": "not a list"}, 422, "invalid_request"),
        ([{"content": "a bare list"}], 422, "invalid_request"),
        ({}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        r = await client.post(url, json=body)
        err = _err(r, status, code)
        if code == "invalid_fields":
            assert err["details"], err
    assert _counts(db_url) == before
    # the content limit is exact: 64000 characters are accepted
    r = await client.post(url, json={"items": [{"content": "y" * 64_000}]})
    assert r.status_code == 201, r.text[:300]


async def test_batches_are_all_or_nothing(client, cube, db_url, seen):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/memories"
    before = _counts(db_url)
    for bad in (
        {"content": "   "},
        {"content": "z" * 64_001},
        {"content": "x", "fields": {"unknown_field": 1}},
        {"content": "pin 1", "memory_type": "knowledge_vault", "fields": {"secret_value": "1"}},
        {"content": "x\x00"},
    ):
        items: list[dict[str, Any]] = [{"content": f"item {i}"} for i in range(1000)]
        items[500] = bad
        r = await client.post(url, json={"items": items})
        err = _err(r, 413 if len(bad["content"]) > 64_000 else 422)
        if r.status_code == 422 and err["code"] != "invalid_request":
            assert "items[500]" in err["message"], err
        else:
            assert "500" in json.dumps(err), err
    assert _counts(db_url) == before
    r = await client.get(url)
    assert r.json()["items"] == []


async def test_bad_paths_and_bodies(client, cube, db_url, seen):
    cid = cube["id"]
    mid = await _one(client, cid)
    before = _counts(db_url)
    _err(await client.get("/v1/cubes/not-a-uuid"), 422, "invalid_request")
    _err(await client.get(f"/v1/cubes/{cid}/memories/1234"), 422, "invalid_request")
    _err(await client.patch(f"/v1/cubes/{cid}/memories/xyz", json={"content": "a"}), 422)
    _err(await client.delete(f"/v1/cubes/{cid[:-1]}"), 422)
    _err(await client.get(f"/v1/cubes/{cid}/memories", params={"memory_type": "dream"}), 422)
    _err(await client.get(f"/v1/cubes/{cid}/memories", params={"limit": 0}), 422)
    _err(await client.get(f"/v1/cubes/{cid}/memories", params={"limit": 10**6}), 422)
    _err(await client.get(f"/v1/cubes/{cid}/memories", params={"limit": "ten"}), 422)

    url = f"/v1/cubes/{cid}/memories"
    headers = {"Content-Type": "application/json"}
    # malformed JSON
    for raw in (
        b'{"items": [',
        b"{'items': []}",
        b"",
        b"nul\x00",
        b'{"items": [{"content": "a"}]}}',
    ):
        r = await client.post(url, content=raw, headers=headers)
        assert r.status_code in (400, 422), (raw, r.status_code, r.text)
        _err(r, r.status_code)
    _err(await client.post(url, content=b'{"items": [', headers=headers), 400, "invalid_json")
    # invalid UTF-8
    bad_utf8 = b'{"items": [{"content": "caf\xc3\x28 \xff\xfe"}]}'
    _err(await client.post(url, content=bad_utf8, headers=headers), 400)
    # deeply nested metadata, nested deeper than any parser or validator likes
    deep = '{"a":' * 10_000 + "1" + "}" * 10_000
    body = '{"items": [{"content": "deep", "metadata": ' + deep + "}]}"
    r = await client.post(url, content=body.encode(), headers=headers)
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    _err(r, r.status_code)
    deep_list = "[" * 10_000 + "]" * 10_000
    body = '{"items": [{"content": "deep", "metadata": {"k": ' + deep_list + "}}]}"
    r = await client.post(url, content=body.encode(), headers=headers)
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])
    # moderately deep (past the 16-level limit, well within the parser's)
    nested: Any = 1
    for _ in range(40):
        nested = {"n": nested}
    r = await client.post(url, json={"items": [{"content": "d", "metadata": nested}]})
    _err(r, 422, "invalid_request")
    # PATCH: unknown fields, naive datetime, bad type fields, NUL, empty content
    purl = f"/v1/cubes/{cid}/memories/{mid}"
    _err(await client.patch(purl, json={"colour": "red"}), 422, "invalid_request")
    _err(await client.patch(purl, json={"occurred_at": "2024-01-01T00:00:00"}), 422)
    _err(await client.patch(purl, json={"fields": {"bogus": 1}}), 422, "invalid_fields")
    _err(await client.patch(purl, json={"content": "a\x00b"}), 422)
    _err(await client.patch(purl, json={"content": "  "}), 422, "empty_content")
    _err(await client.patch(purl, json={"content": "q" * 64_001}), 413, "content_too_large")
    _err(await client.patch(purl, json={"status": "sleeping"}), 422)
    _err(await client.patch(purl, json={"memory_type": "dream"}), 422)
    _err(await client.patch(purl, json={"pinned": "sometimes"}), 422, "invalid_request")
    _err(
        await client.patch(purl, json={"memory_type": "core", "fields": {"label": "robot"}}),
        422,
        "invalid_fields",
    )
    # cubes
    _err(await client.post("/v1/cubes", json={"name": ""}), 422)
    _err(await client.post("/v1/cubes", json={"name": "n", "extra": 1}), 422)
    _err(await client.post("/v1/cubes", json={"name": "n\x00"}), 422)
    _err(await client.post("/v1/cubes", json={"name": "n", "config": nested}), 422)
    _err(await client.patch(f"/v1/cubes/{cid}", json={"owner": 5}), 422)
    assert _counts(db_url) == before
    m = (await client.get(purl)).json()
    assert m["version"] == 1 and m["content"] == "a stored fact"


async def test_bad_search_requests(client, cube, db_url, seen):
    cid = cube["id"]
    await _one(client, cid, "foo bar baz is the password hint")
    url = f"/v1/cubes/{cid}/search"
    for top_k in (0, -1, 10**9, 10**30):
        _err(await client.post(url, json={"query": "foo", "top_k": top_k}), 422)
    for query in ("", "   ", "\n\t"):
        _err(await client.post(url, json={"query": query}), 422, "empty_query")
    _err(await client.post(url, json={"query": "foo\x00"}), 422)
    _err(await client.post(url, json={"query": "x" * 4001}), 413, "query_too_large")
    _err(await client.post(url, json={"query": "foo", "mode": "psychic"}), 422)
    _err(await client.post(url, json={"query": "foo", "unknown": 1}), 422)
    _err(await client.post(url, json={"query": "foo", "filters": {"nope": 1}}), 422)
    _err(
        await client.post(
            url, json={"query": "foo", "filters": {"occurred_after": "2024-01-01T00:00:00"}}
        ),
        422,
    )
    _err(await client.post(url, json={"query": "foo", "as_of": "yesterday"}), 422)
    _err(await client.post(url, json={"query": "foo", "memory_types": ["dream"]}), 422)
    _err(await client.post("/v1/search", json={"query": "foo", "cube_ids": []}), 422)
    _err(await client.post("/v1/search", json={"query": "foo", "cube_ids": ["x"]}), 422)
    # full-text operators in the query are just text
    for query in (
        "!(&|:*<->) ' \\ \" & | ! <-> :* foo",
        "foo:* & !bar",
        "'foo' | ''",
        "(((",
        "!!!",
        "<2> foo <-> baz",
    ):
        for mode in ("lexical", "hybrid", "dense"):
            r = await client.post(url, json={"query": query, "mode": mode})
            assert r.status_code == 200, (query, mode, r.text)
            if "foo" in query and mode == "lexical":
                assert [h["memory"]["content"] for h in r.json()["results"]] == [
                    "foo bar baz is the password hint"
                ]
    # a query of stop words / punctuation only finds nothing lexically, but is not an error
    r = await client.post(url, json={"query": "the of and", "mode": "lexical"})
    assert r.status_code == 200 and r.json()["results"] == []


def _cursor(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_forged_cursors_are_400(client, cube, seen):
    cid = cube["id"]
    for i in range(3):
        await _one(client, cid, f"fact number {i}")
        await client.post("/v1/cubes", json={"name": f"extra-{i}"})
    page = (await client.get(f"/v1/cubes/{cid}/memories", params={"limit": 1})).json()
    mem_cursor = page["next_cursor"]
    cube_page = (await client.get("/v1/cubes", params={"limit": 1})).json()
    cube_cursor = cube_page["next_cursor"]
    assert mem_cursor and cube_cursor
    forged = [
        "garbage",
        "!!!!",
        "e30",  # {}
        _cursor({"v": 1, "k": "memories", "p": {"s": "1"}}),
        _cursor({"v": 1, "k": "memories", "p": {"s": True}}),
        _cursor({"v": 1, "k": "memories", "p": {"s": 1, "x": 2}}),
        _cursor({"v": 2, "k": "memories", "p": {"s": 1}}),
        _cursor({"v": 1, "k": "cubes", "p": {"t": "not a date", "i": cid}}),
        _cursor({"v": 1, "k": "cubes", "p": {"t": "2024-01-01T00:00:00+00:00", "i": "x"}}),
        _cursor([1, 2, 3]),
        _cursor("string"),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        mem_cursor[:-3],
        "a" * 600,
    ]
    for bad in forged:
        r_mem = await client.get(f"/v1/cubes/{cid}/memories", params={"cursor": bad})
        r_cube = await client.get("/v1/cubes", params={"cursor": bad})
        for r in (r_mem, r_cube):
            if len(bad) > 512:
                _err(r, 422)
                continue
            _err(r, 400, "invalid_cursor")
    # a cursor of one list is refused by the other
    _err(await client.get("/v1/cubes", params={"cursor": mem_cursor}), 400, "invalid_cursor")
    r = await client.get(f"/v1/cubes/{cid}/memories", params={"cursor": cube_cursor})
    _err(r, 400, "invalid_cursor")
    # well-formed positions that are merely out of range are fine, not a 500
    for s in (-1, 0, 2**62):
        r = await client.get(
            f"/v1/cubes/{cid}/memories",
            params={"cursor": _cursor({"v": 1, "k": "memories", "p": {"s": s}})},
        )
        assert r.status_code == 200, r.text
    r = await client.get(
        f"/v1/cubes/{cid}/memories",
        params={"cursor": _cursor({"v": 1, "k": "memories", "p": {"s": 2**70}})},
    )
    _err(r, 400, "invalid_cursor")
    r = await client.get(
        "/v1/cubes",
        params={
            "cursor": _cursor({"v": 1, "k": "cubes", "p": {"t": "2024-01-01T00:00:00", "i": cid}})
        },
    )
    assert r.status_code in (200, 400), r.text


@pytest.fixture
async def small_app(db_url: str, test_settings: Settings, embedder: Any) -> AsyncIterator[Any]:
    async with started_app(test_settings, db_url, embedder, max_request_bytes=4096) as started:
        yield started


async def test_body_over_max_request_bytes_is_413(small_app, admin, db_url):
    # a tenant and key made through the small app itself
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=small_app),
        base_url="http://memsvc.test",
        headers=dict(admin.headers),
    ) as small_admin:
        tenant = (await small_admin.post("/v1/admin/tenants", json={"name": "t"})).json()
        key = (await small_admin.post("/v1/admin/keys", json={"tenant_id": tenant["id"]})).json()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=small_app),
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {key['key']}"},
    ) as c:
        cid = (await c.post("/v1/cubes", json={"name": "c"})).json()["id"]
        before = _counts(db_url)
        body = json.dumps({"items": [{"content": "w " * 3000}]}).encode()
        assert len(body) > 4096
        r = await c.post(
            f"/v1/cubes/{cid}/memories",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        _err(r, 413, "payload_too_large")

        # the same without a Content-Length (streamed, chunked)
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        r = await c.post(
            f"/v1/cubes/{cid}/memories",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        _err(r, 413, "payload_too_large")
        assert _counts(db_url) == before
        # under the limit still works
        r = await c.post(f"/v1/cubes/{cid}/memories", json={"items": [{"content": "small"}]})
        assert r.status_code == 201, r.text
