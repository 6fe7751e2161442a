"""What the memory lifecycle reads and writes: duplicates, lineage, the forgetting sweep's
candidates, derived memories (summaries, portraits, core blocks), thoughts and vault secrets."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Float, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms.dedup import DuplicateProbe
from memsvc.domain.memory import Memory
from memsvc.domain.types import SEARCHABLE_STATUSES, MemoryType, Status
from memsvc.store.memories import PUBLIC_COLUMNS
from memsvc.store.tables import memories, memory_sources

m = memories.c
_LIVE = [s.value for s in SEARCHABLE_STATUSES]
# What summaries are made from: live memories and faded (archived) ones; a summary keeps what
# its day said after the details are forgotten.
_REMEMBERED = [*_LIVE, Status.ARCHIVED.value]


# --- write-time dedup ---------------------------------------------------------------------


def _same_owner(probe: DuplicateProbe) -> list[Any]:
    """Only a memory of the same type, about the same user and agent, can be a duplicate; an
    episodic one also needs the same session and time (the same event sent again, not the
    same words said on another day)."""
    conds = [
        m.memory_type == probe.memory_type,
        m.user_id.is_not_distinct_from(probe.user_id),
        m.agent_id.is_not_distinct_from(probe.agent_id),
        m.derived_key.is_(None),
        m.secret_ciphertext.is_(None),
    ]
    if probe.memory_type == MemoryType.EPISODIC.value:
        conds.append(m.session_id.is_not_distinct_from(probe.session_id))
        if probe.occurred_at is not None:
            conds.append(m.occurred_at == probe.occurred_at)
    return conds


async def find_duplicate(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    probe: DuplicateProbe,
    threshold: float,
    exact_scan: bool,
) -> tuple[uuid.UUID, str] | None:
    """The live memory this one duplicates, and how ("exact" or "near"), if any."""
    base = [m.cube_id == cube_id, m.status.in_(_LIVE), *_same_owner(probe)]
    exact = (
        await conn.execute(
            select(m.id).where(*base, m.content_hash == probe.content_hash).order_by(m.seq).limit(1)
        )
    ).scalar()
    if exact is not None:
        return exact, "exact"
    if threshold >= 1.0:
        return None
    distance = m.embedding.cosine_distance(probe.vector)
    # `+ 0.0` keeps the planner off the HNSW index for small cubes (an exact scan is cheaper
    # and never misses a filtered-out neighbour).
    order = (distance + literal(0.0, Float)) if exact_scan else distance
    row = (
        await conn.execute(
            select(m.id, (1.0 - distance).label("sim"))
            .where(*base, m.embedding.is_not(None))
            .order_by(order)
            .limit(1)
        )
    ).first()
    if row is not None and float(row.sim) >= threshold:
        return row.id, "near"
    return None


async def lock_cube_writes(conn: AsyncConnection, *, cube_id: uuid.UUID) -> None:
    """Serialise writers that must see each other's rows (dedup, derived memories) in a cube."""
    await conn.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"memsvc:cube:{cube_id}", 0)))
    )


# --- lineage ------------------------------------------------------------------------------


async def add_sources(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    source_ids: Sequence[uuid.UUID],
    relation: str,
) -> None:
    rows = [
        {"memory_id": memory_id, "source_id": sid, "cube_id": cube_id, "relation": relation}
        for sid in dict.fromkeys(source_ids)
        if sid != memory_id
    ]
    if rows:
        await conn.execute(
            insert(memory_sources)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["memory_id", "source_id", "relation"])
        )


async def replace_sources(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    source_ids: Sequence[uuid.UUID],
    relation: str,
) -> None:
    await conn.execute(
        memory_sources.delete().where(
            memory_sources.c.memory_id == memory_id, memory_sources.c.relation == relation
        )
    )
    await add_sources(
        conn, cube_id=cube_id, memory_id=memory_id, source_ids=source_ids, relation=relation
    )


async def lineage(
    conn: AsyncConnection, *, memory_id: uuid.UUID
) -> tuple[list[tuple[uuid.UUID, str]], list[tuple[uuid.UUID, str]]]:
    """(what this memory was made from, what was made from it): (id, relation) pairs."""
    s = memory_sources.c
    sources = await conn.execute(
        select(s.source_id, s.relation).where(s.memory_id == memory_id).order_by(s.created_at)
    )
    derived = await conn.execute(
        select(s.memory_id, s.relation).where(s.source_id == memory_id).order_by(s.created_at)
    )
    return [tuple(r) for r in sources.tuples()], [tuple(r) for r in derived.tuples()]


# --- the forgetting sweep -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RetentionState:
    id: uuid.UUID
    strength: float
    since: datetime  # last recall, or creation


async def forgettable(
    conn: AsyncConnection, *, cube_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[RetentionState]:
    """Live memories the sweep may archive (not core, pinned or vault), in id order."""
    query = (
        select(m.id, m.strength, func.coalesce(m.last_recalled_at, m.created_at).label("since"))
        .where(
            m.cube_id == cube_id,
            m.status.in_(_LIVE),
            m.pinned.is_(False),
            # Summaries and portraits are what remains of faded memories: they stay.
            m.derived_key.is_(None),
            m.memory_type.not_in([MemoryType.CORE.value, MemoryType.KNOWLEDGE_VAULT.value]),
        )
        .order_by(m.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(m.id > after)
    return [RetentionState(r.id, float(r.strength), r.since) for r in await conn.execute(query)]


async def lock_live(
    conn: AsyncConnection, *, cube_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Memory]:
    """The live memories among `ids`, locked (id order, so two sweeps cannot deadlock)."""
    if not ids:
        return {}
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS)
        .where(m.cube_id == cube_id, m.id.in_(sorted(set(ids))), m.status.in_(_LIVE))
        .order_by(m.id)
        .with_for_update()
    )
    return {r.id: Memory.from_row(r._mapping) for r in rows}


# --- derived memories (summaries, portraits, core blocks) ---------------------------------


async def by_derived_key(
    conn: AsyncConnection, *, cube_id: uuid.UUID, key: str, lock: bool = False
) -> Memory | None:
    query = select(*PUBLIC_COLUMNS).where(m.cube_id == cube_id, m.derived_key == key)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return Memory.from_row(row._mapping) if row else None


async def derived_with_prefix(
    conn: AsyncConnection, *, cube_id: uuid.UUID, prefix: str
) -> list[tuple[str, Memory]]:
    rows = await conn.execute(
        select(m.derived_key, *PUBLIC_COLUMNS)
        .where(m.cube_id == cube_id, m.derived_key.startswith(prefix, autoescape=True))
        .order_by(m.derived_key)
    )
    return [(r.derived_key, Memory.from_row(r._mapping)) for r in rows]


@dataclasses.dataclass(frozen=True)
class EpisodeRow:
    id: uuid.UUID
    user_id: str | None
    occurred_at: datetime
    content: str


async def episodes(
    conn: AsyncConnection, *, cube_id: uuid.UUID, since: datetime | None = None
) -> list[EpisodeRow]:
    """The cube's live and archived episodic memories of clients (not summaries), oldest
    first."""
    query = (
        select(m.id, m.user_id, m.occurred_at, m.content)
        .where(
            m.cube_id == cube_id,
            m.status.in_(_REMEMBERED),
            m.memory_type == MemoryType.EPISODIC.value,
            m.origin.is_(None),
        )
        .order_by(m.occurred_at, m.seq)
    )
    if since is not None:
        query = query.where(m.occurred_at >= since)
    return [EpisodeRow(*r) for r in (await conn.execute(query)).tuples()]


async def user_statements(
    conn: AsyncConnection, *, cube_id: uuid.UUID, limit: int
) -> list[tuple[uuid.UUID, str, str]]:
    """(id, user_id, content) of the newest live or archived client memories naming a user,
    oldest first (a trait stays true when the chat that showed it fades)."""
    rows = await conn.execute(
        select(m.id, m.user_id, m.content)
        .where(
            m.cube_id == cube_id,
            m.status.in_(_REMEMBERED),
            m.user_id.is_not(None),
            m.origin.is_(None),
            m.memory_type.in_([MemoryType.EPISODIC.value, MemoryType.SEMANTIC.value]),
        )
        .order_by(m.seq.desc())
        .limit(limit)
    )
    return [(i, u, c) for i, u, c in reversed(list(rows.tuples()))]


async def core_blocks(
    conn: AsyncConnection, *, cube_id: uuid.UUID, user_id: str | None
) -> list[Memory]:
    """The live core memories of a cube for one user (and those for every user), oldest first."""
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS)
        .where(
            m.cube_id == cube_id,
            m.status.in_(_LIVE),
            m.memory_type == MemoryType.CORE.value,
            or_(m.user_id.is_(None), m.user_id == user_id)
            if user_id is not None
            else m.user_id.is_(None),
        )
        .order_by(m.seq)
    )
    return [Memory.from_row(r._mapping) for r in rows]


# --- thoughts -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ThoughtRow:
    id: uuid.UUID
    content: str
    fields: dict[str, Any]
    vector: np.ndarray
    created_at: datetime
    bucket: int


async def thoughts_in_buckets(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    buckets: Sequence[int],
    user_id: str | None,
    lock: bool = False,
) -> list[ThoughtRow]:
    """The live thoughts of these LSH buckets (one user's, or the cube's shared ones)."""
    if not buckets:
        return []
    query = (
        select(m.id, m.content, m.fields, m.embedding, m.created_at, m.lsh_bucket)
        .where(
            m.cube_id == cube_id,
            m.status.in_(_LIVE),
            m.lsh_bucket.in_(list(buckets)),
            m.user_id.is_not_distinct_from(user_id),
        )
        .order_by(m.id)
    )
    if lock:
        query = query.with_for_update()
    return [
        ThoughtRow(r.id, r.content, r.fields, np.asarray(r.embedding), r.created_at, r.lsh_bucket)
        for r in await conn.execute(query)
    ]


async def thought_users(conn: AsyncConnection, *, cube_id: uuid.UUID) -> list[str | None]:
    rows = await conn.execute(
        select(m.user_id)
        .where(m.cube_id == cube_id, m.status.in_(_LIVE), m.lsh_bucket.is_not(None))
        .distinct()
    )
    return list(rows.scalars())


async def set_buckets(conn: AsyncConnection, *, buckets: dict[uuid.UUID, int]) -> None:
    for mid, bucket in buckets.items():
        await conn.execute(update(memories).where(m.id == mid).values(lsh_bucket=bucket))


# --- vault --------------------------------------------------------------------------------


async def set_secret(conn: AsyncConnection, *, memory_id: uuid.UUID, ciphertext: bytes) -> None:
    await conn.execute(
        update(memories).where(m.id == memory_id).values(secret_ciphertext=ciphertext)
    )


async def secrets_of(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    if not ids:
        return {}
    rows = await conn.execute(
        select(m.id, m.secret_ciphertext).where(
            m.id.in_(list(ids)), m.secret_ciphertext.is_not(None)
        )
    )
    return {mid: bytes(ct) for mid, ct in rows.tuples()}
