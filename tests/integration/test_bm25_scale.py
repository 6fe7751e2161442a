"""The BM25 of memsvc.store.search.lexical_search (term frequencies by `ts_rank_cd`, no
tsvector unnested) equals the Python reference on a cube of 600 memories with
repeated words and conversational context, for several limits and with a filter; and its
document frequencies are the corpus's."""

from __future__ import annotations

import random
import uuid

from sqlalchemy import text

from memsvc.algorithms.bm25 import bm25_scores
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.store import search as search_store
from tests.bm25_docs import term_frequencies

RARE = ["zebra", "quokka", "narwhal"]
COMMON = ["coffee", "garden", "morning"]
FILLER = "river stone cloud lamp paper window bread music chair table ocean forest".split()


def _texts(rng: random.Random, n: int) -> list[str]:
    """Sentences where the common words are in most, the rare ones in few; some repeat a
    word (term frequency above 1)."""
    out = []
    for i in range(n):
        words = rng.sample(FILLER, rng.randrange(2, 7))
        words += [w for w in COMMON if rng.random() < 0.6]
        words += [w for w in RARE if rng.random() < 0.04]
        if i % 17 == 0:
            words += [rng.choice(COMMON)] * 3
        if i % 23 == 0:
            words += [rng.choice(RARE)] * 2
        rng.shuffle(words)
        out.append(" ".join(words) or "empty")
    return out


async def test_one_pass_bm25_is_the_reference_ranking(app, client, cube):
    cid = uuid.UUID(cube["id"])
    rng = random.Random(3)
    texts = _texts(rng, 600)
    for start in range(0, len(texts), 200):
        items = [
            {
                "content": t,
                "user_id": "u1" if i % 4 == 0 else "u2",
                **({"session_id": f"s{i // 5}"} if i % 3 else {}),
            }
            for i, t in enumerate(texts[start : start + 200], start)
        ]
        r = await client.post(
            f"/v1/cubes/{cid}/memories", json={"items": items, "deduplicate": False}
        )
        assert r.status_code == 201, r.text
    rt = app.state.runtime
    ctx = rt.settings.lexical_context_weight
    checked = 0
    async with rt.db.transaction() as conn:
        docs = await term_frequencies(conn, cid, ctx)
        n_docs, avg_len = await search_store.corpus_stats(conn, cube_ids=[cid], ctx_weight=ctx)
        u1 = {
            str(r[0])
            for r in await conn.execute(
                text("SELECT id FROM memories WHERE cube_id = :c AND user_id = 'u1'"), {"c": cid}
            )
        }
        for words in (
            "zebra coffee garden",
            "quokka narwhal morning coffee",
            "narwhal garden",
            "coffee garden morning",
            "zebra quokka narwhal coffee garden morning river",
        ):
            lexemes = await search_store.query_lexemes(conn, words)
            for limit, user in ((1, None), (10, None), (50, None), (100, None), (20, "u1")):
                flt = MemoryFilter(statuses=SEARCHABLE_STATUSES, user_id=user)
                got, dfs = await search_store.lexical_search(
                    conn,
                    cube_ids=[cid],
                    flt=flt,
                    lexemes=lexemes,
                    n_docs=n_docs,
                    avg_len=avg_len,
                    ctx_weight=ctx,
                    k1=1.2,
                    b=0.75,
                    limit=limit,
                )
                # every memory of the cube is a document (some hold no query word)
                all_docs = {**{str(m): {} for m in await _ids(conn, cid)}, **docs}
                want_scores = bm25_scores(all_docs, lexemes, k1=1.2, b=0.75)
                if user is not None:  # the filter picks what is returned, not the statistics
                    want_scores = {k: v for k, v in want_scores.items() if k in u1}
                want = sorted(want_scores.items(), key=lambda kv: (-kv[1], uuid.UUID(kv[0])))
                assert len(got) == min(limit, len(want))
                for (mid, score), (want_id, want_score) in zip(got, want, strict=False):
                    assert abs(score - want_score) < 1e-6, (words, limit)
                    # ties may order either way only between equal scores
                    if str(mid) != want_id:
                        assert abs(want_scores[str(mid)] - want_score) < 1e-9
                for lex in lexemes:
                    held = sum(1 for tf in docs.values() if lex in tf)
                    assert dfs.get(lex, 0) == held
                checked += len(got)
    assert checked > 500

    # Pruned (selective terms): only memories holding "zebra" are scored, on every word.
    async with rt.db.transaction() as conn:
        lexemes = await search_store.query_lexemes(conn, "zebra coffee garden")
        dfs = await search_store.document_frequencies(conn, cube_ids=[cid], lexemes=lexemes)
        got = await search_store.lexical_candidates(
            conn,
            cube_ids=[cid],
            flt=MemoryFilter(statuses=SEARCHABLE_STATUSES),
            lexemes=lexemes,
            dfs=dfs,
            n_docs=n_docs,
            avg_len=avg_len,
            ctx_weight=ctx,
            k1=1.2,
            b=0.75,
            limit=1000,
            selective=["zebra"],
        )
    want_scores = bm25_scores({**{str(m): {} for m in all_docs}, **docs}, lexemes)
    zebra = {mid for mid, tf in docs.items() if "zebra" in tf}
    assert 0 < len(zebra) < max(dfs.values())  # fewer than the commonest word holds
    assert {str(mid) for mid, _ in got} == zebra
    for mid, score in got:
        assert abs(score - want_scores[str(mid)]) < 1e-6


async def _ids(conn, cid: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.execute(
        text("SELECT id FROM memories WHERE cube_id = :c AND status IN ('active', 'pending')"),
        {"c": cid},
    )
    return [r[0] for r in rows]
