"""The admin web UI's routes (/admin). Each reads its input, asks api.admin_ui.data (or a
service, for the writes) and renders a template. Not in the OpenAPI document: these are pages,
not the API."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from api.admin_ui import data
from api.admin_ui import session as sessions
from api.admin_ui.pages import AdminRoute, error_page, page, read_form
from api.deps import RuntimeDep
from api.ratelimit import PRINCIPAL_STATE
from api.schemas import KeyCreate, TenantCreate
from memsvc.domain.types import MemoryType, Scope, Status
from memsvc.services import auth, tenants


def _admin_session(request: Request) -> sessions.Session:
    found = sessions.require(request)
    # The audit log records the writes made from these pages as the admin's.
    setattr(request.state, PRINCIPAL_STATE, data.ADMIN)
    return found


SessionDep = Annotated[sessions.Session, Depends(_admin_session)]

router = APIRouter(prefix="/admin", include_in_schema=False, route_class=AdminRoute)


def _safe_next(target: str | None) -> str:
    # Only a path inside /admin: the login form must not redirect anywhere else.
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return "/admin"


def _invalid(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
    )


# --- login ----------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if sessions.current(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return page(request, "login.html", session=None, next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    target = _safe_next(form.get("next"))
    if not request.app.state.runtime.settings.admin_key_value:
        return page(
            request,
            "login.html",
            session=None,
            next=target,
            error="No admin key is configured on this server (set MEMSVC_ADMIN_KEY).",
            status=401,
        )
    if not sessions.admin_key_matches(request, form.get("admin_key", "")):
        # A tenant key is refused here too: only the admin key opens these pages.
        return page(
            request,
            "login.html",
            session=None,
            next=target,
            error="That is not the admin key.",
            status=401,
        )
    response = RedirectResponse(target, status_code=303)
    sessions.start(request, response)
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    sessions.check_csrf(session, await read_form(request))
    response = RedirectResponse("/admin/login", status_code=303)
    sessions.end(request, response, session)
    return response


# --- overview, tenants, keys ------------------------------------------------------------------


@router.get("")
async def overview(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    return page(request, "overview.html", session=session, **await data.overview(rt))


@router.get("/tenants")
async def tenant_list(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    return page(request, "tenants.html", session=session, tenants=await data.tenant_rows(rt))


@router.post("/tenants")
async def create_tenant(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    form = await read_form(request)
    sessions.check_csrf(session, form)
    try:
        body = TenantCreate.model_validate({"name": form.get("name", "").strip()})
    except ValidationError as exc:
        return error_page(request, 422, _invalid(exc))
    created = await tenants.create_tenant(rt, name=body.name)
    return RedirectResponse(f"/admin/tenants/{created['id']}", status_code=303)


@router.get("/tenants/{tenant_id}")
async def tenant_detail(
    request: Request, tenant_id: uuid.UUID, rt: RuntimeDep, session: SessionDep
) -> Response:
    detail = await data.tenant_detail(rt, tenant_id)
    return page(request, "tenant.html", session=session, new_key=None, scopes=list(Scope), **detail)


@router.post("/tenants/{tenant_id}/keys")
async def create_key(
    request: Request, tenant_id: uuid.UUID, rt: RuntimeDep, session: SessionDep
) -> Response:
    form = await read_form(request)
    sessions.check_csrf(session, form)
    chosen = [s.value for s in Scope if form.get(f"scope_{s.value}")]
    try:
        body = KeyCreate.model_validate(
            {"tenant_id": tenant_id, "scopes": chosen, "name": form.get("name", "").strip() or None}
        )
    except ValidationError as exc:
        return error_page(request, 422, _invalid(exc))
    row, key = await auth.create_key(rt, tenant_id=tenant_id, scopes=body.scopes, name=body.name)
    # The secret is in this response only (never stored, never redirected to): no-store keeps
    # it out of caches, and reloading the page does not show it again.
    detail = await data.tenant_detail(rt, tenant_id)
    return page(
        request,
        "tenant.html",
        session=session,
        new_key={"row": row, "key": key},
        scopes=list(Scope),
        **detail,
    )


@router.get("/tenants/{tenant_id}/keys", dependencies=[Depends(_admin_session)])
async def after_key_created(tenant_id: uuid.UUID) -> Response:
    # The address the browser shows after creating a key: opened again, it is the tenant's
    # page (without the secret, which was in the POST's answer only).
    return RedirectResponse(f"/admin/tenants/{tenant_id}", status_code=303)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: uuid.UUID, rt: RuntimeDep, session: SessionDep
) -> Response:
    sessions.check_csrf(session, await read_form(request))
    row = await auth.revoke_key(rt, key_id=key_id)
    return RedirectResponse(f"/admin/tenants/{row['tenant_id']}", status_code=303)


# --- cubes and memories ---------------------------------------------------------------------


@router.get("/cubes")
async def cube_list(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    return page(request, "cubes.html", session=session, rows=await data.cube_rows(rt, None))


Field = Annotated[str, Query(max_length=2000)]


@router.get("/cubes/{cube_id}")
async def cube_browser(
    request: Request,
    cube_id: uuid.UUID,
    rt: RuntimeDep,
    session: SessionDep,
    q: Field = "",
    memory_type: Field = "",
    status: Field = "",
    tags: Field = "",
    include_deleted: Field = "",
    cursor: Field = "",
) -> Response:
    query = data.parse_browse(
        q=q,
        memory_type=memory_type,
        status=status,
        tags=tags,
        include_deleted=include_deleted,
        cursor=cursor,
    )
    found = await data.browse(rt, cube_id, query)
    next_url = None
    if found["next_cursor"]:
        next_url = f"?{urlencode(query.query_string(cursor=found['next_cursor']))}"
    return page(
        request,
        "cube.html",
        session=session,
        query=query,
        memory_types=list(MemoryType),
        statuses=list(Status),
        next_url=next_url,
        first_url=f"?{urlencode(query.query_string(cursor=''))}" if query.cursor else None,
        **found,
    )


@router.get("/cubes/{cube_id}/memories/{memory_id}")
async def memory_detail(
    request: Request, cube_id: uuid.UUID, memory_id: uuid.UUID, rt: RuntimeDep, session: SessionDep
) -> Response:
    detail = await data.memory_detail(rt, cube_id, memory_id)
    return page(request, "memory.html", session=session, **detail)


@router.get("/cubes/{cube_id}/graph")
async def cube_graph(
    request: Request, cube_id: uuid.UUID, rt: RuntimeDep, session: SessionDep
) -> Response:
    return page(request, "graph.html", session=session, **await data.graph_detail(rt, cube_id))


# --- operations ------------------------------------------------------------------------------


@router.get("/jobs")
async def job_queue(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    return page(request, "jobs.html", session=session, **await data.queue(rt))


@router.get("/usage")
async def usage(
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> Response:
    detail = await data.usage_detail(rt, days)
    return page(request, "usage.html", session=session, days=days, **detail)


# Last: any other /admin path is this UI's 404 page, not the API's JSON one.
@router.api_route("/{unknown:path}", methods=["GET", "POST"])
async def not_found(request: Request, unknown: str) -> Response:
    if not unknown:  # "/admin/"
        return RedirectResponse("/admin", status_code=307)
    return error_page(request, 404, f"there is no admin page at /admin/{unknown}")
