"""The tasks. Each one is thin: it finds the Runtime in its context and calls one service."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

import procrastinate
from procrastinate import JobContext
from sqlalchemy import exc as sa_exc

from memsvc.config import get_settings
from memsvc.errors import Unavailable
from memsvc.services import activation, consolidation, enrichment, ingest, jobs
from memsvc.services.runtime import Runtime

log = logging.getLogger(__name__)

# Retry only what may heal by itself (the database coming back); a bug or a vanished cube fails
# the job at once.
TRANSIENT = procrastinate.RetryStrategy(
    max_attempts=5,
    wait=2,
    exponential_wait=2,
    retry_exceptions={Unavailable, sa_exc.OperationalError, ConnectionError, TimeoutError},
)


def runtime_of(context: JobContext) -> Runtime:
    runtime: Runtime = context.additional_context["runtime"]
    return runtime


async def reindex_cube(
    context: JobContext, *, job_id: str, tenant_id: str, cube_id: str, **_: Any
) -> dict[str, Any]:
    result = await jobs.reindex_cube(
        runtime_of(context),
        job_id=uuid.UUID(job_id),
        tenant_id=uuid.UUID(tenant_id),
        cube_id=uuid.UUID(cube_id),
    )
    return {"memories": result.memories, "rewritten": result.rewritten}


async def enrich_memories(
    context: JobContext,
    *,
    job_id: str,
    tenant_id: str,
    cube_id: str,
    memory_ids: list[str],
    **_: Any,
) -> dict[str, Any]:
    result = await enrichment.enrich_memories(
        runtime_of(context),
        job_id=uuid.UUID(job_id),
        tenant_id=uuid.UUID(tenant_id),
        cube_id=uuid.UUID(cube_id),
        memory_ids=[uuid.UUID(mid) for mid in memory_ids],
    )
    return dataclasses.asdict(result)


async def consolidate_cube(
    context: JobContext,
    *,
    job_id: str,
    tenant_id: str,
    cube_id: str,
    kinds: list[str],
    **_: Any,
) -> dict[str, Any]:
    result = await consolidation.consolidate_cube(
        runtime_of(context),
        job_id=uuid.UUID(job_id),
        tenant_id=uuid.UUID(tenant_id),
        cube_id=uuid.UUID(cube_id),
        kinds=kinds,
    )
    return dataclasses.asdict(result)


async def ingest_messages(
    context: JobContext,
    *,
    job_id: str,
    tenant_id: str,
    cube_id: str,
    batch_id: str,
    **_: Any,
) -> dict[str, Any]:
    result = await ingest.ingest_batch(
        runtime_of(context),
        job_id=uuid.UUID(job_id),
        tenant_id=uuid.UUID(tenant_id),
        cube_id=uuid.UUID(cube_id),
        batch_id=uuid.UUID(batch_id),
    )
    return dataclasses.asdict(result)


async def build_activation(
    context: JobContext,
    *,
    job_id: str,
    tenant_id: str,
    cube_id: str,
    activation_id: str,
    **_: Any,
) -> dict[str, Any]:
    return await activation.build(
        runtime_of(context),
        job_id=uuid.UUID(job_id),
        tenant_id=uuid.UUID(tenant_id),
        cube_id=uuid.UUID(cube_id),
        activation_id=uuid.UUID(activation_id),
    )


async def refresh_activations(context: JobContext, timestamp: int) -> int:
    """Periodic: queue a rebuild of every stale activation cache."""
    del timestamp  # procrastinate passes it to periodic tasks
    return await activation.refresh_stale(runtime_of(context))


async def schedule_consolidation(context: JobContext, timestamp: int) -> int:
    """Periodic (procrastinate passes the scheduled `timestamp`): queue a consolidation of
    every live cube."""
    log.info("scheduled consolidation round", extra={"scheduled_for": timestamp})
    return await consolidation.schedule_all(runtime_of(context))


def register(app: procrastinate.App, cron: str | None = None) -> None:
    """Declare every task on an App (a fresh App per process or test; see workers.app).

    `cron` (default: the consolidation_cron setting; empty: never) schedules consolidation.
    """
    app.task(name=jobs.REINDEX_CUBE, pass_context=True, retry=TRANSIENT)(reindex_cube)
    app.task(name=enrichment.ENRICH_MEMORIES, pass_context=True, retry=TRANSIENT)(enrich_memories)
    app.task(name=ingest.INGEST_MESSAGES, pass_context=True, retry=TRANSIENT)(ingest_messages)
    app.task(name=consolidation.CONSOLIDATE_CUBE, pass_context=True, retry=TRANSIENT)(
        consolidate_cube
    )
    app.task(name=activation.BUILD_ACTIVATION, pass_context=True, retry=TRANSIENT)(build_activation)
    refresher = app.task(
        name=activation.REFRESH_ACTIVATIONS,
        pass_context=True,
        retry=TRANSIENT,
        queueing_lock=activation.REFRESH_ACTIVATIONS,
    )(refresh_activations)
    refresh_cron = get_settings().activation_refresh_cron
    if refresh_cron:
        app.periodic(cron=refresh_cron)(refresher)
    cron = get_settings().consolidation_cron if cron is None else cron
    scheduler = app.task(
        name=consolidation.SCHEDULE_CONSOLIDATION,
        pass_context=True,
        retry=TRANSIENT,
        queueing_lock=consolidation.SCHEDULE_CONSOLIDATION,
    )(schedule_consolidation)
    if cron.strip():
        app.periodic(cron=cron.strip())(scheduler)
