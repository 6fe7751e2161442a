"""MIRIX active retrieval: a prompt-ready context across every memory type within a budget.

Core blocks come first (the user's and the cube-wide ones), then the memories most relevant to
the query by hybrid search over every type but the vault, then vault entries whose sensitivity
is low or medium, by caption only: a secret value never enters a context. The query is the text
given, or the last messages of a conversation (MIRIX asks an LLM for the topic; the messages
themselves serve the same purpose here and cost nothing). What is included counts as a recall.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from memsvc.algorithms import context_pack
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import Memory
from memsvc.domain.types import SEARCHABLE_STATUSES, MemoryType, Scope
from memsvc.errors import InvalidRequest
from memsvc.services import search
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

CANDIDATES = 40  # relevant memories considered; the budget decides how many fit
VAULT_CANDIDATES = 5
SHOWN_SENSITIVITY = ("low", "medium")
QUERY_MESSAGES = 3  # the last user messages that make the query


@dataclasses.dataclass(frozen=True)
class Message:
    role: str
    content: str


def query_of(query: str | None, messages: Sequence[Message], max_chars: int) -> str:
    """The search query: the text given, else the last user messages (newest last)."""
    if query and query.strip():
        return query.strip()[:max_chars]
    said = [m.content.strip() for m in messages if m.role == "user" and m.content.strip()]
    if not said:
        said = [m.content.strip() for m in messages if m.content.strip()]
    if not said:
        raise InvalidRequest("send a query or at least one non-empty message", code="empty_query")
    return " ".join(said[-QUERY_MESSAGES:])[-max_chars:]


def _item(memory: Memory, score: float) -> context_pack.ContextItem:
    text = memory.content
    if memory.memory_type == MemoryType.KNOWLEDGE_VAULT.value:
        text = str(memory.fields.get("caption") or memory.content)
    return context_pack.ContextItem(
        memory_id=memory.id,
        memory_type=memory.memory_type,
        text=text,
        score=score,
        occurred_at=memory.occurred_at,
    )


async def build_context(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    *,
    query: str | None,
    messages: Sequence[Message],
    budget_tokens: int,
    user_id: str | None,
) -> context_pack.PackedContext:
    principal.require(Scope.READ)
    if budget_tokens < 1:
        raise InvalidRequest("budget_tokens must be at least 1", code="invalid_budget")
    text = query_of(query, messages, rt.settings.max_query_chars)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        core = await lifecycle_store.core_blocks(conn, cube_id=cube_id, user_id=user_id)
    base = MemoryFilter(statuses=SEARCHABLE_STATUSES, user_id=user_id)
    relevant_types = tuple(
        t for t in MemoryType if t not in (MemoryType.CORE, MemoryType.KNOWLEDGE_VAULT)
    )
    found = await search.search(
        rt,
        principal,
        [cube_id],
        search.SearchRequest(
            query=text,
            top_k=CANDIDATES,
            filter=dataclasses.replace(base, memory_types=relevant_types),
            reinforce=False,
        ),
    )
    vault = await search.search(
        rt,
        principal,
        [cube_id],
        search.SearchRequest(
            query=text,
            top_k=VAULT_CANDIDATES,
            filter=dataclasses.replace(base, memory_types=(MemoryType.KNOWLEDGE_VAULT,)),
            reinforce=False,
        ),
    )
    ranked = [_item(h.memory, h.score) for h in found.results]
    ranked += [
        _item(h.memory, h.score)
        for h in vault.results
        if h.memory.fields.get("sensitivity", "low") in SHOWN_SENSITIVITY
    ]
    ranked.sort(key=lambda item: -item.score)
    packed = context_pack.pack_context(
        [_item(m, 1.0) for m in core], ranked, budget_tokens, now=rt.now()
    )
    recalled = [i.memory_id for i in packed.included if i.memory_type != MemoryType.CORE.value]
    if recalled:
        async with rt.db.transaction() as conn:
            await memory_store.reinforce(conn, ids=recalled, now=rt.now())
    return packed
