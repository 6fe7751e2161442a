"""Personalized PageRank (PPR) by power iteration over a cached sparse transition matrix.

Why this module exists: HippoRAG 1 and 2 rank graph nodes by PPR seeded at the phrases (and, in
v2, passages) linked to the query (docs: shared/research/algorithms.md §4.2-4.3).
``networkx.pagerank(personalization=...)`` gives the right numbers but rebuilds the sparse matrix
on every call: 1.09 s per query on 50k nodes / 250k edges. Building the column-stochastic matrix
once per graph version and running only the power iteration per query took 9-13 ms with identical
results (shared/research/environment.md, "Graph maths"); ``bench/ppr.py`` measures this
implementation (~5 ms a query at networkx's tolerance, on 2 cores).

Conventions, all chosen to reproduce ``networkx.pagerank(G, alpha=damping, personalization=seeds,
weight="weight")`` (networkx 3.x, ``_pagerank_scipy``) to floating-point noise:

- ``damping`` is the probability of FOLLOWING an edge; ``1 - damping`` is the probability of
  restarting at the seeds. This is networkx's ``alpha`` and igraph's ``damping`` alike, which
  HippoRAG calls (``personalized_pagerank(damping=0.5, ...)``, igraph). HippoRAG's constant is
  0.5: ``run_hipporag_main_exps.sh`` (v1; the v1 class default 0.1 is not what the paper ran) and
  ``BaseConfig.damping = 0.5`` (v2) [algorithms.md §4.2 step 4, §4.3]. So both restart and follow
  with probability 0.5, and the two readings happen to agree at that value; the default here is
  ``DEFAULT_DAMPING = 0.5``.
- The matrix is column-stochastic: ``matrix[j, i]`` is the probability of stepping from node i to
  node j, so one step is ``matrix @ x``.
- Undirected graphs (HippoRAG's graph is undirected, algorithms.md §4.1 step 8) add every edge in
  both directions; a self-loop counts once, as in ``networkx.to_scipy_sparse_array``. Repeated
  (src, dst) pairs SUM their weights, i.e. multigraph semantics (networkx ``MultiGraph``, and
  igraph, where HippoRAG's ordered-pair inserts leave parallel edges, §4.1 step 8). Callers that
  want simple-graph semantics pass each pair once.
- Dangling nodes (zero out-strength: isolated nodes, or sinks in a directed graph) send their mass
  back according to the personalization vector, networkx's default when ``dangling=None``.
  In an undirected graph only isolated nodes dangle, so this matters only when one is seeded.
  Whether igraph/PRPACK (HippoRAG's backend) does the same was not verified (§4.4).
- Start vector uniform, stop when the L1 change between iterates is below ``tol * n`` (networkx's
  rule), else raise. This rule is loose on large graphs: at 50k nodes the default 1e-6 allows
  0.05 total L1 change. Measured by ``bench/ppr.py`` on 50k nodes / 250k edges, damping 0.5,
  against a fully converged answer: the default keeps the top-10 identical in 43/50 queries and
  the top-50 *set* at 99% overlap, but the exact top-50 order in only 1/50 (max score error
  2e-3), at ~5 ms a query. ``PRECISE_TOL`` (1e-10) gives identical top-50s (50/50, error 2e-7)
  at 13-16 ms, closer to igraph's PRPACK solver that HippoRAG runs. The default stays networkx's
  so the two are interchangeable; pass ``tol=PRECISE_TOL`` where the ranking beyond the first
  handful matters (HippoRAG 2 reads the top 200 passages).

Seed weights are the caller's business (v1: 1/|P_i| node specificity on each linked phrase;
v2: mean fact score / |P_i| on the top-5 phrases plus 0.05 x min-max dense score on every
passage, §4.2 step 3 and §4.3 steps 5-7). Here they are only checked and normalised to sum to 1.

Pure functions, no I/O. networkx is not imported here: it is for building and inspecting graphs
elsewhere (and for the parity tests); this module takes integer node ids ``0..n-1`` and arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

DEFAULT_DAMPING = 0.5
"""HippoRAG's damping (probability of following an edge), v1 main experiments and v2 default."""

DEFAULT_TOL = 1e-6
"""networkx's default; convergence when the L1 change < ``tol * n_nodes``."""

PRECISE_TOL = 1e-10
"""Near-converged scores: identical top-50 rankings to a fully converged solve (see above)."""

DEFAULT_MAX_ITER = 100
"""networkx's default; at damping 0.5 the default stops after ~4 iterations, ``PRECISE_TOL`` ~12."""


class PPRConvergenceError(RuntimeError):
    """Power iteration did not converge within ``max_iter`` (networkx raises here too)."""


@dataclass(frozen=True, eq=False)
class TransitionMatrix:
    """Column-stochastic transition matrix of a weighted graph, built once per graph version.

    Build it with :func:`build_transition` and cache it next to the graph version it came from:
    building costs tens of milliseconds on 50k nodes, a query a few. The arrays are read-only so
    a cached instance can be shared between concurrent queries.

    Attributes:
        n_nodes: number of nodes; node ids are ``0..n_nodes-1``.
        matrix: CSR ``(n, n)``; ``matrix[j, i]`` = weight(i->j) / out-strength(i). Columns of
            dangling nodes are all zero; their mass is redistributed per query.
        dangling: sorted ids of nodes with zero out-strength (no edges, or only zero weights).
        undirected: whether edges were added in both directions.
    """

    n_nodes: int
    matrix: sparse.csr_array
    dangling: npt.NDArray[np.intp]
    undirected: bool

    @property
    def n_edges(self) -> int:
        """Stored non-zero transitions (each undirected edge counts twice, self-loops once)."""
        return int(self.matrix.nnz)


def build_transition(
    n_nodes: int,
    src: npt.ArrayLike,
    dst: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    undirected: bool = True,
) -> TransitionMatrix:
    """Build the column-stochastic transition matrix from edge arrays.

    Args:
        n_nodes: number of nodes; every id in ``src``/``dst`` must be in ``[0, n_nodes)``.
            Nodes that appear in no edge are isolated (dangling).
        src, dst: integer arrays of equal length, one entry per edge.
        weights: non-negative finite edge weights (default 1.0 each). Repeated pairs sum.
        undirected: add each edge in both directions (HippoRAG's graph is undirected).

    Raises:
        ValueError: on mismatched lengths, ids out of range, or negative / non-finite weights.
    """
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or n_nodes < 0:
        raise ValueError(f"n_nodes must be a non-negative integer, got {n_nodes!r}")
    n = int(n_nodes)
    src_arr = np.asarray(src)
    dst_arr = np.asarray(dst)
    if src_arr.ndim != 1 or dst_arr.ndim != 1 or src_arr.shape != dst_arr.shape:
        raise ValueError(
            f"src and dst must be 1-D arrays of equal length, got {src_arr.shape}, {dst_arr.shape}"
        )
    if src_arr.size and not (
        np.issubdtype(src_arr.dtype, np.integer) and np.issubdtype(dst_arr.dtype, np.integer)
    ):
        raise ValueError("src and dst must hold integer node ids")
    src_arr = src_arr.astype(np.int64, copy=False)
    dst_arr = dst_arr.astype(np.int64, copy=False)
    if src_arr.size:
        low = min(int(src_arr.min()), int(dst_arr.min()))
        high = max(int(src_arr.max()), int(dst_arr.max()))
        if low < 0 or high >= n:
            raise ValueError(f"node ids must lie in [0, {n}), found range [{low}, {high}]")
    if weights is None:
        w = np.ones(src_arr.shape[0], dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != src_arr.shape:
            raise ValueError(f"weights must have shape {src_arr.shape}, got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")

    if undirected:
        # Mirror every edge except self-loops, which networkx counts once on the diagonal.
        off = src_arr != dst_arr
        rows = np.concatenate([src_arr, dst_arr[off]])
        cols = np.concatenate([dst_arr, src_arr[off]])
        data = np.concatenate([w, w[off]])
    else:
        rows, cols, data = src_arr, dst_arr, w

    # Adjacency A[i, j] = weight(i -> j), duplicates summed by the COO -> CSR conversion; then
    # rows scaled by 1/out-strength, the same order of operations as networkx (Q @ A).
    adjacency = sparse.coo_array((data, (rows, cols)), shape=(n, n)).tocsr()
    strength = np.asarray(adjacency.sum(axis=1), dtype=np.float64).reshape(-1)
    inverse = np.zeros(n, dtype=np.float64)
    nonzero = strength != 0
    inverse[nonzero] = 1.0 / strength[nonzero]
    row_stochastic = sparse.csr_array(sparse.diags_array(inverse) @ adjacency)
    matrix = sparse.csr_array(row_stochastic.T)  # column-stochastic, CSR for fast matvec
    matrix.eliminate_zeros()
    matrix.sort_indices()
    if matrix.nnz < np.iinfo(np.int32).max and n < np.iinfo(np.int32).max:
        # 32-bit indices: less memory traffic per matvec, which is all a query does.
        matrix = sparse.csr_array(
            (matrix.data, matrix.indices.astype(np.int32), matrix.indptr.astype(np.int32)),
            shape=(n, n),
        )
    # Read-only so a cached instance can be shared safely between queries.
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array.flags.writeable = False
    dangling = np.flatnonzero(~nonzero).astype(np.intp)
    dangling.flags.writeable = False
    return TransitionMatrix(n_nodes=n, matrix=matrix, dangling=dangling, undirected=undirected)


def _personalization(n: int, seeds: Mapping[int, float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Dense personalization vector summing to 1, or ValueError."""
    if isinstance(seeds, Mapping):
        if not seeds:
            raise ValueError("seeds are empty: at least one seed needs a positive weight")
        ids = np.fromiter((int(k) for k in seeds), dtype=np.int64, count=len(seeds))
        values = np.fromiter((float(v) for v in seeds.values()), dtype=np.float64, count=len(seeds))
        if ids.min() < 0 or ids.max() >= n:
            raise ValueError(f"seed node ids must lie in [0, {n})")
        p = np.zeros(n, dtype=np.float64)
        np.add.at(p, ids, values)  # ids are unique in a Mapping; add.at keeps it exact anyway
        check = values
    else:
        p = np.array(seeds, dtype=np.float64)  # copy: we normalise in place
        if p.ndim != 1 or p.shape[0] != n:
            raise ValueError(f"seed vector must have shape ({n},), got {p.shape}")
        check = p
    if not np.all(np.isfinite(check)) or np.any(check < 0):
        raise ValueError("seed weights must be finite and non-negative")
    total = p.sum()
    if total <= 0:
        raise ValueError("all seed weights are zero: at least one must be positive")
    p /= total
    return p


def personalized_pagerank(
    matrix: TransitionMatrix,
    seeds: Mapping[int, float] | npt.ArrayLike,
    *,
    damping: float = DEFAULT_DAMPING,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> npt.NDArray[np.float64]:
    """PPR scores of every node, matching ``networkx.pagerank(alpha=damping, ...)``.

    Iterates ``x <- damping * (M x + sum(x[dangling]) * p) + (1 - damping) * p`` from the uniform
    vector until ``||x - x_prev||_1 < tol * n`` (networkx's rule and start, hence its numbers).

    Args:
        matrix: from :func:`build_transition`.
        seeds: ``{node_id: weight}`` or a dense length-``n`` vector; non-negative, not all zero,
            normalised to sum to 1 (the restart / personalization distribution).
        damping: probability of following an edge, in (0, 1); HippoRAG uses 0.5.
        tol: convergence tolerance per node (networkx's convention).
        max_iter: iteration cap.

    Returns:
        float64 array of length ``n`` summing to 1 (to ``tol``).

    Raises:
        ValueError: bad damping / tol / max_iter, empty or all-zero or negative seeds, or a seed
            vector whose length is not ``matrix.n_nodes``.
        PPRConvergenceError: no convergence within ``max_iter``.
    """
    if not isinstance(matrix, TransitionMatrix):
        raise TypeError("matrix must be a TransitionMatrix (see build_transition)")
    if not (0.0 < damping < 1.0):
        raise ValueError(f"damping must lie in (0, 1), got {damping!r}")
    if not (tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter!r}")
    n = matrix.n_nodes
    p = _personalization(n, seeds)
    restart = (1.0 - damping) * p
    transition = matrix.matrix
    dangling = matrix.dangling
    has_dangling = dangling.size > 0
    threshold = n * tol
    x = np.full(n, 1.0 / n, dtype=np.float64)
    for _ in range(max_iter):
        x_prev = x
        x = transition @ x_prev
        if has_dangling:
            x += float(x_prev[dangling].sum()) * p
        x *= damping
        x += restart
        if float(np.abs(x - x_prev).sum()) < threshold:
            return x
    raise PPRConvergenceError(
        f"personalized PageRank did not converge in {max_iter} iterations (tol={tol})"
    )


def top_nodes(scores: npt.ArrayLike, k: int) -> npt.NDArray[np.intp]:
    """Ids of the ``k`` highest-scoring nodes, best first; ties go to the lower id.

    Deterministic tie-breaking keeps rankings reproducible across runs and comparable with a
    reference implementation. Uses a partial sort, so it costs O(n + k log k) rather than a full
    sort of all nodes (HippoRAG v2 reads the top 200 passages, §4.3 step 8).
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {values.shape}")
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    n = values.shape[0]
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if k < n:
        # Everything strictly above the k-th largest value, plus all ties at it, then sort.
        kth = np.partition(values, n - k)[n - k]
        candidates = np.flatnonzero(values >= kth)
    else:
        candidates = np.arange(n)
    order = np.lexsort((candidates, -values[candidates]))
    return candidates[order[:k]].astype(np.intp)
