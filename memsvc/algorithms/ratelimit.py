"""Token buckets: the arithmetic of the per-key rate limit (no I/O; the clock is passed in).

A bucket holds up to `burst` tokens and refills at `rate` tokens per second. A request takes
one token; with none left it is refused and told how long until the next token is there. The
limiter keeps one bucket per key in a dict: a bucket that would be full again is the same as no
bucket at all, so such entries may be dropped whenever the dict grows large.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable


@dataclasses.dataclass
class Bucket:
    tokens: float
    stamp: float  # the clock reading `tokens` was computed at


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: float  # tokens left after this request (what a refused one found)
    retry_after_s: float  # 0 when allowed; otherwise seconds until `cost` tokens are there

    @property
    def retry_after_header(self) -> str:
        """Retry-After as HTTP wants it: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


def refill(bucket: Bucket, now: float, *, rate: float, burst: float) -> float:
    """The bucket's tokens at `now`. A clock that went backwards refills nothing."""
    elapsed = max(0.0, now - bucket.stamp)
    return min(burst, bucket.tokens + elapsed * rate)


def take(bucket: Bucket, now: float, *, rate: float, burst: float, cost: float = 1.0) -> Decision:
    """Take `cost` tokens from `bucket` at `now` if it has them (the bucket is updated)."""
    if rate <= 0 or burst <= 0:
        raise ValueError("rate and burst must be positive")
    if cost > burst:
        raise ValueError("a request may not cost more than the burst")
    tokens = refill(bucket, now, rate=rate, burst=burst)
    bucket.stamp = max(bucket.stamp, now)
    if tokens >= cost:
        bucket.tokens = tokens - cost
        return Decision(True, bucket.tokens, 0.0)
    bucket.tokens = tokens
    return Decision(False, tokens, (cost - tokens) / rate)


class Limiter:
    """One token bucket per key. `per_minute` tokens a minute, `burst` at most; not thread-safe
    (one event loop owns it: there is no await between reading and writing a bucket)."""

    def __init__(self, *, per_minute: float, burst: float, max_keys: int = 100_000):
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[Hashable, Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable, now: float, cost: float = 1.0) -> Decision:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self.prune(now)
            bucket = self._buckets[key] = Bucket(tokens=self.burst, stamp=now)
        return take(bucket, now, rate=self.rate, burst=self.burst, cost=cost)

    def prune(self, now: float) -> int:
        """Drop the buckets that are full again at `now` (indistinguishable from new ones)."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if refill(bucket, now, rate=self.rate, burst=self.burst) >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        return len(full)
