"""The LLM step of conversation ingestion, without a database: the prompt (numbered, redacted),
the reply mapped back to messages and cleaned, slot names normalised, the one-call extraction
with its fallback, and the vault's secret decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from memsvc.algorithms import message_extract as rules
from memsvc.algorithms.message_extract import Message
from memsvc.algorithms.update_decision import Decision, StoredSecret, decide_secret
from memsvc.config import Settings
from memsvc.domain.fields import validate_fields
from memsvc.domain.types import MemoryType
from memsvc.models.llm import LLM
from memsvc.services import ingest_llm
from memsvc.services.ingest_llm import ExtractionReply, MemoryReply, from_reply, prompt

TS = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday
SECRET = "Tr0ub4dor&3x"

MESSAGES = [
    Message(
        role="user",
        content=f"I moved to Lisbon. My wifi password is {SECRET}",
        name="Sam",
        timestamp=TS,
    ),
    Message(role="assistant", content="Noted. Boil water, then steep the tea.", timestamp=TS),
    Message(role="user", content="Yesterday I went hiking.", timestamp=None),
]


def _item(**kw) -> MemoryReply:
    base = {"type": "semantic", "message": 1, "content": "Sam lives in Lisbon.", "subject": "Sam"}
    return MemoryReply(**{**base, **kw})


def _map(*items: MemoryReply, messages=MESSAGES, secrets=(SECRET,)):
    redacted = rules.redact(messages)
    return from_reply(ExtractionReply(memories=list(items)), messages, redacted, list(secrets))


# --- prompt ---------------------------------------------------------------------------------


def test_the_prompt_numbers_the_messages_from_one_and_redacts_them():
    redacted = rules.redact(MESSAGES)
    assert SECRET not in "".join(redacted)
    chat = prompt(MESSAGES, redacted)
    assert [m["role"] for m in chat] == ["system", "user"]
    assert chat[0]["content"] == ingest_llm.SYSTEM_PROMPT
    text = chat[1]["content"]
    assert SECRET not in json.dumps(chat)
    assert "[redacted]" in text
    assert "[1] Sam (user, 2026-03-10T15:00:00+00:00):\nI moved to Lisbon." in text
    assert "[2] assistant (assistant, 2026-03-10T15:00:00+00:00):\nNoted." in text
    assert "[3] user (user, unknown time):\nYesterday I went hiking." in text
    assert "[0]" not in text and "[4]" not in text
    assert text.index("[1]") < text.index("[2]") < text.index("[3]")


def test_the_prompt_clips_long_messages():
    long = [Message(role="user", content="word " * 5000, timestamp=TS)]
    text = prompt(long, [m.content for m in long])[1]["content"]
    assert len(text) < ingest_llm.MESSAGE_MAX_CHARS + 200


# --- the reply mapped back --------------------------------------------------------------------


def test_a_semantic_item_is_mapped_to_its_message_and_its_slot():
    [x] = _map(_item(attribute="Lives In", value="  Lisbon "))
    assert x.memory_type == "semantic"
    assert x.message_index == 0
    assert x.content == "Sam lives in Lisbon."
    assert x.subject == "sam"
    assert (x.attribute, x.value) == ("lives_in", "lisbon")
    assert x.occurred_at == TS
    assert x.secret is None
    assert x.fields["relation"] == "Lives In" and x.fields["tail"] == "Lisbon"
    assert x.fields["name"] == "Sam"
    validate_fields(MemoryType.SEMANTIC, x.fields)


def test_items_naming_no_message_are_dropped():
    kept = _map(
        _item(message=0),
        _item(message=-1),
        _item(message=4),
        _item(message=3, content="The user went hiking.", subject="user"),
    )
    assert [x.message_index for x in kept] == [2]


@pytest.mark.parametrize(
    "bad",
    [
        {"content": f"Sam's wifi password is {SECRET}."},
        {"attribute": "wifi_password", "value": SECRET},
        {"subject": SECRET},
        {"type": "procedural", "steps": ["Open the router page.", f"Type {SECRET}."]},
        {"type": "resource", "url": f"https://example.com/?p={SECRET}"},
        {"type": "resource", "url": "https://example.com/", "title": f"pw {SECRET}"},
    ],
)
def test_an_item_carrying_the_secret_is_dropped(bad):
    assert _map(_item(**bad)) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"content": "   "},
        {"content": "Sam's password is [redacted]."},
        {"type": "resource", "url": None},
        {"type": "resource", "url": "ftp://example.com/file"},
        {"type": "resource", "url": "example.com/page"},
    ],
)
def test_blank_redacted_and_linkless_items_are_dropped(bad):
    assert _map(_item(**bad)) == []


def test_relative_times_are_resolved_against_the_message_time():
    yesterday, last_week, unknown, no_when = _map(
        _item(type="episodic", content="Sam went hiking.", when="yesterday"),
        _item(type="episodic", content="Sam went sailing.", when="last week"),
        _item(type="episodic", content="Sam went diving.", when="at some point"),
        _item(type="episodic", content="Sam went climbing."),
    )
    assert yesterday.occurred_at == datetime(2026, 3, 9, tzinfo=UTC)
    assert last_week.occurred_at == datetime(2026, 3, 2, tzinfo=UTC)
    assert unknown.occurred_at == TS
    assert no_when.occurred_at == TS
    assert yesterday.attribute is None and yesterday.value is None
    assert yesterday.fields["event_type"] == "user_event"
    validate_fields(MemoryType.EPISODIC, yesterday.fields)
    # without a timestamp there is nothing to resolve against
    [undated] = _map(_item(type="episodic", message=3, content="The user hiked.", when="yesterday"))
    assert undated.occurred_at is None


def test_a_naive_message_time_is_read_as_utc():
    naive = [Message(role="user", content="hi", timestamp=datetime(2026, 3, 10, 15, 0))]
    [x] = _map(_item(type="episodic", content="Sam hiked.", when="yesterday"), messages=naive)
    assert x.occurred_at == datetime(2026, 3, 9, tzinfo=UTC)


def test_only_semantic_items_fill_slots():
    [event] = _map(_item(type="episodic", content="Sam moved.", attribute="lives_in", value="x"))
    assert (event.attribute, event.value) == (None, None)
    [no_slot] = _map(_item(value="Lisbon"))
    assert (no_slot.attribute, no_slot.value) == (None, None)
    [no_value] = _map(_item(attribute="lives_in"))
    assert (no_value.attribute, no_value.value) == ("lives_in", None)


def test_subjects_are_lower_case_and_default_to_user():
    named, blank = _map(_item(subject="  Sam   Smith "), _item(subject="   "))
    assert named.subject == "sam smith"
    assert blank.subject == "user"


def test_procedures_and_links_keep_their_details():
    steps, link = _map(
        _item(
            type="procedural",
            message=2,
            content="How to make tea.",
            steps=["Boil water.", " ", "Steep."],
        ),
        _item(
            type="resource",
            message=2,
            content="Tea guide.",
            url="https://example.com/tea",
            title="Tea",
        ),
    )
    assert steps.fields["steps"] == ["Boil water.", "Steep."]
    assert steps.message_index == 1 and steps.occurred_at == TS
    validate_fields(MemoryType.PROCEDURAL, steps.fields)
    assert link.fields["uri"] == "https://example.com/tea"
    assert link.fields["title"] == "Tea"
    validate_fields(MemoryType.RESOURCE, link.fields)


def test_content_is_one_clipped_line_and_items_are_capped():
    [x] = _map(_item(content="Sam   lives\nin  Lisbon. " + "very " * 400))
    assert "\n" not in x.content and "  " not in x.content
    assert len(x.content) <= ingest_llm.CONTENT_MAX_CHARS
    assert x.content.startswith("Sam lives in Lisbon.")
    many = [_item(content=f"Sam likes thing {i}.") for i in range(ingest_llm.MEMORIES_MAX + 20)]
    assert len(_map(*many)) == ingest_llm.MEMORIES_MAX


# --- slot names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "slot"),
    [
        ("Lives In", "lives_in"),
        ("lives_in", "lives_in"),
        ("Lives-In", "lives_in"),
        ("  works at ", "works_at"),
        ("likes:Ice Cream", "likes:ice cream"),
        ("likes:ice_cream", "likes:ice cream"),
        ("favourite:colour", "favourite:colour"),
        ("favourite: colour", "favourite:colour"),
        ("name_of: dog", "name_of:dog"),
        ("Favourite : Colour", "favourite:colour"),
    ],
)
def test_slot_names_are_normalised(raw, slot):
    assert ingest_llm._attribute(raw) == slot


@pytest.mark.parametrize("raw", [None, "", "   ", "!!!", "::"])
def test_an_empty_slot_name_is_none(raw):
    assert ingest_llm._attribute(raw) is None


def test_a_slot_name_is_capped():
    out = ingest_llm._attribute("x" * 1000)
    assert out is not None and len(out) <= ingest_llm.VALUE_MAX_CHARS


# --- one call, with its fallback ------------------------------------------------------------


def _llm(replies) -> LLM:
    settings = Settings(llm_model="gpt-4o-mini", llm_max_retries=2)  # type: ignore[call-arg]
    return LLM(settings, mock_responses=replies)


async def test_without_a_model_the_rules_extract():
    llm = LLM(Settings(llm_model=None))  # type: ignore[call-arg]
    found, source = await ingest_llm.extract_memories(llm, MESSAGES)
    assert source == "fallback"
    assert found == rules.extract(MESSAGES)


async def test_the_vault_entries_always_come_from_the_rules():
    reply = json.dumps(
        {
            "memories": [
                {
                    "type": "semantic",
                    "message": 1,
                    "content": "Sam lives in Lisbon.",
                    "subject": "Sam",
                    "attribute": "lives_in",
                    "value": "Lisbon",
                },
                {
                    "type": "semantic",
                    "message": 1,
                    "content": f"Sam's password is {SECRET}.",
                    "subject": "Sam",
                },
            ]
        }
    )
    found, source = await ingest_llm.extract_memories(_llm([reply]), MESSAGES)
    assert source == "llm"
    assert [x.memory_type for x in found] == ["knowledge_vault", "semantic"]
    assert found[0].secret == SECRET
    assert all(SECRET not in x.content for x in found)
    assert found[1].attribute == "lives_in"


async def test_a_malformed_reply_on_every_attempt_falls_back_to_the_rules():
    found, source = await ingest_llm.extract_memories(_llm(["nope", "{bad", "[1]"]), MESSAGES)
    assert source == "fallback"
    assert found == rules.extract(MESSAGES)


# --- secrets: reinforce, supersede or add ---------------------------------------------------


STORED = [
    StoredSecret(key="a", attribute="secret:wifi_password", digest="d1"),
    StoredSecret(key="b", attribute="secret:github_token", digest="d2"),
    StoredSecret(key="c", attribute="secret:token", digest="d3"),
]


def test_the_same_secret_again_is_a_reinforcement_whatever_its_label():
    v = decide_secret("secret:wifi_password", "d1", STORED)
    assert (v.decision, v.target) == (Decision.REINFORCE, "a")
    v = decide_secret("secret:router_password", "d2", STORED)
    assert (v.decision, v.target) == (Decision.REINFORCE, "b")
    v = decide_secret("secret:token", "d3", STORED)
    assert (v.decision, v.target) == (Decision.REINFORCE, "c")


def test_another_secret_for_a_named_slot_supersedes_it():
    v = decide_secret("secret:wifi_password", "digest-9f3", STORED)
    assert (v.decision, v.target) == (Decision.SUPERSEDE, "a")
    assert "wifi password" in v.reason
    assert "digest-9f3" not in v.reason and "d1" not in v.reason
    # of several entries in the slot, the newest
    two = [*STORED, StoredSecret(key="z", attribute="secret:wifi_password", digest="d9")]
    assert decide_secret("secret:wifi_password", "new", two).target == "z"


@pytest.mark.parametrize("slot", ["secret:token", "secret:secret", "secret:api_key"])
def test_a_generic_slot_adds_a_secret(slot):
    stored = [*STORED, StoredSecret(key="g", attribute=slot, digest="dg")]
    v = decide_secret(slot, "other", stored)
    assert (v.decision, v.target) == (Decision.ADD, None)


def test_a_new_slot_or_no_slot_adds_a_secret():
    assert decide_secret("secret:door_code", "x", STORED).decision is Decision.ADD
    assert decide_secret(None, "x", STORED).decision is Decision.ADD
    assert decide_secret("secret:wifi_password", "x", []).decision is Decision.ADD
