"""The memory lifecycle end to end, on the deterministic path (no LLM) and real embeddings:
pending -> active, write-time dedup, MemoryBank retention and forgetting, summaries and
portraits, and the consolidation jobs and their scheduler. The runtime's clock is moved to
simulate time passing."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from memsvc.services import consolidation
from memsvc.store.db import libpq_url
from tests.api.memory_http import get_memory as _get
from tests.api.memory_http import history as _history
from tests.api.memory_http import lineage as _lineage
from workers.runner import work_until_idle

TAU = 10.0  # retention_tau_days in the tests' settings
THRESHOLD = 0.05  # forget_threshold


class Clock:
    """A settable clock for the runtime (creation, recall and sweep times read it)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(app: Any) -> Iterator[Clock]:
    runtime = app.state.runtime
    saved = runtime.clock
    c = Clock(datetime.now(UTC).replace(microsecond=0))
    runtime.clock = c
    yield c
    runtime.clock = saved


# --- helpers ------------------------------------------------------------------------------


async def _add(
    client: httpx.AsyncClient, cube_id: str, items: list[dict[str, Any]], **body: Any
) -> dict[str, Any]:
    r = await client.post(f"/v1/cubes/{cube_id}/memories", json={"items": items, **body})
    assert r.status_code == 201, r.text
    return r.json()


async def _all(client: httpx.AsyncClient, cube_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/cubes/{cube_id}/memories", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return r.json()["items"]


async def _search(
    client: httpx.AsyncClient, cube_id: str, query: str, **body: Any
) -> list[dict[str, Any]]:
    r = await client.post(f"/v1/cubes/{cube_id}/search", json={"query": query, **body})
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def _consolidate(
    app: Any, db_url: str, client: httpx.AsyncClient, cube_id: str, kinds: list[str]
) -> None:
    r = await client.post(f"/v1/cubes/{cube_id}/consolidate", json={"kinds": kinds})
    assert r.status_code == 202, r.text
    await work_until_idle(db_url, app.state.runtime)
    job = (await client.get(f"/v1/jobs/{r.json()['job_id']}")).json()
    assert job["status"] == "done", job
    assert job["kind"] == "consolidate_cube"


def _sql(db_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def _live_count(db_url: str, cube_id: str) -> int:
    [(n,)] = _sql(
        db_url,
        "SELECT count(*) FROM memories WHERE cube_id = %s AND status IN ('active', 'pending')",
        (cube_id,),
    )
    return int(n)


def _version_counts(db_url: str, cube_id: str) -> dict[str, int]:
    rows = _sql(
        db_url,
        "SELECT m.id::text, count(v.*) FROM memories m JOIN memory_versions v"
        " ON v.memory_id = m.id WHERE m.cube_id = %s GROUP BY m.id",
        (cube_id,),
    )
    return {mid: int(n) for mid, n in rows}


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _days_until_forgotten(strength: float) -> float:
    return TAU * strength * math.log(1.0 / THRESHOLD)


# --- 1. pending -> active -----------------------------------------------------------------


async def test_new_memories_are_pending_until_their_enrichment_runs(app, db_url, client, cube):
    cid = cube["id"]
    body = await _add(
        client,
        cid,
        [
            {"content": "Maya planted tomatoes in the community garden."},
            {"content": "The garden committee meets every Tuesday evening."},
        ],
    )
    ids = [m["id"] for m in body["items"]]
    assert [m["status"] for m in body["items"]] == ["pending", "pending"]
    job = (await client.get(f"/v1/jobs/{body['job_id']}")).json()
    assert job["status"] == "queued" and job["kind"] == "enrich_memories"
    assert {m["id"] for m in await _all(client, cid, status="pending")} == set(ids)
    # searchable as soon as stored
    hits = await _search(client, cid, "tomatoes community garden", top_k=1)
    assert hits[0]["memory"]["id"] == ids[0] and hits[0]["memory"]["status"] == "pending"

    await work_until_idle(db_url, app.state.runtime)

    assert (await client.get(f"/v1/jobs/{body['job_id']}")).json()["status"] == "done"
    assert await _all(client, cid, status="pending") == []
    for mid in ids:
        memory = await _get(client, cid, mid)
        assert memory["status"] == "active"
        history = await _history(client, cid, mid)
        assert [v["change_kind"] for v in history][:2] == ["create", "enrichment"]
        assert history[0]["snapshot"]["status"] == "pending"
        enriched = history[1]
        assert enriched["actor"] == "enrichment"
        assert "status" in enriched["changed_fields"]
        assert enriched["snapshot"]["status"] == "active"
        assert enriched["version"] == 2


# --- 2. write-time dedup ------------------------------------------------------------------


async def test_the_same_batch_twice_reinforces_instead_of_storing(app, db_url, client, cube):
    cid = cube["id"]
    items = [
        {"content": "Maya planted tomatoes in the community garden.", "user_id": "u1"},
        {"content": "The garden committee meets every Tuesday evening.", "user_id": "u1"},
    ]
    first = await _add(client, cid, items)
    ids = [m["id"] for m in first["items"]]
    assert first["duplicates"] == []
    assert len(set(ids)) == 2
    before = _live_count(db_url, cid)
    assert before == 2

    second = await _add(client, cid, items)
    assert [m["id"] for m in second["items"]] == ids
    assert second["duplicates"] == [
        {"index": 0, "memory_id": ids[0], "match": "exact"},
        {"index": 1, "memory_id": ids[1], "match": "exact"},
    ]
    assert second["job_id"] is None  # nothing new to enrich
    for memory in second["items"]:
        assert memory["strength"] == 2.0
        assert memory["recall_count"] == 1
        assert memory["last_recalled_at"] is not None
    assert _live_count(db_url, cid) == before
    for mid in ids:  # a reinforcement is no new version
        assert [v["change_kind"] for v in await _history(client, cid, mid)] == ["create"]
        stored = await _get(client, cid, mid)
        assert stored["strength"] == 2.0 and stored["recall_count"] == 1


async def test_near_and_case_duplicates_and_what_is_not_a_duplicate(app, db_url, client, cube):
    cid = cube["id"]
    text = "Alice adopted a beagle named Rex from the shelter."
    [original] = (await _add(client, cid, [{"content": text, "session_id": "s1"}]))["items"]

    shouting = await _add(client, cid, [{"content": text.upper(), "session_id": "s1"}])
    assert shouting["duplicates"] == [{"index": 0, "memory_id": original["id"], "match": "exact"}]

    # cosine >= 0.95 but not the same normalised text: a near duplicate
    near_text = "alice adopted a beagle named Rex from the shelter"
    near = await _add(client, cid, [{"content": near_text, "session_id": "s1"}])
    assert near["duplicates"] == [{"index": 0, "memory_id": original["id"], "match": "near"}]
    assert near["items"][0]["id"] == original["id"]
    assert near["items"][0]["content"] == text  # the stored memory, not the repeat
    assert near["items"][0]["strength"] == 3.0

    # an episodic memory said in another session, or about another user, is another event
    other_session = await _add(client, cid, [{"content": text, "session_id": "s2"}])
    other_user = await _add(client, cid, [{"content": text, "session_id": "s1", "user_id": "u9"}])
    no_session = await _add(client, cid, [{"content": text}])
    for added in (other_session, other_user, no_session):
        assert added["duplicates"] == []
        assert added["items"][0]["id"] != original["id"]
    # ...and so is the same words at another time in the same session
    at = "2024-05-01T10:00:00Z"
    timed = await _add(client, cid, [{"content": text, "session_id": "s1", "occurred_at": at}])
    assert timed["duplicates"] == []
    again = await _add(client, cid, [{"content": text, "session_id": "s1", "occurred_at": at}])
    assert again["duplicates"][0]["memory_id"] == timed["items"][0]["id"]
    # a semantic memory has no session: the same fact in another session is a repeat
    fact = "Rex is a beagle."
    [sem] = (
        await _add(client, cid, [{"content": fact, "memory_type": "semantic", "session_id": "a"}])
    )["items"]
    repeat = await _add(
        client, cid, [{"content": fact, "memory_type": "semantic", "session_id": "b"}]
    )
    assert repeat["duplicates"] == [{"index": 0, "memory_id": sem["id"], "match": "exact"}]
    # another memory type is never a repeat
    procedural = await _add(client, cid, [{"content": fact, "memory_type": "procedural"}])
    assert procedural["duplicates"] == []
    # the original, other session, other user, no session, timed, semantic, procedural
    assert _live_count(db_url, cid) == 7


async def test_deduplicate_false_stores_both(app, db_url, client, cube):
    cid = cube["id"]
    item = {"content": "The quarterly budget report is due on Friday."}
    first = await _add(client, cid, [item], deduplicate=False)
    second = await _add(client, cid, [item], deduplicate=False)
    assert second["duplicates"] == []
    assert first["items"][0]["id"] != second["items"][0]["id"]
    assert second["items"][0]["strength"] == 1.0
    assert first["items"][0]["strength"] == 1.0
    assert _live_count(db_url, cid) == 2
    both = await _add(client, cid, [item, item], deduplicate=False)
    assert both["items"][0]["id"] != both["items"][1]["id"]
    assert _live_count(db_url, cid) == 4


async def test_duplicates_inside_one_batch(app, db_url, client, cube):
    cid = cube["id"]
    a = "Maya planted tomatoes in the community garden."
    b = "The garden committee meets every Tuesday evening."
    body = await _add(
        client,
        cid,
        [
            {"content": a},
            {"content": b},
            {"content": f"  {a.lower()} "},  # whitespace and case: exact
            {"content": "maya planted tomatoes in the community garden"},  # near
        ],
    )
    ids = [m["id"] for m in body["items"]]
    assert ids[2] == ids[0] and ids[3] == ids[0] and ids[1] != ids[0]
    assert body["duplicates"] == [
        {"index": 2, "memory_id": ids[0], "match": "exact"},
        {"index": 3, "memory_id": ids[0], "match": "near"},
    ]
    assert _live_count(db_url, cid) == 2
    stored = await _get(client, cid, ids[0])
    assert stored["content"] == a
    assert stored["strength"] == 3.0 and stored["recall_count"] == 2  # one per repetition
    assert (await _get(client, cid, ids[1]))["strength"] == 1.0
    # the enrichment job covers the two stored memories only
    await work_until_idle(db_url, app.state.runtime)
    assert {m["status"] for m in await _all(client, cid)} == {"active"}


def _conversation() -> list[dict[str, Any]]:
    """A LoCoMo-like conversation: two sessions, one timestamp per session (as LoCoMo gives),
    turns as "<speaker>: <text>", the dialogue id in metadata."""
    sessions = {
        1: (
            "1:56 pm on 8 May, 2023",
            [
                ("Caroline", "Hey Mel! Good to see you! How have you been?"),
                ("Melanie", "Hey Caroline! I'm swamped with the kids and work. What's up?"),
                ("Caroline", "I went to an LGBTQ support group yesterday and it was powerful."),
                ("Melanie", "Wow, that's cool, Caroline! What happened that was so awesome?"),
                ("Caroline", "The transgender stories were so inspiring, I felt accepted."),
                ("Melanie", "That sounds like a great community to be part of."),
                ("Caroline", "I'm thinking of going into counseling as a career."),
                ("Melanie", "You'd be a great counselor! Your empathy will help people."),
                ("Caroline", "Thanks!"),
                ("Melanie", "Let's catch up again soon."),
            ],
        ),
        2: (
            "1:14 pm on 25 May, 2023",
            [
                ("Melanie", "Hey Caroline, I ran a charity race for mental health last week!"),
                ("Caroline", "That's awesome, Mel! What made you pick that cause?"),
                ("Melanie", "My friend struggled with anxiety, so it felt personal."),
                ("Caroline", "That's so thoughtful of you."),
                ("Melanie", "I'm also planning a camping trip with the kids in June."),
                ("Caroline", "Camping sounds fun! Where are you going?"),
                ("Melanie", "We're heading to the mountains near the lake."),
                ("Caroline", "I'm looking into counseling certification programs now."),
                ("Melanie", "Good luck with the programs, you will do great."),
                ("Caroline", "Thanks!"),
            ],
        ),
    }
    items = []
    for n, (when, turns) in sessions.items():
        at = datetime.strptime(when, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC).isoformat()
        for i, (speaker, text) in enumerate(turns, start=1):
            items.append(
                {
                    "content": f"{speaker}: {text}",
                    "occurred_at": at,
                    "session_id": f"session_{n}",
                    "source": "locomo",
                    "metadata": {"dia_id": f"D{n}:{i}"},
                }
            )
    return items


async def test_a_conversation_ingested_twice_is_stored_once(app, db_url, client, cube):
    cid = cube["id"]
    items = _conversation()
    first = await _add(client, cid, items)
    assert first["duplicates"] == []
    ids = [m["id"] for m in first["items"]]
    assert len(set(ids)) == len(items) == 20
    assert _live_count(db_url, cid) == 20

    second = await _add(client, cid, items)
    assert [m["id"] for m in second["items"]] == ids
    assert [d["index"] for d in second["duplicates"]] == list(range(20))
    assert {d["match"] for d in second["duplicates"]} == {"exact"}
    assert _live_count(db_url, cid) == 20
    assert second["job_id"] is None

    for session in ("session_1", "session_2"):
        turns = await _all(client, cid, session_id=session)
        assert len(turns) == 10
        thanks = [m for m in turns if m["content"] == "Caroline: Thanks!"]
        assert len(thanks) == 1, turns
        assert thanks[0]["strength"] == 2.0
    by_dia = {m["metadata"]["dia_id"] for m in await _all(client, cid)}
    assert by_dia == {it["metadata"]["dia_id"] for it in items}


# --- 3. MemoryBank: retention, reinforcement, forgetting ----------------------------------


async def test_search_scores_retention_and_reinforces(app, db_url, client, cube, clock):
    cid = cube["id"]
    t0 = clock.now
    body = await _add(
        client,
        cid,
        [
            {"content": "Maya planted tomatoes in the community garden."},
            {"content": "The quarterly budget report is due on Friday."},
        ],
    )
    garden, budget = (m["id"] for m in body["items"])
    [hit] = await _search(client, cid, "tomatoes in the garden", top_k=1)
    assert hit["memory"]["id"] == garden
    assert hit["scores"]["retention"] == 1.0
    after = await _get(client, cid, garden)
    assert after["strength"] == 2.0 and after["recall_count"] == 1
    assert _when(after["last_recalled_at"]) == t0
    untouched = await _get(client, cid, budget)  # not returned: not recalled
    assert untouched["strength"] == 1.0 and untouched["last_recalled_at"] is None

    clock.advance(days=5)
    [hit] = await _search(client, cid, "tomatoes in the garden", top_k=1)
    assert hit["memory"]["id"] == garden
    assert hit["scores"]["retention"] == pytest.approx(math.exp(-5 / (TAU * 2)), abs=1e-6)
    assert hit["scores"]["retention"] < 1.0
    after = await _get(client, cid, garden)
    assert after["strength"] == 3.0 and after["recall_count"] == 2
    assert _when(after["last_recalled_at"]) == t0 + timedelta(days=5)

    [hit] = await _search(client, cid, "quarterly budget report", top_k=1)
    assert hit["memory"]["id"] == budget
    assert hit["scores"]["retention"] == pytest.approx(math.exp(-5 / TAU), abs=1e-6)


async def test_forgetting_archives_what_faded_and_spares_the_exempt(
    app, db_url, client, cube, clock
):
    cid = cube["id"]
    t0 = clock.now
    contents = {
        "plain": "Maya planted tomatoes in the community garden.",
        "early": "The garden committee meets every Tuesday evening.",
        "late": "Rex chewed Alice's new running shoes yesterday.",
        "pinned": "The quarterly budget report is due on Friday.",
        "patched": "Tom's favourite band is Radiohead.",
    }
    body = await _add(
        client,
        cid,
        [
            {"content": contents["plain"]},
            {"content": contents["early"]},
            {"content": contents["late"]},
            {"content": contents["pinned"], "pinned": True},
            {"content": contents["patched"]},
            {"content": "The user is a night owl who writes code.", "memory_type": "core"},
            {
                "content": "Door code of the office building",
                "memory_type": "knowledge_vault",
                "fields": {"caption": "Door code of the office building"},
            },
        ],
    )
    ids = dict(zip([*contents, "core", "vault"], (m["id"] for m in body["items"]), strict=True))
    assert body["items"][3]["pinned"] is True
    await work_until_idle(db_url, app.state.runtime)  # enrichment first: versions settle

    [hit] = await _search(client, cid, contents["early"], top_k=1)  # recalled at t0
    assert hit["memory"]["id"] == ids["early"]
    r = await client.patch(f"/v1/cubes/{cid}/memories/{ids['patched']}", json={"pinned": True})
    assert r.status_code == 200, r.text
    assert r.json()["pinned"] is True
    assert (await _history(client, cid, ids["patched"]))[-1]["changed_fields"] == ["pinned"]

    clock.advance(days=30)
    [hit] = await _search(client, cid, contents["late"], top_k=1)  # recalled at t0 + 30 d
    assert hit["memory"]["id"] == ids["late"]

    clock.advance(days=15)  # t0 + 45 d: strength 1 faded (R 0.011), strength 2 not (R 0.105)
    versions = _version_counts(db_url, cid)
    await _consolidate(app, db_url, client, cid, ["forgetting"])

    status = {name: (await _get(client, cid, mid))["status"] for name, mid in ids.items()}
    assert status == {
        "plain": "archived",
        "early": "active",
        "late": "active",
        "pinned": "active",
        "patched": "active",
        "core": "active",
        "vault": "active",
    }
    history = await _history(client, cid, ids["plain"])
    last = history[-1]
    assert last["change_kind"] == "forgetting"
    assert last["actor"] == "forgetting"
    assert last["changed_fields"] == ["status"]
    assert "retention" in last["reason"] and "strength 1" in last["reason"]
    assert "45.0 days" in last["reason"]
    assert last["snapshot"]["status"] == "archived"
    after = _version_counts(db_url, cid)
    assert after[ids["plain"]] == versions[ids["plain"]] + 1
    assert {k: v for k, v in after.items() if k != ids["plain"]} == {
        k: v for k, v in versions.items() if k != ids["plain"]
    }

    # idempotent: a second run archives nothing more and writes no version
    await _consolidate(app, db_url, client, cid, ["forgetting"])
    assert _version_counts(db_url, cid) == after
    assert [m["id"] for m in await _all(client, cid, status="archived")] == [ids["plain"]]

    # t0 + 60 d: strength 2 recalled at t0 is past its doubled time (59.9 d) and fades too;
    # strength 2 recalled at t0 + 30 d (30 days ago) is still well above the threshold
    clock.now = t0 + timedelta(days=60)
    await _consolidate(app, db_url, client, cid, ["forgetting"])
    status = {name: (await _get(client, cid, mid))["status"] for name, mid in ids.items()}
    assert status == {
        "plain": "archived",
        "early": "archived",
        "late": "active",
        "pinned": "active",
        "patched": "active",
        "core": "active",
        "vault": "active",
    }
    last = (await _history(client, cid, ids["early"]))[-1]
    assert last["change_kind"] == "forgetting" and "strength 2" in last["reason"]
    assert (await _history(client, cid, ids["plain"]))[-1]["change_kind"] == "forgetting"
    assert len(await _history(client, cid, ids["plain"])) == after[ids["plain"]]

    # out of default search
    found = [h["memory"]["id"] for h in await _search(client, cid, contents["plain"])]
    assert ids["plain"] not in found
    assert ids["plain"] in {m["id"] for m in await _all(client, cid, status="archived")}

    # restorable
    r = await client.post(f"/v1/cubes/{cid}/memories/{ids['plain']}/restore")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    last = (await _history(client, cid, ids["plain"]))[-1]
    assert last["change_kind"] == "restore" and last["changed_fields"] == ["status"]
    found = [h["memory"]["id"] for h in await _search(client, cid, contents["plain"], top_k=1)]
    assert found == [ids["plain"]]


async def test_a_restored_memory_is_not_forgotten_again_at_once(app, db_url, client, cube, clock):
    """Restoring a forgotten memory is the user saying "keep this": the next sweep (the nightly
    schedule) must not archive it again right away."""
    cid = cube["id"]
    [memory] = (await _add(client, cid, [{"content": "Maya planted tomatoes."}]))["items"]
    clock.advance(days=60)
    await _consolidate(app, db_url, client, cid, ["forgetting"])
    assert (await _get(client, cid, memory["id"]))["status"] == "archived"
    r = await client.post(f"/v1/cubes/{cid}/memories/{memory['id']}/restore")
    assert r.status_code == 200 and r.json()["status"] == "active"

    clock.advance(hours=1)
    await _consolidate(app, db_url, client, cid, ["forgetting"])
    restored = await _get(client, cid, memory["id"])
    kinds = [v["change_kind"] for v in await _history(client, cid, memory["id"])]
    assert restored["status"] == "active", kinds


async def test_patch_pinned_null_is_not_a_server_error(app, db_url, client, cube):
    """`pinned: null` is either "leave as is" or a 422, never a 500 (the column is NOT NULL)."""
    cid = cube["id"]
    [memory] = (await _add(client, cid, [{"content": "Maya planted tomatoes."}]))["items"]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=client.base_url, headers=client.headers
    ) as raw:
        r = await raw.patch(f"/v1/cubes/{cid}/memories/{memory['id']}", json={"pinned": None})
    assert r.status_code in (200, 422), (r.status_code, r.text[:300])
    assert (await _get(client, cid, memory["id"]))["pinned"] is False


@pytest.mark.parametrize("strength", [1, 3])
async def test_retention_threshold_is_exact(app, db_url, client, cube, clock, strength):
    """A memory of strength S survives while exp(-Δt / (τ·S)) >= θ, and is archived just past
    Δt = τ·S·ln(1/θ)."""
    cid = cube["id"]
    t0 = clock.now
    text = "Maya planted tomatoes in the community garden."
    [memory] = (await _add(client, cid, [{"content": text}]))["items"]
    for _ in range(strength - 1):
        [hit] = await _search(client, cid, text, top_k=1)
        assert hit["memory"]["id"] == memory["id"]
    assert (await _get(client, cid, memory["id"]))["strength"] == strength
    limit = _days_until_forgotten(strength)
    assert math.exp(-(limit - 1 / 24) / (TAU * strength)) >= THRESHOLD

    clock.now = t0 + timedelta(days=limit) - timedelta(hours=1)
    await _consolidate(app, db_url, client, cid, ["forgetting"])
    assert (await _get(client, cid, memory["id"]))["status"] == "active"

    clock.now = t0 + timedelta(days=limit) + timedelta(hours=1)
    await _consolidate(app, db_url, client, cid, ["forgetting"])
    assert (await _get(client, cid, memory["id"]))["status"] == "archived"
    assert (await _history(client, cid, memory["id"]))[-1]["change_kind"] == "forgetting"


# --- 4. MemoryBank summaries and portraits --------------------------------------------------

DAY1 = [
    ("2024-03-04T09:00:00Z", "I love hiking in the mountains with my dog."),
    ("2024-03-04T15:00:00Z", "Went to the farmers market and bought fresh strawberries."),
]
DAY2 = [
    ("2024-03-05T08:30:00Z", "Finished reading a novel about sailing across the Atlantic."),
    ("2024-03-05T20:00:00Z", "My sister is a nurse in Boston."),
]


def _by_origin(memories: list[dict[str, Any]], origin: str) -> list[dict[str, Any]]:
    return [m for m in memories if m["origin"] == origin]


async def test_daily_global_summaries_and_portraits(app, db_url, client, cube):
    cid = cube["id"]
    body = await _add(
        client,
        cid,
        [{"content": c, "occurred_at": at, "user_id": "u1"} for at, c in DAY1 + DAY2]
        + [{"content": "I hate waking up early.", "occurred_at": DAY1[0][0], "user_id": "u2"}],
    )
    episodes = [m["id"] for m in body["items"]]
    await _consolidate(app, db_url, client, cid, ["summaries"])

    everything = await _all(client, cid)
    daily = sorted(
        (m for m in _by_origin(everything, "daily_summary") if m["user_id"] == "u1"),
        key=lambda m: m["occurred_at"],
    )
    assert len(daily) == 2
    assert [_when(m["occurred_at"]) for m in daily] == [
        datetime(2024, 3, 4, tzinfo=UTC),
        datetime(2024, 3, 5, tzinfo=UTC),
    ]
    assert daily[0]["content"].startswith("On 2024-03-04:")
    assert "strawberries" in daily[0]["content"] and "hiking" in daily[0]["content"]
    assert "Atlantic" in daily[1]["content"] and "strawberries" not in daily[1]["content"]
    for m in daily:
        assert m["memory_type"] == "episodic" and m["status"] == "active"
        assert m["source"] == "memsvc"
    [u2_daily] = [m for m in _by_origin(everything, "daily_summary") if m["user_id"] == "u2"]
    assert "waking up early" in u2_daily["content"]

    [overall] = [m for m in _by_origin(everything, "global_summary") if m["user_id"] == "u1"]
    assert overall["memory_type"] == "semantic"
    assert "2024-03-04" in overall["content"] and "2024-03-05" in overall["content"]
    portraits = {m["user_id"]: m for m in _by_origin(everything, "portrait")}
    assert set(portraits) == {"u1", "u2"}
    assert "u1 loves hiking in the mountains" in portraits["u1"]["content"]
    assert "u1's sister is a nurse in Boston" in portraits["u1"]["content"]
    assert "u2 hates waking up early" in portraits["u2"]["content"]

    lineage = await _lineage(client, cid, daily[0]["id"])
    assert sorted((s["memory_id"], s["relation"]) for s in lineage["sources"]) == sorted(
        (mid, "summarizes") for mid in episodes[:2]
    )
    assert {s["memory_id"] for s in (await _lineage(client, cid, daily[1]["id"]))["sources"]} == {
        episodes[2],
        episodes[3],
    }
    derived = (await _lineage(client, cid, episodes[0]))["derived"]
    assert {"memory_id": daily[0]["id"], "relation": "summarizes"} in derived
    assert {s["memory_id"] for s in (await _lineage(client, cid, overall["id"]))["sources"]} == {
        daily[0]["id"],
        daily[1]["id"],
    }

    # a second consolidation changes nothing
    made = [m for m in everything if m["origin"] is not None]
    versions = _version_counts(db_url, cid)
    await _consolidate(app, db_url, client, cid, ["summaries"])
    again = await _all(client, cid)
    assert [m["id"] for m in again] == [m["id"] for m in everything]
    assert _version_counts(db_url, cid) == versions
    for m in made:
        assert (await _get(client, cid, m["id"]))["version"] == m["version"]

    # a new memory on day 1 updates that day's summary only (same id, a new version)
    await _add(
        client,
        cid,
        [
            {
                "content": "Cooked a big pasta dinner for the neighbours.",
                "occurred_at": "2024-03-04T19:00:00Z",
                "user_id": "u1",
            }
        ],
    )
    await _consolidate(app, db_url, client, cid, ["summaries"])
    after = await _all(client, cid)
    assert len(_by_origin(after, "daily_summary")) == 3  # u1's two days, u2's one
    day1 = await _get(client, cid, daily[0]["id"])
    assert day1["version"] == daily[0]["version"] + 1
    assert "pasta" in day1["content"]
    last = (await _history(client, cid, daily[0]["id"]))[-1]
    assert last["change_kind"] == "consolidation" and "content" in last["changed_fields"]
    assert (await _get(client, cid, daily[1]["id"]))["version"] == daily[1]["version"]
    assert (await _get(client, cid, u2_daily["id"]))["version"] == u2_daily["version"]
    assert len((await _lineage(client, cid, daily[0]["id"]))["sources"]) == 3


async def test_a_day_summary_keeps_what_its_faded_episodes_said(app, db_url, client, cube, clock):
    """Consolidation runs forgetting last "so a day is summarised before its details fade":
    once the details have faded, a later summaries pass must not rewrite the day's summary
    from the surviving episodes alone (dropping what the faded ones said)."""
    cid = cube["id"]
    day = [
        ("2024-03-04T09:00:00Z", "Went kayaking on the river with Sam."),
        ("2024-03-04T12:00:00Z", "Visited the science museum and saw a dinosaur skeleton."),
        ("2024-03-04T19:00:00Z", "Baked sourdough bread in the evening."),
    ]
    body = await _add(
        client, cid, [{"content": c, "occurred_at": at, "user_id": "u1"} for at, c in day]
    )
    kayak = body["items"][0]["id"]
    await _consolidate(app, db_url, client, cid, ["summaries", "forgetting"])
    [daily] = _by_origin(await _all(client, cid), "daily_summary")
    assert "dinosaur" in daily["content"] and "sourdough" in daily["content"]

    [hit] = await _search(client, cid, "kayaking on the river", top_k=1)  # recalled: stays
    assert hit["memory"]["id"] == kayak
    clock.advance(days=40)
    await _consolidate(app, db_url, client, cid, ["summaries", "forgetting"])
    assert {m["id"] for m in await _all(client, cid, status="active")} >= {kayak}
    assert (await _get(client, cid, body["items"][1]["id"]))["status"] == "archived"

    clock.advance(days=1)  # the next night's run
    await _consolidate(app, db_url, client, cid, ["summaries", "forgetting"])
    summary = await _get(client, cid, daily["id"])
    kinds = [v["change_kind"] for v in await _history(client, cid, daily["id"])]
    assert "dinosaur" in summary["content"], (summary["content"], kinds)
    assert "sourdough" in summary["content"], (summary["content"], kinds)


# --- 9. consolidation jobs and the scheduler -------------------------------------------------


async def test_consolidate_is_a_job_of_the_cube(app, db_url, client, cube, tenant_client):
    cid = cube["id"]
    r = await client.post(f"/v1/cubes/{cid}/consolidate")  # no body: every kind
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    uuid.UUID(job_id)
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "queued" and job["kind"] == "consolidate_cube"
    assert job["cube_id"] == cid
    [(args,)] = _sql(
        db_url, "SELECT args FROM procrastinate_jobs WHERE args->>'job_id' = %s", (job_id,)
    )
    assert args["kinds"] == ["thoughts", "summaries", "core", "forgetting"]

    other = await tenant_client()
    assert (await other.get(f"/v1/jobs/{job_id}")).status_code == 404
    assert (await other.get(f"/v1/jobs/{job_id}")).json()["error"]["code"] == "job_not_found"
    r = await other.post(f"/v1/cubes/{cid}/consolidate", json={"kinds": ["forgetting"]})
    assert r.status_code == 404, r.text

    await work_until_idle(db_url, app.state.runtime)
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "done" and job["error"] is None

    r = await client.post(f"/v1/cubes/{cid}/consolidate", json={"kinds": ["forgetting", "core"]})
    assert r.status_code == 202
    [(args,)] = _sql(
        db_url,
        "SELECT args FROM procrastinate_jobs WHERE args->>'job_id' = %s",
        (r.json()["job_id"],),
    )
    assert args["kinds"] == ["core", "forgetting"]  # run order, not request order

    before = _sql(db_url, "SELECT count(*) FROM procrastinate_jobs")
    for bad in ({"kinds": ["dreams"]}, {"kinds": []}, {"kinds": "forgetting"}, {"other": 1}):
        r = await client.post(f"/v1/cubes/{cid}/consolidate", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert set(r.json()["error"]) == {"code", "message", "details"}
    assert _sql(db_url, "SELECT count(*) FROM procrastinate_jobs") == before


def _waiting_consolidations(db_url: str) -> list[dict[str, Any]]:
    rows = _sql(
        db_url,
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'consolidate_cube'"
        " AND status = 'todo' ORDER BY id",
    )
    return [args for (args,) in rows]


async def test_the_scheduler_queues_one_job_per_live_cube(app, db_url, client, cube):
    async def new_cube(name: str, **extra: Any) -> str:
        r = await client.post("/v1/cubes", json={"name": name, **extra})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    off = await new_cube("off", config={"consolidation": False})
    some = await new_cube("some", config={"consolidation": ["forgetting", "summaries", "bogus"]})
    gone = await new_cube("gone")
    assert (await client.delete(f"/v1/cubes/{gone}")).status_code == 204

    runtime = app.state.runtime
    assert await consolidation.schedule_all(runtime) == 2
    waiting = _waiting_consolidations(db_url)
    assert {a["cube_id"] for a in waiting} == {cube["id"], some}
    assert off not in {a["cube_id"] for a in waiting}
    kinds = {a["cube_id"]: a["kinds"] for a in waiting}
    assert kinds[some] == ["summaries", "forgetting"]
    assert kinds[cube["id"]] == ["thoughts", "summaries", "core", "forgetting"]
    job = (await client.get(f"/v1/jobs/{waiting[0]['job_id']}")).json()
    assert job["status"] == "queued" and job["kind"] == "consolidate_cube"

    # a second round queues no second waiting job for the same cube
    assert await consolidation.schedule_all(runtime) == 0
    assert _waiting_consolidations(db_url) == waiting
    # a manual consolidation is not blocked by the schedule's lock
    r = await client.post(f"/v1/cubes/{cube['id']}/consolidate")
    assert r.status_code == 202
    assert len(_waiting_consolidations(db_url)) == 3

    await work_until_idle(db_url, runtime)
    assert _waiting_consolidations(db_url) == []
    for args in waiting:
        assert (await client.get(f"/v1/jobs/{args['job_id']}")).json()["status"] == "done"
    # once run, the next round queues again
    assert await consolidation.schedule_all(runtime) == 2
