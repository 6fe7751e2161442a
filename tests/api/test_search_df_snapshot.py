"""The common-word snapshot of large cubes (StatsCache + ts_stat) on real PostgreSQL: its
counts are the exact counts, searches build it in the background, and a word new since it is
still found (counted, not read from the snapshot)."""

from __future__ import annotations

import asyncio
import uuid

from memsvc.services import search as search_service
from memsvc.services.runtime import StatsCache
from memsvc.store import search as search_store

TEXTS = [
    "Maya took the train to Lisbon for the conference.",
    "Maya took her dog to the vet on Monday.",
    "The train to Porto was late again.",
    "Luca baked bread for the neighbours.",
    "The dog chased the train along the fence.",
]


async def _add(client, cube_id: str, texts: list[str]) -> list[str]:
    r = await client.post(
        f"/v1/cubes/{cube_id}/memories", json={"items": [{"content": t} for t in texts]}
    )
    assert r.status_code == 201, r.text
    return [m["id"] for m in r.json()["items"]]


async def test_snapshot_counts_equal_exact_counts(app, client, cube):
    await _add(client, cube["id"], TEXTS)
    rt = app.state.runtime
    key = (uuid.UUID(cube["id"]),)
    async with rt.db.transaction() as conn:
        snapshot = await search_store.common_document_frequencies(conn, cube_ids=key, min_df=1)
        exact = await search_store.document_frequencies(conn, cube_ids=key, lexemes=list(snapshot))
        common = await search_store.common_document_frequencies(conn, cube_ids=key, min_df=3)
    assert snapshot == exact
    assert snapshot["train"] == 3 and snapshot["maya"] == 2 and snapshot["luca"] == 1
    assert common == {"train": 3}


async def test_search_builds_the_snapshot_and_still_finds_new_words(app, client, cube):
    await _add(client, cube["id"], TEXTS)
    rt = app.state.runtime
    rt.stats = StatsCache(min_docs=1, snapshot_min_df=2)
    key = (uuid.UUID(cube["id"]),)
    url = f"/v1/cubes/{cube['id']}/search"
    r = await client.post(url, json={"query": "train", "mode": "lexical"})
    assert r.status_code == 200, r.text
    await asyncio.gather(*search_service._BACKGROUND)
    known, missing = rt.stats.document_frequencies(key, ["maya", "dog", "luca", "quokka"])
    assert known == {"maya": 2, "dog": 2}  # from the snapshot
    assert missing == ["luca", "quokka"]  # rare: left to the exact count
    [new_id] = await _add(client, cube["id"], ["A quokka visited the campsite at dawn."])
    r = await client.post(url, json={"query": "quokka", "mode": "lexical"})
    assert [hit["memory"]["id"] for hit in r.json()["results"]] == [new_id]
