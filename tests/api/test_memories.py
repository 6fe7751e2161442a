"""Memories: add, defaults, list filters and pagination, versions, delete and restore."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import psycopg

from memsvc.store.db import libpq_url


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _add(client: httpx.AsyncClient, cid: str, *items: dict[str, Any]) -> list[dict]:
    r = await client.post(f"/v1/cubes/{cid}/memories", json={"items": list(items)})
    assert r.status_code == 201, r.text
    return r.json()["items"]


async def _lexical(client: httpx.AsyncClient, cid: str, query: str) -> list[str]:
    r = await client.post(
        f"/v1/cubes/{cid}/search", json={"query": query, "mode": "lexical", "top_k": 50}
    )
    assert r.status_code == 200, r.text
    return [h["memory"]["id"] for h in r.json()["results"]]


async def test_add_returns_final_ids_and_defaults(client, cube):
    cid = cube["id"]
    given = "2021-03-04T05:06:07+02:00"
    created = await _add(
        client,
        cid,
        {"content": "Alice likes green tea"},
        {
            "content": "Bob moved to Lisbon",
            "memory_type": "semantic",
            "occurred_at": given,
            "user_id": "u1",
            "tags": ["move", "city"],
            "metadata": {"k": [1, {"x": None}]},
            "fields": {"name": "Bob"},
        },
    )
    assert [m["content"] for m in created] == ["Alice likes green tea", "Bob moved to Lisbon"]
    first, second = created
    assert first["memory_type"] == "episodic"
    assert first["status"] == "pending"  # searchable now; active once enrichment ran
    assert first["version"] == 1
    assert first["strength"] == 1.0
    assert first["recall_count"] == 0 and first["last_recalled_at"] is None
    assert first["cube_id"] == cid
    assert first["tags"] == [] and first["metadata"] == {} and first["fields"] == {}
    assert _ts(first["occurred_at"]) == _ts(first["created_at"])
    assert _ts(first["created_at"]).utcoffset() is not None
    assert _ts(second["occurred_at"]) == _ts(given)
    assert second["memory_type"] == "semantic" and second["fields"] == {"name": "Bob"}
    assert second["metadata"] == {"k": [1, {"x": None}]}
    for m in created:
        r = await client.get(f"/v1/cubes/{cid}/memories/{m['id']}")
        assert r.status_code == 200
        assert r.json() == m
    # the cube counts them
    assert (await client.get(f"/v1/cubes/{cid}")).json()["memory_count"] == 2
    # history starts with a create version
    hist = (await client.get(f"/v1/cubes/{cid}/memories/{first['id']}/history")).json()
    assert [v["version"] for v in hist["versions"]] == [1]
    assert hist["versions"][0]["change_kind"] == "create"
    assert hist["versions"][0]["snapshot"]["content"] == "Alice likes green tea"


async def test_list_filters_and_pagination(client, cube):
    cid = cube["id"]
    items = [
        {
            "content": f"note number {i}",
            "memory_type": "semantic" if i % 3 == 0 else "episodic",
            "user_id": f"u{i % 2}",
            "session_id": f"s{i % 5}",
            "tags": ["even"] if i % 2 == 0 else ["odd", "x"],
        }
        for i in range(25)
    ]
    created = await _add(client, cid, *items)
    ids = [m["id"] for m in created]
    url = f"/v1/cubes/{cid}/memories"

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(url, params=params)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            break
        assert len(page["items"]) == 10
    assert pages == 3
    assert seen == ids  # insertion order, no duplicates, no gaps
    # exactly a full last page: next_cursor null
    page = (await client.get(url, params={"limit": 25})).json()
    assert len(page["items"]) == 25 and page["next_cursor"] is None

    async def listed(**params: Any) -> list[str]:
        r = await client.get(url, params={"limit": 1000, **params})
        assert r.status_code == 200, r.text
        return [m["id"] for m in r.json()["items"]]

    assert await listed(memory_type="semantic") == [ids[i] for i in range(25) if i % 3 == 0]
    assert await listed(user_id="u1") == [ids[i] for i in range(25) if i % 2 == 1]
    assert await listed(session_id="s3") == [ids[i] for i in range(25) if i % 5 == 3]
    assert await listed(tag="even") == [ids[i] for i in range(25) if i % 2 == 0]
    assert await listed(tag=["odd", "x"]) == [ids[i] for i in range(25) if i % 2 == 1]
    assert await listed(tag=["odd", "even"]) == []
    assert await listed(user_id="u0", memory_type="semantic") == [
        ids[i] for i in range(25) if i % 2 == 0 and i % 3 == 0
    ]
    assert await listed(user_id="nobody") == []
    # paginating a filtered list
    p1 = (await client.get(url, params={"limit": 5, "user_id": "u1"})).json()
    p2 = (
        await client.get(url, params={"limit": 5, "user_id": "u1", "cursor": p1["next_cursor"]})
    ).json()
    p3 = (
        await client.get(url, params={"limit": 5, "user_id": "u1", "cursor": p2["next_cursor"]})
    ).json()
    assert [m["id"] for m in p1["items"] + p2["items"] + p3["items"]] == [
        ids[i] for i in range(25) if i % 2 == 1
    ]
    assert p3["next_cursor"] is None
    # status filter
    r = await client.patch(f"{url}/{ids[0]}", json={"status": "archived"})
    assert r.status_code == 200, r.text
    assert (await client.delete(f"{url}/{ids[1]}")).status_code == 204
    assert await listed(status="archived") == [ids[0]]
    assert await listed(status="deleted") == [ids[1]]
    default = await listed()
    assert ids[0] in default and ids[1] not in default and len(default) == 24
    assert await listed(status="pending") == ids[2:]


async def test_patch_versions_and_conflicts(client, cube):
    cid = cube["id"]
    (mem,) = await _add(client, cid, {"content": "The zebra painted a violet fence", "tags": ["a"]})
    url = f"/v1/cubes/{cid}/memories/{mem['id']}"
    assert await _lexical(client, cid, "zebra") == [mem["id"]]

    r = await client.patch(
        url,
        json={"content": "The giraffe repaired a turquoise bicycle", "tags": ["b"], "reason": "r"},
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["version"] == 2 and after["id"] == mem["id"]
    assert after["content"] == "The giraffe repaired a turquoise bicycle" and after["tags"] == ["b"]
    assert _ts(after["updated_at"]) >= _ts(mem["updated_at"])
    assert after["created_at"] == mem["created_at"]
    hist = (await client.get(f"{url}/history")).json()["versions"]
    assert [v["version"] for v in hist] == [1, 2]
    assert hist[1]["change_kind"] == "user_update"
    assert sorted(hist[1]["changed_fields"]) == ["content", "tags"]
    assert hist[1]["reason"] == "r"
    assert hist[0]["snapshot"]["content"] == "The zebra painted a violet fence"
    assert hist[1]["snapshot"]["content"] == "The giraffe repaired a turquoise bicycle"
    assert hist[0]["snapshot"]["tags"] == ["a"] and hist[1]["snapshot"]["tags"] == ["b"]

    # the search index follows the content
    assert await _lexical(client, cid, "zebra violet fence") == []
    assert await _lexical(client, cid, "giraffe turquoise") == [mem["id"]]
    r = await client.post(
        f"/v1/cubes/{cid}/search", json={"query": "an animal fixing a bike", "mode": "dense"}
    )
    assert r.json()["results"][0]["memory"]["id"] == mem["id"]

    # no-op patches write no version
    for noop in ({}, {"content": after["content"]}, {"tags": ["b"]}, {"status": after["status"]}):
        r = await client.patch(url, json=noop)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2
    assert len((await client.get(f"{url}/history")).json()["versions"]) == 2

    # optimistic concurrency
    r = await client.patch(url, json={"content": "stale write", "expected_version": 1})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "version_conflict"
    assert r.json()["error"]["details"] == {"current_version": 2}
    r = await client.patch(url, json={"user_id": "u9", "expected_version": 2})
    assert r.status_code == 200 and r.json()["version"] == 3
    assert (await client.get(url)).json()["content"] == after["content"]

    # invalid status transitions
    for target in ("merged", "deleted"):  # (pending -> pending is a no-op)
        r = await client.patch(url, json={"status": target})
        assert r.status_code == 409, (target, r.text)
        assert r.json()["error"]["code"] == "invalid_status_change"
    assert (await client.get(url)).json()["version"] == 3
    # archived -> merged is not allowed either; archived -> active is a restore
    assert (await client.patch(url, json={"status": "archived"})).json()["status"] == "archived"
    assert (await client.patch(url, json={"status": "merged"})).status_code == 409
    r = await client.patch(url, json={"status": "active"})
    assert r.status_code == 200 and r.json()["version"] == 5
    assert (await client.get(f"{url}/history")).json()["versions"][-1]["change_kind"] == "restore"

    # changing the type revalidates fields against the new type
    r = await client.patch(url, json={"memory_type": "core", "fields": {"label": "human"}})
    assert r.status_code == 200 and r.json()["fields"] == {"label": "human"}
    r = await client.patch(url, json={"memory_type": "procedural"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_fields"
    assert (await client.get(url)).json()["memory_type"] == "core"


async def test_soft_delete_and_restore(client, cube):
    cid = cube["id"]
    (mem, other) = await _add(
        client, cid, {"content": "The walrus collects antique harmonicas"}, {"content": "filler"}
    )
    url = f"/v1/cubes/{cid}/memories/{mem['id']}"
    assert (await client.delete(url)).status_code == 204
    got = (await client.get(url)).json()
    assert got["status"] == "deleted" and got["content"] == mem["content"]
    assert got["version"] == 2
    for mode in ("lexical", "dense", "hybrid"):
        r = await client.post(
            f"/v1/cubes/{cid}/search",
            json={"query": "walrus antique harmonicas", "mode": mode, "top_k": 50},
        )
        assert mem["id"] not in [h["memory"]["id"] for h in r.json()["results"]], mode
    listed = (await client.get(f"/v1/cubes/{cid}/memories")).json()["items"]
    assert [m["id"] for m in listed] == [other["id"]]
    assert (await client.get(f"/v1/cubes/{cid}")).json()["memory_count"] == 1
    # deleting again is idempotent, no extra version
    assert (await client.delete(url)).status_code == 204
    hist = (await client.get(f"{url}/history")).json()["versions"]
    assert [v["change_kind"] for v in hist] == ["create", "delete"]
    assert hist[1]["snapshot"]["status"] == "deleted"

    r = await client.post(f"{url}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["version"] == 3
    hist = (await client.get(f"{url}/history")).json()["versions"]
    assert [v["change_kind"] for v in hist] == ["create", "delete", "restore"]
    assert [v["version"] for v in hist] == [1, 2, 3]
    assert await _lexical(client, cid, "walrus") == [mem["id"]]
    # restoring an active memory is a no-op
    r = await client.post(f"{url}/restore")
    assert r.status_code == 200 and r.json()["version"] == 3


async def test_hard_delete_purges_memory_and_its_context(client, cube, db_url):
    cid = cube["id"]
    first, second, third = await _add(
        client,
        cid,
        {"content": "My grandmother's recipe uses cardamom and saffron", "session_id": "chat"},
        {"content": "I will cook it tonight", "session_id": "chat"},
        {"content": "Unrelated turn elsewhere", "session_id": "other"},
    )
    # the next turn of the same session is indexed with the previous turn as context
    assert set(await _lexical(client, cid, "cardamom saffron")) == {first["id"], second["id"]}
    url = f"/v1/cubes/{cid}/memories/{first['id']}"
    r = await client.delete(url, params={"hard": "true"})
    assert r.status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get(f"{url}/history")).status_code == 404
    assert (await client.post(f"{url}/restore")).status_code == 404
    assert (await client.delete(url, params={"hard": "true"})).status_code == 404
    with psycopg.connect(libpq_url(db_url)) as conn:
        n_versions = conn.execute(
            "SELECT count(*) FROM memory_versions WHERE memory_id = %s", (first["id"],)
        ).fetchone()
        n_rows = conn.execute(
            "SELECT count(*) FROM memories WHERE id = %s", (first["id"],)
        ).fetchone()
        leftovers = conn.execute(
            "SELECT count(*) FROM memories WHERE search_tsv @@ to_tsquery('english', 'cardamom')"
            " OR content ILIKE '%%cardamom%%'"
        ).fetchone()
    assert n_versions == (0,) and n_rows == (0,) and leftovers == (0,)
    # no neighbour matches the purged words any more; the neighbour's own words still work
    assert await _lexical(client, cid, "cardamom saffron grandmother recipe") == []
    assert await _lexical(client, cid, "cook tonight") == [second["id"]]
    assert (await client.get(f"/v1/cubes/{cid}/memories/{second['id']}")).status_code == 200
    assert (await client.get(f"/v1/cubes/{cid}/memories/{third['id']}")).status_code == 200
    # a soft-deleted memory can be hard-deleted too
    sec = f"/v1/cubes/{cid}/memories/{second['id']}"
    assert (await client.delete(sec)).status_code == 204
    assert (await client.delete(sec, params={"hard": "true"})).status_code == 204
    assert (await client.get(sec)).status_code == 404


async def test_neighbour_context_follows_content_edits(client, cube):
    cid = cube["id"]
    first, second = await _add(
        client,
        cid,
        {"content": "We talked about the pelican", "session_id": "s"},
        {"content": "It was huge", "session_id": "s"},
    )
    assert set(await _lexical(client, cid, "pelican")) == {first["id"], second["id"]}
    r = await client.patch(
        f"/v1/cubes/{cid}/memories/{first['id']}", json={"content": "We talked about the otter"}
    )
    assert r.status_code == 200
    assert await _lexical(client, cid, "pelican") == []
    assert set(await _lexical(client, cid, "otter")) == {first["id"], second["id"]}
    # own text outranks context text
    r = await client.post(f"/v1/cubes/{cid}/search", json={"query": "otter", "mode": "lexical"})
    assert r.json()["results"][0]["memory"]["id"] == first["id"]


async def test_cube_soft_and_hard_delete(client, db_url):
    cube = (await client.post("/v1/cubes", json={"name": "tmp"})).json()
    cid = cube["id"]
    await _add(client, cid, {"content": "inside the cube"})
    assert (await client.delete(f"/v1/cubes/{cid}")).status_code == 204
    assert (await client.get(f"/v1/cubes/{cid}")).status_code == 404
    assert (await client.get(f"/v1/cubes/{cid}/memories")).status_code == 404
    assert cid not in [c["id"] for c in (await client.get("/v1/cubes")).json()["items"]]
    r = await client.post(f"/v1/cubes/{cid}/restore")
    assert r.status_code == 200 and r.json()["memory_count"] == 1
    assert (await client.delete(f"/v1/cubes/{cid}", params={"hard": "true"})).status_code == 204
    assert (await client.post(f"/v1/cubes/{cid}/restore")).status_code == 404
    with psycopg.connect(libpq_url(db_url)) as conn:
        row = conn.execute("SELECT count(*) FROM memories WHERE cube_id = %s", (cid,)).fetchone()
    assert row == (0,)
    # the name is free again; duplicate names in one tenant are 409
    assert (await client.post("/v1/cubes", json={"name": "tmp"})).status_code == 201
    r = await client.post("/v1/cubes", json={"name": "tmp"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "cube_exists"


async def test_the_turn_after_is_context_too_and_leaves_with_it(client, cube, db_url):
    cid = cube["id"]
    question, answer = await _add(
        client,
        cid,
        {"content": "Where did you go last summer?", "session_id": "chat"},
        {"content": "Lisbon, for the tiled palaces", "session_id": "chat"},
    )
    # the question is findable by its answer's words (weaker than the answer itself)
    assert await _lexical(client, cid, "Lisbon palaces") == [answer["id"], question["id"]]
    edit = await client.patch(
        f"/v1/cubes/{cid}/memories/{answer['id']}", json={"content": "Porto, for the wine"}
    )
    assert edit.status_code == 200
    assert await _lexical(client, cid, "Lisbon palaces") == []
    assert await _lexical(client, cid, "Porto wine") == [answer["id"], question["id"]]
    r = await client.delete(f"/v1/cubes/{cid}/memories/{answer['id']}", params={"hard": "true"})
    assert r.status_code == 204
    assert await _lexical(client, cid, "Porto wine") == []
    with psycopg.connect(libpq_url(db_url)) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM memories WHERE search_tsv @@ to_tsquery('english', 'porto')"
        ).fetchone()
    assert leftovers == (0,)


async def test_a_client_sets_validity_and_search_and_as_of_follow_it(client, cube):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/memories"
    [old] = await _add(
        client,
        cid,
        {"content": "Ana works at Initech", "valid_from": "2025-01-01T00:00:00Z"},
    )
    assert _ts(old["valid_from"]) == _ts("2025-01-01T00:00:00Z") and old["valid_to"] is None
    [new] = await _add(
        client, cid, {"content": "Ana works at Globex", "valid_from": "2026-01-01T00:00:00Z"}
    )
    bad = await client.patch(f"{url}/{old['id']}", json={"valid_to": "2024-06-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_validity"
    r = await client.patch(
        f"{url}/{old['id']}",
        json={"valid_to": "2026-01-01T00:00:00Z", "reason": "changed jobs"},
    )
    assert r.status_code == 200, r.text
    history = (await client.get(f"{url}/{old['id']}/history")).json()["versions"]
    assert history[-1]["changed_fields"] == ["valid_to"]
    assert history[-1]["reason"] == "changed jobs"

    async def first(**body: Any) -> dict[str, Any]:
        r = await client.post(
            f"/v1/cubes/{cid}/search", json={"query": "Where does Ana work?", **body}
        )
        assert r.status_code == 200, r.text
        return r.json()["results"][0]

    now = await first()
    assert now["memory"]["id"] == new["id"]
    then = await first(as_of="2025-06-01T00:00:00Z")
    assert then["memory"]["id"] == old["id"] and "validity" not in then["scores"]
    r = await client.post(
        url,
        json={
            "items": [
                {
                    "content": "x",
                    "valid_from": "2026-01-02T00:00:00Z",
                    "valid_to": "2026-01-01T00:00:00Z",
                }
            ]
        },
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_validity"
