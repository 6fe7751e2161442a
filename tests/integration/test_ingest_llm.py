"""Conversation ingestion through the LLM path (litellm `mock_response`, no network) on real
PostgreSQL: the model's typed memories are mapped back to their messages and stored, relative
times are resolved against the message time, secrets never reach the model nor come back from
it, usage is recorded, and a malformed reply falls back to the deterministic extractor."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from api.main import create_app
from memsvc.config import Settings
from memsvc.models.llm import LLM
from tests.conftest import ADMIN_KEY
from tests.integration.llm_doubles import MODEL, mock_llm

JAN = "2026-01-10T10:00:00+00:00"
MAR = "2026-03-10T15:00:00+00:00"
PASSWORD = "Tr0ub4dor&3x"


class Spy:
    """Keeps the chat messages of every attempt the LLM sends to the model."""

    def __init__(self, llm: LLM) -> None:
        self.prompts: list[list[dict[str, Any]]] = []
        inner = llm._complete

        async def complete(litellm: Any, model: str, api_base: Any, json_mode: bool, messages):
            self.prompts.append([dict(m) for m in messages])
            return await inner(litellm, model, api_base, json_mode, messages)

        llm._complete = complete  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def _service(
    db_url: str, settings: Settings, embedder: Any, replies: list[Any]
) -> AsyncIterator[tuple[httpx.AsyncClient, str, Spy]]:
    """The service with a model whose successive replies are `replies`: a tenant's client,
    a cube, and the spy on what the model was sent."""
    llm = mock_llm(settings, replies)
    spy = Spy(llm)
    app = create_app(settings, database_url=db_url, embedder=embedder, llm=llm)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://t",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as admin:
            tenant = (await admin.post("/v1/admin/tenants", json={"name": "llm"})).json()
            key = (
                await admin.post(
                    "/v1/admin/keys", json={"tenant_id": tenant["id"], "scopes": ["read", "write"]}
                )
            ).json()
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://t",
            headers={"Authorization": f"Bearer {key['key']}"},
        ) as client:
            cube = (await client.post("/v1/cubes", json={"name": "c"})).json()
            yield client, cube["id"], spy


async def _ingest(
    client: httpx.AsyncClient, cube_id: str, messages: list[dict[str, Any]]
) -> httpx.Response:
    r = await client.post(
        f"/v1/cubes/{cube_id}/messages",
        json={"messages": messages, "user_id": "u1", "session_id": "s1"},
    )
    assert r.status_code == 201, r.text[:2000]
    return r


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _by_type(out: dict[str, Any], memory_type: str) -> list[dict[str, Any]]:
    return [i for i in out["memories"] if i["memory"]["memory_type"] == memory_type]


def _reply(*memories: dict[str, Any]) -> str:
    return json.dumps({"memories": list(memories)})


CONVERSATION = [
    {
        "role": "user",
        "name": "Sam",
        "content": f"I moved to Lisbon. Yesterday I went hiking. My wifi password is {PASSWORD}",
        "timestamp": MAR,
        "message_id": "m1",
    },
    {
        "role": "assistant",
        "content": "To make tea, boil water and steep the leaves. See https://example.com/tea",
        "timestamp": MAR,
        "message_id": "m2",
    },
]

GOOD_REPLY = _reply(
    {
        "type": "semantic",
        "message": 1,
        "content": "Sam lives in Lisbon.",
        "subject": "Sam",
        "attribute": "Lives In",
        "value": "Lisbon",
    },
    {
        "type": "episodic",
        "message": 1,
        "content": "Sam went hiking.",
        "subject": "Sam",
        "when": "yesterday",
    },
    {
        "type": "procedural",
        "message": 2,
        "content": "How to make tea.",
        "subject": "Sam",
        "steps": ["Boil water.", "  ", "Steep the leaves."],
    },
    {
        "type": "resource",
        "message": 2,
        "content": "A guide to tea.",
        "subject": "Sam",
        "url": "https://example.com/tea",
        "title": "Tea guide",
    },
    # dropped: no such message
    {"type": "semantic", "message": 3, "content": "Sam owns a boat.", "subject": "Sam"},
    {"type": "semantic", "message": 0, "content": "Sam owns a car.", "subject": "Sam"},
    # dropped: it spells out the secret
    {
        "type": "semantic",
        "message": 1,
        "content": f"Sam's wifi password is {PASSWORD}.",
        "subject": "Sam",
    },
    {
        "type": "semantic",
        "message": 1,
        "content": "Sam has a wifi password.",
        "subject": "Sam",
        "attribute": "wifi",
        "value": PASSWORD,
    },
    # dropped: redacted text, and a link that is not http(s)
    {
        "type": "semantic",
        "message": 1,
        "content": "Sam's password is [redacted].",
        "subject": "Sam",
    },
    {
        "type": "resource",
        "message": 2,
        "content": "A file.",
        "subject": "Sam",
        "url": "ftp://example.com/file",
    },
)


async def test_the_models_memories_are_stored(db_url, test_settings, embedder):
    async with _service(db_url, test_settings, embedder, [GOOD_REPLY]) as (client, cid, spy):
        r = await _ingest(client, cid, CONVERSATION)
        assert PASSWORD not in r.text
        out = r.json()
        assert out["extracted_by"] == "llm"
        assert all(i["decision"] == "add" for i in out["memories"])
        assert all(i["memory"]["origin"] == "extracted" for i in out["memories"])
        assert sorted(i["memory"]["memory_type"] for i in out["memories"]) == [
            "episodic",
            "knowledge_vault",
            "procedural",
            "resource",
            "semantic",
        ]

        [fact] = _by_type(out, "semantic")
        assert fact["message_index"] == 0
        assert fact["memory"]["content"] == "Sam lives in Lisbon."
        assert fact["memory"]["fact"] == {
            "subject": "sam",
            "attribute": "lives_in",
            "value": "lisbon",
        }
        assert _t(fact["memory"]["valid_from"]) == _t(MAR)
        assert fact["memory"]["source_message_ids"] == ["m1"]

        [event] = _by_type(out, "episodic")
        assert event["memory"]["content"] == "Sam went hiking."
        assert _t(event["memory"]["occurred_at"]) == _t("2026-03-09T00:00:00Z")
        assert event["memory"]["fact"]["attribute"] is None

        [steps] = _by_type(out, "procedural")
        assert steps["message_index"] == 1
        assert steps["memory"]["fields"]["steps"] == ["Boil water.", "Steep the leaves."]
        assert steps["memory"]["source_message_ids"] == ["m2"]

        [link] = _by_type(out, "resource")
        assert link["memory"]["fields"]["uri"] == "https://example.com/tea"
        assert link["memory"]["fields"]["title"] == "Tea guide"

        # the vault entry comes from the rules, never from the model
        [vault] = _by_type(out, "knowledge_vault")
        assert vault["memory"]["has_secret"] is True
        assert vault["memory"]["fields"]["caption"] == "Sam's wifi password"
        assert out["turns"][0]["content"].endswith("My wifi password is [redacted]")

        listed = await client.get(f"/v1/cubes/{cid}/memories", params={"limit": 100})
        assert PASSWORD not in listed.text
        assert len(listed.json()["items"]) == 2 + 5  # the turns and the inferred memories

        # one call; the model saw the numbered, redacted conversation
        assert len(spy.prompts) == 1
        sent = json.dumps(spy.prompts[0])
        assert PASSWORD not in sent
        assert "[redacted]" in sent
        [conversation] = [m["content"] for m in spy.prompts[0] if "Conversation:" in m["content"]]
        assert "[1] Sam (user, 2026-03-10T15:00:00+00:00)" in conversation
        assert "[2] assistant (assistant, 2026-03-10T15:00:00+00:00)" in conversation
        assert "My wifi password is [redacted]" in conversation

        usage = (await client.get("/v1/usage", params={"cube_id": cid})).json()
        rows = [row for row in usage["rows"] if row["task"] == "extraction_messages"]
        assert len(rows) == 1, usage
        assert rows[0]["model"] == MODEL
        assert rows[0]["calls"] == 1 and rows[0]["fallbacks"] == 0
        assert rows[0]["prompt_tokens"] > 0 and rows[0]["cost_usd"] > 0


async def test_a_malformed_reply_falls_back_to_the_rules(db_url, test_settings, embedder):
    bad = ["nope", "{bad", "[1]"]  # three attempts (llm_max_retries 2), none valid
    async with _service(db_url, test_settings, embedder, bad) as (client, cid, spy):
        r = await _ingest(client, cid, CONVERSATION)
        assert PASSWORD not in r.text
        out = r.json()
        assert out["extracted_by"] == "fallback"
        assert len(spy.prompts) == 3
        assert all(PASSWORD not in json.dumps(p) for p in spy.prompts)
        facts = _by_type(out, "semantic")
        assert [f["memory"]["fact"] for f in facts] == [
            {"subject": "sam", "attribute": "lives_in", "value": "lisbon"}
        ]
        events = {e["memory"]["content"]: e["memory"] for e in _by_type(out, "episodic")}
        assert _t(events["Sam went hiking."]["occurred_at"]) == _t("2026-03-09T00:00:00Z")
        assert len(_by_type(out, "knowledge_vault")) == 1
        assert _by_type(out, "resource")[0]["memory"]["fields"]["uri"] == "https://example.com/tea"

        usage = (await client.get("/v1/usage", params={"cube_id": cid})).json()
        [row] = [row for row in usage["rows"] if row["task"] == "extraction_messages"]
        assert row["calls"] == 1 and row["fallbacks"] == 1
        assert row["prompt_tokens"] > 0  # the failed attempts were paid for


async def test_a_reply_of_the_wrong_shape_falls_back(db_url, test_settings, embedder):
    wrong = json.dumps(
        {"memories": [{"type": "dream", "message": 1, "content": "x", "subject": "s"}]}
    )
    async with _service(db_url, test_settings, embedder, [wrong]) as (client, cid, _):
        out = (await _ingest(client, cid, CONVERSATION[:1])).json()
        assert out["extracted_by"] == "fallback"
        assert [f["memory"]["fact"]["value"] for f in _by_type(out, "semantic")] == ["lisbon"]


async def test_an_empty_reply_keeps_only_the_vault_entries(db_url, test_settings, embedder):
    async with _service(db_url, test_settings, embedder, [_reply()]) as (client, cid, _):
        r = await _ingest(client, cid, CONVERSATION)
        out = r.json()
        assert out["extracted_by"] == "llm"
        assert [i["memory"]["memory_type"] for i in out["memories"]] == ["knowledge_vault"]
        assert PASSWORD not in r.text


async def test_a_later_batch_supersedes_an_earlier_fact(db_url, test_settings, embedder):
    first = _reply(
        {
            "type": "semantic",
            "message": 1,
            "content": "Sam lives in Lisbon.",
            "subject": "Sam",
            "attribute": "lives_in",
            "value": "Lisbon",
        }
    )
    second = _reply(
        {
            "type": "semantic",
            "message": 1,
            "content": "Sam lives in Porto.",
            "subject": "sam",
            "attribute": "Lives_In",
            "value": "Porto",
        }
    )
    async with _service(db_url, test_settings, embedder, [first, second]) as (client, cid, _):
        a = await _ingest(
            client,
            cid,
            [{"role": "user", "name": "Sam", "content": "Lisbon is home.", "timestamp": JAN}],
        )
        lisbon = a.json()["memories"][0]
        assert lisbon["decision"] == "add" and a.json()["extracted_by"] == "llm"
        b = await _ingest(
            client,
            cid,
            [{"role": "user", "name": "Sam", "content": "Porto is home now.", "timestamp": MAR}],
        )
        assert b.json()["extracted_by"] == "llm"
        [porto] = b.json()["memories"]
        assert porto["decision"] == "supersede"
        assert porto["previous_id"] == lisbon["memory"]["id"]
        assert porto["memory"]["fact"] == {
            "subject": "sam",
            "attribute": "lives_in",
            "value": "porto",
        }
        assert _t(porto["memory"]["valid_from"]) == _t(MAR)
        old = (await client.get(f"/v1/cubes/{cid}/memories/{lisbon['memory']['id']}")).json()
        assert _t(old["valid_to"]) == _t(MAR)
        history = (
            await client.get(f"/v1/cubes/{cid}/memories/{lisbon['memory']['id']}/history")
        ).json()["versions"]
        assert [v["change_kind"] for v in history] == ["create", "supersede"]


async def test_the_model_and_the_rules_fill_the_same_slots(db_url, test_settings, embedder):
    """A fact the rules extracted (the model's reply was unusable) is superseded by the
    model's fact for the same slot in a later batch."""
    later = _reply(
        {
            "type": "semantic",
            "message": 1,
            "content": "Sam lives in Porto.",
            "subject": "Sam",
            "attribute": "lives in",
            "value": "Porto",
        }
    )
    replies = ["nope", "nope", "nope", later]
    async with _service(db_url, test_settings, embedder, replies) as (client, cid, _):
        a = await _ingest(
            client,
            cid,
            [{"role": "user", "name": "Sam", "content": "I live in Lisbon.", "timestamp": JAN}],
        )
        assert a.json()["extracted_by"] == "fallback"
        [lisbon] = _by_type(a.json(), "semantic")
        b = await _ingest(
            client,
            cid,
            [{"role": "user", "name": "Sam", "content": "Porto is home now.", "timestamp": MAR}],
        )
        assert b.json()["extracted_by"] == "llm"
        [porto] = b.json()["memories"]
        assert porto["decision"] == "supersede"
        assert porto["previous_id"] == lisbon["memory"]["id"]
