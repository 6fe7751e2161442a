"""Facts inferred from conversations, their validity over time, and staged message batches."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import DateTime, and_, bindparam, delete, func, insert, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.memory import Memory
from memsvc.domain.types import SEARCHABLE_STATUSES
from memsvc.store.memories import PUBLIC_COLUMNS
from memsvc.store.tables import ingest_batches, memories, memory_sources

m = memories.c
_LIVE = [s.value for s in SEARCHABLE_STATUSES]


@dataclasses.dataclass(frozen=True)
class StoredFact:
    memory: Memory
    similarity: float  # cosine to the new fact


def _current_facts(
    cube_id: uuid.UUID, user_id: str | None, subject: str, memory_type: str
) -> list[Any]:
    """Live, currently valid facts of one subject, type and user."""
    return [
        m.cube_id == cube_id,
        m.fact_subject == subject,
        m.memory_type == memory_type,
        m.status.in_(_LIVE),
        m.valid_to.is_(None),
        m.user_id.is_(None) if user_id is None else m.user_id == user_id,
    ]


async def current_facts(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    user_id: str | None,
    subject: str,
    memory_type: str,
    attribute: str | None,
    vector: np.ndarray,
    limit: int,
) -> list[StoredFact]:
    """The subject's current facts nearest the new one: those of the same slot first, then by
    cosine (the update rules look at slots before similarity)."""
    distance = m.embedding.cosine_distance(vector)
    same_slot = m.fact_attribute == attribute if attribute else literal(False)
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS, (1 - distance).label("similarity"))
        .where(*_current_facts(cube_id, user_id, subject, memory_type))
        .order_by(same_slot.desc(), distance, m.seq)
        .limit(limit)
    )
    return [StoredFact(Memory.from_row(r._mapping), float(r.similarity or 0.0)) for r in rows]


async def current_secrets(
    conn: AsyncConnection, *, cube_id: uuid.UUID, user_id: str | None, subject: str
) -> list[tuple[uuid.UUID, str | None, bytes, int]]:
    """(id, slot, ciphertext, trust) of the subject's current vault entries, oldest first."""
    rows = await conn.execute(
        select(m.id, m.fact_attribute, m.secret_ciphertext, m.trust)
        .where(
            *_current_facts(cube_id, user_id, subject, "knowledge_vault"),
            m.secret_ciphertext.is_not(None),
        )
        .order_by(m.seq)
    )
    return [(i, a, bytes(c), int(t)) for i, a, c, t in rows.tuples()]


async def turns_with_message_ids(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    session_id: str | None,
    message_ids: Sequence[str],
) -> dict[str, Memory]:
    """Stored conversation turns (not inferred memories) by message id, in one session: what a
    retried batch already wrote."""
    if not message_ids:
        return {}
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS).where(
            m.cube_id == cube_id,
            m.session_id.is_(None) if session_id is None else m.session_id == session_id,
            m.fact_subject.is_(None),
            m.source_message_ids.overlap(list(message_ids)),
            m.status != "deleted",
        )
    )
    found: dict[str, Memory] = {}
    wanted = set(message_ids)
    for r in rows:
        memory = Memory.from_row(r._mapping)
        for mid in memory.source_message_ids:
            if mid in wanted:
                found.setdefault(mid, memory)
    return found


async def turns_with_text(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    session_id: str | None,
    keys: Sequence[tuple[str, datetime]],
) -> dict[tuple[str, datetime], Memory]:
    """Stored conversation turns by (content hash, timestamp), in one session: the same words
    at the same moment are the same message sent again."""
    if not keys:
        return {}
    rows = await conn.execute(
        select(*PUBLIC_COLUMNS, m.content_hash).where(
            m.cube_id == cube_id,
            m.session_id.is_(None) if session_id is None else m.session_id == session_id,
            m.memory_type == "episodic",
            m.fact_subject.is_(None),
            m.content_hash.in_(sorted({h for h, _ in keys})),
            m.occurred_at.in_(sorted({t for _, t in keys})),
            m.status != "deleted",
        )
    )
    found: dict[tuple[str, datetime], Memory] = {}
    for r in rows:
        memory = Memory.from_row(r._mapping)
        found.setdefault((r.content_hash, memory.occurred_at), memory)
    return found


@dataclasses.dataclass(frozen=True)
class CandidateState:
    """What ranking needs of a search candidate beyond its scores."""

    strength: float  # MemoryBank strength S
    since: datetime  # last recall, else creation: the start of its forgetting curve
    occurred_at: datetime  # when it happened (the time boost)
    stale: bool  # no longer valid at the search's time (see candidate_states)


def _facts_all_ended(turn_id: Any, at: Any) -> Any:
    """True when every semantic fact extracted from the turn `turn_id` has ended by `at`;
    NULL when none was extracted (bool_and of nothing)."""
    src = memory_sources.alias("turn_src")
    fact = memories.alias("fact")
    return (
        select(func.bool_and(and_(fact.c.valid_to.is_not(None), fact.c.valid_to <= at)))
        .select_from(src.join(fact, fact.c.id == src.c.memory_id))
        .where(
            src.c.source_id == turn_id,
            src.c.relation == "extracted",
            fact.c.memory_type == "semantic",
        )
        .scalar_subquery()
    )


@functools.cache
def _candidate_states_query(staleness: bool) -> Any:
    """Built once: composing it (two aliases of a wide table, two subqueries) cost each search
    ~8 ms of Python at 200 candidates, four times the database's work. `:ids`, `:at` bound."""
    extracted = memory_sources.alias("extracted")
    at = bindparam("at", type_=DateTime(timezone=True))
    turn_ended = _facts_all_ended(m.id, at) if staleness else literal(None)
    origin_ended = _facts_all_ended(extracted.c.source_id, at) if staleness else literal(None)
    ids = bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True)))
    return (
        select(
            m.id,
            m.strength,
            func.coalesce(m.last_recalled_at, m.created_at),
            m.occurred_at,
            m.valid_to,
            m.memory_type,
            turn_ended,
            origin_ended,
        )
        .select_from(
            memories.outerjoin(
                extracted,
                and_(extracted.c.memory_id == m.id, extracted.c.relation == "extracted"),
            )
        )
        .where(m.id == func.any(ids))
    )


async def candidate_states(
    conn: AsyncConnection, *, ids: Sequence[uuid.UUID], at: datetime, staleness: bool = True
) -> dict[uuid.UUID, CandidateState]:
    """Recall state, occurrence time and validity of search candidates, in one round trip
    (search's last stage before the cut: every query counts on its latency).

    Stale at `at` are: facts whose validity ended; conversation turns every fact extracted
    from which has ended (what they said is out of date, though they stay true as events);
    and episodic memories extracted from such a turn (an event that names the old value:
    "adopted a parrot and named it Smokey"; not its how-tos, links or secrets, which do not
    depend on the fact). `staleness=False` skips those lookups (nothing is stale)."""
    if not ids:
        return {}
    rows = await conn.execute(_candidate_states_query(staleness), {"ids": list(ids), "at": at})
    states: dict[uuid.UUID, CandidateState] = {}
    # A memory extracted from several turns has a row per turn: stale if any makes it so.
    for mid, strength, since, occurred, valid_to, kind, turn_stale, origin_stale in rows:
        stale = staleness and (
            (valid_to is not None and valid_to <= at)
            or bool(turn_stale)
            or (bool(origin_stale) and kind == "episodic")
        )
        known = states.get(mid)
        states[mid] = CandidateState(
            strength=float(strength),
            since=since,
            occurred_at=occurred,
            stale=stale or (known is not None and known.stale),
        )
    return states


# --- staged batches --------------------------------------------------------------------------


async def stage_batch(
    conn: AsyncConnection,
    *,
    batch_id: uuid.UUID,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    payload: dict[str, Any],
) -> None:
    await conn.execute(
        insert(ingest_batches).values(
            id=batch_id,
            tenant_id=tenant_id,
            cube_id=cube_id,
            payload=payload,
            created_at=func.now(),
        )
    )


async def read_batch(conn: AsyncConnection, *, batch_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(ingest_batches.c.payload).where(ingest_batches.c.id == batch_id))
    ).first()
    return dict(row[0]) if row else None


_STAGED_TURNS = text(
    """
    SELECT msg->>'message_id' AS message_id, b.payload->'turn_ids'->>(t.ord::int - 1) AS turn_id
    FROM ingest_batches b,
         jsonb_array_elements(b.payload->'refs') WITH ORDINALITY AS t(msg, ord)
    WHERE b.cube_id = :cube_id
      AND (b.payload->>'session_id') IS NOT DISTINCT FROM :session_id
      AND (msg->>'id_given')::boolean
      AND msg->>'message_id' = ANY(:message_ids)
    ORDER BY b.created_at
    """
)


async def staged_turns(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    session_id: str | None,
    message_ids: Sequence[str],
) -> dict[str, uuid.UUID]:
    """{client message id: its turn id} of messages accepted in a batch not yet ingested."""
    if not message_ids:
        return {}
    rows = await conn.execute(
        _STAGED_TURNS,
        {"cube_id": cube_id, "session_id": session_id, "message_ids": list(message_ids)},
    )
    found: dict[str, uuid.UUID] = {}
    for message_id, turn_id in rows.tuples():
        found.setdefault(message_id, uuid.UUID(turn_id))
    return found


async def take_batch(conn: AsyncConnection, *, batch_id: uuid.UUID) -> dict[str, Any] | None:
    """The staged batch's payload, removed in this transaction (None: already ingested)."""
    row = (
        await conn.execute(
            delete(ingest_batches)
            .where(ingest_batches.c.id == batch_id)
            .returning(ingest_batches.c.payload)
        )
    ).first()
    return dict(row[0]) if row else None
