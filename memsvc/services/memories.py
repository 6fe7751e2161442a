"""Memories: add (all-or-nothing batches), read, list, patch (new version), delete, history."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import cursor as cursors
from memsvc.domain.fields import validate_fields
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import (
    Memory,
    MemoryVersion,
    changed_fields,
    content_hash,
    version_row,
)
from memsvc.domain.types import ALLOWED_STATUS_CHANGES, ChangeKind, MemoryType, Scope, Status
from memsvc.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from memsvc.services import enrichment
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import memories as memory_store

MEMORY_NOT_FOUND = "no such memory in this cube"


@dataclasses.dataclass(frozen=True)
class NewMemory:
    content: str
    memory_type: MemoryType = MemoryType.EPISODIC
    occurred_at: datetime | None = None
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    source_message_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    context: str | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)


def _check_content(rt: Runtime, content: str, where: str) -> str:
    if not content.strip():
        raise InvalidRequest(f"{where}: content is empty", code="empty_content")
    if len(content) > rt.settings.max_content_chars:
        raise PayloadTooLarge(
            f"{where}: content has {len(content)} characters; the limit is "
            f"{rt.settings.max_content_chars}",
            code="content_too_large",
        )
    return content


def _validate_batch(rt: Runtime, items: list[NewMemory]) -> list[dict[str, Any]]:
    """Check every item before anything is written; return each item's normalised fields."""
    if not items:
        raise InvalidRequest("items is empty: send 1 to 1000 memories", code="empty_batch")
    if len(items) > rt.settings.max_batch_items:
        raise PayloadTooLarge(
            f"{len(items)} items in one call; the limit is {rt.settings.max_batch_items}",
            code="batch_too_large",
        )
    out = []
    for index, item in enumerate(items):
        _check_content(rt, item.content, f"items[{index}]")
        try:
            out.append(validate_fields(item.memory_type, item.fields))
        except InvalidRequest as exc:
            exc.message = f"items[{index}]: {exc.message}"
            raise
    return out


@dataclasses.dataclass(frozen=True)
class Added:
    memories: list[Memory]
    job_id: uuid.UUID | None  # the background enrichment of these memories, if any


async def add_memories(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, items: list[NewMemory]
) -> Added:
    """Store a batch atomically and queue its enrichment (same transaction). The ids returned
    are final: enrichment updates the same memories."""
    principal.require(Scope.WRITE)
    fields = _validate_batch(rt, items)
    # Check the cube before spending seconds on embeddings.
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
    vectors = await rt.embedder.embed_async([item.content for item in items])
    now = datetime.now(UTC)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id, keep=True)
        sessions = sorted({i.session_id for i in items if i.session_id is not None})
        last = await memory_store.last_in_sessions(conn, cube_id=cube_id, session_ids=sessions)
        rows = []
        for item, item_fields, vector in zip(items, fields, vectors, strict=True):
            memory_id = uuid.uuid4()
            neighbour = last.get(item.session_id) if item.session_id is not None else None
            rows.append(
                {
                    "id": memory_id,
                    "cube_id": cube_id,
                    "memory_type": item.memory_type.value,
                    "status": Status.ACTIVE.value,
                    "content": item.content,
                    "created_at": now,
                    "updated_at": now,
                    "occurred_at": item.occurred_at or now,
                    "user_id": item.user_id,
                    "agent_id": item.agent_id,
                    "session_id": item.session_id,
                    "source": item.source,
                    "source_message_ids": list(item.source_message_ids),
                    "tags": list(item.tags),
                    "keywords": list(item.keywords),
                    "context": item.context,
                    "metadata": item.metadata,
                    "fields": item_fields,
                    "version": 1,
                    "strength": 1.0,
                    "last_recalled_at": None,
                    "recall_count": 0,
                    "valid_from": None,
                    "valid_to": None,
                    "embedding": vector,
                    "embedding_model": rt.embedder.model_name,
                    "content_hash": content_hash(item.content),
                    "neighbour_id": neighbour[0] if neighbour else None,
                    "own_text": item.content,
                    "neighbour_text": neighbour[1] if neighbour else None,
                }
            )
            if item.session_id is not None:
                last[item.session_id] = (memory_id, item.content)
        created = await memory_store.insert_memories(conn, rows)
        await memory_store.insert_versions(
            conn,
            [
                version_row(mem, ChangeKind.CREATE, ["content"], principal.actor, None)
                for mem in created
            ],
        )
        job_id = await enrichment.enqueue(
            rt, conn, tenant_id=cube.tenant_id, cube_id=cube_id, memory_ids=[m.id for m in created]
        )
    return Added(memories=created, job_id=job_id)


async def get_memory(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        memory = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=memory_id)
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND, code="memory_not_found")
    return memory


async def list_memories(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    flt: MemoryFilter,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Memory], str | None]:
    principal.require(Scope.READ)
    after = cursors.decode("memories", cursor, {"s": int})["s"] if cursor else None
    if after is not None and not -(2**63) <= after < 2**63:
        raise cursors.invalid()  # not a position encode() could have made (seq is a bigint)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        rows = await memory_store.list_memories(
            conn, cube_id=cube_id, flt=flt, limit=limit + 1, after_seq=after
        )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode("memories", {"s": rows[-1][0]})
    return [memory for _, memory in rows], next_cursor


async def update_memory(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Memory:
    """Apply a client's changes as a new version (a no-op change writes no version)."""
    principal.require(Scope.WRITE)
    vector = None
    if "content" in changes:
        _check_content(rt, changes["content"], "content")
        # Embed before taking the row lock: the vector depends only on the new text.
        vector = (await rt.embedder.embed_async([changes["content"]]))[0]
    async with rt.db.transaction() as conn:
        before = await _locked_memory(conn, principal, cube_id, memory_id)
        tenant_id = principal.require_tenant()
        values, kind = _plan_update(before, changes, expected_version)
        if not values:
            return before
        content_changed = "content" in values
        if content_changed:
            values["content_hash"] = content_hash(values["content"])
        fields_changed = changed_fields(before, values)
        after = await memory_store.update_memory(
            conn,
            memory_id=memory_id,
            values=values,
            embedding=vector if content_changed else None,
            embedding_model=rt.embedder.model_name if content_changed else None,
        )
        await memory_store.insert_versions(
            conn, [version_row(after, kind, fields_changed, principal.actor, reason)]
        )
        if content_changed:
            around = await memory_store.neighbours_of(conn, memory_id=memory_id)
            await memory_store.refresh_lexical(conn, ids=around)
            # The note, links and graph facts described the old text: build them anew.
            await enrichment.enqueue(
                rt, conn, tenant_id=tenant_id, cube_id=cube_id, memory_ids=[memory_id]
            )
    return after


async def _locked_memory(
    conn: AsyncConnection, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    """The memory, locked for this transaction, if the caller's cube holds it."""
    await require_cube(conn, principal, cube_id)
    memory = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=memory_id, lock=True)
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND, code="memory_not_found")
    return memory


def _plan_update(
    memory: Memory, changes: dict[str, Any], expected_version: int | None
) -> tuple[dict[str, Any], ChangeKind]:
    """Validate changes against the memory; return the values that differ and the change kind."""
    if expected_version is not None and expected_version != memory.version:
        raise Conflict(
            f"expected version {expected_version}, the memory is at version {memory.version}",
            code="version_conflict",
            details={"current_version": memory.version},
        )
    changes = dict(changes)
    kind = ChangeKind.USER_UPDATE
    memory_type = MemoryType(changes.get("memory_type", memory.memory_type))
    if "memory_type" in changes or "fields" in changes:
        changes["fields"] = validate_fields(memory_type, changes.get("fields", memory.fields))
        changes["memory_type"] = memory_type.value
    if "status" in changes:
        target = Status(changes["status"])
        if target.value != memory.status:
            transition = ALLOWED_STATUS_CHANGES.get((Status(memory.status), target))
            if transition is None:
                raise Conflict(
                    f"status cannot go from {memory.status!r} to {target.value!r} by update",
                    code="invalid_status_change",
                )
            kind = transition
        changes["status"] = target.value
    for name in ("tags", "keywords", "source_message_ids"):
        if name in changes and changes[name] is not None:
            changes[name] = list(changes[name])
    values = {k: v for k, v in changes.items() if getattr(memory, k) != v}
    return values, kind


async def delete_memory(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID, *, hard: bool
) -> None:
    """Soft delete marks the memory deleted (restorable, in history); hard delete purges it:
    content, embedding, versions, and its text in its neighbours' search index."""
    principal.require(Scope.WRITE)
    async with rt.db.transaction() as conn:
        memory = await _locked_memory(conn, principal, cube_id, memory_id)
        if hard:
            await enrichment.purge_facts(conn, cube_id=cube_id, memory_id=memory_id)
            await memory_store.hard_delete(conn, memory_id=memory_id)
            return
        if memory.status == Status.DELETED.value:
            return
        after = await memory_store.update_memory(
            conn, memory_id=memory_id, values={"status": Status.DELETED.value}
        )
        await memory_store.insert_versions(
            conn, [version_row(after, ChangeKind.DELETE, ["status"], principal.actor, None)]
        )


async def restore_memory(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    return await update_memory(
        rt, principal, cube_id, memory_id, {"status": Status.ACTIVE.value}, reason="restore"
    )


async def history(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> list[MemoryVersion]:
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_memory(conn, principal, cube_id, memory_id)
        return await memory_store.list_versions(conn, memory_id=memory_id)


async def require_memory(
    conn: AsyncConnection, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    """The memory, if the caller's live cube holds it (any status); else not found."""
    await require_cube(conn, principal, cube_id)
    memory = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=memory_id)
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND, code="memory_not_found")
    return memory
