"""The MemoryBank forgetting sweep: archive what has faded.

Retention R = exp(-Δt / (τ·S)) with S the memory's strength (1 at creation, +1 per recall)
and Δt the time since its last recall. The sweep archives live memories whose R fell under
`forget_threshold`: never a hard delete, restorable by PATCH status=active, each archive a
version with change kind `forgetting` and the retention that caused it. Core, pinned and
knowledge-vault memories are exempt (vault entries are never recalled by search, so their
retention says nothing about their worth).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

from memsvc.algorithms.retention import elapsed_days, forgotten
from memsvc.domain.memory import version_row
from memsvc.domain.types import ChangeKind, Status
from memsvc.services.runtime import Runtime
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

ACTOR = "forgetting"
PAGE = 500


@dataclasses.dataclass(frozen=True)
class SweepResult:
    scanned: int = 0
    archived: int = 0


async def sweep(rt: Runtime, *, cube_id: uuid.UUID, now: datetime | None = None) -> SweepResult:
    """Archive the cube's faded memories, a page at a time (each page one transaction)."""
    now = now or rt.now()
    tau, threshold = rt.settings.retention_tau_days, rt.settings.forget_threshold
    after: uuid.UUID | None = None
    scanned = archived = 0
    while True:
        async with rt.db.transaction() as conn:
            page = await lifecycle_store.forgettable(conn, cube_id=cube_id, after=after, limit=PAGE)
        if not page:
            break
        after = page[-1].id
        scanned += len(page)
        faded = [
            s.id
            for s in page
            if forgotten(s.strength, s.since, now, tau_days=tau, threshold=threshold) is not None
        ]
        if faded:
            archived += await _archive(rt, cube_id, faded, now)
    return SweepResult(scanned=scanned, archived=archived)


async def _archive(rt: Runtime, cube_id: uuid.UUID, ids: list[uuid.UUID], now: datetime) -> int:
    """Archive these memories unless a recall (or a pin) saved them since they were read."""
    tau, threshold = rt.settings.retention_tau_days, rt.settings.forget_threshold
    done = 0
    async with rt.db.transaction() as conn:
        locked = await lifecycle_store.lock_live(conn, cube_id=cube_id, ids=ids)
        versions = []
        for memory in locked.values():
            if memory.pinned:
                continue
            since = memory.last_recalled_at or memory.created_at
            value = forgotten(memory.strength, since, now, tau_days=tau, threshold=threshold)
            if value is None:
                continue
            after = await memory_store.update_memory(
                conn, memory_id=memory.id, values={"status": Status.ARCHIVED.value}
            )
            reason = (
                f"retention {value:.3f} < {threshold} (strength {memory.strength:g}, "
                f"{elapsed_days(since, now):.1f} days since last recall)"
            )
            versions.append(version_row(after, ChangeKind.FORGETTING, ["status"], ACTOR, reason))
            done += 1
        await memory_store.insert_versions(conn, versions)
    return done
