"""A-MEM links between memories: typed, weighted, stored once (from the newer note)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, delete, func, literal, or_, select, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.store.tables import memories, memory_links

lk = memory_links.c
m = memories.c


@dataclasses.dataclass(frozen=True)
class Link:
    """A link as seen from one memory: `direction` is `out` when that memory made it."""

    memory_id: uuid.UUID  # the memory this link is seen from
    other_id: uuid.UUID
    direction: str
    link_type: str
    weight: float
    created_by: str
    created_at: datetime


async def replace_outgoing(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    source_id: uuid.UUID,
    links: Sequence[tuple[uuid.UUID, str, float]],
    created_by: str,
) -> None:
    """Make `links` (target, type, weight) the outgoing links of `source_id`.

    Run again for the same memory (its content changed, or a retried job), it leaves exactly
    the new set: no duplicates, no stale links.
    """
    await conn.execute(delete(memory_links).where(lk.source_id == source_id))
    rows: list[dict[str, Any]] = [
        {
            "source_id": source_id,
            "target_id": target,
            "cube_id": cube_id,
            "link_type": link_type,
            "weight": max(0.0, min(1.0, float(weight))),
            "created_by": created_by,
        }
        for target, link_type, weight in links
        if target != source_id
    ]
    if rows:
        # A link the other way already joins the pair: keep that one.
        await conn.execute(
            insert(memory_links).values(created_at=func.now()).on_conflict_do_nothing(), rows
        )


def _seen_from(this: Any, other: Any, direction: str, ids: Sequence[uuid.UUID]) -> Any:
    return select(
        this.label("memory_id"),
        other.label("other_id"),
        literal(direction, Text).label("direction"),
        lk.link_type,
        lk.weight,
        lk.created_by,
        lk.created_at,
    ).where(this.in_(list(ids)))


def _both_directions(ids: Sequence[uuid.UUID]) -> Any:
    outgoing = _seen_from(lk.source_id, lk.target_id, "out", ids)
    incoming = _seen_from(lk.target_id, lk.source_id, "in", ids)
    return union_all(outgoing, incoming).subquery("links")


async def links_of(
    conn: AsyncConnection,
    *,
    ids: Sequence[uuid.UUID],
    live_only: bool = True,
    limit_per_memory: int | None = None,
) -> dict[uuid.UUID, list[Link]]:
    """Links of each memory in `ids`, strongest first (only to live memories by default)."""
    if not ids:
        return {}
    both = _both_directions(ids)
    query = select(both).join(memories, m.id == both.c.other_id)
    if live_only:
        query = query.where(m.status.in_([s.value for s in SEARCHABLE_STATUSES]))
    query = query.order_by(both.c.memory_id, both.c.weight.desc(), both.c.other_id)
    out: dict[uuid.UUID, list[Link]] = {}
    for row in await conn.execute(query):
        found = out.setdefault(row.memory_id, [])
        if limit_per_memory is None or len(found) < limit_per_memory:
            found.append(Link(**row._mapping))
    return out


async def count_links(conn: AsyncConnection, *, cube_id: uuid.UUID) -> int:
    return int((await conn.execute(select(func.count()).where(lk.cube_id == cube_id))).scalar_one())


async def delete_links_of(conn: AsyncConnection, *, memory_id: uuid.UUID) -> None:
    await conn.execute(
        delete(memory_links).where(or_(lk.source_id == memory_id, lk.target_id == memory_id))
    )
