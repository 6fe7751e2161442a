"""The TiM LLM steps through litellm's own mock path (no network, no database)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from memsvc.algorithms.thoughts import Thought, contradicted, merged_thought, post_think
from memsvc.config import Settings
from memsvc.models import llm as llm_module
from memsvc.models.llm import LLM
from memsvc.services.thought_llm import (
    DEFAULT_REASON,
    THOUGHTS_MAX,
    ForgetListReply,
    MergeReply,
    find_contradicted,
    forget_from_reply,
    forget_prompt,
    merge_prompt,
    merge_text,
    merged_from_reply,
    think,
    think_prompt,
)
from tests.integration.llm_doubles import MemorySink
from tests.integration.llm_doubles import mock_llm as _llm

MODEL = "gpt-4o-mini"
GARBAGE = ["nope", "{still not json", "```json\n[1, 2]\n```"]  # three attempts: max retries 2

QUESTION = "My sister Alice moved to Berlin last month. What should she visit?"
ANSWER = "Berlin has great museums. She could start with the Pergamon Museum."


@pytest.fixture
def no_model(test_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> LLM:
    """An LLM with no model whose litellm loader fails the test if anything reaches it."""

    def forbidden() -> Any:
        raise AssertionError("litellm must not be loaded without a model")

    monkeypatch.setattr(llm_module, "_litellm", forbidden)
    llm = LLM(test_settings.model_copy(update={"llm_model": None}))
    assert not llm.configured
    return llm


def th(text: str, head: str, relation: str, tail: str) -> Thought:
    return Thought(text, head, relation, tail)


def _reply(*items: dict[str, str]) -> str:
    return json.dumps({"thoughts": list(items)})


def _t(text: str, head: str, relation: str, tail: str) -> dict[str, str]:
    return {"text": text, "head": head, "relation": relation, "tail": tail}


# --- think --------------------------------------------------------------------------------------

RECALLED = [th("Alice is the user's sister", "Alice", "is sister of", "user")]


async def test_think_cleans_the_reply_and_drops_recalled_and_repeated_thoughts(test_settings):
    reply = _reply(
        _t("  Alice  moved to Berlin ", "Alice", "Moved To", " Berlin "),
        _t("Alice is the user's sister", "alice", "is sister of", "the user"),  # recalled
        _t("Alice relocated to Berlin", "Alice", "moved to", "Berlin"),  # same triple again
        _t("Berlin has the Pergamon Museum", "Berlin", "has", "Pergamon Museum"),
        _t("", "Alice", "likes", "museums"),  # no statement
        _t("Alice likes museums", "Alice", "likes", "   "),  # no tail
    )
    sink = MemorySink()
    found, source = await think(
        _llm(test_settings, [reply]),
        question=QUESTION,
        answer=ANSWER,
        recalled=RECALLED,
        usage_sink=sink,
    )
    assert source == "llm"
    assert found == [
        th("Alice moved to Berlin", "Alice", "moved to", "Berlin"),
        th("Berlin has the Pergamon Museum", "Berlin", "has", "Pergamon Museum"),
    ]
    [record] = sink.records
    assert (record.task, record.source, record.attempts) == ("thoughts", "llm", 1)
    assert record.model == MODEL and record.prompt_tokens > 0


async def test_think_caps_the_number_of_thoughts(test_settings):
    many = [_t(f"P{i} lives in C{i}", f"P{i}", "lives in", f"C{i}") for i in range(30)]
    found, source = await think(
        _llm(test_settings, [_reply(*many)]), question="Who lives where?", answer="...", recalled=[]
    )
    assert source == "llm" and len(found) == THOUGHTS_MAX
    assert found[0].head == "P0"


async def test_think_falls_back_after_malformed_replies(test_settings):
    sink = MemorySink()
    found, source = await think(
        _llm(test_settings, GARBAGE), question=QUESTION, answer=ANSWER, recalled=[], usage_sink=sink
    )
    assert source == "fallback"
    assert found == post_think(QUESTION, ANSWER)
    assert ("user's sister Alice", "moved to", "Berlin") in [
        (t.head, t.relation, t.tail) for t in found
    ]
    [record] = sink.records
    assert (record.task, record.source, record.attempts) == ("thoughts", "fallback", 3)


async def test_think_retries_a_schema_mismatch(test_settings):
    wrong = json.dumps({"thoughts": [{"text": "Alice moved"}]})  # missing fields
    good = _reply(_t("Alice moved to Berlin", "Alice", "moved to", "Berlin"))
    sink = MemorySink()
    found, source = await think(
        _llm(test_settings, [wrong, good]),
        question=QUESTION,
        answer=ANSWER,
        recalled=[],
        usage_sink=sink,
    )
    assert source == "llm" and [t.tail for t in found] == ["Berlin"]
    assert [r.attempts for r in sink.records] == [2]


async def test_think_falls_back_when_the_model_has_nothing_usable(test_settings):
    for reply in (_reply(), _reply(_t("Alice is the user's sister", "Alice", "is sister of", "x"))):
        found, source = await think(
            _llm(test_settings, [reply]), question=QUESTION, answer=ANSWER, recalled=RECALLED
        )
        assert source == "fallback"
        assert found == post_think(QUESTION, ANSWER)


async def test_think_fallback_drops_recalled_thoughts(test_settings):
    q, a = "Where does Bob live?", "Bob lives in Oslo. He works at Equinor."
    recalled = [th("Bob lives in Oslo", "Bob", "lives in", "Oslo")]
    found, source = await think(
        _llm(test_settings, GARBAGE), question=q, answer=a, recalled=recalled
    )
    assert source == "fallback"
    assert [(t.head, t.relation, t.tail) for t in found] == [("Bob", "works at", "Equinor")]


async def test_think_without_a_model_uses_the_fallback(no_model):
    sink = MemorySink()
    found, source = await think(
        no_model, question=QUESTION, answer=ANSWER, recalled=[], usage_sink=sink
    )
    assert source == "fallback" and found == post_think(QUESTION, ANSWER)
    assert sink.records == []


async def test_think_on_blank_input_makes_no_call(test_settings):
    sink = MemorySink()
    llm = _llm(test_settings, [_reply(_t("x", "a", "b", "c"))])
    assert await think(llm, question=" ", answer="\n", recalled=[], usage_sink=sink) == (
        [],
        "fallback",
    )
    assert sink.records == []


def test_think_prompt_shows_the_exchange_and_recalled_thoughts():
    [system, user] = think_prompt(QUESTION, ANSWER, RECALLED)
    assert system["role"] == "system" and "pronoun" in system["content"]
    assert QUESTION in user["content"] and ANSWER in user["content"]
    assert "- Alice is the user's sister" in user["content"]
    [_, user] = think_prompt("q", "a", [])
    assert "(none)" in user["content"]


# --- find_contradicted --------------------------------------------------------------------------

NEW = [th("Alice moved to Berlin", "Alice", "moved to", "Berlin")]


def _old(*texts: str) -> list[tuple[uuid.UUID, Thought]]:
    return [(uuid.uuid4(), th(t, "Alice", "lives in", t.split()[-1])) for t in texts]


async def test_find_contradicted_maps_numbers_to_ids_by_position(test_settings):
    old = _old("Alice lives in Paris", "Alice lives near a park", "Alice lives in a flat")
    reply = {
        "forget": [
            {"number": 3, "reason": "  she moved  "},
            {"number": 0, "reason": "out of range"},
            {"number": 4, "reason": "out of range"},
            {"number": -1, "reason": "out of range"},
            {"number": 1, "reason": ""},
            {"number": 3, "reason": "a repeat keeps the first reason"},
        ]
    }
    sink = MemorySink()
    found, source = await find_contradicted(
        _llm(test_settings, [json.dumps(reply)]), new=NEW, old=old, usage_sink=sink
    )
    assert source == "llm"
    assert found == {old[2][0]: "she moved", old[0][0]: DEFAULT_REASON}
    assert list(found) == [old[2][0], old[0][0]]
    [record] = sink.records
    assert (record.task, record.source) == ("forget", "llm")


async def test_find_contradicted_accepts_an_empty_answer(test_settings):
    found, source = await find_contradicted(
        _llm(test_settings, ['{"forget": []}']), new=NEW, old=_old("Alice lives in Paris")
    )
    assert (found, source) == ({}, "llm")


async def test_find_contradicted_only_out_of_range_numbers_forgets_nothing(test_settings):
    reply = json.dumps({"forget": [{"number": 2, "reason": "x"}, {"number": 99, "reason": "y"}]})
    found, source = await find_contradicted(
        _llm(test_settings, [reply]), new=NEW, old=_old("Alice lives in Paris")
    )
    assert (found, source) == ({}, "llm")


async def test_find_contradicted_falls_back_to_latest_wins(test_settings):
    new = [
        th("Alice lives in Berlin", "Alice", "lives in", "Berlin"),
        th("Alice lives in Munich", "Alice", "lives in", "Munich"),
        th("Alice likes tea", "Alice", "likes", "tea"),
    ]
    old = [
        (uuid.uuid4(), th("Alice lives in Paris", "Alice", "lives in", "Paris")),
        (uuid.uuid4(), th("Alice lives in Berlin", "Alice", "live in", "berlin")),
        (uuid.uuid4(), th("Bob lives in Rome", "Bob", "lives in", "Rome")),
        (uuid.uuid4(), th("Alice likes coffee", "Alice", "likes", "coffee")),
    ]
    sink = MemorySink()
    found, source = await find_contradicted(
        _llm(test_settings, GARBAGE), new=new, old=old, usage_sink=sink
    )
    assert source == "fallback"
    assert found == {
        old[0][0]: "superseded by: Alice lives in Berlin",
        old[1][0]: "superseded by: Alice lives in Munich",
    }
    assert set(found) == {k for t in new for k in contradicted(t, old)}
    assert [(r.task, r.source, r.attempts) for r in sink.records] == [("forget", "fallback", 3)]


async def test_find_contradicted_with_nothing_to_compare_makes_no_call(test_settings):
    sink = MemorySink()
    llm = _llm(test_settings, ['{"forget": [{"number": 1, "reason": "x"}]}'])
    assert await find_contradicted(llm, new=[], old=_old("a b"), usage_sink=sink) == (
        {},
        "fallback",
    )
    assert await find_contradicted(llm, new=NEW, old=[], usage_sink=sink) == ({}, "fallback")
    assert sink.records == []


async def test_find_contradicted_without_a_model_uses_the_rule(no_model):
    old = _old("Alice lives in Paris")
    new = [th("Alice lives in Rome", "Alice", "lives in", "Rome")]
    found, source = await find_contradicted(no_model, new=new, old=old)
    assert source == "fallback"
    assert found == {old[0][0]: "superseded by: Alice lives in Rome"}


def test_forget_prompt_numbers_old_thoughts_and_hides_ids():
    old = _old("Alice lives in Paris", "Alice lives in Rome")
    [system, user] = forget_prompt(NEW, [t for _, t in old])
    assert "numbers" in system["content"]
    text = user["content"]
    assert "[1] Alice lives in Paris" in text and "[2] Alice lives in Rome" in text
    assert "[3]" not in text and "- Alice moved to Berlin" in text
    assert all(str(key) not in text for key, _ in old)


def test_forget_from_reply_ignores_out_of_range_numbers():
    old = _old("Alice lives in Paris")
    reply = ForgetListReply.model_validate({"forget": [{"number": 5}, {"number": 1}]})
    assert forget_from_reply(reply, old) == {old[0][0]: DEFAULT_REASON}


# --- merge_text -------------------------------------------------------------------------------

GROUP = [
    th("Alice likes tea", "Alice", "likes", "tea"),
    th("Alice likes green tea", "alice", "likes", "green tea"),
]


async def test_merge_text_uses_the_reply(test_settings):
    reply = json.dumps(
        _t(" Alice likes tea,  especially green tea ", "Alice", "Likes", "green tea")
    )
    sink = MemorySink()
    merged, source = await merge_text(_llm(test_settings, [reply]), thoughts=GROUP, usage_sink=sink)
    assert source == "llm"
    assert merged == th("Alice likes tea, especially green tea", "Alice", "likes", "green tea")
    assert [(r.task, r.source) for r in sink.records] == [("merge", "llm")]


async def test_merge_text_keeps_the_groups_head(test_settings):
    reply = json.dumps(_t("Tea is liked by Alice", "tea", "", ""))
    merged, source = await merge_text(_llm(test_settings, [reply]), thoughts=GROUP)
    assert source == "llm"
    # the group is keyed by its head: a reply about another entity keeps the group's head;
    # a blank relation or tail comes from the newest thought
    assert merged == th("Tea is liked by Alice", "alice", "likes", "green tea")


async def test_merge_text_falls_back_to_the_newest(test_settings):
    sink = MemorySink()
    merged, source = await merge_text(_llm(test_settings, GARBAGE), thoughts=GROUP, usage_sink=sink)
    assert (merged, source) == (merged_thought(GROUP), "fallback") == (GROUP[-1], "fallback")
    assert [(r.task, r.source, r.attempts) for r in sink.records] == [("merge", "fallback", 3)]


async def test_merge_text_with_a_blank_statement_falls_back(test_settings):
    reply = json.dumps(_t("   ", "Alice", "likes", "tea"))
    merged, source = await merge_text(_llm(test_settings, [reply]), thoughts=GROUP)
    assert (merged, source) == (GROUP[-1], "fallback")


async def test_merge_text_of_one_thought_makes_no_call(test_settings):
    sink = MemorySink()
    llm = _llm(test_settings, [json.dumps(_t("x", "y", "z", "w"))])
    assert await merge_text(llm, thoughts=GROUP[:1], usage_sink=sink) == (GROUP[0], "fallback")
    assert sink.records == []
    with pytest.raises(ValueError):
        await merge_text(llm, thoughts=[])


async def test_merge_text_without_a_model_uses_the_newest(no_model):
    assert await merge_text(no_model, thoughts=GROUP) == (GROUP[-1], "fallback")


def test_merge_prompt_lists_the_group_oldest_first():
    [system, user] = merge_prompt(GROUP)
    assert "newest" in system["content"]
    assert user["content"].index("[1] Alice likes tea") < user["content"].index(
        "[2] Alice likes green tea"
    )


def test_merged_from_reply_needs_a_statement():
    assert merged_from_reply(MergeReply(text="", head="a", relation="b", tail="c"), GROUP) is None


# --- usage and imports ------------------------------------------------------------------------


async def test_usage_is_recorded_per_step(test_settings):
    sink = MemorySink()
    llm = _llm(
        test_settings,
        [
            _reply(_t("Alice moved to Berlin", "Alice", "moved to", "Berlin")),
            '{"forget": [{"number": 1, "reason": "moved"}]}',
            json.dumps(_t("Alice likes green tea", "Alice", "likes", "green tea")),
        ],
    )
    new, _ = await think(llm, question=QUESTION, answer=ANSWER, recalled=[], usage_sink=sink)
    await find_contradicted(llm, new=new, old=_old("Alice lives in Paris"), usage_sink=sink)
    await merge_text(llm, thoughts=GROUP, usage_sink=sink)
    assert [(r.task, r.source, r.attempts) for r in sink.records] == [
        ("thoughts", "llm", 1),
        ("forget", "llm", 1),
        ("merge", "llm", 1),
    ]
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in sink.records)


def test_no_model_never_imports_litellm():
    code = """
import asyncio, sys
from memsvc.config import Settings
from memsvc.models.llm import LLM
from memsvc.services.thought_llm import find_contradicted, merge_text, think
from memsvc.algorithms.thoughts import Thought

llm = LLM(Settings(admin_key="k" * 24, database_url=None, run_worker=False, llm_model=None))
t = Thought("Alice lives in Rome", "Alice", "lives in", "Rome")
o = Thought("Alice lives in Oslo", "Alice", "lives in", "Oslo")

async def main():
    print(await think(llm, question="Where?", answer="Alice lives in Rome.", recalled=[]))
    print(await find_contradicted(llm, new=[t], old=[(1, o)]))
    print(await merge_text(llm, thoughts=[o, t]))

asyncio.run(main())
print("litellm" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "False"
    assert "superseded by: Alice lives in Rome" in lines[1]
