"""Memories and their versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import Memory, MemoryVersion
from memsvc.store.tables import memories, memory_versions

m = memories.c


def any_id(ids: Sequence[uuid.UUID]) -> Any:
    """`= ANY(:ids)` with the ids as one uuid[] parameter: unlike `IN (...)`, one parameter
    however many ids (a search passes a few hundred), and one cached statement."""
    return func.any(bindparam(None, list(ids), type_=ARRAY(PG_UUID(as_uuid=True))))


# Columns a client may see (the embedding and search internals stay inside).
# `has_secret` says a vault secret is stored; the ciphertext itself never leaves this layer
# except through `secret_of`.
PUBLIC_COLUMNS = [
    m.secret_ciphertext.is_not(None).label(f) if f == "has_secret" else memories.c[f]
    for f in Memory.__dataclass_fields__
]


def _search_tsv(own: Any, before: Any, after: Any = None) -> ColumnElement[Any]:
    return func.memsvc_search_tsv(own, before, after)


def _token_count(value: Any) -> ColumnElement[Any]:
    return func.memsvc_token_count(func.to_tsvector(literal_column("'english'::regconfig"), value))


def filter_conditions(flt: MemoryFilter) -> list[ColumnElement[bool]]:
    """SQL conditions for a MemoryFilter (cube scoping is added by the caller)."""
    conds: list[ColumnElement[bool]] = [m.status.in_([s.value for s in flt.statuses])]
    if flt.memory_types:
        conds.append(m.memory_type.in_([t.value for t in flt.memory_types]))
    for name in ("user_id", "agent_id", "session_id"):
        value = getattr(flt, name)
        if value is not None:
            conds.append(m[name] == value)
    if flt.tags:
        conds.append(m.tags.contains(list(flt.tags)))
    if flt.metadata:
        conds.append(m.metadata.op("@>")(func.cast(literal(flt.metadata, JSONB), JSONB)))
    if flt.occurred_after is not None:
        conds.append(m.occurred_at >= flt.occurred_after)
    if flt.occurred_before is not None:
        conds.append(m.occurred_at < flt.occurred_before)
    if flt.as_of is not None:
        conds.extend(valid_at(flt.as_of))
    if flt.min_trust is not None:
        conds.append(m.trust >= flt.min_trust)
    return conds


def valid_at(at: datetime) -> list[ColumnElement[bool]]:
    """The memory was known and valid at `at` (as_of time travel): known from its valid_from
    (the message time, for what conversation ingestion stores), else from when it was stored,
    until its valid_to."""
    return [
        func.coalesce(m.valid_from, m.created_at) <= at,
        or_(m.valid_to.is_(None), m.valid_to > at),
    ]


async def last_in_sessions(
    conn: AsyncConnection, *, cube_id: uuid.UUID, session_ids: Sequence[str]
) -> dict[str, tuple[uuid.UUID, str]]:
    """The latest memory (id, content) of each session: the neighbour of the next turn."""
    if not session_ids:
        return {}
    rows = await conn.execute(
        select(m.session_id, m.id, m.content)
        .where(m.cube_id == cube_id, m.session_id.in_(list(session_ids)))
        .distinct(m.session_id)
        .order_by(m.session_id, m.seq.desc())
    )
    return {sid: (mid, content) for sid, mid, content in rows.tuples()}


async def insert_memories(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[Memory]:
    """Insert prepared rows in one statement; return them in order.

    Each row carries, besides its columns, `own_text` (its content) and `neighbour_text` (the
    text indexed as its conversational context, or None).
    """
    stmt = (
        insert(memories)
        .values(
            search_tsv=_search_tsv(bindparam("own_text"), bindparam("neighbour_text")),
            lex_len_own=_token_count(bindparam("own_text")),
            lex_len_ctx=_token_count(func.coalesce(bindparam("neighbour_text"), "")),
        )
        .returning(*PUBLIC_COLUMNS, sort_by_parameter_order=True)
    )
    result = await conn.execute(stmt, rows)
    created = [Memory.from_row(r._mapping) for r in result]
    # The turn before each new one now has a turn after it: its index gains that text.
    await refresh_lexical(conn, ids=[r["neighbour_id"] for r in rows if r.get("neighbour_id")])
    return created


async def get_memory(
    conn: AsyncConnection, *, cube_id: uuid.UUID, memory_id: uuid.UUID, lock: bool = False
) -> Memory | None:
    query = select(*PUBLIC_COLUMNS).where(m.id == memory_id, m.cube_id == cube_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return Memory.from_row(row._mapping) if row else None


async def get_many(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Memory]:
    rows = await conn.execute(select(*PUBLIC_COLUMNS).where(m.id == any_id(ids)))
    return {r.id: Memory.from_row(r._mapping) for r in rows}


async def list_memories(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    flt: MemoryFilter,
    limit: int,
    after_seq: int | None,
) -> list[tuple[int, Memory]]:
    query = (
        select(m.seq, *PUBLIC_COLUMNS)
        .where(m.cube_id == cube_id, *filter_conditions(flt))
        .order_by(m.seq)
        .limit(limit)
    )
    if after_seq is not None:
        query = query.where(m.seq > after_seq)
    return [(r.seq, Memory.from_row(r._mapping)) for r in await conn.execute(query)]


async def update_memory(
    conn: AsyncConnection,
    *,
    memory_id: uuid.UUID,
    values: dict[str, Any],
    embedding: np.ndarray | None = None,
    embedding_model: str | None = None,
) -> Memory:
    """Apply new values, bump the version; re-index the text when the content changed."""
    extra: dict[str, Any] = {"version": m.version + 1, "updated_at": func.now()}
    if "content" in values:
        extra.update(lexical_index(values["content"]))
    if embedding is not None:
        extra["embedding"] = embedding
        extra["embedding_model"] = embedding_model
    row = (
        await conn.execute(
            update(memories)
            .where(m.id == memory_id)
            .values(**values, **extra)
            .returning(*PUBLIC_COLUMNS)
        )
    ).one()
    return Memory.from_row(row._mapping)


def lexical_index(content: Any = None) -> dict[str, Any]:
    """Column values that (re)build a memory's lexical index, as SQL on the row being updated.

    A conversation turn is indexed with its own text (weight A) and, as context, the text of
    the turn before it (B) and of the turn after it (C) in the same session: the question a
    short answer replies to, and the reply a short question got. BM25 counts a context
    occurrence as `lexical_context_weight` of an own one (memsvc_tf).
    """
    own = m.content if content is None else content
    before_row = memories.alias("before_row")
    after_row = memories.alias("after_row")
    before = select(before_row.c.content).where(before_row.c.id == m.neighbour_id)
    after = (
        select(after_row.c.content)
        .where(after_row.c.neighbour_id == m.id)
        .order_by(after_row.c.seq)
        .limit(1)
    )
    before_text = before.scalar_subquery()
    after_text = after.scalar_subquery()
    return {
        "search_tsv": _search_tsv(own, before_text, after_text),
        "lex_len_own": _token_count(own),
        "lex_len_ctx": _token_count(func.coalesce(before_text, ""))
        + _token_count(func.coalesce(after_text, "")),
    }


async def refresh_lexical(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> None:
    """Rebuild the lexical index of these memories (their text or a neighbour's changed)."""
    if ids:
        await conn.execute(
            update(memories).where(m.id.in_(sorted(set(ids)))).values(**lexical_index())
        )


async def neighbours_of(conn: AsyncConnection, *, memory_id: uuid.UUID) -> list[uuid.UUID]:
    """The turns whose lexical context includes this memory: the one before, the ones after."""
    before = select(m.neighbour_id).where(m.id == memory_id, m.neighbour_id.is_not(None))
    after = select(m.id).where(m.neighbour_id == memory_id)
    rows = await conn.execute(before.union_all(after))
    return [r[0] for r in rows]


async def hard_delete(conn: AsyncConnection, *, memory_id: uuid.UUID) -> None:
    """Purge the memory, and its text from the index of the turns around it."""
    around = await neighbours_of(conn, memory_id=memory_id)
    await conn.execute(
        update(memories).where(m.neighbour_id == memory_id).values(neighbour_id=None)
    )
    await conn.execute(delete(memories).where(m.id == memory_id))
    await refresh_lexical(conn, ids=around)


async def insert_versions(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(memory_versions).values(created_at=func.now()), rows)


async def list_versions(conn: AsyncConnection, *, memory_id: uuid.UUID) -> list[MemoryVersion]:
    rows = await conn.execute(
        select(memory_versions)
        .where(memory_versions.c.memory_id == memory_id)
        .order_by(memory_versions.c.version)
    )
    return [MemoryVersion.from_row(r._mapping) for r in rows]


async def reinforce(conn: AsyncConnection, *, ids: Sequence[uuid.UUID], now: datetime) -> None:
    """MemoryBank: each recall adds 1 to the strength and restarts the forgetting clock.

    Rows are locked in id order so concurrent searches recalling the same memories cannot
    deadlock each other.
    """
    if not ids:
        return
    locked = (
        select(m.id)
        .where(m.id.in_(sorted(set(ids))))
        .order_by(m.id)
        .with_for_update(key_share=True)
        .cte("locked")
    )
    await conn.execute(
        update(memories)
        .where(m.id == locked.c.id)
        .values(strength=m.strength + 1, recall_count=m.recall_count + 1, last_recalled_at=now)
    )
