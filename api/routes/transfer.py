"""Cube export and import: a JSONL (NDJSON) stream of everything needed to rebuild a cube."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from api.deps import PrincipalDep, RuntimeDep
from api.routes.cubes import _out
from api.schemas import ImportOut
from memsvc.domain.types import Scope
from memsvc.services import transfer

router = APIRouter(prefix="/v1/cubes", tags=["cubes"])

NDJSON = "application/x-ndjson"
# Also read: the other names of JSONL, and a file sent as bytes (what many upload tools say).
ACCEPTED = {NDJSON, "application/jsonl", "application/x-jsonlines", "application/octet-stream"}
_STREAM = {"schema": {"type": "string", "description": "one JSON object per line"}}
_FILE = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/{cube_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The export, one JSON record a line.", "content": {NDJSON: _STREAM}}
    },
)
async def export_cube(
    cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep
) -> StreamingResponse:
    """Stream the cube as JSONL: a header line (`kind: memsvc-export`, `format`, the cube,
    `counts`), then one record per memory, version, link, lineage source, graph node, mention,
    edge and quarantine entry. Vault secrets stay encrypted (base64 ciphertext)."""
    lines = await transfer.open_export(rt, principal, cube_id)
    disposition = f'attachment; filename="cube-{cube_id}.jsonl"'
    return StreamingResponse(lines, media_type=NDJSON, headers={"Content-Disposition": disposition})


@router.post(
    "/import",
    status_code=201,
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: _STREAM, "application/octet-stream": _FILE},
        }
    },
)
async def import_cube(
    request: Request,
    rt: RuntimeDep,
    principal: PrincipalDep,
    keep_ids: bool = True,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> ImportOut:
    """Rebuild an export (sent as `application/x-ndjson`) as a new cube of this tenant, in one
    transaction. Memory ids are kept where free (`keep_ids=false`: all new); `name` renames
    the cube. A bad line is a 422 naming it (`details.line`) and writes nothing."""
    principal.require(Scope.WRITE)  # before anything is read
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in ACCEPTED:
        raise HTTPException(415, f"send the export with Content-Type: {NDJSON}")
    cube, counts = await transfer.import_stream(
        rt,
        principal,
        request.stream(),
        keep_ids=keep_ids,
        name=name,
        max_bytes=rt.settings.max_import_bytes,
    )
    return ImportOut(cube=(await _out(rt, [cube]))[0], counts=counts)
