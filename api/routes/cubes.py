"""Cubes (MemCubes): create, list, read, update, delete, restore."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import CubeCreate, CubeList, CubeOut, CubeUpdate
from memsvc.domain.memory import Cube
from memsvc.services import cubes
from memsvc.services.runtime import Runtime

router = APIRouter(prefix="/v1/cubes", tags=["cubes"])


async def _out(rt: Runtime, items: list[Cube]) -> list[CubeOut]:
    counts = await cubes.memory_counts(rt, [c.id for c in items]) if items else {}
    return [
        CubeOut.model_validate({**c.__dict__, "memory_count": counts.get(c.id, 0)}) for c in items
    ]


@router.post("", status_code=201, response_model=CubeOut)
async def create_cube(body: CubeCreate, rt: RuntimeDep, principal: PrincipalDep) -> CubeOut:
    """Create a cube."""
    cube = await cubes.create_cube(rt, principal, **body.model_dump())
    return (await _out(rt, [cube]))[0]


@router.get("", response_model=CubeList)
async def list_cubes(
    rt: RuntimeDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> CubeList:
    """List this tenant's cubes, oldest first."""
    items, next_cursor = await cubes.list_cubes(rt, principal, limit=limit, cursor=cursor)
    return CubeList(items=await _out(rt, items), next_cursor=next_cursor)


@router.get("/{cube_id}", response_model=CubeOut)
async def get_cube(cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep) -> CubeOut:
    """Get a cube."""
    return (await _out(rt, [await cubes.get_cube(rt, principal, cube_id)]))[0]


@router.patch("/{cube_id}", response_model=CubeOut)
async def update_cube(
    cube_id: uuid.UUID, body: CubeUpdate, rt: RuntimeDep, principal: PrincipalDep
) -> CubeOut:
    """Change a cube's name, description, owner or config."""
    values = body.model_dump(exclude_unset=True)
    if values.get("name", "") is None:
        values.pop("name")
    if "config" in values and values["config"] is None:
        values["config"] = {}
    cube = await cubes.update_cube(rt, principal, cube_id, values)
    return (await _out(rt, [cube]))[0]


@router.delete("/{cube_id}", status_code=204)
async def delete_cube(
    cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep, hard: bool = False
) -> Response:
    """Delete a cube: soft (restorable) unless `hard=true`, which purges all its memories."""
    await cubes.delete_cube(rt, principal, cube_id, hard=hard)
    return Response(status_code=204)


@router.post("/{cube_id}/restore", response_model=CubeOut)
async def restore_cube(cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep) -> CubeOut:
    """Bring back a soft-deleted cube."""
    return (await _out(rt, [await cubes.restore_cube(rt, principal, cube_id)]))[0]
