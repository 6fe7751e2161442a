"""Memories of a cube: add, list, get, patch, delete, restore, history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, RuntimeDep
from api.routes.messages import inferred_out
from api.schemas import (
    AddMemories,
    AddMemoriesOut,
    DuplicateOut,
    HistoryOut,
    LineageOut,
    LineageRef,
    MemoryList,
    MemoryOut,
    MemoryPatch,
    ShortText,
    Tag,
    VersionOut,
)
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.types import LISTED_STATUSES, MemoryType, Status
from memsvc.services import ingest, memories
from memsvc.services.memories import NewMemory

router = APIRouter(prefix="/v1/cubes/{cube_id}/memories", tags=["memories"])


@router.post("", status_code=201, response_model=AddMemoriesOut)
async def add_memories(
    cube_id: uuid.UUID, body: AddMemories, rt: RuntimeDep, principal: PrincipalDep
) -> AddMemoriesOut:
    """Store 1 to 1000 memories, all or none. The ids returned are final."""
    items = [
        NewMemory(
            **item.model_dump(exclude={"source_message_ids", "tags", "keywords"}),
            source_message_ids=tuple(item.source_message_ids),
            tags=tuple(item.tags),
            keywords=tuple(item.keywords),
        )
        for item in body.items
    ]
    if body.infer:
        done = await ingest.ingest_items(
            rt, principal, cube_id, items, deduplicate=body.deduplicate
        )
        added, inferred, extracted_by = done.added, done.memories, done.extracted_by
    else:
        added = await memories.add_memories(
            rt, principal, cube_id, items, deduplicate=body.deduplicate
        )
        inferred, extracted_by = [], None
    return AddMemoriesOut(
        items=[MemoryOut.model_validate(m) for m in added.memories],
        job_id=added.job_id,
        duplicates=[DuplicateOut.model_validate(d) for d in added.duplicates],
        inferred=[inferred_out(i) for i in inferred],
        extracted_by=extracted_by,
    )


@router.get("", response_model=MemoryList)
async def list_memories(
    cube_id: uuid.UUID,
    rt: RuntimeDep,
    principal: PrincipalDep,
    memory_type: MemoryType | None = None,
    status: Status | None = None,
    user_id: ShortText | None = None,
    agent_id: ShortText | None = None,
    session_id: ShortText | None = None,
    tag: Annotated[list[Tag] | None, Query()] = None,
    min_trust: Annotated[int | None, Query(ge=0, le=3)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MemoryList:
    """List memories in insertion order (all but deleted and quarantined ones unless `status`
    says); `min_trust`: only those trusted at least this much."""
    flt = MemoryFilter(
        min_trust=min_trust,
        statuses=(status,) if status else LISTED_STATUSES,
        memory_types=(memory_type,) if memory_type else (),
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        tags=tuple(tag or ()),
    )
    items, next_cursor = await memories.list_memories(
        rt, principal, cube_id, flt, limit=limit, cursor=cursor
    )
    return MemoryList(items=[MemoryOut.model_validate(m) for m in items], next_cursor=next_cursor)


@router.get("/{memory_id}", response_model=MemoryOut)
async def get_memory(
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    rt: RuntimeDep,
    principal: PrincipalDep,
    reveal: bool = False,
) -> MemoryOut:
    """Get a memory. `reveal=true` (needs the `secrets` scope) adds a knowledge-vault entry's
    decrypted `fields.secret_value`; nothing else ever shows it."""
    memory = await memories.get_memory(rt, principal, cube_id, memory_id)
    out = MemoryOut.model_validate(memory)
    if reveal:
        secret = await memories.reveal_secret(rt, principal, memory)
        if secret is not None:
            out.fields = {**out.fields, "secret_value": secret}
    return out


@router.get("/{memory_id}/lineage", response_model=LineageOut)
async def memory_lineage(
    cube_id: uuid.UUID, memory_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep
) -> LineageOut:
    """What a memory was made from (a summary's days, a merged thought's sources) and what was
    made from it."""
    sources, derived = await memories.lineage(rt, principal, cube_id, memory_id)
    return LineageOut(
        memory_id=memory_id,
        sources=[LineageRef(memory_id=mid, relation=rel) for mid, rel in sources],  # type: ignore[arg-type]
        derived=[LineageRef(memory_id=mid, relation=rel) for mid, rel in derived],  # type: ignore[arg-type]
    )


@router.patch("/{memory_id}", response_model=MemoryOut)
async def update_memory(
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    body: MemoryPatch,
    rt: RuntimeDep,
    principal: PrincipalDep,
) -> MemoryOut:
    """Change a memory; each effective change is a new version in its history."""
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version", "reason"})
    for required in (
        "content",
        "memory_type",
        "status",
        "occurred_at",
        "tags",
        "keywords",
        "metadata",
        "fields",
        "pinned",
    ):
        if required in changes and changes[required] is None:
            changes.pop(required)  # null means "leave as is" for fields that cannot be empty
    memory = await memories.update_memory(
        rt,
        principal,
        cube_id,
        memory_id,
        changes,
        expected_version=body.expected_version,
        reason=body.reason,
    )
    return MemoryOut.model_validate(memory)


@router.delete("/{memory_id}", status_code=204)
async def delete_memory(
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    rt: RuntimeDep,
    principal: PrincipalDep,
    hard: bool = False,
) -> Response:
    """Soft delete (status `deleted`, restorable) unless `hard=true`: purge for good."""
    await memories.delete_memory(rt, principal, cube_id, memory_id, hard=hard)
    return Response(status_code=204)


@router.post("/{memory_id}/restore", response_model=MemoryOut)
async def restore_memory(
    cube_id: uuid.UUID, memory_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep
) -> MemoryOut:
    """Make a deleted, archived or merged memory active again."""
    return MemoryOut.model_validate(
        await memories.restore_memory(rt, principal, cube_id, memory_id)
    )


@router.get("/{memory_id}/history", response_model=HistoryOut)
async def memory_history(
    cube_id: uuid.UUID, memory_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep
) -> HistoryOut:
    """Every version of a memory, oldest first, with what changed it."""
    versions = await memories.history(rt, principal, cube_id, memory_id)
    return HistoryOut(
        memory_id=memory_id, versions=[VersionOut.model_validate(v) for v in versions]
    )
