"""Consensus validation (memsvc.algorithms.consensus): contradiction rules and the ruling."""

from __future__ import annotations

import pytest

from memsvc.algorithms import consensus
from memsvc.algorithms.consensus import Judged, Relation, Statement, Witness

LIVES = "lives_in"


def _fact(value: str, attribute: str = LIVES, subject: str = "sam") -> Statement:
    return Statement(f"Sam: {attribute} {value}", subject, attribute, value)


def _w(key: str, statement: Statement, trust: int, *sources: str) -> Witness[str]:
    return Witness(key, statement, trust, frozenset(sources or {f"memory:{key}"}))


# --- relations ------------------------------------------------------------------------------


def test_slots():
    assert consensus.relation(_fact("paris"), _fact("london"))[0] is Relation.CONTRADICTS
    assert consensus.relation(_fact("london"), _fact("london"))[0] is Relation.SUPPORTS
    # a refinement agrees
    assert consensus.relation(_fact("berlin kreuzberg"), _fact("berlin"))[0] is Relation.SUPPORTS
    # many-valued slots never conflict
    has = consensus.relation(_fact("yes", "has:bike"), _fact("no", "has:bike"))
    assert has[0] is Relation.UNRELATED
    # another subject, another slot: unrelated
    other = Statement("Ana lives in Paris", "ana", LIVES, "paris")
    assert consensus.relation(other, _fact("london"))[0] is Relation.UNRELATED
    assert consensus.relation(_fact("acme", "works_at"), _fact("london"))[0] is Relation.UNRELATED


@pytest.mark.parametrize(
    ("new", "old"),
    [
        ("Sam is not allergic to peanuts", "Sam is allergic to peanuts"),
        ("Sam isn't allergic to peanuts.", "Sam is allergic to peanuts"),
        ("Sam doesn't like jazz", "Sam likes jazz"),
        ("Sam does not like jazz", "Sam likes jazz"),
        ("Sam never drinks coffee", "Sam drinks coffee"),
        ("Sam no longer lives in Paris", "Sam lives in Paris"),
        ("Sam can't swim", "Sam can swim"),
        ("Sam has no dog", "Sam has a dog"),
        ("Sam does not have a dog", "Sam has a dog"),
        ("Sam's not vegetarian", "Sam is vegetarian"),
        ("Sam is allergic to peanuts", "Sam is not allergic to peanuts"),
    ],
)
def test_negations(new, old):
    assert consensus.relation(Statement(new), Statement(old))[0] is Relation.CONTRADICTS


@pytest.mark.parametrize(
    ("new", "old", "relation"),
    [
        ("Sam is allergic to peanuts", "Sam is allergic to peanuts!", Relation.SUPPORTS),
        ("Sam isn't allergic to cats", "Sam is not allergic to cats", Relation.SUPPORTS),
        # not the same statement
        ("Sam is not allergic to cats", "Sam is allergic to peanuts", Relation.UNRELATED),
        ("Sam was vegetarian", "Sam is not vegetarian", Relation.UNRELATED),
        ("Sam lives in London", "Sam lives in Paris", Relation.UNRELATED),
        # questions are not statements; a leading "No," is no negation
        ("Is Sam not allergic to peanuts?", "Sam is allergic to peanuts", Relation.UNRELATED),
        ("No, Sam is allergic to peanuts", "Sam is allergic to peanuts", Relation.SUPPORTS),
        # too short to read reliably
        ("Not jazz", "Jazz", Relation.UNRELATED),
    ],
)
def test_what_is_no_negation(new, old, relation):
    assert consensus.relation(Statement(new), Statement(old))[0] is relation


def test_polar():
    assert consensus.polar("Sam doesn't like jazz") == (("sam", "like", "jazz"), True)
    assert consensus.polar("Sam likes jazz") == (("sam", "like", "jazz"), False)
    assert consensus.polar("Why?") is None


# --- the ruling -----------------------------------------------------------------------------


def _rule(new, witnesses, new_trust=0, **kw):
    return consensus.rule(new_trust, consensus.judge_by_rules(new, witnesses), **kw)


def test_two_statements_of_more_trusted_memories_make_a_consensus():
    london = _w("L", _fact("london"), 2, "m1", "m2")  # one fact, stated twice
    ruling = _rule(_fact("paris"), [london])
    assert ruling.quarantine
    assert [j.witness.key for j in ruling.consensus] == ["L"]
    assert "L (user, 2 statement(s), rules)" in ruling.reason
    assert "this one: external" in ruling.reason
    assert ruling.judged_by == "rules"


def test_one_statement_is_no_consensus():
    ruling = _rule(_fact("paris"), [_w("L", _fact("london"), 2, "m1")])
    assert not ruling.quarantine
    assert [j.witness.key for j in ruling.contradicted] == ["L"]
    assert "1 statement(s); 2 needed" in ruling.reason
    # min_consensus 1: one statement is enough
    assert _rule(_fact("paris"), [_w("L", _fact("london"), 2, "m1")], min_consensus=1).quarantine


def test_a_turn_and_its_fact_are_one_statement():
    fact = _w("F", _fact("london"), 2, "m1")
    turn = _w("T", Statement("Sam: I live in London."), 2, "m1")
    ruling = consensus.rule(
        0,
        [
            *consensus.judge_by_rules(_fact("paris"), [fact]),
            Judged(turn, Relation.CONTRADICTS, "slot:lives_in=london", by="llm"),
        ],
    )
    assert not ruling.quarantine


def test_separate_memories_agreeing_add_up():
    a = _w("A", Statement("Maya is vegetarian"), 2)
    b = _w("B", Statement("Maya is vegetarian."), 2)
    ruling = _rule(Statement("Maya isn't vegetarian"), [a, b], new_trust=1)
    assert ruling.quarantine and {j.witness.key for j in ruling.consensus} == {"A", "B"}


def test_refinements_are_one_position():
    a = _w("A", _fact("berlin"), 2, "m1")
    b = _w("B", _fact("berlin kreuzberg"), 2, "m2")
    assert _rule(_fact("paris"), [a, b]).quarantine


def test_one_system_memory_is_enough():
    ruling = _rule(
        Statement("Sam is not allergic to peanuts"),
        [_w("S", Statement("Sam is allergic to peanuts"), 3)],
        new_trust=2,
    )
    assert ruling.quarantine and "S (system" in ruling.reason


def test_only_more_trusted_memories_count():
    london = _fact("london")
    equal = [_w("L", london, 1, "m1", "m2", "m3")]
    assert not _rule(_fact("paris"), equal, new_trust=1).quarantine
    lower = [_w("L", london, 0, "m1", "m2")]
    assert not _rule(_fact("paris"), lower, new_trust=1).quarantine
    assert _rule(_fact("paris"), lower, new_trust=1).contradicted == ()


def test_a_more_trusted_memory_agreeing_prevents_quarantine():
    witnesses = [_w("L", _fact("london"), 2, "m1", "m2"), _w("P", _fact("paris"), 2, "m3")]
    ruling = _rule(_fact("paris"), witnesses)
    assert not ruling.quarantine and "1 agree with it" in ruling.reason


def test_unrelated_memories_change_nothing():
    ruling = _rule(_fact("paris"), [_w("J", _fact("acme", "works_at"), 3)])
    assert not ruling.quarantine and ruling.contradicted == ()
    assert _rule(Statement("anything"), []).reason == "no more trusted memory contradicts it"


def test_the_model_marks_its_findings():
    w = _w("W", Statement("Sam's home is London"), 2, "m1", "m2")
    ruling = consensus.rule(0, [Judged(w, Relation.CONTRADICTS, "llm", by="llm")])
    assert ruling.quarantine and ruling.judged_by == "llm" and "llm)" in ruling.reason
