"""The LLM summaries through litellm's own mock path (no network, no database)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

from memsvc.algorithms import core_blocks, summaries
from memsvc.services.summary_llm import (
    CONDENSE_SLACK,
    MAX_INPUT_CHARS,
    OVERALL_MAX_CHARS,
    condense_block,
    condense_prompt,
    day_prompt,
    overall_prompt,
    portrait_prompt,
    summarize_day,
    summarize_overall,
    tail_lines,
    user_portrait,
)
from tests.integration.llm_doubles import MemorySink
from tests.integration.llm_doubles import mock_llm as _llm
from tests.integration.llm_doubles import no_model as _no_model

MODEL = "gpt-4o-mini"
GARBAGE = ["nope", "{still not json", "```json\n[1, 2]\n```"]  # three attempts: max retries 2

DAY = date(2023, 5, 7)
TEXTS = [
    "Alice: I went to the farmers market with Bob this morning.",
    "Alice: We bought fresh tomatoes and basil at the farmers market.",
    "Bob: The tomatoes and basil from the market made a great salad.",
]
DAILY = [
    (date(2023, 5, 1), "On 2023-05-01: Alice adopted a cat named Miso."),
    (date(2023, 5, 7), "On 2023-05-07: Alice and Bob went to the farmers market."),
]
USER_TEXTS = ["I love hiking, but I hate crowds.", "I'm a nurse. I usually work nights."]
BLOCK = "\n".join(f"Sam mentioned fact number {i} about topic {i}." for i in range(40))


# --- summarize_day ----------------------------------------------------------------------------


async def test_summarize_day_uses_the_reply_with_its_date(test_settings):
    sink = MemorySink()
    reply = json.dumps({"summary": "  Alice and Bob went to the   farmers market. "})
    text, source = await summarize_day(
        _llm(test_settings, [reply]), day=DAY, texts=TEXTS, usage_sink=sink
    )
    assert (text, source) == ("On 2023-05-07: Alice and Bob went to the farmers market.", "llm")
    [record] = sink.records
    assert record.task == "summary_day" and record.source == "llm" and record.attempts == 1
    # a reply that already starts with the date is not prefixed twice
    dated = json.dumps({"summary": "On 2023-05-07: they shopped."})
    text, _ = await summarize_day(_llm(test_settings, [dated]), day=DAY, texts=TEXTS)
    assert text == "On 2023-05-07: they shopped."


async def test_summarize_day_retries_then_accepts(test_settings):
    sink = MemorySink()
    replies = ['{"summary": "   "}', '{"summary": "A market day."}']
    text, source = await summarize_day(
        _llm(test_settings, replies), day=DAY, texts=TEXTS, usage_sink=sink
    )
    assert source == "llm" and text == "On 2023-05-07: A market day."
    assert sink.records[0].attempts == 2


async def test_summarize_day_falls_back_after_malformed_replies(test_settings):
    sink = MemorySink()
    text, source = await summarize_day(
        _llm(test_settings, GARBAGE), day=DAY, texts=TEXTS, usage_sink=sink
    )
    assert source == "fallback"
    assert text == summaries.daily_summary(DAY, TEXTS)
    [record] = sink.records
    assert record.source == "fallback" and record.attempts == 3 and record.prompt_tokens > 0


async def test_summarize_day_caps_a_long_reply(test_settings):
    long = json.dumps({"summary": " ".join(f"Sentence {i} is here." for i in range(300))})
    text, source = await summarize_day(_llm(test_settings, [long]), day=DAY, texts=TEXTS)
    assert source == "llm" and len(text) <= 1200 and text.endswith("here.")


async def test_summarize_day_blank_input_makes_no_call(test_settings):
    sink = MemorySink()
    text, source = await summarize_day(
        _llm(test_settings, ['{"summary": "x"}']), day=DAY, texts=["", "  "], usage_sink=sink
    )
    assert (text, source) == ("", "fallback") and sink.records == []


def test_day_prompt_bounds_its_input():
    many = [f"message {i} " + "word " * 50 for i in range(1000)]
    [system, user] = day_prompt(DAY, many)
    assert "summary" in system["content"] and "2023-05-07" in user["content"]
    assert len(user["content"]) <= MAX_INPUT_CHARS + 100
    assert "message 999" in user["content"] and "message 0 " not in user["content"]


# --- summarize_overall ----------------------------------------------------------------------


async def test_summarize_overall_llm_and_fallback(test_settings):
    sink = MemorySink()
    reply = json.dumps({"summary": "Alice adopted Miso in May and shops at the market."})
    text, source = await summarize_overall(
        _llm(test_settings, [reply]), daily=DAILY, usage_sink=sink
    )
    assert (text, source) == ("Alice adopted Miso in May and shops at the market.", "llm")
    assert sink.records[0].task == "summary_overall"

    text, source = await summarize_overall(_llm(test_settings, GARBAGE), daily=DAILY)
    assert source == "fallback" and text == summaries.global_summary(DAILY, OVERALL_MAX_CHARS)
    assert text.startswith("On 2023-05-07")  # newest first


async def test_summarize_overall_cuts_long_replies(test_settings):
    long = json.dumps({"summary": " ".join(f"Fact {i} holds." for i in range(1000))})
    text, source = await summarize_overall(_llm(test_settings, [long]), daily=DAILY)
    assert source == "llm" and len(text) <= OVERALL_MAX_CHARS and text.endswith("holds.")


def test_overall_prompt_is_chronological_and_bounded():
    daily = [(date.fromordinal(737000 + i), "x " * 200) for i in range(500)]
    [system, user] = overall_prompt(list(reversed(daily)))
    assert str(OVERALL_MAX_CHARS) in system["content"]
    assert len(user["content"]) <= MAX_INPUT_CHARS + 100
    newest, older = daily[-1][0].isoformat(), daily[-2][0].isoformat()
    assert user["content"].index(older) < user["content"].index(newest)
    assert daily[0][0].isoformat() not in user["content"]


# --- user_portrait --------------------------------------------------------------------------


async def test_user_portrait_renders_the_reply(test_settings):
    sink = MemorySink()
    reply = json.dumps(
        {
            "traits": ["outdoorsy ", "", "Outdoorsy", "introverted"],
            "preferences": ["likes hiking", "dislikes crowds."],
            "response_strategy": "Be calm and brief.  Suggest quiet trails.",
        }
    )
    text, source = await user_portrait(
        _llm(test_settings, [reply]), user="Sam", texts=USER_TEXTS, usage_sink=sink
    )
    assert source == "llm"
    assert text == (
        "Personality of Sam: outdoorsy; introverted.\n"
        "Preferences of Sam: likes hiking; dislikes crowds.\n"
        "How to respond: Be calm and brief. Suggest quiet trails."
    )
    assert sink.records[0].task == "portrait"


async def test_user_portrait_empty_reply_falls_back(test_settings):
    empty = json.dumps({"traits": [" "], "preferences": [], "response_strategy": ""})
    text, source = await user_portrait(_llm(test_settings, [empty]), user="Sam", texts=USER_TEXTS)
    assert source == "fallback"
    assert text == summaries.portrait("Sam", USER_TEXTS)
    assert text.split("\n") == [
        "Sam loves hiking.",
        "Sam hates crowds.",
        "Sam is a nurse.",
        "Sam usually works nights.",
    ]


def test_portrait_prompt_names_the_user():
    [system, user] = portrait_prompt("Sam", USER_TEXTS)
    assert "response_strategy" in system["content"]
    assert "Sam" in user["content"] and USER_TEXTS[0] in user["content"]


# --- condense_block -------------------------------------------------------------------------


async def test_condense_block_accepts_a_short_enough_rewrite(test_settings):
    sink = MemorySink()
    target = 300
    rewrite = "Sam mentioned forty numbered facts about forty topics."
    text, source = await condense_block(
        _llm(test_settings, [json.dumps({"text": rewrite})]),
        label="human",
        text=BLOCK,
        target_chars=target,
        usage_sink=sink,
    )
    assert (text, source) == (rewrite, "llm")
    [record] = sink.records
    assert record.task == "core_condense" and record.attempts == 1


async def test_condense_block_slack_is_allowed(test_settings):
    target = 100
    rewrite = "x" * int(target * CONDENSE_SLACK)
    text, source = await condense_block(
        _llm(test_settings, [json.dumps({"text": rewrite})]),
        label="human",
        text=BLOCK,
        target_chars=target,
    )
    assert source == "llm" and text == rewrite


async def test_condense_block_too_long_falls_back(test_settings):
    sink = MemorySink()
    target = 300
    too_long = json.dumps({"text": "y " * 400})
    text, source = await condense_block(
        _llm(test_settings, [too_long]),  # the same reply on every attempt
        label="human",
        text=BLOCK,
        target_chars=target,
        usage_sink=sink,
    )
    assert source == "fallback"
    assert text == core_blocks.condense(BLOCK, target) and len(text) <= target
    [record] = sink.records
    assert record.source == "fallback" and record.attempts == 3


async def test_condense_block_retry_fixes_a_too_long_reply(test_settings):
    replies = [json.dumps({"text": "z " * 400}), json.dumps({"text": "Sam knows 40 facts."})]
    text, source = await condense_block(
        _llm(test_settings, replies), label="human", text=BLOCK, target_chars=300
    )
    assert (text, source) == ("Sam knows 40 facts.", "llm")


async def test_condense_block_malformed_falls_back(test_settings):
    text, source = await condense_block(
        _llm(test_settings, GARBAGE), label="persona", text=BLOCK, target_chars=250
    )
    assert source == "fallback" and text == core_blocks.condense(BLOCK, 250)


async def test_condense_block_that_fits_makes_no_call(test_settings):
    sink = MemorySink()
    block = "Sam likes tea.\nsam likes tea!"
    text, source = await condense_block(
        _llm(test_settings, ['{"text": "x"}']),
        label="human",
        text=block,
        target_chars=1000,
        usage_sink=sink,
    )
    assert (text, source) == ("sam likes tea!", "fallback") and sink.records == []
    assert await condense_block(
        _llm(test_settings, ['{"text": "x"}']), label="h", text=BLOCK, target_chars=0
    ) == ("", "fallback")


def test_condense_prompt_bounds_its_input():
    huge = "\n".join(f"Line {i} says something new about item {i}." for i in range(5000))
    [system, user] = condense_prompt("human", huge, 2500)
    assert "2500" in system["content"]
    assert len(user["content"]) <= MAX_INPUT_CHARS + 100
    assert "Line 4999 " in user["content"]  # the newest lines are kept


def test_tail_lines():
    assert tail_lines(["a", "bb", "ccc"], 6) == "bb\nccc"
    assert tail_lines(["a", "bb", "ccc"], 100) == "a\nbb\nccc"
    assert tail_lines([], 10) == ""
    assert tail_lines(["one two three four"], 10) == "four"
    assert len(tail_lines(["x" * 50], 10)) == 10


# --- no model ---------------------------------------------------------------------------------


async def test_without_a_model_the_fallbacks_answer(test_settings):
    sink = MemorySink()
    llm = _no_model(test_settings)
    assert await summarize_day(llm, day=DAY, texts=TEXTS, usage_sink=sink) == (
        summaries.daily_summary(DAY, TEXTS),
        "fallback",
    )
    assert await summarize_overall(llm, daily=DAILY, usage_sink=sink) == (
        summaries.global_summary(DAILY, OVERALL_MAX_CHARS),
        "fallback",
    )
    assert await user_portrait(llm, user="Sam", texts=USER_TEXTS, usage_sink=sink) == (
        summaries.portrait("Sam", USER_TEXTS),
        "fallback",
    )
    assert await condense_block(
        llm, label="human", text=BLOCK, target_chars=200, usage_sink=sink
    ) == (core_blocks.condense(BLOCK, 200), "fallback")
    assert sink.records == []


def test_without_a_model_litellm_is_never_imported():
    code = """
import asyncio, sys
from datetime import date
from memsvc.config import Settings
from memsvc.models.llm import LLM
from memsvc.services import summary_llm as s

llm = LLM(Settings(admin_key="k" * 24, database_url=None, run_worker=False, llm_model=None))
async def main():
    await s.summarize_day(llm, day=date(2023, 5, 7), texts=["I went out today."])
    await s.summarize_overall(llm, daily=[(date(2023, 5, 7), "A day.")])
    await s.user_portrait(llm, user="Sam", texts=["I love tea."])
    await s.condense_block(llm, label="human", text="A fact. " * 50, target_chars=20)
asyncio.run(main())
assert "litellm" not in sys.modules, "litellm was imported"
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
