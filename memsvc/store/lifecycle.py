"""What the memory lifecycle reads and writes: duplicates, lineage, the forgetting sweep's
candidates, derived memories (summaries, portraits, core blocks), thoughts and vault secrets."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Text, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms.dedup import DuplicateProbe, same_owner
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


async def find_duplicates(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    probes: Sequence[DuplicateProbe],
    threshold: float,
    exact_scan: bool,
) -> list[tuple[uuid.UUID, str] | None]:
    """For each probe, the live memory it duplicates and how ("exact" or "near"), if any.

    Two queries for the whole batch (exact text, then nearest embedding for the rest) rather
    than two per probe: per-probe statements cost an add of 500 memories ~0.4 s of Python
    (compiling, binding and sending a vector each) on top of the database's work."""
    found: list[tuple[uuid.UUID, str] | None] = [None] * len(probes)
    if not probes:
        return found
    base = [
        m.cube_id == cube_id,
        m.status.in_(_LIVE),
        m.derived_key.is_(None),
        m.secret_ciphertext.is_(None),
    ]
    rows = await conn.execute(
        select(m.id, m.content_hash, m.memory_type, m.user_id, m.agent_id)
        .add_columns(m.session_id, m.occurred_at)
        .where(*base, m.content_hash == func.any(_text_array({p.content_hash for p in probes})))
        .order_by(m.seq)
    )
    stored = [
        (
            r.id,
            DuplicateProbe(
                memory_type=r.memory_type,
                content_hash=r.content_hash,
                vector=_NO_VECTOR,
                user_id=r.user_id,
                agent_id=r.agent_id,
                session_id=r.session_id,
                occurred_at=r.occurred_at,
            ),
        )
        for r in rows
    ]
    for index, probe in enumerate(probes):
        for memory_id, other in stored:
            if other.content_hash == probe.content_hash and same_owner(probe, other):
                found[index] = (memory_id, "exact")
                break
    rest = [i for i, match in enumerate(found) if match is None]
    if threshold >= 1.0 or not rest:
        return found
    if exact_scan:
        nearest = await _nearest_exact(conn, cube_id, probes, rest)
    else:
        nearest, unsure = await _nearest_indexed(conn, cube_id, probes, rest, threshold)
        nearest += await _nearest_exact(conn, cube_id, probes, unsure) if unsure else []
    for index, memory_id, sim in nearest:
        if sim >= threshold:
            found[index] = (memory_id, "near")
    return found


_NO_VECTOR = np.zeros(0, dtype=np.float32)

# The probes of a batch: index in the batch, vector and owner (memsvc.algorithms.dedup.same_owner:
# same type, user and agent; an episodic memory also the same session and, when it has one, the
# same time).
_PROBES = """
  FROM unnest(CAST(:idx AS int[]), CAST(:vecs AS vector[]), CAST(:types AS text[]),
              CAST(:users AS text[]), CAST(:agents AS text[]), CAST(:sessions AS text[]),
              CAST(:times AS timestamptz[]))
       AS p(i, v, memory_type, user_id, agent_id, session_id, occurred_at)
"""
_SAME_LIVE_OWNER = """
       {m}.cube_id = :cube AND {m}.status = ANY(CAST(:live AS text[]))
   AND {m}.derived_key IS NULL AND {m}.secret_ciphertext IS NULL
   AND {m}.memory_type = p.memory_type
   AND {m}.user_id IS NOT DISTINCT FROM p.user_id
   AND {m}.agent_id IS NOT DISTINCT FROM p.agent_id
   AND (p.memory_type <> :episodic
        OR ({m}.session_id IS NOT DISTINCT FROM p.session_id
            AND (p.occurred_at IS NULL OR {m}.occurred_at = p.occurred_at)))
"""

# Each probe's nearest live memory of the same owner, by an exact scan of the cube: `+ 0.0`
# keeps the planner off the HNSW index. Small cubes (cheap, never misses a neighbour), and the
# probes the index path could not settle.
_NEAREST_EXACT_SQL = f"""
SELECT p.i, n.id, n.sim
{_PROBES}
 CROSS JOIN LATERAL (
       SELECT m.id, 1 - (m.embedding <=> p.v) AS sim
         FROM memories m
        WHERE m.embedding IS NOT NULL AND {_SAME_LIVE_OWNER.format(m="m")}
        ORDER BY (m.embedding <=> p.v) + 0.0
        LIMIT 1) n
"""

# Large cubes: the `:k` nearest embeddings of the whole table by the HNSW index, unfiltered (so
# the planner cannot trade the index for a sort of one owner's rows: with the owner filters
# inside, it sorted ~600 rows per probe out of a sequential scan, 70 ms a probe at 100k), then
# the owner filters on those. `kth` is the k-th similarity: while it is below the threshold,
# every memory close enough to be a duplicate was among the k (up to the index's recall).
_NEAREST_INDEXED_SQL = f"""
SELECT p.i, n.id, n.sim, n.kth, n.seen
{_PROBES}
 CROSS JOIN LATERAL (
       SELECT (array_agg(c.id ORDER BY c.sim DESC) FILTER (WHERE c.mine))[1] AS id,
              max(c.sim) FILTER (WHERE c.mine) AS sim,
              min(c.sim) AS kth, count(*) AS seen
         FROM (SELECT m.id, 1 - (m.embedding <=> p.v) AS sim,
                      ({_SAME_LIVE_OWNER.format(m="m")}) AS mine
                 FROM memories m
                ORDER BY m.embedding <=> p.v
                LIMIT :k) c) n
"""
# How many nearest embeddings the index path reads per probe, and its beam (pgvector 0.6 has no
# iterative scan: a beam below k would return fewer rows).
_INDEXED_K = 24
_INDEXED_BEAM = 64


def _probe_params(
    cube_id: uuid.UUID, probes: Sequence[DuplicateProbe], indexes: list[int]
) -> dict[str, Any]:
    chosen = [probes[i] for i in indexes]
    return {
        "idx": indexes,
        "vecs": [vector_text(p.vector) for p in chosen],
        "types": [p.memory_type for p in chosen],
        "users": [p.user_id for p in chosen],
        "agents": [p.agent_id for p in chosen],
        "sessions": [p.session_id for p in chosen],
        "times": [p.occurred_at for p in chosen],
        "cube": cube_id,
        "live": _LIVE,
        "episodic": MemoryType.EPISODIC.value,
    }


async def _nearest_exact(
    conn: AsyncConnection,
    cube_id: uuid.UUID,
    probes: Sequence[DuplicateProbe],
    indexes: list[int],
) -> list[tuple[int, uuid.UUID, float]]:
    rows = await conn.execute(text(_NEAREST_EXACT_SQL), _probe_params(cube_id, probes, indexes))
    return [(int(i), mid, float(sim)) for i, mid, sim in rows.tuples()]


async def _nearest_indexed(
    conn: AsyncConnection,
    cube_id: uuid.UUID,
    probes: Sequence[DuplicateProbe],
    indexes: list[int],
    threshold: float,
) -> tuple[list[tuple[int, uuid.UUID, float]], list[int]]:
    """(nearest of each probe found through the index, probes it cannot answer): a probe whose
    k nearest embeddings are all within the threshold and none its owner's (many near-identical
    memories of other owners) goes to the exact scan."""
    await conn.execute(text(f"SET LOCAL hnsw.ef_search = {_INDEXED_BEAM}"))
    params = {**_probe_params(cube_id, probes, indexes), "k": _INDEXED_K}
    rows = (await conn.execute(text(_NEAREST_INDEXED_SQL), params)).tuples().all()
    await conn.execute(text("SET LOCAL hnsw.ef_search TO DEFAULT"))  # the rest of the add's
    found: list[tuple[int, uuid.UUID, float]] = []
    unsure: list[int] = []
    for i, mid, sim, kth, seen in rows:
        if mid is not None:
            found.append((int(i), mid, float(sim)))
        elif seen >= _INDEXED_K and kth is not None and kth >= threshold:
            unsure.append(int(i))
    return found, unsure


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form, `[x,y,...]` (float32 values print exactly in their repr)."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).tolist())) + "]"


def _text_array(values: set[str]) -> Any:
    return bindparam(None, sorted(values), type_=ARRAY(Text()))


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
