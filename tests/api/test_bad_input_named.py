"""Named bad-input cases, on every route they apply to (test_bad_input.py has the first ones).

Each case asserts the status, the contract's error shape, and that nothing was written: every
table of the database is fingerprinted before and after (the audit log aside, which records
refused requests by design). The cases that apply to every body, or every page, enumerate the
routes from the OpenAPI document, so a route added later is covered without a new line here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from memsvc.store.db import libpq_url
from workers.runner import work_until_idle

JSON = {"Content-Type": "application/json"}
# Tables a refused request may write to, by design: the audit trail records refusals too.
UNWATCHED = {"audit_log"}


# --- helpers ------------------------------------------------------------------------------
def _state(db_url: str) -> dict[str, str]:
    """A fingerprint of every row of every table (one md5 per table)."""
    out: dict[str, str] = {}
    with psycopg.connect(libpq_url(db_url)) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            if table in UNWATCHED:
                continue
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    " FROM {} t"
                ).format(sql.Identifier(table))
            ).fetchone()
            assert row is not None
            out[table] = f"{row[0]}:{row[1]}"
    assert "memories" in out and "cubes" in out
    return out


def _err(r: httpx.Response, status: int | tuple[int, ...], code: str | None = None) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    where = (r.request.method, str(r.request.url)[:200])
    assert r.status_code in statuses, (where, r.status_code, r.text[:400])
    body = r.json()
    assert set(body) == {"error"}, (where, body)
    assert set(body["error"]) == {"code", "message", "details"}, (where, body)
    assert isinstance(body["error"]["code"], str) and body["error"]["message"], (where, body)
    if code is not None:
        assert body["error"]["code"] == code, (where, body)
    return dict(body["error"])


@pytest.fixture
async def world(app, admin, tenant_client) -> dict[str, Any]:
    """A tenant key with every scope, a cube with memories, a core block, a job, another
    tenant and its key; their ids by path parameter name. The clients remember every
    response: none may be a 5xx."""
    client = await tenant_client(("read", "write", "admin", "secrets"))
    cube = (await client.post("/v1/cubes", json={"name": "named"})).json()
    r = await client.post(
        f"/v1/cubes/{cube['id']}/memories",
        json={
            "items": [
                {"content": "Maya adopted a greyhound called Biscuit", "user_id": "maya"},
                {"content": "Maya is allergic to peanuts", "memory_type": "semantic"},
            ]
        },
    )
    assert r.status_code == 201, r.text
    memories = [m["id"] for m in r.json()["items"]]
    job_id = r.json()["job_id"]
    r = await client.put(f"/v1/cubes/{cube['id']}/core/human", json={"value": "Maya."})
    assert r.status_code == 201, r.text
    other = (await admin.post("/v1/admin/tenants", json={"name": "other"})).json()
    spare_key = (await admin.post("/v1/admin/keys", json={"tenant_id": other["id"]})).json()
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response)

    for c in (client, admin):
        c.event_hooks["response"].append(record)
    ids = {
        "cube_id": cube["id"],
        "memory_id": memories[0],
        "label": "human",
        "tenant_id": other["id"],
        "key_id": spare_key["id"],
        "job_id": job_id,
    }
    yield {"client": client, "admin": admin, "cube": cube, "memories": memories, "ids": ids}
    assert seen, "no response was recorded"
    errors = [(x.request.method, str(x.request.url)[:120], x.status_code) for x in seen]
    assert all(x.status_code < 500 for x in seen), [e for e in errors if e[2] >= 500]


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)


# Operations whose body is a stream of lines, not one JSON object: tested on their own below.
STREAM_BODIES = {("POST", "/v1/cubes/import")}


def _body_routes(app: Any) -> Iterator[tuple[str, str, bool]]:
    """(method, path, body required) of every operation that takes a JSON body."""
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody")
            if body is None:
                continue
            if (method.upper(), path) in STREAM_BODIES:
                assert "application/x-ndjson" in body["content"], (method, path)
                continue
            # a new operation with another kind of body must be added to the tests by name
            assert "application/json" in body["content"], (method, path)
            yield method.upper(), path, bool(body.get("required"))


def _caller(world: dict[str, Any], path: str) -> httpx.AsyncClient:
    return world["admin"] if path.startswith("/v1/admin/") else world["client"]


# --- huge strings -------------------------------------------------------------------------
async def test_strings_over_their_limits(app, world, db_url):
    client, admin = world["client"], world["admin"]
    cid = world["cube"]["id"]
    mid = world["memories"][0]
    base = f"/v1/cubes/{cid}"
    before = _state(db_url)
    big = "x" * 1_000_001  # a megabyte: over every string limit there is
    cases: list[tuple[httpx.AsyncClient, str, str, Any]] = [
        (client, "POST", "/v1/cubes", {"name": "n" * 201}),
        (client, "POST", "/v1/cubes", {"name": "n", "description": "d" * 10_001}),
        (client, "POST", "/v1/cubes", {"name": "n", "owner": big}),
        (client, "PATCH", base, {"name": big}),
        (client, "POST", f"{base}/memories", {"items": [{"content": big}]}),
        (client, "POST", f"{base}/memories", {"items": [{"content": "c", "tags": ["t" * 201]}]}),
        (client, "POST", f"{base}/memories", {"items": [{"content": "c", "context": big}]}),
        (client, "POST", f"{base}/memories", {"items": [{"content": "c", "user_id": big}]}),
        (client, "PATCH", f"{base}/memories/{mid}", {"content": big}),
        (client, "PATCH", f"{base}/memories/{mid}", {"reason": "r" * 1001}),
        (client, "POST", f"{base}/messages", {"messages": [{"role": "user", "content": big}]}),
        (
            client,
            "POST",
            f"{base}/messages",
            {"messages": [{"role": "user", "content": "hi", "message_id": "m" * 201}]},
        ),
        (client, "POST", f"{base}/search", {"query": big}),
        (client, "POST", "/v1/search", {"query": big, "cube_ids": [cid]}),
        (client, "POST", f"{base}/thoughts", {"question": big, "answer": "a"}),
        (client, "POST", f"{base}/thoughts/recall", {"query": big}),
        (client, "POST", f"{base}/context", {"query": big}),
        (client, "PUT", f"{base}/core/human", {"value": big}),
        (client, "PUT", f"{base}/core/human", {"value": "v" * 5001}),  # over core_block_limit
        (client, "POST", f"{base}/core/persona/append", {"content": big}),
        (client, "POST", f"{base}/generate", {"prompt": big}),
        (client, "POST", f"{base}/activation", {"model": big}),
        (admin, "POST", "/v1/admin/tenants", {"name": big}),
        (admin, "POST", "/v1/admin/keys", {"tenant_id": world["ids"]["tenant_id"], "name": big}),
    ]
    for c, method, url, body in cases:
        _err(await c.request(method, url, json=body), (413, 422))
    # over-long query parameters
    for params in ({"user_id": big[:1001]}, {"tag": "t" * 201}, {"cursor": "c" * 513}):
        _err(await client.get(f"{base}/memories", params=params), 422)
    _err(await client.get(f"{base}/core", params={"user_id": "u" * 1001}), 422)
    # a huge bearer token is just a bad key
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://memsvc.test"
    ) as anon:
        r = await anon.get(f"{base}/memories", headers={"Authorization": "Bearer " + "k" * 100_000})
        _err(r, 401)
    assert _state(db_url) == before


# --- deeply nested JSON -------------------------------------------------------------------
def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


async def test_deeply_nested_json(world, db_url):
    client = world["client"]
    cid, mid = world["cube"]["id"], world["memories"][0]
    base = f"/v1/cubes/{cid}"
    before = _state(db_url)
    deep = {"n": _nested(40)}  # past the 16 levels any free-form object may have
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/v1/cubes", {"name": "deep", "config": deep}),
        ("PATCH", base, {"config": deep}),
        ("POST", f"{base}/memories", {"items": [{"content": "c", "fields": deep}]}),
        ("PATCH", f"{base}/memories/{mid}", {"metadata": deep}),
        ("PATCH", f"{base}/memories/{mid}", {"fields": deep}),
        ("POST", f"{base}/search", {"query": "q", "filters": {"metadata": deep}}),
        ("POST", "/v1/search", {"query": "q", "cube_ids": [cid], "filters": {"metadata": deep}}),
    ]
    for method, url, body in cases:
        err = _err(await client.request(method, url, json=body), 422, "invalid_request")
        assert "nested deeper than 16 levels" in err["message"], err
    # nesting a parser chokes on, as the whole body and inside one: 400, never a 500
    for raw in (
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        '{"query": "q", "filters": {"metadata": ' + "[" * 50_000 + "]" * 50_000 + "}}",
    ):
        for url in (f"{base}/search", f"{base}/messages", "/v1/cubes"):
            _err(await client.post(url, content=raw.encode(), headers=JSON), (400, 422))
    assert _state(db_url) == before
    # exactly 16 levels is fine
    ok = {"n": _nested(15)}
    r = await client.post("/v1/cubes", json={"name": "sixteen", "config": ok})
    assert r.status_code == 201, r.text
    assert r.json()["config"] == ok


# --- bytes that are not UTF-8, text that is not Unicode ---------------------------------------
async def test_invalid_utf8_in_every_body(app, world, db_url):
    before = _state(db_url)
    bad = [
        b'{"name": "caf\xc3\x28"}',  # a broken two-byte sequence
        b'{"name": "\xc0\xaf"}',  # an overlong encoding of "/"
        b'{"name": "\xff\xfe\xfd"}',
        b"\xff\xfe{}",
    ]
    for method, path, _ in _body_routes(app):
        url = _fill(path, world["ids"])
        for raw in bad:
            r = await _caller(world, path).request(method, url, content=raw, headers=JSON)
            _err(r, 400, "invalid_json")
        # a surrogate encoded as if UTF-8 could hold one: Python's JSON reader lets it through
        # (surrogatepass), as a lone surrogate, which every text field refuses
        raw = b'{"name": "\xed\xa0\x80", "query": "\xed\xa0\x80", "items": []}'
        r = await _caller(world, path).request(method, url, content=raw, headers=JSON)
        _err(r, 422)
    assert _state(db_url) == before


async def test_unpaired_surrogates_are_refused(world, db_url):
    """JSON may spell a lone surrogate ("\\ud800"): not text PostgreSQL or a tokenizer can
    take. Refused with 422, like NUL (it was a 500 from the embedder's tokenizer)."""
    client = world["client"]
    cid, mid = world["cube"]["id"], world["memories"][0]
    base = f"/v1/cubes/{cid}"
    before = _state(db_url)
    lone = '"caf\\ud800e"'
    cases = [
        ("POST", "/v1/cubes", '{"name": %s}'),
        ("POST", f"{base}/memories", '{"items": [{"content": %s}]}'),
        ("POST", f"{base}/memories", '{"items": [{"content": "ok", "metadata": {"k": [%s]}}]}'),
        ("POST", f"{base}/memories", '{"items": [{"content": "ok", "fields": {"a": {%s: 1}}}]}'),
        ("PATCH", f"{base}/memories/{mid}", '{"content": %s}'),
        ("POST", f"{base}/messages", '{"messages": [{"role": "user", "content": %s}]}'),
        ("POST", f"{base}/search", '{"query": %s}'),
        ("POST", f"{base}/thoughts", '{"question": %s, "answer": "a"}'),
        ("POST", f"{base}/context", '{"query": %s}'),
        ("PUT", f"{base}/core/human", '{"value": %s}'),
        ("POST", f"{base}/generate", '{"prompt": %s}'),
    ]
    for method, url, template in cases:
        for spelled in (lone, '"\\udc00"', '"x\\ud83d"'):
            raw = (template % spelled).encode()
            r = await client.request(method, url, content=raw, headers=JSON)
            err = _err(r, 422, "invalid_request")
            assert "surrogate" in err["message"], err
    assert _state(db_url) == before
    # a surrogate *pair* is one character (an emoji), and fine
    raw = b'{"items": [{"content": "dog \\ud83d\\udc15 Biscuit"}]}'
    r = await client.post(f"{base}/memories", content=raw, headers=JSON)
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["content"] == "dog \U0001f415 Biscuit"


# --- NUL ------------------------------------------------------------------------------------
async def test_nul_in_strings_and_query_parameters(world, db_url):
    client, admin = world["client"], world["admin"]
    cid, mid = world["cube"]["id"], world["memories"][0]
    base = f"/v1/cubes/{cid}"
    before = _state(db_url)
    bodies: list[tuple[httpx.AsyncClient, str, str, Any]] = [
        (client, "POST", "/v1/cubes", {"name": "ok", "description": "a\x00b"}),
        (client, "PATCH", base, {"owner": "\x00"}),
        (client, "POST", f"{base}/memories", {"items": [{"content": "ok", "user_id": "u\x00"}]}),
        (
            client,
            "POST",
            f"{base}/memories",
            {"items": [{"content": "ok", "fields": {"a": "\x00"}}]},
        ),
        (
            client,
            "POST",
            f"{base}/memories",
            {"items": [{"content": "ok", "metadata": {"a": {"\x00": 1}}}]},
        ),
        (client, "PATCH", f"{base}/memories/{mid}", {"tags": ["a\x00"]}),
        (client, "PATCH", f"{base}/memories/{mid}", {"reason": "\x00"}),
        (client, "POST", f"{base}/messages", {"messages": [{"role": "user", "content": "\x00"}]}),
        (
            client,
            "POST",
            f"{base}/messages",
            {"messages": [{"role": "user", "content": "hi"}], "session_id": "\x00"},
        ),
        (client, "POST", f"{base}/search", {"query": "ok", "filters": {"tags": ["\x00"]}}),
        (client, "POST", "/v1/search", {"query": "\x00", "cube_ids": [cid]}),
        (client, "POST", f"{base}/thoughts", {"question": "q", "answer": "\x00"}),
        (client, "POST", f"{base}/thoughts/recall", {"query": "q", "user_id": "\x00"}),
        (client, "POST", f"{base}/context", {"messages": [{"role": "user", "content": "\x00"}]}),
        (client, "PUT", f"{base}/core/human", {"value": "v", "user_id": "\x00"}),
        (client, "POST", f"{base}/core/human/append", {"content": "\x00"}),
        (client, "POST", f"{base}/generate", {"prompt": "\x00"}),
        (client, "POST", f"{base}/activation", {"model": "\x00"}),
        (admin, "POST", "/v1/admin/tenants", {"name": "t\x00"}),
        (admin, "POST", "/v1/admin/keys", {"tenant_id": world["ids"]["tenant_id"], "name": "\x00"}),
    ]
    for c, method, url, body in bodies:
        err = _err(await c.request(method, url, json=body), 422, "invalid_request")
        assert "NUL" in err["message"], err
    # in query parameters (sent percent-encoded, %00)
    queries: list[tuple[httpx.AsyncClient, str, dict[str, str], int | tuple[int, ...]]] = [
        (client, f"{base}/memories", {"user_id": "a\x00"}, 422),
        (client, f"{base}/memories", {"agent_id": "\x00"}, 422),
        (client, f"{base}/memories", {"session_id": "s\x00s"}, 422),
        (client, f"{base}/memories", {"tag": "\x00"}, 422),
        (client, f"{base}/memories", {"memory_type": "semantic\x00"}, 422),
        (client, f"{base}/memories", {"limit": "1\x00"}, 422),
        (client, f"{base}/memories", {"cursor": "\x00"}, 400),
        (client, "/v1/cubes", {"cursor": "e30\x00"}, 400),
        (client, f"{base}/graph", {"cursor": "\x00"}, 400),
        (client, f"{base}/core", {"user_id": "\x00"}, 422),
        (client, f"{base}/memories/{mid}", {"reveal": "\x00"}, 422),
        (client, "/v1/usage", {"since": "2024-01-01T00:00:00Z\x00"}, 422),
        (client, "/v1/usage", {"cube_id": f"{cid}\x00"}, 422),
        (admin, "/v1/admin/keys", {"tenant_id": "\x00"}, 422),
        (admin, "/v1/admin/audit", {"cursor": "\x00"}, 400),
    ]
    for c, url, params, status in queries:
        _err(await c.get(url, params=params), status)
    for method, url in (
        ("DELETE", f"{base}/memories/{mid}?hard=%00"),
        ("DELETE", f"{base}?hard=true%00"),
        ("GET", f"/v1/cubes/{cid[:-1]}%00"),
        ("GET", f"{base}/memories/{mid}%00"),
        ("PUT", f"{base}/core/hu%00man"),
    ):
        body = {"value": "v"} if method == "PUT" else None
        _err(await client.request(method, url, json=body), (404, 422))
    assert _state(db_url) == before


# --- full-text operators are text -------------------------------------------------------------
OPERATOR_QUERIES = [
    "& | ! <-> :* ( )",
    "foo & bar | !baz <-> qux:*",
    "'quoted' \"double\" \\ backslash \\\\",
    "a:* b:A c:ABCD",
    "<2> <-1> <0>",
    "((((",
    "))))",
    "!!!",
    "'",
    '"',
    "\\",
    'or -minus "a phrase" AND NOT',
    "Biscuit:* | peanuts",
    "greyhound & (",
]


async def test_full_text_operators_are_plain_text(world):
    client = world["client"]
    cid = world["cube"]["id"]
    base = f"/v1/cubes/{cid}"
    odd = "Pipe|amp&bang! arrow<-> star:* (paren) 'single' \"double\" back\\slash kettle"
    r = await client.post(f"{base}/memories", json={"items": [{"content": odd}]})
    assert r.status_code == 201, r.text
    r = await client.post(f"{base}/thoughts", json={"question": "Dog?", "answer": "Biscuit."})
    assert r.status_code == 201, r.text
    for query in OPERATOR_QUERIES:
        for mode in ("lexical", "hybrid", "dense", "graph"):
            r = await client.post(f"{base}/search", json={"query": query, "mode": mode})
            assert r.status_code == 200, (query, mode, r.text)
        r = await client.post(
            "/v1/search", json={"query": query, "cube_ids": [cid], "mode": "lexical"}
        )
        assert r.status_code == 200, (query, r.text)
        r = await client.post(f"{base}/thoughts/recall", json={"query": query})
        assert r.status_code == 200, (query, r.text)
        r = await client.post(f"{base}/context", json={"query": query, "budget_tokens": 50})
        assert r.status_code == 200, (query, r.text)
        r = await client.post(
            f"{base}/search", json={"query": "dog", "filters": {"tags": [query], "user_id": query}}
        )
        assert r.status_code == 200 and r.json()["results"] == [], (query, r.text)
    # operator characters are separators: the words around them are found as words
    for query in ("kettle & !bang", "star:* | paren", "'single' <-> \"double\"", "back\\slash"):
        r = await client.post(f"{base}/search", json={"query": query, "mode": "lexical"})
        assert r.status_code == 200, r.text
        assert [h["memory"]["content"] for h in r.json()["results"]] == [odd], query
    # "Biscuit:* | peanuts" is not a prefix-or query: "Bisc" alone finds nothing lexically
    r = await client.post(f"{base}/search", json={"query": "Bisc:*", "mode": "lexical"})
    assert r.status_code == 200 and r.json()["results"] == [], r.text


# --- numbers out of range -------------------------------------------------------------------
async def test_counts_and_sizes_out_of_range(world, db_url):
    client, admin = world["client"], world["admin"]
    cid = world["cube"]["id"]
    base = f"/v1/cubes/{cid}"
    before = _state(db_url)
    for bad in (0, -1, 10**9, 10**30, 1.5, "ten", None, [1], {"n": 1}):
        cases = [
            ("/v1/search", {"query": "q", "cube_ids": [cid], "top_k": bad}),
            (f"{base}/search", {"query": "q", "top_k": bad}),
            (f"{base}/thoughts/recall", {"query": "q", "top_k": bad}),
            (f"{base}/context", {"query": "q", "budget_tokens": bad}),
            (f"{base}/generate", {"prompt": "p", "max_new_tokens": bad}),
        ]
        for url, body in cases:
            _err(await client.post(url, json=body), 422)
        for url in ("/v1/cubes", f"{base}/memories", f"{base}/graph"):
            if bad is not None:
                _err(await client.get(url, params={"limit": str(bad)}), 422)
        if bad is not None:
            _err(await admin.get("/v1/admin/audit", params={"limit": str(bad)}), 422)
    for field, value in (("dense_weight", -0.1), ("graph_weight", 1.5), ("dense_weight", "x")):
        r = await client.post(f"{base}/search", json={"query": "q", "fusion": {field: value}})
        _err(r, 422)
    for expected in (10**30, -(10**30)):
        r = await client.patch(
            f"{base}/memories/{world['memories'][0]}", json={"expected_version": expected}
        )
        _err(r, (409, 422))
    assert _state(db_url) == before


# --- cursors on every paginated route -------------------------------------------------------
def _b64(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decoded(cursor: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))))


def _tampered(real: str) -> list[str]:
    """Variants of a real cursor: garbled bytes, and well-formed ones with bad positions."""
    out = [
        real[:-2],
        real + "AA",
        real[::-1],
        real.replace(real[3], "~" if real[3] != "~" else "-"),
    ]
    data = _decoded(real)
    for key, value in data["p"].items():
        for bad in ("x", 1.5, None, True, [value], {"v": value}, 2**70, -(2**70)):
            out.append(_b64({**data, "p": {**data["p"], key: bad}}))
        out.append(_b64({**data, "p": {k: v for k, v in data["p"].items() if k != key}}))
    out.append(_b64({**data, "p": {**data["p"], "extra": 1}}))
    out.append(_b64({**data, "v": 2}))
    out.append(_b64({**data, "k": data["k"] + "x"}))
    return out


FORGED = [
    "garbage",
    "!!!!",
    "e30",  # {}
    "====",
    _b64([1, 2, 3]),
    _b64("a string"),
    _b64(None),
    _b64(b"\xff\xfe\x00"),
    _b64({"v": 1, "k": "memories"}),
    _b64({"v": 1, "p": {}}),
    "a" * 512,
]


async def test_forged_and_tampered_cursors_on_every_paginated_route(app, world, db_url):
    client = world["client"]
    # enough of everything for a second page: cubes, memories, graph (the worker), audit
    await client.post("/v1/cubes", json={"name": "second"})
    await work_until_idle(db_url, app.state.runtime)
    paged = [
        (path, _caller(world, path))
        for path, ops in app.openapi()["paths"].items()
        if "get" in ops and any(p["name"] == "cursor" for p in ops["get"].get("parameters", []))
    ]
    names = {p for p, _ in paged}
    assert {"/v1/cubes", "/v1/cubes/{cube_id}/memories", "/v1/cubes/{cube_id}/graph"} <= names
    real: dict[str, str] = {}
    for path, c in paged:
        r = await c.get(_fill(path, world["ids"]), params={"limit": 1})
        assert r.status_code == 200, (path, r.text)
        if r.json().get("next_cursor"):
            real[path] = r.json()["next_cursor"]
    assert {"/v1/cubes", "/v1/cubes/{cube_id}/memories"} <= set(real), real
    before = _state(db_url)
    for path, c in paged:
        url = _fill(path, world["ids"])
        candidates = list(FORGED)
        if path in real:
            candidates += _tampered(real[path])
        # another route's cursor is refused
        candidates += [cur for other, cur in real.items() if other != path]
        for bad in candidates:
            r = await c.get(url, params={"cursor": bad, "limit": 1})
            if len(bad) > 512:
                _err(r, 422)
            elif r.status_code != 200:
                _err(r, 400, "invalid_cursor")
            else:
                # only a well-formed position may pass: out of range is an empty page
                data = _decoded(bad)
                assert path in real and data["k"] == _decoded(real[path])["k"], (path, bad)
                assert all(type(v) in (int, str) for v in data["p"].values()), (path, data)
    assert _state(db_url) == before


async def test_cursor_forged_from_another_tenants_ids_pages_own_data(world, tenant_client):
    """Cursors are positions, not capabilities: one made from another tenant's cube (its
    time and id) still lists the caller's own cubes and memories only."""
    client = world["client"]
    other = await tenant_client()
    theirs = (await other.post("/v1/cubes", json={"name": "theirs"})).json()
    r = await other.post(
        f"/v1/cubes/{theirs['id']}/memories", json={"items": [{"content": "their secret"}]}
    )
    assert r.status_code == 201, r.text
    mine = {x["id"] for x in (await client.get("/v1/cubes")).json()["items"]}
    forged = _b64({"v": 1, "k": "cubes", "p": {"t": theirs["created_at"], "i": theirs["id"]}})
    r = await client.get("/v1/cubes", params={"cursor": forged})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert {x["id"] for x in r.json()["items"]} <= mine
    for s in (0, -1):
        forged = _b64({"v": 1, "k": "memories", "p": {"s": s}})
        r = await client.get(f"/v1/cubes/{theirs['id']}/memories", params={"cursor": forged})
        _err(r, 404)
        r = await client.get(f"/v1/cubes/{world['cube']['id']}/memories", params={"cursor": forged})
        assert r.status_code == 200 and "their secret" not in r.text


# --- wrong content types, empty bodies, arrays instead of objects ----------------------------
async def test_every_body_route_refuses_other_content_types(app, world, db_url):
    before = _state(db_url)
    routes = list(_body_routes(app))
    assert len(routes) >= 15
    for method, path, _ in routes:
        url = _fill(path, world["ids"])
        c = _caller(world, path)
        for content_type, raw in (
            ("text/plain", b'{"name": "x"}'),
            ("application/x-www-form-urlencoded", b"name=x&query=y"),
            (
                "multipart/form-data; boundary=zz",
                b'--zz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--zz--\r\n',
            ),
            ("application/xml", b"<name>x</name>"),
            (None, b'{"name": "x"}'),
        ):
            headers = {"Content-Type": content_type} if content_type else {}
            r = await c.request(method, url, content=raw, headers=headers)
            _err(r, 415, "unsupported_media_type")
    assert _state(db_url) == before


async def test_every_body_route_refuses_empty_and_non_object_bodies(app, world, db_url):
    before = _state(db_url)
    optional = []
    for method, path, required in _body_routes(app):
        url = _fill(path, world["ids"])
        c = _caller(world, path)
        if required:
            r = await c.request(method, url, content=b"", headers=JSON)
            err = _err(r, 422, "invalid_request")
            assert err["details"][0]["field"] == "body", err
        else:
            optional.append((method, path))
        for raw in (b"[]", b'[{"name": "x"}]', b'"a string"', b"42", b"true"):
            r = await c.request(method, url, content=raw, headers=JSON)
            _err(r, 422, "invalid_request")
        if required:
            _err(await c.request(method, url, content=b"null", headers=JSON), 422)
    assert _state(db_url) == before
    # a body that may be left out may be empty, or null: its defaults apply
    assert ("POST", "/v1/cubes/{cube_id}/consolidate") in optional
    for method, path in (("POST", "/v1/cubes/{cube_id}/consolidate"),):
        for raw in (b"", b"null", b"{}"):
            r = await world["client"].request(
                method, _fill(path, world["ids"]), content=raw, headers=JSON
            )
            assert r.status_code == 202, (raw, r.text)


async def test_the_stream_body_routes_refuse_bad_input(world, db_url):
    """The import reads lines of JSON: other media types are a 415, lines that are not UTF-8,
    not JSON or not objects are a 422, and nothing is written."""
    before = _state(db_url)
    c = world["client"]
    for method, path in sorted(STREAM_BODIES):
        for content_type in ("text/plain", "application/json", "application/xml", None):
            headers = {"Content-Type": content_type} if content_type else {}
            r = await c.request(
                method, path, content=b'{"kind": "memsvc-export"}\n', headers=headers
            )
            _err(r, 415, "unsupported_media_type")
        ndjson = {"Content-Type": "application/x-ndjson"}
        for raw in (b"", b"\n\n", b"\xff\xfe{}\n", b'{"kind": "caf\xc3\x28"}\n', b"[]\n", b"42\n"):
            r = await c.request(method, path, content=raw, headers=ndjson)
            _err(r, 422)
    assert _state(db_url) == before


# --- times at the ends of the calendar ------------------------------------------------------
async def test_times_at_the_ends_of_the_calendar(world, db_url):
    """Offsets that carry a time past year 9999 (or before year 1) in UTC: refused, or read
    as given, never a 500, and a refused write writes nothing."""
    client = world["client"]
    cid, mid = world["cube"]["id"], world["memories"][0]
    base = f"/v1/cubes/{cid}"
    before = _state(db_url)
    for t in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        for item in ({"occurred_at": t}, {"valid_from": t}, {"valid_to": t}):
            r = await client.post(f"{base}/memories", json={"items": [{"content": "c", **item}]})
            _err(r, 422)
        r = await client.patch(f"{base}/memories/{mid}", json={"occurred_at": t})
        _err(r, 422)
        turn = {"role": "user", "content": "I moved to York yesterday", "timestamp": t}
        _err(await client.post(f"{base}/messages", json={"messages": [turn]}), 422)
    assert _state(db_url) == before
    for t in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00Z"):
        for body in (
            {"query": "moved last week", "as_of": t},
            {"query": "moved yesterday", "now": t, "time": "filter"},
            {"query": "moved", "filters": {"occurred_after": t, "occurred_before": t}},
        ):
            r = await client.post(f"{base}/search", json=body)
            assert r.status_code == 200, (body, r.text)
        r = await client.get("/v1/usage", params={"since": t})
        assert r.status_code == 200, r.text
