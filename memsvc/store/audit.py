"""Audit log rows: one per mutating API request that reached a route; read by the admin."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.store.tables import audit_log

a = audit_log.c


async def insert_entry(
    conn: AsyncConnection,
    *,
    actor: str,
    tenant_id: uuid.UUID | None,
    key_id: uuid.UUID | None,
    method: str,
    route: str,
    params: dict[str, Any],
    status: int,
    request_id: str,
) -> int:
    result = await conn.execute(
        insert(audit_log)
        .values(
            at=func.now(),
            actor=actor,
            tenant_id=tenant_id,
            key_id=key_id,
            method=method,
            route=route,
            params=params,
            status=status,
            request_id=request_id,
        )
        .returning(a.id)
    )
    return int(result.scalar_one())


async def list_entries(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    before: tuple[datetime, int] | None,
) -> list[dict[str, Any]]:
    """Newest first: (at, id) descending, strictly before `before` when given."""
    query = select(audit_log)
    if tenant_id is not None:
        query = query.where(a.tenant_id == tenant_id)
    if since is not None:
        query = query.where(a.at >= since)
    if until is not None:
        query = query.where(a.at < until)
    if before is not None:
        query = query.where(tuple_(a.at, a.id) < tuple_(*before))
    query = query.order_by(a.at.desc(), a.id.desc()).limit(limit)
    return [dict(row) for row in (await conn.execute(query)).mappings()]
