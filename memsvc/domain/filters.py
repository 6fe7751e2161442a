"""What a listing or a search is restricted to. Plain data; the store turns it into SQL."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from memsvc.domain.types import MemoryType, Status


@dataclasses.dataclass(frozen=True)
class MemoryFilter:
    statuses: tuple[Status, ...]
    memory_types: tuple[MemoryType, ...] = ()
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    tags: tuple[str, ...] = ()  # a memory must carry all of them
    metadata: dict[str, Any] | None = None  # containment: every key/value must match
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    as_of: datetime | None = None  # what was stored and valid at that instant
    min_trust: int | None = None  # only memories trusted at least this much (0..3)
