"""Background jobs: enqueue them, report on them, and the work they do.

A job has a public UUID (`job_id`), stored with the owning `tenant_id` in the job's args on the
PostgreSQL queue (procrastinate). The worker side (workers/tasks.py) calls one function of this
module per task.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime
from typing import Any

from memsvc.domain.types import Scope
from memsvc.errors import NotFound
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import cubes as cube_store
from memsvc.store import jobs as job_store

log = logging.getLogger(__name__)

REINDEX_CUBE = "reindex_cube"
REINDEX_BATCH = 256

JOB_NOT_FOUND = "no such job (or it is not yours)"

# procrastinate's statuses, as the contract names them.
_STATUS = {
    "todo": "queued",
    "doing": "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "failed",
    "aborting": "running",
    "aborted": "failed",
}
_ERROR = {
    "failed": "the job failed after {attempts} attempt(s); the worker log has the details",
    "cancelled": "the job was cancelled before it ran",
    "aborted": "the job was aborted while it ran",
}


@dataclasses.dataclass(frozen=True)
class Job:
    id: uuid.UUID
    kind: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    cube_id: uuid.UUID | None


@dataclasses.dataclass(frozen=True)
class ReindexResult:
    cube_id: uuid.UUID
    memories: int
    rewritten: int


def _job_from_row(job_id: uuid.UUID, row: dict[str, Any]) -> Job:
    raw_status = row["status"]
    args = row["args"] or {}
    cube_id = args.get("cube_id")
    error = _ERROR.get(raw_status)
    return Job(
        id=job_id,
        kind=row["task_name"],
        status=_STATUS.get(raw_status, "queued"),
        attempts=int(row["attempts"]),
        error=error.format(attempts=row["attempts"]) if error else None,
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        cube_id=uuid.UUID(cube_id) if cube_id else None,
    )


async def get_job(rt: Runtime, principal: Principal, job_id: uuid.UUID) -> Job:
    """A job of the caller's tenant (the admin sees every job); anyone else's is not found."""
    principal.require(Scope.READ)
    tenant_id = None if principal.is_admin else principal.require_tenant()
    async with rt.db.transaction() as conn:
        row = await job_store.get_job(conn, job_id=job_id, tenant_id=tenant_id)
    if row is None:
        raise NotFound(JOB_NOT_FOUND, code="job_not_found")
    return _job_from_row(job_id, row)


@dataclasses.dataclass(frozen=True)
class QueueStatus:
    """The queue as the admin UI shows it: jobs per (task, status) among those waiting,
    running or failed, the newest failures, and the newest worker heartbeat."""

    counts: list[tuple[str, str, int]]  # (task, contract status, jobs)
    failures: list[Job]
    heartbeat: datetime | None
    now: datetime


async def queue_status(rt: Runtime, principal: Principal, *, failures: int = 20) -> QueueStatus:
    """Every tenant's jobs, summed: the admin key only."""
    principal.require_admin()
    async with rt.db.transaction() as conn:
        counted = await job_store.queue_counts(conn)
        failed = await job_store.recent_failures(conn, limit=failures)
        beat, now = await job_store.latest_worker_heartbeat(conn)
    sums: dict[tuple[str, str], int] = {}
    for _queue, task, raw_status, count in counted:
        key = (task, _STATUS.get(raw_status, "queued"))
        sums[key] = sums.get(key, 0) + count
    return QueueStatus(
        counts=[(task, status, n) for (task, status), n in sorted(sums.items())],
        failures=[_job_from_row(uuid.UUID(row["job_id"]), row) for row in failed],
        heartbeat=beat,
        now=now,
    )


async def enqueue_reindex(rt: Runtime, principal: Principal, cube_id: uuid.UUID) -> uuid.UUID:
    """Queue a re-embedding and re-indexing of every memory of a cube; return the job id."""
    principal.require(Scope.WRITE)
    job_id = uuid.uuid4()
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
        await job_store.defer_job(
            conn,
            task_name=REINDEX_CUBE,
            args={"job_id": str(job_id), "tenant_id": str(cube.tenant_id), "cube_id": str(cube.id)},
            # One reindex of a cube at a time; others wait their turn.
            lock=f"reindex:{cube.id}",
        )
    return job_id


async def reindex_cube(
    rt: Runtime, *, job_id: uuid.UUID, tenant_id: uuid.UUID, cube_id: uuid.UUID
) -> ReindexResult:
    """Re-embed every memory of a cube with the current model and rebuild its lexical index.

    Batched: each batch is read in one short transaction, embedded outside any transaction (in a
    thread), then written in another; a memory whose content changed in between is skipped (its
    update re-embedded it). Running it twice gives the same state. A cube that is gone (or not
    the tenant's) fails the job.
    """
    async with rt.db.transaction() as conn:
        cube = await cube_store.get_cube(
            conn, tenant_id=tenant_id, cube_id=cube_id, include_deleted=True
        )
    if cube is None:
        raise NotFound(f"cube {cube_id} no longer exists", code="cube_not_found")
    model = rt.embedder.model_name
    after_seq, seen, rewritten = 0, 0, 0
    while True:
        async with rt.db.transaction() as conn:
            batch = await job_store.memory_batch(
                conn, cube_id=cube_id, after_seq=after_seq, limit=REINDEX_BATCH
            )
        if not batch:
            break
        vectors = await rt.embedder.embed_async([content for _, _, content, _ in batch])
        async with rt.db.transaction() as conn:
            rewritten += await job_store.rewrite_index(
                conn,
                rows=[(mid, digest, vectors[i]) for i, (_, mid, _, digest) in enumerate(batch)],
                embedding_model=model,
            )
        seen += len(batch)
        after_seq = batch[-1][0]
    log.info(
        "cube reindexed",
        extra={"job_id": str(job_id), "cube_id": str(cube_id), "memories": seen, "model": model},
    )
    return ReindexResult(cube_id=cube_id, memories=seen, rewritten=rewritten)
