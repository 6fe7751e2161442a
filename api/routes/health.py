"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from api.deps import RuntimeDep
from memsvc.migrate import head_revision
from memsvc.store import jobs as job_store

# A worker is alive when it beat within this many seconds (procrastinate beats every 10 s).
WORKER_HEARTBEAT_MAX_AGE = 60.0

router = APIRouter(tags=["operations"])


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadinessOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="database, migrations and worker: `ok`, or what is wrong with it."
    )


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready (see `checks`)."}},
)
async def readyz(rt: RuntimeDep, request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the latest migration.

    `checks.worker` reports whether any background worker (in this process or a separate
    `memsvc worker`) sent a heartbeat in the last 60 s: "ok" or "no worker heartbeat". It only
    decides readiness when this process was started with an attached worker (`memsvc serve`
    without `--no-worker`): then a stopped in-process worker (or no heartbeat at all) makes the
    instance not ready. An API started with `--no-worker` relies on separate workers, which it
    cannot vouch for, so it stays ready without them (jobs then simply wait in the queue).
    """
    checks: dict[str, str] = {}
    required = ["database", "migrations"]
    if getattr(request.app.state, "worker_attached", False):
        required.append("worker")
    try:
        async with rt.db.engine.connect() as conn:
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
            checks["database"] = "ok"
            head = head_revision()
            checks["migrations"] = "ok" if revision == head else f"at {revision}, head is {head}"
            try:
                beat, now = await job_store.latest_worker_heartbeat(conn)
                fresh = (
                    beat is not None and (now - beat).total_seconds() <= WORKER_HEARTBEAT_MAX_AGE
                )
                checks["worker"] = "ok" if fresh else "no worker heartbeat"
                task = getattr(request.app.state, "worker_task", None)
                if task is not None and task.done():
                    checks["worker"] = "the in-process worker stopped"
            except Exception as exc:  # e.g. the queue's tables are not there yet
                checks["worker"] = f"unknown: {type(exc).__name__}"
    except Exception as exc:  # any failure to answer means "not ready", never a 500
        checks.setdefault("database", f"unreachable: {type(exc).__name__}")
    ready = all(checks.get(name) == "ok" for name in required)
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )
