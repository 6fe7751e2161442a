"""Background enrichment of new memories: A-MEM note, links and evolution, HippoRAG facts.

One job per add (or content update), run by the worker (workers/tasks.py), one at a time per
cube (a procrastinate lock): notes are built oldest first, so a memory can link to the ones
added just before it in the same batch, and graph writes never race each other.

Per memory (research/algorithms.md §1.2-1.4, §4.1):
1. the note (keywords, tags, context) from the LLM or the deterministic fallback, and the note
   text embedded (content, context, keywords, tags: §1.3);
2. entities and triples (LLM open information extraction, or the fallback);
3. the `link_top_k` live notes nearest to the new note's embedding; the LLM (or the similarity
   rule) decides the typed, weighted links and how the neighbours evolve;
4. one transaction writes it all: the memory's note as a new version (`enrichment`), its
   links, each evolved neighbour as a new version (`evolution`) with its note re-embedded
   (§1.5 suggestion: at once, not every 100 evolutions), entity nodes (embedded; synonym edges
   to existing nodes at cosine ≥ `synonym_threshold`), mentions and relation edges, and a new
   graph version for the cube.

Model calls and embeddings happen outside transactions; the write re-checks what it read (a
memory whose content changed meanwhile is left to the job its update queued; a neighbour
changed by someone else is not evolved), so a retried or stale job never undoes newer work.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import notes
from memsvc.algorithms.extraction import Extraction
from memsvc.domain.memory import Memory, version_row
from memsvc.domain.types import ChangeKind, Status
from memsvc.errors import NotFound
from memsvc.services import enrich_llm
from memsvc.services.runtime import Runtime
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store import cubes as cube_store
from memsvc.store import graph as graph_store
from memsvc.store import jobs as job_store
from memsvc.store import links as link_store
from memsvc.store import memories as memory_store
from memsvc.store import notes as note_store

log = logging.getLogger(__name__)

ENRICH_MEMORIES = "enrich_memories"
ACTOR = "enrichment"
CHUNK = 64  # memories prepared (notes, extraction, embeddings) per round
MAX_SYNONYMS = 100  # HippoRAG stops a node's synonym walk after ~100 neighbours
_ALNUM = re.compile(r"[\W_]+")


# A quarantined memory gets no note, no links and no graph facts, and evolves no neighbour:
# what it says is in doubt (memsvc.services.quarantine); its release queues its enrichment.
_NOT_ENRICHED = (Status.DELETED.value, Status.QUARANTINED.value)


@dataclasses.dataclass(frozen=True)
class EnrichResult:
    memories: int = 0
    skipped: int = 0
    links: int = 0
    evolved: int = 0
    entities: int = 0


async def enqueue(
    rt: Runtime,
    conn: AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    memory_ids: Sequence[uuid.UUID],
) -> uuid.UUID | None:
    """Queue enrichment of these memories on the caller's transaction; the job's public id
    (None when enrichment is switched off)."""
    if not rt.settings.enrichment or not memory_ids:
        return None
    job_id = uuid.uuid4()
    await job_store.defer_job(
        conn,
        task_name=ENRICH_MEMORIES,
        args={
            "job_id": str(job_id),
            "tenant_id": str(tenant_id),
            "cube_id": str(cube_id),
            "memory_ids": [str(mid) for mid in memory_ids],
        },
        lock=f"enrich:{cube_id}",
    )
    return job_id


@dataclasses.dataclass(frozen=True)
class _Prepared:
    """What a memory's enrichment computes before it touches shared state."""

    state: note_store.NoteState
    note: notes.Note
    note_source: str
    note_vector: np.ndarray
    extraction: Extraction


async def enrich_memories(
    rt: Runtime,
    *,
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    memory_ids: Sequence[uuid.UUID],
) -> EnrichResult:
    async with rt.db.transaction() as conn:
        cube = await cube_store.get_cube(
            conn, tenant_id=tenant_id, cube_id=cube_id, include_deleted=True
        )
        if cube is None:
            raise NotFound(f"cube {cube_id} no longer exists", code="cube_not_found")
        ordered = await note_store.ordered_ids(conn, cube_id=cube_id, ids=memory_ids)
        counts = await cube_store.count_memories(conn, cube_ids=[cube_id])
        exact = counts.get(cube_id, 0) <= rt.settings.dense_exact_max_rows
    usage = DatabaseUsageSink(rt, tenant_id=tenant_id, cube_id=cube_id)
    total = EnrichResult()
    for start in range(0, len(ordered), CHUNK):
        prepared, skipped = await _prepare(rt, cube_id, ordered[start : start + CHUNK], usage)
        entity_vectors = await _entity_vectors(rt, cube_id, prepared)
        total = dataclasses.replace(total, skipped=total.skipped + skipped)
        for item in prepared:
            done = await _enrich_one(rt, cube_id, item, entity_vectors, exact, usage)
            total = EnrichResult(
                memories=total.memories + done.memories,
                skipped=total.skipped + done.skipped,
                links=total.links + done.links,
                evolved=total.evolved + done.evolved,
                entities=total.entities + done.entities,
            )
    log.info("memories enriched", extra={"job_id": str(job_id), **dataclasses.asdict(total)})
    return total


async def _prepare(
    rt: Runtime, cube_id: uuid.UUID, ids: Sequence[uuid.UUID], usage: DatabaseUsageSink
) -> tuple[list[_Prepared], int]:
    async with rt.db.transaction() as conn:
        states = await note_store.note_states(conn, cube_id=cube_id, ids=ids)
    todo = [
        states[mid]
        for mid in ids
        if mid in states
        and states[mid].status not in _NOT_ENRICHED
        and states[mid].enriched_hash != states[mid].content_hash  # done already (a retry)
    ]
    built = []
    for state in todo:
        note, source = await enrich_llm.build_note(
            rt.llm,
            content=state.content,
            occurred_at=state.occurred_at,
            existing_tags=state.tags,
            usage_sink=usage,
        )
        extraction, _ = await enrich_llm.extract_graph(
            rt.llm, content=state.content, speaker=None, usage_sink=usage
        )
        built.append((state, _own_note(state, note), source, extraction))
    vectors = await rt.embedder.embed_async(
        [notes.note_text(state.content, note) for state, note, _, _ in built]
    )
    prepared = [
        _Prepared(state, note, source, vectors[i], extraction)
        for i, (state, note, source, extraction) in enumerate(built)
    ]
    return prepared, len(ids) - len(prepared)


def _own_note(state: note_store.NoteState, note: notes.Note) -> notes.Note:
    """The note to store: the first time, a client's own keywords and context are kept (the
    note adds to them); a re-enrichment after a content change replaces the old note."""
    if state.enriched_hash is None:
        keywords = tuple(dict.fromkeys([*state.keywords, *note.keywords]))
        return notes.Note(keywords=keywords, tags=note.tags, context=state.context or note.context)
    return note


async def _entity_vectors(
    rt: Runtime, cube_id: uuid.UUID, prepared: Sequence[_Prepared]
) -> dict[str, np.ndarray]:
    """Embeddings of the entity keys of this round that the cube has no node for yet."""
    keys = list(dict.fromkeys(k for item in prepared for k in item.extraction.entities))
    async with rt.db.transaction() as conn:
        known = await graph_store.node_ids(conn, cube_id=cube_id, keys=keys)
    new = [k for k in keys if k not in known]
    vectors = await rt.embedder.embed_async(new)
    return {key: vectors[i] for i, key in enumerate(new)}


async def _enrich_one(
    rt: Runtime,
    cube_id: uuid.UUID,
    item: _Prepared,
    entity_vectors: dict[str, np.ndarray],
    exact: bool,
    usage: DatabaseUsageSink,
) -> EnrichResult:
    mid = item.state.id
    async with rt.db.transaction() as conn:
        near = await note_store.note_neighbours(
            conn,
            cube_id=cube_id,
            exclude=mid,
            vector=item.note_vector,
            limit=rt.settings.link_top_k,
            exact=exact,
        )
        seen = await note_store.note_states(conn, cube_id=cube_id, ids=[nid for nid, _ in near])
    views = [
        enrich_llm.NeighbourView(
            id=nid,
            content=seen[nid].content,
            occurred_at=seen[nid].occurred_at,
            keywords=tuple(seen[nid].keywords),
            tags=tuple(seen[nid].tags),
            context=seen[nid].context,
            similarity=sim,
        )
        for nid, sim in near
        if nid in seen
    ]
    plan = await enrich_llm.plan_links(
        rt.llm, content=item.state.content, note=item.note, neighbours=views, usage_sink=usage
    )
    evolved_vectors = await _evolved_note_vectors(rt, seen, plan.updates)
    # Missing keys are nodes another memory of this round created after the round's lookup.
    missing = [k for k in item.extraction.entities if k not in entity_vectors]
    async with rt.db.transaction() as conn:
        locked = await note_store.note_states(
            conn, cube_id=cube_id, ids=[mid, *(u.memory_id for u in plan.updates)], lock=True
        )
        current = locked.get(mid)
        if current is None or current.content_hash != item.state.content_hash:
            return EnrichResult(skipped=1)  # changed or purged meanwhile: its own job follows
        if current.status in _NOT_ENRICHED:
            return EnrichResult(skipped=1)  # deleted or quarantined meanwhile
        await _write_note(conn, item, plan)
        await link_store.replace_outgoing(
            conn,
            cube_id=cube_id,
            source_id=mid,
            links=[(c.target_id, c.link_type, c.weight) for c in plan.links],
            created_by=_created_by(plan.source),
        )
        evolved = 0
        for update in plan.updates:
            if await _evolve(conn, locked, seen, update, evolved_vectors, mid, plan.source):
                evolved += 1
        entities = await _write_facts(
            rt, conn, cube_id, mid, item.extraction, entity_vectors, missing
        )
    return EnrichResult(memories=1, links=len(plan.links), evolved=evolved, entities=entities)


def _created_by(source: str) -> str:
    return "llm" if source == "llm" else "heuristic"


async def _evolved_note_vectors(
    rt: Runtime,
    seen: dict[uuid.UUID, note_store.NoteState],
    updates: Sequence[enrich_llm.NeighbourUpdate],
) -> dict[uuid.UUID, np.ndarray]:
    """Re-embed the notes of neighbours about to evolve (A-MEM §1.5: do it at once)."""
    todo = [u for u in updates if u.memory_id in seen]
    texts = []
    for u in todo:
        state = seen[u.memory_id]
        note = notes.Note(
            keywords=tuple(state.keywords),
            tags=u.tags,
            context=u.context if u.context is not None else (state.context or ""),
        )
        texts.append(notes.note_text(state.content, note))
    vectors = await rt.embedder.embed_async(texts)
    return {u.memory_id: vectors[i] for i, u in enumerate(todo)}


async def _write_note(
    conn: AsyncConnection, item: _Prepared, plan: enrich_llm.LinkPlan
) -> Memory | None:
    state = item.state
    tags = list(item.note.tags)
    if plan.new_tags is not None:  # the LLM re-tagged the new note; a client's tags stay
        tags = list(dict.fromkeys([*state.tags, *plan.new_tags]))
    values: dict[str, Any] = {
        "keywords": list(item.note.keywords),
        "tags": tags,
        "context": item.note.context,
    }
    values = {k: v for k, v in values.items() if getattr(state, k) != v}
    if state.status == Status.PENDING.value:
        values["status"] = Status.ACTIVE.value  # enriched: the memory is complete
    after = None
    if values:
        after = await memory_store.update_memory(conn, memory_id=state.id, values=values)
        await memory_store.insert_versions(
            conn,
            [
                version_row(
                    after,
                    ChangeKind.ENRICHMENT,
                    sorted(values),
                    ACTOR,
                    f"note ({item.note_source})",
                )
            ],
        )
    await note_store.set_note_embedding(
        conn,
        memory_id=state.id,
        vector=item.note_vector,
        source=_created_by(item.note_source),
        enriched_hash=state.content_hash,
    )
    return after


async def _evolve(
    conn: AsyncConnection,
    locked: dict[uuid.UUID, note_store.NoteState],
    seen: dict[uuid.UUID, note_store.NoteState],
    update: enrich_llm.NeighbourUpdate,
    vectors: dict[uuid.UUID, np.ndarray],
    new_id: uuid.UUID,
    source: str,
) -> bool:
    """Apply one neighbour's evolution unless it changed since it was shown to the model."""
    now, then = locked.get(update.memory_id), seen.get(update.memory_id)
    if now is None or then is None or now.version != then.version:
        return False
    if now.status == Status.DELETED.value:
        return False
    values: dict[str, Any] = {"tags": list(update.tags)}
    if update.context is not None:
        values["context"] = update.context
    values = {k: v for k, v in values.items() if getattr(now, k) != v}
    if not values:
        return False
    after = await memory_store.update_memory(conn, memory_id=now.id, values=values)
    reason = f"evolution: linked from new memory {new_id} ({_created_by(source)})"
    await memory_store.insert_versions(
        conn, [version_row(after, ChangeKind.EVOLUTION, sorted(values), ACTOR, reason)]
    )
    if update.memory_id in vectors:
        await note_store.set_note_embedding(
            conn, memory_id=now.id, vector=vectors[update.memory_id]
        )
    return True


async def _write_facts(
    rt: Runtime,
    conn: AsyncConnection,
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    extraction: Extraction,
    vectors: dict[str, np.ndarray],
    missing: Sequence[str],
) -> int:
    """Entity nodes, synonym edges, the memory's mentions and relation edges; bump the graph
    version. Returns the number of entity nodes created."""
    keys = list(extraction.entities)
    ids = await graph_store.node_ids(conn, cube_id=cube_id, keys=keys)
    if missing:  # rare: a node created since the round's lookup, or one never embedded
        absent = [k for k in missing if k not in ids]
        extra = await rt.embedder.embed_async(absent)
        vectors = {**vectors, **{k: extra[i] for i, k in enumerate(absent)}}
    created = await graph_store.insert_nodes(
        conn, cube_id=cube_id, nodes=[(k, vectors[k]) for k in keys if k not in ids]
    )
    ids.update(created)
    # HippoRAG: no synonyms for 1-2 character phrases.
    eligible = [node_id for key, node_id in created.items() if len(_ALNUM.sub("", key)) > 2]
    pairs = await graph_store.synonym_pairs(
        conn,
        cube_id=cube_id,
        node_ids_=eligible,
        min_similarity=rt.settings.synonym_threshold,
        limit=MAX_SYNONYMS,
    )
    await graph_store.insert_synonyms(conn, cube_id=cube_id, pairs=_each_pair_once(pairs))
    relations = [
        (ids[t.subject], ids[t.object], t.relation)
        for t in extraction.triples
        if t.subject in ids and t.object in ids
    ]
    dropped = await graph_store.replace_memory_facts(
        conn,
        cube_id=cube_id,
        memory_id=memory_id,
        mentions=[ids[k] for k in keys if k in ids],
        relations=relations,
    )
    await graph_store.prune_orphans(conn, node_ids_=dropped)
    await graph_store.bump_version(conn, cube_id=cube_id)
    return len(created)


def _each_pair_once(pairs: Sequence[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """Two new nodes find each other from both ends: one synonym edge is enough (the graph
    is undirected)."""
    seen: set[tuple[int, int]] = set()
    out = []
    for a, b, weight in pairs:
        key = (min(a, b), max(a, b))
        if key not in seen:
            seen.add(key)
            out.append((a, b, weight))
    return out


async def purge_facts(conn: AsyncConnection, *, cube_id: uuid.UUID, memory_id: uuid.UUID) -> None:
    """Before a hard delete: the memory's graph facts go, and entities nobody else mentions."""
    nodes = await graph_store.memory_node_ids(conn, memory_id=memory_id)
    await graph_store.replace_memory_facts(
        conn, cube_id=cube_id, memory_id=memory_id, mentions=[], relations=[]
    )
    await link_store.delete_links_of(conn, memory_id=memory_id)
    await graph_store.prune_orphans(conn, node_ids_=nodes)
    await graph_store.bump_version(conn, cube_id=cube_id)
