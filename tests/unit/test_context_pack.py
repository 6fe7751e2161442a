"""Prompt context within a token budget (memsvc.algorithms.context_pack)."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from memsvc.algorithms.context_pack import (
    SECTION_ORDER,
    ContextItem,
    PackedContext,
    estimate_tokens,
    pack_context,
)

NOW = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)


def _item(kind: str, text: str, score: float = 0.5, when: datetime | None = None) -> ContextItem:
    return ContextItem(uuid.uuid4(), kind, text, score, when)


# --- estimate_tokens ------------------------------------------------------------------------


def test_estimate_tokens():
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello") == 2  # max(1.33, 1.25) -> 2
    assert estimate_tokens("a b c d e f") == math.ceil(6 * 1.33)  # words dominate
    url = "https://example.com/" + "x" * 80
    assert estimate_tokens(url) == math.ceil(len(url) / 4)  # characters dominate
    text = "The quick brown fox jumps over the lazy dog."
    assert estimate_tokens(text) == math.ceil(max(9 * 1.33, len(text) / 4))
    assert estimate_tokens("   ") == 1  # whitespace costs characters


def test_estimate_tokens_is_monotonic_in_appending():
    rng = random.Random(1)
    text = ""
    last = 0
    for _ in range(200):
        text += rng.choice([" ", "word", "\n", "x", "https://a.b/c"])
        tokens = estimate_tokens(text)
        assert tokens >= last
        last = tokens


# --- pack_context ---------------------------------------------------------------------------


def test_pack_renders_sections_in_fixed_order_with_header():
    core = [_item("core", "Name: Sam.\nLikes tea.")]
    ranked = [
        _item("semantic", "Oslo is the capital of Norway.", 0.9),
        _item("episodic", "Sam visited   Oslo.", 0.8, datetime(2023, 5, 7, 9, tzinfo=UTC)),
        _item("knowledge_vault", "Sam's library card number", 0.7),
        _item("procedural", "How to brew tea: boil, steep, pour.", 0.6),
        _item("resource", "Trip itinerary (pdf)", 0.5),
        _item("episodic", "Sam booked a hotel.", 0.4),
    ]
    packed = pack_context(core, ranked, 1000, now=NOW)
    assert packed.text == (
        "Current time: 2024-05-01T14:30+00:00\n"
        "<core_memory>\nName: Sam.\nLikes tea.\n</core_memory>\n"
        "<episodic_memory>\n- [2023-05-07] Sam visited Oslo.\n- Sam booked a hotel.\n"
        "</episodic_memory>\n"
        "<semantic_memory>\n- Oslo is the capital of Norway.\n</semantic_memory>\n"
        "<procedural_memory>\n- How to brew tea: boil, steep, pour.\n</procedural_memory>\n"
        "<resource_memory>\n- Trip itinerary (pdf)\n</resource_memory>\n"
        "<knowledge_vault>\n- Sam's library card number\n</knowledge_vault>"
    )
    assert packed.tokens == estimate_tokens(packed.text)
    assert packed.included == (core[0], *ranked)
    assert packed.omitted == 0 and not packed.truncated
    assert SECTION_ORDER[0] == "core"


def test_pack_without_header_and_empty_sections_omitted():
    packed = pack_context([], [_item("semantic", "A fact.")], 100)
    assert packed.text == "<semantic_memory>\n- A fact.\n</semantic_memory>"
    empty = pack_context([], [], 100)
    assert empty == PackedContext("", 0, (), 0, False)
    only_header = pack_context([], [], 100, now=NOW)
    assert only_header.text == "Current time: 2024-05-01T14:30+00:00"


def test_pack_unknown_types_come_after_known_ones():
    ranked = [_item("zeta type", "z."), _item("alpha", "a."), _item("episodic", "e.")]
    text = pack_context([], ranked, 200).text
    assert text.index("<episodic_memory>") < text.index("<alpha_memory>")
    assert text.index("<alpha_memory>") < text.index("<zeta_type_memory>")


def test_pack_core_first_and_cut_to_fit():
    core = [_item("core", " ".join(f"fact{i}" for i in range(200)))]
    ranked = [_item("episodic", "A short event.", 0.99)]
    packed = pack_context(core, ranked, 60)
    assert packed.tokens <= 60 and estimate_tokens(packed.text) <= 60
    assert packed.truncated
    assert packed.included[0].memory_id == core[0].memory_id
    assert packed.included[0].text == packed.text.split("\n")[1]
    assert core[0].text.startswith(packed.included[0].text)
    assert packed.included[0].text.split()[-1].startswith("fact")  # cut at a word
    # the core block took the room: the ranked item did not fit
    assert packed.omitted == 1 and "<episodic_memory>" not in packed.text
    # one token more of room would not fit a longer prefix beyond budget either
    bigger = pack_context(core, ranked, 61)
    assert len(bigger.included[0].text) >= len(packed.included[0].text)


def test_pack_skips_an_item_that_does_not_fit_and_tries_smaller_ones():
    big = _item("semantic", "long " * 100, 0.9)
    small = _item("semantic", "short fact", 0.8)
    other = _item("episodic", "tiny", 0.7)
    packed = pack_context([], [big, small, other], 30)
    assert [i.memory_id for i in packed.included] == [small.memory_id, other.memory_id]
    assert packed.omitted == 1 and not packed.truncated


def test_pack_keeps_relevance_order_within_a_section():
    ranked = [_item("semantic", f"fact {i}", 1 - i / 10) for i in range(5)]
    shuffled = [ranked[3], ranked[0], ranked[4], ranked[1], ranked[2]]
    text = pack_context([], shuffled, 500).text
    lines = [line for line in text.split("\n") if line.startswith("- ")]
    assert lines == ["- fact 3", "- fact 0", "- fact 4", "- fact 1", "- fact 2"]


def test_pack_dedupes_by_memory_id():
    core = _item("core", "Sam likes tea.")
    fact = _item("semantic", "Oslo is in Norway.")
    packed = pack_context([core, core], [fact, fact, core], 200)
    assert packed.included == (core, fact)
    assert packed.text.count("Oslo") == 1 and packed.text.count("Sam likes tea.") == 1
    assert packed.omitted == 0


def test_pack_tiny_or_zero_budget():
    ranked = [_item("semantic", "A fact.")]
    assert pack_context([], ranked, 0) == PackedContext("", 0, (), 1, False)
    assert pack_context([], ranked, -5).omitted == 1
    # the header alone does not fit: nothing at all
    tiny = pack_context([_item("core", "x")], ranked, 3, now=NOW)
    assert tiny.text == "" and tiny.included == () and tiny.omitted == 2
    # room for the header only
    header_only = pack_context([], ranked, estimate_tokens("Current time: 2024-05-01T14:30+00:00"))
    assert header_only.included == () or header_only.tokens <= 10


def test_pack_blank_items_are_ignored():
    packed = pack_context([_item("core", "   ")], [_item("episodic", " \n ")], 100)
    assert packed == PackedContext("", 0, (), 0, False)


def test_pack_naive_and_aware_times():
    naive = datetime(2024, 1, 2, 3, 4)
    packed = pack_context([], [_item("episodic", "e", when=naive)], 100, now=naive)
    assert packed.text.startswith("Current time: 2024-01-02T03:04\n")
    assert "- [2024-01-02] e" in packed.text


def _random_items(rng: random.Random, n: int, kinds: list[str]) -> list[ContextItem]:
    words = ["memory", "Oslo", "tea", "https://example.org/path?q=1", "x", "a-very-long-token"]
    out = []
    for _ in range(n):
        text = " ".join(rng.choices(words, k=rng.randint(0, 60)))
        if rng.random() < 0.2:
            text = text.replace(" ", "\n", 3)
        when = NOW - timedelta(days=rng.randint(0, 900)) if rng.random() < 0.5 else None
        out.append(_item(rng.choice(kinds), text, rng.random(), when))
    return out


@pytest.mark.parametrize("seed", range(60))
def test_pack_budget_is_respected_over_random_inputs(seed):
    rng = random.Random(seed)
    kinds = [*SECTION_ORDER[1:], "custom"]
    core = _random_items(rng, rng.randint(0, 3), ["core"])
    core = [ContextItem(c.memory_id, "core", c.text * rng.randint(1, 8), 1.0) for c in core]
    ranked = _random_items(rng, rng.randint(0, 40), kinds)
    if ranked and rng.random() < 0.3:
        ranked.append(ranked[0])  # a duplicate id
    budget = rng.choice([0, 1, 5, 12, 20, 50, 100, 250, 1000, 5000])
    now = NOW if rng.random() < 0.5 else None
    packed = pack_context(core, ranked, budget, now=now)

    assert estimate_tokens(packed.text) == packed.tokens <= max(budget, 0)
    ids = [i.memory_id for i in packed.included]
    assert len(ids) == len(set(ids))
    # core first, in their order; ranked after, in their order
    core_ids = [c.memory_id for c in core]
    n_core = sum(1 for i in ids if i in core_ids)
    assert ids[:n_core] == [i for i in dict.fromkeys(core_ids) if i in ids]
    ranked_ids = list(dict.fromkeys(r.memory_id for r in ranked))
    assert ids[n_core:] == [i for i in ranked_ids if i in ids[n_core:]]
    # every included item's text is in the output; everything non-blank is accounted for
    for item in packed.included:
        if item.memory_type == "core" or item.memory_id in core_ids:
            assert item.text.strip() in packed.text
        else:
            assert " ".join(item.text.split()) in packed.text
    non_blank = {c.memory_id for c in core if c.text.strip()} | {
        r.memory_id for r in ranked if r.text.strip()
    }
    assert (
        len(packed.included) + packed.omitted == len(non_blank)
        or budget <= 0
        or (now is not None and packed.text == "")
    )
    # greedy: an omitted ranked item really did not fit at its turn; the result is stable
    assert pack_context(core, ranked, budget, now=now) == packed


@pytest.mark.parametrize("budget", [8, 9, 10, 15, 40, 77, 300])
def test_pack_fills_the_budget_closely(budget):
    ranked = [_item("semantic", f"fact number {i} here") for i in range(200)]
    packed = pack_context([], ranked, budget)
    assert packed.tokens <= budget
    one_line = estimate_tokens("- fact number 100 here") + 1
    assert packed.tokens > budget - one_line - 10  # the rest did not fit, little was wasted
