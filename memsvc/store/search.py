"""Candidate generation for search: BM25 over PostgreSQL full text, and pgvector cosine."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Float,
    bindparam,
    case,
    column,
    func,
    literal,
    literal_column,
    select,
    text,
)
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
    """How many searchable memories of the cubes hold each lexeme (absent ones: not listed):
    one pass over those holding any, a membership test per lexeme."""
    lexemes = sorted(set(lexemes))
    if not lexemes:
        return {}
    await prefer_indexes(conn)
    tsv = m.search_tsv
    counts = select(*(func.count().filter(tsv.op("@@")(_tsquery([lex]))) for lex in lexemes)).where(
        m.cube_id.in_(list(cube_ids)),
        m.status.in_([s.value for s in SEARCHABLE_STATUSES]),
        tsv.op("@@")(_tsquery(lexemes)),
    )
    row = (await conn.execute(counts)).one()
    return {lex: int(n) for lex, n in zip(lexemes, row, strict=True) if n}


async def common_document_frequencies(
    conn: AsyncConnection, *, cube_ids: Sequence[uuid.UUID], min_df: int
) -> dict[str, int]:
    """Every lexeme held by at least `min_df` searchable memories of the cubes, with how many:
    one pass over the cubes' tsvectors (ts_stat; 0.7 s at 100k memories), for a snapshot that
    spares searches counting common words one query at a time (StatsCache)."""
    if not cube_ids:
        return {}
    # ts_stat takes its rows as SQL text: built from uuid.UUID values and our status names
    # only (their str() forms hold no quote), never from request text.
    cubes = ",".join(f"'{uuid.UUID(str(c))}'" for c in cube_ids)
    statuses = ",".join(f"'{s.value}'" for s in SEARCHABLE_STATUSES)
    rows_sql = (
        f"SELECT search_tsv FROM memories WHERE cube_id IN ({cubes}) AND status IN ({statuses})"
    )
    rows = await conn.execute(
        text("SELECT word, ndoc FROM ts_stat(:rows) WHERE ndoc >= :min_df"),
        {"rows": rows_sql, "min_df": min_df},
    )
    return {word: int(ndoc) for word, ndoc in rows.tuples()}


async def lexical_candidates(
    conn: AsyncConnection,
    *,
    cube_ids: Sequence[uuid.UUID],
    flt: MemoryFilter,
    lexemes: Sequence[str],
    dfs: dict[str, int],
    n_docs: int,
    avg_len: float,
    ctx_weight: float,
    k1: float,
    b: float,
    limit: int,
    selective: Sequence[str] | None = None,
) -> list[tuple[uuid.UUID, float]]:
    """Okapi BM25 over the memories' tsvectors, best first, given each lexeme's document
    frequency in the cubes (`document_frequencies`; a lexeme not in `dfs` scores nothing).
    With `selective` (memsvc.algorithms.bm25.selective_terms) only memories holding one of
    those lexemes are scored, on every lexeme.

    Document frequencies come from every searchable memory of the cubes (the corpus); the
    request's filters only decide which memories may be returned. A term's frequency counts a
    neighbour-context occurrence (weight B or C) as `ctx_weight` of an own one.

    One pass over the memories holding a query lexeme (found through the full-text index). It
    never unnests a tsvector (every lexeme of every matching memory: most of the cost on a
    large cube): `ts_rank_cd` of a one-lexeme query, with no normalisation, sums its
    occurrences' weights, so with weight 1 for A and `ctx_weight` for B and C it is the term
    frequency.
    """
    lexemes = sorted(set(lexemes) & set(dfs))
    if not lexemes or n_docs == 0:
        return []
    await prefer_indexes(conn)
    tsv = m.search_tsv
    columns = [m.id, (m.lex_len_own + ctx_weight * m.lex_len_ctx).label("dl")]
    for i, lex in enumerate(lexemes):
        tf = _term_frequency(tsv, _tsquery([lex]), ctx_weight)
        columns.append(tf.label(f"tf{i}"))
    # OFFSET 0: each term frequency is computed once per memory, not once per use.
    hits = (
        select(*columns)
        .where(
            m.cube_id.in_(list(cube_ids)),
            m.status.in_([s.value for s in SEARCHABLE_STATUSES]),
            tsv.op("@@")(_tsquery(sorted(selective) if selective else lexemes)),
            *filter_conditions(flt),
        )
        .offset(0)
        .subquery("hits")
    )
    norm = k1 * (1.0 - b + b * hits.c.dl / max(avg_len, 1e-9))
    score: Any = literal(0.0, Float)
    # Summed in lexeme order, the terms a memory does not hold adding exactly 0: the same
    # memory gets the same score, to the last bit, whatever the plan.
    for i, lex in enumerate(lexemes):
        tf = hits.c[f"tf{i}"]
        idf = func.ln(1.0 + (n_docs - literal(dfs[lex]) + 0.5) / (literal(dfs[lex]) + 0.5))
        score = score + case((tf > 0, idf * tf * (k1 + 1.0) / (tf + norm)), else_=0.0)
    query = (
        select(hits.c.id, score.label("score"))
        .order_by(column("score").desc(), hits.c.id)
        .limit(limit)
    )
    return [(mid, float(s)) for mid, s in (await conn.execute(query)).tuples()]


async def lexical_search(
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
) -> tuple[list[tuple[uuid.UUID, float]], dict[str, int]]:
    """`lexical_candidates` with the document frequencies counted now, and those."""
    dfs = await document_frequencies(conn, cube_ids=cube_ids, lexemes=lexemes)
    found = await lexical_candidates(
        conn,
        cube_ids=cube_ids,
        flt=flt,
        lexemes=lexemes,
        dfs=dfs,
        n_docs=n_docs,
        avg_len=avg_len,
        ctx_weight=ctx_weight,
        k1=k1,
        b=b,
        limit=limit,
    )
    return found, dfs


async def prefer_indexes(conn: AsyncConnection) -> None:
    """Price a random page read near a sequential one for the rest of the transaction.

    At the default (4x) the planner scans all 100k memories of a cube rather than take the
    full-text index for a query holding a few common words (bench/scale.py: 108 ms against
    16 ms). The index and the rows it points to are in memory in any steady state, where
    random reads cost what sequential ones do; 1.1 is the usual figure for SSDs.
    """
    await conn.execute(text("SET LOCAL random_page_cost = 1.1"))


def _tsquery(lexemes: Sequence[str]) -> Any:
    """A parameter of type tsquery matching any of the lexemes (parsed once, not per row)."""
    return bindparam(None, or_tsquery(lexemes), type_=TSQUERY)


def _term_frequency(tsv: Any, query: Any, ctx_weight: float) -> Any:
    """Weight-A occurrences + ctx_weight * weight-B/C ones of the one-lexeme query, in each
    memory (memsvc_tf of the lexeme's weights). ts_rank_cd's weights are {D, C, B, A}, float4:
    a ctx_weight that float4 holds exactly, and whose reciprocal it holds exactly (1, 1/2,
    1/4, ...), is summed exactly in one call; any other is computed from the two counts."""
    if ctx_weight in (1.0, 0.5, 0.25, 0.125, 0.0625):
        w = float(ctx_weight)
        return _rank_cd(tsv, query, f"{{{w},{w},{w},1}}")
    own = _rank_cd(tsv, query, "{0,0,0,1}")
    context = _rank_cd(tsv, query, "{1,1,1,0}")
    return own + ctx_weight * context


def _rank_cd(tsv: Any, query: Any, weights: str) -> Any:
    array: Any = literal_column(f"'{weights}'::float4[]")  # our constants only
    return func.cast(func.ts_rank_cd(array, tsv, query, 0), Float)


HNSW_MAX_EF_SEARCH = 1000  # the largest hnsw.ef_search pgvector accepts


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
        # pgvector's HNSW scan can yield a few rows fewer than its beam (5 of 100 searches at
        # 100k memories got 98 or 99 with a beam of exactly `limit`), and a short list falls
        # back to the exact scan (~30x slower): the beam gets room beyond the limit, within
        # pgvector's range (1000 at most).
        beam = min(max(int(ef_search), 2 * limit), HNSW_MAX_EF_SEARCH)
        await conn.execute(text(f"SET LOCAL hnsw.ef_search = {beam}"))
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
