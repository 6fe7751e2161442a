"""Background jobs: queue a cube reindex, and follow any job by its id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, RuntimeDep
from memsvc.services import jobs

router = APIRouter(tags=["jobs"])


class JobAccepted(BaseModel):
    job_id: uuid.UUID = Field(description="Follow it with GET /v1/jobs/{job_id}.")


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="What the job does, e.g. `reindex_cube`.")
    status: Literal["queued", "running", "done", "failed"]
    attempts: int = Field(description="How many times a worker has started it.")
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cube_id: uuid.UUID | None = None


@router.post("/v1/cubes/{cube_id}/reindex", status_code=202, response_model=JobAccepted)
async def reindex_cube(cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep) -> JobAccepted:
    """Re-embed every memory of the cube with the current embedding model and rebuild its
    lexical index, in the background. Idempotent; needs the `write` scope."""
    return JobAccepted(job_id=await jobs.enqueue_reindex(rt, principal, cube_id))


@router.get("/v1/jobs/{job_id}", response_model=JobOut)
async def get_job(job_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep) -> JobOut:
    """A background job's status: queued, running, done or failed."""
    job = await jobs.get_job(rt, principal, job_id)
    return JobOut.model_validate(job.__dict__)
