"""Search: candidates from each signal -> fusion -> memories -> recall reinforcement."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import bm25, fusion
from memsvc.algorithms.retention import elapsed_days, retention
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import Memory
from memsvc.domain.types import SEARCHABLE_STATUSES, FusionMethod, Scope, SearchMode
from memsvc.errors import InvalidRequest, NotFound, PayloadTooLarge
from memsvc.services.auth import Principal
from memsvc.services.cubes import CUBE_NOT_FOUND
from memsvc.services.runtime import Runtime
from memsvc.store import cubes as cube_store
from memsvc.store import memories as memory_store
from memsvc.store import search as search_store

BM25_K1 = 1.2
BM25_B = 0.75
RETENTION_TAU_DAYS = 1.0


@dataclasses.dataclass(frozen=True)
class SearchRequest:
    query: str
    top_k: int = 10
    mode: SearchMode = SearchMode.HYBRID
    filter: MemoryFilter | None = None
    min_score: float | None = None
    include_links: bool = False
    fusion: FusionMethod = FusionMethod.CALIBRATED
    dense_weight: float | None = None  # None: the configured fusion_dense_weight


@dataclasses.dataclass(frozen=True)
class Hit:
    memory: Memory
    score: float
    scores: dict[str, float]


@dataclasses.dataclass(frozen=True)
class SearchResult:
    results: list[Hit]
    took_ms: float
    timings_ms: dict[str, float]


def _validate(rt: Runtime, req: SearchRequest) -> None:
    if not req.query.strip():
        raise InvalidRequest("query is empty", code="empty_query")
    if len(req.query) > rt.settings.max_query_chars:
        raise PayloadTooLarge(
            f"query has {len(req.query)} characters; the limit is {rt.settings.max_query_chars}",
            code="query_too_large",
        )
    if not 1 <= req.top_k <= rt.settings.max_top_k:
        raise InvalidRequest(
            f"top_k must be between 1 and {rt.settings.max_top_k}", code="invalid_top_k"
        )
    if req.mode is SearchMode.GRAPH:
        raise InvalidRequest(
            "mode 'graph' needs the entity graph, which this version does not build yet; "
            "use 'hybrid', 'dense' or 'lexical'",
            code="mode_not_available",
        )


async def search(
    rt: Runtime, principal: Principal, cube_ids: list[uuid.UUID], req: SearchRequest
) -> SearchResult:
    principal.require(Scope.READ)
    tenant_id = principal.require_tenant()
    _validate(rt, req)
    if not cube_ids:
        raise InvalidRequest("cube_ids is empty", code="no_cubes")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cube_key = tuple(sorted(set(cube_ids)))
    flt = req.filter or MemoryFilter(statuses=SEARCHABLE_STATUSES)
    want_dense = req.mode in (SearchMode.HYBRID, SearchMode.DENSE)
    # The query is embedded (CPU, in a thread) while the database runs the lexical signal.
    embedding = asyncio.create_task(_embed_query(rt, req.query, timings)) if want_dense else None
    try:
        async with rt.db.transaction() as conn:
            live = await cube_store.live_cube_ids(
                conn, tenant_id=tenant_id, cube_ids=list(cube_key)
            )
            if len(live) != len(cube_key):
                raise NotFound(CUBE_NOT_FOUND, code="cube_not_found")
            signals, bound = await _signals(rt, conn, req, cube_key, flt, embedding, timings)
            t0 = time.perf_counter()
            ranked = fusion.top(_fuse(rt, req, signals, bound), req.top_k)
            if req.min_score is not None:
                ranked = [(mid, score) for mid, score in ranked if score >= req.min_score]
            timings["fusion"] = _ms(t0)
            found = await memory_store.get_many(conn, ids=[mid for mid, _ in ranked])
    finally:
        if embedding is not None and not embedding.done():
            embedding.cancel()

    now = datetime.now(UTC)
    hits = []
    for mid, score in ranked:
        memory = found.get(mid)
        if memory is None:  # hard-deleted between the two reads
            continue
        scores = {name: round(values[mid], 6) for name, values in signals.items() if mid in values}
        since = memory.last_recalled_at or memory.created_at
        scores["retention"] = round(
            retention(elapsed_days(since, now), memory.strength, RETENTION_TAU_DAYS), 6
        )
        hits.append(Hit(memory=memory, score=round(score, 6), scores=scores))
    took_ms = _ms(started)
    if hits:
        async with rt.db.transaction() as conn:
            await memory_store.reinforce(conn, ids=[h.memory.id for h in hits], now=now)
    return SearchResult(results=hits, took_ms=took_ms, timings_ms=timings)


async def _embed_query(rt: Runtime, query: str, timings: dict[str, float]) -> np.ndarray:
    t0 = time.perf_counter()
    vector = (await rt.embedder.embed_async([query]))[0]
    timings["embed"] = _ms(t0)
    return vector


async def _signals(
    rt: Runtime,
    conn: AsyncConnection,
    req: SearchRequest,
    cube_key: tuple[uuid.UUID, ...],
    flt: MemoryFilter,
    embedding: asyncio.Task[np.ndarray] | None,
    timings: dict[str, float],
) -> tuple[dict[str, dict[uuid.UUID, float]], float]:
    """Each signal's candidates {memory id: raw score}, and the query's BM25 bound."""
    settings = rt.settings
    pool = max(settings.search_pool, req.top_k)
    stats = rt.stats.get(cube_key)
    if stats is None:
        stats = await search_store.corpus_stats(
            conn, cube_ids=cube_key, ctx_weight=settings.lexical_context_weight
        )
        rt.stats.put(cube_key, *stats)
    n_docs, avg_len = stats
    signals: dict[str, dict[uuid.UUID, float]] = {}
    bound = 0.0
    if req.mode in (SearchMode.HYBRID, SearchMode.LEXICAL):
        t0 = time.perf_counter()
        lexemes = await search_store.query_lexemes(conn, req.query)
        dfs = await search_store.document_frequencies(conn, cube_ids=cube_key, lexemes=lexemes)
        bound = bm25.query_bound(n_docs, dfs, lexemes)
        lexical = await search_store.lexical_candidates(
            conn,
            cube_ids=cube_key,
            flt=flt,
            lexemes=lexemes,
            n_docs=n_docs,
            avg_len=avg_len,
            ctx_weight=settings.lexical_context_weight,
            k1=BM25_K1,
            b=BM25_B,
            limit=pool,
        )
        signals["lexical"] = dict(lexical)
        timings["lexical"] = _ms(t0)
    if embedding is not None:
        vector = await embedding
        t0 = time.perf_counter()
        dense = await search_store.dense_candidates(
            conn,
            cube_ids=cube_key,
            flt=flt,
            vector=vector,
            limit=pool,
            exact=n_docs <= settings.dense_exact_max_rows,
            ef_search=settings.hnsw_ef_search,
        )
        signals["dense"] = dict(dense)
        timings["dense"] = _ms(t0)
    return signals, bound


def _fuse(
    rt: Runtime,
    req: SearchRequest,
    signals: dict[str, dict[uuid.UUID, float]],
    lexical_bound: float,
) -> dict[uuid.UUID, float]:
    if req.mode is SearchMode.LEXICAL:
        return signals.get("lexical", {})
    if req.mode is SearchMode.DENSE:
        return signals.get("dense", {})
    dense_weight = rt.settings.fusion_dense_weight if req.dense_weight is None else req.dense_weight
    weights = {"dense": dense_weight, "lexical": 1.0 - dense_weight}
    if req.fusion is FusionMethod.RRF:
        return fusion.rrf_fusion(signals, weights)
    if req.fusion is FusionMethod.MINMAX:
        return fusion.linear_fusion(signals, weights)
    normalised = {
        "lexical": fusion.scale_by_bound(signals.get("lexical", {}), lexical_bound),
        "dense": fusion.minmax(signals.get("dense", {})),
    }
    return fusion.weighted_sum(normalised, weights)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)
