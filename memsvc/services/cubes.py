"""Cubes: the unit of ownership. A cube another tenant owns is reported as not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import cursor as cursors
from memsvc.domain.memory import Cube
from memsvc.domain.types import Scope
from memsvc.errors import NotFound
from memsvc.services.auth import Principal
from memsvc.services.runtime import Runtime
from memsvc.store import cubes as cube_store

CUBE_NOT_FOUND = "no such cube (or it is not yours)"


async def require_cube(
    conn: AsyncConnection,
    principal: Principal,
    cube_id: uuid.UUID,
    *,
    lock: bool = False,
    keep: bool = False,
) -> Cube:
    """The caller's live cube; `lock` locks it for update, `keep` only against deletion."""
    tenant_id = principal.require_tenant()
    cube = await cube_store.get_cube(
        conn, tenant_id=tenant_id, cube_id=cube_id, lock=lock, keep=keep
    )
    if cube is None:
        raise NotFound(CUBE_NOT_FOUND, code="cube_not_found")
    return cube


async def create_cube(rt: Runtime, principal: Principal, **values: Any) -> Cube:
    principal.require(Scope.WRITE)
    tenant_id = principal.require_tenant()
    async with rt.db.transaction() as conn:
        return await cube_store.create_cube(conn, tenant_id=tenant_id, **values)


async def list_cubes(
    rt: Runtime, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[Cube], str | None]:
    principal.require(Scope.READ)
    tenant_id = principal.require_tenant()
    after = None
    if cursor:
        pos = cursors.decode("cubes", cursor, {"t": str, "i": str})
        try:
            after = (datetime.fromisoformat(pos["t"]), uuid.UUID(pos["i"]))
        except ValueError:
            raise cursors.invalid() from None
    async with rt.db.transaction() as conn:
        items = await cube_store.list_cubes(conn, tenant_id=tenant_id, limit=limit + 1, after=after)
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = cursors.encode("cubes", {"t": last.created_at.isoformat(), "i": str(last.id)})
    return items, next_cursor


async def get_cube(rt: Runtime, principal: Principal, cube_id: uuid.UUID) -> Cube:
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        return await require_cube(conn, principal, cube_id)


async def memory_counts(rt: Runtime, cube_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    async with rt.db.transaction() as conn:
        return await cube_store.count_memories(conn, cube_ids=cube_ids)


async def update_cube(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, values: dict[str, Any]
) -> Cube:
    principal.require(Scope.WRITE)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id, lock=True)
        if not values:
            return cube
        updated = await cube_store.update_cube(
            conn, tenant_id=cube.tenant_id, cube_id=cube_id, values=values
        )
    assert updated is not None
    return updated


async def _locked_cube(
    conn: AsyncConnection, tenant_id: uuid.UUID, cube_id: uuid.UUID, *, include_deleted: bool
) -> Cube:
    cube = await cube_store.get_cube(
        conn, tenant_id=tenant_id, cube_id=cube_id, include_deleted=include_deleted, lock=True
    )
    if cube is None:
        raise NotFound(CUBE_NOT_FOUND, code="cube_not_found")
    return cube


async def delete_cube(rt: Runtime, principal: Principal, cube_id: uuid.UUID, *, hard: bool) -> None:
    """Soft delete hides the cube (restorable); hard delete purges it and all its memories."""
    principal.require(Scope.WRITE)
    tenant_id = principal.require_tenant()
    async with rt.db.transaction() as conn:
        await _locked_cube(conn, tenant_id, cube_id, include_deleted=hard)
        if hard:
            await cube_store.hard_delete_cube(conn, cube_id=cube_id)
        else:
            await cube_store.update_cube(
                conn, tenant_id=tenant_id, cube_id=cube_id, values={"deleted_at": datetime.now(UTC)}
            )


async def restore_cube(rt: Runtime, principal: Principal, cube_id: uuid.UUID) -> Cube:
    principal.require(Scope.WRITE)
    tenant_id = principal.require_tenant()
    async with rt.db.transaction() as conn:
        cube = await _locked_cube(conn, tenant_id, cube_id, include_deleted=True)
        if cube.deleted_at is None:
            return cube
        restored = await cube_store.update_cube(
            conn, tenant_id=tenant_id, cube_id=cube_id, values={"deleted_at": None}
        )
    assert restored is not None
    return restored
