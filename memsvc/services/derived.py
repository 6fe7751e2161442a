"""Memories the service makes from others (daily and global summaries, portraits), kept one per
key and cube: a re-run updates the same memory (same id, a new `consolidation` version) only when
its sources changed, so retries and repeated schedules never duplicate anything."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.memory import Memory, content_hash, version_row
from memsvc.domain.types import ChangeKind, MemoryType, Status
from memsvc.services.memories import NewMemory, new_row
from memsvc.services.runtime import Runtime
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

ACTOR = "consolidation"
FINGERPRINT_KEY = "sources_fingerprint"


@dataclasses.dataclass(frozen=True)
class Derived:
    """What to store under a key, made from `source_ids`."""

    key: str
    origin: str
    memory_type: MemoryType
    content: str
    fields: dict[str, Any]
    user_id: str | None
    occurred_at: datetime
    source_ids: tuple[uuid.UUID, ...]
    fingerprint: str
    made_by: str  # "llm" or "fallback"


def fingerprint(parts: Sequence[str]) -> str:
    """A digest of what a derived memory was made from (ids and texts, in order)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def up_to_date(existing: Memory | None, wanted_fingerprint: str) -> bool:
    return existing is not None and existing.metadata.get(FINGERPRINT_KEY) == wanted_fingerprint


async def save(
    rt: Runtime, conn: AsyncConnection, *, cube_id: uuid.UUID, item: Derived, vector: np.ndarray
) -> str:
    """Create or update the memory under `item.key`; "created", "updated" or "unchanged"."""
    existing = await lifecycle_store.by_derived_key(conn, cube_id=cube_id, key=item.key, lock=True)
    if up_to_date(existing, item.fingerprint):
        return "unchanged"
    metadata = {FINGERPRINT_KEY: item.fingerprint, "made_by": item.made_by}
    reason = f"{item.origin} from {len(item.source_ids)} memories ({item.made_by})"
    if existing is None:
        new = NewMemory(
            content=item.content,
            memory_type=item.memory_type,
            occurred_at=item.occurred_at,
            user_id=item.user_id,
            source="memsvc",
            metadata=metadata,
            fields=item.fields,
            origin=item.origin,
        )
        row = new_row(rt, new, item.fields, vector, uuid.uuid4(), cube_id, rt.now(), Status.ACTIVE)
        row["derived_key"] = item.key
        (memory,) = await memory_store.insert_memories(conn, [row])
        await memory_store.insert_versions(
            conn, [version_row(memory, ChangeKind.CONSOLIDATION, ["content"], ACTOR, reason)]
        )
        outcome = "created"
    else:
        values: dict[str, Any] = {
            "content": item.content,
            "content_hash": content_hash(item.content),
            "fields": item.fields,
            "metadata": metadata,
            "status": Status.ACTIVE.value,
        }
        memory = await memory_store.update_memory(
            conn,
            memory_id=existing.id,
            values=values,
            embedding=vector,
            embedding_model=rt.embedder.model_name,
        )
        changed = sorted(
            k for k in ("content", "fields", "status") if getattr(existing, k) != values[k]
        )
        await memory_store.insert_versions(
            conn, [version_row(memory, ChangeKind.CONSOLIDATION, changed, ACTOR, reason)]
        )
        outcome = "updated"
    await lifecycle_store.replace_sources(
        conn,
        cube_id=cube_id,
        memory_id=memory.id,
        source_ids=item.source_ids,
        relation="summarizes",
    )
    return outcome
