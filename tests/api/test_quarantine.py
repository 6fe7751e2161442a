"""Memory-poisoning defense over REST, on the deterministic path (no LLM): trust levels from
provenance and the key, consensus validation on add, ingestion and PATCH, quarantine out of
search and listings, the admin's review (list, release, reject), the interplay with the
update rules (a less trusted fact never supersedes a more trusted one), history, isolation and
bad input."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.memory_http import get_memory as _get
from tests.api.memory_http import history as _history
from tests.api.memory_http import key_client

JAN = "2026-01-10T10:00:00+00:00"
FEB = "2026-02-10T10:00:00+00:00"
MAR = "2026-03-10T10:00:00+00:00"
APR = "2026-04-10T10:00:00+00:00"


# --- helpers ------------------------------------------------------------------------------


async def _say(
    client: httpx.AsyncClient, cid: str, *messages: tuple[str, str, str], **body: Any
) -> dict[str, Any]:
    """POST /messages: (role, content, timestamp) each, user u1, session s1."""
    r = await client.post(
        f"/v1/cubes/{cid}/messages",
        json={
            "user_id": "u1",
            "session_id": "s1",
            "messages": [
                {"role": role, "content": text, "timestamp": ts, "message_id": uuid.uuid4().hex}
                for role, text, ts in messages
            ],
            **body,
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _infer(
    client: httpx.AsyncClient, cid: str, content: str, ts: str, **item: Any
) -> dict[str, Any]:
    """POST /memories with infer: the item read as a statement, with its provenance."""
    r = await client.post(
        f"/v1/cubes/{cid}/memories",
        json={
            "infer": True,
            "items": [{"content": content, "user_id": "u1", "occurred_at": ts, **item}],
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _add(
    client: httpx.AsyncClient, cid: str, *items: dict[str, Any], **body: Any
) -> list[dict[str, Any]]:
    r = await client.post(f"/v1/cubes/{cid}/memories", json={"items": list(items), **body})
    assert r.status_code == 201, r.text
    return list(r.json()["items"])


async def _search(client: httpx.AsyncClient, cid: str, query: str, **body: Any) -> list[str]:
    r = await client.post(f"/v1/cubes/{cid}/search", json={"query": query, "top_k": 50, **body})
    assert r.status_code == 200, r.text
    return [h["memory"]["id"] for h in r.json()["results"]]


async def _ids(client: httpx.AsyncClient, cid: str, **params: Any) -> list[str]:
    r = await client.get(f"/v1/cubes/{cid}/memories", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["items"]]


async def _queue(admin: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await admin.get("/v1/admin/quarantine", params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _fact(out: dict[str, Any], key: str = "memories") -> dict[str, Any]:
    [fact] = [i for i in out[key] if i["memory"]["memory_type"] == "semantic"]
    return fact


async def _london_twice(client: httpx.AsyncClient, cid: str) -> dict[str, Any]:
    """The user says where they live, then says it again: one fact, two statements."""
    first = await _say(client, cid, ("user", "I live in London.", JAN))
    again = await _say(client, cid, ("user", "I live in London.", FEB))
    assert _fact(first)["decision"] == "add"
    assert _fact(again)["decision"] == "reinforce"
    london = _fact(again)["memory"]
    assert london["trust"] == 2 and london["fact"]["attribute"] == "lives_in"
    assert len(london["source_message_ids"]) == 2
    return dict(london)


# --- trust --------------------------------------------------------------------------------


async def test_trust_comes_from_provenance_within_the_key_level(client, cube, tenant_client):
    cid = cube["id"]
    out = await _say(
        client,
        cid,
        ("user", "Hello there, how are you?", JAN),
        ("assistant", "I am well, thank you for asking.", JAN),
        ("tool", "Search results: three pages found.", JAN),
        ("system", "Be concise.", JAN),
        infer=False,
    )
    # A system message sent with an ordinary key is a user statement.
    assert [t["trust"] for t in out["turns"]] == [2, 1, 0, 2]
    capped = await _say(client, cid, ("user", "Imported transcript line.", FEB), max_trust=0)
    assert capped["turns"][0]["trust"] == 0

    items = await _add(
        client,
        cid,
        {"content": "The agent thinks it will rain"},
        {"content": "Page says the museum opens at nine", "source": "web:https://example.org"},
        {"content": "The user prefers tea", "source": "user"},
        {"content": "Answer in English", "source": "system"},
        {"content": "Be polite", "memory_type": "core", "fields": {"label": "persona"}},
        {"content": "Explicitly trusted as external", "source": "user", "trust": 0},
    )
    assert [i["trust"] for i in items] == [1, 0, 2, 2, 2, 0]

    # Asking for more than the key may write is refused, whatever the path.
    for r in (
        await client.post(
            f"/v1/cubes/{cid}/memories", json={"items": [{"content": "x", "trust": 3}]}
        ),
        await client.post(
            f"/v1/cubes/{cid}/messages",
            json={"messages": [{"role": "user", "content": "x"}], "max_trust": 3},
        ),
        await client.patch(f"/v1/cubes/{cid}/memories/{items[0]['id']}", json={"trust": 3}),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "trust_not_allowed"

    # A key with the admin scope writes system-level memories.
    operator = await tenant_client(scopes=("read", "write", "admin"))
    own = (await operator.post("/v1/cubes", json={"name": "ops"})).json()["id"]
    system = await _add(
        operator,
        own,
        {"content": "Answer in English", "source": "system"},
        {"content": "Be brief", "memory_type": "core", "fields": {"label": "persona"}},
        {"content": "Set explicitly", "trust": 3},
    )
    assert [i["trust"] for i in system] == [3, 3, 3]

    # Filters: listing and search by trust.
    assert set(await _ids(client, cid, min_trust=2)) == {
        *(t["id"] for t in out["turns"] if t["trust"] >= 2),
        items[2]["id"],
        items[3]["id"],
        items[4]["id"],
    }
    hits = await _search(client, cid, "museum opens at nine", filters={"min_trust": 1})
    assert items[1]["id"] not in hits
    assert items[1]["id"] in await _search(client, cid, "museum opens at nine")


# --- quarantine of inferred facts ---------------------------------------------------------


async def test_tool_fact_against_a_confirmed_user_fact_is_quarantined(app, admin, client, cube):
    cid = cube["id"]
    london = await _london_twice(client, cid)

    out = await _infer(client, cid, "I live in Paris.", MAR, source="tool:web_search")
    paris = _fact(out, "inferred")
    assert paris["decision"] == "quarantine"
    assert paris["memory"]["status"] == "quarantined" and paris["memory"]["trust"] == 0
    assert london["id"] in paris["reason"] and "user, 2 statement(s)" in paris["reason"]
    # The statement that carried it goes with it.
    [item] = out["items"]
    assert item["status"] == "quarantined" and item["trust"] == 0
    # The user's fact is untouched: still current.
    assert (await _get(client, cid, london["id"]))["valid_to"] is None

    # Out of search and of the default listing; listed on request; readable by id.
    hits = await _search(client, cid, "Where does the user live? Paris or London?")
    assert london["id"] in hits
    assert paris["memory"]["id"] not in hits and item["id"] not in hits
    assert paris["memory"]["id"] not in await _ids(client, cid)
    assert set(await _ids(client, cid, status="quarantined")) == {
        paris["memory"]["id"],
        item["id"],
    }
    ctx = await client.post(
        f"/v1/cubes/{cid}/context", json={"query": "Where does the user live?", "user_id": "u1"}
    )
    assert "Paris" not in ctx.json()["context"]

    # Every change is in the history, with the reason.
    versions = await _history(client, cid, paris["memory"]["id"])
    assert [v["change_kind"] for v in versions] == ["create", "quarantine"]
    assert london["id"] in versions[1]["reason"]
    assert versions[1]["snapshot"]["status"] == "quarantined"
    assert versions[1]["snapshot"]["trust"] == 0

    # The admin sees both, with the reason and the memories they contradict.
    queue = await _queue(admin, tenant_id=client.tenant_id, cube_id=cid)
    assert {q["memory"]["id"] for q in queue} == {paris["memory"]["id"], item["id"]}
    entry = next(q for q in queue if q["memory"]["id"] == paris["memory"]["id"])
    assert entry["contradicted_ids"] == [london["id"]]
    assert entry["conflicts"][0]["trust"] == 2 and entry["conflicts"][0]["statements"] == 2
    assert entry["conflicts"][0]["content"] == london["content"]
    assert entry["trust"] == 0 and entry["judged_by"] == "rules"
    assert entry["tenant_id"] == client.tenant_id and entry["cube_id"] == cid
    assert entry["resolution"] is None

    # Release: active again, in search, out of the queue.
    r = await admin.post(
        f"/v1/admin/quarantine/{paris['memory']['id']}/release", json={"note": "checked"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == "released" and r.json()["resolved_by"] == "admin"
    assert r.json()["memory"]["status"] == "active"
    versions = await _history(client, cid, paris["memory"]["id"])
    assert [v["change_kind"] for v in versions] == ["create", "quarantine", "release"]
    assert versions[-1]["reason"] == "released from quarantine by admin: checked"
    assert paris["memory"]["id"] in await _search(client, cid, "Does the user live in Paris?")
    assert [q["memory"]["id"] for q in await _queue(admin, cube_id=cid)] == [item["id"]]
    again = await admin.post(f"/v1/admin/quarantine/{paris['memory']['id']}/release")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_quarantined"

    # Reject: soft-deleted; its owner's restore brings it back into quarantine, not into use.
    r = await admin.post(f"/v1/admin/quarantine/{item['id']}/reject")
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == "rejected" and r.json()["memory"]["status"] == "deleted"
    assert await _queue(admin, cube_id=cid) == []
    restored = await client.post(f"/v1/cubes/{cid}/memories/{item['id']}/restore")
    assert restored.status_code == 200 and restored.json()["status"] == "quarantined"
    assert [q["memory"]["id"] for q in await _queue(admin, cube_id=cid)] == [item["id"]]
    versions = await _history(client, cid, item["id"])
    assert [v["change_kind"] for v in versions] == ["create", "quarantine", "delete", "restore"]
    assert "restored into quarantine" in versions[-1]["reason"]
    # Nor can the owner lift it by PATCH.
    r = await client.patch(f"/v1/cubes/{cid}/memories/{item['id']}", json={"status": "active"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_status_change"


async def test_less_trusted_fact_without_consensus_is_stored_beside(client, cube):
    cid = cube["id"]
    first = await _say(client, cid, ("user", "I live in London.", JAN))
    london = _fact(first)["memory"]
    # One user statement is no consensus; but an agent's word does not end the user's fact.
    out = await _infer(client, cid, "I live in Paris.", MAR, source="assistant")
    paris = _fact(out, "inferred")
    assert paris["decision"] == "add" and paris["memory"]["status"] != "quarantined"
    assert paris["memory"]["trust"] == 1
    assert london["id"] in paris["reason"] and "more trusted" in paris["reason"]
    assert (await _get(client, cid, london["id"]))["valid_to"] is None
    assert [v["change_kind"] for v in await _history(client, cid, london["id"])] == ["create"]


async def test_equal_trust_contradiction_supersedes(client, cube):
    cid = cube["id"]
    rome = _fact(await _infer(client, cid, "I live in Rome.", JAN, source="agent"), "inferred")
    oslo = _fact(await _infer(client, cid, "I live in Oslo.", FEB, source="agent"), "inferred")
    assert rome["memory"]["trust"] == oslo["memory"]["trust"] == 1
    assert oslo["decision"] == "supersede" and oslo["previous_id"] == rome["memory"]["id"]
    assert oslo["memory"]["status"] != "quarantined"
    assert (await _get(client, cid, rome["memory"]["id"]))["valid_to"] is not None


async def test_more_trusted_contradiction_supersedes_and_updates(client, cube):
    cid = cube["id"]
    paris = _fact(await _infer(client, cid, "I live in Paris.", JAN, source="web"), "inferred")
    assert paris["memory"]["trust"] == 0 and paris["decision"] == "add"
    london = _fact(await _say(client, cid, ("user", "I live in London.", FEB)))
    assert london["decision"] == "supersede" and london["previous_id"] == paris["memory"]["id"]
    old = await _get(client, cid, paris["memory"]["id"])
    assert old["valid_to"] is not None and old["status"] != "quarantined"
    # A user statement refining the user's own fact updates it as before.
    refined = _fact(await _say(client, cid, ("user", "I live in London Camden.", MAR)))
    assert refined["decision"] == "inferred_update"
    assert refined["memory"]["id"] == london["memory"]["id"]
    # A less trusted refinement does not rewrite it: stored beside it.
    beside = _fact(
        await _infer(client, cid, "I live in London Camden Town.", APR, source="tool"),
        "inferred",
    )
    assert beside["decision"] == "add" and beside["memory"]["id"] != london["memory"]["id"]
    assert (await _get(client, cid, london["memory"]["id"]))["content"] == (
        refined["memory"]["content"]
    )


# --- quarantine of plain memories (the negation rule) -------------------------------------


async def test_negation_against_two_user_statements_or_one_system_memory(
    app, admin, client, cube, tenant_client
):
    cid = cube["id"]
    said = [
        {"content": "Maya is vegetarian", "source": "user", "user_id": "maya"},
        {"content": "Maya is vegetarian", "source": "user", "user_id": "maya"},
    ]
    # One user statement: an agent may still disagree (stored, active).
    [one] = await _add(client, cid, said[0])
    [doubt] = await _add(client, cid, {"content": "Maya is not vegetarian", "user_id": "maya"})
    assert doubt["status"] != "quarantined"
    # The near-duplicate check does not take a negation for a repeat.
    assert doubt["id"] != one["id"]
    # A second user statement makes a consensus; another user's memories never count.
    await _add(client, cid, said[1], deduplicate=False)
    [other] = await _add(client, cid, {"content": "Maya isn't vegetarian", "user_id": "bob"})
    assert other["status"] != "quarantined"
    # (Without dedup: it would repeat, and reinforce, the agent's earlier doubt.)
    [poison] = await _add(
        client, cid, {"content": "Maya isn't vegetarian", "user_id": "maya"}, deduplicate=False
    )
    assert poison["status"] == "quarantined"
    entry = next(q for q in await _queue(admin, cube_id=cid) if q["memory"]["id"] == poison["id"])
    assert len(entry["contradicted_ids"]) == 2 and one["id"] in entry["contradicted_ids"]

    # One system-level memory is a consensus on its own.
    operator = await key_client(app, admin, client.tenant_id, ["read", "write", "admin"])
    async with operator:
        [rule] = await _add(
            operator, cid, {"content": "Sam is allergic to peanuts", "source": "system"}
        )
        assert rule["trust"] == 3
        [claim] = await _add(
            client, cid, {"content": "Sam is not allergic to peanuts", "source": "user"}
        )
        assert claim["status"] == "quarantined" and claim["trust"] == 2
        versions = await _history(client, cid, claim["id"])
        assert [v["change_kind"] for v in versions] == ["create", "quarantine"]
        assert rule["id"] in versions[1]["reason"] and "system" in versions[1]["reason"]
        # A tenant key with the admin scope reviews its own tenant's quarantine.
        mine = await operator.get("/v1/admin/quarantine", params={"cube_id": cid})
        assert mine.status_code == 200
        assert {q["memory"]["id"] for q in mine.json()["items"]} == {poison["id"], claim["id"]}
        r = await operator.post(f"/v1/admin/quarantine/{claim['id']}/reject", json={})
        assert r.status_code == 200 and r.json()["resolved_by"].startswith("key:")


async def test_patch_into_a_contradiction_is_quarantined(app, admin, client, cube):
    cid = cube["id"]
    operator = await key_client(app, admin, client.tenant_id, ["read", "write", "admin"])
    async with operator:
        [rule] = await _add(operator, cid, {"content": "Sam likes jazz", "source": "system"})
    [note] = await _add(client, cid, {"content": "Sam likes the blues"})
    r = await client.patch(
        f"/v1/cubes/{cid}/memories/{note['id']}", json={"content": "Sam doesn't like jazz"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "quarantined"
    versions = await _history(client, cid, note["id"])
    assert [v["change_kind"] for v in versions] == ["create", "user_update", "quarantine"]
    assert rule["id"] in versions[-1]["reason"]
    # An edit by a lower key lowers a memory's trust to that key's level.
    r = await client.patch(
        f"/v1/cubes/{cid}/memories/{rule['id']}", json={"content": "Sam likes jazz a lot"}
    )
    assert r.status_code == 200 and r.json()["trust"] == 2
    # Lowering by hand is allowed; a no-op trust writes no version.
    r = await client.patch(f"/v1/cubes/{cid}/memories/{rule['id']}", json={"trust": 1})
    assert r.status_code == 200 and r.json()["trust"] == 1
    versions = await _history(client, cid, rule["id"])
    assert versions[-1]["changed_fields"] == ["trust"]


async def test_queued_ingestion_keeps_the_trust_of_each_role(app, db_url, client, cube):
    from workers.runner import work_until_idle

    cid = cube["id"]
    r = await client.post(
        f"/v1/cubes/{cid}/messages",
        json={
            "mode": "async",
            "user_id": "u1",
            "messages": [
                {"role": "user", "content": "Good morning"},
                {"role": "tool", "content": "Weather: sunny"},
            ],
        },
    )
    assert r.status_code == 202, r.text
    await work_until_idle(db_url, app.state.runtime)
    turns = [await _get(client, cid, t) for t in r.json()["turn_ids"]]
    assert [t["trust"] for t in turns] == [2, 0]


# --- the admin endpoints: access and bad input --------------------------------------------


async def test_admin_quarantine_access_and_bad_input(app, admin, client, cube, tenant_client):
    cid = cube["id"]
    await _london_twice(client, cid)
    out = await _infer(client, cid, "I live in Paris.", MAR, source="tool")
    paris = _fact(out, "inferred")["memory"]

    # An ordinary key may not review the quarantine.
    for r in (
        await client.get("/v1/admin/quarantine"),
        await client.post(f"/v1/admin/quarantine/{paris['id']}/release"),
        await client.post(f"/v1/admin/quarantine/{paris['id']}/reject"),
    ):
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"

    # Another tenant's admin-scoped key sees nothing of this tenant.
    stranger = await tenant_client(scopes=("read", "write", "admin"))
    r = await stranger.get("/v1/admin/quarantine")
    assert r.status_code == 200 and r.json()["items"] == []
    r = await stranger.get("/v1/admin/quarantine", params={"tenant_id": client.tenant_id})
    assert r.status_code == 404 and r.json()["error"]["code"] == "tenant_not_found"
    for action in ("release", "reject"):
        r = await stranger.post(f"/v1/admin/quarantine/{paris['id']}/{action}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "memory_not_found"
    assert (await _get(client, cid, paris["id"]))["status"] == "quarantined"

    # The admin key filters by tenant and cube.
    assert len(await _queue(admin, tenant_id=client.tenant_id)) == 2
    assert await _queue(admin, tenant_id=stranger.tenant_id) == []
    assert await _queue(admin, cube_id=str(uuid.uuid4())) == []

    # Paging.
    r = await admin.get("/v1/admin/quarantine", params={"cube_id": cid, "limit": 1})
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    nxt = await admin.get(
        "/v1/admin/quarantine", params={"cube_id": cid, "cursor": r.json()["next_cursor"]}
    )
    assert len(nxt.json()["items"]) == 1 and nxt.json()["next_cursor"] is None
    assert nxt.json()["items"][0]["id"] != r.json()["items"][0]["id"]

    # Bad input.
    bad = [
        (await admin.get("/v1/admin/quarantine", params={"limit": 0}), 422),
        (await admin.get("/v1/admin/quarantine", params={"tenant_id": "nope"}), 422),
        (await admin.get("/v1/admin/quarantine", params={"cursor": "garbage"}), 400),
        (await admin.post("/v1/admin/quarantine/not-a-uuid/release"), 422),
        (await admin.post(f"/v1/admin/quarantine/{uuid.uuid4()}/release"), 404),
        (
            await admin.post(
                f"/v1/admin/quarantine/{paris['id']}/release", json={"note": "x" * 2001}
            ),
            422,
        ),
        (
            await admin.post(f"/v1/admin/quarantine/{paris['id']}/reject", json={"why": "x"}),
            422,
        ),
        (await admin.post(f"/v1/admin/quarantine/{paris['id']}/reject", json=[1]), 422),
    ]
    for response, status in bad:
        assert response.status_code == status, (response.request.url, response.text)
        assert "error" in response.json()
    # An active memory is not in quarantine.
    london = (await _ids(client, cid, memory_type="semantic"))[0]
    r = await admin.post(f"/v1/admin/quarantine/{london}/release")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_quarantined"
    # Nothing above changed the quarantined memory.
    assert (await _get(client, cid, paris["id"]))["status"] == "quarantined"

    # Deleted by its owner meanwhile: out of the queue until restored (into quarantine).
    assert (await client.delete(f"/v1/cubes/{cid}/memories/{paris['id']}")).status_code == 204
    assert paris["id"] not in {q["memory"]["id"] for q in await _queue(admin, cube_id=cid)}
    r = await admin.post(f"/v1/admin/quarantine/{paris['id']}/release")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_quarantined"
    r = await client.post(f"/v1/cubes/{cid}/memories/{paris['id']}/restore")
    assert r.status_code == 200 and r.json()["status"] == "quarantined"
    assert paris["id"] in {q["memory"]["id"] for q in await _queue(admin, cube_id=cid)}
