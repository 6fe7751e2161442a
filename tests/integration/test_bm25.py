"""The SQL BM25 (memsvc.store.search.lexical_search) equals the Python reference."""

from __future__ import annotations

import functools
import uuid

from sqlalchemy import text

from memsvc.algorithms.bm25 import bm25_scores
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.store import search as search_store
from tests.bm25_docs import term_frequencies

DOCS = [
    ("The cat sat on the mat with another cat", "s1"),
    ("A dog chased the cat around the garden garden garden", "s1"),
    ("Quantum computing uses qubits", "s2"),
    ("The dog and the cat are friends; the dog barks", "s2"),
    ("Gardening tips: water the garden at dawn", None),
    ("cats cats cats cats dogs", "s1"),
    ("Nothing relevant here at all", None),
]


async def test_sql_bm25_matches_reference(app, client, cube):
    cid = uuid.UUID(cube["id"])
    r = await client.post(
        f"/v1/cubes/{cid}/memories",
        json={"items": [{"content": c, **({"session_id": s} if s else {})} for c, s in DOCS]},
    )
    assert r.status_code == 201, r.text
    ids = [m["id"] for m in r.json()["items"]]
    # one deleted memory: out of the corpus entirely
    assert (await client.delete(f"/v1/cubes/{cid}/memories/{ids[2]}")).status_code == 204
    rt = app.state.runtime
    ctx_weight = rt.settings.lexical_context_weight
    assert 0 < ctx_weight < 1
    queries = ["cat", "dog garden", "the cats and dogs", "quantum qubits", "garden", "zebra"]
    async with rt.db.transaction() as conn:
        docs = await term_frequencies(conn, cid, ctx_weight)
        assert len(docs) == len(DOCS) - 1
        # the neighbours' text counts: doc 1 (session s1) carries doc 0's "mat" (the turn
        # before, weight B), and doc 0 carries doc 1's "chase" (the turn after, weight C)
        assert docs[ids[1]].get("mat") == ctx_weight
        assert docs[ids[0]].get("chase") == ctx_weight
        assert docs[ids[0]].get("cat") == 2.0 + ctx_weight  # twice its own, once doc 1's
        assert docs[ids[4]].get("dog") is None  # no session: no context
        n_docs, avg_len = await search_store.corpus_stats(
            conn, cube_ids=[cid], ctx_weight=ctx_weight
        )
        assert n_docs == len(docs)
        ref_avg = sum(sum(tf.values()) for tf in docs.values()) / len(docs)
        assert abs(avg_len - ref_avg) < 1e-9
        flt = MemoryFilter(statuses=SEARCHABLE_STATUSES)
        bm25 = functools.partial(
            search_store.lexical_search,
            cube_ids=[cid],
            n_docs=n_docs,
            avg_len=avg_len,
            ctx_weight=ctx_weight,
            k1=1.2,
            b=0.75,
        )
        checked = 0
        for query in queries:
            lexemes = await search_store.query_lexemes(conn, query)
            got, _ = await bm25(conn, flt=flt, lexemes=lexemes, limit=100)
            want = bm25_scores(docs, lexemes, k1=1.2, b=0.75)
            got_map = {str(mid): score for mid, score in got}
            assert set(got_map) == set(want), query
            for mid, score in want.items():
                assert abs(got_map[mid] - score) < 1e-6, (query, mid, got_map[mid], score)
            # best first
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
            checked += len(want)
            # a filter restricts which are returned, not the corpus statistics (df, N)
            only = MemoryFilter(statuses=SEARCHABLE_STATUSES, session_id="s1")
            sub, _ = await bm25(conn, flt=only, lexemes=lexemes, limit=100)
            s1 = {ids[i] for i, (_, s) in enumerate(DOCS) if s == "s1"}
            assert {str(m) for m, _ in sub} == set(want) & s1
            for mid, score in sub:
                assert abs(score - want[str(mid)]) < 1e-6
        assert checked >= 10
        # limit keeps the best
        lexemes = await search_store.query_lexemes(conn, "cat dog")
        top2, _ = await bm25(conn, flt=flt, lexemes=lexemes, limit=2)
        want = sorted(bm25_scores(docs, lexemes).items(), key=lambda kv: -kv[1])[:2]
        assert [str(m) for m, _ in top2] == [m for m, _ in want]

    # the service's lexical search reports the same scores (rounded to 6 places)
    r = await client.post(
        f"/v1/cubes/{cid}/search", json={"query": "dog garden", "mode": "lexical", "top_k": 50}
    )
    assert r.status_code == 200
    async with rt.db.transaction() as conn:
        docs = await term_frequencies(conn, cid, ctx_weight)
        lexemes = await search_store.query_lexemes(conn, "dog garden")
    want = bm25_scores(docs, lexemes)
    got_api = {h["memory"]["id"]: h["scores"]["lexical"] for h in r.json()["results"]}
    assert set(got_api) == set(want)
    for mid, score in want.items():
        assert abs(got_api[mid] - score) < 2e-6


async def test_query_lexemes_neutralise_operators(app):
    rt = app.state.runtime
    async with rt.db.transaction() as conn:
        lexemes = await search_store.query_lexemes(conn, "!(&|:*<->) ' \\ \" & | ! <-> :* foo's")
        assert lexemes == ["foo"]
        assert await search_store.query_lexemes(conn, "the and of") == []
        tsq = search_store.or_tsquery(["it's", "back\\slash", "plain"])
        row = (await conn.execute(text("SELECT CAST(:q AS tsquery)::text"), {"q": tsq})).one()
        assert "plain" in row[0]
