"""The quarantine of the memory-poisoning defense: memories that contradicted a consensus of
more trusted ones, for the admin (or a tenant key with the admin scope) to review."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import (
    ConflictOut,
    MemoryOut,
    QuarantineDecisionIn,
    QuarantineList,
    QuarantineOut,
)
from memsvc.services import quarantine
from memsvc.services.quarantine import Quarantined

router = APIRouter(prefix="/v1/admin/quarantine", tags=["admin"])


def quarantine_out(item: Quarantined) -> QuarantineOut:
    record = item.record
    return QuarantineOut(
        id=record["id"],
        tenant_id=record["tenant_id"],
        cube_id=record["cube_id"],
        memory=MemoryOut.model_validate(item.memory),
        trust=record["trust"],
        reason=record["reason"],
        contradicted_ids=list(record["conflict_ids"]),
        conflicts=[ConflictOut.model_validate(c) for c in record["conflicts"]],
        judged_by=record["judged_by"],
        created_at=record["created_at"],
        resolution=record["resolution"],
        resolved_by=record["resolved_by"],
        resolved_at=record["resolved_at"],
        note=record["note"],
    )


@router.get("", response_model=QuarantineList)
async def list_quarantine(
    rt: RuntimeDep,
    principal: PrincipalDep,
    tenant_id: uuid.UUID | None = None,
    cube_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> QuarantineList:
    """Memories in quarantine, oldest first, each with why: the more trusted memories it
    contradicts, their trust and statements. The admin key sees every tenant (or `tenant_id`);
    a tenant key with the `admin` scope its own."""
    items, next_cursor = await quarantine.list_open(
        rt, principal, tenant_id=tenant_id, cube_id=cube_id, limit=limit, cursor=cursor
    )
    return QuarantineList(items=[quarantine_out(i) for i in items], next_cursor=next_cursor)


@router.post("/{memory_id}/release", response_model=QuarantineOut)
async def release_quarantined(
    memory_id: uuid.UUID,
    rt: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[QuarantineDecisionIn | None, Body()] = None,
) -> QuarantineOut:
    """The memory is sound: active again (a `release` version), its enrichment queued."""
    done = await quarantine.release(rt, principal, memory_id, note=body.note if body else None)
    return quarantine_out(done)


@router.post("/{memory_id}/reject", response_model=QuarantineOut)
async def reject_quarantined(
    memory_id: uuid.UUID,
    rt: RuntimeDep,
    principal: PrincipalDep,
    body: Annotated[QuarantineDecisionIn | None, Body()] = None,
) -> QuarantineOut:
    """The memory is poisoned: soft-deleted (a `delete` version). Its owner's restore brings
    it back into quarantine, not into use."""
    done = await quarantine.reject(rt, principal, memory_id, note=body.note if body else None)
    return quarantine_out(done)
