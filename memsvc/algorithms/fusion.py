"""Fusing the ranked lists of several retrieval signals into one ranking.

Each signal hands over its candidates with raw scores (BM25, cosine...). Raw scales differ per
signal and per query, so each list is first normalised onto [0, 1], then combined with
weights. A memory a signal did not return gets 0 from it.

How each signal is normalised matters more than the weights:
- dense cosines are min-max normalised over the candidate list (a cosine has no natural zero);
- BM25 is divided by the larger of the list's best score and the query's *bound*, the score of
  an average-length memory holding every query term once (the sum of the terms' IDFs). Min-max
  would stretch a lone weak match (one common word of the question) to 1.0 and let it beat the
  memory the embedding found; against the bound it stays as weak as it is.
Plain reciprocal-rank fusion is kept for comparison: on conversational memory it loses to the
best single signal because it throws away how far ahead the top hits are (docs/benchmarks.md).
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


def scale_by_bound(scores: Mapping[K, float], bound: float) -> dict[K, float]:
    """Divide by max(best score, bound): scores keep their size relative to a full match."""
    if not scores:
        return {}
    scale = max(max(scores.values()), bound, 1e-12)
    return {key: max(value, 0.0) / scale for key, value in scores.items()}


def weighted_sum(
    normalised: Mapping[str, Mapping[K, float]], weights: Mapping[str, float]
) -> dict[K, float]:
    """Sum of already normalised signals; weights are renormalised over the given signals."""
    present = {name: w for name, w in weights.items() if name in normalised and w > 0}
    total = sum(present.values())
    fused: dict[K, float] = {}
    if total <= 0:
        return fused
    for name, weight in present.items():
        for key, value in normalised[name].items():
            fused[key] = fused.get(key, 0.0) + (weight / total) * value
    return fused


def linear_fusion(
    signals: Mapping[str, Mapping[K, float]], weights: Mapping[str, float]
) -> dict[K, float]:
    """Weighted sum of min-max normalised scores; weights are renormalised over given signals."""
    return weighted_sum({name: minmax(scores) for name, scores in signals.items()}, weights)


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
