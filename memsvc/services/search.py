"""Search: candidates from each signal -> fusion -> memories -> recall reinforcement."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from datetime import datetime

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import bm25, fusion, timeexpr
from memsvc.algorithms.retention import elapsed_days, retention
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import Memory
from memsvc.domain.types import (
    SEARCHABLE_STATUSES,
    FusionMethod,
    MemoryType,
    Scope,
    SearchMode,
    TimeUse,
)
from memsvc.errors import InvalidRequest, NotFound, PayloadTooLarge, Unavailable
from memsvc.services import graph
from memsvc.services import links as link_service
from memsvc.services.auth import Principal
from memsvc.services.cubes import CUBE_NOT_FOUND
from memsvc.services.runtime import Runtime
from memsvc.store import cubes as cube_store
from memsvc.store import facts as fact_store
from memsvc.store import memories as memory_store
from memsvc.store import search as search_store
from memsvc.store.facts import CandidateState

BM25_K1 = 1.2
BM25_B = 0.75
# Vault entries are found only when asked for by type: their captions describe secrets.
DEFAULT_TYPES = tuple(t for t in MemoryType if t is not MemoryType.KNOWLEDGE_VAULT)


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
    graph_weight: float | None = None  # None: the configured fusion_graph_weight
    time: TimeUse = TimeUse.AUTO
    now: datetime | None = None  # what "last week" is relative to; None: as_of, else now
    reinforce: bool = True  # count the results as recalled (MemoryBank); False: the caller will


@dataclasses.dataclass(frozen=True)
class Hit:
    memory: Memory
    score: float
    scores: dict[str, float]
    links: list[link_service.LinkedNote] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    results: list[Hit]
    took_ms: float
    timings_ms: dict[str, float]
    time_windows: list[timeexpr.TimeWindow] = dataclasses.field(default_factory=list)
    # Recalled memories whose reinforcement the caller runs (`reinforce_recalled`), when the
    # search was asked to defer it; empty otherwise.
    recalled: tuple[uuid.UUID, ...] = ()
    recalled_at: datetime | None = None


LINKS_PER_HIT = 5
log = logging.getLogger(__name__)


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


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What a request needs, worked out before any I/O."""

    flt: MemoryFilter
    windows: list[timeexpr.TimeWindow]
    want_dense: bool
    want_graph: bool
    entities: list[str]
    graph_weight: float


def _plan(rt: Runtime, req: SearchRequest) -> _Plan:
    flt = req.filter or MemoryFilter(statuses=SEARCHABLE_STATUSES)
    if not flt.memory_types:
        flt = dataclasses.replace(flt, memory_types=DEFAULT_TYPES)
    windows: list[timeexpr.TimeWindow] = []
    if req.time is not TimeUse.OFF:
        reference = req.now or flt.as_of or rt.now()
        windows = timeexpr.find_time_windows(req.query, reference)
    if windows and req.time is TimeUse.FILTER:
        flt = _within(flt, windows)
    graph_weight = rt.settings.fusion_graph_weight if req.graph_weight is None else req.graph_weight
    want_graph = req.mode is SearchMode.GRAPH or (
        req.mode is SearchMode.HYBRID and graph_weight > 0
    )
    return _Plan(
        flt=flt,
        windows=windows,
        want_dense=req.mode is not SearchMode.LEXICAL,
        want_graph=want_graph,
        entities=graph.query_entities(req.query) if want_graph else [],
        graph_weight=graph_weight,
    )


def _within(flt: MemoryFilter, windows: list[timeexpr.TimeWindow]) -> MemoryFilter:
    """The filter narrowed to the span of the query's time windows."""
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    if flt.occurred_after is not None:
        start = max(start, flt.occurred_after)
    if flt.occurred_before is not None:
        end = min(end, flt.occurred_before)
    return dataclasses.replace(flt, occurred_after=start, occurred_before=end)


async def search(
    rt: Runtime,
    principal: Principal,
    cube_ids: list[uuid.UUID],
    req: SearchRequest,
    *,
    defer_reinforcement: bool = False,
) -> SearchResult:
    """The best memories for `req` in the cubes. With `defer_reinforcement` the recall is not
    written here: the result names the recalled memories, for `reinforce_recalled` to write
    once the answer is on its way (the REST routes: the update touches every index of each
    recalled row, ~15 ms at 100k memories, which the caller need not wait for)."""
    principal.require(Scope.READ)
    tenant_id = principal.require_tenant()
    _validate(rt, req)
    if not cube_ids:
        raise InvalidRequest("cube_ids is empty", code="no_cubes")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cube_key = tuple(sorted(set(cube_ids)))
    plan = _plan(rt, req)
    # The query is embedded (CPU, in a thread) while the database runs the lexical signal.
    embedding = (
        asyncio.create_task(_embed_query(rt, [req.query], timings, "embed"))
        if plan.want_dense
        else None
    )
    try:
        async with rt.db.transaction() as conn:
            live = await cube_store.live_cube_ids(
                conn, tenant_id=tenant_id, cube_ids=list(cube_key)
            )
            if len(live) != len(cube_key):
                raise NotFound(CUBE_NOT_FOUND, code="cube_not_found")
            signals, bound = await _signals(rt, conn, req, plan, cube_key, embedding, timings)
            t0 = time.perf_counter()
            fused = _fuse(rt, req, plan, signals, bound)
            now = rt.now()
            states = await fact_store.candidate_states(
                conn,
                ids=list(fused),
                at=plan.flt.as_of or now,
                staleness=rt.settings.superseded_weight < 1.0,
            )
            boosts = _time_boosts(rt, req, plan, states)
            if boosts:
                fused = _boosted(rt, fused, boosts)
            kept = _retention(rt, states, now)
            if kept:
                fused = _weighted_by_retention(rt, fused, kept)
            stale = {mid for mid, state in states.items() if state.stale}
            if stale:
                fused = _current_first(rt, fused, stale)
            ranked = fusion.top(fused, req.top_k)
            if req.min_score is not None:
                ranked = [(mid, score) for mid, score in ranked if score >= req.min_score]
            timings["fusion"] = _ms(t0)
            found = await memory_store.get_many(conn, ids=[mid for mid, _ in ranked])
            linked = (
                await link_service.linked_notes(
                    conn, [m for m, _ in ranked], per_memory=LINKS_PER_HIT
                )
                if req.include_links
                else {}
            )
            recalled = [mid for mid, _ in ranked if mid in found] if req.reinforce else []
            if recalled and not defer_reinforcement:  # same transaction: a round trip less
                await memory_store.reinforce(conn, ids=recalled, now=now)
    finally:
        if embedding is not None and not embedding.done():
            embedding.cancel()

    hits = []
    for mid, score in ranked:
        memory = found.get(mid)
        if memory is None:  # hard-deleted between the two reads
            continue
        scores = {name: round(values[mid], 6) for name, values in signals.items() if mid in values}
        if mid in boosts:
            scores["time"] = round(boosts[mid], 6)
        if mid in kept:
            scores["retention"] = round(kept[mid], 6)
        if mid in stale:
            scores["validity"] = rt.settings.superseded_weight
        hits.append(
            Hit(memory=memory, score=round(score, 6), scores=scores, links=linked.get(mid, []))
        )
    took_ms = _ms(started)
    rt.metrics.observe_search(timings)
    deferred = tuple(recalled) if defer_reinforcement else ()
    return SearchResult(
        results=hits,
        took_ms=took_ms,
        timings_ms=timings,
        time_windows=plan.windows,
        recalled=deferred,
        recalled_at=now if deferred else None,
    )


async def reinforce_recalled(rt: Runtime, result: SearchResult) -> None:
    """Write the recall a search deferred (MemoryBank: strength + 1, the clock restarts), in a
    transaction of its own. A failure is logged, never raised: the answer is
    already sent, and a lost recall only leaves a memory as strong as it was."""
    if not result.recalled or result.recalled_at is None:
        return
    try:
        async with rt.db.transaction() as conn:
            await memory_store.reinforce(conn, ids=list(result.recalled), now=result.recalled_at)
    except (Unavailable, SQLAlchemyError, OSError) as exc:
        log.warning(
            "recall reinforcement not written",
            extra={"memories": len(result.recalled), "error": str(exc)},
        )


async def _embed_query(
    rt: Runtime, texts: list[str], timings: dict[str, float], stage: str
) -> np.ndarray:
    t0 = time.perf_counter()
    vectors = await rt.embedder.embed_async(texts)
    timings[stage] = _ms(t0)
    return vectors


async def _signals(
    rt: Runtime,
    conn: AsyncConnection,
    req: SearchRequest,
    plan: _Plan,
    cube_key: tuple[uuid.UUID, ...],
    embedding: asyncio.Task[np.ndarray] | None,
    timings: dict[str, float],
) -> tuple[dict[str, dict[uuid.UUID, float]], float]:
    """Each signal's candidates {memory id: raw score}, and the query's BM25 bound."""
    settings = rt.settings
    flt = plan.flt
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
    # The dense signal runs on a connection of its own, beside the lexical one: each waits on
    # the database or the model most of its time, so together they take about the longer.
    dense = (
        asyncio.create_task(_dense_signal(rt, cube_key, flt, embedding, pool, n_docs, timings))
        if embedding is not None
        else None
    )
    try:
        if req.mode in (SearchMode.HYBRID, SearchMode.LEXICAL):
            t0 = time.perf_counter()
            # "May" or "2023" in "what did I do in May 2023" are about when, not what: the
            # time boost handles them, and as words they would match unrelated memories.
            text = timeexpr.strip_time_expressions(req.query) if plan.windows else req.query
            lexemes = await search_store.query_lexemes(conn, text)
            dfs = await _document_frequencies(rt, conn, cube_key, n_docs, lexemes)
            lexical = await search_store.lexical_candidates(
                conn,
                cube_ids=cube_key,
                flt=flt,
                lexemes=lexemes,
                dfs=dfs,
                selective=bm25.selective_terms(dfs, settings.lexical_prune_budget),
                n_docs=n_docs,
                avg_len=avg_len,
                ctx_weight=settings.lexical_context_weight,
                k1=BM25_K1,
                b=BM25_B,
                limit=pool,
            )
            bound = bm25.query_bound(n_docs, dfs, lexemes)
            signals["lexical"] = dict(lexical)
            timings["lexical"] = _ms(t0)
        if dense is not None:
            signals["dense"] = await dense
    finally:
        if dense is not None and not dense.done():
            dense.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await dense
    if embedding is not None and plan.want_graph:
        t0 = time.perf_counter()
        scores = await graph.graph_signal(
            rt,
            conn,
            cube_ids=cube_key,
            entities=plan.entities,
            embed=functools.partial(_embed_query, rt, timings=timings, stage="embed_entities"),
            dense=signals["dense"],
            limit=pool,
        )
        allowed = await search_store.filter_ids(conn, cube_ids=cube_key, flt=flt, ids=list(scores))
        signals["graph"] = {mid: s for mid, s in scores.items() if mid in allowed}
        timings["graph"] = _ms(t0)
    return signals, bound


async def _dense_signal(
    rt: Runtime,
    cube_key: tuple[uuid.UUID, ...],
    flt: MemoryFilter,
    embedding: asyncio.Task[np.ndarray],
    pool: int,
    n_docs: int,
    timings: dict[str, float],
) -> dict[uuid.UUID, float]:
    """The query's nearest memories (exact scan for small cubes, HNSW for large ones)."""
    vectors = await embedding
    t0 = time.perf_counter()
    async with rt.db.transaction() as conn:
        dense = await search_store.dense_candidates(
            conn,
            cube_ids=cube_key,
            flt=flt,
            vector=vectors[0],
            limit=pool,
            exact=n_docs <= rt.settings.dense_exact_max_rows,
            ef_search=rt.settings.hnsw_ef_search,
        )
    timings["dense"] = _ms(t0)
    return dict(dense)


async def _document_frequencies(
    rt: Runtime,
    conn: AsyncConnection,
    cube_key: tuple[uuid.UUID, ...],
    n_docs: int,
    lexemes: list[str],
) -> dict[str, int]:
    """Each lexeme's document frequency in the cubes: counted now, or (large cubes) kept
    from a count of the last few seconds (StatsCache)."""
    known, missing = rt.stats.document_frequencies(cube_key, lexemes)
    if missing:
        counted = await search_store.document_frequencies(conn, cube_ids=cube_key, lexemes=missing)
        rt.stats.put_document_frequencies(cube_key, n_docs, missing, counted)
        known.update(counted)
    if rt.stats.snapshot_due(cube_key, n_docs):
        task = asyncio.create_task(_snapshot_common_words(rt, cube_key))
        _BACKGROUND.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(_BACKGROUND.discard)
    return {lex: df for lex, df in known.items() if df}


_BACKGROUND: set[asyncio.Task[None]] = set()


async def _snapshot_common_words(rt: Runtime, cube_key: tuple[uuid.UUID, ...]) -> None:
    """Count the common words of a large cube in the background (StatsCache snapshot)."""
    try:
        async with rt.db.transaction() as conn:
            dfs = await search_store.common_document_frequencies(
                conn, cube_ids=cube_key, min_df=rt.stats.snapshot_min_df
            )
    except (Unavailable, SQLAlchemyError, OSError) as exc:
        rt.stats.snapshot_failed(cube_key)
        log.warning("common-word snapshot not built", extra={"error": str(exc)})
        return
    except BaseException:
        rt.stats.snapshot_failed(cube_key)
        raise
    rt.stats.put_snapshot(cube_key, dfs)


def _fuse(
    rt: Runtime,
    req: SearchRequest,
    plan: _Plan,
    signals: dict[str, dict[uuid.UUID, float]],
    lexical_bound: float,
) -> dict[uuid.UUID, float]:
    if req.mode is SearchMode.LEXICAL:
        return signals.get("lexical", {})
    if req.mode is SearchMode.DENSE:
        return signals.get("dense", {})
    if req.mode is SearchMode.GRAPH:
        # No query entity in the graph: HippoRAG 2 answers with dense retrieval alone.
        return signals.get("graph") or signals.get("dense", {})
    dense_weight = rt.settings.fusion_dense_weight if req.dense_weight is None else req.dense_weight
    weights = {
        "dense": dense_weight,
        "lexical": 1.0 - dense_weight,
        "graph": plan.graph_weight,
    }
    if req.fusion is FusionMethod.RRF:
        return fusion.rrf_fusion(signals, weights)
    if req.fusion is FusionMethod.MINMAX:
        return fusion.linear_fusion(signals, weights)
    normalised = {
        "lexical": fusion.scale_by_bound(signals.get("lexical", {}), lexical_bound),
        "dense": fusion.minmax(signals.get("dense", {})),
    }
    if signals.get("graph"):
        # PPR mass is relative: the best memory of this query's walk is 1.
        normalised["graph"] = fusion.scale_by_bound(signals["graph"], 0.0)
    return fusion.weighted_sum(normalised, weights)


def _time_boosts(
    rt: Runtime, req: SearchRequest, plan: _Plan, states: dict[uuid.UUID, CandidateState]
) -> dict[uuid.UUID, float]:
    """How well each candidate's occurred_at fits the query's time windows (1 inside)."""
    if not plan.windows or req.time is not TimeUse.AUTO or rt.settings.time_boost_weight <= 0:
        return {}
    half_life = rt.settings.time_boost_half_life_days
    return {
        mid: max(
            timeexpr.time_boost(state.occurred_at, w, half_life_days=half_life)
            for w in plan.windows
        )
        for mid, state in states.items()
    }


def _boosted(
    rt: Runtime, fused: dict[uuid.UUID, float], boosts: dict[uuid.UUID, float]
) -> dict[uuid.UUID, float]:
    """Scale each score between (1 - w) (far from the asked time) and 1 (inside it)."""
    w = rt.settings.time_boost_weight
    return {mid: score * (1.0 - w + w * boosts.get(mid, 0.0)) for mid, score in fused.items()}


def _retention(
    rt: Runtime, states: dict[uuid.UUID, CandidateState], now: datetime
) -> dict[uuid.UUID, float]:
    """MemoryBank retention of each candidate: exp(-Δt / (τ·S)), Δt since its last recall."""
    tau = rt.settings.retention_tau_days
    return {
        mid: retention(elapsed_days(state.since, now), state.strength, tau)
        for mid, state in states.items()
    }


def _weighted_by_retention(
    rt: Runtime, fused: dict[uuid.UUID, float], kept: dict[uuid.UUID, float]
) -> dict[uuid.UUID, float]:
    """Scale each score between (1 - w) (long forgotten) and 1 (fresh in memory)."""
    w = rt.settings.retention_weight
    if w <= 0:
        return fused
    return {mid: score * (1.0 - w + w * kept.get(mid, 1.0)) for mid, score in fused.items()}


def _current_first(
    rt: Runtime, fused: dict[uuid.UUID, float], stale: set[uuid.UUID]
) -> dict[uuid.UUID, float]:
    """What is no longer true ranks below what is (it stays findable: "where did I live
    before?")."""
    w = rt.settings.superseded_weight
    return {mid: score * w if mid in stale else score for mid, score in fused.items()}


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)
