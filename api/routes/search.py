"""Search one cube, or several of the tenant's cubes at once."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import FusionIn, MemoryOut, MultiSearchIn, SearchHitOut, SearchIn, SearchOut
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.services import search
from memsvc.services.search import SearchRequest, SearchResult

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
    )


def _out(result: SearchResult) -> SearchOut:
    return SearchOut(
        results=[
            SearchHitOut(memory=MemoryOut.model_validate(h.memory), score=h.score, scores=h.scores)
            for h in result.results
        ],
        took_ms=result.took_ms,
        timings_ms=result.timings_ms,
    )


@router.post("/v1/cubes/{cube_id}/search", response_model=SearchOut)
async def search_cube(
    cube_id: uuid.UUID, body: SearchIn, rt: RuntimeDep, principal: PrincipalDep
) -> SearchOut:
    """Search a cube: `hybrid` (default), `dense` or `lexical`. Counts as a recall."""
    return _out(await search.search(rt, principal, [cube_id], _request(body)))


@router.post("/v1/search", response_model=SearchOut)
async def search_cubes(body: MultiSearchIn, rt: RuntimeDep, principal: PrincipalDep) -> SearchOut:
    """Search several of your cubes as one corpus."""
    return _out(await search.search(rt, principal, body.cube_ids, _request(body)))
