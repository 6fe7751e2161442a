"""Conversation ingestion (POST /v1/cubes/{id}/messages) on real PostgreSQL and the real
embedding model, on the deterministic path (no LLM configured): turns with provenance, typed
memories, each update decision (add, reinforce, inferred_update, supersede), validity over time
in search and as_of, relative times, the knowledge vault, retries, the queued path and bad
input."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from api.main import create_app
from memsvc.config import Settings
from memsvc.store.db import libpq_url
from tests.api.db_scan import assert_nowhere_in_db as _nowhere_in_db
from tests.api.memory_http import get_memory as _get
from tests.api.memory_http import history as _history
from tests.api.memory_http import key_client as _key_client
from tests.api.memory_http import lineage as _lineage
from tests.api.memory_http import revealed_fields
from tests.conftest import ADMIN_KEY
from workers.runner import work_until_idle

DEC = "2025-12-01T00:00:00+00:00"  # before anything was said
JAN = "2026-01-10T10:00:00+00:00"
FEB = "2026-02-10T10:00:00+00:00"
MAR = "2026-03-10T15:00:00+00:00"  # a Tuesday

PASSWORD = "Tr0ub4dor&3x"
NEW_PASSWORD = "Xk9#mP2qL7"


# --- helpers ------------------------------------------------------------------------------


def _msg(
    content: str,
    *,
    role: str = "user",
    name: str | None = "Sam",
    ts: str | None = JAN,
    mid: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"role": role, "content": content}
    if name is not None:
        out["name"] = name
    if ts is not None:
        out["timestamp"] = ts
    if mid is not None:
        out["message_id"] = mid
    return out


async def _ingest(
    client: httpx.AsyncClient,
    cube_id: str,
    messages: list[dict[str, Any]],
    *,
    status: int = 201,
    **body: Any,
) -> dict[str, Any]:
    body = {"user_id": "u1", "session_id": "s1", **body}
    r = await client.post(f"/v1/cubes/{cube_id}/messages", json={"messages": messages, **body})
    assert r.status_code == status, r.text[:2000]
    return dict(r.json())


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _inferred(
    out: dict[str, Any], memory_type: str | None = None, attribute: str | None = None
) -> list[dict[str, Any]]:
    return [
        i
        for i in out["memories"]
        if (memory_type is None or i["memory"]["memory_type"] == memory_type)
        and (attribute is None or (i["memory"]["fact"] or {}).get("attribute") == attribute)
    ]


def _one(out: dict[str, Any], memory_type: str, attribute: str | None = None) -> dict[str, Any]:
    found = _inferred(out, memory_type, attribute)
    assert len(found) == 1, [(i["decision"], i["memory"]["content"]) for i in out["memories"]]
    return found[0]


def _sql(db_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def _counts(db_url: str) -> tuple[int, int, int]:
    [row] = _sql(
        db_url,
        "SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_versions),"
        " (SELECT count(*) FROM ingest_batches)",
    )
    return int(row[0]), int(row[1]), int(row[2])


async def _all(client: httpx.AsyncClient, cube_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/cubes/{cube_id}/memories", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _search(
    client: httpx.AsyncClient, cube_id: str, query: str, **body: Any
) -> list[dict[str, Any]]:
    r = await client.post(f"/v1/cubes/{cube_id}/search", json={"query": query, **body})
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def _err(
    r: httpx.Response, status: int, code: str | tuple[str, ...] | None = None
) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    if isinstance(code, str):
        assert body["error"]["code"] == code, body
    elif code is not None:
        assert body["error"]["code"] in code, body
    return dict(body["error"])


async def _paris_then_berlin(client: httpx.AsyncClient, cid: str) -> tuple[str, str]:
    """Sam lived in Paris (said in January), then moved to Berlin (said in March)."""
    first = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    paris = _one(first, "semantic", "lives_in")["memory"]["id"]
    second = await _ingest(client, cid, [_msg("I moved to Berlin.", ts=MAR, mid="m2")])
    berlin = _one(second, "semantic", "lives_in")["memory"]["id"]
    return paris, berlin


# --- turns ------------------------------------------------------------------------------


async def test_turns_are_stored_with_their_provenance(client, cube):
    cid = cube["id"]
    messages = [
        _msg("Hi there, how are you?", ts=JAN, mid="client-1"),
        _msg("Fine, thanks. How can I help?", role="assistant", name=None, ts=FEB),
        _msg("Just saying hello.", name=None, ts=MAR, mid="client-3"),
        _msg("Lookup done.", role="tool", name="search", ts=MAR, mid="client-4"),
    ]
    out = await _ingest(client, cid, messages, agent_id="a1")
    assert out["status"] == "done"
    assert out["extracted_by"] == "fallback"  # no model configured: the rules extract
    ids = out["message_ids"]
    assert ids[0] == "client-1" and ids[2] == "client-3" and ids[3] == "client-4"
    uuid.UUID(ids[1])  # made up by the service
    assert len(set(ids)) == 4
    assert out["turn_ids"] == [t["id"] for t in out["turns"]]
    assert len(set(out["turn_ids"])) == 4

    expected = [
        ("Sam: Hi there, how are you?", "user_message", "Sam", JAN),
        ("Assistant: Fine, thanks. How can I help?", "assistant_message", "Assistant", FEB),
        ("User: Just saying hello.", "user_message", "User", MAR),
        ("search: Lookup done.", "tool_message", "search", MAR),
    ]
    for turn, mid, (content, event_type, actor, ts) in zip(
        out["turns"], ids, expected, strict=True
    ):
        assert turn["content"] == content
        assert turn["memory_type"] == "episodic"
        assert turn["fields"]["event_type"] == event_type
        assert turn["fields"]["actor"] == actor
        assert _t(turn["occurred_at"]) == _t(ts)
        assert _t(turn["valid_from"]) == _t(ts)
        assert turn["valid_to"] is None
        assert turn["source_message_ids"] == [mid]
        assert turn["user_id"] == "u1" and turn["session_id"] == "s1"
        assert turn["agent_id"] == "a1"
        assert turn["source"] == "conversation"
        assert turn["origin"] is None and turn["fact"] is None
        stored = await _get(client, cid, turn["id"])
        assert stored["content"] == content
        assert stored["source_message_ids"] == [mid]
        assert _t(stored["occurred_at"]) == _t(ts)


# --- the decisions ------------------------------------------------------------------------


async def test_a_new_fact_is_added_from_its_message(client, cube):
    cid = cube["id"]
    out = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    add = _one(out, "semantic")
    assert add["decision"] == "add"
    assert add["previous_id"] is None
    assert add["message_index"] == 0
    fact = add["memory"]
    assert fact["content"] == "Sam lives in Paris."
    assert fact["fact"] == {"subject": "sam", "attribute": "lives_in", "value": "paris"}
    assert fact["origin"] == "extracted"
    assert _t(fact["valid_from"]) == _t(JAN)
    assert fact["valid_to"] is None
    assert fact["source_message_ids"] == ["m1"]
    assert fact["user_id"] == "u1" and fact["session_id"] == "s1"

    stored = await _get(client, cid, fact["id"])
    assert stored["fact"] == fact["fact"]
    versions = await _history(client, cid, fact["id"])
    assert [v["change_kind"] for v in versions] == ["create"]
    assert versions[0]["reason"].startswith("inferred from message m1: ")


async def test_an_inferred_fact_is_joined_to_its_turn_by_lineage(client, cube):
    cid = cube["id"]
    out = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    fact = _one(out, "semantic")["memory"]["id"]
    turn = out["turn_ids"][0]
    sources = (await _lineage(client, cid, fact))["sources"]
    assert {"memory_id": turn, "relation": "extracted"} in sources
    derived = (await _lineage(client, cid, turn))["derived"]
    assert {"memory_id": fact, "relation": "extracted"} in derived


async def test_the_same_fact_again_reinforces_it(client, cube):
    cid = cube["id"]
    first = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    fact = _one(first, "semantic")["memory"]
    second = await _ingest(client, cid, [_msg("I live in Paris.", ts=FEB, mid="m2")])
    again = _one(second, "semantic")
    assert again["decision"] == "reinforce"
    assert again["memory"]["id"] == fact["id"] == again["previous_id"]
    assert again["memory"]["strength"] > fact["strength"]
    assert again["memory"]["source_message_ids"] == ["m1", "m2"]
    assert again["memory"]["valid_to"] is None
    assert _t(again["memory"]["valid_from"]) == _t(JAN)  # still true since it was first said

    versions = await _history(client, cid, fact["id"])
    assert [v["change_kind"] for v in versions] == ["create", "reinforce"]
    assert "m2" in versions[-1]["reason"]
    facts = await _all(client, cid, memory_type="semantic")
    assert [f["id"] for f in facts] == [fact["id"]]
    # the second message is a turn of its own
    assert second["turn_ids"][0] != first["turn_ids"][0]


async def test_a_refined_value_updates_the_fact_in_place(client, cube):
    cid = cube["id"]
    first = await _ingest(client, cid, [_msg("I live in Berlin.", ts=JAN, mid="m1")])
    fact = _one(first, "semantic")["memory"]
    second = await _ingest(client, cid, [_msg("I live in Berlin Kreuzberg.", ts=FEB, mid="m2")])
    update = _one(second, "semantic")
    assert update["decision"] == "inferred_update"
    assert update["memory"]["id"] == fact["id"] == update["previous_id"]
    assert update["memory"]["content"] == "Sam lives in Berlin Kreuzberg."
    assert update["memory"]["fact"]["value"] == "berlin kreuzberg"
    assert update["memory"]["source_message_ids"] == ["m1", "m2"]
    assert update["memory"]["valid_to"] is None

    stored = await _get(client, cid, fact["id"])
    assert stored["content"] == "Sam lives in Berlin Kreuzberg."
    versions = await _history(client, cid, fact["id"])
    assert [v["change_kind"] for v in versions] == ["create", "inferred_update"]
    assert "m2" in versions[-1]["reason"]
    assert "content" in versions[-1]["changed_fields"]
    assert versions[0]["snapshot"]["content"] == "Sam lives in Berlin."
    assert len(await _all(client, cid, memory_type="semantic")) == 1


async def test_a_refined_value_updates_the_fact_in_place_on_the_queued_path(
    app, db_url, client, cube
):
    cid = cube["id"]
    await _ingest(
        client, cid, [_msg("I live in Berlin.", ts=JAN, mid="m1")], status=202, mode="async"
    )
    await _ingest(
        client,
        cid,
        [_msg("I live in Berlin Kreuzberg.", ts=FEB, mid="m2")],
        status=202,
        mode="async",
    )
    await work_until_idle(db_url, app.state.runtime)
    [fact] = await _all(client, cid, memory_type="semantic")
    assert fact["content"] == "Sam lives in Berlin Kreuzberg."
    assert fact["fact"] == {"subject": "sam", "attribute": "lives_in", "value": "berlin kreuzberg"}
    assert fact["source_message_ids"] == ["m1", "m2"]
    assert _t(fact["valid_from"]) == _t(JAN) and fact["valid_to"] is None
    versions = await _history(client, cid, fact["id"])
    kinds = [v["change_kind"] for v in versions]
    assert kinds[:2] == ["create", "inferred_update"], kinds
    assert versions[1]["reason"].startswith("restated in message m2: ")
    assert versions[0]["snapshot"]["content"] == "Sam lives in Berlin."


async def test_a_changed_fact_supersedes_the_old_one_which_is_kept(db_url, client, cube):
    cid = cube["id"]
    first = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    paris = _one(first, "semantic")["memory"]
    second = await _ingest(client, cid, [_msg("I moved to Berlin.", ts=MAR, mid="m2")])
    supersede = _one(second, "semantic")
    assert supersede["decision"] == "supersede"
    assert supersede["previous_id"] == paris["id"]
    berlin = supersede["memory"]
    assert berlin["id"] != paris["id"]
    assert berlin["fact"] == {"subject": "sam", "attribute": "lives_in", "value": "berlin"}
    assert _t(berlin["valid_from"]) == _t(MAR)
    assert berlin["valid_to"] is None

    old = await _get(client, cid, paris["id"])
    assert _t(old["valid_to"]) == _t(MAR)
    assert _t(old["valid_from"]) == _t(JAN)
    assert old["status"] == paris["status"]  # ended, not deleted or archived
    assert old["content"] == paris["content"]
    versions = await _history(client, cid, paris["id"])
    assert [v["change_kind"] for v in versions] == ["create", "supersede"]
    assert berlin["id"] in versions[-1]["reason"]
    assert "m2" in versions[-1]["reason"]
    assert versions[-1]["changed_fields"] == ["valid_to"]
    created = await _history(client, cid, berlin["id"])
    assert created[0]["change_kind"] == "create"
    assert created[0]["reason"].startswith("inferred from message m2: ")
    assert paris["id"] in created[0]["reason"]

    # nothing was deleted by inference
    assert _sql(db_url, "SELECT count(*) FROM memories WHERE status = 'deleted'") == [(0,)]
    listed = {m["id"] for m in await _all(client, cid)}
    assert {paris["id"], berlin["id"], *first["turn_ids"], *second["turn_ids"]} <= listed


async def test_a_superseding_fact_is_joined_to_the_old_one_by_lineage(client, cube):
    cid = cube["id"]
    paris, berlin = await _paris_then_berlin(client, cid)
    sources = (await _lineage(client, cid, berlin))["sources"]
    assert {"memory_id": paris, "relation": "supersedes"} in sources
    derived = (await _lineage(client, cid, paris))["derived"]
    assert {"memory_id": berlin, "relation": "supersedes"} in derived


async def test_facts_of_one_batch_are_decided_in_message_order(client, cube):
    cid = cube["id"]
    out = await _ingest(
        client,
        cid,
        [
            _msg("I live in Paris.", ts=JAN, mid="m1"),
            _msg("I live in Paris.", ts=FEB, mid="m2"),
            _msg("I moved to Berlin.", ts=MAR, mid="m3"),
        ],
    )
    decisions = [(i["decision"], i["message_index"]) for i in _inferred(out, "semantic")]
    assert decisions == [("add", 0), ("reinforce", 1), ("supersede", 2)]
    paris = _inferred(out, "semantic")[0]["memory"]["id"]
    # each memory is reported as it ends up after the whole batch
    reported = {i["memory"]["id"]: i["memory"] for i in out["memories"]}
    assert _t(reported[paris]["valid_to"]) == _t(MAR)


async def test_a_fact_said_again_after_a_change_is_current_again(client, cube):
    cid = cube["id"]
    out = await _ingest(
        client,
        cid,
        [
            _msg("I live in Paris.", ts=JAN, mid="m1"),
            _msg("I moved to Berlin.", ts=FEB, mid="m2"),
            _msg("I live in Paris.", ts=MAR, mid="m3"),
        ],
    )
    decisions = [(i["decision"], i["message_index"]) for i in _inferred(out, "semantic")]
    assert decisions == [("add", 0), ("supersede", 1), ("supersede", 2)]
    first, berlin, back = (i["memory"] for i in _inferred(out, "semantic"))
    assert back["id"] != first["id"]
    assert _t(first["valid_to"]) == _t(FEB)
    assert _t(berlin["valid_from"]) == _t(FEB) and _t(berlin["valid_to"]) == _t(MAR)
    assert _t(back["valid_from"]) == _t(MAR) and back["valid_to"] is None
    current = [
        f["fact"]["value"]
        for f in await _all(client, cid, memory_type="semantic")
        if f["valid_to"] is None
    ]
    assert current == ["paris"]


# --- validity over time --------------------------------------------------------------------


async def test_search_prefers_the_current_fact_and_as_of_returns_the_past(client, cube):
    cid = cube["id"]
    paris, berlin = await _paris_then_berlin(client, cid)
    query = "Where does Sam live?"
    flt = {"user_id": "u1"}

    hits = await _search(client, cid, query, filters=flt, top_k=20)
    ids = [h["memory"]["id"] for h in hits]
    assert berlin in ids and paris in ids
    assert ids.index(berlin) < ids.index(paris)
    by_id = {h["memory"]["id"]: h for h in hits}
    assert by_id[paris]["scores"]["validity"] == 0.5
    assert "validity" not in by_id[berlin]["scores"]

    # the same across cubes
    r = await client.post(
        "/v1/search", json={"query": query, "cube_ids": [cid], "filters": flt, "top_k": 20}
    )
    assert r.status_code == 200, r.text
    multi = {h["memory"]["id"]: h for h in r.json()["results"]}
    assert multi[berlin]["score"] > multi[paris]["score"]
    assert multi[paris]["scores"]["validity"] == 0.5

    # as it was believed in February: Paris, and nothing said in March
    feb = await _search(client, cid, query, filters=flt, as_of=FEB, top_k=20)
    feb_ids = [h["memory"]["id"] for h in feb]
    assert paris in feb_ids and berlin not in feb_ids
    assert all(_t(h["memory"]["valid_from"]) <= _t(FEB) for h in feb)
    assert all("validity" not in h["scores"] for h in feb)
    facts = await _search(
        client, cid, query, filters=flt, as_of=FEB, memory_types=["semantic"], top_k=20
    )
    assert [h["memory"]["id"] for h in facts] == [paris]

    # before anything was said: neither
    dec = await _search(client, cid, query, filters=flt, as_of=DEC, top_k=20)
    dec_ids = {h["memory"]["id"] for h in dec}
    assert paris not in dec_ids and berlin not in dec_ids

    # ...and in April, Berlin only
    apr = await _search(
        client,
        cid,
        query,
        filters=flt,
        as_of="2026-04-01T00:00:00+00:00",
        memory_types=["semantic"],
        top_k=20,
    )
    assert [h["memory"]["id"] for h in apr] == [berlin]


async def test_a_turn_whose_facts_have_all_ended_ranks_as_stale(client, cube):
    cid = cube["id"]
    first = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    await _ingest(client, cid, [_msg("I moved to Berlin.", ts=MAR, mid="m2")])
    hits = await _search(client, cid, "Sam lives in Paris", memory_types=["episodic"], top_k=20)
    by_id = {h["memory"]["id"]: h for h in hits}
    old_turn = first["turn_ids"][0]
    assert old_turn in by_id
    assert by_id[old_turn]["scores"]["validity"] == 0.5


async def test_an_event_told_with_an_ended_fact_ranks_as_stale_but_not_its_links(client, cube):
    cid = cube["id"]
    first = await _ingest(
        client,
        cid,
        [_msg("I moved to Paris last year. Docs: https://example.org/paris-guide", mid="m1")],
    )
    event = _one(first, "episodic")
    link = _one(first, "resource")
    assert "Paris" in event["memory"]["content"]
    await _ingest(client, cid, [_msg("I live in Berlin now.", ts=MAR, mid="m2")])
    hits = await _search(client, cid, "Sam moved to Paris", top_k=50)
    by_id = {h["memory"]["id"]: h for h in hits}
    assert by_id[event["memory"]["id"]]["scores"]["validity"] == 0.5
    assert "validity" not in by_id[link["memory"]["id"]]["scores"]
    # Before the move to Berlin, nothing of it was stale.
    hits = await _search(client, cid, "Sam moved to Paris", top_k=50, as_of=FEB)
    assert all("validity" not in h["scores"] for h in hits)


async def test_history_sent_out_of_order_keeps_the_older_fact_as_past(client, cube):
    cid = cube["id"]
    newer = await _ingest(client, cid, [_msg("I moved to Berlin.", ts=MAR, mid="m2")])
    berlin = _one(newer, "semantic")["memory"]
    older = await _ingest(client, cid, [_msg("I live in Paris.", ts=JAN, mid="m1")])
    paris = _one(older, "semantic")["memory"]
    assert paris["id"] != berlin["id"]
    assert _t(paris["valid_from"]) == _t(JAN)
    assert _t(paris["valid_to"]) == _t(berlin["valid_from"]) == _t(MAR)

    current = await _get(client, cid, berlin["id"])
    assert current["valid_to"] is None
    assert _t(current["valid_from"]) == _t(MAR)
    facts = await _all(client, cid, memory_type="semantic")
    assert [f["id"] for f in facts if f["valid_to"] is None] == [berlin["id"]]

    feb = await _search(
        client, cid, "Where does Sam live?", as_of=FEB, memory_types=["semantic"], top_k=20
    )
    assert [h["memory"]["id"] for h in feb] == [paris["id"]]
    now = await _search(client, cid, "Where does Sam live?", memory_types=["semantic"], top_k=20)
    assert now[0]["memory"]["id"] == berlin["id"]


async def test_relative_times_are_read_against_the_message_time(client, cube):
    cid = cube["id"]
    out = await _ingest(
        client,
        cid,
        [
            _msg("Yesterday I went to the dentist.", ts=MAR, mid="m1"),
            _msg("Last week I visited my grandmother.", ts=MAR, mid="m2"),
        ],
    )
    events = {i["memory"]["content"]: i["memory"] for i in _inferred(out, "episodic")}
    dentist = events["Sam went to the dentist."]
    assert dentist["origin"] == "extracted"
    assert _t(dentist["occurred_at"]) == _t("2026-03-09T00:00:00Z")
    assert _t(dentist["valid_from"]) == _t(MAR)
    assert dentist["source_message_ids"] == ["m1"]
    grandmother = events["Sam visited their grandmother."]
    # 2026-03-10 is a Tuesday: last week starts on Monday 2 March
    assert _t(grandmother["occurred_at"]) == _t("2026-03-02T00:00:00Z")
    # the turns keep the message time
    assert all(_t(t["occurred_at"]) == _t(MAR) for t in out["turns"])
    stored = await _get(client, cid, dentist["id"])
    assert _t(stored["occurred_at"]) == _t("2026-03-09T00:00:00Z")


async def test_steps_links_and_preferences_get_their_types(client, cube):
    cid = cube["id"]
    steps = (
        "To reset the router:\n1. Unplug the router.\n2. Wait thirty seconds.\n3. Plug it back in."
    )
    out = await _ingest(
        client,
        cid,
        [
            _msg("How do I reset my router? I love sushi.", mid="m1"),
            _msg(steps, role="assistant", name=None, mid="m2"),
            _msg("Here is the guide: https://example.com/router-guide", mid="m3"),
        ],
    )
    procedure = _one(out, "procedural")
    assert procedure["message_index"] == 1
    assert procedure["memory"]["fields"]["steps"] == [
        "Unplug the router.",
        "Wait thirty seconds.",
        "Plug it back in.",
    ]
    link = _one(out, "resource")
    assert link["message_index"] == 2
    assert link["memory"]["fields"]["uri"] == "https://example.com/router-guide"
    likes = _one(out, "semantic")
    assert likes["memory"]["fact"] == {"subject": "sam", "attribute": "likes:sushi", "value": "yes"}
    assert all(i["memory"]["origin"] == "extracted" for i in out["memories"])
    assert all(i["decision"] == "add" for i in out["memories"])

    # the same link again is the same resource
    again = await _ingest(
        client, cid, [_msg("The guide again: https://example.com/router-guide", ts=FEB)]
    )
    assert _one(again, "resource")["decision"] == "reinforce"
    assert _one(again, "resource")["memory"]["id"] == link["memory"]["id"]


# --- the knowledge vault --------------------------------------------------------------------


async def test_a_secret_goes_to_the_vault_and_is_never_echoed(app, db_url, admin, client, cube):
    cid = cube["id"]
    r = await client.post(
        f"/v1/cubes/{cid}/messages",
        json={
            "user_id": "u1",
            "session_id": "s1",
            "messages": [
                _msg(f"My wifi password is {PASSWORD}", ts=JAN, mid="m1"),
                _msg("Noted.", role="assistant", name=None, ts=JAN, mid="m2"),
            ],
        },
    )
    assert r.status_code == 201, r.text
    assert PASSWORD not in r.text
    out = r.json()
    vault = _one(out, "knowledge_vault")
    assert vault["decision"] == "add"
    entry = vault["memory"]
    assert entry["has_secret"] is True
    assert entry["fields"]["caption"] == "Sam's wifi password"
    assert entry["fields"]["entry_type"] == "password"
    assert "secret_value" not in entry["fields"]
    assert entry["fact"]["attribute"] == "secret:wifi_password"
    assert entry["fact"]["value"] is None
    turn = out["turns"][0]
    assert turn["content"] == "Sam: My wifi password is [redacted]"

    mid, tid = entry["id"], turn["id"]
    responses = [
        await client.get(f"/v1/cubes/{cid}/memories/{mid}"),
        await client.get(f"/v1/cubes/{cid}/memories/{tid}"),
        await client.get(f"/v1/cubes/{cid}/memories"),
        await client.get(f"/v1/cubes/{cid}/memories/{mid}/history"),
        await client.get(f"/v1/cubes/{cid}/memories/{tid}/history"),
        await client.post(f"/v1/cubes/{cid}/search", json={"query": "wifi password"}),
        await client.post(
            f"/v1/cubes/{cid}/search",
            json={"query": "wifi password", "memory_types": ["knowledge_vault"]},
        ),
        await client.post(f"/v1/cubes/{cid}/search", json={"query": PASSWORD, "mode": "lexical"}),
        await client.post(
            f"/v1/cubes/{cid}/context", json={"query": "wifi password", "user_id": "u1"}
        ),
    ]
    for resp in responses:
        assert resp.status_code == 200, (resp.request.url, resp.text[:300])
        assert PASSWORD not in resp.text, resp.request.url
        assert "secret_value" not in resp.text, resp.request.url
    found = [h["memory"]["id"] for h in responses[6].json()["results"]]
    assert mid in found
    assert responses[0].json()["has_secret"] is True

    # reveal needs the secrets scope
    fields = await revealed_fields(app, admin, client, cid, mid)
    assert fields["secret_value"] == PASSWORD

    await work_until_idle(db_url, app.state.runtime)  # notes, links and graph too
    _nowhere_in_db(db_url, PASSWORD)


async def test_the_same_secret_reinforces_and_a_new_one_supersedes(
    app, db_url, admin, client, cube
):
    cid = cube["id"]
    first = await _ingest(client, cid, [_msg(f"My wifi password is {PASSWORD}", ts=JAN)])
    old = _one(first, "knowledge_vault")["memory"]

    same = await _ingest(client, cid, [_msg(f"My wifi password is {PASSWORD}", ts=FEB)])
    again = _one(same, "knowledge_vault")
    assert again["decision"] == "reinforce"
    assert again["memory"]["id"] == old["id"]
    assert again["memory"]["strength"] > old["strength"]

    r = await client.post(
        f"/v1/cubes/{cid}/messages",
        json={
            "user_id": "u1",
            "session_id": "s1",
            "messages": [_msg(f"My wifi password is now {NEW_PASSWORD}", ts=MAR)],
        },
    )
    assert r.status_code == 201, r.text
    assert NEW_PASSWORD not in r.text and PASSWORD not in r.text
    changed = _one(r.json(), "knowledge_vault")
    assert changed["decision"] == "supersede"
    assert changed["previous_id"] == old["id"]
    new = changed["memory"]
    assert new["id"] != old["id"]
    assert _t(new["valid_from"]) == _t(MAR) and new["valid_to"] is None
    ended = await _get(client, cid, old["id"])
    assert _t(ended["valid_to"]) == _t(MAR)
    assert ended["has_secret"] is True
    versions = await _history(client, cid, old["id"])
    assert [v["change_kind"] for v in versions] == ["create", "reinforce", "supersede"]
    assert PASSWORD not in str(versions) and NEW_PASSWORD not in str(versions)

    keeper = await _key_client(app, admin, client.tenant_id, ["read", "secrets"])
    async with keeper:
        r = await keeper.get(f"/v1/cubes/{cid}/memories/{old['id']}", params={"reveal": True})
        assert r.json()["fields"]["secret_value"] == PASSWORD
        r = await keeper.get(f"/v1/cubes/{cid}/memories/{new['id']}", params={"reveal": True})
        assert r.json()["fields"]["secret_value"] == NEW_PASSWORD
    _nowhere_in_db(db_url, PASSWORD, NEW_PASSWORD)


async def test_a_queued_secret_ends_up_only_in_the_vault(app, db_url, admin, client, cube):
    cid = cube["id"]
    r = await client.post(
        f"/v1/cubes/{cid}/messages",
        json={
            "user_id": "u1",
            "session_id": "s1",
            "mode": "async",
            "messages": [_msg(f"My wifi password is {PASSWORD}", mid="m1")],
        },
    )
    assert r.status_code == 202, r.text
    assert PASSWORD not in r.text
    [tid] = r.json()["turn_ids"]
    # While it waits for its job the batch is sealed with the vault key: no plaintext at rest.
    [(payload,)] = _sql(db_url, "SELECT payload::text FROM ingest_batches")
    assert "sealed_messages" in payload and "m1" in payload
    _nowhere_in_db(db_url, PASSWORD)
    await work_until_idle(db_url, app.state.runtime)
    assert _sql(db_url, "SELECT count(*) FROM ingest_batches") == [(0,)]
    turn = await _get(client, cid, tid)
    assert turn["content"] == "Sam: My wifi password is [redacted]"
    [entry] = await _all(client, cid, memory_type="knowledge_vault")
    assert entry["has_secret"] is True and entry["fields"]["caption"] == "Sam's wifi password"
    keeper = await _key_client(app, admin, client.tenant_id, ["read", "secrets"])
    async with keeper:
        r = await keeper.get(f"/v1/cubes/{cid}/memories/{entry['id']}", params={"reveal": True})
        assert r.json()["fields"]["secret_value"] == PASSWORD
    _nowhere_in_db(db_url, PASSWORD)


async def test_infer_false_stores_the_turn_verbatim_without_redaction(client, cube):
    """With infer=false nothing is extracted, so no secret goes to the vault: the turn is
    stored exactly as sent (the documented trade-off of `infer: false`)."""
    cid = cube["id"]
    out = await _ingest(
        client,
        cid,
        [_msg(f"My wifi password is {PASSWORD}", mid="m1"), _msg("I live in Paris.")],
        infer=False,
    )
    assert out["memories"] == []
    assert out["extracted_by"] is None
    assert out["turns"][0]["content"] == f"Sam: My wifi password is {PASSWORD}"
    assert out["turns"][1]["content"] == "Sam: I live in Paris."
    stored = await _all(client, cid)
    assert {m["memory_type"] for m in stored} == {"episodic"}
    assert len(stored) == 2


async def test_a_secret_needs_a_vault_key(db_url, test_settings: Settings, embedder):
    settings = test_settings.model_copy(update={"vault_keys": None})
    no_vault = create_app(settings, database_url=db_url, embedder=embedder)
    async with no_vault.router.lifespan_context(no_vault):
        transport = httpx.ASGITransport(app=no_vault)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as admin:
            tenant = (await admin.post("/v1/admin/tenants", json={"name": "nv"})).json()
            key = await admin.post(
                "/v1/admin/keys", json={"tenant_id": tenant["id"], "scopes": ["read", "write"]}
            )
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as client:
            cid = (await client.post("/v1/cubes", json={"name": "c"})).json()["id"]
            before = _counts(db_url)
            url = f"/v1/cubes/{cid}/messages"
            body = {"messages": [_msg(f"My wifi password is {PASSWORD}")]}
            r = await client.post(url, json=body)
            _err(r, 422, "vault_not_configured")
            assert PASSWORD not in r.text
            assert _counts(db_url) == before
            r = await client.post(url, json={**body, "mode": "async"})
            _err(r, 422, "vault_not_configured")
            assert _counts(db_url) == before
            r = await client.post(url, json={**body, "infer": False})
            assert r.status_code == 201, r.text


# --- retries ----------------------------------------------------------------------------


async def test_a_retried_batch_returns_its_turns_and_infers_nothing_again(db_url, client, cube):
    cid = cube["id"]
    batch = [
        _msg("I live in Paris.", ts=JAN, mid="m1"),
        _msg("Good to know.", role="assistant", name=None, ts=JAN, mid="m2"),
    ]
    first = await _ingest(client, cid, batch)
    fact = _one(first, "semantic")["memory"]
    before = _counts(db_url)

    again = await _ingest(client, cid, batch)
    assert again["turn_ids"] == first["turn_ids"]
    assert again["message_ids"] == ["m1", "m2"]
    assert again["memories"] == []
    assert [t["content"] for t in again["turns"]] == [t["content"] for t in first["turns"]]
    assert _counts(db_url) == before
    stored = await _get(client, cid, fact["id"])
    assert stored["strength"] == fact["strength"]
    assert [v["change_kind"] for v in await _history(client, cid, fact["id"])] == ["create"]

    # a retry may repeat part of the batch and add to it
    more = await _ingest(client, cid, [*batch, _msg("I love sushi.", ts=FEB, mid="m3")])
    assert more["turn_ids"][:2] == first["turn_ids"]
    assert more["turn_ids"][2] not in first["turn_ids"]
    assert [i["message_index"] for i in more["memories"]] == [2]

    # the same message ids in another session are other messages
    other = await _ingest(client, cid, batch, session_id="s2")
    assert set(other["turn_ids"]).isdisjoint(first["turn_ids"])


async def test_identical_messages_without_ids_are_one_turn(db_url, client, cube):
    cid = cube["id"]
    said = _msg("I live in Paris.", ts=JAN)
    out = await _ingest(client, cid, [said, said])
    assert out["turn_ids"][0] == out["turn_ids"][1]
    assert len(_inferred(out, "semantic")) == 1
    turns = await _all(client, cid, memory_type="episodic")
    assert [t["id"] for t in turns if t["origin"] is None] == [out["turn_ids"][0]]

    before = _counts(db_url)
    again = await _ingest(client, cid, [said])
    assert again["turn_ids"] == [out["turn_ids"][0]]
    assert again["memories"] == []
    assert _counts(db_url) == before

    # the same words at another time are another message
    later = await _ingest(client, cid, [_msg("I live in Paris.", ts=FEB)])
    assert later["turn_ids"][0] != out["turn_ids"][0]
    assert _one(later, "semantic")["decision"] == "reinforce"


# --- the queued path ------------------------------------------------------------------------


async def test_a_queued_batch_is_ingested_by_the_job(app, db_url, client, cube):
    cid = cube["id"]
    batch = [
        _msg("I live in Paris.", ts=JAN, mid="m1"),
        _msg("Paris is lovely.", role="assistant", name=None, ts=JAN, mid="m2"),
    ]
    out = await _ingest(client, cid, batch, status=202, mode="async")
    assert out["status"] == "queued"
    assert out["message_ids"] == ["m1", "m2"]
    assert len(out["turn_ids"]) == 2 and len(set(out["turn_ids"])) == 2
    assert out["turns"] == [] and out["memories"] == []
    job = (await client.get(f"/v1/jobs/{out['job_id']}")).json()
    assert job["kind"] == "ingest_messages" and job["status"] == "queued", job
    for tid in out["turn_ids"]:
        r = await client.get(f"/v1/cubes/{cid}/memories/{tid}")
        _err(r, 404)

    await work_until_idle(db_url, app.state.runtime)
    job = (await client.get(f"/v1/jobs/{out['job_id']}")).json()
    assert job["kind"] == "ingest_messages" and job["status"] == "done", job
    assert job["cube_id"] == cid
    contents = ["Sam: I live in Paris.", "Assistant: Paris is lovely."]
    for tid, content, mid in zip(out["turn_ids"], contents, ["m1", "m2"], strict=True):
        turn = await _get(client, cid, tid)
        assert turn["content"] == content
        assert turn["source_message_ids"] == [mid]
        assert _t(turn["valid_from"]) == _t(JAN)
    facts = await _all(client, cid, memory_type="semantic")
    assert [f["fact"] for f in facts] == [
        {"subject": "sam", "attribute": "lives_in", "value": "paris"}
    ]
    assert facts[0]["source_message_ids"] == ["m1"]
    assert (await _history(client, cid, facts[0]["id"]))[0]["reason"].startswith(
        "inferred from message m1: "
    )

    before = _counts(db_url)
    assert before[2] == 0  # the staged batch is gone
    await work_until_idle(db_url, app.state.runtime)
    assert _counts(db_url) == before

    # a retry after the job: the same turns, nothing inferred again
    retry = await _ingest(client, cid, batch)
    assert retry["turn_ids"] == out["turn_ids"] and retry["memories"] == []


async def test_a_retried_queued_batch_keeps_its_turn_ids(app, db_url, client, cube):
    """The same batch sent again while the first is still queued: the turn ids are final, so
    both replies must name the turns that end up stored."""
    cid = cube["id"]
    batch = [_msg("I live in Paris.", ts=JAN, mid="m1")]
    first = await _ingest(client, cid, batch, status=202, mode="async")
    second = await _ingest(client, cid, batch, status=202, mode="async")
    # a synchronous retry while it is queued would store the turn under another id
    before = _counts(db_url)
    r = await client.post(
        f"/v1/cubes/{cid}/messages",
        json={"messages": batch, "user_id": "u1", "session_id": "s1", "mode": "sync"},
    )
    error = _err(r, 409, "ingest_pending")
    assert error["details"]["turn_id"] == first["turn_ids"][0]
    assert _counts(db_url) == before
    await work_until_idle(db_url, app.state.runtime)
    for out in (first, second):
        job = (await client.get(f"/v1/jobs/{out['job_id']}")).json()
        assert job["status"] == "done", job
        for tid in out["turn_ids"]:
            r = await client.get(f"/v1/cubes/{cid}/memories/{tid}")
            assert r.status_code == 200, (tid, r.text)
    assert second["turn_ids"] == first["turn_ids"]
    assert len(await _all(client, cid, memory_type="semantic")) == 1


async def test_a_large_batch_is_queued(app, db_url, client, cube):
    cid = cube["id"]
    many = [
        _msg(f"Message number {i} about the weather.", ts=f"2026-01-11T10:{i:02d}:00+00:00")
        for i in range(51)
    ]
    out = await _ingest(client, cid, many, status=202)
    assert out["status"] == "queued" and out["job_id"]
    assert len(out["turn_ids"]) == 51 and len(out["message_ids"]) == 51
    await work_until_idle(db_url, app.state.runtime)
    assert (await client.get(f"/v1/jobs/{out['job_id']}")).json()["status"] == "done"
    turns = {t["id"]: t for t in await _all(client, cid, memory_type="episodic")}
    for i, tid in enumerate(out["turn_ids"]):
        assert turns[tid]["content"] == f"Sam: Message number {i} about the weather."

    # mode sync forces a large batch to be stored before the reply
    sync = await _ingest(client, cid, [{**m, "timestamp": FEB} for m in many], mode="sync")
    assert sync["status"] == "done" and len(sync["turns"]) == 51


# --- bad input --------------------------------------------------------------------------


async def test_bad_input_is_refused_and_nothing_is_written(
    app, db_url, admin, client, cube, tenant_client
):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/messages"
    good = _msg("I live in Paris.", mid="m1")
    before = _counts(db_url)
    cases: list[tuple[dict[str, Any], int, str | tuple[str, ...] | None]] = [
        ({"messages": []}, 422, "empty_batch"),
        # docs/api.md names invalid_role; the schema's own check answers first
        ({"messages": [{**good, "role": "narrator"}]}, 422, ("invalid_role", "invalid_request")),
        ({"messages": [{**good, "content": ""}]}, 422, "empty_content"),
        ({"messages": [{**good, "content": "   "}]}, 422, "empty_content"),
        ({"messages": [good, {**good, "content": "Hello."}]}, 422, "duplicate_message_id"),
        ({"messages": [{**good, "timestamp": "2026-01-10T10:00:00"}]}, 422, "invalid_request"),
        ({"messages": [{**good, "colour": "red"}]}, 422, "invalid_request"),
        ({"messages": [good], "colour": "red"}, 422, "invalid_request"),
        ({"messages": [good], "mode": "later"}, 422, "invalid_request"),
        ({"messages": [{**good, "message_id": ""}]}, 422, "invalid_request"),
        ({"messages": [{**good, "content": "x" * 63_999}]}, 413, "content_too_large"),
        ({"messages": [{**good, "content": "x" * 64_001}]}, 422, "invalid_request"),
        ({"messages": [good, {"role": "user"}]}, 422, "invalid_request"),
        ({"messages": "hello"}, 422, "invalid_request"),
        ({}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        for mode in ("auto", "async"):
            r = await client.post(url, json={**body, "mode": body.get("mode", mode)})
            _err(r, status, code)
            assert _counts(db_url) == before, body

    many = [_msg(f"message {i}") for i in range(1001)]
    r = await client.post(url, json={"messages": many})
    assert 400 <= r.status_code < 500
    _err(r, 413, "batch_too_large")
    assert _counts(db_url) == before

    # another tenant's cube, an unknown cube, a read-only key
    stranger = await tenant_client()
    _err(await stranger.post(url, json={"messages": [good]}), 404, "cube_not_found")
    _err(
        await stranger.post(url, json={"messages": [good], "mode": "async"}), 404, "cube_not_found"
    )
    _err(
        await client.post(f"/v1/cubes/{uuid.uuid4()}/messages", json={"messages": [good]}),
        404,
        "cube_not_found",
    )
    reader = await _key_client(app, admin, client.tenant_id, ["read"])
    async with reader:
        _err(await reader.post(url, json={"messages": [good]}), 403, "missing_scope")
        _err(await reader.post(url, json={"messages": [good], "mode": "async"}), 403)
    assert _counts(db_url) == before

    # the good message alone is taken
    out = await _ingest(client, cid, [good])
    assert out["status"] == "done"
    assert _counts(db_url) != before


@pytest.mark.parametrize("infer", [True, False])
async def test_a_message_without_a_timestamp_is_dated_when_stored(client, cube, infer):
    cid = cube["id"]
    out = await _ingest(client, cid, [_msg("I live in Paris.", ts=None)], infer=infer)
    turn = out["turns"][0]
    created = _t(turn["created_at"])
    assert abs((_t(turn["occurred_at"]) - created).total_seconds()) < 60
    if infer:
        fact = _one(out, "semantic")["memory"]
        assert fact["valid_from"] is not None
        assert abs((_t(fact["valid_from"]) - created).total_seconds()) < 60
