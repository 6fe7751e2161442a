"""TiM thoughts, MIRIX core blocks and the active context, through the REST API, on the
deterministic path (no LLM) and real embeddings."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx
import psycopg

from memsvc.algorithms.context_pack import estimate_tokens
from memsvc.store.db import libpq_url
from tests.api.memory_http import get_memory as _get
from tests.api.memory_http import history as _history
from tests.api.memory_http import lineage as _lineage
from workers.runner import work_until_idle

# --- helpers ------------------------------------------------------------------------------


async def _think(client: httpx.AsyncClient, cube_id: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/cubes/{cube_id}/thoughts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _counts(db_url: str) -> tuple[int, int, int]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_versions),"
            " (SELECT count(*) FROM procrastinate_jobs)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    assert body["error"]["code"] == code, body
    return body["error"]


# --- 5. TiM thoughts ----------------------------------------------------------------------


async def test_a_thought_is_a_semantic_memory_with_its_triple(app, db_url, client, cube):
    cid = cube["id"]
    body = await _think(
        client, cid, question="Where does Tom live?", answer="Tom lives in Paris.", user_id="u1"
    )
    assert body["made_by"] == "fallback"
    assert body["archived"] == [] and body["merged"] == []
    [thought] = body["thoughts"]
    assert thought["memory_type"] == "semantic"
    assert thought["origin"] == "thought"
    assert thought["user_id"] == "u1"
    assert thought["content"] == "Tom lives in Paris"
    fields = thought["fields"]
    assert (fields["name"], fields["relation"], fields["tail"]) == ("Tom", "lives in", "Paris")
    assert "Where does Tom live?" in fields["details"]
    stored = await _get(client, cid, thought["id"])
    assert stored["origin"] == "thought" and stored["status"] == "pending"
    await work_until_idle(db_url, app.state.runtime)
    assert (await _get(client, cid, thought["id"]))["status"] == "active"


async def test_a_contradicting_answer_forgets_the_old_thought(app, db_url, client, cube):
    cid = cube["id"]
    [paris] = (
        await _think(
            client, cid, question="Where does Tom live?", answer="Tom lives in Paris.", user_id="u1"
        )
    )["thoughts"]
    body = await _think(
        client,
        cid,
        question="Where does Tom live now?",
        answer="Tom moved; Tom lives in Berlin.",
        user_id="u1",
    )
    [berlin] = body["thoughts"]
    assert berlin["fields"]["tail"] == "Berlin" and berlin["id"] != paris["id"]
    [archived] = body["archived"]
    assert archived["memory"]["id"] == paris["id"]
    assert archived["memory"]["status"] == "archived"
    assert "Tom lives in Berlin" in archived["reason"]
    assert (await _get(client, cid, paris["id"]))["status"] == "archived"
    last = (await _history(client, cid, paris["id"]))[-1]
    assert last["change_kind"] == "forgetting"
    assert last["actor"] == "tim"
    assert last["reason"] == archived["reason"]
    assert last["changed_fields"] == ["status"]

    # recall hands out the current thought, not the forgotten one, and reinforces it
    r = await client.post(
        f"/v1/cubes/{cid}/thoughts/recall", json={"query": "Where does Tom live?", "user_id": "u1"}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [h["memory"]["id"] for h in results] == [berlin["id"]]
    assert 0.0 < results[0]["score"] <= 1.0
    after = await _get(client, cid, berlin["id"])
    assert after["strength"] == 2.0 and after["recall_count"] == 1
    assert (await _get(client, cid, paris["id"]))["strength"] == 1.0
    # another user's thoughts are not handed out
    r = await client.post(
        f"/v1/cubes/{cid}/thoughts/recall", json={"query": "Where does Tom live?", "user_id": "u2"}
    )
    assert r.json()["results"] == []


async def test_near_duplicate_thoughts_are_merged(app, db_url, client, cube):
    cid = cube["id"]
    question = "What does Bob drink?"
    [first] = (await _think(client, cid, question=question, answer="Bob drinks green tea."))[
        "thoughts"
    ]
    # The same triple (Bob, drinks, green tea), cosine about 0.93: under the dedup threshold
    # (0.95), over the merge one (0.92), and in the same LSH bucket.
    body = await _think(
        client, cid, question=question, answer="Bob drinks green tea in the morning."
    )
    assert body["archived"] == []
    [merged] = body["merged"]
    survivor = merged["memory"]
    assert survivor["id"] == first["id"]  # the oldest keeps its id...
    assert survivor["content"] == "Bob drinks green tea in the morning"  # ...takes the newest text
    assert survivor["fields"]["name"] == "Bob" and survivor["fields"]["tail"] == "green tea"
    assert survivor["status"] in ("active", "pending")
    [folded] = merged["merged_ids"]
    assert folded != first["id"]
    # the new thought was folded into the old one: the response gives the thought it became
    assert [t["id"] for t in body["thoughts"]] == [first["id"]]
    assert body["thoughts"][0]["content"] == "Bob drinks green tea in the morning"

    gone = await _get(client, cid, folded)
    assert gone["status"] == "merged"
    assert gone["content"] == "Bob drinks green tea in the morning"
    assert (await _lineage(client, cid, first["id"]))["sources"] == [
        {"memory_id": folded, "relation": "merged"}
    ]
    assert (await _lineage(client, cid, folded))["derived"] == [
        {"memory_id": first["id"], "relation": "merged"}
    ]
    survivor_last = (await _history(client, cid, first["id"]))[-1]
    assert survivor_last["change_kind"] == "merge"
    assert survivor_last["actor"] == "tim"
    assert "content" in survivor_last["changed_fields"]
    assert survivor_last["snapshot"]["content"] == "Bob drinks green tea in the morning"
    gone_last = (await _history(client, cid, folded))[-1]
    assert gone_last["change_kind"] == "merge"
    assert gone_last["changed_fields"] == ["status"]
    assert gone_last["reason"] == f"merged into {first['id']}"

    # the same thought once more is a repeat of the survivor: reinforced, nothing new stored
    before = _counts(db_url)[0]
    again = await _think(
        client, cid, question=question, answer="Bob drinks green tea in the morning."
    )
    assert [t["id"] for t in again["thoughts"]] == [first["id"]]
    assert again["thoughts"][0]["strength"] == 2.0
    assert again["merged"] == [] and again["archived"] == []
    assert _counts(db_url)[0] == before

    # the consolidation pass finds nothing more to merge or forget
    await work_until_idle(db_url, app.state.runtime)
    versions = len(await _history(client, cid, first["id"]))
    r = await client.post(f"/v1/cubes/{cid}/consolidate", json={"kinds": ["thoughts"]})
    assert r.status_code == 202
    await work_until_idle(db_url, app.state.runtime)
    assert (await client.get(f"/v1/jobs/{r.json()['job_id']}")).json()["status"] == "done"
    assert (await _get(client, cid, first["id"]))["status"] == "active"
    assert len(await _history(client, cid, first["id"])) == versions
    assert (await _get(client, cid, folded))["status"] == "merged"


async def test_thoughts_from_messages(app, db_url, client, cube):
    cid = cube["id"]
    body = await _think(
        client,
        cid,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Where does Bob work?"},
            {"role": "assistant", "content": "Bob works at Acme."},
            {"role": "user", "content": "What does Bob drink?"},
            {"role": "assistant", "content": "Bob drinks green tea."},
        ],
        session_id="chat-1",
    )
    triples = {
        (t["fields"]["name"], t["fields"]["relation"], t["fields"]["tail"])
        for t in body["thoughts"]
    }
    assert triples == {("Bob", "works at", "Acme"), ("Bob", "drinks", "green tea")}
    assert {t["session_id"] for t in body["thoughts"]} == {"chat-1"}
    assert {t["origin"] for t in body["thoughts"]} == {"thought"}


async def test_bad_thought_bodies_write_nothing(app, db_url, client, cube):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/thoughts"
    pair = [
        {"role": "user", "content": "Where does Tom live?"},
        {"role": "assistant", "content": "Paris."},
    ]
    before = _counts(db_url)
    cases: list[tuple[Any, str]] = [
        ({"question": "Where?", "answer": "Paris.", "messages": pair}, "invalid_request"),
        ({"question": "Where?", "messages": pair}, "invalid_request"),
        ({}, "empty_batch"),
        ({"question": "Where does Tom live?"}, "empty_batch"),
        ({"answer": "Paris."}, "empty_batch"),
        ({"question": "", "answer": "Paris."}, "empty_content"),
        ({"question": "Where?", "answer": "   "}, "empty_content"),
        ({"messages": []}, "empty_batch"),
        ({"messages": [pair[0]]}, "empty_batch"),
        ({"messages": [pair[1], pair[0]]}, "empty_batch"),
        ({"messages": [pair[0], {"role": "assistant", "content": ""}]}, "empty_content"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "invalid_request"),
        ({"question": "Where?", "answer": "Paris.", "colour": "red"}, "invalid_request"),
        ({"question": "Where?", "answer": "x" * 16_001}, "invalid_request"),
    ]
    for body, code in cases:
        _err(await client.post(url, json=body), 422, code)
    r = await client.post(f"/v1/cubes/{cid}/thoughts/recall", json={"query": "  "})
    _err(r, 422, "empty_query")
    assert _counts(db_url) == before


# --- 6. MIRIX core blocks -----------------------------------------------------------------


def _sentences(n: int, seed: int) -> list[str]:
    """n distinct sentences of made-up words (no two near duplicates)."""
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))

    return [f"{word().capitalize()} {' '.join(word() for _ in range(7))}." for _ in range(n)]


async def test_core_block_create_rewrite_append(app, db_url, client, cube):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/core/human"
    r = await client.put(url, json={"value": "Name: Dana.", "user_id": "u1"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] is True and out["condensed"] is False
    block = out["block"]
    assert block["memory_type"] == "core" and block["fields"]["label"] == "human"
    assert block["user_id"] == "u1" and block["version"] == 1
    bid = block["id"]

    r = await client.put(url, json={"value": "Name: Dana. Lives in Lisbon.", "user_id": "u1"})
    assert r.status_code == 200, r.text
    assert r.json()["created"] is False
    assert r.json()["block"]["id"] == bid
    assert r.json()["block"]["version"] == 2
    assert r.json()["block"]["content"] == "Name: Dana. Lives in Lisbon."

    r = await client.post(f"{url}/append", json={"content": "Prefers tea.", "user_id": "u1"})
    assert r.status_code == 200, r.text
    assert r.json()["block"]["content"] == "Name: Dana. Lives in Lisbon.\nPrefers tea."
    assert r.json()["block"]["version"] == 3 and r.json()["block"]["id"] == bid
    # appending what the block already says changes nothing
    r = await client.post(f"{url}/append", json={"content": "prefers tea", "user_id": "u1"})
    assert r.status_code == 200 and r.json()["block"]["version"] == 3
    history = await _history(client, cid, bid)
    assert [v["change_kind"] for v in history if v["actor"] != "enrichment"] == [
        "create",
        "user_update",
        "user_update",
    ]
    assert [v["snapshot"]["content"] for v in history if v["actor"] != "enrichment"][-1] == (
        "Name: Dana. Lives in Lisbon.\nPrefers tea."
    )
    # append to a missing block creates it
    r = await client.post(
        f"/v1/cubes/{cid}/core/persona/append", json={"content": "Be concise.", "user_id": "u1"}
    )
    assert r.status_code == 201 and r.json()["created"] is True
    assert r.json()["block"]["fields"]["label"] == "persona"


async def test_a_rewritten_core_block_gets_a_new_note(app, db_url, client, cube):
    """Like a PATCH of the content, a rewrite of a block must rebuild its note (keywords,
    tags), links and graph facts: the old ones describe a text that is gone."""
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/core/human"
    r = await client.put(url, json={"value": "Dana is a marine biologist who studies reefs."})
    assert r.status_code == 201, r.text
    bid = r.json()["block"]["id"]
    await work_until_idle(db_url, app.state.runtime)
    before = await _get(client, cid, bid)
    assert any("biologist" in k for k in before["keywords"]), before["keywords"]

    r = await client.put(url, json={"value": "Eli is an airline pilot flying jets to Tokyo."})
    assert r.status_code == 200, r.text
    await work_until_idle(db_url, app.state.runtime)
    after = await _get(client, cid, bid)
    kinds = [v["change_kind"] for v in await _history(client, cid, bid)]
    assert not any("biologist" in k for k in after["keywords"]), (after["keywords"], kinds)
    assert any(w in k for k in after["keywords"] for w in ("pilot", "tokyo", "eli")), (
        after["keywords"],
        kinds,
    )


async def test_an_append_to_a_full_block_condenses_it(app, db_url, client, cube):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/core/human"
    sentences = _sentences(120, seed=7)
    value, rest = "", list(sentences)
    while len(value) + len(rest[0]) + 1 < 4300:
        value = f"{value} {rest.pop(0)}".strip()
    r = await client.put(url, json={"value": value})
    assert r.status_code == 201 and r.json()["condensed"] is False
    bid = r.json()["block"]["id"]

    addition = " ".join(rest[:4])
    assert len(value) + 1 + len(addition) >= 0.9 * 5000
    r = await client.post(f"{url}/append", json={"content": addition})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["condensed"] is True
    content = out["block"]["content"]
    assert 0 < len(content) <= 2500
    assert rest[3] in content  # the newest fact is kept
    assert out["block"]["id"] == bid
    last = (await _history(client, cid, bid))[-1]
    assert last["change_kind"] == "consolidation"
    assert "condensed" in last["reason"]
    assert last["snapshot"]["content"] == content


async def test_core_block_limits_and_conflicts(app, db_url, client, cube):
    cid = cube["id"]
    r = await client.put(f"/v1/cubes/{cid}/core/human", json={"value": "Dana.", "user_id": "u1"})
    assert r.status_code == 201
    bid = r.json()["block"]["id"]
    before = _counts(db_url)

    too_long = "x" * 5001
    _err(
        await client.put(f"/v1/cubes/{cid}/core/human", json={"value": too_long}),
        413,
        "core_block_too_large",
    )
    _err(
        await client.post(f"/v1/cubes/{cid}/core/human/append", json={"content": too_long}),
        413,
        "core_block_too_large",
    )
    _err(
        await client.put(f"/v1/cubes/{cid}/core/villain", json={"value": "Dana."}),
        422,
        "invalid_label",
    )
    _err(
        await client.put(f"/v1/cubes/{cid}/core/human", json={"value": "  "}), 422, "empty_content"
    )
    block_item = {
        "content": "Dana is a marine biologist.",
        "memory_type": "core",
        "fields": {"label": "human"},
        "user_id": "u1",
    }
    err = _err(
        await client.post(
            f"/v1/cubes/{cid}/memories",
            json={"items": [{"content": "An unrelated note."}, block_item]},
        ),
        409,
        "core_block_exists",
    )
    assert err["details"]["memory_id"] == bid
    _err(
        await client.post(
            f"/v1/cubes/{cid}/memories",
            json={"items": [{**block_item, "user_id": "u2"}, {**block_item, "user_id": "u2"}]},
        ),
        409,
        "core_block_exists",
    )
    _err(
        await client.post(
            f"/v1/cubes/{cid}/memories",
            json={"items": [{**block_item, "user_id": "u3", "content": too_long}]},
        ),
        413,
        "core_block_too_large",
    )
    _err(
        await client.post(
            f"/v1/cubes/{cid}/memories",
            json={"items": [{**block_item, "fields": {"label": "villain"}}]},
        ),
        422,
        "invalid_fields",
    )
    assert _counts(db_url) == before
    # another user's block is another block
    r = await client.post(
        f"/v1/cubes/{cid}/memories", json={"items": [{**block_item, "user_id": "u2"}]}
    )
    assert r.status_code == 201, r.text


async def test_core_listing_is_per_user_plus_cube_wide(app, db_url, client, cube):
    cid = cube["id"]
    for label, user, value in (
        ("human", "u1", "Dana is a marine biologist."),
        ("human", "u2", "Eli is a pilot."),
        ("persona", None, "The assistant is concise."),
    ):
        body: dict[str, Any] = {"value": value}
        if user:
            body["user_id"] = user
        r = await client.put(f"/v1/cubes/{cid}/core/{label}", json=body)
        assert r.status_code == 201, r.text
    r = await client.get(f"/v1/cubes/{cid}/core", params={"user_id": "u1"})
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()["items"]] == [
        "Dana is a marine biologist.",
        "The assistant is concise.",
    ]
    r = await client.get(f"/v1/cubes/{cid}/core")
    assert [m["content"] for m in r.json()["items"]] == ["The assistant is concise."]
    r = await client.get(f"/v1/cubes/{cid}/core", params={"user_id": "nobody"})
    assert [m["content"] for m in r.json()["items"]] == ["The assistant is concise."]


# --- 8. active context --------------------------------------------------------------------

CORE_TEXT = "The user is Dana, a marine biologist who lives in Lisbon."
HIGH_SECRET = "P77341-PASSPORT-SECRET"
LOW_SECRET = "4242-LOCKER-SECRET"


async def _context_cube(client: httpx.AsyncClient, cube_id: str) -> dict[str, str]:
    r = await client.put(
        f"/v1/cubes/{cube_id}/core/human", json={"value": CORE_TEXT, "user_id": "u1"}
    )
    assert r.status_code == 201, r.text
    items = [
        {"content": "Dana went scuba diving at the Berlengas islands last Sunday."},
        {"content": "Dana saw an octopus hiding under a rock while diving."},
        {"content": "Dana's lab studies coral bleaching in the Atlantic."},
        {"content": "Dana bought a new underwater camera for her dives."},
        {"content": "Dana's favourite dessert is pastel de nata."},
        {
            "content": "Passport number of Dana for dive trip bookings",
            "memory_type": "knowledge_vault",
            "fields": {
                "caption": "Passport number of Dana for dive trip bookings",
                "sensitivity": "high",
                "secret_value": HIGH_SECRET,
            },
        },
        {
            "content": "Locker combination at Dana's dive club",
            "memory_type": "knowledge_vault",
            "fields": {
                "caption": "Locker combination at Dana's dive club",
                "sensitivity": "low",
                "secret_value": LOW_SECRET,
            },
        },
    ]
    r = await client.post(
        f"/v1/cubes/{cube_id}/memories",
        json={"items": [{**it, "user_id": "u1"} for it in items]},
    )
    assert r.status_code == 201, r.text
    ids = [m["id"] for m in r.json()["items"]]
    return {"diving": ids[0], "octopus": ids[1], "high": ids[5], "low": ids[6]}


async def test_context_puts_core_first_and_keeps_secrets_out(app, db_url, client, cube):
    cid = cube["id"]
    ids = await _context_cube(client, cid)
    url = f"/v1/cubes/{cid}/context"
    r = await client.post(
        url,
        json={"query": "Where did Dana go diving?", "budget_tokens": 2000, "user_id": "u1"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    text = out["context"]
    assert out["budget_tokens"] == 2000
    assert out["tokens"] == estimate_tokens(text) <= 2000
    assert out["items"][0]["memory_type"] == "core"
    assert CORE_TEXT in text
    assert "Berlengas" in text and "octopus" in text
    assert text.index(CORE_TEXT) < text.index("Berlengas")
    included = [i["memory_id"] for i in out["items"]]
    assert ids["diving"] in included
    assert ids["high"] not in included
    assert "Passport number" not in text
    assert "Locker combination" in text  # a low-sensitivity caption may be shown
    assert HIGH_SECRET not in r.text and LOW_SECRET not in r.text
    assert out["truncated"] is False and out["omitted"] == 0
    # what went into the context counts as recalled (the core block does not)
    assert (await _get(client, cid, ids["diving"]))["recall_count"] == 1

    for budget in (20, 100, 2000):
        r = await client.post(
            url, json={"query": "Dana diving octopus", "budget_tokens": budget, "user_id": "u1"}
        )
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["tokens"] == estimate_tokens(out["context"]) <= budget, (budget, out)
        assert HIGH_SECRET not in r.text and LOW_SECRET not in r.text
        if budget == 20:
            assert out["truncated"] or out["omitted"] > 0
            assert len(out["context"]) < len(CORE_TEXT) + 200
        if budget >= 100:
            assert CORE_TEXT in out["context"]

    r = await client.post(
        url,
        json={
            "messages": [
                {"role": "user", "content": "I had a great dive last weekend."},
                {"role": "assistant", "content": "Nice! What did you see?"},
                {"role": "user", "content": "An octopus hiding under a rock!"},
            ],
            "user_id": "u1",
        },
    )
    assert r.status_code == 200, r.text
    assert "octopus" in r.json()["context"] and CORE_TEXT in r.json()["context"]


async def test_bad_context_requests(app, db_url, client, cube):
    cid = cube["id"]
    url = f"/v1/cubes/{cid}/context"
    for body, code in (
        ({}, "empty_query"),
        ({"query": "   "}, "empty_query"),
        ({"messages": []}, "empty_query"),
        ({"messages": [{"role": "user", "content": "  "}]}, "empty_query"),
        ({"query": "diving", "budget_tokens": 0}, "invalid_request"),
        ({"query": "diving", "budget_tokens": 200_001}, "invalid_request"),
    ):
        _err(await client.post(url, json=body), 422, code)
