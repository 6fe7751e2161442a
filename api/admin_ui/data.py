"""What each admin page shows, gathered through the service layer.

The admin acts as the operator does on the command line (memsvc.cli): on a tenant's cube it
holds that tenant's operator principal (services.transfer.operator), so every read goes through
the same checks and queries as the REST routes. Nothing here writes, and a search made from
the UI is not counted as a recall (an admin looking must not change what the agent remembers).
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from api.admin_ui import charts
from api.routes.health import WORKER_HEARTBEAT_MAX_AGE
from memsvc.algorithms.retention import elapsed_days, retention
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import Cube, Memory
from memsvc.domain.types import LISTED_STATUSES, MemoryType, Scope, Status
from memsvc.errors import InvalidRequest
from memsvc.services import cubes, graph, jobs, links, memories, search, tenants, transfer, usage
from memsvc.services.auth import Principal
from memsvc.services.runtime import Runtime

ADMIN = Principal(tenant_id=None, key_id=None, scopes=frozenset(Scope), is_admin=True)
PAGE_SIZE = 25
SEARCH_TOP_K = 25
GRAPH_MAX_PAGES = 20  # 20 pages of 1000 nodes: past that the page draws from the first 20,000


# --- tenants and keys ----------------------------------------------------------------------


async def tenant_rows(rt: Runtime) -> list[dict[str, Any]]:
    """Every tenant with its number of live keys and of live cubes."""
    found = await tenants.list_tenants(rt)
    keys = await tenants.list_keys(rt, tenant_id=None)
    live_cubes = await transfer.operator_cubes(rt, None)
    out = []
    for tenant in found:
        out.append(
            {
                **tenant,
                "keys": sum(
                    1 for k in keys if k["tenant_id"] == tenant["id"] and not k["revoked_at"]
                ),
                "cubes": sum(1 for c in live_cubes if c.tenant_id == tenant["id"]),
            }
        )
    return out


async def cube_rows(rt: Runtime, tenant_id: uuid.UUID | None) -> list[dict[str, Any]]:
    """Live cubes (of one tenant, or of all) with their tenant's name and memory count."""
    found = await transfer.operator_cubes(rt, tenant_id)
    counts = await cubes.memory_counts(rt, [c.id for c in found]) if found else {}
    names = {t["id"]: t["name"] for t in await tenants.list_tenants(rt)}
    return [
        {"cube": c, "tenant_name": names.get(c.tenant_id, "?"), "memories": counts.get(c.id, 0)}
        for c in found
    ]


async def tenant_detail(rt: Runtime, tenant_id: uuid.UUID) -> dict[str, Any]:
    tenant = await tenants.get_tenant(rt, tenant_id=tenant_id)
    return {
        "tenant": tenant,
        "keys": await tenants.list_keys(rt, tenant_id=tenant_id),
        "cubes": await cube_rows(rt, tenant_id),
    }


# --- the memory browser --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Browse:
    """The browser's query, read from the page's query string."""

    q: str = ""
    memory_type: MemoryType | None = None
    status: Status | None = None
    tags: tuple[str, ...] = ()
    include_deleted: bool = False
    cursor: str | None = None

    @property
    def statuses(self) -> tuple[Status, ...]:
        if self.status is not None:
            return (self.status,)
        return (*LISTED_STATUSES, Status.DELETED) if self.include_deleted else LISTED_STATUSES

    def memory_filter(self) -> MemoryFilter:
        return MemoryFilter(
            statuses=self.statuses,
            memory_types=(self.memory_type,) if self.memory_type else (),
            tags=self.tags,
        )

    def query_string(self, **changes: Any) -> dict[str, str]:
        """The page's query parameters (for links that keep the filters), with changes."""
        values = {
            "q": self.q,
            "memory_type": self.memory_type.value if self.memory_type else "",
            "status": self.status.value if self.status else "",
            "tags": ", ".join(self.tags),
            "include_deleted": "1" if self.include_deleted else "",
            "cursor": self.cursor or "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def _choice(enum: Any, value: str, what: str) -> Any:
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidRequest(f"unknown {what} {value!r}; one of: {allowed}") from None


def parse_browse(
    *,
    q: str = "",
    memory_type: str = "",
    status: str = "",
    tags: str = "",
    include_deleted: str = "",
    cursor: str = "",
) -> Browse:
    """The browser's query from its form fields ("" = not set); unknown values are a 422."""
    wanted_tags = tuple(t.strip() for t in tags.split(",") if t.strip())
    if any(len(t) > 200 for t in wanted_tags) or len(wanted_tags) > 20:
        raise InvalidRequest("tags: at most 20, of at most 200 characters each")
    if len(q) > 2000:
        raise InvalidRequest("the search text is over 2,000 characters")
    return Browse(
        q=q.strip(),
        memory_type=_choice(MemoryType, memory_type, "memory type"),
        status=_choice(Status, status, "status"),
        tags=wanted_tags,
        include_deleted=include_deleted not in ("", "0", "false"),
        cursor=cursor or None,
    )


async def operator_for(rt: Runtime, cube_id: uuid.UUID) -> tuple[Cube, Principal]:
    """The live cube and its tenant's operator principal (a missing cube is a 404)."""
    cube = await transfer.operator_cube(rt, cube_id)
    return cube, await transfer.operator(rt, cube.tenant_id)


async def browse(rt: Runtime, cube_id: uuid.UUID, query: Browse) -> dict[str, Any]:
    cube, principal = await operator_for(rt, cube_id)
    tenant = await tenants.get_tenant(rt, tenant_id=cube.tenant_id)
    scores: dict[uuid.UUID, float] = {}
    next_cursor = None
    took_ms = None
    if query.q:
        result = await search.search(
            rt,
            principal,
            [cube_id],
            search.SearchRequest(
                query=query.q,
                top_k=SEARCH_TOP_K,
                filter=query.memory_filter(),
                reinforce=False,
            ),
        )
        items = [hit.memory for hit in result.results]
        scores = {hit.memory.id: hit.score for hit in result.results}
        took_ms = result.took_ms
    else:
        items, next_cursor = await memories.list_memories(
            rt, principal, cube_id, query.memory_filter(), limit=PAGE_SIZE, cursor=query.cursor
        )
    total = (await cubes.memory_counts(rt, [cube_id])).get(cube_id, 0)
    return {
        "cube": cube,
        "tenant": tenant,
        "items": items,
        "scores": scores,
        "next_cursor": next_cursor,
        "took_ms": took_ms,
        "total": total,
    }


# --- one memory ------------------------------------------------------------------------------


def retention_now(rt: Runtime, memory: Memory, now: datetime) -> tuple[float, float]:
    """(days since its last recall or creation, its retention now): the search's formula."""
    since = memory.last_recalled_at or memory.created_at
    days = elapsed_days(since, now)
    return days, retention(days, memory.strength, rt.settings.retention_tau_days)


async def memory_detail(rt: Runtime, cube_id: uuid.UUID, memory_id: uuid.UUID) -> dict[str, Any]:
    cube, principal = await operator_for(rt, cube_id)
    memory = await memories.get_memory(rt, principal, cube_id, memory_id)
    versions = await memories.history(rt, principal, cube_id, memory_id)
    linked = await links.get_links(rt, principal, cube_id, memory_id)
    sources, derived = await memories.lineage(rt, principal, cube_id, memory_id)
    now = rt.now()
    days, value = retention_now(rt, memory, now)
    curve = charts.retention_curve(
        strength=memory.strength,
        elapsed_days=days,
        tau_days=rt.settings.retention_tau_days,
        threshold=rt.settings.forget_threshold,
    )
    # Core, pinned and vault memories are never archived by the sweep (services.forgetting).
    exempt = memory.pinned or memory.memory_type in (
        MemoryType.CORE.value,
        MemoryType.KNOWLEDGE_VAULT.value,
    )
    return {
        "cube": cube,
        "memory": memory,
        "versions": list(reversed(versions)),  # newest first: what changed last reads first
        "links": linked,
        "sources": sources,
        "derived": derived,
        "curve": curve,
        "elapsed_days": days,
        "retention": value,
        "exempt": exempt,
        "tau_days": rt.settings.retention_tau_days,
        "now": now,
    }


# --- the entity graph ---------------------------------------------------------------------


async def graph_detail(rt: Runtime, cube_id: uuid.UUID) -> dict[str, Any]:
    cube, principal = await operator_for(rt, cube_id)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    cursor = None
    truncated = False
    for _ in range(GRAPH_MAX_PAGES):
        page = await graph.graph_page(
            rt, principal, cube_id, limit=graph.GRAPH_PAGE_MAX, cursor=cursor
        )
        nodes += page.nodes
        edges += page.edges
        counts = page.counts
        cursor = page.next_cursor
        if cursor is None:
            break
    else:
        truncated = True
    drawing = charts.graph_drawing(nodes, edges)
    hubs = sorted(drawing.nodes, key=lambda n: (-n.degree, -n.mentions, n.label))[:15]
    return {
        "cube": cube,
        "drawing": drawing,
        "hubs": hubs,
        "counts": counts,
        "truncated": truncated,
        "max_nodes": charts.GRAPH_MAX_NODES,
    }


# --- jobs and usage ---------------------------------------------------------------------------


JOB_STATES = ("queued", "running", "failed")


def queue_matrix(counts: Sequence[tuple[str, str, int]]) -> list[tuple[str, list[int]]]:
    """(task, status, n) triples as one row per task: [queued, running, failed]."""
    rows: dict[str, list[int]] = {}
    for task, state, n in counts:
        if state in JOB_STATES:
            rows.setdefault(task, [0] * len(JOB_STATES))[JOB_STATES.index(state)] += n
    return sorted(rows.items())


async def queue(rt: Runtime) -> dict[str, Any]:
    status = await jobs.queue_status(rt, ADMIN)
    age = (status.now - status.heartbeat).total_seconds() if status.heartbeat else math.inf
    matrix = queue_matrix(status.counts)
    return {
        "queue": status,
        "matrix": matrix,
        "states": JOB_STATES,
        "totals": [sum(row[i] for _, row in matrix) for i in range(len(JOB_STATES))],
        "worker_alive": age <= WORKER_HEARTBEAT_MAX_AGE,
    }


def day_windows(now: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """The last `days` UTC calendar days, today included, oldest first: [start, end)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [(s, s + timedelta(days=1)) for s in starts]


_SUMS = ("prompt_tokens", "completion_tokens", "cost_usd", "calls", "fallbacks")


def fold_usage(
    per_day: Sequence[tuple[datetime, Sequence[dict[str, Any]]]], names: dict[uuid.UUID, str]
) -> dict[str, Any]:
    """Usage rows (per tenant, cube, task, model) of each day into: rows per (day, tenant,
    model), newest day first; totals per (tenant, model); and each day's tokens and cost."""
    daily: list[dict[str, Any]] = []
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    series: list[tuple[str, float, float]] = []
    for day, rows in per_day:
        grouped: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            tenant = names.get(row["tenant_id"], str(row["tenant_id"])[:8])
            key = (tenant, row["model"])
            for target in (grouped, totals):
                sums = target.setdefault(key, {"tenant": tenant, "model": row["model"]})
                for name in _SUMS:
                    sums[name] = sums.get(name, 0) + row[name]
        day_tokens = sum(g["prompt_tokens"] + g["completion_tokens"] for g in grouped.values())
        day_cost = sum(g["cost_usd"] for g in grouped.values())
        series.append((day.strftime("%m-%d"), float(day_tokens), float(day_cost)))
        for key in sorted(grouped):
            daily.append({"day": day.date().isoformat(), **grouped[key]})
    daily.sort(key=lambda r: r["day"], reverse=True)
    return {
        "daily": daily,
        "totals": [totals[k] for k in sorted(totals)],
        "series": series,
        "tokens": sum(t["prompt_tokens"] + t["completion_tokens"] for t in totals.values()),
        "cost": sum(t["cost_usd"] for t in totals.values()),
        "calls": sum(t["calls"] for t in totals.values()),
    }


async def usage_detail(rt: Runtime, days: int) -> dict[str, Any]:
    names = {t["id"]: t["name"] for t in await tenants.list_tenants(rt)}
    per_day = []
    for start, end in day_windows(rt.now(), days):
        found = await usage.get_usage(rt, ADMIN, since=start, until=end)
        per_day.append((start, found["rows"]))
    folded = fold_usage(per_day, names)
    folded["tokens_chart"] = charts.bar_chart([(d, t) for d, t, _ in folded["series"]])
    folded["cost_chart"] = charts.bar_chart([(d, c) for d, _, c in folded["series"]], unit=" $")
    return folded


# --- the overview ----------------------------------------------------------------------------


async def overview(rt: Runtime) -> dict[str, Any]:
    found = await tenants.list_tenants(rt)
    keys = await tenants.list_keys(rt, tenant_id=None)
    rows = await cube_rows(rt, None)
    jobs_now = await queue(rt)
    week = await usage.get_usage(rt, ADMIN, since=rt.now() - timedelta(days=7))
    queued, running, failed = jobs_now["totals"]
    return {
        "tenants": len(found),
        "keys": sum(1 for k in keys if not k["revoked_at"]),
        "revoked_keys": sum(1 for k in keys if k["revoked_at"]),
        "cubes": len(rows),
        "memories": sum(r["memories"] for r in rows),
        "largest": sorted(rows, key=lambda r: -r["memories"])[:5],
        "queue": jobs_now["queue"],
        "queued": queued,
        "running": running,
        "failed": failed,
        "worker_alive": jobs_now["worker_alive"],
        "week": week["totals"],
    }
