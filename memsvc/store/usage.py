"""LLM usage rows: one per LLM-layer call, summed per cube, task and model for GET /v1/usage."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, case, cast, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.store.tables import cubes, llm_usage

u = llm_usage.c


async def insert_usage(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID | None,
    task: str,
    model: str,
    source: str,
    attempts: int,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float | None,
) -> int:
    result = await conn.execute(
        insert(llm_usage)
        .values(
            tenant_id=tenant_id,
            cube_id=cube_id,
            task=task,
            model=model,
            source=source,
            attempts=attempts,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            created_at=func.now(),
        )
        .returning(u.id)
    )
    return int(result.scalar_one())


async def aggregate_usage(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID | None,
    cube_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Sums per (tenant, cube, task, model) over [since, until); `tenant_id` None: all tenants.

    `cost_usd` sums the known costs; `cost_unknown_calls` counts calls whose price is unknown.
    """
    query = (
        select(
            u.tenant_id,
            u.cube_id,
            u.task,
            u.model,
            cast(func.coalesce(func.sum(u.prompt_tokens), 0), BigInteger).label("prompt_tokens"),
            cast(func.coalesce(func.sum(u.completion_tokens), 0), BigInteger).label(
                "completion_tokens"
            ),
            func.coalesce(func.sum(u.cost_usd), 0.0).label("cost_usd"),
            func.count().label("calls"),
            func.count().filter(u.source == "fallback").label("fallbacks"),
            func.count().filter(u.cost_usd.is_(None)).label("cost_unknown_calls"),
            func.min(u.created_at).label("first_at"),
            func.max(u.created_at).label("last_at"),
        )
        .group_by(u.tenant_id, u.cube_id, u.task, u.model)
        .order_by(
            u.tenant_id,
            case((u.cube_id.is_(None), 0), else_=1),
            u.cube_id,
            u.task,
            u.model,
        )
    )
    if tenant_id is not None:
        query = query.where(u.tenant_id == tenant_id)
    if cube_id is not None:
        query = query.where(u.cube_id == cube_id)
    if since is not None:
        query = query.where(u.created_at >= since)
    if until is not None:
        query = query.where(u.created_at < until)
    rows = (await conn.execute(query)).all()
    return [dict(row._mapping) for row in rows]


async def cube_owner(conn: AsyncConnection, *, cube_id: uuid.UUID) -> uuid.UUID | None:
    """The tenant of a cube, live, soft- or hard-deleted (then known from its usage rows)."""
    owner = (await conn.execute(select(cubes.c.tenant_id).where(cubes.c.id == cube_id))).scalar()
    if owner is None:
        owner = (
            await conn.execute(select(u.tenant_id).where(u.cube_id == cube_id).limit(1))
        ).scalar()
    return owner
