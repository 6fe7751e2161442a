"""The add / reinforce / update / supersede rules of conversation ingestion."""

from __future__ import annotations

import pytest

from memsvc.algorithms.update_decision import (
    Decision,
    Fact,
    Neighbour,
    decide,
    single_valued,
)


def fact(content: str, attribute: str | None = None, value: str | None = None, **kw) -> Fact:
    return Fact(
        content=content,
        subject=kw.get("subject", "sam"),
        memory_type=kw.get("memory_type", "semantic"),
        attribute=attribute,
        value=value,
    )


def near(key: str, f: Fact, similarity: float = 0.7) -> Neighbour[str]:
    return Neighbour(key=key, fact=f, similarity=similarity)


PARIS = fact("Sam lives in Paris.", "lives_in", "paris")


def test_nothing_stored_is_an_add():
    v = decide(fact("Sam lives in Berlin.", "lives_in", "berlin"), [])
    assert (v.decision, v.target) == (Decision.ADD, None)


def test_a_new_value_of_a_single_valued_slot_supersedes():
    v = decide(fact("Sam lives in Berlin.", "lives_in", "berlin"), [near("p", PARIS)])
    assert (v.decision, v.target) == (Decision.SUPERSEDE, "p")
    assert "paris" in v.reason and "berlin" in v.reason


def test_the_same_slot_and_value_reinforces():
    v = decide(fact("Sam is living in Paris", "lives_in", "Paris"), [near("p", PARIS, 0.8)])
    assert (v.decision, v.target) == (Decision.REINFORCE, "p")


def test_the_same_text_or_a_near_duplicate_reinforces():
    assert (
        decide(fact("sam lives in paris"), [near("p", PARIS, 0.1)]).decision is Decision.REINFORCE
    )
    v = decide(fact("Sam resides in Paris"), [near("p", PARIS, 0.96)])
    assert (v.decision, v.target) == (Decision.REINFORCE, "p")


def test_a_refined_value_updates_the_same_memory():
    v = decide(
        fact("Sam lives in Paris, Montmartre.", "lives_in", "paris montmartre"), [near("p", PARIS)]
    )
    assert (v.decision, v.target) == (Decision.UPDATE, "p")


def test_many_valued_slots_add():
    car = fact("Sam has a car.", "has:car", "yes")
    v = decide(fact("Sam has a bike.", "has:bike", "yes"), [near("c", car, 0.8)])
    assert v.decision is Decision.ADD  # another object is another slot
    assert not single_valued("has:car")


def test_a_flipped_preference_supersedes():
    likes = fact("Sam likes coffee.", "likes:coffee", "yes")
    v = decide(fact("Sam no longer likes coffee.", "likes:coffee", "no"), [near("l", likes)])
    assert (v.decision, v.target) == (Decision.SUPERSEDE, "l")


def test_other_subjects_and_types_are_not_compared():
    ann = fact("Ann lives in Paris.", "lives_in", "paris", subject="ann")
    assert decide(
        fact("Sam lives in Berlin.", "lives_in", "berlin"), [near("a", ann, 0.99)]
    ).decision is (Decision.ADD)
    event = fact("Sam lives in Paris.", "lives_in", "paris", memory_type="episodic")
    assert decide(
        fact("Sam lives in Berlin.", "lives_in", "berlin"), [near("e", event)]
    ).decision is (Decision.ADD)


def test_a_close_rephrasing_without_slots_updates():
    note = fact("Sam is training for the Berlin marathon.")
    v = decide(
        fact("Sam is training hard for the Berlin marathon in May."), [near("n", note, 0.91)]
    )
    assert (v.decision, v.target) == (Decision.UPDATE, "n")
    v = decide(fact("Sam bought new running shoes."), [near("n", note, 0.6)])
    assert v.decision is Decision.ADD


def test_supersede_picks_the_closest_stored_value():
    old = [near("a", PARIS, 0.5), near("b", fact("Sam lives in Lyon.", "lives_in", "lyon"), 0.7)]
    assert decide(fact("Sam lives in Nice.", "lives_in", "nice"), old).target == "b"


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("lives_in", True),
        ("works_at", True),
        ("name_of:dog", True),
        ("favourite:colour", True),
        ("likes:tea", True),
        ("has:dog", False),
        ("lives", False),
    ],
)
def test_single_valued_attributes(attribute, expected):
    assert single_valued(attribute) is expected
