"""Random-hyperplane LSH for TiM's hash-bucketed thought memory (research/algorithms.md §3).

TiM keeps thoughts in a hash table keyed by a locality-sensitive hash of their embedding and
recalls a query's thoughts from its own bucket (§3.1, §3.3 step 1). We use the classic
sign-of-random-projection hash (Charikar 2002) as faiss implements it in ``IndexLSH`` with
``rotate_data=True``: the vector is multiplied by a fixed random matrix R with orthonormal
rows (``nbits`` x ``dim``) and bit i of the bucket is ``(x · R_i) >= 0``. Two vectors at angle
θ agree on each bit with probability 1 - θ/π, so near-duplicates land in the same bucket far
more often than unrelated ones. §3.2's argmax([xR; -xR]) hash is the cross-polytope variant;
sign bits give 2**nbits buckets from nbits projections and a natural multi-probe order.

Stability: R is drawn by faiss from ``seed`` (``RandomRotationMatrix.init``), so the same
(dim, nbits, seed) gives the same buckets in every process. Stored bucket ids are only valid
for the faiss version, dim, nbits and seed that made them: changing any of them means
re-bucketing every stored vector.

Multi-probe (Lv et al. 2007, "Multi-probe LSH"): when a bucket holds too few candidates, look
next in the buckets reached by flipping the bits whose projections lie closest to their
hyperplane. A set S of flipped bits is scored by sum over S of (x · R_i)**2, the squared
distance from x to the region of that bucket (R's rows are orthonormal), and sets are produced
in increasing score by the shift/expand heap of Lv et al.; ties go to the set of lower-ranked
bits. The first probe is always the vector's own bucket.

faiss is imported inside the methods only: importing this module costs nothing.
"""

from __future__ import annotations

import functools
import heapq
from typing import Any

import numpy as np

__all__ = ["DEFAULT_SEED", "MAX_NBITS", "HyperplaneLSH", "lsh_for"]

DEFAULT_SEED = 1234
"""The seed of every store's rotation (``lsh_for``): changing it re-buckets everything."""

MAX_NBITS = 24
"""Bucket ids are Python ints, but 2**24 buckets is already far more than a store can fill."""


class HyperplaneLSH:
    """``nbits`` random hyperplanes through the origin of ``dim``-dimensional space.

    Thread-safe for reading: encoding never changes the index.
    """

    def __init__(self, dim: int, nbits: int = 4, seed: int = DEFAULT_SEED) -> None:
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}")
        if not 1 <= nbits <= MAX_NBITS:
            raise ValueError(f"nbits must be in [1, {MAX_NBITS}], got {nbits}")
        import faiss

        self.dim = dim
        self.nbits = nbits
        self.seed = seed
        index = faiss.IndexLSH(dim, nbits, True, False)  # rotate_data, no trained thresholds
        index.rrot.init(seed)  # the constructor seeds with faiss's default; ours is fixed
        self._index: Any = index
        self._weights = np.left_shift(np.uint64(1), np.arange(nbits, dtype=np.uint64))

    @property
    def n_buckets(self) -> int:
        return 1 << self.nbits

    def rotation(self) -> np.ndarray:
        """R, the (nbits, dim) matrix whose row i is hyperplane i's normal (a copy)."""
        import faiss

        matrix = faiss.vector_to_array(self._index.rrot.A)
        return np.asarray(matrix, dtype=np.float32).reshape(self.nbits, self.dim).copy()

    def _rows(self, vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dimension {self.dim}, got shape {x.shape}")
        return np.ascontiguousarray(x)

    def projections(self, vectors: np.ndarray) -> np.ndarray:
        """x · R_i for each row x and hyperplane i: shape (n, nbits)."""
        x = self._rows(vectors)
        if len(x) == 0:
            return np.zeros((0, self.nbits), dtype=np.float32)
        return np.asarray(self._index.rrot.apply(x), dtype=np.float32)

    def buckets(self, vectors: np.ndarray) -> list[int]:
        """The bucket id in [0, 2**nbits) of each row (a 1-D array is one row).

        Bit i of the id is 1 when the projection on hyperplane i is >= 0 (so the zero vector
        is in the last bucket).
        """
        x = self._rows(vectors)
        if len(x) == 0:
            return []
        codes = np.asarray(self._index.sa_encode(x), dtype=np.uint8)
        bits = np.unpackbits(codes, axis=1, bitorder="little")[:, : self.nbits]
        ids = bits.astype(np.uint64) @ self._weights
        return [int(b) for b in ids]

    def probe_order(self, vector: np.ndarray, n_probes: int) -> list[int]:
        """The buckets to search for ``vector``, best first: its own bucket, then those reached
        by flipping the least confident bits (multi-probe). Distinct ids,
        ``min(n_probes, n_buckets)`` of them (none for ``n_probes <= 0``)."""
        x = self._rows(vector)
        if len(x) != 1:
            raise ValueError(f"probe_order takes one vector, got {len(x)}")
        want = min(max(n_probes, 0), self.n_buckets)
        if want == 0:
            return []
        own = self.buckets(x)[0]
        scores = np.square(self.projections(x)[0].astype(np.float64))
        # bits from least to most confident; a stable sort keeps ties in bit order
        ranked = [int(i) for i in np.argsort(scores, kind="stable")]
        cost = [float(scores[i]) for i in ranked]
        order = [own]
        # Lv et al.'s heap over sets of positions in `ranked` (each a sorted tuple): every
        # non-empty subset is reached exactly once, in order of increasing total cost.
        heap: list[tuple[float, tuple[int, ...]]] = [(cost[0], (0,))]
        while heap and len(order) < want:
            total, flips = heapq.heappop(heap)
            mask = 0
            for pos in flips:
                mask |= 1 << ranked[pos]
            order.append(own ^ mask)
            last = flips[-1]
            if last + 1 < self.nbits:
                shifted = (*flips[:-1], last + 1)
                heapq.heappush(heap, (total - cost[last] + cost[last + 1], shifted))
                heapq.heappush(heap, (total + cost[last + 1], (*flips, last + 1)))
        return order


@functools.lru_cache(maxsize=32)
def lsh_for(dim: int, nbits: int) -> HyperplaneLSH:
    """The shared hash for ``dim``-dimensional embeddings and ``nbits`` bits, seeded with
    ``DEFAULT_SEED`` (built once per process)."""
    return HyperplaneLSH(dim, nbits, DEFAULT_SEED)
