"""Cubes. Every read is scoped by tenant: another tenant's cube is simply not found."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.memory import Cube
from memsvc.errors import Conflict
from memsvc.store.tables import cubes, memories


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a cube named {name!r} exists already in this tenant", code="cube_exists")


async def create_cube(conn: AsyncConnection, *, tenant_id: uuid.UUID, **values: Any) -> Cube:
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    insert(cubes)
                    .values(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        created_at=func.now(),
                        updated_at=func.now(),
                        **values,
                    )
                    .returning(cubes)
                )
            ).one()
    except IntegrityError:
        raise _name_taken(values["name"]) from None
    return Cube.from_row(row._mapping)


async def get_cube(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    include_deleted: bool = False,
    lock: bool = False,
    keep: bool = False,
) -> Cube | None:
    query = select(cubes).where(cubes.c.id == cube_id, cubes.c.tenant_id == tenant_id)
    if not include_deleted:
        query = query.where(cubes.c.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    elif keep:
        # FOR KEY SHARE: writers of memories keep the cube from being deleted under them
        # (a concurrent hard delete waits, or has already made this lookup miss).
        query = query.with_for_update(read=True, key_share=True)
    row = (await conn.execute(query)).first()
    return Cube.from_row(row._mapping) if row else None


async def list_cubes(
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    limit: int,
    after: tuple[Any, uuid.UUID] | None,
) -> list[Cube]:
    query = (
        select(cubes)
        .where(cubes.c.tenant_id == tenant_id, cubes.c.deleted_at.is_(None))
        .order_by(cubes.c.created_at, cubes.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(cubes.c.created_at, cubes.c.id) > tuple_(*after))
    return [Cube.from_row(r._mapping) for r in await conn.execute(query)]


async def update_cube(
    conn: AsyncConnection, *, tenant_id: uuid.UUID, cube_id: uuid.UUID, values: dict[str, Any]
) -> Cube | None:
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    update(cubes)
                    .where(cubes.c.id == cube_id, cubes.c.tenant_id == tenant_id)
                    .values(updated_at=func.now(), **values)
                    .returning(cubes)
                )
            ).first()
    except IntegrityError:
        raise _name_taken(values.get("name", "")) from None
    return Cube.from_row(row._mapping) if row else None


async def hard_delete_cube(conn: AsyncConnection, *, cube_id: uuid.UUID) -> None:
    # memories, versions and every derived row go with it (ON DELETE CASCADE)
    await conn.execute(delete(cubes).where(cubes.c.id == cube_id))


async def count_memories(
    conn: AsyncConnection, *, cube_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await conn.execute(
        select(memories.c.cube_id, func.count())
        .where(memories.c.cube_id.in_(cube_ids), memories.c.status != "deleted")
        .group_by(memories.c.cube_id)
    )
    return {cube_id: count for cube_id, count in rows.all()}  # noqa: C416 (Result.keys trips dict())


async def live_cube_ids(
    conn: AsyncConnection, *, tenant_id: uuid.UUID, cube_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    rows = await conn.execute(
        select(cubes.c.id).where(
            cubes.c.tenant_id == tenant_id,
            cubes.c.id.in_(cube_ids),
            cubes.c.deleted_at.is_(None),
        )
    )
    return set(rows.scalars())


async def all_live_cubes(conn: AsyncConnection) -> list[Cube]:
    """Every live cube of every tenant (the scheduler's round)."""
    rows = await conn.execute(
        select(cubes).where(cubes.c.deleted_at.is_(None)).order_by(cubes.c.created_at)
    )
    return [Cube.from_row(r._mapping) for r in rows]
