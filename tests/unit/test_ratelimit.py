"""Token-bucket arithmetic of the per-key rate limit (memsvc.algorithms.ratelimit): no clock,
no I/O, every time is passed in."""

from __future__ import annotations

import pytest

from memsvc.algorithms.ratelimit import Bucket, Decision, Limiter, refill, take


def test_a_full_bucket_admits_burst_requests_then_refuses():
    bucket = Bucket(tokens=3, stamp=0.0)
    decisions = [take(bucket, 0.0, rate=1.0, burst=3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    refused = decisions[3]
    assert refused.retry_after_s == pytest.approx(1.0)
    assert refused.retry_after_header == "1"


def test_tokens_refill_at_the_rate_and_never_past_the_burst():
    bucket = Bucket(tokens=0, stamp=10.0)
    assert refill(bucket, 10.5, rate=2.0, burst=5) == pytest.approx(1.0)
    assert refill(bucket, 11.0, rate=2.0, burst=5) == pytest.approx(2.0)
    assert refill(bucket, 1000.0, rate=2.0, burst=5) == 5
    # half a token is not enough: refused, told to wait for the other half
    d = take(bucket, 10.25, rate=2.0, burst=5)
    assert not d.allowed and d.retry_after_s == pytest.approx(0.25)
    assert bucket.tokens == pytest.approx(0.5)
    assert take(bucket, 10.5, rate=2.0, burst=5).allowed
    assert bucket.tokens == pytest.approx(0.0)


def test_a_refusal_costs_nothing():
    bucket = Bucket(tokens=0, stamp=0.0)
    for _ in range(100):
        assert not take(bucket, 0.0, rate=1.0, burst=1).allowed
    assert take(bucket, 1.0, rate=1.0, burst=1).allowed  # one second later, as if never asked


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one():
    assert Decision(False, 0, 0.01).retry_after_header == "1"
    assert Decision(False, 0, 1.0).retry_after_header == "1"
    assert Decision(False, 0, 1.2).retry_after_header == "2"
    # a slow rate: 6 a minute is one token every 10 s
    bucket = Bucket(tokens=0, stamp=0.0)
    assert take(bucket, 0.0, rate=0.1, burst=1).retry_after_header == "10"
    assert take(bucket, 7.5, rate=0.1, burst=1).retry_after_header == "3"


def test_a_clock_going_backwards_refills_nothing():
    bucket = Bucket(tokens=1, stamp=100.0)
    assert take(bucket, 100.0, rate=1.0, burst=1).allowed
    assert not take(bucket, 50.0, rate=1.0, burst=1).allowed
    assert bucket.stamp == 100.0  # the stamp does not move back either
    assert take(bucket, 101.0, rate=1.0, burst=1).allowed


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        take(Bucket(1, 0), 0, rate=0, burst=1)
    with pytest.raises(ValueError):
        take(Bucket(1, 0), 0, rate=1, burst=1, cost=2)
    with pytest.raises(ValueError):
        Limiter(per_minute=0, burst=1)
    with pytest.raises(ValueError):
        Limiter(per_minute=60, burst=0)


def test_limiter_keeps_one_bucket_per_key():
    limiter = Limiter(per_minute=60, burst=2)  # one token a second
    assert limiter.take("a", 0.0).allowed and limiter.take("a", 0.0).allowed
    refused = limiter.take("a", 0.0)
    assert not refused.allowed and refused.retry_after_header == "1"
    # another key is not affected
    assert limiter.take("b", 0.0).allowed
    # a second later "a" has one token again
    assert limiter.take("a", 1.0).allowed
    assert not limiter.take("a", 1.0).allowed
    assert len(limiter) == 2


def test_limiter_sustains_exactly_the_rate():
    limiter = Limiter(per_minute=480, burst=10)  # 8 a second
    # asked 64 times a second for 10 s (times exact in binary: no rounding drift)
    admitted = sum(limiter.take("k", t / 64).allowed for t in range(641))
    assert admitted == 10 + 80  # the burst, then 8 a second for 10 s


def test_limiter_drops_full_buckets_when_it_grows():
    limiter = Limiter(per_minute=60, burst=5, max_keys=3)
    for key in ("a", "b", "c"):
        limiter.take(key, 0.0)
    assert len(limiter) == 3
    # at t=0.5 none is full again: all kept, the new key is added anyway
    limiter.take("d", 0.5)
    assert len(limiter) == 4
    # at t=10 every old bucket is full: dropped, which changes nothing for their keys
    limiter.take("e", 10.0)
    assert len(limiter) == 1
    assert limiter.take("a", 10.0).remaining == 4
    assert limiter.prune(10.0) == 0  # "a" and "e" are not full
