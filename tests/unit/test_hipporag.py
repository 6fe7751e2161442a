"""HippoRAG graph index and scoring (pure): numbering, specificity, seeds, PPR parity."""

from __future__ import annotations

import uuid

import networkx as nx
import numpy as np
import pytest

from memsvc.algorithms import hipporag

M1, M2, M3 = (uuid.UUID(int=i) for i in (1, 2, 3))


def _index(damp_hubs: bool = True) -> hipporag.GraphIndex:
    # entities: 10 alice, 11 rex, 12 beagle, 13 report; memories mention them as below
    return hipporag.build_index(
        damp_hubs=damp_hubs,
        version=7,
        node_ids=[10, 11, 12, 13],
        node_keys=["alice", "rex", "beagle", "report"],
        edge_src=[10, 11, 99],  # 99: a node deleted meanwhile -> skipped
        edge_dst=[11, 12, 10],
        edge_weight=[1.0, 0.9, 1.0],
        mention_memory=[M1, M1, M2, M2, M3],
        mention_node=[10, 11, 11, 12, 13],
    )


def test_nodes_are_numbered_entities_first_then_memories():
    index = _index()
    assert index.version == 7
    assert index.n_entities == 4
    assert index.entity_index == {10: 0, 11: 1, 12: 2, 13: 3}
    assert index.memory_index == {M1: 4, M2: 5, M3: 6}
    assert index.transition.n_nodes == 7


def test_specificity_is_one_over_mentioning_memories():
    index = _index()
    # rex is mentioned by two memories, the others by one
    assert index.specificity.tolist() == [1.0, 0.5, 1.0, 1.0]


def test_entity_seeds_weight_by_specificity_and_keep_top_k():
    index = _index()
    seeds = hipporag.entity_seeds(index, {10: 0.9, 11: 1.0, 404: 1.0})
    assert seeds == {0: pytest.approx(0.9), 1: pytest.approx(0.5)}
    assert len(hipporag.entity_seeds(index, {10: 1, 11: 1, 12: 1}, top_k=2)) == 2


def test_passage_seeds_are_minmax_dense_times_weight():
    index = _index()
    seeds = hipporag.passage_seeds(index, {M1: 0.9, M2: 0.5, uuid.uuid4(): 1.0})
    assert seeds == {4: pytest.approx(hipporag.PASSAGE_NODE_WEIGHT)}  # M2 is the minimum -> 0


def test_memory_scores_match_networkx_pagerank():
    index = _index(damp_hubs=False)
    seeds = {0: 1.0, 5: 0.05}
    ours = hipporag.memory_scores(index, seeds)
    g = nx.MultiGraph()
    g.add_nodes_from(range(7))
    g.add_edge(0, 1, weight=1.0)
    g.add_edge(1, 2, weight=0.9)
    for m, e in ((4, 0), (4, 1), (5, 1), (5, 2), (6, 3)):
        g.add_edge(m, e, weight=1.0)
    expected = nx.pagerank(g, alpha=0.5, personalization={0: 1.0, 5: 0.05}, weight="weight")
    for mid, i in index.memory_index.items():
        if expected[i] > 0:
            assert ours[mid] == pytest.approx(expected[i], rel=1e-4)
    ranked = list(ours)
    assert ranked[0] == M1  # mentions the seeded entity directly
    assert M3 not in ours or ours[M3] < ours[M2]  # unconnected to any seed


def test_no_seeds_no_scores_and_empty_graph():
    assert hipporag.memory_scores(_index(), {}) == {}
    empty = hipporag.build_index(
        version=0,
        node_ids=[],
        node_keys=[],
        edge_src=[],
        edge_dst=[],
        edge_weight=[],
        mention_memory=[],
        mention_node=np.array([], dtype=np.int64),
    )
    assert empty.empty
    assert hipporag.memory_scores(empty, {0: 1.0}) == {}


def test_limit_keeps_the_best():
    scores = hipporag.memory_scores(_index(), {1: 1.0}, limit=1)
    assert len(scores) == 1


def test_hub_damping_scales_edges_by_entity_mentions():
    factors = hipporag.hub_damping(np.array([1.0, 4.0, 0.0, 100.0]))
    assert factors.tolist() == pytest.approx([1.0, 0.5, 1.0, 0.1])


def _star(damp_hubs: bool) -> tuple[hipporag.GraphIndex, list[uuid.UUID]]:
    """Entity 1 ("alice", the speaker) is in all 20 memories; entity 2 ("kayak") in memories 0
    and 1; entity 3 ("lake") in memories 1 and 2. A query naming "kayak"."""
    mems = [uuid.UUID(int=100 + i) for i in range(20)]
    mention_memory = [*mems, mems[0], mems[1], mems[1], mems[2]]
    mention_node = [1] * 20 + [2, 2, 3, 3]
    index = hipporag.build_index(
        version=1,
        node_ids=[1, 2, 3],
        node_keys=["alice", "kayak", "lake"],
        edge_src=[1, 1],
        edge_dst=[2, 3],
        edge_weight=[1.0, 1.0],
        mention_memory=mention_memory,
        mention_node=np.array(mention_node),
        damp_hubs=damp_hubs,
    )
    return index, mems


def test_damping_keeps_the_walk_off_the_hub():
    results = {}
    for damp in (False, True):
        index, mems = _star(damp)
        scores = hipporag.memory_scores(index, hipporag.entity_seeds(index, {2: 1.0}))
        # share of the memory mass that reaches memories unrelated to the query
        unrelated = sum(scores.get(m, 0.0) for m in mems[3:])
        results[damp] = unrelated / sum(scores.values())
        assert list(scores)[:2] == [mems[0], mems[1]] or list(scores)[:2] == [mems[1], mems[0]]
    assert results[True] < results[False] / 2
