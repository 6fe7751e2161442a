"""Conversation ingestion (POST /v1/cubes/{id}/messages): turns stored, typed memories inferred,
and facts kept current over time.

1. **Accept.** The batch is checked whole (nothing is written when any message is bad). Each
   message gets an id (the client's `message_id`, else a new one) and a turn id. A message whose
   turn is already stored (the same message id in the session, or the same text at the same
   timestamp) is a retry: its stored turn is returned and nothing is inferred from it again.
2. **Extract** (with `infer`): the vault rules find secrets, which are redacted from the turns
   and never sent to a model; then one LLM call for the batch (`ingest_llm`), or the
   deterministic extractor (`message_extract`).
3. **Store.** The turns are episodic memories ("Sam: I moved to Berlin"), with provenance: the
   role and name in `fields` (event_type `<role>_message`, actor), the timestamp as
   `occurred_at` and `valid_from`, the message id in `source_message_ids`. Each inferred memory
   is compared with the current memories of its subject, type and user
   (`fact_updates`, with the rules of `update_decision`), in message order, so a later message
   of the batch sees what an earlier one stored:
   - add: a new memory, `valid_from` = the message time;
   - reinforce: the stored one gains strength and the message id (a `reinforce` version);
   - update: the stored one becomes the new statement (an `inferred_update` version);
   - supersede: the stored one ends (`valid_to` = the new message's time, a `supersede`
     version) and the new one starts; lineage `supersedes` joins them.
   Every inferred memory keeps lineage `extracted` to its turn, and each decision's reason is
   in the history. Nothing is deleted by inference.
4. Batches up to `ingest_sync_max_messages` are stored before the reply (201); larger ones are
   staged in `ingest_batches` in the accepting transaction (acknowledged: never lost) and
   ingested by an `ingest_messages` job (202). The turn ids are final in both cases.
5. **Trust** (memsvc.algorithms.trust): each message's by its role (user 2, assistant 1,
   system 3, tool 0), at most the key's level and the request's `max_trust`; its turn and what
   is inferred from it carry it, and are checked against more trusted memories
   (memsvc.services.quarantine): what contradicts a consensus of them is quarantined.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import message_extract as rules
from memsvc.algorithms import trust as trust_levels
from memsvc.algorithms.message_extract import Extracted
from memsvc.algorithms.update_decision import (
    Decision,
)
from memsvc.domain.fields import validate_fields
from memsvc.domain.memory import Cube, Memory, content_hash
from memsvc.domain.types import MemoryType, Scope
from memsvc.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from memsvc.services import enrichment, fact_updates, ingest_llm, memories, quarantine
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.fact_updates import Inferred
from memsvc.services.runtime import Runtime
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store import cubes as cube_store
from memsvc.store import facts as fact_store
from memsvc.store import jobs as job_store
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

log = logging.getLogger(__name__)

INGEST_MESSAGES = "ingest_messages"
SOURCE = "conversation"
ROLES = ("user", "assistant", "system", "tool")

Mode = Literal["auto", "sync", "async"]


@dataclasses.dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str
    name: str | None = None
    timestamp: datetime | None = None  # timezone-aware
    message_id: str | None = None
    # False when the service made the message id up: only a client's own id says two messages
    # with the same text are different messages.
    id_given: bool = True


@dataclasses.dataclass(frozen=True)
class Conversation:
    messages: list[ChatMessage]
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    infer: bool = True
    max_trust: int | None = None  # the client's cap on every message's trust
    trusts: tuple[int, ...] = ()  # per message, set on acceptance (`_with_trusts`)


@dataclasses.dataclass(frozen=True)
class Ingested:
    status: Literal["done", "queued"]
    job_id: uuid.UUID | None  # queued: the ingestion job; done: the enrichment of new memories
    message_ids: list[str]
    turn_ids: list[uuid.UUID]
    turns: list[Memory]  # done only: one per message, in order
    memories: list[Inferred]  # done only: what inference did, in message order
    extracted_by: Literal["llm", "fallback"] | None  # None: infer was off (or queued)


# --- accept ----------------------------------------------------------------------------------


def _speaker(message: ChatMessage) -> str:
    return message.name or message.role.capitalize()


def _turn_text(message: ChatMessage, text: str) -> str:
    return f"{_speaker(message)}: {text}"


def _validate(rt: Runtime, conv: Conversation) -> None:
    messages = conv.messages
    memories.check_batch_size(rt, len(messages), "messages", "messages")
    seen: set[str] = set()
    limit = rt.settings.max_content_chars
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if message.role not in ROLES:
            raise InvalidRequest(
                f"{where}: role must be one of {', '.join(ROLES)}", code="invalid_role"
            )
        if not message.content.strip():
            raise InvalidRequest(f"{where}: content is empty", code="empty_content")
        if len(_turn_text(message, message.content)) > limit:
            raise PayloadTooLarge(
                f"{where}: the turn (speaker and content) has more than {limit} characters",
                code="content_too_large",
            )
        if message.message_id is not None:
            if message.message_id in seen:
                raise InvalidRequest(
                    f"{where}: message_id {message.message_id!r} appears twice in the batch",
                    code="duplicate_message_id",
                )
            seen.add(message.message_id)


def _extractor_messages(conv: Conversation) -> list[rules.Message]:
    return [
        rules.Message(role=m.role, content=m.content, name=m.name, timestamp=m.timestamp)
        for m in conv.messages
    ]


def _check_vault(rt: Runtime, conv: Conversation) -> None:
    """A conversation holding a secret needs the vault (else the secret would be lost)."""
    if not conv.infer or rt.vault.enabled:
        return
    found = rules.redact(_extractor_messages(conv))
    if any(rules.REDACTED in text for text in found):
        raise InvalidRequest(
            "the messages contain a secret, and no vault key is configured to keep it "
            "encrypted; set MEMSVC_VAULT_KEYS (or run `memsvc serve`, which creates one), or "
            "send infer=false to store the turns as they are",
            code="vault_not_configured",
        )


async def _repeated_turns(
    conn: AsyncConnection, cube_id: uuid.UUID, conv: Conversation, texts: Sequence[str]
) -> dict[int, Memory]:
    """{message index: its turn, already stored}: a retried message (the client's message id
    again in the session), or for a message without a client id the same text at the same
    timestamp in the session."""
    by_id = await fact_store.turns_with_message_ids(
        conn,
        cube_id=cube_id,
        session_id=conv.session_id,
        message_ids=[m.message_id for m in conv.messages if m.message_id and m.id_given],
    )
    timed = [
        (content_hash(text), m.timestamp)
        for m, text in zip(conv.messages, texts, strict=True)
        if m.timestamp is not None and not m.id_given
    ]
    by_text = await fact_store.turns_with_text(
        conn, cube_id=cube_id, session_id=conv.session_id, keys=timed
    )
    found: dict[int, Memory] = {}
    for index, (message, text) in enumerate(zip(conv.messages, texts, strict=True)):
        stored = by_id.get(message.message_id or "") if message.id_given else None
        if stored is None and message.timestamp is not None and not message.id_given:
            stored = by_text.get((content_hash(text), message.timestamp))
        if stored is not None:
            found[index] = stored
    return found


def _batch_repeats(conv: Conversation, texts: Sequence[str]) -> dict[int, int]:
    """{message index: the earlier index of the batch it repeats}: without client ids, the
    same text at the same timestamp (client ids are unique in a batch)."""
    first: dict[tuple[str, datetime], int] = {}
    out: dict[int, int] = {}
    for index, (message, text) in enumerate(zip(conv.messages, texts, strict=True)):
        if message.timestamp is None or message.id_given:
            continue
        key = (content_hash(text), message.timestamp)
        if key in first:
            out[index] = first[key]
        else:
            first[key] = index
    return out


async def ingest(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    conv: Conversation,
    *,
    mode: Mode = "auto",
) -> Ingested:
    principal.require(Scope.WRITE)
    _validate(rt, conv)
    _check_vault(rt, conv)
    conv = _with_trusts(principal, conv)
    message_ids = [m.message_id or str(uuid.uuid4()) for m in conv.messages]
    conv = dataclasses.replace(
        conv,
        messages=[
            dataclasses.replace(m, message_id=mid, id_given=m.message_id is not None)
            for m, mid in zip(conv.messages, message_ids, strict=True)
        ],
    )
    queued = mode == "async" or (
        mode == "auto" and len(conv.messages) > rt.settings.ingest_sync_max_messages
    )
    if queued:
        return await _stage(rt, principal, cube_id, conv)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
    prepared = await _prepare(rt, cube, conv)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id, keep=True)
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        await _refuse_staged(conn, cube_id, conv)
        return await _write(rt, conn, cube, prepared, actor=principal.actor)


def _with_trusts(principal: Principal, conv: Conversation) -> Conversation:
    """Each message's trust: its role's, at most the request's `max_trust` (403 above the
    key's level) and the key's level."""
    quarantine.require_trust(principal, conv.max_trust, "max_trust")
    ceiling = quarantine.key_level(principal)
    by_role = trust_levels.capped(
        (trust_levels.from_role(m.role) for m in conv.messages), conv.max_trust
    )
    return dataclasses.replace(
        conv, trusts=tuple(int(trust_levels.resolve(level, ceiling)) for level in by_role)
    )


def _trusts(conv: Conversation) -> list[int]:
    if conv.trusts:
        return list(conv.trusts)
    # Accepted before trust levels existed: by role, as an ordinary key would have it.
    ceiling = trust_levels.Trust.USER
    return [
        int(trust_levels.resolve(trust_levels.from_role(m.role), ceiling)) for m in conv.messages
    ]


async def _refuse_staged(conn: AsyncConnection, cube_id: uuid.UUID, conv: Conversation) -> None:
    """A message still queued from an earlier request cannot be stored now as well: its turn
    id was already promised to that request."""
    staged = await _staged(conn, cube_id, conv)
    if staged:
        index = min(staged)
        raise Conflict(
            f"messages[{index}]: message {conv.messages[index].message_id!r} was accepted "
            "earlier and is still queued for ingestion; wait for that job (GET /v1/jobs/{id}) "
            "and send it again, or send it with mode=async",
            code="ingest_pending",
            details={"turn_id": str(staged[index])},
        )


# --- the queued path -------------------------------------------------------------------------


def _encode(conv: Conversation) -> list[dict[str, Any]]:
    return [
        {
            "role": m.role,
            "content": m.content,
            "name": m.name,
            "timestamp": m.timestamp.isoformat() if m.timestamp else None,
            "message_id": m.message_id,
            "id_given": m.id_given,
        }
        for m in conv.messages
    ]


def _seal(rt: Runtime, conv: Conversation) -> dict[str, Any]:
    """The staged messages: sealed with the vault key when there is one (they may hold secrets
    until the job moves them to the vault), beside their ids in the clear (retries are found
    by id)."""
    refs = [{"message_id": m.message_id, "id_given": m.id_given} for m in conv.messages]
    messages = _encode(conv)
    if not rt.vault.enabled:
        return {"refs": refs, "messages": messages}
    token = rt.vault.encrypt(json.dumps(messages)).decode("ascii")
    return {"refs": refs, "sealed_messages": token}


def _unseal(rt: Runtime, payload: dict[str, Any]) -> list[dict[str, Any]]:
    if "sealed_messages" not in payload:
        return list(payload["messages"])
    return list(json.loads(rt.vault.decrypt(payload["sealed_messages"].encode("ascii"))))


def _decode(rt: Runtime, payload: dict[str, Any]) -> tuple[Conversation, list[uuid.UUID], str]:
    messages = [
        ChatMessage(
            role=m["role"],
            content=m["content"],
            name=m["name"],
            timestamp=datetime.fromisoformat(m["timestamp"]) if m["timestamp"] else None,
            message_id=m["message_id"],
            id_given=m["id_given"],
        )
        for m in _unseal(rt, payload)
    ]
    conv = Conversation(
        messages=messages,
        user_id=payload["user_id"],
        agent_id=payload["agent_id"],
        session_id=payload["session_id"],
        infer=payload["infer"],
        trusts=tuple(payload.get("trusts") or ()),
    )
    return conv, [uuid.UUID(t) for t in payload["turn_ids"]], payload["actor"]


async def _staged(
    conn: AsyncConnection, cube_id: uuid.UUID, conv: Conversation
) -> dict[int, uuid.UUID]:
    """{message index: turn id} of messages (by client id) in a batch accepted but not yet
    ingested: a retry while the first attempt is still queued."""
    found = await fact_store.staged_turns(
        conn,
        cube_id=cube_id,
        session_id=conv.session_id,
        message_ids=[m.message_id for m in conv.messages if m.message_id and m.id_given],
    )
    return {
        i: found[m.message_id]
        for i, m in enumerate(conv.messages)
        if m.id_given and m.message_id in found
    }


async def _stage(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, conv: Conversation
) -> Ingested:
    """Keep the batch in the accepting transaction and queue its ingestion; the turn ids are
    chosen now (a repeated message keeps its stored turn's id)."""
    job_id, batch_id = uuid.uuid4(), uuid.uuid4()
    texts = _turn_texts(conv)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id, keep=True)
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        repeated = await _repeated_turns(conn, cube_id, conv, texts)
        staged = await _staged(conn, cube_id, conv)
        turn_ids = [
            repeated[i].id if i in repeated else staged.get(i) or uuid.uuid4()
            for i in range(len(texts))
        ]
        for later, earlier in _batch_repeats(conv, texts).items():
            turn_ids[later] = turn_ids[earlier]
        payload = {
            **_seal(rt, conv),
            "user_id": conv.user_id,
            "agent_id": conv.agent_id,
            "session_id": conv.session_id,
            "infer": conv.infer,
            "trusts": list(conv.trusts),
            "turn_ids": [str(t) for t in turn_ids],
            "actor": principal.actor,
        }
        await fact_store.stage_batch(
            conn, batch_id=batch_id, tenant_id=cube.tenant_id, cube_id=cube_id, payload=payload
        )
        await job_store.defer_job(
            conn,
            task_name=INGEST_MESSAGES,
            args={
                "job_id": str(job_id),
                "tenant_id": str(cube.tenant_id),
                "cube_id": str(cube_id),
                "batch_id": str(batch_id),
            },
            # A cube's batches are ingested one at a time, in the order they were accepted.
            lock=f"ingest:{cube_id}",
        )
    return Ingested(
        status="queued",
        job_id=job_id,
        message_ids=[m.message_id or "" for m in conv.messages],
        turn_ids=turn_ids,
        turns=[],
        memories=[],
        extracted_by=None,
    )


@dataclasses.dataclass(frozen=True)
class BatchResult:
    turns: int
    added: int
    reinforced: int
    updated: int
    superseded: int
    extracted_by: str | None
    already_done: bool = False
    quarantined: int = 0


async def ingest_batch(
    rt: Runtime,
    *,
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    batch_id: uuid.UUID,
) -> BatchResult:
    """The `ingest_messages` job: a staged batch ingested with the turn ids it was accepted
    with. The batch row is removed in the transaction that stores its memories, so a retried or
    repeated job finds nothing left to do."""
    async with rt.db.transaction() as conn:
        cube = await cube_store.get_cube(conn, tenant_id=tenant_id, cube_id=cube_id)
        payload = await fact_store.read_batch(conn, batch_id=batch_id)
    if payload is None:
        return BatchResult(0, 0, 0, 0, 0, None, already_done=True)
    if cube is None:
        raise NotFound(f"cube {cube_id} no longer exists", code="cube_not_found")
    conv, turn_ids, actor = _decode(rt, payload)
    prepared = await _prepare(rt, cube, conv, turn_ids=turn_ids)
    async with rt.db.transaction() as conn:
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        if await fact_store.take_batch(conn, batch_id=batch_id) is None:
            return BatchResult(0, 0, 0, 0, 0, None, already_done=True)
        done = await _write(rt, conn, cube, prepared, actor=actor)
    counts = {d: sum(i.decision is d for i in done.memories) for d in Decision}
    log.info("messages ingested", extra={"job_id": str(job_id), "cube_id": str(cube_id)})
    return BatchResult(
        turns=len(done.turns),
        added=counts[Decision.ADD],
        reinforced=counts[Decision.REINFORCE],
        updated=counts[Decision.UPDATE],
        superseded=counts[Decision.SUPERSEDE],
        extracted_by=done.extracted_by,
        quarantined=counts[Decision.QUARANTINE],
    )


# --- prepare (model calls, outside any transaction) -----------------------------------------


@dataclasses.dataclass(frozen=True)
class _Prepared:
    conv: Conversation
    texts: list[str]  # each turn's stored text (secrets redacted when inferring)
    turn_vectors: np.ndarray
    extracted: list[Extracted]
    extracted_vectors: np.ndarray
    extracted_by: Literal["llm", "fallback"] | None
    turn_ids: list[uuid.UUID] | None  # fixed by the accepting request (queued path)
    opinions: quarantine.Opinions = dataclasses.field(default_factory=dict)


def _turn_texts(conv: Conversation) -> list[str]:
    """What each turn stores: with inference on, every secret the vault rules find is
    replaced by "[redacted]" (it goes to the vault instead)."""
    contents = (
        rules.redact(_extractor_messages(conv))
        if conv.infer
        else [m.content for m in conv.messages]
    )
    return [_turn_text(m, c) for m, c in zip(conv.messages, contents, strict=True)]


async def _prepare(
    rt: Runtime,
    cube: Cube,
    conv: Conversation,
    *,
    turn_ids: list[uuid.UUID] | None = None,
    texts: list[str] | None = None,
    owners: list[str | None] | None = None,
) -> _Prepared:
    """Extraction and embeddings, and the model's view of the poisoning check (`owners`: each
    message's user, default the conversation's)."""
    texts = _turn_texts(conv) if texts is None else texts
    extracted: list[Extracted] = []
    extracted_by: Literal["llm", "fallback"] | None = None
    if conv.infer:
        usage = DatabaseUsageSink(rt, tenant_id=cube.tenant_id, cube_id=cube.id)
        extracted, extracted_by = await ingest_llm.extract_memories(
            rt.llm, _extractor_messages(conv), usage_sink=usage
        )
        extracted = [x for x in extracted if _valid_fields(x)]
    vectors = await rt.embedder.embed_async([*texts, *(x.content for x in extracted)])
    opinions: quarantine.Opinions = {}
    if rt.llm.configured:
        trusts = _trusts(conv)
        users = owners or [conv.user_id] * len(texts)
        claims = [
            quarantine.Claim(
                content=text,
                trust=trusts[i],
                user_id=users[i],
                memory_type=MemoryType.EPISODIC.value,
                vector=vectors[i],
            )
            for i, text in enumerate(texts)
        ] + [
            fact_updates.claim(
                x, vectors[len(texts) + j], trusts[x.message_index], users[x.message_index]
            )
            for j, x in enumerate(extracted)
        ]
        opinions = await quarantine.consult(
            rt, tenant_id=cube.tenant_id, cube_id=cube.id, claims=claims
        )
    return _Prepared(
        conv=conv,
        texts=texts,
        turn_vectors=vectors[: len(texts)],
        extracted=extracted,
        extracted_vectors=vectors[len(texts) :],
        extracted_by=extracted_by,
        turn_ids=turn_ids,
        opinions=opinions,
    )


def _valid_fields(x: Extracted) -> bool:
    try:
        validate_fields(MemoryType(x.memory_type), x.fields)
    except (InvalidRequest, ValueError):
        log.warning("an extracted %s memory had invalid fields: dropped", x.memory_type)
        return False
    return True


# --- write (one transaction, the cube's write lock held) ------------------------------------


async def _write(
    rt: Runtime, conn: AsyncConnection, cube: Cube, prepared: _Prepared, *, actor: str
) -> Ingested:
    conv = prepared.conv
    turns, fresh = await _store_turns(rt, conn, cube, prepared, actor)
    done, enrich_job, final = await _infer_all(rt, conn, cube, prepared, turns, fresh, actor)
    return Ingested(
        status="done",
        job_id=enrich_job,
        message_ids=[m.message_id or "" for m in conv.messages],
        turn_ids=[t.id for t in turns],
        turns=[final.get(t.id, t) for t in turns],
        memories=[dataclasses.replace(i, memory=final.get(i.memory.id, i.memory)) for i in done],
        extracted_by=prepared.extracted_by,
    )


async def _infer_all(
    rt: Runtime,
    conn: AsyncConnection,
    cube: Cube,
    prepared: _Prepared,
    turns: list[Memory],
    fresh: set[int],
    actor: str,
) -> tuple[list[Inferred], uuid.UUID | None, dict[uuid.UUID, Memory]]:
    """Each extracted memory decided against what is stored (earlier ones of the batch
    included); the enrichment job of what changed; every touched memory as it ends up."""
    batch = fact_updates.Batch(
        rt=rt,
        conn=conn,
        cube=cube,
        actor=actor,
        turns=turns,
        timestamps=[m.timestamp for m in prepared.conv.messages],
        message_ids=[m.message_id or "" for m in prepared.conv.messages],
        now=rt.now(),
        trusts=_trusts(prepared.conv),
        opinions=prepared.opinions,
    )
    done: list[Inferred] = []
    for x, vector in zip(prepared.extracted, prepared.extracted_vectors, strict=True):
        if x.message_index not in fresh:
            continue  # a retried message: inferred when it was first stored
        done.append(await fact_updates.infer_one(batch, x, vector))
    enrich_job = await enrichment.enqueue(
        rt, conn, tenant_id=cube.tenant_id, cube_id=cube.id, memory_ids=batch.to_enrich
    )
    final = await memory_store.get_many(
        conn, ids=[*(t.id for t in turns), *(i.memory.id for i in done)]
    )
    return done, enrich_job, final


# --- POST /memories with infer: the items are the turns ---------------------------------------


@dataclasses.dataclass(frozen=True)
class ItemsIngested:
    added: memories.Added  # the items, as POST /memories returns them
    memories: list[Inferred]
    extracted_by: Literal["llm", "fallback"]


async def ingest_items(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    items: list[memories.NewMemory],
    *,
    deduplicate: bool = True,
) -> ItemsIngested:
    """POST /memories with `infer`: each item is stored (secrets found in its text moved to
    the vault and redacted, as for messages) and read as a user's statement, whose memories
    are inferred and kept current as for a conversation. An item that repeats a stored memory
    (dedup) yields nothing again."""
    principal.require(Scope.WRITE)
    memories.validate_batch(rt, items)
    items = memories.with_trust(principal, items, default=trust_levels.Trust.USER)
    conv = Conversation(
        trusts=tuple(int(i.trust or 0) for i in items),
        messages=[
            ChatMessage(
                role="user",
                content=item.content,
                timestamp=item.occurred_at,
                message_id=item.source_message_ids[0] if item.source_message_ids else None,
            )
            for item in items
        ],
    )
    _check_vault(rt, conv)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
    texts = rules.redact(_extractor_messages(conv))
    items = [dataclasses.replace(i, content=t) for i, t in zip(items, texts, strict=True)]
    fields = memories.validate_batch(rt, items)
    prepared = await _prepare(rt, cube, conv, texts=texts, owners=[i.user_id for i in items])
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id, keep=True)
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        added = await memories.store_batch(
            rt,
            conn,
            cube,
            items,
            fields,
            prepared.turn_vectors,
            actor=principal.actor,
            deduplicate=deduplicate,
            opinions=prepared.opinions,
        )
        repeats = {d.index for d in added.duplicates}
        fresh = {i for i in range(len(items)) if i not in repeats}
        # An item without a message id is referred to by its memory id.
        conv = dataclasses.replace(
            conv,
            messages=[
                m if m.message_id else dataclasses.replace(m, message_id=f"memory:{mem.id}")
                for m, mem in zip(conv.messages, added.memories, strict=True)
            ],
        )
        prepared = dataclasses.replace(prepared, conv=conv)
        done, _, final = await _infer_all(
            rt, conn, cube, prepared, added.memories, fresh, principal.actor
        )
    # An item whose inferred fact was quarantined went with it.
    added = dataclasses.replace(added, memories=[final.get(m.id, m) for m in added.memories])
    return ItemsIngested(
        added=added,
        memories=[dataclasses.replace(i, memory=final.get(i.memory.id, i.memory)) for i in done],
        extracted_by=prepared.extracted_by or "fallback",
    )


async def _store_turns(
    rt: Runtime, conn: AsyncConnection, cube: Cube, prepared: _Prepared, actor: str
) -> tuple[list[Memory], set[int]]:
    """Each message's turn (stored now, or found stored) and the indexes stored now."""
    conv, texts = prepared.conv, prepared.texts
    if prepared.turn_ids is None:
        repeated = await _repeated_turns(conn, cube.id, conv, texts)
        inside = _batch_repeats(conv, texts)
    else:
        # Queued: the accepting request decided which turns are repeats, and its ids were
        # returned; keep them whatever was stored since, so they stay final.
        repeated, inside = await _accepted_repeats(conn, prepared.turn_ids)
    new = [i for i in range(len(texts)) if i not in repeated and i not in inside]
    trusts = _trusts(conv)
    items = [
        memories.NewMemory(
            trust=trusts[i],
            content=texts[i],
            memory_type=MemoryType.EPISODIC,
            occurred_at=conv.messages[i].timestamp,
            user_id=conv.user_id,
            agent_id=conv.agent_id,
            session_id=conv.session_id,
            source=SOURCE,
            source_message_ids=(conv.messages[i].message_id or "",),
            fields={
                "event_type": f"{conv.messages[i].role}_message",
                "actor": _speaker(conv.messages[i])[:200],
            },
            valid_from=conv.messages[i].timestamp,
        )
        for i in new
    ]
    stored: dict[int, Memory] = dict(repeated)
    if items:
        ids = [prepared.turn_ids[i] for i in new] if prepared.turn_ids else None
        added = await memories.store_batch(
            rt,
            conn,
            cube,
            items,
            memories.validate_batch(rt, items),
            prepared.turn_vectors[new],
            actor=actor,
            deduplicate=False,
            ids=ids,
            opinions=prepared.opinions,
        )
        stored.update(zip(new, added.memories, strict=True))
    for later, earlier in inside.items():
        stored[later] = stored[earlier]
    return [stored[i] for i in range(len(texts))], set(new)


async def _accepted_repeats(
    conn: AsyncConnection, turn_ids: list[uuid.UUID]
) -> tuple[dict[int, Memory], dict[int, int]]:
    """(stored turns by index, {later index: earlier index}) of a queued batch's turn ids."""
    stored = await memory_store.get_many(conn, ids=sorted(set(turn_ids)))
    first: dict[uuid.UUID, int] = {}
    repeated: dict[int, Memory] = {}
    inside: dict[int, int] = {}
    for index, turn_id in enumerate(turn_ids):
        if turn_id in stored:
            repeated[index] = stored[turn_id]
        elif turn_id in first:
            inside[index] = first[turn_id]
        else:
            first[turn_id] = index
    return repeated, inside
