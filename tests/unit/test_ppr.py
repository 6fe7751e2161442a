"""Personalized PageRank over a cached transition matrix, checked against networkx.pagerank.

Parity is asserted far tighter than the 1e-6 the service needs (rtol 1e-9): the power iteration
is networkx's own (same start, update and stopping rule), so any real difference would be a bug,
not rounding.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np
import pytest

from memsvc.algorithms.ppr import (
    PPRConvergenceError,
    TransitionMatrix,
    build_transition,
    personalized_pagerank,
    top_nodes,
)

Edges = tuple[np.ndarray, np.ndarray, np.ndarray]


def random_edges(n: int, m: int, seed: int, *, isolated: int = 0) -> Edges:
    """m random weighted edges among the first n - isolated nodes (the rest stay isolated).

    Duplicates, reversed pairs and self-loops occur; callers decide how to treat them.
    """
    rng = np.random.default_rng(seed)
    live = n - isolated
    # Skewed endpoints (some hubs, many leaves), weights spread over two orders of magnitude.
    src = np.minimum((rng.pareto(1.5, m) * live / 20).astype(np.int64), live - 1)
    dst = rng.integers(0, live, m)
    weights = rng.uniform(0.05, 5.0, m)
    return src, dst, weights


def nx_graph(n: int, edges: Edges, kind: str) -> nx.Graph:
    graph: nx.Graph = {
        "directed": nx.MultiDiGraph,
        "undirected": nx.MultiGraph,
        "simple-undirected": nx.Graph,
        "simple-directed": nx.DiGraph,
    }[kind]()
    graph.add_nodes_from(range(n))
    src, dst, weights = edges
    graph.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weights.tolist(), strict=True))
    return graph


def simple_edges(edges: Edges, *, undirected: bool) -> Edges:
    """Keep one edge per (unordered, if undirected) pair: the last one, as nx.Graph does."""
    src, dst, weights = edges
    seen: dict[tuple[int, int], float] = {}
    for s, d, w in zip(src.tolist(), dst.tolist(), weights.tolist(), strict=True):
        key = (min(s, d), max(s, d)) if undirected else (s, d)
        seen.pop(key, None)
        seen[key] = w
    keys = list(seen)
    return (
        np.array([k[0] for k in keys], dtype=np.int64),
        np.array([k[1] for k in keys], dtype=np.int64),
        np.array(list(seen.values()), dtype=np.float64),
    )


def reference(
    graph: nx.Graph, seeds: Mapping[int, float], damping: float, n: int, weight: str | None
) -> np.ndarray:
    scores = nx.pagerank(graph, alpha=damping, personalization=dict(seeds), weight=weight)
    return np.array([scores[i] for i in range(n)])


def seed_sets(n: int, isolated: int, seed: int) -> list[dict[int, float]]:
    rng = np.random.default_rng(seed)
    live = n - isolated
    picks = rng.choice(live, size=8, replace=False).tolist()
    return [
        {picks[0]: 1.0},  # HippoRAG 1 with one linked phrase
        {picks[1]: 0.5, picks[2]: 1 / 3, picks[3]: 0.25},  # 1/|P_i| node specificity
        {p: float(rng.uniform(0.01, 1.0)) for p in picks},
        {picks[4]: 1.0, n - 1: 0.7},  # an isolated (dangling) node seeded
        {i: 0.05 * float(rng.random()) for i in range(n)} | {picks[5]: 1.0},  # v2: all passages
    ]


def assert_parity(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    assert float(np.abs(ours - ref).max()) <= 1e-6
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15)
    assert top_nodes(ours, 20).tolist() == top_nodes(ref, 20).tolist()


@pytest.mark.parametrize("kind", ["directed", "undirected", "simple-undirected", "simple-directed"])
@pytest.mark.parametrize(("n", "m", "isolated"), [(60, 150, 5), (400, 1600, 20), (1500, 4000, 0)])
@pytest.mark.parametrize("damping", [0.5, 0.85, 0.15])
def test_matches_networkx(kind: str, n: int, m: int, isolated: int, damping: float) -> None:
    edges = random_edges(n, m, seed=n + m, isolated=isolated)
    undirected = "undirected" in kind
    if kind.startswith("simple"):
        edges = simple_edges(edges, undirected=undirected)
    graph = nx_graph(n, edges, kind)
    matrix = build_transition(n, *edges, undirected=undirected)
    if not undirected:
        assert matrix.dangling.size > isolated  # sinks beyond the isolated nodes
    for seeds in seed_sets(n, isolated, seed=m):
        if isolated == 0:
            seeds = {k: v for k, v in seeds.items() if k != n - 1} or {0: 1.0}
        ours = personalized_pagerank(matrix, seeds, damping=damping)
        assert_parity(ours, reference(graph, seeds, damping, n, "weight"))
        assert abs(float(ours.sum()) - 1.0) < 1e-6


@pytest.mark.parametrize("undirected", [True, False])
def test_unweighted_matches_networkx(undirected: bool) -> None:
    n = 300
    src, dst, _ = random_edges(n, 900, seed=7, isolated=10)
    kind = "undirected" if undirected else "directed"
    graph = nx_graph(n, (src, dst, np.ones(src.shape[0])), kind)
    matrix = build_transition(n, src, dst, undirected=undirected)
    seeds = {int(src[0]): 1.0, int(dst[1]): 2.0}
    ours = personalized_pagerank(matrix, seeds)
    ref = reference(graph, seeds, 0.5, n, "weight")
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15)


def test_dense_vector_seeds_equal_mapping_seeds() -> None:
    n = 200
    matrix = build_transition(n, *random_edges(n, 700, seed=3))
    mapping = {5: 2.0, 17: 1.0, 150: 0.5}
    vector = np.zeros(n)
    for node, weight in mapping.items():
        vector[node] = weight
    np.testing.assert_array_equal(
        personalized_pagerank(matrix, mapping), personalized_pagerank(matrix, vector)
    )
    # The caller's vector is not normalised in place.
    assert vector[5] == 2.0


def test_tighter_tolerance_still_matches_networkx() -> None:
    n = 500
    edges = random_edges(n, 2000, seed=11, isolated=10)
    graph = nx_graph(n, edges, "undirected")
    matrix = build_transition(n, *edges)
    seeds = {1: 1.0, 2: 0.5}
    ours = personalized_pagerank(matrix, seeds, tol=1e-12, max_iter=500)
    ref = nx.pagerank(graph, alpha=0.5, personalization=seeds, tol=1e-12, max_iter=500)
    np.testing.assert_allclose(ours, [ref[i] for i in range(n)], rtol=1e-9, atol=1e-15)


def test_zero_weight_edges_make_a_node_dangling_like_networkx() -> None:
    src, dst, weights = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0]), np.array([1.0, 0.0, 2, 1])
    graph = nx_graph(4, (src, dst, weights), "directed")
    matrix = build_transition(4, src, dst, weights, undirected=False)
    assert matrix.dangling.tolist() == [1]
    seeds = {0: 1.0, 2: 1.0}
    assert_parity(
        personalized_pagerank(matrix, seeds, damping=0.85),
        reference(graph, seeds, 0.85, 4, "weight"),
    )


def test_self_loops_count_once_in_undirected_graphs() -> None:
    src, dst, weights = np.array([0, 0, 1]), np.array([0, 1, 2]), np.array([3.0, 1.0, 1.0])
    matrix = build_transition(3, src, dst, weights)
    column0 = matrix.matrix.toarray()[:, 0]
    np.testing.assert_allclose(column0, [0.75, 0.25, 0.0])
    graph = nx_graph(3, (src, dst, weights), "undirected")
    assert_parity(
        personalized_pagerank(matrix, {2: 1.0}), reference(graph, {2: 1.0}, 0.5, 3, "weight")
    )


def test_transition_is_column_stochastic_and_read_only() -> None:
    n = 100
    matrix = build_transition(n, *random_edges(n, 300, seed=1, isolated=4))
    assert isinstance(matrix, TransitionMatrix)
    sums = np.asarray(matrix.matrix.sum(axis=0)).reshape(-1)
    live = np.setdiff1d(np.arange(n), matrix.dangling)
    np.testing.assert_allclose(sums[live], 1.0)
    np.testing.assert_array_equal(sums[matrix.dangling], 0.0)
    assert set(range(96, 100)) <= set(matrix.dangling.tolist())
    with pytest.raises(ValueError):
        matrix.matrix.data[0] = 2.0
    with pytest.raises(AttributeError):
        matrix.n_nodes = 5  # type: ignore[misc]


def test_graph_without_edges_returns_the_seed_distribution() -> None:
    matrix = build_transition(4, np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    scores = personalized_pagerank(matrix, {1: 1.0, 3: 3.0})
    np.testing.assert_allclose(scores, [0.0, 0.25, 0.0, 0.75])


# --- errors -------------------------------------------------------------------------------------


@pytest.fixture
def small() -> TransitionMatrix:
    return build_transition(10, *random_edges(10, 20, seed=2))


@pytest.mark.parametrize("seeds", [{}, {3: 0.0}, {1: 0.0, 2: 0.0}, np.zeros(10)])
def test_empty_or_all_zero_seeds_raise(small: TransitionMatrix, seeds: object) -> None:
    with pytest.raises(ValueError):
        personalized_pagerank(small, seeds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "seeds",
    [np.ones(9), np.ones(11), np.ones((10, 1)), {10: 1.0}, {-1: 1.0}],
    ids=["short", "long", "2d", "id-too-big", "id-negative"],
)
def test_node_count_mismatch_raises(small: TransitionMatrix, seeds: object) -> None:
    with pytest.raises(ValueError):
        personalized_pagerank(small, seeds)  # type: ignore[arg-type]


@pytest.mark.parametrize("seeds", [{1: -1.0, 2: 2.0}, {1: float("nan")}, {1: float("inf")}])
def test_negative_or_non_finite_seeds_raise(small: TransitionMatrix, seeds: object) -> None:
    with pytest.raises(ValueError):
        personalized_pagerank(small, seeds)  # type: ignore[arg-type]


@pytest.mark.parametrize("damping", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_damping_outside_open_unit_interval_raises(small: TransitionMatrix, damping: float) -> None:
    with pytest.raises(ValueError):
        personalized_pagerank(small, {0: 1.0}, damping=damping)


def test_bad_tol_or_max_iter_raise(small: TransitionMatrix) -> None:
    with pytest.raises(ValueError):
        personalized_pagerank(small, {0: 1.0}, tol=0.0)
    with pytest.raises(ValueError):
        personalized_pagerank(small, {0: 1.0}, max_iter=0)


def test_non_convergence_raises() -> None:
    n = 300
    matrix = build_transition(n, *random_edges(n, 900, seed=5))
    with pytest.raises(PPRConvergenceError):
        personalized_pagerank(matrix, {0: 1.0}, damping=0.99, tol=1e-12, max_iter=3)


def test_build_transition_validates_edges() -> None:
    with pytest.raises(ValueError, match="lie in"):
        build_transition(3, np.array([0, 3]), np.array([1, 2]))  # id 3 with n_nodes=3
    with pytest.raises(ValueError, match="lie in"):
        build_transition(3, np.array([0, -1]), np.array([1, 2]))
    with pytest.raises(ValueError):
        build_transition(3, np.array([0, 1]), np.array([1]))
    with pytest.raises(ValueError):
        build_transition(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0]))
    with pytest.raises(ValueError):
        build_transition(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, -2.0]))
    with pytest.raises(ValueError):
        build_transition(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError):
        build_transition(3, np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        build_transition(-1, np.array([], dtype=np.int64), np.array([], dtype=np.int64))


# --- top_nodes ----------------------------------------------------------------------------------


def test_top_nodes_orders_by_score_then_id() -> None:
    scores = np.array([0.1, 0.5, 0.3, 0.5, 0.0, 0.3])
    assert top_nodes(scores, 3).tolist() == [1, 3, 2]
    assert top_nodes(scores, 4).tolist() == [1, 3, 2, 5]
    assert top_nodes(scores, 100).tolist() == [1, 3, 2, 5, 0, 4]
    assert top_nodes(scores, 0).tolist() == []
    with pytest.raises(ValueError):
        top_nodes(scores, -1)


def test_top_nodes_agrees_with_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(5000).round(3)  # plenty of ties
    expected = sorted(range(5000), key=lambda i: (-scores[i], i))[:50]
    assert top_nodes(scores, 50).tolist() == expected
