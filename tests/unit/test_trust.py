"""Trust levels from provenance and the key (memsvc.algorithms.trust)."""

from __future__ import annotations

import pytest

from memsvc.algorithms import trust
from memsvc.algorithms.trust import Trust


def test_levels_are_ordered():
    assert Trust.EXTERNAL < Trust.AGENT < Trust.USER < Trust.SYSTEM == trust.TOP
    assert [trust.name(level) for level in range(4)] == ["external", "agent", "user", "system"]


@pytest.mark.parametrize(
    ("role", "level"),
    [
        ("user", Trust.USER),
        ("Human", Trust.USER),
        ("assistant", Trust.AGENT),
        ("system", Trust.SYSTEM),
        ("developer", Trust.SYSTEM),
        ("tool", Trust.EXTERNAL),
        ("function", Trust.EXTERNAL),
        ("narrator", Trust.EXTERNAL),  # unknown: the least trusted
    ],
)
def test_roles(role, level):
    assert trust.from_role(role) is level


@pytest.mark.parametrize(
    ("source", "level"),
    [
        ("user", Trust.USER),
        ("  Human ", Trust.USER),
        ("system", Trust.SYSTEM),
        ("admin-console", Trust.SYSTEM),
        ("assistant", Trust.AGENT),
        ("memsvc", Trust.AGENT),
        ("tool", Trust.EXTERNAL),
        ("tool:web_search", Trust.EXTERNAL),
        ("web:https://example.org/page", Trust.EXTERNAL),
        ("https://example.org", Trust.EXTERNAL),
        ("file/report.pdf", Trust.EXTERNAL),
        ("email", Trust.EXTERNAL),
        ("retrieved", Trust.EXTERNAL),
        ("conversation", None),
        ("crm", None),
        ("", None),
        (None, None),
        ("42", None),
    ],
)
def test_sources(source, level):
    assert trust.from_source(source) == level


def test_derive_prefers_the_source_then_the_type_then_the_default():
    assert trust.derive(source="web", memory_type="core") is Trust.EXTERNAL
    assert trust.derive(source=None, memory_type="core") is Trust.SYSTEM
    assert trust.derive(source="crm", memory_type="semantic") is Trust.AGENT
    assert trust.derive(source=None, memory_type="semantic", default=Trust.USER) is Trust.USER


def test_key_levels():
    assert trust.key_level(is_admin=True, scopes=[]) is Trust.SYSTEM
    assert trust.key_level(is_admin=False, scopes=["read", "write", "admin"]) is Trust.SYSTEM
    assert trust.key_level(is_admin=False, scopes=["read", "write"]) is Trust.USER


def test_a_client_lowers_never_raises():
    ceiling = Trust.USER
    assert trust.allowed(None, ceiling)
    assert trust.allowed(0, ceiling) and trust.allowed(2, ceiling)
    assert not trust.allowed(3, ceiling)
    assert not trust.allowed(-1, ceiling)
    # provenance above the key's level is lowered to it
    assert trust.resolve(Trust.SYSTEM, ceiling) is Trust.USER
    assert trust.resolve(Trust.EXTERNAL, ceiling) is Trust.EXTERNAL
    # an explicit level within the key's replaces the provenance's
    assert trust.resolve(Trust.EXTERNAL, ceiling, requested=2) is Trust.USER
    assert trust.resolve(Trust.USER, ceiling, requested=0) is Trust.EXTERNAL
    assert trust.resolve(Trust.USER, Trust.SYSTEM, requested=3) is Trust.SYSTEM


def test_caps_and_edits():
    assert trust.capped([3, 2, 1, 0], 1) == [1, 1, 1, 0]
    assert trust.capped([3, 0], None) == [3, 0]
    assert trust.after_edit(Trust.SYSTEM, Trust.USER) is Trust.USER
    assert trust.after_edit(Trust.AGENT, Trust.SYSTEM) is Trust.AGENT
