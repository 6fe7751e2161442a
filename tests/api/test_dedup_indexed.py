"""Write-time dedup in large cubes: the near-duplicate probe through the HNSW index.

Cubes over `dedup_exact_max_rows` memories find each new memory's nearest stored one through
the index (its 24 nearest embeddings, then the owner filters), and fall back to an exact scan
when those 24 are all close enough to be duplicates yet none is the owner's. The app here sets
the limit to 0, so every add takes the index path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from memsvc.algorithms.dedup import DuplicateProbe
from memsvc.config import Settings
from memsvc.domain.memory import content_hash
from memsvc.models.embedder import Embedder
from memsvc.store import lifecycle as lifecycle_store
from tests.conftest import started_app

PETS = [
    "Alice adopted a beagle named Rex from the shelter.",
    "Bruno bought a grey parrot called Pico at the market.",
    "Chen rescued a tabby cat named Miso during the storm.",
    "Dara keeps two goldfish, Sun and Moon, on her desk.",
    "Emil walks his husky Nanook along the river every morning.",
    "Farah's tortoise Sheldon turned forty last spring.",
    "Gus trained his border collie Pip to herd the ducks.",
    "Hana feeds the stray cats behind the bakery on Fridays.",
]


@pytest.fixture
async def app(db_url: str, test_settings: Settings, embedder: Embedder) -> AsyncIterator[Any]:
    async with started_app(test_settings, db_url, embedder, dedup_exact_max_rows=0) as started:
        yield started


async def _add(client: httpx.AsyncClient, cube_id: str, items: list[dict[str, Any]]) -> Any:
    r = await client.post(f"/v1/cubes/{cube_id}/memories", json={"items": items})
    assert r.status_code == 201, r.text
    return r.json()


async def test_near_duplicate_found_through_the_index(app, client, cube):
    cid = cube["id"]
    stored = (await _add(client, cid, [{"content": t, "session_id": "s1"} for t in PETS]))["items"]
    near = await _add(
        client,
        cid,
        [
            {"content": "alice adopted a beagle named Rex from the shelter", "session_id": "s1"},
            {"content": "Chen rescued a tabby cat named Miso during the storm", "session_id": "s1"},
            {"content": "Ivo repaired the old lighthouse lamp.", "session_id": "s1"},
        ],
    )
    assert near["duplicates"] == [
        {"index": 0, "memory_id": stored[0]["id"], "match": "near"},
        {"index": 1, "memory_id": stored[2]["id"], "match": "near"},
    ]
    # the owner filters still hold after the index: another user's or session's is no repeat
    other = await _add(
        client,
        cid,
        [
            {"content": "alice adopted a beagle named Rex from the shelter", "user_id": "u2"},
            {"content": "alice adopted a beagle named Rex from the shelter", "session_id": "s9"},
        ],
    )
    assert other["duplicates"] == []


async def test_crowded_neighbourhood_falls_back_to_the_exact_scan(app, client, cube):
    """30 other users' copies of a sentence fill the probe's 24 nearest; the owner's own
    near-identical memory is 25th or later, and is still found."""
    cid = cube["id"]
    text = "Alice adopted a beagle named Rex from the shelter."
    crowd = [{"content": text, "user_id": f"crowd-{i}"} for i in range(30)]
    await _add(client, cid, crowd)
    [mine] = (
        await _add(client, cid, [{"content": "alice adopted a beagle named Rex from the shelter"}])
    )["items"]
    repeat = await _add(client, cid, [{"content": text}])  # same words as the crowd's
    assert repeat["duplicates"] == [{"index": 0, "memory_id": mine["id"], "match": "near"}]


async def test_index_and_exact_paths_agree(app, client, cube, embedder):
    cid = cube["id"]
    stored = (await _add(client, cid, [{"content": t, "user_id": "u1"} for t in PETS]))["items"]
    variants = [t.lower().rstrip(".") for t in PETS] + ["Quinn painted the garden fence blue."]
    owners = ["u1"] * len(PETS) + ["u1"]
    owners[3] = "u2"  # one variant of another user's
    vectors = embedder.embed(variants)
    probes = [
        DuplicateProbe(
            memory_type="episodic",
            content_hash=content_hash(v),
            vector=vec,
            user_id=owner,
            agent_id=None,
            session_id=None,
            occurred_at=None,
        )
        for v, vec, owner in zip(variants, vectors, owners, strict=True)
    ]
    rt = app.state.runtime
    results = {}
    for exact in (True, False):
        async with rt.db.transaction() as conn:
            results[exact] = await lifecycle_store.find_duplicates(
                conn,
                cube_id=cube["id"],
                probes=probes,
                threshold=rt.settings.dedup_threshold,
                exact_scan=exact,
            )
    assert results[True] == results[False]
    expected = [(m["id"], "near") for m in stored]
    expected[3] = None
    got = [None if r is None else (str(r[0]), r[1]) for r in results[False]]
    assert got == [*expected, None]
