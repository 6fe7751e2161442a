"""MemoryBank's hierarchy of summaries, as memories with lineage to their sources.

- A daily event summary per user and day (episodic, origin `daily_summary`) of that day's
  live episodic memories;
- a global summary per user (semantic, origin `global_summary`) of the daily summaries;
- a portrait per user_id (semantic, origin `portrait`): traits, preferences and how to answer
  them, from what the user said.

Each is written by the LLM when one is configured, else by the extractive fallback
(memsvc.algorithms.summaries). Each is kept under a derived key and rewritten only when its
sources changed (memsvc.services.derived), so consolidation can run as often as wanted.
"""

from __future__ import annotations

import collections
import dataclasses
import uuid
from datetime import UTC, date, datetime, time

from memsvc.domain.types import MemoryType
from memsvc.services import derived, summary_llm
from memsvc.services.runtime import Runtime
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store import lifecycle as lifecycle_store

PORTRAIT_STATEMENTS = 400  # newest statements per cube a portrait is drawn from


@dataclasses.dataclass(frozen=True)
class SummaryResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


async def summarize_cube(rt: Runtime, *, tenant_id: uuid.UUID, cube_id: uuid.UUID) -> SummaryResult:
    usage = DatabaseUsageSink(rt, tenant_id=tenant_id, cube_id=cube_id)
    outcomes: collections.Counter[str] = collections.Counter()
    outcomes.update(await _daily(rt, cube_id, usage))
    outcomes.update(await _overall(rt, cube_id, usage))
    outcomes.update(await _portraits(rt, cube_id, usage))
    return SummaryResult(
        created=outcomes["created"], updated=outcomes["updated"], unchanged=outcomes["unchanged"]
    )


def _user_part(user_id: str | None) -> str:
    return user_id or ""


async def _daily(rt: Runtime, cube_id: uuid.UUID, usage: DatabaseUsageSink) -> list[str]:
    async with rt.db.transaction() as conn:
        rows = await lifecycle_store.episodes(conn, cube_id=cube_id)
        existing = dict(
            await lifecycle_store.derived_with_prefix(conn, cube_id=cube_id, prefix="daily:")
        )
    days: dict[tuple[str | None, date], list[lifecycle_store.EpisodeRow]] = collections.defaultdict(
        list
    )
    for row in rows:
        days[(row.user_id, row.occurred_at.astimezone(UTC).date())].append(row)
    todo = []
    for (user_id, day), items in sorted(
        days.items(), key=lambda kv: (kv[0][1], _user_part(kv[0][0]))
    ):
        key = f"daily:{_user_part(user_id)}:{day.isoformat()}"
        fp = derived.fingerprint([f"{r.id}:{r.content}" for r in items])
        if derived.up_to_date(existing.get(key), fp):
            continue
        text, made_by = await summary_llm.summarize_day(
            rt.llm, day=day, texts=[r.content for r in items], usage_sink=usage
        )
        if not text.strip():
            continue
        todo.append(
            derived.Derived(
                key=key,
                origin="daily_summary",
                memory_type=MemoryType.EPISODIC,
                content=text,
                fields={"event_type": "daily_summary", "summary": text},
                user_id=user_id,
                occurred_at=datetime.combine(day, time(), tzinfo=UTC),
                source_ids=tuple(r.id for r in items),
                fingerprint=fp,
                made_by=made_by,
            )
        )
    return await _save_all(rt, cube_id, todo) + ["unchanged"] * (len(days) - len(todo))


async def _overall(rt: Runtime, cube_id: uuid.UUID, usage: DatabaseUsageSink) -> list[str]:
    async with rt.db.transaction() as conn:
        dailies = await lifecycle_store.derived_with_prefix(conn, cube_id=cube_id, prefix="daily:")
        existing = dict(
            await lifecycle_store.derived_with_prefix(conn, cube_id=cube_id, prefix="global:")
        )
    per_user: dict[str | None, list[tuple[date, str, uuid.UUID]]] = collections.defaultdict(list)
    for key, memory in dailies:
        if memory.status not in ("active", "pending"):
            continue
        day = date.fromisoformat(key.rsplit(":", 1)[1])
        per_user[memory.user_id].append((day, memory.content, memory.id))
    todo = []
    for user_id, items in per_user.items():
        key = f"global:{_user_part(user_id)}"
        fp = derived.fingerprint([f"{mid}:{text}" for _, text, mid in items])
        if derived.up_to_date(existing.get(key), fp):
            continue
        text, made_by = await summary_llm.summarize_overall(
            rt.llm, daily=[(day, text) for day, text, _ in items], usage_sink=usage
        )
        if not text.strip():
            continue
        todo.append(
            derived.Derived(
                key=key,
                origin="global_summary",
                memory_type=MemoryType.SEMANTIC,
                content=text,
                fields={"name": f"history of {user_id or 'this cube'}", "summary": text},
                user_id=user_id,
                occurred_at=datetime.combine(max(d for d, _, _ in items), time(), tzinfo=UTC),
                source_ids=tuple(mid for _, _, mid in items),
                fingerprint=fp,
                made_by=made_by,
            )
        )
    return await _save_all(rt, cube_id, todo)


async def _portraits(rt: Runtime, cube_id: uuid.UUID, usage: DatabaseUsageSink) -> list[str]:
    async with rt.db.transaction() as conn:
        statements = await lifecycle_store.user_statements(
            conn, cube_id=cube_id, limit=PORTRAIT_STATEMENTS
        )
        existing = dict(
            await lifecycle_store.derived_with_prefix(conn, cube_id=cube_id, prefix="portrait:")
        )
    per_user: dict[str, list[tuple[uuid.UUID, str]]] = collections.defaultdict(list)
    for memory_id, user_id, content in statements:
        per_user[user_id].append((memory_id, content))
    todo = []
    for user_id, items in sorted(per_user.items()):
        key = f"portrait:{user_id}"
        fp = derived.fingerprint([f"{mid}:{text}" for mid, text in items])
        if derived.up_to_date(existing.get(key), fp):
            continue
        text, made_by = await summary_llm.user_portrait(
            rt.llm, user=user_id, texts=[t for _, t in items], usage_sink=usage
        )
        if not text.strip():
            continue
        todo.append(
            derived.Derived(
                key=key,
                origin="portrait",
                memory_type=MemoryType.SEMANTIC,
                content=text,
                fields={"name": user_id, "summary": text},
                user_id=user_id,
                occurred_at=rt.now(),
                source_ids=tuple(mid for mid, _ in items),
                fingerprint=fp,
                made_by=made_by,
            )
        )
    return await _save_all(rt, cube_id, todo)


async def _save_all(rt: Runtime, cube_id: uuid.UUID, items: list[derived.Derived]) -> list[str]:
    if not items:
        return []
    vectors = await rt.embedder.embed_async([item.content for item in items])
    async with rt.db.transaction() as conn:
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        return [
            await derived.save(rt, conn, cube_id=cube_id, item=item, vector=vectors[i])
            for i, item in enumerate(items)
        ]
