"""Enrichment through the LLM path (litellm `mock_response`, no network) on real PostgreSQL:
the model's note, links, evolution and triples land in the store, and every call's tokens and
cost are recorded for the tenant and cube; invalid output falls back to the rule path."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from api.main import create_app
from memsvc.config import Settings
from memsvc.models.llm import LLM
from memsvc.store.db import libpq_url
from tests.conftest import ADMIN_KEY
from workers.runner import work_until_idle

MODEL = "gpt-4o-mini"  # in litellm's local cost map: the cost is known and > 0

FIRST = "Maya adopted a greyhound called Biscuit from the rescue centre."
SECOND = "Biscuit the greyhound won the local dog show on Saturday."

NOTE_1 = {"keywords": ["greyhound", "rescue centre"], "tags": ["pets"], "context": "Maya adopts."}
GRAPH_1 = {
    "entities": ["Maya", "Biscuit"],
    "triples": [["Maya", "adopted", "Biscuit"], ["Biscuit", "is a", "greyhound"]],
}
NOTE_2 = {"keywords": ["dog show"], "tags": ["pets", "events"], "context": "Biscuit wins."}
GRAPH_2 = {"entities": ["Biscuit"], "triples": [["Biscuit", "won", "local dog show"]]}
LINKS_2 = {
    "links": [{"neighbour": 1, "type": "same_entity", "strength": 0.9}],
    "new_note_tags": None,
    "neighbour_updates": [
        {"neighbour": 1, "tags": ["pets", "adoption"], "context": "Maya adopts Biscuit."}
    ],
}


@contextlib.asynccontextmanager
async def _app(
    db_url: str, settings: Settings, embedder: Any, replies: list[str]
) -> AsyncIterator[Any]:
    """The service with a model configured whose successive replies are `replies`."""
    llm = LLM(settings.model_copy(update={"llm_model": MODEL}), mock_responses=replies)
    app = create_app(settings, database_url=db_url, embedder=embedder, llm=llm)
    async with app.router.lifespan_context(app):
        yield app


async def _tenant(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as admin:
        tenant = (await admin.post("/v1/admin/tenants", json={"name": "llm"})).json()
        key = (
            await admin.post(
                "/v1/admin/keys", json={"tenant_id": tenant["id"], "scopes": ["read", "write"]}
            )
        ).json()
    return httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {key['key']}"}
    )


async def _add_two(app: Any, client: httpx.AsyncClient) -> tuple[str, list[str]]:
    cube = (await client.post("/v1/cubes", json={"name": "c"})).json()
    r = await client.post(
        f"/v1/cubes/{cube['id']}/memories",
        json={"items": [{"content": FIRST}, {"content": SECOND}]},
    )
    assert r.status_code == 201, r.text
    return cube["id"], [m["id"] for m in r.json()["items"]]


def _note_sources(db_url: str, ids: list[str]) -> list[str]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        return [
            conn.execute("SELECT note_source FROM memories WHERE id = %s", (i,)).fetchone()[0]  # type: ignore[index]
            for i in ids
        ]


async def test_llm_notes_links_evolution_and_triples_are_stored(db_url, test_settings, embedder):
    # calls in order: note and triples of each new memory, then links of the second (the first
    # has no note to link to yet)
    replies = [json.dumps(x) for x in (NOTE_1, GRAPH_1, NOTE_2, GRAPH_2, LINKS_2)]
    async with _app(db_url, test_settings, embedder, replies) as llm_app:
        await _check_llm_results(llm_app, db_url)


async def _check_llm_results(llm_app: Any, db_url: str) -> None:
    client = await _tenant(llm_app)
    cube_id, (first, second) = await _add_two(llm_app, client)
    await work_until_idle(db_url, llm_app.state.runtime)

    m1 = (await client.get(f"/v1/cubes/{cube_id}/memories/{first}")).json()
    assert m1["keywords"] == ["greyhound", "rescue centre"]
    assert m1["tags"] == ["pets", "adoption"]  # evolved by the second note
    assert m1["context"] == "Maya adopts Biscuit."
    history = (await client.get(f"/v1/cubes/{cube_id}/memories/{first}/history")).json()
    kinds = [v["change_kind"] for v in history["versions"]]
    assert kinds == ["create", "enrichment", "evolution"]
    assert history["versions"][2]["reason"].endswith("(llm)")
    assert _note_sources(db_url, [first, second]) == ["llm", "llm"]

    links = (await client.get(f"/v1/cubes/{cube_id}/memories/{second}/links")).json()["links"]
    assert [(x["memory"]["id"], x["link"]["link_type"]) for x in links] == [(first, "same_entity")]
    assert links[0]["link"]["weight"] == pytest.approx(0.9)
    assert links[0]["link"]["created_by"] == "llm"

    graph = (await client.get(f"/v1/cubes/{cube_id}/graph")).json()
    keys = {n["key"]: n["memory_count"] for n in graph["nodes"]}
    assert keys["biscuit"] == 2 and keys["maya"] == 1 and "local dog show" in keys
    relations = {e["relation"] for e in graph["edges"] if e["kind"] == "relation"}
    assert {"adopted", "is a", "won"} <= relations

    usage = (await client.get("/v1/usage")).json()
    tasks = {(row["task"], row["cube_id"]) for row in usage["rows"]}
    assert tasks == {("note", cube_id), ("extraction", cube_id), ("links", cube_id)}
    assert all(row["cost_usd"] > 0 and row["fallbacks"] == 0 for row in usage["rows"])
    assert sum(row["calls"] for row in usage["rows"]) == 5
    await client.aclose()


async def test_invalid_output_falls_back_to_the_rule_path(db_url, test_settings, embedder):
    # every call gets three invalid replies (the last one repeats for later calls)
    bad = ["not json at all", '{"keywords": 3}', "```json\n{oops}\n```"]
    async with _app(db_url, test_settings, embedder, bad) as llm_app:
        await _check_fallbacks(llm_app, db_url)


async def _check_fallbacks(llm_app: Any, db_url: str) -> None:
    client = await _tenant(llm_app)
    cube_id, ids = await _add_two(llm_app, client)
    await work_until_idle(db_url, llm_app.state.runtime)
    assert _note_sources(db_url, ids) == ["heuristic", "heuristic"]
    m1 = (await client.get(f"/v1/cubes/{cube_id}/memories/{ids[0]}")).json()
    assert m1["keywords"] and m1["context"]  # the deterministic note
    usage = (await client.get("/v1/usage")).json()["rows"]
    assert usage and all(row["fallbacks"] == row["calls"] for row in usage)
    assert all(row["prompt_tokens"] > 0 for row in usage)  # failed attempts were paid for
    await client.aclose()
