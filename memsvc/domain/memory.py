"""The memory item and its cube, as plain frozen records."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from memsvc.domain.types import ChangeKind

# Fields of a memory a version snapshot records (everything a client sees, bar recall stats).
SNAPSHOT_FIELDS = (
    "memory_type",
    "content",
    "status",
    "occurred_at",
    "user_id",
    "agent_id",
    "session_id",
    "source",
    "source_message_ids",
    "tags",
    "keywords",
    "context",
    "metadata",
    "fields",
    "valid_from",
    "valid_to",
    "pinned",
    "fact_value",
    "trust",
)


@dataclasses.dataclass(frozen=True)
class Memory:
    id: uuid.UUID
    cube_id: uuid.UUID
    memory_type: str
    content: str
    status: str
    created_at: datetime
    updated_at: datetime
    occurred_at: datetime
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    source: str | None
    source_message_ids: list[str]
    tags: list[str]
    keywords: list[str]
    context: str | None
    metadata: dict[str, Any]
    fields: dict[str, Any]
    version: int
    strength: float
    last_recalled_at: datetime | None
    recall_count: int
    valid_from: datetime | None
    valid_to: datetime | None
    pinned: bool
    origin: str | None  # None: the client's own; else what consolidation made it (thought, ...)
    has_secret: bool  # a knowledge-vault secret is stored (encrypted) with it
    # Inferred from a conversation: who the fact is about, and the slot it fills (if any).
    fact_subject: str | None = None
    fact_attribute: str | None = None
    fact_value: str | None = None
    # How far it is trusted, from where it came (memsvc.algorithms.trust: 0 external .. 3 system).
    trust: int = 1

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Memory:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of what a version records."""
        out: dict[str, Any] = {}
        for name in SNAPSHOT_FIELDS:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclasses.dataclass(frozen=True)
class Cube:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str | None
    owner: str | None
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Cube:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class MemoryVersion:
    memory_id: uuid.UUID
    version: int
    change_kind: str
    changed_fields: list[str]
    reason: str | None
    actor: str | None
    snapshot: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> MemoryVersion:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


def version_row(
    memory: Memory, kind: ChangeKind, fields: list[str], actor: str, reason: str | None
) -> dict[str, Any]:
    """The memory_versions row recording that `memory` (as it is now) came from this change."""
    return {
        "memory_id": memory.id,
        "version": memory.version,
        "change_kind": kind.value,
        "changed_fields": fields,
        "reason": reason,
        "actor": actor,
        "snapshot": memory.snapshot(),
    }


def content_hash(content: str) -> str:
    """Hash of the whitespace- and case-normalised content (exact-duplicate detection)."""
    normalised = " ".join(content.split()).casefold()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def changed_fields(before: Memory, after_values: Mapping[str, Any]) -> list[str]:
    """Names of snapshot fields whose value differs between a memory and proposed values."""
    return sorted(
        name
        for name, value in after_values.items()
        if name in SNAPSHOT_FIELDS and getattr(before, name) != value
    )
