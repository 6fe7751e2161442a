"""TiM (Think-in-Memory): thoughts made by post-thinking, kept organised in LSH buckets.

A thought is a semantic memory (origin `thought`) stating one relation between two entities:
`fields.name` is its head, `fields.relation` and `fields.tail` the rest. Its bucket is the
random-hyperplane LSH code of its embedding (memsvc.algorithms.lsh); recall and organisation
look only at the query's few nearest buckets instead of the whole cube.

Per question and answer (research/algorithms.md §3.3):
1. recall the thoughts nearest to the question (its buckets only);
2. post-think: new thoughts from the pair and the recalled ones (LLM, or the pattern rules);
3. insert them (a repeat of a live thought reinforces it instead: write-time dedup);
4. forget: thoughts the new ones contradict are archived, with the reason;
5. merge: near-duplicate thoughts about the same head become one memory (the oldest keeps its
   id and takes the merged text; the others get status `merged` and lineage to it).
Model calls happen before the write transaction, which re-checks every memory it touches.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import numpy as np

from memsvc.algorithms import thoughts as tim
from memsvc.algorithms.lsh import lsh_for
from memsvc.domain.memory import Memory, content_hash, version_row
from memsvc.domain.types import ChangeKind, MemoryType, Scope, Status
from memsvc.errors import InvalidRequest
from memsvc.services import enrichment, memories, thought_llm
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store import lifecycle as lifecycle_store
from memsvc.store import memories as memory_store

ORIGIN = "thought"
ACTOR = "tim"
RECALL_K = 5
RECALL_PROBES = 2  # the query's bucket and its nearest neighbour bucket
ORGANISE_PROBES = 3
MAX_TEXT = 4000


@dataclasses.dataclass(frozen=True)
class QA:
    question: str
    answer: str


@dataclasses.dataclass(frozen=True)
class ThoughtOutcome:
    thoughts: list[Memory]  # inserted (or reinforced) thoughts, in order
    archived: list[tuple[Memory, str]]  # forgotten: contradicted or outdated, with the reason
    merged: list[tuple[Memory, list[uuid.UUID]]]  # survivor and the thoughts folded into it
    made_by: str  # "llm" or "fallback"


def thought_of(content: str, fields: dict[str, object]) -> tim.Thought:
    return tim.Thought(
        text=content,
        head=str(fields.get("name") or ""),
        relation=str(fields.get("relation") or ""),
        tail=str(fields.get("tail") or ""),
    )


def _check(pairs: Sequence[QA]) -> None:
    if not pairs:
        raise InvalidRequest("send a question and an answer (or messages)", code="empty_batch")
    for i, pair in enumerate(pairs):
        if not pair.question.strip() or not pair.answer.strip():
            raise InvalidRequest(
                f"pair {i}: question and answer must both be non-empty", code="empty_content"
            )
        if len(pair.question) + len(pair.answer) > MAX_TEXT * 4:
            raise InvalidRequest(
                f"pair {i}: question and answer together exceed {MAX_TEXT * 4} characters",
                code="content_too_large",
            )


async def add_thoughts(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    pairs: Sequence[QA],
    *,
    user_id: str | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
) -> ThoughtOutcome:
    principal.require(Scope.WRITE)
    _check(pairs)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
    usage = DatabaseUsageSink(rt, tenant_id=cube.tenant_id, cube_id=cube_id)
    lsh = lsh_for(rt.embedder.dimension, rt.settings.lsh_bits)
    made: list[tuple[tim.Thought, QA]] = []
    made_by = "fallback"
    for pair in pairs:
        recalled = await _recall(rt, cube_id, pair.question, user_id, RECALL_K)
        new, source = await thought_llm.think(
            rt.llm,
            question=pair.question[:MAX_TEXT],
            answer=pair.answer[:MAX_TEXT],
            recalled=[thought_of(m.content, m.fields) for m, _ in recalled],
            usage_sink=usage,
        )
        made_by = "llm" if source == "llm" else made_by
        made.extend((t, pair) for t in new)
    if not made:
        return ThoughtOutcome([], [], [], made_by)
    vectors = await rt.embedder.embed_async([t.text for t, _ in made])
    buckets = lsh.buckets(vectors)
    items = [
        memories.NewMemory(
            content=t.text,
            memory_type=MemoryType.SEMANTIC,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            source=ORIGIN,
            fields={
                "name": t.head[:500],
                "relation": t.relation[:200],
                "tail": t.tail[:500],
                "source": ORIGIN,
                "details": f"Q: {pair.question}\nA: {pair.answer}"[:20_000],
            },
            origin=ORIGIN,
            lsh_bucket=buckets[i],
        )
        for i, (t, pair) in enumerate(made)
    ]
    added = await memories.add_memories(rt, principal, cube_id, items, vectors=vectors)
    probes = sorted({b for v in vectors for b in lsh.probe_order(v, ORGANISE_PROBES)})
    archived, merged = await organise(
        rt,
        tenant_id=cube.tenant_id,
        cube_id=cube_id,
        user_id=user_id,
        buckets=probes,
        new_ids=[m.id for m in added.memories],
        usage=usage,
    )
    # What became of each new thought: itself, or the thought it was merged into.
    into = {mid: survivor for survivor, ids in merged for mid in ids}
    survivors = {m.id: m for m, _ in merged}
    archived_ids = {m.id for m, _ in archived}
    final: list[Memory] = []
    for memory in added.memories:
        kept = into.get(memory.id) or survivors.get(memory.id, memory)
        if kept.id not in archived_ids and all(kept.id != f.id for f in final):
            final.append(kept)
    return ThoughtOutcome(final, archived, merged, made_by)


async def _recall(
    rt: Runtime, cube_id: uuid.UUID, query: str, user_id: str | None, k: int
) -> list[tuple[Memory, float]]:
    """The live thoughts nearest to `query`, looking only in its nearest LSH buckets."""
    lsh = lsh_for(rt.embedder.dimension, rt.settings.lsh_bits)
    vector = (await rt.embedder.embed_async([query]))[0]
    probes = lsh.probe_order(vector, RECALL_PROBES)
    async with rt.db.transaction() as conn:
        rows = await lifecycle_store.thoughts_in_buckets(
            conn, cube_id=cube_id, buckets=probes, user_id=user_id
        )
        ranked = sorted(rows, key=lambda r: -float(np.dot(r.vector, vector)))[:k]
        found = await memory_store.get_many(conn, ids=[r.id for r in ranked])
    return [(found[r.id], float(np.dot(r.vector, vector))) for r in ranked if r.id in found]


async def recall_thoughts(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    query: str,
    *,
    top_k: int,
    user_id: str | None,
) -> list[tuple[Memory, float]]:
    """TiM hand-out: the thoughts nearest to the query; a recall reinforces them."""
    principal.require(Scope.READ)
    if not query.strip():
        raise InvalidRequest("query is empty", code="empty_query")
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
    hits = await _recall(rt, cube_id, query, user_id, top_k)
    if hits:
        async with rt.db.transaction() as conn:
            await memory_store.reinforce(conn, ids=[m.id for m, _ in hits], now=rt.now())
    return hits


async def organise(
    rt: Runtime,
    *,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    user_id: str | None,
    buckets: Sequence[int],
    new_ids: Sequence[uuid.UUID] = (),
    usage: DatabaseUsageSink | None = None,
) -> tuple[list[tuple[Memory, str]], list[tuple[Memory, list[uuid.UUID]]]]:
    """Forget contradicted thoughts and merge near-duplicates within these buckets.

    With `new_ids` (an insert), the new thoughts are checked against the older ones (LLM or
    the latest-wins rule); without (a consolidation pass), every thought is checked by the
    rule against the older ones of its bucket.
    """
    usage = usage or DatabaseUsageSink(rt, tenant_id=tenant_id, cube_id=cube_id)
    async with rt.db.transaction() as conn:
        rows = await lifecycle_store.thoughts_in_buckets(
            conn, cube_id=cube_id, buckets=buckets, user_id=user_id
        )
    if not rows:
        return [], []
    rows = sorted(rows, key=lambda r: (r.created_at, str(r.id)))
    forget = await _contradicted(rt, rows, set(new_ids), usage)
    alive = [r for r in rows if r.id not in forget]
    groups = tim.merge_groups(
        [
            tim.MergeCandidate(
                key=r.id,
                thought=thought_of(r.content, r.fields),
                vector=r.vector,
                created_at=r.created_at,
            )
            for r in alive
        ],
        threshold=rt.settings.thought_merge_threshold,
    )
    by_id = {r.id: r for r in alive}
    plans = []
    for group in groups:
        members = [group.survivor, *group.members]
        ordered = sorted(members, key=lambda mid: (by_id[mid].created_at, str(mid)))
        merged, _ = await thought_llm.merge_text(
            rt.llm,
            thoughts=[thought_of(by_id[mid].content, by_id[mid].fields) for mid in ordered],
            usage_sink=usage,
        )
        plans.append((group, merged))
    vectors = await rt.embedder.embed_async([m.text for _, m in plans])
    return await _apply(rt, tenant_id, cube_id, rows, forget, plans, vectors)


async def _contradicted(
    rt: Runtime,
    rows: Sequence[lifecycle_store.ThoughtRow],
    new_ids: set[uuid.UUID],
    usage: DatabaseUsageSink,
) -> dict[uuid.UUID, str]:
    """{old thought: why it is forgotten}; only older thoughts are ever forgotten."""
    if new_ids:
        new = [thought_of(r.content, r.fields) for r in rows if r.id in new_ids]
        old = [(r.id, thought_of(r.content, r.fields)) for r in rows if r.id not in new_ids]
        if not new or not old:
            return {}
        found, _ = await thought_llm.find_contradicted(rt.llm, new=new, old=old, usage_sink=usage)
        return found
    found = {}
    for i, row in enumerate(rows):
        newer = thought_of(row.content, row.fields)
        older = [(r.id, thought_of(r.content, r.fields)) for r in rows[:i]]
        for old_id in tim.contradicted(newer, older):
            found.setdefault(old_id, f"superseded by: {row.content}")
    return found


async def _apply(
    rt: Runtime,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    rows: Sequence[lifecycle_store.ThoughtRow],
    forget: dict[uuid.UUID, str],
    plans: Sequence[tuple[tim.MergeGroup[uuid.UUID], tim.Thought]],
    vectors: np.ndarray,
) -> tuple[list[tuple[Memory, str]], list[tuple[Memory, list[uuid.UUID]]]]:
    """One transaction: archive the forgotten, fold each merge group into its oldest thought.
    A thought that changed since it was read (a newer version) is left alone."""
    seen = {r.id: r for r in rows}
    archived: list[tuple[Memory, str]] = []
    merged: list[tuple[Memory, list[uuid.UUID]]] = []
    lsh = lsh_for(rt.embedder.dimension, rt.settings.lsh_bits)
    async with rt.db.transaction() as conn:
        await lifecycle_store.lock_cube_writes(conn, cube_id=cube_id)
        locked = await lifecycle_store.lock_live(conn, cube_id=cube_id, ids=list(seen))
        fresh = {mid: mem for mid, mem in locked.items() if mem.content == seen[mid].content}
        versions = []
        for mid, reason in forget.items():
            if mid not in fresh:
                continue
            after = await memory_store.update_memory(
                conn, memory_id=mid, values={"status": Status.ARCHIVED.value}
            )
            versions.append(version_row(after, ChangeKind.FORGETTING, ["status"], ACTOR, reason))
            archived.append((after, reason))
        reenrich = []
        for (group, thought), vector in zip(plans, vectors, strict=True):
            members = [m for m in group.members if m in fresh]
            if group.survivor not in fresh or not members:
                continue
            survivor = fresh[group.survivor]
            fields = {
                **survivor.fields,
                "name": thought.head[:500] or survivor.fields.get("name"),
                "relation": thought.relation[:200],
                "tail": thought.tail[:500],
            }
            values = {"content": thought.text, "fields": fields}
            values = {k: v for k, v in values.items() if getattr(survivor, k) != v}
            if "content" in values:
                values["content_hash"] = content_hash(thought.text)
            after = await memory_store.update_memory(
                conn,
                memory_id=survivor.id,
                values={**values, "lsh_bucket": lsh.buckets(vector[None, :])[0]},
                embedding=vector if "content" in values else None,
                embedding_model=rt.embedder.model_name if "content" in values else None,
            )
            reason = f"merged {len(members)} near-duplicate thought(s) into this one"
            versions.append(
                version_row(
                    after, ChangeKind.MERGE, sorted(set(values) - {"content_hash"}), ACTOR, reason
                )
            )
            if "content" in values:
                reenrich.append(after.id)
            for member in members:
                gone = await memory_store.update_memory(
                    conn, memory_id=member, values={"status": Status.MERGED.value}
                )
                versions.append(
                    version_row(
                        gone, ChangeKind.MERGE, ["status"], ACTOR, f"merged into {survivor.id}"
                    )
                )
            await lifecycle_store.add_sources(
                conn, cube_id=cube_id, memory_id=survivor.id, source_ids=members, relation="merged"
            )
            merged.append((after, members))
        await memory_store.insert_versions(conn, versions)
        if reenrich:  # the merged text needs its own note, links and graph facts
            await enrichment.enqueue(
                rt, conn, tenant_id=tenant_id, cube_id=cube_id, memory_ids=reenrich
            )
    return archived, merged


async def consolidate_thoughts(
    rt: Runtime, *, tenant_id: uuid.UUID, cube_id: uuid.UUID
) -> tuple[int, int]:
    """The periodic pass over every bucket: (thoughts archived, thoughts merged away)."""
    async with rt.db.transaction() as conn:
        users = await lifecycle_store.thought_users(conn, cube_id=cube_id)
    lsh = lsh_for(rt.embedder.dimension, rt.settings.lsh_bits)
    archived = folded = 0
    for user_id in users:
        for bucket in range(lsh.n_buckets):
            gone, merged = await organise(
                rt, tenant_id=tenant_id, cube_id=cube_id, user_id=user_id, buckets=[bucket]
            )
            archived += len(gone)
            folded += sum(len(ids) for _, ids in merged)
    return archived, folded
