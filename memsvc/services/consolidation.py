"""Consolidation of a cube: the lifecycle passes, run as one background job.

Kinds, run in this order (each idempotent, so a retried job ends where one run would):
- `thoughts`: TiM forget (contradicted thoughts archived) and merge, bucket by bucket;
- `summaries`: MemoryBank daily and global summaries and user portraits;
- `core`: condense core blocks at 90 % of their limit;
- `forgetting`: archive memories whose retention fell under the threshold. It runs last so
  a day is summarised before its details fade.

`POST /v1/cubes/{id}/consolidate` queues one; the scheduler (a periodic task on
`consolidation_cron`) queues one per live cube, at most one waiting per cube. A cube opts out
with `config.consolidation = false`, or picks its kinds with a list.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from memsvc.domain.memory import Cube
from memsvc.domain.types import Scope
from memsvc.errors import InvalidRequest, NotFound
from memsvc.services import core, forgetting, summaries, thoughts
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import cubes as cube_store
from memsvc.store import jobs as job_store

log = logging.getLogger(__name__)

CONSOLIDATE_CUBE = "consolidate_cube"
SCHEDULE_CONSOLIDATION = "schedule_consolidation"
KINDS = ("thoughts", "summaries", "core", "forgetting")


def parse_kinds(kinds: Sequence[str] | None) -> list[str]:
    """The kinds asked for, in run order; None: all of them."""
    if kinds is None:
        return list(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidRequest(
            f"unknown consolidation kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}",
            code="invalid_kinds",
        )
    if not kinds:
        raise InvalidRequest("kinds is empty; omit it to run every kind", code="invalid_kinds")
    return [k for k in KINDS if k in kinds]


def cube_kinds(cube: Cube, default: Sequence[str]) -> list[str]:
    """What the schedule runs for a cube: its `config.consolidation` (false or a list of
    kinds), else the configured default. Unknown kinds in a cube's config are skipped."""
    chosen = cube.config.get("consolidation", True)
    if chosen is False:
        return []
    if isinstance(chosen, list):
        return [k for k in KINDS if k in chosen]
    return [k for k in KINDS if k in default]


async def _defer(
    conn: Any, *, tenant_id: uuid.UUID, cube_id: uuid.UUID, kinds: list[str], scheduled: bool
) -> uuid.UUID | None:
    job_id = uuid.uuid4()
    deferred = await job_store.defer_job(
        conn,
        task_name=CONSOLIDATE_CUBE,
        args={
            "job_id": str(job_id),
            "tenant_id": str(tenant_id),
            "cube_id": str(cube_id),
            "kinds": kinds,
        },
        lock=f"consolidate:{cube_id}",
        # A schedule never piles up a second waiting run for a cube.
        queueing_lock=f"consolidate-scheduled:{cube_id}" if scheduled else None,
    )
    return job_id if deferred is not None else None


async def enqueue(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, kinds: Sequence[str] | None
) -> uuid.UUID:
    principal.require(Scope.WRITE)
    chosen = parse_kinds(kinds)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
        job_id = await _defer(
            conn, tenant_id=cube.tenant_id, cube_id=cube.id, kinds=chosen, scheduled=False
        )
    assert job_id is not None  # only scheduled jobs have a queueing lock
    return job_id


@dataclasses.dataclass(frozen=True)
class ConsolidationResult:
    kinds: list[str]
    thoughts_archived: int = 0
    thoughts_merged: int = 0
    summaries_created: int = 0
    summaries_updated: int = 0
    blocks_condensed: int = 0
    scanned: int = 0
    archived: int = 0


async def consolidate_cube(
    rt: Runtime,
    *,
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    kinds: Sequence[str],
) -> ConsolidationResult:
    async with rt.db.transaction() as conn:
        cube = await cube_store.get_cube(conn, tenant_id=tenant_id, cube_id=cube_id)
    if cube is None:
        raise NotFound(f"cube {cube_id} no longer exists", code="cube_not_found")
    result = ConsolidationResult(kinds=list(kinds))
    if "thoughts" in kinds:
        archived, merged = await thoughts.consolidate_thoughts(
            rt, tenant_id=tenant_id, cube_id=cube_id
        )
        result = dataclasses.replace(result, thoughts_archived=archived, thoughts_merged=merged)
    if "summaries" in kinds:
        made = await summaries.summarize_cube(rt, tenant_id=tenant_id, cube_id=cube_id)
        result = dataclasses.replace(
            result, summaries_created=made.created, summaries_updated=made.updated
        )
    if "core" in kinds:
        condensed = await core.condense_full_blocks(rt, tenant_id=tenant_id, cube_id=cube_id)
        result = dataclasses.replace(result, blocks_condensed=condensed)
    if "forgetting" in kinds:
        swept = await forgetting.sweep(rt, cube_id=cube_id)
        result = dataclasses.replace(result, scanned=swept.scanned, archived=swept.archived)
    log.info("cube consolidated", extra={"job_id": str(job_id), **dataclasses.asdict(result)})
    return result


async def schedule_all(rt: Runtime) -> int:
    """Queue a consolidation of every live cube (the periodic task); returns how many."""
    default = [k.strip() for k in rt.settings.consolidation_kinds.split(",") if k.strip()]
    queued = 0
    async with rt.db.transaction() as conn:
        cubes = await cube_store.all_live_cubes(conn)
    for cube in cubes:
        kinds = cube_kinds(cube, default)
        if not kinds:
            continue
        async with rt.db.transaction() as conn:
            if await _defer(
                conn, tenant_id=cube.tenant_id, cube_id=cube.id, kinds=kinds, scheduled=True
            ):
                queued += 1
    log.info("consolidation scheduled", extra={"cubes": queued})
    return queued
