"""Search one cube, or several of the tenant's cubes at once."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks

from api.deps import PrincipalDep, RuntimeDep
from api.routes.links import linked_out
from api.schemas import (
    FusionIn,
    MemoryOut,
    MultiSearchIn,
    SearchHitOut,
    SearchIn,
    SearchOut,
    TimeWindowOut,
)
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.services import search
from memsvc.services.auth import Principal
from memsvc.services.runtime import Runtime
from memsvc.services.search import Hit, SearchRequest, SearchResult

router = APIRouter(tags=["search"])


def _request(body: SearchIn) -> SearchRequest:
    f = body.filters
    fusion = body.fusion or FusionIn()
    flt = MemoryFilter(
        statuses=SEARCHABLE_STATUSES,
        memory_types=tuple(body.memory_types or ()),
        user_id=f.user_id if f else None,
        agent_id=f.agent_id if f else None,
        session_id=f.session_id if f else None,
        tags=tuple(f.tags or ()) if f else (),
        metadata=f.metadata if f else None,
        occurred_after=f.occurred_after if f else None,
        occurred_before=f.occurred_before if f else None,
        as_of=body.as_of,
        min_trust=f.min_trust if f else None,
    )
    return SearchRequest(
        query=body.query,
        top_k=body.top_k,
        mode=body.mode,
        filter=flt,
        min_score=body.min_score,
        include_links=body.include_links,
        fusion=fusion.method,
        dense_weight=fusion.dense_weight,
        graph_weight=fusion.graph_weight,
        time=body.time,
        now=body.now,
    )


def _hit(hit: Hit, include_links: bool) -> SearchHitOut:
    memory = MemoryOut.model_validate(hit.memory)
    if not include_links:
        return SearchHitOut(memory=memory, score=hit.score, scores=hit.scores)
    linked = [linked_out(note) for note in hit.links]
    memory.links = [item.link for item in linked]
    return SearchHitOut(memory=memory, score=hit.score, scores=hit.scores, linked=linked)


def _out(result: SearchResult, include_links: bool) -> SearchOut:
    return SearchOut(
        results=[_hit(h, include_links) for h in result.results],
        took_ms=result.took_ms,
        timings_ms=result.timings_ms,
        time_windows=[TimeWindowOut.model_validate(w) for w in result.time_windows],
    )


@router.post("/v1/cubes/{cube_id}/search", response_model=SearchOut)
async def search_cube(
    cube_id: uuid.UUID,
    body: SearchIn,
    rt: RuntimeDep,
    principal: PrincipalDep,
    after_response: BackgroundTasks,
) -> SearchOut:
    """Search a cube: `hybrid` (default), `dense`, `lexical` or `graph`. Counts as a recall."""
    return await _search(rt, principal, [cube_id], body, after_response)


@router.post("/v1/search", response_model=SearchOut)
async def search_cubes(
    body: MultiSearchIn, rt: RuntimeDep, principal: PrincipalDep, after_response: BackgroundTasks
) -> SearchOut:
    """Search several of your cubes as one corpus."""
    return await _search(rt, principal, body.cube_ids, body, after_response)


async def _search(
    rt: Runtime,
    principal: Principal,
    cube_ids: list[uuid.UUID],
    body: SearchIn,
    after_response: BackgroundTasks,
) -> SearchOut:
    defer = rt.settings.reinforce_after_response
    result = await search.search(rt, principal, cube_ids, _request(body), defer_reinforcement=defer)
    if result.recalled:
        after_response.add_task(search.reinforce_recalled, rt, result)
    return _out(result, body.include_links)
