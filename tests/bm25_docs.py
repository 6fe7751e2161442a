"""Each memory's BM25 term frequencies read back from PostgreSQL, for the tests that check
the SQL BM25 against the Python reference (memsvc.algorithms.bm25)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def term_frequencies(
    conn: AsyncConnection, cube_id: uuid.UUID, ctx_weight: float
) -> dict[str, dict[str, float]]:
    """{memory id: {lexeme: own occurrences + ctx_weight x the neighbours'}} of the cube's
    searchable memories (those holding no word too)."""
    rows = await conn.execute(
        text(
            "SELECT m.id, t.lexeme, t.weights FROM memories m, unnest(m.search_tsv) t "
            "WHERE m.cube_id = :c AND m.status IN ('active', 'pending')"
        ),
        {"c": cube_id},
    )
    docs: dict[str, dict[str, float]] = defaultdict(dict)
    for mid, lexeme, weights in rows:
        own = sum(1 for w in weights if w == "A")
        ctx = sum(1 for w in weights if w in ("B", "C"))
        # only A (own), B (the turn before) and C (the turn after) are used
        assert own + ctx == len(weights)
        docs[str(mid)][lexeme] = own + ctx_weight * ctx
    ids = await conn.execute(
        text("SELECT id FROM memories WHERE cube_id = :c AND status IN ('active', 'pending')"),
        {"c": cube_id},
    )
    for (mid,) in ids:
        docs.setdefault(str(mid), {})
    return dict(docs)
