"""Domain rules: per-type fields, changed_fields, content_hash."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from memsvc.domain.fields import FIELD_SCHEMAS, validate_fields
from memsvc.domain.memory import Memory, changed_fields, content_hash
from memsvc.domain.types import ALLOWED_STATUS_CHANGES, ChangeKind, MemoryType, Status
from memsvc.errors import InvalidRequest


def test_every_type_has_a_schema_and_accepts_empty_fields():
    assert set(FIELD_SCHEMAS) == set(MemoryType)
    for memory_type in MemoryType:
        assert validate_fields(memory_type, {}) == {}
        assert validate_fields(memory_type, None) == {}


@pytest.mark.parametrize(
    ("memory_type", "fields", "expected"),
    [
        (MemoryType.CORE, {"label": "human", "limit": 10}, {"label": "human", "limit": 10}),
        (MemoryType.EPISODIC, {"summary": "  trimmed  "}, {"summary": "trimmed"}),
        (MemoryType.SEMANTIC, {"name": "X", "details": None}, {"name": "X"}),
        (
            MemoryType.PROCEDURAL,
            {"entry_type": "guide", "steps": ["a", "b"]},
            {"entry_type": "guide", "steps": ["a", "b"]},
        ),
        (
            MemoryType.RESOURCE,
            {"uri": "https://x", "title": "T"},
            {"uri": "https://x", "title": "T"},
        ),
        (
            MemoryType.KNOWLEDGE_VAULT,
            {"sensitivity": "high", "caption": "c"},
            {"sensitivity": "high", "caption": "c"},
        ),
    ],
)
def test_valid_fields(memory_type, fields, expected):
    assert validate_fields(memory_type, fields) == expected


@pytest.mark.parametrize(
    ("memory_type", "fields"),
    [
        (MemoryType.CORE, {"label": "robot"}),
        (MemoryType.CORE, {"limit": 0}),
        (MemoryType.CORE, {"limit": 5001}),
        (MemoryType.EPISODIC, {"unknown": 1}),
        (MemoryType.EPISODIC, {"summary": "x" * 20_001}),
        (MemoryType.SEMANTIC, {"label": "human"}),  # another type's field
        (MemoryType.PROCEDURAL, {"entry_type": "recipe"}),
        (MemoryType.PROCEDURAL, {"steps": "not a list"}),
        (MemoryType.RESOURCE, {"uri": 5}),
        (MemoryType.KNOWLEDGE_VAULT, {"sensitivity": "extreme"}),
    ],
)
def test_invalid_fields(memory_type, fields):
    with pytest.raises(InvalidRequest) as info:
        validate_fields(memory_type, fields)
    assert info.value.code == "invalid_fields" and info.value.status == 422
    assert info.value.details and all("field" in d for d in info.value.details)


def test_vault_secret_value_is_a_vault_field_only():
    # accepted (and kept) by the vault schema: the service encrypts it out of `fields`
    fields = validate_fields(MemoryType.KNOWLEDGE_VAULT, {"secret_value": "hunter2"})
    assert fields == {"secret_value": "hunter2"}
    with pytest.raises(InvalidRequest) as info:
        validate_fields(MemoryType.KNOWLEDGE_VAULT, {"secret_value": ""})
    assert "hunter2" not in info.value.message
    # another type: just an unknown field
    with pytest.raises(InvalidRequest) as info:
        validate_fields(MemoryType.SEMANTIC, {"secret_value": "x"})
    assert info.value.code == "invalid_fields"


def _memory(**overrides) -> Memory:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    base = {
        "id": uuid.uuid4(),
        "cube_id": uuid.uuid4(),
        "memory_type": "episodic",
        "content": "hello",
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "occurred_at": now,
        "user_id": None,
        "agent_id": None,
        "session_id": None,
        "source": None,
        "source_message_ids": [],
        "tags": ["a"],
        "keywords": [],
        "context": None,
        "metadata": {"k": 1},
        "fields": {},
        "version": 1,
        "strength": 1.0,
        "last_recalled_at": None,
        "recall_count": 0,
        "valid_from": None,
        "valid_to": None,
        "pinned": False,
        "origin": None,
        "has_secret": False,
    }
    base.update(overrides)
    return Memory(**base)


def test_changed_fields():
    m = _memory()
    assert changed_fields(m, {}) == []
    assert changed_fields(m, {"content": "hello", "tags": ["a"]}) == []
    assert changed_fields(m, {"tags": ["b"], "content": "bye"}) == ["content", "tags"]
    assert changed_fields(m, {"metadata": {"k": 2}, "user_id": "u"}) == ["metadata", "user_id"]
    # bookkeeping columns are not "fields" of a version
    assert changed_fields(m, {"version": 9, "strength": 3.0, "content_hash": "x"}) == []


def test_snapshot_is_json_ready():
    m = _memory(valid_from=datetime(2024, 2, 1, tzinfo=UTC))
    snap = m.snapshot()
    assert snap["content"] == "hello" and snap["occurred_at"] == "2024-01-01T00:00:00+00:00"
    assert snap["valid_from"].startswith("2024-02-01") and snap["valid_to"] is None
    assert "version" not in snap and "strength" not in snap and "id" not in snap
    assert dataclasses.replace(m, content="x").snapshot()["content"] == "x"


def test_content_hash_normalisation():
    h = content_hash("Alice  likes\tTEA\n")
    assert h == content_hash("alice likes tea")
    assert h == content_hash("  ALICE LIKES TEA  ")
    assert h != content_hash("alice likes coffee")
    assert h != content_hash("alicelikes tea")
    assert content_hash("Straße") == content_hash("STRASSE")  # casefold, not lower
    assert len(h) == 64 and int(h, 16) >= 0


def test_status_rules():
    # a client can never put a memory into merged/deleted/pending through PATCH
    for (_, target), kind in ALLOWED_STATUS_CHANGES.items():
        assert target in (Status.ARCHIVED, Status.ACTIVE)
        assert kind in (ChangeKind.USER_UPDATE, ChangeKind.RESTORE)
        assert (kind is ChangeKind.RESTORE) == (target is Status.ACTIVE)
