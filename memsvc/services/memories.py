"""Memories: add (all-or-nothing batches), read, list, patch (new version), delete, history."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import consensus, dedup
from memsvc.algorithms import cursor as cursors
from memsvc.algorithms import trust as trust_levels
from memsvc.domain.fields import SECRET_FIELD, validate_fields
from memsvc.domain.filters import MemoryFilter
from memsvc.domain.memory import (
    Cube,
    Memory,
    MemoryVersion,
    changed_fields,
    content_hash,
    version_row,
)
from memsvc.domain.types import (
    ALLOWED_STATUS_CHANGES,
    SEARCHABLE_STATUSES,
    ChangeKind,
    MemoryType,
    Scope,
    Status,
)
from memsvc.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge, Unavailable
from memsvc.security.vault import VaultError
from memsvc.services import enrichment, quarantine
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import cubes as cube_store
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

MEMORY_NOT_FOUND = "no such memory in this cube"


@dataclasses.dataclass(frozen=True)
class NewMemory:
    content: str
    memory_type: MemoryType = MemoryType.EPISODIC
    occurred_at: datetime | None = None
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    source_message_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    context: str | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    pinned: bool = False
    origin: str | None = None  # set by the service for what it makes (thoughts, summaries)
    lsh_bucket: int | None = None  # a thought's TiM bucket
    # Conversation ingestion: when the memory became true (the message time) and, for a fact
    # inferred from a conversation, who it is about and the slot it fills.
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    fact_subject: str | None = None
    fact_attribute: str | None = None
    fact_value: str | None = None
    # How far it is trusted (memsvc.algorithms.trust); None: from its provenance (`source`,
    # memory type). The services set it within the writing key's level (`with_trust`).
    trust: int | None = None


def with_trust(
    principal: Principal,
    items: list[NewMemory],
    *,
    default: trust_levels.Trust = trust_levels.Trust.AGENT,
) -> list[NewMemory]:
    """Each item with its trust: the one it asks for (403 above the key's level), else its
    provenance's (`default` when its source names none), never above the key's level."""
    ceiling = quarantine.key_level(principal)
    out = []
    for index, item in enumerate(items):
        quarantine.require_trust(principal, item.trust, f"items[{index}].trust")
        derived = trust_levels.derive(
            source=item.source, memory_type=item.memory_type.value, default=default
        )
        out.append(
            dataclasses.replace(item, trust=trust_levels.resolve(derived, ceiling, item.trust))
        )
    return out


def _trust_of(item: NewMemory) -> int:
    if item.trust is not None:
        return item.trust
    return trust_levels.derive(source=item.source, memory_type=item.memory_type.value)


def _check_content(rt: Runtime, content: str, where: str) -> str:
    if not content.strip():
        raise InvalidRequest(f"{where}: content is empty", code="empty_content")
    if len(content) > rt.settings.max_content_chars:
        raise PayloadTooLarge(
            f"{where}: content has {len(content)} characters; the limit is "
            f"{rt.settings.max_content_chars}",
            code="content_too_large",
        )
    return content


def check_batch_size(rt: Runtime, count: int, name: str, noun: str) -> None:
    """1 to `max_batch_items` things in one call (`name` is the request field)."""
    limit = rt.settings.max_batch_items
    if not count:
        raise InvalidRequest(f"{name} is empty: send 1 to {limit} {noun}", code="empty_batch")
    if count > limit:
        raise PayloadTooLarge(
            f"{count} {name} in one call; the limit is {limit}", code="batch_too_large"
        )


def validate_batch(rt: Runtime, items: list[NewMemory]) -> list[dict[str, Any]]:
    """Check every item before anything is written; return each item's normalised fields."""
    check_batch_size(rt, len(items), "items", "memories")
    out = []
    blocks: set[str] = set()
    for index, item in enumerate(items):
        where = f"items[{index}]"
        _check_content(rt, item.content, where)
        check_validity(item.valid_from, item.valid_to, where)
        try:
            fields = validate_fields(item.memory_type, item.fields)
        except InvalidRequest as exc:
            exc.message = f"{where}: {exc.message}"
            raise
        _check_secret(rt, item, fields, where)
        key = core_block_key(item.memory_type, fields, item.user_id)
        if key is not None:
            _check_block_size(rt, item.content, where)
            if key in blocks:
                raise Conflict(
                    f"{where}: two `{fields['label']}` core blocks for the same user in one "
                    "call; send one",
                    code="core_block_exists",
                )
            blocks.add(key)
        out.append(fields)
    return out


def check_validity(valid_from: datetime | None, valid_to: datetime | None, where: str) -> None:
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise InvalidRequest(f"{where}: valid_to must be after valid_from", code="invalid_validity")


def _check_secret(rt: Runtime, item: NewMemory, fields: dict[str, Any], where: str) -> None:
    secret = fields.get(SECRET_FIELD)
    if secret is None:
        return
    if not rt.vault.enabled:
        raise InvalidRequest(
            f"{where}: no vault key is configured, so `secret_value` cannot be stored "
            "encrypted; set MEMSVC_VAULT_KEYS (or run `memsvc serve`, which creates one)",
            code="vault_not_configured",
        )
    if secret in item.content or secret in (fields.get("caption") or ""):
        raise InvalidRequest(
            f"{where}: the content or caption contains the secret itself; describe it instead "
            "(the content is searchable, the secret is not)",
            code="secret_in_content",
        )


def _check_block_size(rt: Runtime, content: str, where: str) -> None:
    limit = rt.settings.core_block_limit
    if len(content) > limit:
        raise PayloadTooLarge(
            f"{where}: a core block holds at most {limit} characters, this one has {len(content)}",
            code="core_block_too_large",
        )


def core_block_key(
    memory_type: MemoryType, fields: dict[str, Any], user_id: str | None
) -> str | None:
    """A labelled core memory is a block: one per label and user in a cube (MIRIX)."""
    label = fields.get("label")
    if memory_type is not MemoryType.CORE or label is None:
        return None
    return f"core:{label}:{user_id or ''}"


@dataclasses.dataclass(frozen=True)
class Duplicate:
    index: int  # position in the request
    memory_id: uuid.UUID  # the memory it reinforced
    match: str  # "exact" or "near"


@dataclasses.dataclass(frozen=True)
class Added:
    memories: list[Memory]  # one per item, in order (a duplicate's is the memory it reinforced)
    job_id: uuid.UUID | None  # the background enrichment of the new memories, if any
    duplicates: list[Duplicate] = dataclasses.field(default_factory=list)


async def add_memories(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    items: list[NewMemory],
    *,
    deduplicate: bool = True,
    vectors: Any = None,
) -> Added:
    """Store a batch atomically and queue its enrichment (same transaction). The ids returned
    are final: enrichment updates the same memories.

    With `deduplicate`, an item that repeats a live memory (the same text, or cosine at least
    `dedup_threshold` with the same type, user, agent and, for events, session and time)
    reinforces that memory (MemoryBank: strength + 1) instead of becoming a second copy.
    """
    principal.require(Scope.WRITE)
    fields = validate_batch(rt, items)
    items = with_trust(principal, items)
    # Check the cube before spending seconds on embeddings.
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
    if vectors is None:
        vectors = await rt.embedder.embed_async([item.content for item in items])
    opinions = await quarantine.consult(
        rt, tenant_id=cube.tenant_id, cube_id=cube_id, claims=claims_of(items, vectors)
    )
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id, keep=True)
        # Writers of one cube take turns here, so two concurrent adds of the same text cannot
        # both miss each other and store it twice.
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        return await store_batch(
            rt,
            conn,
            cube,
            items,
            fields,
            vectors,
            actor=principal.actor,
            deduplicate=deduplicate,
            opinions=opinions,
        )


def claims_of(items: list[NewMemory], vectors: Any) -> list[quarantine.Claim]:
    """The items as the poisoning check sees them."""
    return [
        quarantine.Claim(
            content=item.content,
            trust=_trust_of(item),
            user_id=item.user_id,
            memory_type=item.memory_type.value,
            vector=vector,
            subject=item.fact_subject,
            attribute=item.fact_attribute,
            value=item.fact_value,
        )
        for item, vector in zip(items, vectors, strict=True)
    ]


async def store_batch(
    rt: Runtime,
    conn: AsyncConnection,
    cube: Cube,
    items: list[NewMemory],
    fields: list[dict[str, Any]],
    vectors: Any,
    *,
    actor: str,
    deduplicate: bool = True,
    ids: list[uuid.UUID] | None = None,
    opinions: quarantine.Opinions | None = None,
) -> Added:
    """The write half of `add_memories`, in the caller's transaction (which holds the cube's
    write lock): items checked by `validate_batch`, embedded, stored or folded into the live
    memories they repeat; their enrichment queued. `ids` fixes the new memories' ids.

    Each new memory is checked against the more trusted memories stored before the batch
    (memsvc.services.quarantine; `opinions`: the model's, asked before the transaction): one
    that contradicts a consensus of them is stored and then quarantined, and not enriched."""
    cube_id = cube.id
    now = rt.now()
    status = Status.PENDING if rt.settings.enrichment else Status.ACTIVE
    await _refuse_existing_blocks(conn, cube_id, items, fields)
    ids = ids or [uuid.uuid4() for _ in items]
    matches = (
        await _duplicates(rt, conn, cube_id, items, fields, vectors, ids) if deduplicate else {}
    )
    fresh = [i for i in range(len(items)) if i not in matches]
    claims = claims_of(items, vectors)
    rulings = await quarantine.judge(rt, conn, cube_id, [claims[i] for i in fresh], opinions)
    to_quarantine = {
        ids[i]: ruling
        for i, ruling in zip(fresh, rulings, strict=True)
        if ruling is not None and ruling.quarantine
    }
    sessions = sorted({i.session_id for i in items if i.session_id is not None})
    last = await memory_store.last_in_sessions(conn, cube_id=cube_id, session_ids=sessions)
    rows, secrets = [], {}
    for index, (item, item_fields, vector) in enumerate(zip(items, fields, vectors, strict=True)):
        if index in matches:
            continue
        memory_id = ids[index]
        secret = item_fields.pop(SECRET_FIELD, None)
        if secret is not None:
            secrets[memory_id] = rt.vault.encrypt(secret)
        neighbour = last.get(item.session_id) if item.session_id is not None else None
        rows.append(
            new_row(rt, item, item_fields, vector, memory_id, cube_id, now, status, neighbour)
        )
        if item.session_id is not None:
            last[item.session_id] = (memory_id, item.content)
    created = await memory_store.insert_memories(conn, rows) if rows else []
    for memory_id, ciphertext in secrets.items():
        await lifecycle_store.set_secret(conn, memory_id=memory_id, ciphertext=ciphertext)
    await memory_store.insert_versions(
        conn,
        [version_row(mem, ChangeKind.CREATE, ["content"], actor, None) for mem in created],
    )
    set_aside = {}
    for mem in created:
        if mem.id in to_quarantine:
            set_aside[mem.id] = await quarantine.apply(
                conn,
                tenant_id=cube.tenant_id,
                memory=mem,
                ruling=to_quarantine[mem.id],
                actor=actor,
            )
    reinforced = [target for target, _ in matches.values()]
    # One recall per repetition (a memory repeated twice in a batch gains 2).
    for target in reinforced:
        await memory_store.reinforce(conn, ids=[target], now=now)
    by_id = {mem.id: mem for mem in created}
    by_id.update(set_aside)
    if reinforced or secrets:
        by_id.update(await memory_store.get_many(conn, ids=[*reinforced, *secrets]))
    job_id = await enrichment.enqueue(
        rt,
        conn,
        tenant_id=cube.tenant_id,
        cube_id=cube_id,
        memory_ids=[m.id for m in created if m.id not in set_aside],
    )
    ordered = [by_id[matches[i][0] if i in matches else ids[i]] for i in range(len(items))]
    duplicates = [Duplicate(i, target, kind) for i, (target, kind) in sorted(matches.items())]
    return Added(memories=ordered, job_id=job_id, duplicates=duplicates)


def new_row(
    rt: Runtime,
    item: NewMemory,
    item_fields: dict[str, Any],
    vector: Any,
    memory_id: uuid.UUID,
    cube_id: uuid.UUID,
    now: datetime,
    status: Status,
    neighbour: tuple[uuid.UUID, str] | None = None,
) -> dict[str, Any]:
    """The `memories` row of a new memory (plus the texts its lexical index is built from)."""
    return {
        "id": memory_id,
        "cube_id": cube_id,
        "memory_type": item.memory_type.value,
        "status": status.value,
        "content": item.content,
        "created_at": now,
        "updated_at": now,
        "occurred_at": item.occurred_at or now,
        "user_id": item.user_id,
        "agent_id": item.agent_id,
        "session_id": item.session_id,
        "source": item.source,
        "source_message_ids": list(item.source_message_ids),
        "tags": list(item.tags),
        "keywords": list(item.keywords),
        "context": item.context,
        "metadata": item.metadata,
        "fields": item_fields,
        "version": 1,
        "strength": 1.0,
        "last_recalled_at": None,
        "recall_count": 0,
        "valid_from": item.valid_from,
        "valid_to": item.valid_to,
        "fact_subject": item.fact_subject,
        "fact_attribute": item.fact_attribute,
        "fact_value": item.fact_value,
        "pinned": item.pinned,
        "origin": item.origin,
        "lsh_bucket": item.lsh_bucket,
        "derived_key": core_block_key(item.memory_type, item_fields, item.user_id),
        "trust": _trust_of(item),
        "embedding": vector,
        "embedding_model": rt.embedder.model_name,
        "content_hash": content_hash(item.content),
        "neighbour_id": neighbour[0] if neighbour else None,
        "own_text": item.content,
        "neighbour_text": neighbour[1] if neighbour else None,
    }


async def _refuse_existing_blocks(
    conn: AsyncConnection, cube_id: uuid.UUID, items: list[NewMemory], fields: list[dict[str, Any]]
) -> None:
    for index, (item, item_fields) in enumerate(zip(items, fields, strict=True)):
        key = core_block_key(item.memory_type, item_fields, item.user_id)
        if key is None:
            continue
        block = await lifecycle_store.by_derived_key(conn, cube_id=cube_id, key=key)
        if block is not None:
            raise Conflict(
                f"items[{index}]: this cube already has a `{item_fields['label']}` core block "
                f"for this user ({block.id}); append to it with POST "
                f"/v1/cubes/{cube_id}/core/{item_fields['label']}/append, or rewrite it with PUT",
                code="core_block_exists",
                details={"memory_id": str(block.id)},
            )


def _dedup_probe(item: NewMemory, vector: Any) -> dedup.DuplicateProbe:
    return dedup.DuplicateProbe(
        memory_type=item.memory_type.value,
        content_hash=content_hash(item.content),
        vector=vector,
        user_id=item.user_id,
        agent_id=item.agent_id,
        session_id=item.session_id,
        occurred_at=item.occurred_at,
    )


async def _duplicates(
    rt: Runtime,
    conn: AsyncConnection,
    cube_id: uuid.UUID,
    items: list[NewMemory],
    fields: list[dict[str, Any]],
    vectors: Any,
    ids: list[uuid.UUID],
) -> dict[int, tuple[uuid.UUID, str]]:
    """{item index: (memory it repeats, "exact" | "near")}, against the cube's live memories
    and the items before it in the batch. Vault secrets and core blocks are never merged."""
    threshold = rt.settings.dedup_threshold
    counts = await cube_store.count_memories(conn, cube_ids=[cube_id])
    exact_scan = counts.get(cube_id, 0) <= rt.settings.dedup_exact_max_rows
    found: dict[int, tuple[uuid.UUID, str]] = {}
    earlier: list[tuple[int, dedup.DuplicateProbe]] = []
    probes = {
        index: _dedup_probe(item, vectors[index])
        for index, (item, item_fields) in enumerate(zip(items, fields, strict=True))
        if SECRET_FIELD not in item_fields
        and not core_block_key(item.memory_type, item_fields, item.user_id)
    }
    stored_matches = dict(
        zip(
            probes,
            await lifecycle_store.find_duplicates(
                conn,
                cube_id=cube_id,
                probes=list(probes.values()),
                threshold=threshold,
                exact_scan=exact_scan,
            ),
            strict=True,
        )
    )
    for index, probe in probes.items():
        item = items[index]
        match = stored_matches[index]
        if match is not None and match[1] == "near":
            stored = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=match[0])
            if stored is None or _negates(item.content, stored.content):
                match = None
        if match is None:
            repeat = dedup.repeat_of(
                probe,
                earlier,
                threshold,
                unless=functools.partial(_negates_item, item.content, items),
            )
            if repeat is not None:
                match = (ids[repeat[0]], repeat[1])
        if match is not None:
            found[index] = match
        else:
            earlier.append((index, probe))
    return found


def _negates_item(new: str, items: list[NewMemory], index: int) -> bool:
    return _negates(new, items[index].content)


def _negates(new: str, old: str) -> bool:
    """ "Sam is not allergic to peanuts" is close to "Sam is allergic to peanuts" in embedding
    space (cosine 0.97), but it is no repeat of it: the negation rule of the poisoning check
    tells them apart."""
    relation, _ = consensus.relation(consensus.Statement(new), consensus.Statement(old))
    return relation is consensus.Relation.CONTRADICTS


async def get_memory(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        memory = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=memory_id)
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND, code="memory_not_found")
    return memory


async def list_memories(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    flt: MemoryFilter,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Memory], str | None]:
    principal.require(Scope.READ)
    after = cursors.decode("memories", cursor, {"s": int})["s"] if cursor else None
    if after is not None and not -(2**63) <= after < 2**63:
        raise cursors.invalid()  # not a position encode() could have made (seq is a bigint)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        rows = await memory_store.list_memories(
            conn, cube_id=cube_id, flt=flt, limit=limit + 1, after_seq=after
        )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode("memories", {"s": rows[-1][0]})
    return [memory for _, memory in rows], next_cursor


async def update_memory(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Memory:
    """Apply a client's changes as a new version (a no-op change writes no version).

    A new content is checked against the more trusted memories (memsvc.services.quarantine)
    and may be quarantined; written by a key of a lower level than the memory's trust, it
    lowers that trust to the key's level. A restore of a memory an admin has not released
    from quarantine brings it back into quarantine."""
    principal.require(Scope.WRITE)
    changes = dict(changes)
    if changes.get("trust", 0) is None:
        del changes["trust"]  # null: leave it as it is
    quarantine.require_trust(principal, changes.get("trust"))
    ceiling = quarantine.key_level(principal)
    vector = None
    opinions: quarantine.Opinions = {}
    if "content" in changes:
        _check_content(rt, changes["content"], "content")

        # Embed before taking the row lock: the vector depends only on the new text.
        vector = (await rt.embedder.embed_async([changes["content"]]))[0]
        if rt.llm.configured:
            async with rt.db.transaction() as conn:
                current = await require_memory(conn, principal, cube_id, memory_id)
            level = changes.get("trust", trust_levels.after_edit(current.trust, ceiling))
            claim = quarantine.claim_of(
                dataclasses.replace(current, content=changes["content"], trust=level), vector
            )
            opinions = await quarantine.consult(
                rt, tenant_id=principal.require_tenant(), cube_id=cube_id, claims=[claim]
            )
    async with rt.db.transaction() as conn:
        before = await _locked_memory(conn, principal, cube_id, memory_id)
        tenant_id = principal.require_tenant()
        values, kind = _plan_update(before, changes, expected_version)
        if "content" in values and "trust" not in changes:
            lowered = trust_levels.after_edit(before.trust, ceiling)
            if lowered != before.trust:
                values["trust"] = int(lowered)
        after_fields = values.get("fields", before.fields)
        after_type = MemoryType(values.get("memory_type", before.memory_type))
        if core_block_key(after_type, after_fields, before.user_id) and "content" in values:
            _check_block_size(rt, values["content"], "content")
        secret = _take_secret(rt, before, values)
        if secret is None and before.has_secret and {"content", "fields"} & set(values):
            await _check_stored_secret(rt, conn, before, values)
        if not values and secret is None:
            return before
        if kind is ChangeKind.RESTORE:
            # Asking for a memory back is a recall: its forgetting clock starts again, or the
            # next sweep would archive it at once.
            values["last_recalled_at"] = rt.now()
            record = await quarantine.held(conn, memory_id=memory_id)
            if record is not None:
                # Only an admin's release takes a memory out of quarantine.
                values["status"] = Status.QUARANTINED.value
                await quarantine.reopen(conn, record=record)
                reason = f"restored into quarantine (not released): {record['reason']}"
        content_changed = "content" in values
        if content_changed:
            values["content_hash"] = content_hash(values["content"])
        fields_changed = changed_fields(before, values)
        if secret is not None:
            await lifecycle_store.set_secret(conn, memory_id=memory_id, ciphertext=secret)
            fields_changed = sorted({*fields_changed, "secret_value"})
        after = await memory_store.update_memory(
            conn,
            memory_id=memory_id,
            values=values,
            embedding=vector if content_changed else None,
            embedding_model=rt.embedder.model_name if content_changed else None,
        )
        await memory_store.insert_versions(
            conn, [version_row(after, kind, fields_changed, principal.actor, reason)]
        )
        if content_changed:
            assert vector is not None  # embedded above: the content is in the changes
            around = await memory_store.neighbours_of(conn, memory_id=memory_id)
            await memory_store.refresh_lexical(conn, ids=around)
            (ruling,) = (
                await quarantine.judge(
                    rt, conn, cube_id, [quarantine.claim_of(after, vector)], opinions
                )
                if after.status in {s.value for s in SEARCHABLE_STATUSES}
                else [None]
            )
            if ruling is not None and ruling.quarantine:
                return await quarantine.apply(
                    conn, tenant_id=tenant_id, memory=after, ruling=ruling, actor=principal.actor
                )
            # The note, links and graph facts described the old text: build them anew.
            await enrichment.enqueue(
                rt, conn, tenant_id=tenant_id, cube_id=cube_id, memory_ids=[memory_id]
            )
    return after


def _take_secret(rt: Runtime, memory: Memory, values: dict[str, Any]) -> bytes | None:
    """Move a new vault secret out of `values` (it is never stored in fields), encrypted."""
    fields = values.get("fields")
    if not fields or SECRET_FIELD not in fields:
        return None
    secret = fields.pop(SECRET_FIELD)
    item = NewMemory(content=values.get("content", memory.content), fields=fields)
    _check_secret(rt, item, {**fields, SECRET_FIELD: secret}, "fields")
    if fields == memory.fields:
        del values["fields"]
    return rt.vault.encrypt(secret)


async def _check_stored_secret(
    rt: Runtime, conn: AsyncConnection, memory: Memory, values: dict[str, Any]
) -> None:
    """A new content or caption may not spell out the secret already stored."""
    stored = await lifecycle_store.secrets_of(conn, ids=[memory.id])
    if memory.id not in stored:
        return
    try:
        secret = rt.vault.decrypt(stored[memory.id])
    except VaultError:
        return  # unreadable with the configured keys: nothing to compare with
    fields = values.get("fields", memory.fields)
    item = NewMemory(content=values.get("content", memory.content), fields=fields)
    _check_secret(rt, item, {**fields, SECRET_FIELD: secret}, "content")


async def reveal_secret(rt: Runtime, principal: Principal, memory: Memory) -> str | None:
    """The decrypted vault secret of a memory the caller has read; needs the secrets scope."""
    principal.require(Scope.SECRETS)
    if not memory.has_secret:
        return None
    async with rt.db.transaction() as conn:
        stored = await lifecycle_store.secrets_of(conn, ids=[memory.id])
    if memory.id not in stored:
        return None
    try:
        return rt.vault.decrypt(stored[memory.id])
    except VaultError:
        raise Unavailable(
            "this secret was encrypted with a key that is not configured; add the old key to "
            "MEMSVC_VAULT_KEYS (after the new one) to read it",
            code="vault_key_missing",
        ) from None


async def _locked_memory(
    conn: AsyncConnection, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    """The memory, locked for this transaction, if the caller's cube holds it."""
    await require_cube(conn, principal, cube_id)
    memory = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=memory_id, lock=True)
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND, code="memory_not_found")
    return memory


def _plan_update(
    memory: Memory, changes: dict[str, Any], expected_version: int | None
) -> tuple[dict[str, Any], ChangeKind]:
    """Validate changes against the memory; return the values that differ and the change kind."""
    if expected_version is not None and expected_version != memory.version:
        raise Conflict(
            f"expected version {expected_version}, the memory is at version {memory.version}",
            code="version_conflict",
            details={"current_version": memory.version},
        )
    changes = dict(changes)
    kind = ChangeKind.USER_UPDATE
    memory_type = MemoryType(changes.get("memory_type", memory.memory_type))
    if "memory_type" in changes or "fields" in changes:
        changes["fields"] = validate_fields(memory_type, changes.get("fields", memory.fields))
        changes["memory_type"] = memory_type.value
    if "status" in changes:
        target = Status(changes["status"])
        if target.value != memory.status:
            transition = ALLOWED_STATUS_CHANGES.get((Status(memory.status), target))
            if transition is None:
                raise Conflict(
                    f"status cannot go from {memory.status!r} to {target.value!r} by update",
                    code="invalid_status_change",
                )
            kind = transition
        changes["status"] = target.value
    for name in ("tags", "keywords", "source_message_ids"):
        if name in changes and changes[name] is not None:
            changes[name] = list(changes[name])
    values = {k: v for k, v in changes.items() if getattr(memory, k) != v}
    check_validity(
        values.get("valid_from", memory.valid_from),
        values.get("valid_to", memory.valid_to),
        "valid_to",
    )
    return values, kind


async def delete_memory(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID, *, hard: bool
) -> None:
    """Soft delete marks the memory deleted (restorable, in history); hard delete purges it:
    content, embedding, versions, and its text in its neighbours' search index."""
    principal.require(Scope.WRITE)
    async with rt.db.transaction() as conn:
        memory = await _locked_memory(conn, principal, cube_id, memory_id)
        if hard:
            await enrichment.purge_facts(conn, cube_id=cube_id, memory_id=memory_id)
            await memory_store.hard_delete(conn, memory_id=memory_id)
            return
        if memory.status == Status.DELETED.value:
            return
        after = await memory_store.update_memory(
            conn, memory_id=memory_id, values={"status": Status.DELETED.value}
        )
        await memory_store.insert_versions(
            conn, [version_row(after, ChangeKind.DELETE, ["status"], principal.actor, None)]
        )


async def restore_memory(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    return await update_memory(
        rt, principal, cube_id, memory_id, {"status": Status.ACTIVE.value}, reason="restore"
    )


async def history(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> list[MemoryVersion]:
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_memory(conn, principal, cube_id, memory_id)
        return await memory_store.list_versions(conn, memory_id=memory_id)


async def require_memory(
    conn: AsyncConnection, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> Memory:
    """The memory, if the caller's live cube holds it (any status); else not found."""
    await require_cube(conn, principal, cube_id)
    memory = await memory_store.get_memory(conn, cube_id=cube_id, memory_id=memory_id)
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND, code="memory_not_found")
    return memory


async def lineage(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, memory_id: uuid.UUID
) -> tuple[list[tuple[uuid.UUID, str]], list[tuple[uuid.UUID, str]]]:
    """(what the memory was made from, what was made from it) as (id, relation) pairs."""
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_memory(conn, principal, cube_id, memory_id)
        return await lifecycle_store.lineage(conn, memory_id=memory_id)
