"""LLM usage: tokens, cost and fallbacks of the LLM layer, per cube, task and model."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import PrincipalDep, RuntimeDep
from memsvc.services import usage

router = APIRouter(tags=["usage"])


class UsageSums(BaseModel):
    prompt_tokens: int = Field(description="Prompt tokens of every attempt.")
    completion_tokens: int = Field(description="Completion tokens of every attempt.")
    cost_usd: float = Field(description="Summed cost of the calls whose price is known.")
    calls: int = Field(description="LLM-layer calls (a call may make several attempts).")
    fallbacks: int = Field(description="Calls that ended on the deterministic fallback.")
    cost_unknown_calls: int = Field(
        description="Calls whose model has no known price (counted as 0 in cost_usd)."
    )


class UsageRow(UsageSums):
    tenant_id: uuid.UUID
    cube_id: uuid.UUID | None = Field(description="None: usage not tied to a cube.")
    task: str = Field(description="What the call was for, e.g. `extract_facts`.")
    model: str


class UsageOut(BaseModel):
    totals: UsageSums
    rows: list[UsageRow]
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


@router.get("/v1/usage", response_model=UsageOut)
async def get_usage(
    rt: RuntimeDep,
    principal: PrincipalDep,
    cube_id: uuid.UUID | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Inclusive start.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Exclusive end.")] = None,
    tenant_id: Annotated[
        uuid.UUID | None, Query(description="Admin key only: one tenant (default: all).")
    ] = None,
) -> UsageOut:
    """LLM tokens, cost and fallbacks, totalled and grouped by cube, task and model. A tenant
    key sees its own tenant; needs the `read` scope."""
    result = await usage.get_usage(
        rt, principal, cube_id=cube_id, since=since, until=until, tenant_id=tenant_id
    )
    return UsageOut.model_validate(result)
