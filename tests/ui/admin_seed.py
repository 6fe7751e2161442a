"""Realistic, deterministic data for the admin UI tests: an assistant's memories of its user
Maya (preferences, events, a procedure, a resource, a core block), enriched by the real
background job (notes, links, the entity graph), one memory edited (a history), a few recalls
(strengths above 1), a failed and a queued job, and LLM usage spread over the last days."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import httpx
import psycopg

from memsvc.models.llm import UsageRecord
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store.db import libpq_url
from workers.runner import work_until_idle

USER = "maya"
EDITED_CONTENT = (
    "Maya's sister Lena lives in Lisbon with her beagle Pixel and visits Berlin every May."
)
AGENT = "helper-bot"

MEMORIES: list[dict[str, Any]] = [
    {
        "content": "Maya prefers oat milk in her coffee and avoids dairy.",
        "memory_type": "semantic",
        "tags": ["food", "preferences"],
    },
    {
        "content": "Maya is vegetarian and loves Thai green curry.",
        "memory_type": "semantic",
        "tags": ["food", "preferences"],
    },
    {
        "content": "Maya drinks her first coffee at 7am, before her morning run along the Spree.",
        "memory_type": "semantic",
        "tags": ["food", "routine"],
    },
    {
        "content": "Maya works as a UX designer at Nordlicht Studio in Berlin.",
        "memory_type": "semantic",
        "tags": ["work"],
    },
    {
        "content": "Maya's sister Lena lives in Lisbon and has a dog named Pixel.",
        "memory_type": "semantic",
        "tags": ["family"],
    },
    {
        "content": "Maya asked the assistant to book a table for two at Lotus Thai in Berlin "
        "for Friday evening.",
        "memory_type": "episodic",
        "occurred_at": "2025-03-03T18:20:00+00:00",
        "tags": ["booking", "food"],
    },
    {
        "content": "Maya flew from Berlin to Lisbon for the Nordlicht design conference.",
        "memory_type": "episodic",
        "occurred_at": "2025-03-10T07:45:00+00:00",
        "tags": ["travel", "work"],
    },
    {
        "content": "Maya and Lena walked Pixel along the Lisbon riverside on Saturday.",
        "memory_type": "episodic",
        "occurred_at": "2025-03-15T10:00:00+00:00",
        "tags": ["family", "travel"],
    },
    {
        "content": "Maya asked for a reminder to renew her passport before the next Lisbon trip.",
        "memory_type": "episodic",
        "occurred_at": "2025-03-18T09:30:00+00:00",
        "tags": ["travel", "reminder"],
    },
    {
        "content": "To file Maya's expense report: export the receipts of the Lisbon trip, "
        "upload them to the Nordlicht portal, then email the finance team.",
        "memory_type": "procedural",
        "tags": ["work", "procedure"],
    },
    {
        "content": "Maya shared the slide deck 'Design Systems at Nordlicht' (PDF, 24 slides).",
        "memory_type": "resource",
        "tags": ["work"],
    },
    {
        "content": "Maya likes short, friendly answers without emojis.",
        "memory_type": "core",
        "fields": {"label": "persona"},
        "tags": ["style"],
    },
]

# (days ago, tenant's task, model, prompt tokens, completion tokens, cost): a week of calls.
USAGE = [
    (6, "extract_facts", "gpt-4o-mini", 4_200, 610, 0.0010),
    (5, "extract_facts", "gpt-4o-mini", 6_900, 1_020, 0.0016),
    (4, "enrich_note", "gpt-4o-mini", 3_100, 480, 0.0007),
    (3, "extract_facts", "gpt-4o-mini", 8_400, 1_300, 0.0020),
    (2, "summarize_day", "claude-3-5-haiku", 12_500, 1_900, 0.0176),
    (1, "extract_facts", "gpt-4o-mini", 5_600, 820, 0.0013),
    (0, "enrich_note", "gpt-4o-mini", 2_300, 350, 0.0006),
    (0, "summarize_day", "claude-3-5-haiku", 9_800, 1_500, 0.0138),
]


@dataclasses.dataclass
class Seeded:
    tenant_id: str
    tenant_name: str
    key: str  # the tenant's read/write key
    cube_id: str
    memories: list[dict[str, Any]]  # as stored, in MEMORIES order
    edited_id: str  # the memory with a user edit in its history
    failed_job_id: str
    queued_job_id: str


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def seed(app: Any, db_url: str, admin: httpx.AsyncClient, tenant_name: str) -> Seeded:
    tenant = await _ok(await admin.post("/v1/admin/tenants", json={"name": tenant_name}), 201)
    key = await _ok(
        await admin.post(
            "/v1/admin/keys",
            json={"tenant_id": tenant["id"], "scopes": ["read", "write"], "name": "helper-bot"},
        ),
        201,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {key['key']}"},
    ) as client:
        cube = await _ok(
            await client.post(
                "/v1/cubes", json={"name": "maya-assistant", "description": "Maya's assistant"}
            ),
            201,
        )
        items = [{**m, "user_id": USER, "agent_id": AGENT} for m in MEMORIES]
        added = await _ok(
            await client.post(
                f"/v1/cubes/{cube['id']}/memories", json={"items": items, "deduplicate": False}
            ),
            201,
        )
        stored = added["items"]
        # A purged cube's reindex fails for good (no retry): one real failure on the queue.
        scratch = await _ok(await client.post("/v1/cubes", json={"name": "old-import"}), 201)
        failed = await _ok(await client.post(f"/v1/cubes/{scratch['id']}/reindex"), 202)
        await _ok(await client.delete(f"/v1/cubes/{scratch['id']}?hard=true"), 204)
        await work_until_idle(db_url, app.state.runtime)  # enrichment: notes, links, graph

        edited = stored[4]  # Lena's: linked to the walk along the riverside
        await _ok(
            await client.patch(
                f"/v1/cubes/{cube['id']}/memories/{edited['id']}",
                json={
                    "content": EDITED_CONTENT,
                    "reason": "Maya said Pixel is a beagle and Lena visits every May",
                },
            )
        )
        await work_until_idle(db_url, app.state.runtime)  # the new content's note and links
        # Searches as the agent makes them count as recalls: a few memories grow stronger.
        for query in ("who is Lena's dog", "Maya's sister in Lisbon", "Maya coffee morning"):
            await _ok(await client.post(f"/v1/cubes/{cube['id']}/search", json={"query": query}))
        # Left in the queue (no worker runs in the tests): the jobs page shows it waiting.
        queued = await _ok(await client.post(f"/v1/cubes/{cube['id']}/reindex"), 202)

    await _record_usage(app, db_url, uuid.UUID(tenant["id"]), uuid.UUID(cube["id"]))
    _age(db_url, cube["id"], edited["id"])
    return Seeded(
        tenant_id=tenant["id"],
        tenant_name=tenant_name,
        key=key["key"],
        cube_id=cube["id"],
        memories=stored,
        edited_id=edited["id"],
        failed_job_id=failed["job_id"],
        queued_job_id=queued["job_id"],
    )


async def _record_usage(app: Any, db_url: str, tenant_id: uuid.UUID, cube_id: uuid.UUID) -> None:
    """Record LLM calls the way the LLM layer does, then date them over the past week (the
    sink stamps now(); the usage page groups by day)."""
    sink = DatabaseUsageSink(app.state.runtime, tenant_id, cube_id)
    for _, task, model, prompt, completion, cost in USAGE:
        await sink.record(
            UsageRecord(
                task=task,
                model=model,
                source="llm",
                attempts=1,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=cost,
            )
        )
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM llm_usage ORDER BY id")]
        for row_id, (days_ago, *_rest) in zip(ids[-len(USAGE) :], USAGE, strict=True):
            conn.execute(
                "UPDATE llm_usage SET created_at = now() - make_interval(days => %s) WHERE id = %s",
                (days_ago, row_id),
            )


def _age(db_url: str, cube_id: str, edited_id: str) -> None:
    """Move the cube back in time, as if the agent had run for a month: stored 30 days ago,
    the edit 14 days ago, recalled 3 to 19 days ago (so retention has decayed by different
    amounts). Everything moves together, so the history stays in order."""
    month, fortnight = "interval '30 days'", "interval '14 days'"
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        conn.execute(
            f"UPDATE memory_versions v SET created_at = v.created_at - CASE"
            f" WHEN v.memory_id = %s AND v.version > 2 THEN {fortnight} ELSE {month} END"
            " FROM memories m WHERE m.id = v.memory_id AND m.cube_id = %s",
            (edited_id, cube_id),
        )
        conn.execute(
            f"UPDATE memories SET created_at = created_at - {month},"
            f" updated_at = updated_at - CASE WHEN id = %s THEN {fortnight} ELSE {month} END,"
            " occurred_at = CASE WHEN occurred_at > now() - interval '1 day'"
            f" THEN occurred_at - {month} ELSE occurred_at END,"
            " last_recalled_at = CASE WHEN last_recalled_at IS NULL THEN NULL"
            " WHEN id = %s THEN now() - interval '9 days'"
            " ELSE now() - make_interval(days => 3 + (abs(hashtext(id::text)) %% 17)) END"
            " WHERE cube_id = %s",
            (edited_id, edited_id, cube_id),
        )
