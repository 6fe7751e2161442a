"""A-MEM notes: what enrichment reads and writes on memories, and note neighbours."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Float, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.store.tables import memories

m = memories.c


@dataclasses.dataclass(frozen=True)
class NoteState:
    """What enrichment needs of one memory."""

    id: uuid.UUID
    cube_id: uuid.UUID
    content: str
    content_hash: str
    status: str
    occurred_at: datetime
    tags: list[str]
    keywords: list[str]
    context: str | None
    version: int
    enriched_hash: str | None


_STATE_COLUMNS = [m[f.name] for f in dataclasses.fields(NoteState)]


async def note_states(
    conn: AsyncConnection, *, cube_id: uuid.UUID, ids: Sequence[uuid.UUID], lock: bool = False
) -> dict[uuid.UUID, NoteState]:
    """The memories of this cube among `ids` (locked in id order when `lock`)."""
    if not ids:
        return {}
    query = select(*_STATE_COLUMNS).where(m.cube_id == cube_id, m.id.in_(sorted(set(ids))))
    if lock:
        query = query.order_by(m.id).with_for_update()
    return {r.id: NoteState(**r._mapping) for r in await conn.execute(query)}


async def ordered_ids(
    conn: AsyncConnection, *, cube_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """`ids` of this cube in insertion order (notes are built oldest first)."""
    rows = await conn.execute(
        select(m.id).where(m.cube_id == cube_id, m.id.in_(list(ids))).order_by(m.seq)
    )
    return list(rows.scalars())


async def note_neighbours(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    exclude: uuid.UUID,
    vector: np.ndarray,
    limit: int,
    exact: bool,
) -> list[tuple[uuid.UUID, float]]:
    """The live memories whose notes are nearest to `vector` (cosine), best first."""
    distance = m.note_embedding.cosine_distance(vector)
    order = (distance + literal(0.0, Float)) if exact else distance
    rows = await conn.execute(
        select(m.id, (1.0 - distance).label("sim"))
        .where(
            m.cube_id == cube_id,
            m.id != exclude,
            m.note_embedding.is_not(None),
            m.status.in_([s.value for s in SEARCHABLE_STATUSES]),
        )
        .order_by(order)
        .limit(limit)
    )
    return [(mid, float(sim)) for mid, sim in rows.tuples()]


async def set_note_embedding(
    conn: AsyncConnection,
    *,
    memory_id: uuid.UUID,
    vector: np.ndarray,
    source: str | None = None,
    enriched_hash: str | None = None,
) -> None:
    """Store a note's embedding (and, for the memory's own enrichment, its provenance)."""
    values: dict[str, Any] = {"note_embedding": vector}
    if source is not None:
        values.update(note_source=source, enriched_hash=enriched_hash, enriched_at=func.now())
    await conn.execute(update(memories).where(m.id == memory_id).values(**values))


async def count_unenriched(conn: AsyncConnection, *, cube_id: uuid.UUID) -> int:
    """Memories whose current content has no note yet (enrichment still to come)."""
    query = select(func.count()).where(
        m.cube_id == cube_id,
        m.enriched_hash.is_distinct_from(m.content_hash),
    )
    return int((await conn.execute(query)).scalar_one())
