"""Fusing the ranked lists of several retrieval signals into one ranking.

Each signal hands over its candidates with raw scores (BM25, cosine...). Raw scales differ per
signal and per query, so each list is first normalised onto [0, 1], then combined with
weights. A memory a signal did not return gets 0 from it. Plain reciprocal-rank fusion is kept
for comparison: on conversational memory it loses to the best single signal because it throws
away how far ahead the top hits are (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def minmax(scores: Mapping[K, float]) -> dict[K, float]:
    """Map scores linearly onto [0, 1] (all equal: all 1)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low <= 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def linear_fusion(
    signals: Mapping[str, Mapping[K, float]], weights: Mapping[str, float]
) -> dict[K, float]:
    """Weighted sum of min-max normalised scores; weights are renormalised over given signals."""
    present = {name: w for name, w in weights.items() if name in signals and w > 0}
    total = sum(present.values())
    fused: dict[K, float] = {}
    if total <= 0:
        return fused
    for name, weight in present.items():
        for key, value in minmax(signals[name]).items():
            fused[key] = fused.get(key, 0.0) + (weight / total) * value
    return fused


def rrf_fusion(
    signals: Mapping[str, Mapping[K, float]], weights: Mapping[str, float], k: float = 60.0
) -> dict[K, float]:
    """Weighted reciprocal-rank fusion: sum of w / (k + rank)."""
    fused: dict[K, float] = {}
    for name, scores in signals.items():
        weight = weights.get(name, 1.0)
        ranked = sorted(scores, key=lambda key: -scores[key])
        for rank, key in enumerate(ranked, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def top(fused: Mapping[K, float], n: int) -> list[tuple[K, float]]:
    """The n best (key, score) pairs; ties broken by key so results are deterministic."""
    return sorted(fused.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
