"""Pure parts of search at scale: which words a large corpus scores (BM25 dynamic pruning),
the document-frequency cache of large cubes, and in-batch dedup asking its veto only of
matches."""

from __future__ import annotations

import uuid

import numpy as np

from memsvc.algorithms import dedup
from memsvc.algorithms.bm25 import selective_terms
from memsvc.services.runtime import StatsCache


def test_no_pruning_while_the_words_fit_the_budget():
    assert selective_terms({"zebra": 10, "coffee": 900}, budget=1000) is None
    assert selective_terms({"zebra": 10, "coffee": 5000}, budget=0) is None  # 0: exact


def test_pruning_keeps_the_rarest_words_that_fit():
    dfs = {"home": 11_000, "luca": 1300, "shelter": 5000, "take": 5200, "gone": 0}
    assert selective_terms(dfs, budget=2500) == ["luca"]
    assert selective_terms(dfs, budget=7000) == ["luca", "shelter"]


def test_the_rarest_word_is_kept_even_past_the_budget():
    assert selective_terms({"home": 11_000, "take": 5200}, budget=1000) == ["take"]


def test_document_frequencies_are_cached_for_large_cubes_only():
    cache = StatsCache(df_ttl_seconds=60.0, min_docs=100)
    big, small = (uuid.uuid4(),), (uuid.uuid4(),)
    cache.put_document_frequencies(big, 1000, ["cat", "dog"], {"cat": 7})
    cache.put_document_frequencies(small, 99, ["cat"], {"cat": 3})
    known, missing = cache.document_frequencies(big, ["cat", "dog", "eel"])
    assert known == {"cat": 7, "dog": 0}  # counted absent: not counted again
    assert missing == ["eel"]
    assert cache.document_frequencies(small, ["cat"]) == ({}, ["cat"])


def test_cached_document_frequencies_expire_and_are_bounded():
    key = (uuid.uuid4(),)
    expired = StatsCache(df_ttl_seconds=-1.0, min_docs=1)
    expired.put_document_frequencies(key, 10, ["cat"], {"cat": 1})
    assert expired.document_frequencies(key, ["cat"]) == ({}, ["cat"])
    bounded = StatsCache(min_docs=1, max_lexemes=2)
    bounded.put_document_frequencies(key, 10, ["a", "b", "c"], {"a": 1, "b": 2, "c": 3})
    assert bounded.document_frequencies(key, ["a", "b", "c"]) == ({"b": 2, "c": 3}, ["a"])


def test_common_word_snapshot_serves_its_words_and_leaves_the_rest_to_count():
    key, small = (uuid.uuid4(),), (uuid.uuid4(),)
    cache = StatsCache(df_ttl_seconds=60.0, min_docs=100, snapshot_min_df=20)
    assert not cache.snapshot_due(small, 99)  # small cubes are always counted
    assert cache.snapshot_due(key, 1000)
    assert not cache.snapshot_due(key, 1000)  # one build at a time
    cache.put_snapshot(key, {"home": 4000, "take": 900, "zebra": 3})
    assert not cache.snapshot_due(key, 1000)  # fresh
    known, missing = cache.document_frequencies(key, ["home", "zebra", "luca"])
    assert known == {"home": 4000}
    assert missing == ["zebra", "luca"]  # rare (under snapshot_min_df) or new: counted
    # a word counted since the snapshot is served from its own, newer count
    cache.put_document_frequencies(key, 1000, ["home"], {"home": 4010})
    assert cache.document_frequencies(key, ["home", "take"]) == ({"home": 4010, "take": 900}, [])


def test_common_word_snapshot_refreshes_and_expires():
    key = (uuid.uuid4(),)
    stale = StatsCache(df_ttl_seconds=-1.0, min_docs=1)
    assert stale.snapshot_due(key, 10)
    stale.put_snapshot(key, {"home": 40})
    assert stale.snapshot_due(key, 10)  # past its age: rebuilt
    assert stale.document_frequencies(key, ["home"]) == ({}, ["home"])  # too old to serve
    failed = StatsCache(min_docs=1)
    assert failed.snapshot_due(key, 10)
    failed.snapshot_failed(key)
    assert failed.snapshot_due(key, 10)  # tried again by a later search


def _probe(text: str, vector: list[float]) -> dedup.DuplicateProbe:
    v = np.asarray(vector, dtype=np.float32)
    return dedup.DuplicateProbe(
        memory_type="semantic",
        content_hash=text,
        vector=v / np.linalg.norm(v),
        user_id="u",
        agent_id=None,
        session_id=None,
        occurred_at=None,
    )


def test_repeat_of_asks_the_veto_only_of_matches_and_skips_vetoed_ones():
    new = _probe("n", [1.0, 0.0])
    earlier = [
        (0, _probe("far", [0.0, 1.0])),
        (1, _probe("near-vetoed", [1.0, 0.01])),
        (2, _probe("near", [1.0, 0.02])),
    ]
    asked: list[int] = []

    def veto(key: int) -> bool:
        asked.append(key)
        return key == 1

    assert dedup.repeat_of(new, earlier, 0.9, unless=veto) == (2, "near")
    assert asked == [1, 2]  # the far one never reached the (costly) veto
    assert dedup.repeat_of(new, earlier, 0.9) == (1, "near")
