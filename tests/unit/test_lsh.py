"""Random-hyperplane LSH on faiss (memsvc/algorithms/lsh.py, research/algorithms.md §3)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from memsvc.algorithms.lsh import DEFAULT_SEED, MAX_NBITS, HyperplaneLSH, lsh_for

DIM = 32


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _random(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal((n, dim)))


def _numpy_buckets(lsh: HyperplaneLSH, x: np.ndarray) -> list[int]:
    bits = (x.astype(np.float64) @ lsh.rotation().astype(np.float64).T) >= 0
    return [int(sum(1 << i for i in range(lsh.nbits) if row[i])) for row in bits]


def test_import_does_not_load_faiss():
    code = "import sys, memsvc.algorithms.lsh; print('faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_buckets_are_in_range_and_use_every_bucket():
    lsh = HyperplaneLSH(DIM, nbits=4)
    assert lsh.n_buckets == 16
    buckets = lsh.buckets(_random(2000))
    assert len(buckets) == 2000
    assert all(isinstance(b, int) and 0 <= b < 16 for b in buckets)
    assert set(buckets) == set(range(16))  # random directions reach every bucket


def test_two_instances_with_one_seed_agree():
    x = _random(300, seed=3)
    a, b = HyperplaneLSH(DIM, 6, seed=99), HyperplaneLSH(DIM, 6, seed=99)
    assert a.buckets(x) == b.buckets(x)
    np.testing.assert_array_equal(a.rotation(), b.rotation())


def test_another_seed_gives_other_buckets():
    x = _random(300, seed=3)
    a, b = HyperplaneLSH(DIM, 6, seed=1), HyperplaneLSH(DIM, 6, seed=2)
    assert a.buckets(x) != b.buckets(x)
    assert not np.allclose(a.rotation(), b.rotation())


def test_buckets_are_stable_across_processes():
    x = _random(20, seed=11)
    code = (
        "import numpy as np, sys\n"
        "from memsvc.algorithms.lsh import HyperplaneLSH\n"
        f"x = np.array({x.tolist()!r}, dtype=np.float32)\n"
        "print(HyperplaneLSH(32, 5, seed=7).buckets(x))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(HyperplaneLSH(DIM, 5, seed=7).buckets(x))


def test_lsh_for_is_cached_and_uses_the_fixed_seed():
    assert lsh_for(DIM, 4) is lsh_for(DIM, 4)
    assert lsh_for(DIM, 4) is not lsh_for(DIM, 5)
    assert lsh_for(DIM, 4).seed == DEFAULT_SEED
    x = _random(50, seed=5)
    assert lsh_for(DIM, 4).buckets(x) == HyperplaneLSH(DIM, 4, DEFAULT_SEED).buckets(x)


def test_rotation_rows_are_orthonormal():
    r = HyperplaneLSH(DIM, 8).rotation().astype(np.float64)
    assert r.shape == (8, DIM)
    np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-5)


@pytest.mark.parametrize(("dim", "nbits"), [(32, 4), (32, 8), (64, 11), (384, 16), (5, 3)])
def test_bucket_is_the_sign_pattern_of_the_rotation(dim, nbits):
    lsh = HyperplaneLSH(dim, nbits, seed=17)
    x = _random(500, dim=dim, seed=dim + nbits)
    proj = x.astype(np.float64) @ lsh.rotation().astype(np.float64).T
    clear = np.all(np.abs(proj) > 1e-5, axis=1)  # float32 vs float64 may differ on a hair
    got = np.array(lsh.buckets(x))[clear]
    want = np.array(_numpy_buckets(lsh, x))[clear]
    assert clear.sum() > 450
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(lsh.projections(x), proj, atol=1e-4)


def test_bucket_is_scale_invariant_and_flips_with_sign():
    lsh = HyperplaneLSH(DIM, 6)
    x = _random(100, seed=21)
    assert lsh.buckets(x) == lsh.buckets(x * 7.5)
    full = lsh.n_buckets - 1
    # -x is on the other side of every hyperplane: every bit flips
    assert [b ^ full for b in lsh.buckets(x)] == lsh.buckets(-x)


def test_near_duplicates_share_a_bucket_far_more_often_than_random_pairs():
    lsh = HyperplaneLSH(DIM, 8, seed=5)
    rng = np.random.default_rng(8)
    base = _random(1000, seed=9)
    noise = rng.standard_normal(base.shape) * (0.1 / np.sqrt(DIM))  # ~6 degrees away
    near = _unit(base + noise.astype(np.float32))
    other = _random(1000, seed=10)
    b, n, o = lsh.buckets(base), lsh.buckets(near), lsh.buckets(other)
    same_near = np.mean([p == q for p, q in zip(b, n, strict=True)])
    same_random = np.mean([p == q for p, q in zip(b, o, strict=True)])
    assert same_near > 0.65  # about 0.78 expected
    assert same_random < 0.05  # about 1/256
    assert same_near > 10 * same_random


def test_one_dimensional_input_is_one_row():
    lsh = HyperplaneLSH(DIM, 4)
    x = _random(3, seed=4)
    assert lsh.buckets(x[1]) == [lsh.buckets(x)[1]]
    assert lsh.buckets(np.zeros((0, DIM), dtype=np.float32)) == []


def test_float64_input_is_accepted():
    lsh = HyperplaneLSH(DIM, 4)
    x = _random(10, seed=6)
    assert lsh.buckets(x.astype(np.float64)) == lsh.buckets(x)


def test_zero_vector_does_not_crash():
    lsh = HyperplaneLSH(DIM, 4)
    zero = np.zeros(DIM, dtype=np.float32)
    [bucket] = lsh.buckets(zero)
    assert bucket == lsh.n_buckets - 1  # projections of 0 are all >= 0
    order = lsh.probe_order(zero, 5)
    assert order[0] == bucket and len(order) == len(set(order)) == 5


def test_wrong_dimension_is_an_error():
    lsh = HyperplaneLSH(DIM, 4)
    with pytest.raises(ValueError, match="dimension 32"):
        lsh.buckets(np.zeros((2, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError):
        lsh.probe_order(np.zeros((2, DIM), dtype=np.float32), 3)


@pytest.mark.parametrize(("dim", "nbits"), [(0, 4), (8, 0), (8, MAX_NBITS + 1)])
def test_bad_parameters(dim, nbits):
    with pytest.raises(ValueError):
        HyperplaneLSH(dim, nbits)


# --- probe order --------------------------------------------------------------------------------


def test_probe_order_starts_with_own_bucket_and_flips_least_confident_bit():
    lsh = HyperplaneLSH(DIM, 6, seed=3)
    for x in _random(50, seed=12):
        order = lsh.probe_order(x, 2)
        proj = lsh.projections(x)[0]
        weakest = int(np.argmin(np.abs(proj)))
        assert order == [lsh.buckets(x)[0], lsh.buckets(x)[0] ^ (1 << weakest)]


def test_single_flips_come_in_order_of_confidence():
    lsh = HyperplaneLSH(DIM, 8, seed=3)
    x = _random(1, seed=13)[0]
    own = lsh.buckets(x)[0]
    order = lsh.probe_order(x, lsh.n_buckets)
    by_confidence = list(np.argsort(np.abs(lsh.projections(x)[0])))
    singles = [own ^ (1 << int(i)) for i in by_confidence]
    positions = [order.index(b) for b in singles]
    assert positions == sorted(positions)  # flipping a less confident bit always comes first


@pytest.mark.parametrize("n_probes", [0, 1, 3, 16, 40, 256, 1000])
def test_probe_order_is_distinct_and_sized(n_probes):
    lsh = HyperplaneLSH(DIM, 8, seed=2)
    x = _random(1, seed=14)
    order = lsh.probe_order(x, n_probes)
    want = min(max(n_probes, 0), 256)
    assert len(order) == want and len(set(order)) == want
    assert all(0 <= b < 256 for b in order)
    if want == 256:
        assert set(order) == set(range(256))


def test_probe_order_is_by_distance_to_the_bucket():
    """Each probe's score (sum of squared projections on the flipped bits) never decreases."""
    lsh = HyperplaneLSH(DIM, 6, seed=4)
    for x in _random(20, seed=15):
        own = lsh.buckets(x)[0]
        sq = np.square(lsh.projections(x)[0].astype(np.float64))
        order = lsh.probe_order(x, lsh.n_buckets)
        scores = [sum(sq[i] for i in range(6) if (b ^ own) >> i & 1) for b in order]
        assert scores[0] == 0
        assert all(a <= b + 1e-9 for a, b in itertools.pairwise(scores))


def test_probe_order_is_deterministic():
    x = _random(1, seed=16)
    assert HyperplaneLSH(DIM, 7).probe_order(x, 30) == HyperplaneLSH(DIM, 7).probe_order(x, 30)


def test_a_near_duplicate_is_found_within_a_few_probes():
    lsh = HyperplaneLSH(DIM, 8, seed=6)
    rng = np.random.default_rng(17)
    base = _random(300, seed=18)
    noise = rng.standard_normal(base.shape) * (0.2 / np.sqrt(DIM))  # ~11 degrees away
    near = _unit(base + noise.astype(np.float32))
    hits_own = hits_probed = 0
    for q, target in zip(base, lsh.buckets(near), strict=True):
        order = lsh.probe_order(q, 4)
        hits_own += order[0] == target
        hits_probed += target in order
    # about 0.6 of them are in the query's own bucket, about 0.9 within four probes
    assert hits_probed / len(base) > 0.8
    assert (hits_probed - hits_own) / len(base) > 0.15
