"""Candidate generation for search: BM25 over PostgreSQL full text, and pgvector cosine."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Float, and_, column, func, literal, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.filters import MemoryFilter
from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.store.memories import filter_conditions
from memsvc.store.tables import memories

m = memories.c


async def query_lexemes(conn: AsyncConnection, query: str) -> list[str]:
    """The query's normalised terms, exactly as memory texts were indexed (english config).

    The user's text never reaches a tsquery parser: full-text operators in it are just text.
    """
    rows = await conn.execute(
        select(func.unnest(func.tsvector_to_array(func.to_tsvector(_english(), query))))
    )
    return sorted({r[0] for r in rows})


def _english() -> Any:
    return literal_column("'english'::regconfig")


def or_tsquery(lexemes: Sequence[str]) -> str:
    """A tsquery literal matching any of the lexemes, each quoted so nothing is an operator."""
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" for lex in lexemes)
    return " | ".join(quoted)


async def corpus_stats(
    conn: AsyncConnection, *, cube_ids: Sequence[uuid.UUID], ctx_weight: float
) -> tuple[int, float]:
    """(number of searchable memories, their mean BM25 document length) for the cubes."""
    row = (
        await conn.execute(
            select(func.count(), func.avg(m.lex_len_own + ctx_weight * m.lex_len_ctx)).where(
                m.cube_id.in_(list(cube_ids)),
                m.status.in_([s.value for s in SEARCHABLE_STATUSES]),
            )
        )
    ).one()
    return int(row[0]), float(row[1] or 0.0)


async def document_frequencies(
    conn: AsyncConnection, *, cube_ids: Sequence[uuid.UUID], lexemes: Sequence[str]
) -> dict[str, int]:
    """How many searchable memories of the cubes hold each lexeme (absent ones: not listed)."""
    if not lexemes:
        return {}
    tsq = func.cast(literal(or_tsquery(lexemes)), TSQUERY)
    term = func.unnest(m.search_tsv).table_valued("lexeme", "positions", "weights").lateral("t")
    query = (
        select(term.c.lexeme, func.count())
        .select_from(memories.join(term, literal(True)))
        .where(
            m.cube_id.in_(list(cube_ids)),
            m.status.in_([s.value for s in SEARCHABLE_STATUSES]),
            m.search_tsv.op("@@")(tsq),
            term.c.lexeme.in_(list(lexemes)),
        )
        .group_by(term.c.lexeme)
    )
    return {lexeme: int(n) for lexeme, n in (await conn.execute(query)).tuples()}


async def lexical_candidates(
    conn: AsyncConnection,
    *,
    cube_ids: Sequence[uuid.UUID],
    flt: MemoryFilter,
    lexemes: Sequence[str],
    n_docs: int,
    avg_len: float,
    ctx_weight: float,
    k1: float,
    b: float,
    limit: int,
) -> list[tuple[uuid.UUID, float]]:
    """Okapi BM25 over the memories' tsvectors, best first.

    Document frequencies come from every searchable memory of the cubes (the corpus); the
    request's filters only decide which memories may be returned. A term's frequency counts a
    neighbour-context occurrence (weight B) as `ctx_weight` of an own one.
    """
    if not lexemes or n_docs == 0:
        return []
    tsq = func.cast(literal(or_tsquery(lexemes)), TSQUERY)
    eligible = filter_conditions(flt)
    hits = (
        select(
            m.id,
            m.search_tsv,
            (m.lex_len_own + ctx_weight * m.lex_len_ctx).label("dl"),
            and_(*eligible).label("eligible"),
        )
        .where(
            m.cube_id.in_(list(cube_ids)),
            m.status.in_([s.value for s in SEARCHABLE_STATUSES]),
            m.search_tsv.op("@@")(tsq),
        )
        .cte("hits")
    )
    term = (
        func.unnest(hits.c.search_tsv).table_valued("lexeme", "positions", "weights").lateral("t")
    )
    terms = (
        select(
            hits.c.id,
            hits.c.dl,
            hits.c.eligible,
            term.c.lexeme,
            func.memsvc_tf(term.c.weights, ctx_weight).label("tf"),
        )
        .select_from(hits.join(term, literal(True)))
        .where(term.c.lexeme.in_(list(lexemes)))
        .cte("terms")
    )
    df = select(terms.c.lexeme, func.count().label("df")).group_by(terms.c.lexeme).cte("df")
    idf = func.ln(1.0 + (n_docs - df.c.df + 0.5) / (df.c.df + 0.5))
    norm = k1 * (1.0 - b + b * terms.c.dl / max(avg_len, 1e-9))
    score = func.sum(idf * terms.c.tf * (k1 + 1.0) / (terms.c.tf + norm)).label("score")
    query = (
        select(terms.c.id, score)
        .select_from(terms.join(df, terms.c.lexeme == df.c.lexeme))
        .where(terms.c.eligible)
        .group_by(terms.c.id)
        .order_by(column("score").desc(), terms.c.id)
        .limit(limit)
    )
    return [(mid, float(s)) for mid, s in (await conn.execute(query)).tuples()]


async def dense_candidates(
    conn: AsyncConnection,
    *,
    cube_ids: Sequence[uuid.UUID],
    flt: MemoryFilter,
    vector: np.ndarray,
    limit: int,
    exact: bool,
    ef_search: int,
) -> list[tuple[uuid.UUID, float]]:
    """Nearest memories by cosine similarity, best first.

    pgvector's HNSW filters *after* the graph walk, so on a small cube among many it would
    return too few rows: small cubes are scanned exactly (cheap), large ones go through HNSW
    with a wide beam, falling back to an exact scan if the filters left too few.
    """
    distance = m.embedding.cosine_distance(vector)
    conds = [
        m.cube_id.in_(list(cube_ids)),
        m.embedding.is_not(None),
        *filter_conditions(flt),
    ]
    # `+ 0` hides the expression from the HNSW index, forcing the exact (filtered) scan.
    order = (distance + literal(0.0, Float)) if exact else distance
    query = select(m.id, (1.0 - distance).label("sim")).where(*conds).order_by(order).limit(limit)
    if not exact:
        await conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), limit)}"))
    rows = [(mid, float(sim)) for mid, sim in (await conn.execute(query)).tuples()]
    if not exact and len(rows) < limit:
        exact_query = select(m.id, (1.0 - distance).label("sim")).where(*conds)
        exact_query = exact_query.order_by(distance + literal(0.0, Float)).limit(limit)
        rows = [(mid, float(sim)) for mid, sim in (await conn.execute(exact_query)).tuples()]
    return rows


async def filter_ids(
    conn: AsyncConnection,
    *,
    cube_ids: Sequence[uuid.UUID],
    flt: MemoryFilter,
    ids: Sequence[uuid.UUID],
) -> set[uuid.UUID]:
    """The memories among `ids` that pass the filter (for signals computed outside SQL)."""
    if not ids:
        return set()
    rows = await conn.execute(
        select(m.id).where(
            m.id.in_(list(ids)), m.cube_id.in_(list(cube_ids)), *filter_conditions(flt)
        )
    )
    return set(rows.scalars())


async def occurred_at(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """When each memory happened (for the time boost, before the final cut)."""
    if not ids:
        return {}
    rows = await conn.execute(select(m.id, m.occurred_at).where(m.id.in_(list(ids))))
    return {mid: at for mid, at in rows.tuples()}  # noqa: C416 (Result.keys trips dict())


async def recall_states(
    conn: AsyncConnection, *, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[float, Any]]:
    """Each memory's MemoryBank state: (strength, last recall or creation time)."""
    if not ids:
        return {}
    rows = await conn.execute(
        select(m.id, m.strength, func.coalesce(m.last_recalled_at, m.created_at)).where(
            m.id.in_(list(ids))
        )
    )
    return {mid: (float(strength), since) for mid, strength, since in rows.tuples()}
