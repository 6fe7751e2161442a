"""What a newly inferred memory does to the stored ones: add, reinforce, update or supersede.

The write half of conversation ingestion (memsvc.services.ingest), run in the ingesting
transaction with the cube's write lock held, one extracted memory at a time in message order
(so a later message of a batch sees what an earlier one stored). The rules are the pure
``update_decision``; this module finds the neighbours they compare with (the current memories
of the same subject, type and user) and applies the verdict, each as a version with its reason:

- add: a new memory (origin ``extracted``), ``valid_from`` = the message time;
- reinforce: strength + 1, the message joins ``source_message_ids`` (a ``reinforce`` version);
- update: the stored memory takes the new wording (an ``inferred_update`` version);
- supersede: the stored one ends (``valid_to``, a ``supersede`` version) where the new one
  starts; lineage ``supersedes``. A statement older than the stored fact is kept as past.

Every inferred memory gets lineage ``extracted`` to its turn. Nothing is deleted.

Trust (memsvc.services.quarantine): each fact carries its message's trust. A fact that
contradicts a consensus of more trusted ones is stored and quarantined (decision
``quarantine``), and so is the turn it came from. A less trusted fact never supersedes nor
rewrites a more trusted one: short of a consensus to quarantine it, it is added beside it;
an equally or more trusted one supersedes and updates as above.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import trust as trust_levels
from memsvc.algorithms.consensus import Ruling
from memsvc.algorithms.message_extract import Extracted
from memsvc.algorithms.update_decision import (
    Decision,
    Fact,
    Neighbour,
    StoredSecret,
    Verdict,
    decide,
    decide_secret,
)
from memsvc.domain.fields import validate_fields
from memsvc.domain.memory import Cube, Memory, content_hash, version_row
from memsvc.domain.types import SEARCHABLE_STATUSES, ChangeKind, MemoryType, Status
from memsvc.security.vault import VaultError
from memsvc.services import memories, quarantine
from memsvc.services.runtime import Runtime
from memsvc.store import facts as fact_store
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

ORIGIN = "extracted"
_LIVE = {s.value for s in SEARCHABLE_STATUSES}
SOURCE = "conversation"
NEIGHBOURS = 10  # stored facts each new one is compared with


@dataclasses.dataclass(frozen=True)
class Inferred:
    decision: Decision
    memory: Memory  # the new memory, or the stored one reinforced or updated
    previous_id: uuid.UUID | None  # the stored memory reinforced, updated or superseded
    reason: str
    message_index: int


@dataclasses.dataclass
class Batch:
    """What deciding a batch's inferred memories needs at hand (one transaction, the cube's
    write lock held)."""

    rt: Runtime
    conn: AsyncConnection
    cube: Cube
    actor: str
    turns: list[Memory]  # per message: its turn (or, for POST /memories, its item)
    timestamps: list[datetime | None]  # per message
    message_ids: list[str]  # per message
    now: datetime
    to_enrich: list[uuid.UUID] = dataclasses.field(default_factory=list)
    trusts: list[int] = dataclasses.field(default_factory=list)  # per message (default user)
    # The model's view of the poisoning check, asked before the transaction.
    opinions: quarantine.Opinions = dataclasses.field(default_factory=dict)


def _trust(batch: Batch, x: Extracted) -> int:
    return batch.trusts[x.message_index] if batch.trusts else int(trust_levels.Trust.USER)


def _valid_from(batch: Batch, x: Extracted) -> datetime:
    return batch.timestamps[x.message_index] or batch.now


def _owner(batch: Batch, x: Extracted) -> Memory:
    """The turn (or item) it came from: whose user, agent and session it belongs to."""
    return batch.turns[x.message_index]


def _slot(x: Extracted) -> tuple[str | None, str | None]:
    """The slot the update rules compare by: the extractor's, or for a link its address (a
    link is the same resource only at the same address)."""
    if x.memory_type == MemoryType.RESOURCE.value and x.fields.get("uri"):
        return "link", str(x.fields["uri"])
    return x.attribute, x.value


async def infer_one(batch: Batch, x: Extracted, vector: np.ndarray) -> Inferred:
    trust = _trust(batch, x)
    if x.memory_type == MemoryType.KNOWLEDGE_VAULT.value:
        verdict, levels = await _secret_verdict(batch, x)
    else:
        verdict, levels = await _fact_verdict(batch, x, vector)
    turn = batch.turns[x.message_index]
    message_id = batch.message_ids[x.message_index]
    ruling = None
    if verdict.decision is not Decision.REINFORCE:
        (ruling,) = await quarantine.judge(
            batch.rt, batch.conn, batch.cube.id, [_claim(batch, x, vector)], batch.opinions
        )
    if ruling is not None and ruling.quarantine:
        memory = await _quarantine(batch, x, vector, ruling, message_id)
        await lifecycle_store.add_sources(
            batch.conn,
            cube_id=batch.cube.id,
            memory_id=memory.id,
            source_ids=[turn.id],
            relation="extracted",
        )
        return Inferred(Decision.QUARANTINE, memory, None, ruling.reason, x.message_index)
    if (
        verdict.decision in (Decision.UPDATE, Decision.SUPERSEDE)
        and verdict.target is not None
        and levels.get(verdict.target, 0) > trust
    ):
        # A less trusted statement does not rewrite nor end a more trusted fact.
        verdict = Verdict(
            Decision.ADD,
            None,
            f"{verdict.reason}; stored beside {verdict.target}, which is more trusted "
            f"({trust_levels.name(levels[verdict.target])} over {trust_levels.name(trust)})",
        )
    if verdict.decision is Decision.ADD or verdict.target is None:
        memory = await _insert(batch, x, vector, verdict.reason, message_id)
        previous = None
    elif verdict.decision is Decision.REINFORCE:
        memory = await _reinforce(batch, verdict.target, verdict.reason, message_id)
        previous = verdict.target
    elif verdict.decision is Decision.UPDATE:
        memory = await _update(batch, verdict.target, x, vector, verdict.reason, message_id)
        previous = verdict.target
    else:
        memory, verdict = await _supersede(batch, verdict, x, vector, message_id)
        previous = verdict.target
    await lifecycle_store.add_sources(
        batch.conn,
        cube_id=batch.cube.id,
        memory_id=memory.id,
        source_ids=[turn.id],
        relation="extracted",
    )
    return Inferred(verdict.decision, memory, previous, verdict.reason, x.message_index)


def _claim(batch: Batch, x: Extracted, vector: np.ndarray) -> quarantine.Claim:
    return claim(x, vector, _trust(batch, x), _owner(batch, x).user_id)


def claim(x: Extracted, vector: np.ndarray, trust: int, user_id: str | None) -> quarantine.Claim:
    """An extracted memory as the poisoning check sees it."""
    attribute, value = _slot(x)
    return quarantine.Claim(
        content=x.content,
        trust=trust,
        user_id=user_id,
        memory_type=x.memory_type,
        vector=vector,
        subject=x.subject,
        attribute=attribute,
        value=value,
    )


async def _quarantine(
    batch: Batch, x: Extracted, vector: np.ndarray, ruling: Ruling[uuid.UUID], message_id: str
) -> Memory:
    """Store the fact and set it aside; the turn it came from goes with it (the statement
    that carried it), unless that turn is set aside already."""
    fact = await _insert(batch, x, vector, "stored for review", message_id, enrich=False)
    tenant_id = batch.cube.tenant_id
    fact = await quarantine.apply(
        batch.conn, tenant_id=tenant_id, memory=fact, ruling=ruling, actor=batch.actor
    )
    turn = await memory_store.get_memory(
        batch.conn, cube_id=batch.cube.id, memory_id=batch.turns[x.message_index].id
    )
    if turn is not None and turn.status in _LIVE and turn.trust <= fact.trust:
        await quarantine.set_aside(
            batch.conn,
            tenant_id=tenant_id,
            memory=turn,
            reason=f"a memory inferred from it, {fact.id}, was quarantined: {ruling.reason}",
            conflicts=quarantine.conflicts_of(ruling),
            judged_by=ruling.judged_by,
            actor=batch.actor,
        )
        if turn.id in batch.to_enrich:
            batch.to_enrich.remove(turn.id)
    return fact


async def _fact_verdict(
    batch: Batch, x: Extracted, vector: np.ndarray
) -> tuple[Verdict[uuid.UUID], dict[uuid.UUID, int]]:
    """The update rules' verdict, and the trust of each stored fact compared."""
    attribute, value = _slot(x)
    stored = await fact_store.current_facts(
        batch.conn,
        cube_id=batch.cube.id,
        user_id=_owner(batch, x).user_id,
        subject=x.subject,
        memory_type=x.memory_type,
        attribute=attribute,
        vector=vector,
        limit=NEIGHBOURS,
    )
    if x.memory_type == MemoryType.EPISODIC.value:
        # An event again on another day is another event.
        stored = [s for s in stored if _same_day(s.memory.occurred_at, x.occurred_at)]
    neighbours = [
        Neighbour(
            key=s.memory.id,
            fact=Fact(
                content=s.memory.content,
                subject=s.memory.fact_subject or "",
                memory_type=s.memory.memory_type,
                attribute=s.memory.fact_attribute,
                value=s.memory.fact_value,
            ),
            similarity=s.similarity,
        )
        for s in stored
    ]
    new = Fact(x.content, x.subject, x.memory_type, attribute, value)
    verdict = decide(new, neighbours, duplicate_threshold=batch.rt.settings.dedup_threshold)
    return verdict, {s.memory.id: s.memory.trust for s in stored}


def _same_day(a: datetime | None, b: datetime | None) -> bool:
    return a is None or b is None or abs(a - b) < timedelta(days=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def _secret_verdict(
    batch: Batch, x: Extracted
) -> tuple[Verdict[uuid.UUID], dict[uuid.UUID, int]]:
    stored = await fact_store.current_secrets(
        batch.conn, cube_id=batch.cube.id, user_id=_owner(batch, x).user_id, subject=x.subject
    )
    readable = []
    for memory_id, attribute, ciphertext, _ in stored:
        try:
            secret = batch.rt.vault.decrypt(ciphertext)
        except VaultError:
            continue  # under a key no longer configured: cannot be compared
        readable.append(StoredSecret(memory_id, attribute, _digest(secret)))
    verdict = decide_secret(x.attribute, _digest(x.secret or ""), readable)
    return verdict, {memory_id: level for memory_id, _, _, level in stored}


def _new_item(batch: Batch, x: Extracted, valid_to: datetime | None = None) -> memories.NewMemory:
    attribute, value = _slot(x)
    owner = _owner(batch, x)
    return memories.NewMemory(
        trust=_trust(batch, x),
        content=x.content,
        memory_type=MemoryType(x.memory_type),
        occurred_at=x.occurred_at or _valid_from(batch, x),
        user_id=owner.user_id,
        agent_id=owner.agent_id,
        session_id=owner.session_id,
        source=SOURCE,
        source_message_ids=(batch.message_ids[x.message_index],),
        fields=dict(x.fields),
        origin=ORIGIN,
        valid_from=_valid_from(batch, x),
        valid_to=valid_to,
        fact_subject=x.subject,
        fact_attribute=attribute,
        fact_value=value,
    )


async def _insert(
    batch: Batch,
    x: Extracted,
    vector: np.ndarray,
    reason: str,
    message_id: str,
    *,
    valid_to: datetime | None = None,
    enrich: bool = True,
) -> Memory:
    rt, conn = batch.rt, batch.conn
    item = _new_item(batch, x, valid_to)
    fields = validate_fields(item.memory_type, item.fields)
    memory_id = uuid.uuid4()
    status = Status.PENDING if rt.settings.enrichment else Status.ACTIVE
    row = memories.new_row(rt, item, fields, vector, memory_id, batch.cube.id, batch.now, status)
    (memory,) = await memory_store.insert_memories(conn, [row])
    if x.secret is not None:
        await lifecycle_store.set_secret(
            conn, memory_id=memory_id, ciphertext=rt.vault.encrypt(x.secret)
        )
    await memory_store.insert_versions(
        conn,
        [
            version_row(
                memory,
                ChangeKind.CREATE,
                ["content"],
                batch.actor,
                f"inferred from message {message_id}: {reason}",
            )
        ],
    )
    if enrich:
        batch.to_enrich.append(memory_id)
    return memory


def _with_message(memory: Memory, message_id: str) -> list[str]:
    ids = list(memory.source_message_ids)
    return ids if message_id in ids else [*ids, message_id]


async def _reinforce(batch: Batch, target: uuid.UUID, reason: str, message_id: str) -> Memory:
    """Stated again: a recall (MemoryBank strength + 1), and the message joins its sources."""
    conn = batch.conn
    await memory_store.reinforce(conn, ids=[target], now=batch.now)
    memory = await memory_store.get_memory(conn, cube_id=batch.cube.id, memory_id=target)
    assert memory is not None  # read under the cube's write lock
    after = await memory_store.update_memory(
        conn,
        memory_id=target,
        values={"source_message_ids": _with_message(memory, message_id)},
    )
    await memory_store.insert_versions(
        conn,
        [
            version_row(
                after,
                ChangeKind.REINFORCE,
                ["source_message_ids"],
                batch.actor,
                f"stated again in message {message_id}: {reason}",
            )
        ],
    )
    return after


async def _update(
    batch: Batch,
    target: uuid.UUID,
    x: Extracted,
    vector: np.ndarray,
    reason: str,
    message_id: str,
) -> Memory:
    """Restated more precisely: the stored memory takes the new wording (a new version)."""
    rt, conn = batch.rt, batch.conn
    memory = await memory_store.get_memory(conn, cube_id=batch.cube.id, memory_id=target)
    assert memory is not None
    attribute, value = _slot(x)
    values: dict[str, Any] = {
        "content": x.content,
        "content_hash": content_hash(x.content),
        "fields": validate_fields(MemoryType(x.memory_type), dict(x.fields)),
        "fact_value": value if attribute == memory.fact_attribute else memory.fact_value,
        "source_message_ids": _with_message(memory, message_id),
    }
    after = await memory_store.update_memory(
        conn,
        memory_id=target,
        values=values,
        embedding=vector,
        embedding_model=rt.embedder.model_name,
    )
    changed = sorted(
        name
        for name in ("content", "fields", "fact_value")
        if getattr(memory, name) != values[name]
    )
    await memory_store.insert_versions(
        conn,
        [
            version_row(
                after,
                ChangeKind.INFERRED_UPDATE,
                [*changed, "source_message_ids"],
                batch.actor,
                f"restated in message {message_id}: {reason}",
            )
        ],
    )
    batch.to_enrich.append(target)
    return after


async def _supersede(
    batch: Batch,
    verdict: Verdict[uuid.UUID],
    x: Extracted,
    vector: np.ndarray,
    message_id: str,
) -> tuple[Memory, Verdict[uuid.UUID]]:
    """The stored fact ends where the new one starts. A statement older than the stored fact
    (history sent out of order) is kept as a past fact that the stored one superseded."""
    conn = batch.conn
    assert verdict.target is not None
    old = await memory_store.get_memory(conn, cube_id=batch.cube.id, memory_id=verdict.target)
    assert old is not None
    at = _valid_from(batch, x)
    old_start = old.valid_from or old.created_at
    if at < old_start:
        reason = f"{verdict.reason} (an older statement: kept as the value before it)"
        new = await _insert(batch, x, vector, reason, message_id, valid_to=old_start)
        await lifecycle_store.add_sources(
            conn,
            cube_id=batch.cube.id,
            memory_id=old.id,
            source_ids=[new.id],
            relation="supersedes",
        )
        return new, Verdict(Decision.ADD, verdict.target, reason)
    new = await _insert(batch, x, vector, f"supersedes {old.id}: {verdict.reason}", message_id)
    ended = await memory_store.update_memory(conn, memory_id=old.id, values={"valid_to": at})
    await memory_store.insert_versions(
        conn,
        [
            version_row(
                ended,
                ChangeKind.SUPERSEDE,
                ["valid_to"],
                batch.actor,
                f"superseded by {new.id} (message {message_id}): {verdict.reason}",
            )
        ],
    )
    await lifecycle_store.add_sources(
        conn, cube_id=batch.cube.id, memory_id=new.id, source_ids=[old.id], relation="supersedes"
    )
    return new, verdict
