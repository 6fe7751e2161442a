"""The audit log (admin key only): who changed what, when."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import PrincipalDep, RuntimeDep
from memsvc.services import audit

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AuditEntryOut(BaseModel):
    id: int
    at: datetime = Field(description="When the request's outcome was decided.")
    actor: str = Field(description="`admin`, or `key:<api key id>`.")
    tenant_id: uuid.UUID | None = Field(description="The acting key's tenant.")
    key_id: uuid.UUID | None = Field(description="The acting API key (null: the admin key).")
    method: str
    route: str = Field(description="The route template, e.g. `/v1/cubes/{cube_id}`.")
    params: dict[str, Any] = Field(
        description="Its path parameters (and `hard` of a delete); never the request body."
    )
    status: int = Field(description="The HTTP status answered (refused requests too).")
    request_id: str = Field(description="Echoed to the caller as `X-Request-ID`.")


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    rt: RuntimeDep,
    principal: PrincipalDep,
    tenant_id: Annotated[uuid.UUID | None, Query(description="One tenant's entries.")] = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive start.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive end.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AuditPage:
    """Every mutating request that reached a route (refused ones too), newest first. Admin key
    only: tenants do not see the trail."""
    rows, next_cursor = await audit.list_entries(
        rt, principal, tenant_id=tenant_id, since=since, until=until, limit=limit, cursor=cursor
    )
    return AuditPage(items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor)
