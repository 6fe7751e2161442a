"""Activation (KV-cache) builds and the memories they cover."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.activation.prefix import PrefixMemory
from memsvc.domain.types import SEARCHABLE_STATUSES, MemoryType
from memsvc.store.tables import activations, memories

a = activations.c
m = memories.c
_LIVE = [s.value for s in SEARCHABLE_STATUSES]
# Never in a prefix: vault secrets would be written, decrypted, into a cache file.
NEVER_ACTIVATED = (MemoryType.KNOWLEDGE_VAULT.value,)
# Rows a new request for the cube makes obsolete.
IN_FLIGHT = ("queued", "building")


async def insert_activation(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(activations).values(**row))


async def get_activation(
    conn: AsyncConnection, *, activation_id: uuid.UUID, lock: bool = False
) -> dict[str, Any] | None:
    query = select(activations).where(a.id == activation_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def latest(
    conn: AsyncConnection, *, cube_id: uuid.UUID, status: str | None = None
) -> dict[str, Any] | None:
    """The cube's newest build (of that status), replaced ones aside."""
    query = select(activations).where(a.cube_id == cube_id, a.status != "replaced")
    if status is not None:
        query = query.where(a.status == status)
    row = (await conn.execute(query.order_by(a.created_at.desc()).limit(1))).mappings().first()
    return dict(row) if row else None


async def set_fields(conn: AsyncConnection, *, activation_id: uuid.UUID, **fields: Any) -> None:
    await conn.execute(update(activations).where(a.id == activation_id).values(**fields))


async def replace_older(
    conn: AsyncConnection, *, cube_id: uuid.UUID, newer: uuid.UUID, built_at: datetime
) -> list[str]:
    """Mark the cube's older ready builds replaced; return their files (to delete)."""
    rows = await conn.execute(
        update(activations)
        .where(
            a.cube_id == cube_id,
            a.id != newer,
            a.status == "ready",
            a.built_at <= built_at,
        )
        .values(status="replaced")
        .returning(a.path)
    )
    return [path for (path,) in rows if path]


async def current_versions(
    conn: AsyncConnection, *, cube_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Version of each of `ids` that is still live (a deleted or archived one is absent)."""
    if not ids:
        return {}
    rows = await conn.execute(
        select(m.id, m.version).where(m.cube_id == cube_id, m.id.in_(ids), m.status.in_(_LIVE))
    )
    return {mid: version for mid, version in rows}  # noqa: C416


def _prefix_memory(row: Any) -> PrefixMemory:
    label = (row.fields or {}).get("label") if row.memory_type == MemoryType.CORE.value else None
    return PrefixMemory(
        id=row.id,
        version=row.version,
        memory_type=row.memory_type,
        content=row.content,
        occurred_at=row.occurred_at,
        label=label,
    )


_COLUMNS = (m.id, m.version, m.memory_type, m.content, m.occurred_at, m.fields)


async def core_memories(conn: AsyncConnection, *, cube_id: uuid.UUID) -> list[PrefixMemory]:
    rows = await conn.execute(
        select(*_COLUMNS)
        .where(m.cube_id == cube_id, m.memory_type == MemoryType.CORE.value, m.status.in_(_LIVE))
        .order_by(m.created_at, m.id)
    )
    return [_prefix_memory(row) for row in rows]


async def strongest(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    memory_types: Sequence[str] | None,
    now: datetime,
    limit: int,
) -> list[PrefixMemory]:
    """Live memories by strength, then how often they were recalled, then recency.

    Facts no longer valid (superseded) are left out: the prefix states what is true now.
    """
    conditions = [
        m.cube_id == cube_id,
        m.status.in_(_LIVE),
        m.memory_type.not_in([*NEVER_ACTIVATED, MemoryType.CORE.value]),
        and_(m.valid_to.is_(None) | (m.valid_to > now)),
    ]
    if memory_types:
        conditions.append(m.memory_type.in_(list(memory_types)))
    rows = await conn.execute(
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(m.strength.desc(), m.recall_count.desc(), m.occurred_at.desc(), m.id)
        .limit(limit)
    )
    return [_prefix_memory(row) for row in rows]


async def by_ids(
    conn: AsyncConnection, *, cube_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[PrefixMemory, str]]:
    """The given memories of the cube with their status (missing ids are absent)."""
    rows = await conn.execute(
        select(*_COLUMNS, m.status).where(m.cube_id == cube_id, m.id.in_(list(ids)))
    )
    return {row.id: (_prefix_memory(row), row.status) for row in rows}


async def stale_builds(conn: AsyncConnection, *, limit: int = 100) -> list[dict[str, Any]]:
    """Ready builds that went stale and have no newer build queued or running for their cube."""
    later = activations.alias("later")
    rows = await conn.execute(
        select(activations)
        .where(
            a.status == "ready",
            a.stale_since.is_not(None),
            ~select(later.c.id)
            .where(later.c.cube_id == a.cube_id, later.c.status.in_(IN_FLIGHT))
            .exists(),
        )
        .order_by(a.stale_since)
        .limit(limit)
    )
    return [dict(row) for row in rows.mappings()]


async def in_flight(conn: AsyncConnection, *, cube_id: uuid.UUID) -> int:
    """How many builds of the cube are queued or running."""
    return int(
        (
            await conn.execute(
                select(func.count()).where(a.cube_id == cube_id, a.status.in_(IN_FLIGHT))
            )
        ).scalar_one()
    )
