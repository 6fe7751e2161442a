"""A-MEM links of a memory, and the HippoRAG entity graph of a cube (admin view)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import GraphOut, LinkedMemoryOut, LinkOut, LinksOut, MemoryOut
from memsvc.services import graph, links
from memsvc.services.graph import GRAPH_PAGE_MAX

router = APIRouter(tags=["organisation"])


def linked_out(note: links.LinkedNote) -> LinkedMemoryOut:
    return LinkedMemoryOut(
        link=LinkOut.model_validate(note.link), memory=MemoryOut.model_validate(note.memory)
    )


@router.get("/v1/cubes/{cube_id}/memories/{memory_id}/links", response_model=LinksOut)
async def memory_links(
    cube_id: uuid.UUID, memory_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep
) -> LinksOut:
    """The memory's links (made by its note, `out`, or by later notes, `in`) to live
    memories, strongest first, with those memories."""
    found = await links.get_links(rt, principal, cube_id, memory_id)
    return LinksOut(memory_id=memory_id, links=[linked_out(note) for note in found])


@router.get("/v1/cubes/{cube_id}/graph", response_model=GraphOut)
async def cube_graph(
    cube_id: uuid.UUID,
    rt: RuntimeDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=GRAPH_PAGE_MAX)] = 200,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> GraphOut:
    """The cube's entity graph, a page of nodes and a page of edges at a time (id order)."""
    page = await graph.graph_page(rt, principal, cube_id, limit=limit, cursor=cursor)
    return GraphOut.model_validate(page)
