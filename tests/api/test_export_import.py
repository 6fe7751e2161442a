"""Cube export and import over REST: a rich cube survives export -> import -> export with every
field of every record intact (ids aside), and bad streams are refused whole, never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import numpy as np
import pytest

from memsvc.services import transfer
from workers.runner import work_until_idle

NDJSON = {"Content-Type": "application/x-ndjson"}
# Columns that name the cube, or what the importing database mints.
MINTED = {"seq", "cube_id", "tenant_id"}
# Memory-id columns of each record kind (node ids are remapped by node key).
MEMORY_REFS = {"memory": ("id", "neighbour_id"), **transfer.MEMORY_REFS}
VAULT = {"secret_value": "open-sesame-4711", "caption": "door"}
ITEMS = [
    {"content": "Maya adopted a greyhound called Biscuit", "user_id": "maya", "tags": ["pet"]},
    {"content": "Biscuit the greyhound loves the beach", "user_id": "maya", "session_id": "s"},
    {"content": "Maya is allergic to peanuts", "memory_type": "semantic"},
    {"content": "To reset the router, hold the button", "memory_type": "procedural"},
    {"content": "door code", "memory_type": "knowledge_vault", "fields": VAULT},
    {"content": "Old plan for the garden", "metadata": {"n": 2}},
]
TURNS = [("user", "I live in Lisbon and my dog is called Rex."), ("assistant", "Noted.")]
CONVERSATION = {
    "messages": [{"role": role, "content": text} for role, text in TURNS],
    "user_id": "maya",
    "session_id": "chat",
    "infer": True,
}


async def build_rich_cube(client: httpx.AsyncClient, app: Any, db_url: str) -> str:
    """A cube with several memory types, a vault secret, a PATCH (version 2), a soft delete,
    conversation turns with extracted facts (lineage), notes, links and the entity graph."""
    cube = (await client.post("/v1/cubes", json={"name": "rich", "config": {"k": 1}})).json()
    base = f"/v1/cubes/{cube['id']}"
    added = await client.post(f"{base}/memories", json={"items": ITEMS})
    assert added.status_code == 201, added.text
    ids = [m["id"] for m in added.json()["items"]]
    r = await client.patch(f"{base}/memories/{ids[2]}", json={"content": "Maya: peanut allergy"})
    assert r.status_code == 200, r.text
    assert (await client.delete(f"{base}/memories/{ids[5]}")).status_code == 204
    r = await client.post(f"{base}/messages", json=CONVERSATION)
    assert r.status_code in (201, 202), r.text
    r = await client.post(f"{base}/thoughts", json={"question": "Pet?", "answer": "A greyhound."})
    assert r.status_code in (200, 201), r.text
    await work_until_idle(db_url, app.state.runtime)  # notes, links, graph
    return str(cube["id"])


def parse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def export(client: httpx.AsyncClient, cube_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/cubes/{cube_id}/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return parse(r.text)


async def import_(client: httpx.AsyncClient, body: bytes | str, **params: Any) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return await client.post("/v1/cubes/import", content=content, headers=NDJSON, params=params)


def dump(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def normalized(records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The header's cube (ids aside) and every record with ids replaced by their position."""
    header, body = records[0], records[1:]
    memories = [r for r in body if r["kind"] == "memory"]
    order = {r["id"]: f"m{i}" for i, r in enumerate(memories)}
    nodes = {r["id"]: f"n:{r['key']}" for r in body if r["kind"] == "node"}
    out = []
    for record in body:
        kind = record["kind"]
        rec = {k: v for k, v in record.items() if k not in MINTED}
        for column in MEMORY_REFS.get(kind, ()):
            rec[column] = order.get(rec[column], rec[column])
        if kind in ("node", "edge", "quarantine"):
            rec["id"] = nodes.get(record["id"]) if kind == "node" else None
        for column in ("node_id", "src_id", "dst_id"):
            if column in rec:
                rec[column] = nodes[rec[column]]
        if kind == "quarantine":
            rec["conflict_ids"] = [order.get(i, i) for i in rec["conflict_ids"]]
        out.append(json.dumps(rec, sort_keys=True))
    cube = {k: v for k, v in header["cube"].items() if k not in ("id", "tenant_id", "name")}
    return {"cube": cube, "counts": header["counts"]}, sorted(out)


async def test_round_trip_keeps_every_field(app, db_url, client):
    cube_id = await build_rich_cube(client, app, db_url)
    first = await export(client, cube_id)
    header = first[0]
    assert header["kind"] == "memsvc-export" and header["format"] == 1
    kinds = [r["kind"] for r in first[1:]]
    assert kinds == sorted(
        kinds,
        key=["memory", "version", "link", "source", "node", "mention", "edge", "quarantine"].index,
    )
    counts = header["counts"]
    assert counts["memory"] == kinds.count("memory") >= 9
    for kind in ("version", "link", "source", "node", "mention", "edge"):
        assert counts[kind] > 0, (kind, counts)
    assert counts["version"] > counts["memory"]  # PATCH, delete, enrichment versions
    vault = next(r for r in first if r.get("memory_type") == "knowledge_vault")
    assert vault["secret_ciphertext"] and "open-sesame" not in json.dumps(first)
    assert {r["status"] for r in first[1:] if r["kind"] == "memory"} >= {"active", "deleted"}

    r = await import_(client, dump(first), name="rich copy")
    assert r.status_code == 201, r.text
    imported = r.json()
    assert imported["cube"]["name"] == "rich copy" and imported["cube"]["id"] != cube_id
    assert imported["counts"] == counts
    second = await export(client, imported["cube"]["id"])
    # the ids were taken (the original is still there): every one was minted afresh
    assert not {r["id"] for r in first if r["kind"] == "memory"} & {
        r["id"] for r in second if r["kind"] == "memory"
    }
    assert normalized(second) == normalized(first)

    # the copy works like any cube: history through the API, a vault secret revealed
    copy_id = imported["cube"]["id"]
    patched = next(r for r in second if r["kind"] == "memory" and r["version"] == 2)
    history = await client.get(f"/v1/cubes/{copy_id}/memories/{patched['id']}/history")
    assert history.status_code == 200 and len(history.json()["versions"]) >= 2, history.text
    copied_vault = next(r for r in second if r.get("memory_type") == "knowledge_vault")
    r = await client.get(
        f"/v1/cubes/{copy_id}/memories/{copied_vault['id']}", params={"reveal": "true"}
    )
    assert r.status_code in (200, 403), r.text  # reveal needs the secrets scope


async def test_ids_are_kept_when_free_and_minted_on_request(app, db_url, client):
    cube_id = await build_rich_cube(client, app, db_url)
    first = await export(client, cube_id)
    ids = [r["id"] for r in first if r["kind"] == "memory"]
    assert (await client.delete(f"/v1/cubes/{cube_id}", params={"hard": "true"})).status_code == 204
    r = await import_(client, dump(first))
    assert r.status_code == 201, r.text
    second = await export(client, r.json()["cube"]["id"])
    assert [r["id"] for r in second if r["kind"] == "memory"] == ids
    assert normalized(second) == normalized(first)
    # keep_ids=false mints new ones even though these are now free again... after a rename
    r = await import_(client, dump(first), keep_ids="false", name="fresh ids")
    assert r.status_code == 201, r.text
    third = await export(client, r.json()["cube"]["id"])
    assert not set(ids) & {r["id"] for r in third if r["kind"] == "memory"}
    assert normalized(third) == normalized(first)


async def test_another_model_is_re_embedded(app, db_url, client):
    cube_id = await build_rich_cube(client, app, db_url)
    first = await export(client, cube_id)
    changed = []
    for record in first:
        record = dict(record)
        if record.get("kind") == "memory" and record["embedding"] is not None:
            record["embedding_model"] = "some-other-model"
            record["embedding"] = [0.0] * len(record["embedding"])
        changed.append(record)
    changed[0]["embedding_model"] = "some-other-model"
    r = await import_(client, dump(changed), name="re-embedded")
    assert r.status_code == 201, r.text
    second = await export(client, r.json()["cube"]["id"])
    # the same model made the same vectors again, up to float noise of another batch
    old_vectors, new_vectors = split_vectors(first), split_vectors(second)
    assert normalized(second) == normalized(first)
    assert len(old_vectors) == len(new_vectors) > 0
    for old, new in zip(old_vectors, new_vectors, strict=True):
        assert (old is None) == (new is None)
        if old is not None:
            assert np.dot(old, new) / (np.linalg.norm(old) * np.linalg.norm(new)) > 0.999


def split_vectors(records: list[dict[str, Any]]) -> list[Any]:
    """Take the vectors out of the memory and node records (in stream order)."""
    vectors = []
    for record in records:
        columns = {"memory": ("embedding", "note_embedding"), "node": ("embedding",)}
        for column in columns.get(record.get("kind", ""), ()):
            vector = record.pop(column)
            vectors.append(None if vector is None else np.array(vector))
    return vectors


async def _cube_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/cubes", params={"limit": 1000})).json()["items"])


@pytest.mark.parametrize(
    ("mangle", "line", "code"),
    [
        ("truncate", 5, "invalid_import"),
        ("wrong_kind", 3, "invalid_import"),
        ("wrong_format", 1, "unsupported_format"),
        ("no_header", 1, "invalid_import"),
        ("dangling_version", 2, "invalid_import"),
        ("missing_records", None, "invalid_import"),
        ("bad_value", 2, "invalid_import"),
    ],
)
async def test_a_bad_stream_is_refused_whole(app, db_url, client, mangle, line, code):
    cube = (await client.post("/v1/cubes", json={"name": "small"})).json()
    base = f"/v1/cubes/{cube['id']}"
    r = await client.post(
        f"{base}/memories", json={"items": [{"content": "one"}, {"content": "two"}]}
    )
    assert r.status_code == 201
    records = await export(client, cube["id"])
    text = dump(records)
    if mangle == "truncate":
        text = text[: len(text) - 40]
    elif mangle == "wrong_kind":
        records[2] = {**records[2], "kind": "spaceship"}
    elif mangle == "wrong_format":
        records[0] = {**records[0], "format": 99}
    elif mangle == "no_header":
        records = records[1:]
    elif mangle == "dangling_version":
        records.insert(1, {**records[3], "memory_id": str(uuid.uuid4())})
        records[0]["counts"]["version"] += 1
    elif mangle == "missing_records":
        records = records[:-1]
    elif mangle == "bad_value":
        records[1] = {**records[1], "created_at": "yesterday"}
    if mangle != "truncate":
        text = dump(records)
    before = await _cube_count(client)
    r = await import_(client, text, name="mangled")
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    if line is not None:
        assert error["details"]["line"] == line, error
        assert f"line {line}" in error["message"]
    assert await _cube_count(client) == before  # nothing written


async def test_refusals(app, client, tenant_client):
    cube = (await client.post("/v1/cubes", json={"name": "mine"})).json()
    text = dump(await export(client, cube["id"]))
    other = await tenant_client()
    r = await other.get(f"/v1/cubes/{cube['id']}/export")
    assert r.status_code == 404 and r.json()["error"]["code"] == "cube_not_found"
    reader = await tenant_client(scopes=("read",))
    r = await import_(reader, text)
    assert r.status_code == 403 and r.json()["error"]["code"] == "missing_scope"
    r = await client.post("/v1/cubes/import", content=text.encode())
    assert r.status_code == 415, r.text
    r = await import_(client, text)  # the name "mine" is taken
    assert r.status_code == 409 and r.json()["error"]["code"] == "cube_name_taken"
    r = await import_(client, b"\xff\xfe not json\n")
    assert r.status_code == 422 and r.json()["error"]["details"]["line"] == 1
    r = await import_(client, b"")
    assert r.status_code == 422, r.text


async def test_the_import_size_limit(app, client):
    app.state.runtime.settings = app.state.runtime.settings.model_copy(
        update={"max_import_bytes": 1024}
    )
    r = await import_(client, b'{"kind": "memsvc-export"}\n' + b" " * 2048)
    assert r.status_code == 413, r.text


async def test_the_sdk_methods_round_trip(app, admin, client, tenant_client):
    """memsvc.client's export_cube / import_cube (written against the contract) work as is."""
    from memsvc.client import AsyncMemoryClient

    cube = (await client.post("/v1/cubes", json={"name": "via sdk"})).json()
    r = await client.post(f"/v1/cubes/{cube['id']}/memories", json={"items": ITEMS[:3]})
    assert r.status_code == 201, r.text
    other = await tenant_client()
    key = (
        await admin.post("/v1/admin/keys", json={"tenant_id": other.tenant_id, "scopes": ["write"]})
    ).json()["key"]
    transport = httpx.ASGITransport(app=app)
    reader_key = client.headers["Authorization"].split()[1]
    async with AsyncMemoryClient(
        "http://memsvc.test", api_key=reader_key, transport=transport
    ) as a:
        records = await a.export_cube(cube["id"])
    async with AsyncMemoryClient("http://memsvc.test", api_key=key, transport=transport) as b:
        result = await b.import_cube(records)
    copied = await export(other, str(result.cube.id))
    assert normalized(copied) == normalized(records)
