"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from memsvc.services.auth import Principal, authenticate
from memsvc.services.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API key, or the admin key.")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_principal(
    rt: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await authenticate(rt, credentials.credentials if credentials else None)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
