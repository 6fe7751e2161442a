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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import Memory, MemoryVersion
from memsvc.store.tables import memories, memory_versions

m = memories.c

# Columns a client may see (the embedding and search internals stay inside).
PUBLIC_COLUMNS = [memories.c[f] for f in Memory.__dataclass_fields__]


def _search_tsv(own: Any, ctx: Any) -> ColumnElement[Any]:
    return func.memsvc_search_tsv(own, ctx)


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
        conds.append(m.created_at <= flt.as_of)
        conds.append(or_(m.valid_from.is_(None), m.valid_from <= flt.as_of))
        conds.append(or_(m.valid_to.is_(None), m.valid_to > flt.as_of))
    return conds


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
    return [Memory.from_row(r._mapping) for r in result]


async def get_memory(
    conn: AsyncConnection, *, cube_id: uuid.UUID, memory_id: uuid.UUID, lock: bool = False
) -> Memory | None:
    query = select(*PUBLIC_COLUMNS).where(m.id == memory_id, m.cube_id == cube_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return Memory.from_row(row._mapping) if row else None


async def get_many(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Memory]:
    rows = await conn.execute(select(*PUBLIC_COLUMNS).where(m.id.in_(list(ids))))
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
        neighbour = memories.alias("neighbour")
        neighbour_text = (
            select(neighbour.c.content).where(neighbour.c.id == m.neighbour_id).scalar_subquery()
        )
        extra["search_tsv"] = _search_tsv(values["content"], neighbour_text)
        extra["lex_len_own"] = _token_count(values["content"])
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


async def refresh_neighbour_context(conn: AsyncConnection, *, memory_id: uuid.UUID) -> None:
    """Re-index the memories whose lexical context is this memory's text (after it changed)."""
    source = memories.alias("source")
    ctx = select(source.c.content).where(source.c.id == memory_id).scalar_subquery()
    await conn.execute(
        update(memories)
        .where(m.neighbour_id == memory_id)
        .values(
            search_tsv=_search_tsv(m.content, ctx),
            lex_len_ctx=_token_count(func.coalesce(ctx, "")),
        )
    )


async def detach_neighbour(conn: AsyncConnection, *, memory_id: uuid.UUID) -> None:
    """Forget a purged memory's text in the index of the memories that used it as context."""
    await conn.execute(
        update(memories)
        .where(m.neighbour_id == memory_id)
        .values(neighbour_id=None, search_tsv=_search_tsv(m.content, None), lex_len_ctx=0.0)
    )


async def hard_delete(conn: AsyncConnection, *, memory_id: uuid.UUID) -> None:
    await detach_neighbour(conn, memory_id=memory_id)
    await conn.execute(delete(memories).where(m.id == memory_id))


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
