"""The audit log: who changed what, when. Written by the API for every mutating request that
reached a route (api/audit.py), read page by page by the admin key only."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from memsvc.algorithms import cursor as cursors
from memsvc.services.auth import Principal
from memsvc.services.runtime import Runtime
from memsvc.store import audit as audit_store


@dataclasses.dataclass(frozen=True)
class Entry:
    """One audited request. Never its body: bodies hold memories and secrets."""

    actor: str
    tenant_id: uuid.UUID | None
    key_id: uuid.UUID | None
    method: str
    route: str
    params: dict[str, Any]
    status: int
    request_id: str


async def record(rt: Runtime, entry: Entry) -> int:
    """Write one entry in its own short transaction (not the request's: a refused request has
    none, and a rolled-back one must still leave its trace)."""
    async with rt.db.transaction() as conn:
        return await audit_store.insert_entry(conn, **dataclasses.asdict(entry))


async def list_entries(
    rt: Runtime,
    principal: Principal,
    *,
    tenant_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of entries, newest first, and the cursor of the next page. Admin key only: a
    tenant does not see the trail, not even its own."""
    principal.require_admin()
    before = None
    if cursor:
        pos = cursors.decode("audit", cursor, {"t": str, "i": int})
        try:
            before = (datetime.fromisoformat(pos["t"]), pos["i"])
        except ValueError:
            raise cursors.invalid() from None
        if before[0].tzinfo is None:
            raise cursors.invalid()
    async with rt.db.transaction() as conn:
        rows = await audit_store.list_entries(
            conn, tenant_id=tenant_id, since=since, until=until, limit=limit + 1, before=before
        )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = cursors.encode("audit", {"t": last["at"].isoformat(), "i": last["id"]})
    return rows, next_cursor
