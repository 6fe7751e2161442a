"""The activation prefix (pure composition) and the byte-budget LRU of loaded caches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from memsvc.activation import prefix
from memsvc.activation.lru import ByteBudgetLRU

WHEN = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def mem(content: str, kind: str = "semantic", label: str | None = None) -> prefix.PrefixMemory:
    return prefix.PrefixMemory(uuid.uuid4(), 1, kind, content, WHEN, label)


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def wrapped(text: str) -> int:
    return words(text) + 3  # as if the chat template added three tokens


def test_render_puts_core_first_with_labels_and_dates():
    text = prefix.render([mem("Tea\nevery   morning."), mem("Is Sam.", "core", "human")])
    header, core, rest = text.split("\n\n")
    assert header == prefix.HEADER
    assert core == "Core memory:\n[human] Is Sam."
    assert rest == "Memories:\n- (2026-03-04) Tea every morning."


def test_render_depends_only_on_the_memories():
    memories = [mem("a b c"), mem("d e")]
    assert prefix.render(memories) == prefix.render(list(memories))
    assert prefix.render([]) == prefix.HEADER


def test_compose_fills_the_budget_in_priority_order_and_skips_what_does_not_fit():
    short = [mem(f"fact number {i}") for i in range(10)]
    long = mem("word " * 200)
    budget = wrapped(prefix.render([])) + 20
    composed = prefix.compose(
        [short[0], long, *short[1:]], count_text=words, count_rendered=wrapped, max_tokens=budget
    )
    assert wrapped(composed.text) <= budget
    assert composed.memories[0] == short[0]
    assert long not in composed.memories  # skipped, not a wall for the shorter ones after it
    assert len(composed.memories) >= 3
    assert composed.left_out == 11 - len(composed.memories)
    assert [m.content for m in composed.memories] == [
        m.content for m in short[: len(composed.memories)]
    ]


def test_compose_never_exceeds_the_budget_even_when_the_estimate_is_low():
    # A tokenizer whose count of the whole exceeds the sum of its parts (tokens straddling
    # lines): the exact check trims from the end.
    def greedy(text: str) -> int:
        return words(text) + text.count("\n") * 2

    memories = [mem(f"m {i}") for i in range(30)]
    for budget in (10, 25, 40, 80):
        composed = prefix.compose(
            memories, count_text=words, count_rendered=greedy, max_tokens=budget
        )
        assert not composed.memories or greedy(composed.text) <= budget


def test_priority_keeps_core_first_and_drops_repeats():
    core = [mem("c", "core", "human")]
    ranked = [mem("x"), core[0], mem("y")]
    assert prefix.priority(core, ranked) == [core[0], ranked[0], ranked[2]]


def test_lru_keeps_recent_entries_within_the_budget():
    lru: ByteBudgetLRU[str, str] = ByteBudgetLRU(100)
    assert lru.put("a", "A", 40) and lru.put("b", "B", 40)
    assert lru.get("a") == "A"  # a is now the most recent
    assert lru.put("c", "C", 40)  # evicts b, the least recently used
    assert lru.keys() == ["a", "c"] and lru.bytes == 80 and "b" not in lru
    assert lru.get("b") is None
    assert lru.stats()["evictions"] == 1 and lru.stats()["hits"] == 1


def test_lru_refuses_an_entry_larger_than_the_budget_and_replaces_in_place():
    lru: ByteBudgetLRU[str, str] = ByteBudgetLRU(100)
    lru.put("a", "A", 60)
    assert not lru.put("huge", "H", 101)
    assert lru.keys() == ["a"]  # nothing evicted for an entry that could not stay
    lru.put("a", "A2", 90)
    assert lru.bytes == 90 and lru.get("a") == "A2"
    lru.pop("a")
    assert lru.bytes == 0 and len(lru) == 0
    with pytest.raises(ValueError):
        ByteBudgetLRU(-1)


def test_lru_budget_holds_under_any_sequence():
    import random

    rng = random.Random(3)
    lru: ByteBudgetLRU[int, int] = ByteBudgetLRU(1000)
    for step in range(2000):
        key = rng.randrange(50)
        if rng.random() < 0.6:
            lru.put(key, step, rng.randrange(1, 400))
        else:
            lru.get(key)
        assert lru.bytes <= 1000
