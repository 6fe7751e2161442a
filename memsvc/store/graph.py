"""The HippoRAG entity graph of a cube: entity nodes, memory mentions, relation and synonym
edges, and the cube's graph version (the key of the cached PPR matrix)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.store.tables import cubes, graph_edges, graph_mentions, graph_nodes

n = graph_nodes.c
e = graph_edges.c
gm = graph_mentions.c


async def graph_version(conn: AsyncConnection, *, cube_id: uuid.UUID) -> int:
    row = (await conn.execute(select(cubes.c.graph_version).where(cubes.c.id == cube_id))).first()
    return int(row[0]) if row else 0


async def bump_version(conn: AsyncConnection, *, cube_id: uuid.UUID) -> None:
    await conn.execute(
        update(cubes).where(cubes.c.id == cube_id).values(graph_version=cubes.c.graph_version + 1)
    )


async def node_ids(
    conn: AsyncConnection, *, cube_id: uuid.UUID, keys: Sequence[str]
) -> dict[str, int]:
    """The ids of the cube's nodes among `keys`."""
    if not keys:
        return {}
    rows = await conn.execute(
        select(n.key, n.id).where(n.cube_id == cube_id, n.key.in_(list(set(keys))))
    )
    return {key: int(node_id) for key, node_id in rows.tuples()}


async def insert_nodes(
    conn: AsyncConnection, *, cube_id: uuid.UUID, nodes: Sequence[tuple[str, np.ndarray]]
) -> dict[str, int]:
    """Add (key, embedding) nodes that do not exist yet; return the ids of the ones added."""
    if not nodes:
        return {}
    rows = await conn.execute(
        insert(graph_nodes)
        .values(created_at=func.now())
        .on_conflict_do_nothing(index_elements=["cube_id", "key"])
        .returning(n.key, n.id),
        [{"cube_id": cube_id, "key": key, "embedding": vec} for key, vec in nodes],
    )
    return {key: int(node_id) for key, node_id in rows.tuples()}


async def similar_nodes(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    vector: np.ndarray,
    limit: int,
    min_similarity: float = -1.0,
    exclude: int | None = None,
) -> list[tuple[int, str, float]]:
    """The cube's nodes nearest to `vector`: (id, key, cosine), best first."""
    distance = n.embedding.cosine_distance(vector)
    query = (
        select(n.id, n.key, (1.0 - distance).label("sim"))
        .where(n.cube_id == cube_id, n.embedding.is_not(None), distance <= 1.0 - min_similarity)
        .order_by(distance)
        .limit(limit)
    )
    if exclude is not None:
        query = query.where(n.id != exclude)
    return [(int(i), key, float(sim)) for i, key, sim in (await conn.execute(query)).tuples()]


async def synonym_pairs(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    node_ids_: Sequence[int],
    min_similarity: float,
    limit: int,
) -> list[tuple[int, int, float]]:
    """For each of `node_ids_`, its nearest other nodes of the cube at cosine >= min_similarity
    (at most `limit` each): (node, other, cosine). One round trip for all of them."""
    if not node_ids_:
        return []
    rows = await conn.execute(
        text(
            """
            SELECT a.id, near.id, near.sim
              FROM graph_nodes a
              CROSS JOIN LATERAL (
                  SELECT b.id, 1 - (b.embedding <=> a.embedding) AS sim
                    FROM graph_nodes b
                   WHERE b.cube_id = a.cube_id AND b.id <> a.id AND b.embedding IS NOT NULL
                     AND (b.embedding <=> a.embedding) <= 1 - :min_sim
                   ORDER BY b.embedding <=> a.embedding
                   LIMIT :lim
              ) near
             WHERE a.cube_id = :cube_id AND a.id = ANY(:ids) AND a.embedding IS NOT NULL
            """
        ),
        {"cube_id": cube_id, "ids": list(node_ids_), "min_sim": min_similarity, "lim": limit},
    )
    return [(int(a), int(b), float(sim)) for a, b, sim in rows.tuples()]


async def insert_synonyms(
    conn: AsyncConnection, *, cube_id: uuid.UUID, pairs: Sequence[tuple[int, int, float]]
) -> None:
    """Synonym edges (new node, existing node, cosine); a pair already joined is kept."""
    if not pairs:
        return
    await conn.execute(
        insert(graph_edges).on_conflict_do_nothing(
            index_elements=["src_id", "dst_id"], index_where=text("kind = 'synonym'")
        ),
        [
            {
                "cube_id": cube_id,
                "src_id": a,
                "dst_id": b,
                "relation": "synonym",
                "kind": "synonym",
                "weight": float(w),
                "memory_id": None,
            }
            for a, b, w in pairs
        ],
    )


async def replace_memory_facts(
    conn: AsyncConnection,
    *,
    cube_id: uuid.UUID,
    memory_id: uuid.UUID,
    mentions: Sequence[int],
    relations: Sequence[tuple[int, int, str]],
) -> list[int]:
    """Make `mentions` (node ids) and `relations` (src, dst, relation) the memory's facts.

    Returns the ids of nodes the memory mentioned before and no longer does (orphan
    candidates for `prune_orphans`).
    """
    old = await conn.execute(
        delete(graph_mentions).where(gm.memory_id == memory_id).returning(gm.node_id)
    )
    dropped = {int(x) for x in old.scalars()} - set(mentions)
    await conn.execute(delete(graph_edges).where(e.memory_id == memory_id))
    if mentions:
        await conn.execute(
            insert(graph_mentions).on_conflict_do_nothing(),
            [{"memory_id": memory_id, "node_id": nid, "cube_id": cube_id} for nid in set(mentions)],
        )
    if relations:
        await conn.execute(
            insert(graph_edges),
            [
                {
                    "cube_id": cube_id,
                    "src_id": a,
                    "dst_id": b,
                    "relation": rel,
                    "kind": "relation",
                    "weight": 1.0,
                    "memory_id": memory_id,
                }
                for a, b, rel in relations
            ],
        )
    return sorted(dropped)


async def memory_node_ids(conn: AsyncConnection, *, memory_id: uuid.UUID) -> list[int]:
    rows = await conn.execute(select(gm.node_id).where(gm.memory_id == memory_id))
    return [int(x) for x in rows.scalars()]


async def prune_orphans(conn: AsyncConnection, *, node_ids_: Sequence[int]) -> int:
    """Delete the nodes among `node_ids_` that no memory mentions any more (with their edges)."""
    if not node_ids_:
        return 0
    result = await conn.execute(
        delete(graph_nodes).where(n.id.in_(list(node_ids_)), ~exists().where(gm.node_id == n.id))
    )
    return int(result.rowcount or 0)


@dataclasses.dataclass(frozen=True)
class GraphRows:
    """A cube's whole graph as arrays, for building the PPR matrix."""

    node_ids: np.ndarray  # int64, the graph_nodes ids
    node_keys: list[str]
    edge_src: np.ndarray  # graph_nodes ids
    edge_dst: np.ndarray
    edge_weight: np.ndarray
    mention_memory: list[uuid.UUID]
    mention_node: np.ndarray  # graph_nodes ids


async def load_graph(conn: AsyncConnection, *, cube_id: uuid.UUID) -> GraphRows:
    nodes = (
        await conn.execute(select(n.id, n.key).where(n.cube_id == cube_id).order_by(n.id))
    ).all()
    edges = (
        await conn.execute(select(e.src_id, e.dst_id, e.weight).where(e.cube_id == cube_id))
    ).all()
    mentions = (
        await conn.execute(
            select(gm.memory_id, gm.node_id).where(gm.cube_id == cube_id).order_by(gm.memory_id)
        )
    ).all()
    return GraphRows(
        node_ids=np.array([r[0] for r in nodes], dtype=np.int64),
        node_keys=[r[1] for r in nodes],
        edge_src=np.array([r[0] for r in edges], dtype=np.int64),
        edge_dst=np.array([r[1] for r in edges], dtype=np.int64),
        edge_weight=np.array([r[2] for r in edges], dtype=np.float64),
        mention_memory=[r[0] for r in mentions],
        mention_node=np.array([r[1] for r in mentions], dtype=np.int64),
    )


async def page_nodes(
    conn: AsyncConnection, *, cube_id: uuid.UUID, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Nodes in id order with how many memories mention each."""
    mentions = (
        select(func.count()).where(gm.node_id == n.id).correlate(graph_nodes).scalar_subquery()
    )
    query = (
        select(n.id, n.key, n.created_at, mentions.label("memory_count"))
        .where(n.cube_id == cube_id)
        .order_by(n.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(n.id > after_id)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def page_edges(
    conn: AsyncConnection, *, cube_id: uuid.UUID, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(e.id, e.src_id, e.dst_id, e.relation, e.kind, e.weight, e.memory_id)
        .where(e.cube_id == cube_id)
        .order_by(e.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(e.id > after_id)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def graph_counts(conn: AsyncConnection, *, cube_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for name, table in (
        ("nodes", graph_nodes),
        ("edges", graph_edges),
        ("mentions", graph_mentions),
    ):
        q = select(func.count()).select_from(table).where(table.c.cube_id == cube_id)
        counts[name] = int((await conn.execute(q)).scalar_one())
    return counts
