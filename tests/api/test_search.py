"""Search on real embeddings: each mode, scores, filters, as_of, min_score, reinforcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

CORPUS = [
    "Alice adopted a beagle puppy named Rex last spring",
    "The quarterly budget meeting was moved to Thursday afternoon",
    "Bob is allergic to peanuts and shellfish",
    "Our flight to Tokyo departs from gate 42 at 7am",
    "The kitchen sink has been leaking since Monday",
    "Carol finished reading War and Peace on her vacation",
    "The server migration to PostgreSQL 16 is scheduled for May",
    "Dave prefers his coffee black with no sugar",
    "The garden tomatoes ripened early because of the heat wave",
    "Eve's daughter starts kindergarten in September",
    "The car needs new brake pads before the road trip",
    "Frank plays bass guitar in a jazz band on weekends",
    "The library book about volcanoes is overdue by two weeks",
    "Grace ran her first marathon in under four hours",
    "The password manager subscription renews in January",
    "Henry is learning Portuguese for his move to Brazil",
    "The thermostat was set to 21 degrees to save energy",
    "Ivy planted three apple trees in the backyard orchard",
    "The team retrospective highlighted slow code reviews",
    "Jack broke his wrist skateboarding in the park",
]

# (query, index of the memory it is about): no query shares a content word with its memory
PARAPHRASES = [
    ("Which person got a dog?", 0),
    ("someone cannot eat nuts or seafood", 2),
    ("water dripping under the faucet", 4),
    ("who completed a long running race", 13),
    ("fractured bone accident", 19),
]


async def _seed(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    items = [
        {
            "content": text,
            "user_id": "even" if i % 2 == 0 else "odd",
            "session_id": f"s{i % 4}",
            "tags": ["people"] if text.split()[0][0].isupper() and "The" not in text else ["misc"],
            "metadata": {"i": i, "group": "a" if i < 10 else "b"},
            "occurred_at": (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i)).isoformat(),
            "memory_type": "semantic" if i % 5 == 0 else "episodic",
        }
        for i, text in enumerate(CORPUS)
    ]
    r = await client.post(f"/v1/cubes/{cid}/memories", json={"items": items})
    assert r.status_code == 201, r.text
    return r.json()["items"]


async def _search(client: httpx.AsyncClient, cid: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/cubes/{cid}/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(result: dict[str, Any]) -> list[str]:
    return [h["memory"]["id"] for h in result["results"]]


async def test_modes_find_the_right_memory(client, cube):
    cid = cube["id"]
    mems = await _seed(client, cid)
    ids = [m["id"] for m in mems]

    # lexical: shared words
    for query, want in (
        ("beagle puppy", 0),
        ("PostgreSQL migration", 6),
        ("brake pads", 10),
        ("Portuguese Brazil", 15),
    ):
        res = await _search(client, cid, query=query, mode="lexical")
        assert _ids(res)[0] == ids[want], (query, res["results"][:2])
        assert all(set(h["scores"]) == {"lexical", "retention"} for h in res["results"])
        assert all(h["score"] > 0 for h in res["results"])
        scores = [h["score"] for h in res["results"]]
        assert scores == sorted(scores, reverse=True)
        assert "lexical" in res["timings_ms"] and "embed" not in res["timings_ms"]
    # lexical finds nothing without a shared word
    res = await _search(client, cid, query="Which person got a dog?", mode="lexical")
    assert _ids(res) == []

    # dense: paraphrases with no shared words
    for query, want in PARAPHRASES:
        res = await _search(client, cid, query=query, mode="dense", top_k=3)
        assert _ids(res)[0] == ids[want], (query, [h["memory"]["content"] for h in res["results"]])
        assert len(res["results"]) == 3
        for h in res["results"]:
            assert set(h["scores"]) == {"dense", "retention"}
            assert -1.0 <= h["scores"]["dense"] <= 1.0
        assert {"embed", "dense"} <= set(res["timings_ms"])

    # hybrid: both kinds of query
    for query, want in [("beagle puppy", 0), ("brake pads", 10), *PARAPHRASES]:
        res = await _search(client, cid, query=query, mode="hybrid", top_k=5)
        assert _ids(res)[0] == ids[want], (query, res["results"][:2])
        top = res["results"][0]
        assert "dense" in top["scores"] and "retention" in top["scores"]
        assert 0.0 <= top["score"] <= 1.0 + 1e-9
        assert {"embed", "lexical", "dense", "fusion"} <= set(res["timings_ms"])
    res = await _search(client, cid, query="beagle puppy")  # default mode is hybrid
    assert set(res["results"][0]["scores"]) == {"dense", "lexical", "retention"}
    assert isinstance(res["took_ms"], float | int) and res["took_ms"] >= 0
    assert res["took_ms"] >= max(res["timings_ms"].values()) - 1e-6

    # top_k bounds the results
    for mode in ("lexical", "dense", "hybrid"):
        res = await _search(client, cid, query="the", mode=mode, top_k=1)
        assert len(res["results"]) <= 1
        res = await _search(client, cid, query="a person and a thing", mode=mode, top_k=1000)
        assert len(res["results"]) == len(set(_ids(res))) <= 20

    # No entity graph yet (enrichment has not run): graph mode answers with dense retrieval,
    # as HippoRAG 2 does when no query entity is in the graph.
    res = await _search(client, cid, query="beagle puppy", mode="graph", top_k=3)
    assert _ids(res)[0] == ids[0]
    assert all("graph" not in h["scores"] and "dense" in h["scores"] for h in res["results"])


async def test_filters_restrict_results(client, cube):
    cid = cube["id"]
    mems = await _seed(client, cid)
    by_id = {m["id"]: (i, m) for i, m in enumerate(mems)}
    query = "person hobby family home trip work"

    async def found(**body: Any) -> list[int]:
        out = []
        for mode in ("lexical", "dense", "hybrid"):
            res = await _search(client, cid, query=query, mode=mode, top_k=100, **body)
            out.append(sorted(by_id[i][0] for i in _ids(res)))
        # dense and hybrid see every eligible memory
        assert out[1] == out[2], body
        assert set(out[0]) <= set(out[1])
        return out[1]

    assert len(await found()) == 20
    assert await found(filters={"user_id": "odd"}) == list(range(1, 20, 2))
    assert await found(filters={"session_id": "s3"}) == [3, 7, 11, 15, 19]
    assert await found(filters={"metadata": {"group": "b"}}) == list(range(10, 20))
    assert await found(filters={"metadata": {"i": 4}}) == [4]
    assert await found(filters={"metadata": {"group": "a", "i": 4}}) == [4]
    assert await found(filters={"metadata": {"group": "c"}}) == []
    tagged = [i for i, m in enumerate(mems) if "people" in m["tags"]]
    assert 0 < len(tagged) < 20
    assert await found(filters={"tags": ["people"]}) == tagged
    assert await found(filters={"tags": ["people", "misc"]}) == []
    assert await found(memory_types=["semantic"]) == [0, 5, 10, 15]
    assert await found(memory_types=["semantic", "episodic"]) == list(range(20))
    assert await found(memory_types=["core"]) == []
    after = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=5)).isoformat()
    before = (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=8)).isoformat()
    assert await found(filters={"occurred_after": after}) == list(range(5, 20))
    assert await found(filters={"occurred_before": before}) == list(range(8))
    assert await found(filters={"occurred_after": after, "occurred_before": before}) == [5, 6, 7]
    assert await found(
        filters={"user_id": "even", "session_id": "s0"}, memory_types=["semantic"]
    ) == [0]
    # as_of before the memories existed excludes them all; now includes them
    assert await found(as_of="2000-01-01T00:00:00+00:00") == []
    assert len(await found(as_of=datetime.now(UTC).isoformat())) == 20


async def test_min_score_archived_and_reinforcement(client, cube):
    cid = cube["id"]
    mems = await _seed(client, cid)
    ids = [m["id"] for m in mems]
    url = f"/v1/cubes/{cid}/memories"

    # reinforcement: a returned memory is recalled; one never returned is not
    before = (await client.get(f"{url}/{ids[6]}")).json()
    assert before["recall_count"] == 0 and before["last_recalled_at"] is None
    res = await _search(client, cid, query="PostgreSQL migration", mode="lexical", top_k=1)
    assert _ids(res) == [ids[6]]
    # the hit shows the memory as it was when found
    assert res["results"][0]["memory"]["recall_count"] == 0
    assert 0.0 < res["results"][0]["scores"]["retention"] <= 1.0
    after = (await client.get(f"{url}/{ids[6]}")).json()
    assert after["recall_count"] == 1
    assert after["strength"] == before["strength"] + 1
    assert after["last_recalled_at"] is not None
    assert after["version"] == before["version"]  # recall is not a new version
    await _search(client, cid, query="PostgreSQL migration", mode="lexical", top_k=1)
    again = (await client.get(f"{url}/{ids[6]}")).json()
    assert again["recall_count"] == 2 and again["strength"] == before["strength"] + 2
    assert again["last_recalled_at"] >= after["last_recalled_at"]
    untouched = (await client.get(f"{url}/{ids[19]}")).json()
    assert untouched["recall_count"] == 0 and untouched["strength"] == 1.0

    res = await _search(client, cid, query="beagle puppy", mode="hybrid", top_k=20)
    scores = [h["score"] for h in res["results"]]
    assert len(scores) > 2
    cut = (scores[0] + scores[1]) / 2
    res2 = await _search(client, cid, query="beagle puppy", mode="hybrid", top_k=20, min_score=cut)
    assert _ids(res2) == [ids[0]]
    res3 = await _search(client, cid, query="beagle puppy", mode="dense", min_score=1.01)
    assert res3["results"] == []

    # archived memories are not returned by any mode
    r = await client.patch(f"{url}/{ids[10]}", json={"status": "archived"})
    assert r.status_code == 200
    for mode in ("lexical", "dense", "hybrid"):
        res = await _search(client, cid, query="car brake pads road trip", mode=mode, top_k=50)
        assert ids[10] not in _ids(res), mode
    r = await client.post(f"{url}/{ids[10]}/restore")
    assert r.status_code == 200
    res = await _search(client, cid, query="car brake pads road trip", mode="lexical")
    assert _ids(res)[0] == ids[10]


async def test_multi_cube_search_merges_cubes(client, cube):
    c1 = cube["id"]
    c2 = (await client.post("/v1/cubes", json={"name": "second"})).json()["id"]
    r = await client.post(
        f"/v1/cubes/{c1}/memories",
        json={"items": [{"content": "The lighthouse keeper feeds seagulls"}, {"content": "x y"}]},
    )
    m1 = r.json()["items"][0]["id"]
    r = await client.post(
        f"/v1/cubes/{c2}/memories",
        json={"items": [{"content": "Seagulls nest on the lighthouse roof"}, {"content": "z w"}]},
    )
    m2 = r.json()["items"][0]["id"]
    for mode in ("lexical", "dense", "hybrid"):
        r = await client.post(
            "/v1/search",
            json={"query": "lighthouse seagulls", "cube_ids": [c1, c2], "mode": mode, "top_k": 2},
        )
        assert r.status_code == 200, r.text
        hits = r.json()["results"]
        assert {h["memory"]["id"] for h in hits} == {m1, m2}, mode
        assert {h["memory"]["cube_id"] for h in hits} == {c1, c2}
    # one cube only: only its memory
    r = await client.post(
        "/v1/search", json={"query": "lighthouse seagulls", "cube_ids": [c2], "mode": "lexical"}
    )
    assert [h["memory"]["id"] for h in r.json()["results"]] == [m2]
    # the same cube twice is the same as once
    r = await client.post(
        "/v1/search",
        json={"query": "lighthouse seagulls", "cube_ids": [c2, c2], "mode": "lexical"},
    )
    assert r.status_code == 200 and [h["memory"]["id"] for h in r.json()["results"]] == [m2]
    # a soft-deleted cube is not searchable
    assert (await client.delete(f"/v1/cubes/{c2}")).status_code == 204
    r = await client.post(
        "/v1/search", json={"query": "lighthouse", "cube_ids": [c1, c2], "mode": "lexical"}
    )
    assert r.status_code == 404


async def test_hybrid_does_not_let_a_lone_common_word_win(client, cube):
    """A question sharing only a common word with a wrong memory must not beat the memory the
    embedding finds (min-max over a one-item lexical list would score the stray match 1.0)."""
    cid = cube["id"]
    mems = await _seed(client, cid)
    res = await _search(client, cid, query="Which person got a new dog?", mode="lexical")
    # only "new" matches (in the car memory, and as context of its session's next memory)
    assert res["results"][0]["memory"]["content"] == CORPUS[10]
    res = await _search(client, cid, query="Which person got a new dog?", mode="hybrid")
    assert _ids(res)[0] == mems[0]["id"], res["results"][:2]


async def test_fusion_options(client, cube):
    cid = cube["id"]
    mems = await _seed(client, cid)
    by_id = {m["id"]: m["content"] for m in mems}
    query = "dog beagle garden"
    lexical = _ids(await _search(client, cid, query=query, mode="lexical", top_k=5))
    dense = _ids(await _search(client, cid, query=query, mode="dense", top_k=5))
    for method in ("calibrated", "minmax", "rrf"):
        only_dense = await _search(
            client, cid, query=query, top_k=5, fusion={"method": method, "dense_weight": 1.0}
        )
        assert _ids(only_dense) == dense, (method, [by_id[i] for i in _ids(only_dense)])
        only_lexical = await _search(
            client,
            cid,
            query=query,
            top_k=len(lexical),
            fusion={"method": method, "dense_weight": 0.0},
        )
        assert _ids(only_lexical) == lexical, method
    mixed = await _search(client, cid, query=query, top_k=5, fusion={"method": "rrf"})
    assert lexical[0] in _ids(mixed) and dense[0] in _ids(mixed)
    for bad in ({"method": "borda"}, {"dense_weight": 1.5}, {"dense_weight": -0.1}):
        r = await client.post(f"/v1/cubes/{cid}/search", json={"query": query, "fusion": bad})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_request"


async def test_empty_cube_and_stopword_queries(client, cube):
    cid = cube["id"]
    for mode in ("lexical", "dense", "hybrid"):
        res = await _search(client, cid, query="anything at all", mode=mode)
        assert res["results"] == []
    mems = await _seed(client, cid)
    # a query of stopwords only has no lexical terms: hybrid falls back to the dense signal
    res = await _search(client, cid, query="what is it that they were", mode="hybrid", top_k=3)
    assert len(res["results"]) == 3
    assert all("lexical" not in h["scores"] for h in res["results"])
    assert {h["memory"]["id"] for h in res["results"]} <= {m["id"] for m in mems}
