"""Memory organisation end to end, on the deterministic path (no LLM) and real embeddings:
notes, links, evolution, the entity graph, graph search, links in search, time, and what
updates and hard deletes do to all of it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg

from memsvc.services import enrichment
from memsvc.store.db import libpq_url
from tests.api.memory_http import get_memory as _get
from tests.api.memory_http import history as _history
from workers.runner import work_until_idle

PETS = [
    "Alice adopted a beagle named Rex from the shelter.",
    "Alice adopted a beagle puppy named Rex from the animal shelter.",
    "Rex chewed Alice's new running shoes yesterday.",
    "The quarterly budget report for the finance team is due on Friday.",
]


async def _add(client: httpx.AsyncClient, cube_id: str, contents: list[str], **extra: Any) -> Any:
    # PETS holds a near-duplicate pair on purpose (to see evolution): keep both.
    r = await client.post(
        f"/v1/cubes/{cube_id}/memories",
        json={"items": [{"content": c, **extra} for c in contents], "deduplicate": False},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _enriched(app: Any, db_url: str, client: httpx.AsyncClient, cube_id: str) -> list[dict]:
    body = await _add(client, cube_id, PETS)
    assert body["job_id"] is not None
    await work_until_idle(db_url, app.state.runtime)
    job = (await client.get(f"/v1/jobs/{body['job_id']}")).json()
    assert job["status"] == "done", job
    assert job["kind"] == "enrich_memories"
    return list(body["items"])


async def _links(client: httpx.AsyncClient, cube_id: str, memory_id: str) -> list[dict]:
    r = await client.get(f"/v1/cubes/{cube_id}/memories/{memory_id}/links")
    assert r.status_code == 200, r.text
    return r.json()["links"]


async def test_notes_are_built_as_a_versioned_change(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    for item in items:
        assert item["keywords"] == [] and item["version"] == 1  # nothing before the job
    first = await _get(client, cube["id"], items[0]["id"])
    assert first["keywords"], first
    assert first["tags"], first
    assert first["context"] and first["context"] != "General"
    history = await _history(client, cube["id"], items[3]["id"])
    assert [v["change_kind"] for v in history] == ["create", "enrichment"]
    assert set(history[1]["changed_fields"]) >= {"keywords", "context"}
    assert history[1]["actor"] == "enrichment"
    assert (
        history[1]["snapshot"]["keywords"]
        == (await _get(client, cube["id"], items[3]["id"]))["keywords"]
    )


async def test_similar_notes_link_and_unrelated_do_not(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    ids = [m["id"] for m in items]
    second = await _links(client, cube["id"], ids[1])
    targets = {link["memory"]["id"]: link["link"] for link in second}
    assert ids[0] in targets, second
    assert targets[ids[0]]["direction"] == "out"  # the newer note made the link
    assert targets[ids[0]]["created_by"] == "heuristic"
    assert targets[ids[0]]["link_type"] == "similar"
    assert 0.6 <= targets[ids[0]]["weight"] <= 1.0
    assert ids[3] not in targets
    first = {
        link["memory"]["id"]: link["link"] for link in await _links(client, cube["id"], ids[0])
    }
    assert first[ids[1]]["direction"] == "in"
    report = await _links(client, cube["id"], ids[3])
    assert all(link["memory"]["id"] not in ids[:2] for link in report)


async def test_a_near_duplicate_evolves_its_neighbour(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    history = await _history(client, cube["id"], items[0]["id"])
    kinds = [v["change_kind"] for v in history]
    assert kinds[:2] == ["create", "enrichment"]
    assert "evolution" in kinds, history
    evolution = history[kinds.index("evolution")]
    assert evolution["reason"].startswith("evolution")
    assert items[1]["id"] in evolution["reason"]
    assert "tags" in evolution["changed_fields"]
    before = history[kinds.index("evolution") - 1]["snapshot"]["tags"]
    after = evolution["snapshot"]["tags"]
    assert set(before) < set(after)  # heuristic evolution only adds tags
    assert (await _get(client, cube["id"], items[0]["id"]))["tags"] == after


async def test_graph_endpoint_lists_entities_and_relations_in_pages(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    r = await client.get(f"/v1/cubes/{cube['id']}/graph", params={"limit": 1000})
    assert r.status_code == 200, r.text
    graph = r.json()
    keys = {n["key"]: n for n in graph["nodes"]}
    assert {"alice", "rex"} <= set(keys), keys
    assert keys["rex"]["memory_count"] == 3
    assert graph["counts"]["nodes"] == len(graph["nodes"])
    assert graph["version"] >= len(items)
    relations = [e for e in graph["edges"] if e["kind"] == "relation"]
    assert relations and all(e["memory_id"] in {m["id"] for m in items} for e in relations)
    node_ids = {n["id"] for n in graph["nodes"]}
    assert all(e["src_id"] in node_ids and e["dst_id"] in node_ids for e in graph["edges"])

    seen_nodes, seen_edges, cursor = [], [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"/v1/cubes/{cube['id']}/graph", params=params)).json()
        seen_nodes += [n["id"] for n in page["nodes"]]
        seen_edges += [e["id"] for e in page["edges"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen_nodes == [n["id"] for n in graph["nodes"]]
    assert seen_edges == [e["id"] for e in graph["edges"]]
    bad = await client.get(f"/v1/cubes/{cube['id']}/graph", params={"cursor": "forged"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_graph_mode_and_graph_signal_in_hybrid(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    r = await client.post(
        f"/v1/cubes/{cube['id']}/search", json={"query": "What did Rex chew?", "mode": "graph"}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results and "graph" in results[0]["scores"]
    found = [h["memory"]["id"] for h in results]
    assert items[3]["id"] not in found[:3]  # the budget report mentions no queried entity
    assert set(found[:3]) == {m["id"] for m in items[:3]}
    hybrid = await client.post(f"/v1/cubes/{cube['id']}/search", json={"query": "Rex chewed shoes"})
    top = hybrid.json()["results"][0]
    assert top["memory"]["id"] == items[2]["id"]
    assert {"lexical", "dense", "graph"} <= set(top["scores"])
    off = await client.post(
        f"/v1/cubes/{cube['id']}/search",
        json={"query": "Rex chewed shoes", "fusion": {"graph_weight": 0}},
    )
    assert "graph" not in off.json()["results"][0]["scores"]


async def test_graph_mode_without_known_entities_falls_back_to_dense(app, db_url, client, cube):
    await _enriched(app, db_url, client, cube["id"])
    r = await client.post(
        f"/v1/cubes/{cube['id']}/search",
        json={"query": "money spreadsheet deadline", "mode": "graph", "top_k": 1},
    )
    assert r.status_code == 200, r.text
    [hit] = r.json()["results"]
    assert "graph" not in hit["scores"] and "dense" in hit["scores"]
    assert "budget" in hit["memory"]["content"]


async def test_include_links_expands_hits(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    r = await client.post(
        f"/v1/cubes/{cube['id']}/search",
        json={"query": "beagle puppy from the animal shelter", "include_links": True, "top_k": 1},
    )
    [hit] = r.json()["results"]
    assert hit["memory"]["id"] == items[1]["id"]
    linked = {x["memory"]["id"] for x in hit["linked"]}
    assert items[0]["id"] in linked
    assert [link["memory_id"] for link in hit["memory"]["links"]] == [
        x["memory"]["id"] for x in hit["linked"]
    ]
    plain = await client.post(
        f"/v1/cubes/{cube['id']}/search", json={"query": "beagle puppy", "top_k": 1}
    )
    assert plain.json()["results"][0]["linked"] is None


def _graph_rows(db_url: str, cube_id: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE cube_id = %s", (cube_id,)
            ).fetchone()[0]  # type: ignore[index]
            for table in ("graph_nodes", "graph_edges", "graph_mentions", "memory_links")
        }


async def test_hard_delete_purges_links_and_graph_facts(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    report = items[3]["id"]
    before = (await client.get(f"/v1/cubes/{cube['id']}/graph", params={"limit": 1000})).json()
    budget_nodes = {n["key"] for n in before["nodes"] if n["memory_count"] == 1} & {
        "quarterly budget report",
        "budget report",
        "finance team",
        "quarterly budget",
    }
    assert budget_nodes, [n["key"] for n in before["nodes"]]
    r = await client.delete(f"/v1/cubes/{cube['id']}/memories/{report}", params={"hard": "true"})
    assert r.status_code == 204
    after = (await client.get(f"/v1/cubes/{cube['id']}/graph", params={"limit": 1000})).json()
    assert not budget_nodes & {n["key"] for n in after["nodes"]}
    assert all(e["memory_id"] != report for e in after["edges"])
    assert after["version"] > before["version"]
    with psycopg.connect(libpq_url(db_url)) as conn:
        left = conn.execute(
            "SELECT count(*) FROM memory_links WHERE source_id = %s OR target_id = %s",
            (report, report),
        ).fetchone()
    assert left == (0,)
    # a soft delete keeps the facts (it is restorable) but hides the memory from links
    r = await client.delete(f"/v1/cubes/{cube['id']}/memories/{items[0]['id']}")
    assert r.status_code == 204
    assert items[0]["id"] not in {
        x["memory"]["id"] for x in await _links(client, cube["id"], items[1]["id"])
    }


async def test_content_update_rebuilds_note_links_and_facts(app, db_url, client, cube):
    items = await _enriched(app, db_url, client, cube["id"])
    target = items[3]["id"]
    r = await client.patch(
        f"/v1/cubes/{cube['id']}/memories/{target}",
        json={"content": "Alice took her beagle Rex to the shelter's adoption reunion party."},
    )
    assert r.status_code == 200, r.text
    await work_until_idle(db_url, app.state.runtime)
    after = await _get(client, cube["id"], target)
    assert not any("budget" in k.lower() for k in after["keywords"]), after["keywords"]
    kinds = [v["change_kind"] for v in await _history(client, cube["id"], target)]
    assert kinds[:3] == ["create", "enrichment", "user_update"]
    assert kinds[3] == "enrichment"
    graph = (await client.get(f"/v1/cubes/{cube['id']}/graph", params={"limit": 1000})).json()
    keys = {n["key"]: n["memory_count"] for n in graph["nodes"]}
    assert keys["rex"] == 4
    assert "finance team" not in keys
    assert await _links(client, cube["id"], target)  # now it relates to the pet memories


async def test_enrichment_job_is_idempotent(app, db_url, client, cube):
    await _enriched(app, db_url, client, cube["id"])
    counts = _graph_rows(db_url, cube["id"])
    # the same job run again (a retry after a crash) finds every note built and changes nothing
    ids = [
        row[0]
        for row in psycopg.connect(libpq_url(db_url))
        .execute("SELECT id FROM memories WHERE cube_id = %s", (cube["id"],))
        .fetchall()
    ]
    result = await enrichment.enrich_memories(
        app.state.runtime,
        job_id=uuid.uuid4(),
        tenant_id=uuid.UUID(client.tenant_id),
        cube_id=uuid.UUID(cube["id"]),
        memory_ids=ids,
    )
    assert result.memories == 0 and result.skipped == len(ids)
    assert _graph_rows(db_url, cube["id"]) == counts


async def test_time_expressions_boost_or_filter_by_occurred_at(app, db_url, client, cube):
    may = await _add(
        client,
        cube["id"],
        ["Went hiking with Sam in the mountains."],
        occurred_at="2023-05-14T10:00:00Z",
    )
    july = await _add(
        client,
        cube["id"],
        ["Went hiking with Sam by the lake."],
        occurred_at="2023-07-02T10:00:00Z",
    )
    await _add(
        client,
        cube["id"],
        ["May I borrow your tent?", "The 2023 tax forms are filed.", "Sam bought new boots."],
        occurred_at="2023-03-01T10:00:00Z",
    )
    query = {"query": "Where did I go hiking in May 2023?", "top_k": 2}
    r = (await client.post(f"/v1/cubes/{cube['id']}/search", json=query)).json()
    assert r["results"][0]["memory"]["id"] == may["items"][0]["id"]
    assert r["results"][0]["scores"]["time"] == 1.0
    assert r["results"][1]["scores"]["time"] < 1.0
    assert r["results"][0]["memory"]["occurred_at"].startswith("2023-05-14")
    [window] = r["time_windows"]
    assert window["start"].startswith("2023-05-01") and window["end"].startswith("2023-06-01")
    filtered = (
        await client.post(f"/v1/cubes/{cube['id']}/search", json={**query, "time": "filter"})
    ).json()
    assert [h["memory"]["id"] for h in filtered["results"]] == [may["items"][0]["id"]]
    # "last week" is read from `now`
    relative = (
        await client.post(
            f"/v1/cubes/{cube['id']}/search",
            json={
                "query": "hiking last week",
                "time": "filter",
                "now": "2023-07-05T12:00:00Z",
            },
        )
    ).json()
    assert [h["memory"]["id"] for h in relative["results"]] == [july["items"][0]["id"]]
    off = (
        await client.post(f"/v1/cubes/{cube['id']}/search", json={**query, "time": "off"})
    ).json()
    assert off["time_windows"] == [] and "time" not in off["results"][0]["scores"]


async def test_links_and_graph_are_tenant_isolated(app, db_url, client, cube, tenant_client):
    items = await _enriched(app, db_url, client, cube["id"])
    other = await tenant_client()
    for path in (
        f"/v1/cubes/{cube['id']}/graph",
        f"/v1/cubes/{cube['id']}/memories/{items[0]['id']}/links",
    ):
        r = await other.get(path)
        assert r.status_code == 404, (path, r.text)
    own = (await other.post("/v1/cubes", json={"name": "mine"})).json()
    r = await other.get(f"/v1/cubes/{own['id']}/memories/{items[0]['id']}/links")
    assert r.status_code == 404 and r.json()["error"]["code"] == "memory_not_found"
    assert (await other.get(f"/v1/cubes/{own['id']}/graph")).json()["nodes"] == []
