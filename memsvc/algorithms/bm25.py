"""Okapi BM25, the reference the SQL implementation in memsvc.store.search is tested against."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence


def idf(n_docs: int, df: int) -> float:
    """Lucene's non-negative IDF: ln(1 + (N - df + 0.5) / (df + 0.5))."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def query_bound(n_docs: int, dfs: Mapping[str, int], query_terms: Sequence[str]) -> float:
    """BM25 of an average-length document holding each query term once: the sum of IDFs.

    Terms absent from the corpus count too (df 0): a question whose key words the memories
    never use gives weak lexical evidence, however well a stray common word matches.
    """
    return sum(idf(n_docs, dfs.get(term, 0)) for term in set(query_terms))


def selective_terms(dfs: Mapping[str, int], budget: int) -> list[str] | None:
    """The terms whose memories a large corpus scores (dynamic pruning), or None: all.

    Scoring every memory that holds a query word is exact but costs per memory: at 100k
    memories a question with a few common words ("home", "take", "trip") reaches a quarter of
    them. Past `budget` memories in all, only those holding one of the rarest words are
    scored (rarest first, as many as fit in `budget`, the rarest always), each on every query
    word. A memory holding only common words is left out: it scores below one holding a rare
    word unless it holds several of the common ones. The dense signal still sees it.
    `budget` <= 0 turns pruning off.
    """
    held = sorted((df, term) for term, df in dfs.items() if df > 0)
    if budget <= 0 or sum(df for df, _ in held) <= budget:
        return None
    chosen: list[str] = []
    total = 0
    for df, term in held:
        if chosen and total + df > budget:
            break
        chosen.append(term)
        total += df
    return chosen


def bm25_scores(
    docs: Mapping[str, Mapping[str, float]],
    query_terms: Sequence[str],
    *,
    k1: float = 1.2,
    b: float = 0.75,
) -> dict[str, float]:
    """Score documents given as {doc_id: {term: weighted term frequency}} against the terms.

    A document's length is the sum of its term frequencies. Documents with no query term get
    no score (they are absent from the result).
    """
    n_docs = len(docs)
    if n_docs == 0:
        return {}
    lengths = {doc_id: sum(tf.values()) for doc_id, tf in docs.items()}
    avg_len = sum(lengths.values()) / n_docs or 1e-9
    terms = set(query_terms)
    df = Counter(t for tf in docs.values() for t in tf if t in terms)
    scores: dict[str, float] = {}
    for doc_id, tf in docs.items():
        norm = k1 * (1.0 - b + b * lengths[doc_id] / avg_len)
        total = sum(
            idf(n_docs, df[t]) * tf[t] * (k1 + 1.0) / (tf[t] + norm) for t in terms if t in tf
        )
        if any(t in tf for t in terms):
            scores[doc_id] = total
    return scores
