"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import ratelimit
from memsvc.services.auth import Principal, authenticate
from memsvc.services.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API key, or the admin key.")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_principal(
    request: Request,
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # /v1 requests were authenticated and rate-limited by api.ratelimit.AuthGate before their
    # body was read; any other route authenticates and takes its token here.
    admitted: Principal | None = getattr(request.state, ratelimit.PRINCIPAL_STATE, None)
    if admitted is not None:
        return admitted
    principal = await authenticate(rt, credentials.credentials if credentials else None)
    refused = ratelimit.check(request.app, principal)
    if refused is not None:
        raise ratelimit.too_many(refused)
    setattr(request.state, ratelimit.PRINCIPAL_STATE, principal)  # for the audit log
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
