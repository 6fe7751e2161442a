"""HippoRAG 2's retrieval graph and scoring, as pure functions (no I/O).

The graph (research/algorithms.md §4.1, §4.3) has two kinds of node: entity (phrase) nodes and
passage nodes, one per memory that mentions at least one entity. Its undirected edges are

* relation edges between the subject and object of a triple (weight 1 per triple: parallel
  edges add up, HippoRAG's multigraph semantics),
* synonym edges between entities whose embeddings are close (weight = cosine ≥ 0.8),
* context edges between a memory and each entity it mentions (weight 1.0, HippoRAG 2).

Each edge is scaled by ``hub_damping`` of the entities it touches (our addition; see there).

A query seeds entity nodes (weight × node specificity 1/|P_i|, the number of memories that
mention the entity, §4.1 step 7) and passage nodes (their dense score × 0.05, HippoRAG 2's
`passage_node_weight`); Personalized PageRank with damping 0.5 spreads the mass, and each
memory's score is its passage node's PPR score (§4.3 step 8).

``GraphIndex`` is built once per graph version and cached by the caller; queries only run the
power iteration (memsvc/algorithms/ppr.py).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from memsvc.algorithms import ppr

PASSAGE_NODE_WEIGHT = 0.05  # HippoRAG 2 BaseConfig.passage_node_weight
CONTEXT_EDGE_WEIGHT = 1.0  # HippoRAG 2 passage-entity edges
DAMPING = 0.5  # HippoRAG 1 main experiments and HippoRAG 2 BaseConfig.damping
LINKING_TOP_K = 5  # HippoRAG 2 linking_top_k: at most this many seeded entities


@dataclasses.dataclass(frozen=True)
class GraphIndex:
    """A cube's graph, numbered for PPR: entities are 0..E-1, memories E..E+M-1."""

    version: int
    transition: ppr.TransitionMatrix
    entity_index: dict[int, int]  # graph_nodes id -> matrix index
    entity_keys: list[str]
    specificity: npt.NDArray[np.float64]  # per entity: 1 / number of memories mentioning it
    memory_ids: list[uuid.UUID]
    memory_index: dict[uuid.UUID, int]  # memory id -> matrix index

    @property
    def n_entities(self) -> int:
        return len(self.entity_keys)

    @property
    def empty(self) -> bool:
        return not self.memory_ids


def build_index(
    *,
    version: int,
    node_ids: npt.ArrayLike,
    node_keys: Sequence[str],
    edge_src: npt.ArrayLike,
    edge_dst: npt.ArrayLike,
    edge_weight: npt.ArrayLike,
    mention_memory: Sequence[uuid.UUID],
    mention_node: npt.ArrayLike,
    damp_hubs: bool = True,
) -> GraphIndex:
    """Number the nodes and build the PPR transition matrix. Edges or mentions that name an
    unknown node (deleted between two reads) are skipped."""
    ids = np.asarray(node_ids, dtype=np.int64)
    entity_index = {int(node_id): i for i, node_id in enumerate(ids)}
    n_entities = len(ids)
    memory_ids = list(dict.fromkeys(mention_memory))
    memory_index = {mid: n_entities + i for i, mid in enumerate(memory_ids)}

    def to_index(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return np.array([entity_index.get(int(v), -1) for v in np.asarray(values)], dtype=np.int64)

    src, dst = to_index(edge_src), to_index(edge_dst)
    weight = np.asarray(edge_weight, dtype=np.float64)
    ok = (src >= 0) & (dst >= 0)
    m_src = np.array([memory_index[mid] for mid in mention_memory], dtype=np.int64)
    m_dst = to_index(mention_node)
    m_ok = m_dst >= 0
    counts = np.bincount(m_dst[m_ok], minlength=n_entities).astype(np.float64)
    specificity = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    entity_weight = hub_damping(counts) if damp_hubs else np.ones(n_entities)
    src, dst, weight = src[ok], dst[ok], weight[ok]
    m_src, m_dst = m_src[m_ok], m_dst[m_ok]
    transition = ppr.build_transition(
        n_entities + len(memory_ids),
        np.concatenate([src, m_src]),
        np.concatenate([dst, m_dst]),
        np.concatenate(
            [
                weight * entity_weight[src] * entity_weight[dst],
                CONTEXT_EDGE_WEIGHT * entity_weight[m_dst],
            ]
        ),
        undirected=True,
    )
    return GraphIndex(
        version=version,
        transition=transition,
        entity_index=entity_index,
        entity_keys=list(node_keys),
        specificity=specificity,
        memory_ids=memory_ids,
        memory_index=memory_index,
    )


def hub_damping(mention_counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Edge factor per entity, 1/sqrt(memories mentioning it) (1 for an unmentioned node).

    Our departure from HippoRAG, measured in docs/benchmarks.md: in a personal memory the
    speaker's name and words like "photo" are mentioned by a large share of all memories, and
    at full weight every walk drains into them and spreads evenly over everything. Scaling
    each edge by its entities' factors (symmetric, like a degree normalisation) keeps walks
    on the specific entities a query names and the memories that share them.
    """
    return 1.0 / np.sqrt(np.maximum(mention_counts, 1.0))


def entity_seeds(
    index: GraphIndex, matches: Mapping[int, float], *, top_k: int = LINKING_TOP_K
) -> dict[int, float]:
    """Reset weights of entity nodes: {matrix index: link score × specificity}, the `top_k`
    best. `matches` maps graph_nodes ids to how well the query matched them (cosine in [0, 1])."""
    seeds: dict[int, float] = {}
    for node_id, score in matches.items():
        i = index.entity_index.get(node_id)
        if i is None or score <= 0:
            continue
        seeds[i] = max(seeds.get(i, 0.0), float(score) * float(index.specificity[i]))
    best = sorted(seeds.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return {i: w for i, w in best if w > 0}


def passage_seeds(
    index: GraphIndex, dense: Mapping[uuid.UUID, float], *, weight: float = PASSAGE_NODE_WEIGHT
) -> dict[int, float]:
    """Reset weights of memory nodes: min-max normalised dense score × `weight` (HippoRAG 2)."""
    known = {mid: s for mid, s in dense.items() if mid in index.memory_index}
    if not known:
        return {}
    low, high = min(known.values()), max(known.values())
    span = high - low
    out = {}
    for mid, s in known.items():
        value = ((s - low) / span if span > 1e-12 else 1.0) * weight
        if value > 0:
            out[index.memory_index[mid]] = value
    return out


def memory_scores(
    index: GraphIndex,
    seeds: Mapping[int, float],
    *,
    damping: float = DAMPING,
    limit: int | None = None,
) -> dict[uuid.UUID, float]:
    """PPR from `seeds` ({matrix index: weight}); each memory's passage-node score, best
    first (the `limit` best when given). No seeds: no scores (the graph says nothing)."""
    if index.empty or not seeds or sum(seeds.values()) <= 0:
        return {}
    scores = ppr.personalized_pagerank(index.transition, dict(seeds), damping=damping)
    passage = scores[index.n_entities :]
    order = np.argsort(-passage, kind="stable")
    if limit is not None:
        order = order[:limit]
    return {index.memory_ids[int(i)]: float(passage[int(i)]) for i in order if passage[int(i)] > 0}
