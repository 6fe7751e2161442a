"""LLM usage: recorded per tenant and cube as calls happen, read back at GET /v1/usage."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from memsvc.domain.types import Scope
from memsvc.errors import InvalidRequest, NotFound
from memsvc.models.llm import UsageRecord
from memsvc.services.auth import Principal
from memsvc.services.cubes import CUBE_NOT_FOUND
from memsvc.services.runtime import Runtime
from memsvc.store import usage as usage_store


@dataclasses.dataclass(frozen=True)
class DatabaseUsageSink:
    """Records each LLM call of one tenant (and cube) in `llm_usage`, in its own transaction:
    the money is spent whether or not the caller's own transaction commits."""

    rt: Runtime
    tenant_id: uuid.UUID
    cube_id: uuid.UUID | None = None

    async def record(self, usage: UsageRecord) -> None:
        async with self.rt.db.transaction() as conn:
            await usage_store.insert_usage(
                conn,
                tenant_id=self.tenant_id,
                cube_id=self.cube_id,
                task=usage.task,
                model=usage.model,
                source=usage.source,
                attempts=usage.attempts,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=usage.cost_usd,
            )


_SUMMED = ("prompt_tokens", "completion_tokens", "cost_usd", "calls", "fallbacks")


async def get_usage(
    rt: Runtime,
    principal: Principal,
    *,
    cube_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    tenant_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Totals and per (cube, task, model) rows. A tenant key sees its own tenant only; the
    admin sees every tenant, or the one it names. A cube of another tenant is not found; a
    hard-deleted cube of one's own still has its usage (usage rows outlive cubes)."""
    principal.require(Scope.READ)
    if principal.is_admin:
        scope_tenant = tenant_id
    else:
        if tenant_id is not None and tenant_id != principal.tenant_id:
            raise NotFound("no such tenant", code="tenant_not_found")
        scope_tenant = principal.require_tenant()
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("`since` must be before `until`", code="invalid_window")
    async with rt.db.transaction() as conn:
        if cube_id is not None:
            owner = await usage_store.cube_owner(conn, cube_id=cube_id)
            if owner is None or (scope_tenant is not None and owner != scope_tenant):
                raise NotFound(CUBE_NOT_FOUND, code="cube_not_found")
        rows = await usage_store.aggregate_usage(
            conn, tenant_id=scope_tenant, cube_id=cube_id, since=since, until=until
        )
    totals: dict[str, Any] = dict.fromkeys(_SUMMED, 0)
    totals["cost_usd"] = 0.0
    totals["cost_unknown_calls"] = 0
    for row in rows:
        for key in (*_SUMMED, "cost_unknown_calls"):
            totals[key] += row[key]
    return {"totals": totals, "rows": rows, "since": since, "until": until}
