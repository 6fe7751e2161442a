"""Tenants (admin only)."""

from __future__ import annotations

import uuid
from typing import Any

from memsvc.errors import NotFound
from memsvc.services.runtime import Runtime
from memsvc.store import tenants as tenant_store


async def create_tenant(rt: Runtime, *, name: str) -> dict[str, Any]:
    async with rt.db.transaction() as conn:
        return await tenant_store.create_tenant(conn, name=name)


async def list_tenants(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.transaction() as conn:
        return await tenant_store.list_tenants(conn)


async def get_tenant(rt: Runtime, *, tenant_id: uuid.UUID) -> dict[str, Any]:
    async with rt.db.transaction() as conn:
        row = await tenant_store.get_tenant(conn, tenant_id=tenant_id)
    if row is None:
        raise NotFound("no such tenant", code="tenant_not_found")
    return row


async def list_keys(rt: Runtime, *, tenant_id: uuid.UUID | None) -> list[dict[str, Any]]:
    async with rt.db.transaction() as conn:
        return await tenant_store.list_keys(conn, tenant_id=tenant_id)
