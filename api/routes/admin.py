"""Tenants and API keys (admin key only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, TenantCreate, TenantList, TenantOut
from memsvc.services import auth, tenants

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/tenants", status_code=201, response_model=TenantOut)
async def create_tenant(body: TenantCreate, rt: RuntimeDep, principal: PrincipalDep) -> TenantOut:
    """Create a tenant."""
    principal.require_admin()
    return TenantOut.model_validate(await tenants.create_tenant(rt, name=body.name))


@router.get("/tenants", response_model=TenantList)
async def list_tenants(rt: RuntimeDep, principal: PrincipalDep) -> TenantList:
    """List tenants."""
    principal.require_admin()
    rows = await tenants.list_tenants(rt)
    return TenantList(items=[TenantOut.model_validate(r) for r in rows])


@router.get("/tenants/{tenant_id}", response_model=TenantOut)
async def get_tenant(tenant_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep) -> TenantOut:
    """Get a tenant."""
    principal.require_admin()
    return TenantOut.model_validate(await tenants.get_tenant(rt, tenant_id=tenant_id))


@router.post("/keys", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, rt: RuntimeDep, principal: PrincipalDep) -> KeyCreated:
    """Create an API key for a tenant. The key is in this response only."""
    principal.require_admin()
    row, key = await auth.create_key(
        rt, tenant_id=body.tenant_id, scopes=body.scopes, name=body.name
    )
    return KeyCreated.model_validate({**row, "key": key})


@router.get("/keys", response_model=KeyList)
async def list_keys(
    rt: RuntimeDep, principal: PrincipalDep, tenant_id: uuid.UUID | None = None
) -> KeyList:
    """List keys (never their secrets), optionally of one tenant."""
    principal.require_admin()
    rows = await tenants.list_keys(rt, tenant_id=tenant_id)
    return KeyList(items=[KeyOut.model_validate(r) for r in rows])


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep) -> Response:
    """Revoke a key; it stops working at once."""
    principal.require_admin()
    await auth.revoke_key(rt, key_id=key_id)
    return Response(status_code=204)
