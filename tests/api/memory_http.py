"""Small HTTP helpers the API tests share: read a memory, its history, its lineage."""

from __future__ import annotations

from typing import Any

import httpx


async def get_memory(client: httpx.AsyncClient, cube_id: str, memory_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/cubes/{cube_id}/memories/{memory_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def history(client: httpx.AsyncClient, cube_id: str, memory_id: str) -> list[dict]:
    r = await client.get(f"/v1/cubes/{cube_id}/memories/{memory_id}/history")
    assert r.status_code == 200, r.text
    return list(r.json()["versions"])


async def lineage(client: httpx.AsyncClient, cube_id: str, memory_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/cubes/{cube_id}/memories/{memory_id}/lineage")
    assert r.status_code == 200, r.text
    return dict(r.json())
