"""Memories of a cube, and conversations ingested into them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from memsvc.client.calls import compact, first_item, model, model_list, nothing
from memsvc.client.endpoints import Parts, paginated, route
from memsvc.client.models import (
    AddedMemories,
    CoreBlockWrite,
    Ingested,
    Lineage,
    Memory,
    MemoryHistory,
    MemoryLinks,
    Page,
)
from memsvc.client.routes import Id

MEMORIES = "/v1/cubes/{cube_id}/memories"
ONE_MEMORY = MEMORIES + "/{memory_id}"

# A memory to add: its text alone, or the fields of the API's item (content, memory_type,
# occurred_at, user_id, agent_id, session_id, source, tags, metadata, fields, ...).
NewMemory = str | Mapping[str, Any]
# A conversation turn: {"role", "content", "name"?, "timestamp"?, "message_id"?}.
Message = Mapping[str, Any]


def _item(item: NewMemory) -> Mapping[str, Any]:
    return {"content": item} if isinstance(item, str) else item


def _ids(cube_id: Id, memory_id: Id) -> dict[str, Any]:
    return {"cube_id": cube_id, "memory_id": memory_id}


def one_memory(cube_id: Id, memory_id: Id) -> Parts:
    return Parts(ids=_ids(cube_id, memory_id))


class MemoryRoutes:
    @route("POST", MEMORIES, model(AddedMemories))
    def add_memories(
        cube_id: Id,
        items: Sequence[NewMemory],
        *,
        infer: bool | None = None,
        deduplicate: bool | None = None,
    ) -> Parts:
        """Store 1 to 1000 memories, all or none; the ids returned are final."""
        body = {"items": [_item(i) for i in items], **compact(infer=infer, deduplicate=deduplicate)}
        return Parts(ids={"cube_id": cube_id}, body=body)

    @route("POST", MEMORIES, first_item(Memory))
    def add_memory(cube_id: Id, content: str, **fields: Any) -> Parts:
        """Store one memory (`fields`: memory_type, tags, metadata, user_id, ...)."""
        return Parts(ids={"cube_id": cube_id}, body={"items": [{"content": content, **fields}]})

    @route("GET", MEMORIES, model(Page[Memory]))
    def list_memories(
        cube_id: Id,
        *,
        memory_type: str | None = None,
        status: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        tag: str | Sequence[str] | None = None,
        min_trust: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Parts:
        """One page of memories in insertion order (deleted and quarantined ones only when
        `status` asks for them)."""
        query: dict[str, Any] = {"memory_type": memory_type, "status": status}
        query |= {"user_id": user_id, "agent_id": agent_id, "session_id": session_id}
        query |= {"tag": [tag] if isinstance(tag, str) else tag, "min_trust": min_trust}
        return Parts(ids={"cube_id": cube_id}, query={**query, "limit": limit, "cursor": cursor})

    iter_memories = paginated(list_memories, lambda page: page.items)

    @route("GET", ONE_MEMORY, model(Memory))
    def get_memory(cube_id: Id, memory_id: Id, *, reveal: bool = False) -> Parts:
        """A memory. `reveal=True` (the `secrets` scope) adds a knowledge-vault entry's
        decrypted `fields["secret_value"]`; nothing else ever shows it."""
        return Parts(ids=_ids(cube_id, memory_id), query={"reveal": reveal or None})

    @route("PATCH", ONE_MEMORY, model(Memory))
    def update_memory(cube_id: Id, memory_id: Id, **changes: Any) -> Parts:
        """A new version with the fields given (content, tags, metadata, status, ...;
        `expected_version` makes it 409 if the memory moved on, `reason` is kept in the
        history). Not retried on an unknown outcome: a second PATCH is a second version."""
        return Parts(ids=_ids(cube_id, memory_id), body=changes)

    @route("DELETE", ONE_MEMORY, nothing)
    def delete_memory(cube_id: Id, memory_id: Id, *, hard: bool = False) -> Parts:
        """Soft delete (status `deleted`, restorable) unless `hard`: content, embeddings
        and graph facts purged for good."""
        return Parts(ids=_ids(cube_id, memory_id), query={"hard": hard or None})

    # (cube_id, memory_id) is all these need
    restore_memory = route(
        "POST", ONE_MEMORY + "/restore", model(Memory), doc="A deleted memory made active again."
    )(one_memory)
    get_history = route(
        "GET",
        ONE_MEMORY + "/history",
        model(MemoryHistory),
        doc="Every version, oldest first, each with what changed it (`change_kind`).",
    )(one_memory)
    get_lineage = route(
        "GET",
        ONE_MEMORY + "/lineage",
        model(Lineage),
        doc="What the memory was made from, and what was made from it.",
    )(one_memory)
    get_links = route(
        "GET",
        ONE_MEMORY + "/links",
        model(MemoryLinks),
        doc="The memory's links to live memories, strongest first.",
    )(one_memory)

    @route("POST", "/v1/cubes/{cube_id}/messages", model(Ingested))
    def add_messages(
        cube_id: Id,
        messages: Sequence[Message],
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        infer: bool | None = None,
        mode: Literal["auto", "sync", "async"] | None = None,
        max_trust: int | None = None,
    ) -> Parts:
        """Store conversation turns and infer typed memories from them. `status` is "done"
        (201: stored before the answer) or "queued" (202: follow `job_id`)."""
        body: dict[str, Any] = {
            "messages": list(messages),
            "infer": infer,
            "mode": mode,
            "max_trust": max_trust,
        }
        body |= {"user_id": user_id, "agent_id": agent_id, "session_id": session_id}
        return Parts(ids={"cube_id": cube_id}, body=compact(**body))

    @route("GET", "/v1/cubes/{cube_id}/core", model_list(Memory))
    def list_core(cube_id: Id, user_id: str | None = None) -> Parts:
        """The core memory blocks for a user (and the cube-wide ones)."""
        return Parts(ids={"cube_id": cube_id}, query={"user_id": user_id})

    @route("PUT", "/v1/cubes/{cube_id}/core/{label}", model(CoreBlockWrite))
    def write_core(cube_id: Id, label: str, value: str, user_id: str | None = None) -> Parts:
        """Rewrite (or create) the `human` or `persona` block."""
        body = {"value": value, "user_id": user_id}
        return Parts(ids={"cube_id": cube_id, "label": label}, body=compact(**body))

    @route("POST", "/v1/cubes/{cube_id}/core/{label}/append", model(CoreBlockWrite))
    def append_core(cube_id: Id, label: str, content: str, user_id: str | None = None) -> Parts:
        """Append to the `human` or `persona` block (condensed near its limit)."""
        body = {"content": content, "user_id": user_id}
        return Parts(ids={"cube_id": cube_id, "label": label}, body=compact(**body))
