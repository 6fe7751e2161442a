"""Background jobs on procrastinate's tables, and the SQL the jobs themselves run.

Jobs are enqueued with procrastinate's own SQL function (`procrastinate_defer_jobs_v1`, pinned
with the package) on the caller's transaction, so a job exists exactly when the change that asked
for it commits. Every memsvc job carries `job_id` (a UUID, the public id) and `tenant_id` in its
args; jobs are looked up by `args->>'job_id'` (index from migration 0003).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, literal_column, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.store.memories import lexical_index
from memsvc.store.tables import memories

m = memories.c

DEFAULT_QUEUE = "default"

_DEFER = text(
    """
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
        CAST(:queue AS varchar), CAST(:task_name AS varchar), CAST(:priority AS integer),
        CAST(:lock AS text), CAST(:queueing_lock AS text), CAST(:args AS jsonb),
        CAST(NULL AS timestamptz)
    )::procrastinate_job_to_defer_v1])) AS id
    """
)

# A job as the API reports it; the times come from procrastinate's event log.
_JOB_SELECT = """
    SELECT j.id AS internal_id, j.args->>'job_id' AS job_id, j.task_name,
           j.status::text AS status, j.attempts, j.args,
           (SELECT min(e.at) FROM procrastinate_events e
             WHERE e.job_id = j.id AND e.type = 'deferred') AS created_at,
           (SELECT max(e.at) FROM procrastinate_events e
             WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
           (SELECT max(e.at) FROM procrastinate_events e
             WHERE e.job_id = j.id
               AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at
      FROM procrastinate_jobs j
"""

_GET_JOB = (
    _JOB_SELECT
    + """
     WHERE j.args->>'job_id' = :job_id {tenant_filter}
     ORDER BY j.id DESC
     LIMIT 1
"""
)


async def defer_job(
    conn: AsyncConnection,
    *,
    task_name: str,
    args: dict[str, Any],
    lock: str | None = None,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    queueing_lock: str | None = None,
) -> int | None:
    """Enqueue a job on this transaction; return procrastinate's internal id, or None when a
    job with the same `queueing_lock` is already waiting (nothing is queued then)."""
    params = {
        "queue": queue,
        "task_name": task_name,
        "priority": priority,
        "lock": lock,
        "queueing_lock": queueing_lock,
        "args": json.dumps(args),
    }
    if queueing_lock is None:
        return int((await conn.execute(_DEFER, params)).scalar_one())
    try:
        async with conn.begin_nested():  # a refused job must not abort the caller's transaction
            return int((await conn.execute(_DEFER, params)).scalar_one())
    except IntegrityError:
        return None


async def get_job(
    conn: AsyncConnection, *, job_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> dict[str, Any] | None:
    """The job with this public id (of this tenant, unless `tenant_id` is None: the admin)."""
    params: dict[str, Any] = {"job_id": str(job_id)}
    tenant_filter = ""
    if tenant_id is not None:
        tenant_filter = "AND j.args->>'tenant_id' = :tenant_id"
        params["tenant_id"] = str(tenant_id)
    row = (await conn.execute(text(_GET_JOB.format(tenant_filter=tenant_filter)), params)).first()
    return dict(row._mapping) if row else None


async def latest_worker_heartbeat(conn: AsyncConnection) -> tuple[datetime | None, datetime]:
    """The newest heartbeat of any procrastinate worker, and the database's now()."""
    row = (
        await conn.execute(text("SELECT max(last_heartbeat), now() FROM procrastinate_workers"))
    ).one()
    return row[0], row[1]


async def queue_counts(conn: AsyncConnection) -> list[tuple[str, str, str, int]]:
    """(queue, task, status, count) of the jobs waiting, running or failed. Succeeded jobs are
    left out: they only grow, and counting them would scan the whole history on every scrape."""
    rows = await conn.execute(
        text(
            "SELECT queue_name, task_name, status::text, count(*) FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing', 'failed') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    )
    return [(r[0], r[1], r[2], int(r[3])) for r in rows]


_RECENT_FAILURES = (
    _JOB_SELECT
    + """
     WHERE j.status IN ('failed', 'cancelled', 'aborted') AND j.args->>'job_id' IS NOT NULL
     ORDER BY j.id DESC
     LIMIT :limit
"""
)


async def recent_failures(conn: AsyncConnection, *, limit: int) -> list[dict[str, Any]]:
    """The newest failed, cancelled or aborted jobs (every tenant's), newest first, in the
    shape get_job reads (plus `job_id`)."""
    rows = await conn.execute(text(_RECENT_FAILURES), {"limit": limit})
    return [dict(r._mapping) for r in rows]


# --- reindex -------------------------------------------------------------------------------


async def memory_batch(
    conn: AsyncConnection, *, cube_id: uuid.UUID, after_seq: int, limit: int
) -> list[tuple[int, uuid.UUID, str, str]]:
    """The next memories of a cube in seq order: (seq, id, content, content_hash)."""
    rows = await conn.execute(
        select(m.seq, m.id, m.content, m.content_hash)
        .where(m.cube_id == cube_id, m.seq > after_seq)
        .order_by(m.seq)
        .limit(limit)
    )
    return [tuple(r) for r in rows.tuples()]


def _token_count(value: Any) -> Any:
    return func.memsvc_token_count(func.to_tsvector(literal_column("'english'::regconfig"), value))


async def rewrite_index(
    conn: AsyncConnection,
    *,
    rows: Sequence[tuple[uuid.UUID, str, np.ndarray]],
    embedding_model: str,
) -> int:
    """Set the embedding and rebuild the lexical index of each (id, content_hash, vector).

    A row whose content changed since it was read (its hash differs) is left alone: the update
    that changed it re-embedded it already. Returns the number of rows rewritten.
    """
    if not rows:
        return 0
    stmt = (
        update(memories)
        .where(m.id == bindparam("b_id"), m.content_hash == bindparam("b_hash"))
        .values(
            embedding=bindparam("b_embedding", type_=m.embedding.type),
            embedding_model=embedding_model,
            **lexical_index(),
        )
    )
    result = await conn.execute(
        stmt,
        [{"b_id": mid, "b_hash": digest, "b_embedding": vec} for mid, digest, vec in rows],
    )
    return int(result.rowcount or 0)
