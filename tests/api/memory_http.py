"""Small HTTP helpers the API tests share: read a memory, its history, its lineage; a client
with a key of given scopes."""

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


async def key_client(
    app: Any, admin: httpx.AsyncClient, tenant_id: str, scopes: list[str]
) -> httpx.AsyncClient:
    """A client of `app` holding a new key of the tenant with these scopes."""
    r = await admin.post("/v1/admin/keys", json={"tenant_id": tenant_id, "scopes": scopes})
    assert r.status_code == 201, r.text
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {r.json()['key']}"},
    )


async def revealed_fields(
    app: Any, admin: httpx.AsyncClient, client: Any, cube_id: str, memory_id: str
) -> dict[str, Any]:
    """A vault memory's fields read with reveal=true: refused (403 missing_scope) with the
    client's own read/write key, then read with a new key holding the secrets scope."""
    url = f"/v1/cubes/{cube_id}/memories/{memory_id}"
    refused = await client.get(url, params={"reveal": "true"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "missing_scope"
    async with await key_client(app, admin, client.tenant_id, ["read", "secrets"]) as keeper:
        r = await keeper.get(url, params={"reveal": "true"})
        assert r.status_code == 200, r.text
        return dict(r.json()["fields"])
