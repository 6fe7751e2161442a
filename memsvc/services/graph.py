"""The entity-graph signal of search (HippoRAG) and the graph view of a cube.

Per cube, the graph is read and its PPR matrix built once per graph version (enrichment bumps
it), and kept in a small in-process cache; a query costs the seed linking (a few vector
lookups) and one power iteration.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms import cursor as cursors
from memsvc.algorithms import hipporag
from memsvc.algorithms.extraction import extract
from memsvc.domain.types import Scope
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import graph as graph_store

# A query entity links to the nearest node only when they are at least this similar (HippoRAG 1
# takes the argmax unconditionally; on a small personal graph the argmax of an unrelated word
# is noise).
MIN_LINK_SIMILARITY = 0.6
GRAPH_PAGE_MAX = 1000


def query_entities(query: str) -> list[str]:
    """The entity keys a query names (the deterministic extractor, as at indexing time)."""
    return list(extract(query).entities)


async def graph_index(
    rt: Runtime, conn: AsyncConnection, cube_id: uuid.UUID
) -> hipporag.GraphIndex:
    version = await graph_store.graph_version(conn, cube_id=cube_id)
    cached = rt.graphs.get(cube_id, version)
    if cached is not None:
        return cached
    rows = await graph_store.load_graph(conn, cube_id=cube_id)
    index = await anyio.to_thread.run_sync(
        lambda: hipporag.build_index(
            version=version,
            node_ids=rows.node_ids,
            node_keys=rows.node_keys,
            edge_src=rows.edge_src,
            edge_dst=rows.edge_dst,
            edge_weight=rows.edge_weight,
            mention_memory=rows.mention_memory,
            mention_node=rows.mention_node,
            damp_hubs=rt.settings.graph_hub_damping,
        )
    )
    rt.graphs.put(cube_id, index)
    return index


EmbedTexts = Callable[[list[str]], Awaitable[np.ndarray]]


async def _entity_matches(
    conn: AsyncConnection,
    cube_id: uuid.UUID,
    entities: Sequence[str],
    embed: EmbedTexts,
) -> dict[int, float]:
    """{graph node id: match score}: an exact key match scores 1, else the nearest node by
    embedding (HippoRAG 1 linking) when it is similar enough. Only the entities with no
    exact match are embedded (on a CPU, embedding them is most of the graph signal's cost)."""
    exact = await graph_store.node_ids(conn, cube_id=cube_id, keys=list(entities))
    matches: dict[int, float] = {exact[key]: 1.0 for key in entities if key in exact}
    unmatched = [key for key in entities if key not in exact]
    if not unmatched:
        return matches
    vectors = await embed(unmatched)
    for vector in vectors:
        near = await graph_store.similar_nodes(
            conn, cube_id=cube_id, vector=vector, limit=1, min_similarity=MIN_LINK_SIMILARITY
        )
        for node_id, _, sim in near:
            matches[node_id] = max(matches.get(node_id, 0.0), sim)
    return matches


async def graph_signal(
    rt: Runtime,
    conn: AsyncConnection,
    *,
    cube_ids: Sequence[uuid.UUID],
    entities: Sequence[str],
    embed: EmbedTexts,
    dense: Mapping[uuid.UUID, float],
    limit: int,
) -> dict[uuid.UUID, float]:
    """PPR score of each memory, over each cube's graph, seeded by the query's entities and
    (HippoRAG 2) by the dense scores of memories. Unfiltered: the caller filters. `embed`
    embeds the entities that name no node exactly, when a cube has a graph."""
    out: dict[uuid.UUID, float] = {}
    for cube_id in cube_ids:
        index = await graph_index(rt, conn, cube_id)
        if index.empty or not entities:
            continue
        matches = await _entity_matches(conn, cube_id, entities, embed)
        seeds = hipporag.entity_seeds(index, matches)
        if not seeds:  # no entity of the query is in this graph: it has nothing to add
            continue
        seeds.update(hipporag.passage_seeds(index, dense))
        scores = await anyio.to_thread.run_sync(_ppr_scores, index, seeds, limit)
        out.update(scores)
    return out


def _ppr_scores(
    index: hipporag.GraphIndex, seeds: dict[int, float], limit: int
) -> dict[uuid.UUID, float]:
    return hipporag.memory_scores(index, seeds, limit=limit)


# --- the graph view (admin UI) ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GraphPage:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    next_cursor: str | None
    counts: dict[str, int]
    version: int


async def graph_page(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID, *, limit: int, cursor: str | None
) -> GraphPage:
    """Nodes and edges of a cube's graph, `limit` of each per page, in id order."""
    principal.require(Scope.READ)
    after_node = after_edge = None
    if cursor:
        position = cursors.decode("graph", cursor, {"n": int, "e": int})
        after_node, after_edge = position["n"], position["e"]
        if not (0 <= after_node < 2**63 and 0 <= after_edge < 2**63):
            raise cursors.invalid()  # not a position encode() could have made
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        nodes = await graph_store.page_nodes(
            conn, cube_id=cube_id, after_id=after_node, limit=limit + 1
        )
        edges = await graph_store.page_edges(
            conn, cube_id=cube_id, after_id=after_edge, limit=limit + 1
        )
        counts = await graph_store.graph_counts(conn, cube_id=cube_id)
        version = await graph_store.graph_version(conn, cube_id=cube_id)
    more = len(nodes) > limit or len(edges) > limit
    nodes, edges = nodes[:limit], edges[:limit]
    next_cursor = None
    if more:
        next_cursor = cursors.encode(
            "graph",
            {
                "n": nodes[-1]["id"] if nodes else (after_node or 0),
                "e": edges[-1]["id"] if edges else (after_edge or 0),
            },
        )
    return GraphPage(
        nodes=nodes, edges=edges, next_cursor=next_cursor, counts=counts, version=version
    )
