"""A memory's A-MEM links, with the memories at their other ends."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.memory import Memory
from memsvc.domain.types import Scope
from memsvc.services.auth import Principal
from memsvc.services.memories import require_memory
from memsvc.services.runtime import Runtime
from memsvc.store import links as link_store
from memsvc.store import memories as memory_store


@dataclasses.dataclass(frozen=True)
class LinkedNote:
    memory: Memory
    link: link_store.Link


async def linked_notes(
    conn: AsyncConnection, ids: list[uuid.UUID], *, per_memory: int | None
) -> dict[uuid.UUID, list[LinkedNote]]:
    """Each memory's strongest links to live memories, with those memories."""
    links = await link_store.links_of(conn, ids=ids, limit_per_memory=per_memory)
    others = await memory_store.get_many(
        conn, ids=list({link.other_id for found in links.values() for link in found})
    )
    return {
        mid: [
            LinkedNote(memory=others[lk.other_id], link=lk) for lk in found if lk.other_id in others
        ]
        for mid, found in links.items()
    }


async def get_links(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> list[LinkedNote]:
    """Every link of a memory (both directions) to a live memory, strongest first."""
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_memory(conn, principal, cube_id, memory_id)
        found = await linked_notes(conn, [memory_id], per_memory=None)
    return found.get(memory_id, [])
