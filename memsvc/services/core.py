"""MIRIX core memory: the `human` and `persona` blocks, one per label and user in a cube.

A block is a core memory with `fields.label`, at most `core_block_limit` characters (5000 by
default). Appending to a block that then fills 90 % of its limit condenses it to about half
(LLM rewrite, or the extractive fallback), as MIRIX's core manager does. Every change is a new
version of the same memory; core memories are never forgotten by the sweep.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import core_blocks
from memsvc.algorithms import trust as trust_levels
from memsvc.domain.memory import Cube, Memory, content_hash, version_row
from memsvc.domain.types import ChangeKind, MemoryType, Scope, Status
from memsvc.errors import Conflict, InvalidRequest, PayloadTooLarge
from memsvc.services import enrichment, memories, quarantine, summary_llm
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

LABELS = ("human", "persona")
ATTEMPTS = 3  # a block changed by someone else while we condensed it: read it again


@dataclasses.dataclass(frozen=True)
class BlockWrite:
    block: Memory
    created: bool
    condensed: bool


def block_key(label: str, user_id: str | None) -> str:
    key = memories.core_block_key(MemoryType.CORE, {"label": label}, user_id)
    assert key is not None  # a labelled core memory always has one
    return key


def _check_label(label: str) -> None:
    if label not in LABELS:
        raise InvalidRequest(
            f"core block label must be one of {', '.join(LABELS)}", code="invalid_label"
        )


async def list_blocks(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, user_id: str | None
) -> list[Memory]:
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        return await lifecycle_store.core_blocks(conn, cube_id=cube_id, user_id=user_id)


async def write_block(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    label: str,
    text: str,
    *,
    user_id: str | None,
    append: bool,
) -> BlockWrite:
    """Rewrite a block with `text`, or append `text` to it; create it when missing."""
    principal.require(Scope.WRITE)
    _check_label(label)
    if not text.strip():
        raise InvalidRequest("the block text is empty", code="empty_content")
    limit = rt.settings.core_block_limit
    if len(text) > limit:
        raise PayloadTooLarge(
            f"a core block holds at most {limit} characters; this text has {len(text)}",
            code="core_block_too_large",
        )
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
    key = block_key(label, user_id)
    for _ in range(ATTEMPTS):
        async with rt.db.transaction() as conn:
            current = await lifecycle_store.by_derived_key(conn, cube_id=cube_id, key=key)
        if current is None:
            try:
                return await _create(rt, principal, cube_id, label, text, user_id)
            except Conflict as exc:  # created concurrently: write to that one
                if exc.code != "core_block_exists":
                    raise
                continue
        wanted = core_blocks.append_to_block(current.content, text) if append else text
        condensed = core_blocks.needs_condensing(wanted, limit)
        if condensed:
            usage = DatabaseUsageSink(rt, tenant_id=cube.tenant_id, cube_id=cube_id)
            wanted = await _condense(rt, label, wanted, usage)
        written = await _replace(rt, principal, cube, current, wanted, condensed)
        if written is not None:
            return BlockWrite(block=written, created=False, condensed=condensed)
    raise Conflict(
        "the block kept changing while it was being written; try again", code="version_conflict"
    )


async def _condense(rt: Runtime, label: str, text: str, usage: DatabaseUsageSink) -> str:
    """The block rewritten to about half its limit (LLM, or the extractive fallback)."""
    target = int(rt.settings.core_block_limit * core_blocks.CONDENSE_TO)
    condensed, _ = await summary_llm.condense_block(
        rt.llm, label=label, text=text, target_chars=target, usage_sink=usage
    )
    return condensed


async def _create(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    label: str,
    text: str,
    user_id: str | None,
) -> BlockWrite:
    item = memories.NewMemory(
        content=text, memory_type=MemoryType.CORE, user_id=user_id, fields={"label": label}
    )
    added = await memories.add_memories(rt, principal, cube_id, [item])
    return BlockWrite(block=added.memories[0], created=True, condensed=False)


async def _replace(
    rt: Runtime,
    principal: Principal,
    cube: Cube,
    current: Memory,
    text: str,
    condensed: bool,
) -> Memory | None:
    """Write the block's new text unless it changed since `current` was read (then None)."""
    cube_id = cube.id
    vector = (await rt.embedder.embed_async([text]))[0]
    async with rt.db.transaction() as conn:
        locked = await memory_store.get_memory(
            conn, cube_id=cube_id, memory_id=current.id, lock=True
        )
        if locked is None or locked.version != current.version:
            return None
        values: dict[str, Any] = {"content": text, "content_hash": content_hash(text)}
        level = trust_levels.after_edit(locked.trust, quarantine.key_level(principal))
        if level != locked.trust:
            values["trust"] = int(level)  # a lower key's words lower the block's trust
        if locked.status != Status.ACTIVE.value:
            values["status"] = Status.ACTIVE.value
        if locked.content == text and "status" not in values:
            return locked
        after = await memory_store.update_memory(
            conn,
            memory_id=current.id,
            values=values,
            embedding=vector,
            embedding_model=rt.embedder.model_name,
        )
        kind = ChangeKind.CONSOLIDATION if condensed else ChangeKind.USER_UPDATE
        reason = "condensed: the block reached 90% of its limit" if condensed else None
        await memory_store.insert_versions(
            conn,
            [
                version_row(
                    after, kind, sorted(set(values) - {"content_hash"}), principal.actor, reason
                )
            ],
        )
        await _reenrich(rt, conn, cube.tenant_id, after)
    return after


async def _reenrich(
    rt: Runtime, conn: AsyncConnection, tenant_id: uuid.UUID, block: Memory
) -> None:
    """The block's note, links and graph facts described its old text: build them anew."""
    await enrichment.enqueue(
        rt, conn, tenant_id=tenant_id, cube_id=block.cube_id, memory_ids=[block.id]
    )


async def condense_full_blocks(rt: Runtime, *, tenant_id: uuid.UUID, cube_id: uuid.UUID) -> int:
    """The periodic pass: condense every block at 90 % of its limit (e.g. after the limit was
    lowered). Returns how many were condensed."""
    limit = rt.settings.core_block_limit
    async with rt.db.transaction() as conn:
        blocks = await lifecycle_store.derived_with_prefix(conn, cube_id=cube_id, prefix="core:")
    usage = DatabaseUsageSink(rt, tenant_id=tenant_id, cube_id=cube_id)
    done = 0
    for _, block in blocks:
        if block.status != Status.ACTIVE.value or not core_blocks.needs_condensing(
            block.content, limit
        ):
            continue
        text = await _condense(rt, str(block.fields.get("label", "")), block.content, usage)
        vector = (await rt.embedder.embed_async([text]))[0]
        async with rt.db.transaction() as conn:
            locked = await memory_store.get_memory(
                conn, cube_id=cube_id, memory_id=block.id, lock=True
            )
            if locked is None or locked.version != block.version:
                continue
            after = await memory_store.update_memory(
                conn,
                memory_id=block.id,
                values={"content": text, "content_hash": content_hash(text)},
                embedding=vector,
                embedding_model=rt.embedder.model_name,
            )
            await memory_store.insert_versions(
                conn,
                [
                    version_row(
                        after,
                        ChangeKind.CONSOLIDATION,
                        ["content"],
                        "consolidation",
                        "condensed: the block reached 90% of its limit",
                    )
                ],
            )
            await _reenrich(rt, conn, tenant_id, after)
            done += 1
    return done
