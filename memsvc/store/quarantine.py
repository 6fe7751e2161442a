"""Trust and quarantine: the more trusted memories a new one is checked against, and the
quarantine records admins review."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Float, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.memory import Memory
from memsvc.domain.types import SEARCHABLE_STATUSES, Status
from memsvc.store.memories import PUBLIC_COLUMNS
from memsvc.store.tables import cubes, memories, memory_quarantine

m = memories.c
q = memory_quarantine.c
_LIVE = [s.value for s in SEARCHABLE_STATUSES]


def _same_user(user_id: str | None) -> ColumnElement[bool]:
    return m.user_id.is_(None) if user_id is None else m.user_id == user_id


def _current(cube_id: uuid.UUID, now: datetime) -> list[ColumnElement[bool]]:
    """Live memories of the cube that are still valid (a superseded fact no longer testifies)."""
    return [
        m.cube_id == cube_id,
        m.status.in_(_LIVE),
        or_(m.valid_to.is_(None), m.valid_to > now),
        m.memory_type != "knowledge_vault",
    ]


async def highest_trust(
    conn: AsyncConnection, *, cube_id: uuid.UUID, user_ids: Sequence[str | None], now: datetime
) -> dict[str | None, int]:
    """The highest trust among each user's current memories (absent: the user has none)."""
    wanted = {u for u in user_ids if u is not None}
    owners = [m.user_id.in_(sorted(wanted))] if wanted else []
    if None in user_ids:
        owners.append(m.user_id.is_(None))
    if not owners:
        return {}
    rows = await conn.execute(
        select(m.user_id, func.max(m.trust))
        .where(*_current(cube_id, now), or_(*owners))
        .group_by(m.user_id)
    )
    return {user: int(top) for user, top in rows.tuples()}


async def witnesses(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    user_id: str | None,
    above: int,
    now: datetime,
    vector: np.ndarray,
    subject: str | None,
    attribute: str | None,
    memory_type: str,
    min_similarity: float,
    limit: int,
    exclude: Sequence[uuid.UUID] = (),
    exact: bool = True,
) -> list[tuple[Memory, float]]:
    """Current memories of the user more trusted than `above`: the facts of the same slot
    (when there is one), then the nearest by cosine at least `min_similarity`; at most `limit`
    of each, with their cosine to `vector`."""
    distance = m.embedding.cosine_distance(vector)
    base = [
        *_current(cube_id, now),
        _same_user(user_id),
        m.trust > above,
        m.embedding.is_not(None),
    ]
    if exclude:
        base.append(m.id.notin_(list(exclude)))
    found: dict[uuid.UUID, tuple[Memory, float]] = {}
    if subject and attribute:
        rows = await conn.execute(
            select(*PUBLIC_COLUMNS, (1 - distance).label("similarity"))
            .where(
                *base,
                m.fact_subject == subject,
                m.fact_attribute == attribute,
                m.memory_type == memory_type,
            )
            .order_by(m.trust.desc(), m.seq)
            .limit(limit)
        )
        for r in rows:
            found[r.id] = (Memory.from_row(r._mapping), float(r.similarity or 0.0))
    # `+ 0` hides the expression from the HNSW index: an exact, filtered scan.
    order = (distance + literal(0.0, Float)) if exact else distance
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS, (1 - distance).label("similarity"))
        .where(*base, distance <= 1.0 - min_similarity)
        .order_by(order, m.seq)
        .limit(limit)
    )
    for r in rows:
        found.setdefault(r.id, (Memory.from_row(r._mapping), float(r.similarity or 0.0)))
    return list(found.values())


# --- quarantine records ---------------------------------------------------------------------


async def insert_record(
    conn: AsyncConnection,
    *,
    memory_id: uuid.UUID,
    cube_id: uuid.UUID,
    tenant_id: uuid.UUID,
    trust: int,
    reason: str,
    conflicts: list[dict[str, Any]],
    judged_by: str,
) -> dict[str, Any]:
    row = (
        await conn.execute(
            insert(memory_quarantine)
            .values(
                memory_id=memory_id,
                cube_id=cube_id,
                tenant_id=tenant_id,
                trust=trust,
                reason=reason,
                conflict_ids=[uuid.UUID(c["memory_id"]) for c in conflicts],
                conflicts=conflicts,
                judged_by=judged_by,
                created_at=func.now(),
            )
            .returning(memory_quarantine)
        )
    ).one()
    return dict(row._mapping)


async def latest_record(conn: AsyncConnection, *, memory_id: uuid.UUID) -> dict[str, Any] | None:
    """The memory's newest quarantine record (open or resolved), if it ever had one."""
    row = (
        await conn.execute(
            select(memory_quarantine).where(q.memory_id == memory_id).order_by(q.id.desc()).limit(1)
        )
    ).first()
    return dict(row._mapping) if row else None


async def resolve(
    conn: AsyncConnection,
    *,
    record_id: int,
    resolution: str | None,
    by: str | None,
    note: str | None,
) -> None:
    """Close a record (`released` or `rejected`), or reopen it (resolution None)."""
    await conn.execute(
        update(memory_quarantine)
        .where(q.id == record_id)
        .values(
            resolution=resolution,
            resolved_by=by,
            note=note,
            resolved_at=func.now() if resolution is not None else None,
        )
    )


async def list_open(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID | None,
    cube_id: uuid.UUID | None,
    limit: int,
    after_id: int | None,
) -> list[tuple[dict[str, Any], Memory]]:
    """Open quarantines, oldest first, each with its memory as it is now (live cubes only;
    not one its owner has deleted meanwhile: its restore brings it back here)."""
    record_columns = [c.label(f"q_{c.name}") for c in memory_quarantine.columns]
    query = (
        select(*record_columns, *PUBLIC_COLUMNS)
        .select_from(
            memory_quarantine.join(memories, m.id == q.memory_id).join(
                cubes, cubes.c.id == q.cube_id
            )
        )
        .where(
            q.resolved_at.is_(None),
            cubes.c.deleted_at.is_(None),
            m.status == Status.QUARANTINED.value,
        )
        .order_by(q.id)
        .limit(limit)
    )
    if tenant_id is not None:
        query = query.where(q.tenant_id == tenant_id)
    if cube_id is not None:
        query = query.where(q.cube_id == cube_id)
    if after_id is not None:
        query = query.where(q.id > after_id)
    out = []
    for r in await conn.execute(query):
        data = r._mapping
        record = {c.name: data[f"q_{c.name}"] for c in memory_quarantine.columns}
        out.append((record, Memory.from_row(data)))
    return out


async def memory_owner(
    conn: AsyncConnection, *, memory_id: uuid.UUID, lock: bool = False
) -> tuple[Memory, uuid.UUID] | None:
    """A memory of any tenant (in a live cube) and its tenant: what the admin acts on."""
    query = (
        select(*PUBLIC_COLUMNS, cubes.c.tenant_id.label("owner_tenant"))
        .select_from(memories.join(cubes, cubes.c.id == m.cube_id))
        .where(m.id == memory_id, cubes.c.deleted_at.is_(None))
    )
    if lock:
        query = query.with_for_update(of=memories)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Memory.from_row(row._mapping), row.owner_tenant
