"""Tenants and API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.errors import Conflict
from memsvc.store.tables import api_keys, tenants


async def create_tenant(conn: AsyncConnection, *, name: str) -> dict[str, Any]:
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    insert(tenants)
                    .values(id=uuid.uuid4(), name=name, created_at=func.now())
                    .returning(tenants)
                )
            ).one()
    except IntegrityError:
        raise Conflict(f"a tenant named {name!r} exists already", code="tenant_exists") from None
    return dict(row._mapping)


async def get_tenant(conn: AsyncConnection, *, tenant_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
    return dict(row._mapping) if row else None


async def list_tenants(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(tenants).order_by(tenants.c.created_at, tenants.c.id))
    return [dict(r._mapping) for r in rows]


async def insert_key(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    name: str | None,
    lookup: str,
    salt: bytes,
    digest: bytes,
    scopes: Sequence[str],
) -> dict[str, Any]:
    row = (
        await conn.execute(
            insert(api_keys)
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                name=name,
                lookup=lookup,
                salt=salt,
                hash=digest,
                scopes=list(scopes),
                created_at=func.now(),
            )
            .returning(api_keys)
        )
    ).one()
    return dict(row._mapping)


async def find_key(conn: AsyncConnection, *, lookup: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(api_keys).where(api_keys.c.lookup == lookup))).first()
    return dict(row._mapping) if row else None


async def list_keys(conn: AsyncConnection, *, tenant_id: uuid.UUID | None) -> list[dict[str, Any]]:
    query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    if tenant_id is not None:
        query = query.where(api_keys.c.tenant_id == tenant_id)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def revoke_key(
    conn: AsyncConnection, *, key_id: uuid.UUID, now: datetime
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(revoked_at=func.coalesce(api_keys.c.revoked_at, now))
            .returning(api_keys)
        )
    ).first()
    return dict(row._mapping) if row else None
