"""Pure algorithms: fusion, cursors, retention, BM25 reference."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from memsvc.algorithms import cursor, fusion
from memsvc.algorithms.bm25 import bm25_scores, idf
from memsvc.algorithms.retention import elapsed_days, retention
from memsvc.errors import BadRequest


def test_minmax():
    assert fusion.minmax({}) == {}
    assert fusion.minmax({"a": 3.0}) == {"a": 1.0}
    assert fusion.minmax({"a": 2.0, "b": 2.0}) == {"a": 1.0, "b": 1.0}
    out = fusion.minmax({"a": 10.0, "b": 5.0, "c": 0.0})
    assert out == {"a": 1.0, "b": 0.5, "c": 0.0}
    out = fusion.minmax({"a": -1.0, "b": -3.0})
    assert out == {"a": 1.0, "b": 0.0}


def test_linear_fusion_renormalises_weights():
    signals = {"dense": {"x": 0.9, "y": 0.1}, "lexical": {"y": 8.0, "z": 2.0}}
    out = fusion.linear_fusion(signals, {"dense": 0.5, "lexical": 0.5})
    assert out == pytest.approx({"x": 0.5, "y": 0.5, "z": 0.0})
    out = fusion.linear_fusion(signals, {"dense": 3.0, "lexical": 1.0})
    assert out == pytest.approx({"x": 0.75, "y": 0.25, "z": 0.0})
    # a missing signal: the other's weight becomes 1
    out = fusion.linear_fusion({"dense": {"x": 0.9, "y": 0.1}}, {"dense": 0.3, "lexical": 0.7})
    assert out == pytest.approx({"x": 1.0, "y": 0.0})
    # zero weights drop a signal; no positive weight, nothing
    out = fusion.linear_fusion(signals, {"dense": 0.0, "lexical": 1.0})
    assert out == pytest.approx({"y": 1.0, "z": 0.0})
    assert fusion.linear_fusion(signals, {"dense": 0.0}) == {}
    assert fusion.linear_fusion({}, {"dense": 1.0}) == {}
    # every fused score is within [0, 1]
    out = fusion.linear_fusion(signals, {"dense": 0.2, "lexical": 0.9})
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_rrf_and_top():
    signals = {"a": {"x": 3.0, "y": 2.0, "z": 1.0}, "b": {"z": 9.0, "x": 1.0}}
    out = fusion.rrf_fusion(signals, {"a": 1.0, "b": 1.0}, k=60)
    assert out["x"] == pytest.approx(1 / 61 + 1 / 62)
    assert out["y"] == pytest.approx(1 / 62)
    assert out["z"] == pytest.approx(1 / 63 + 1 / 61)
    weighted = fusion.rrf_fusion(signals, {"a": 2.0}, k=0)
    assert weighted["x"] == pytest.approx(2 / 1 + 1 / 2)  # b defaults to weight 1
    assert fusion.top({"b": 1.0, "a": 1.0, "c": 2.0}, 2) == [("c", 2.0), ("a", 1.0)]
    assert fusion.top({}, 5) == []
    assert fusion.top({"a": 1.0}, 0) == []


def test_cursor_round_trip():
    for kind, pos in (("memories", {"s": 42}), ("cubes", {"t": "2024-01-01T00:00:00", "i": "x"})):
        token = cursor.encode(kind, pos)
        assert "=" not in token and "/" not in token and "+" not in token
        schema = {k: type(v) for k, v in pos.items()}
        assert cursor.decode(kind, token, schema) == pos


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 !!",
        "e30",
        _b64({"v": 1, "k": "cubes", "p": {"s": 1}}),
        _b64({"v": 2, "k": "memories", "p": {"s": 1}}),
        _b64({"v": 1, "k": "memories", "p": {"s": "1"}}),
        _b64({"v": 1, "k": "memories", "p": {"s": True}}),
        _b64({"v": 1, "k": "memories", "p": {"s": 1.5}}),
        _b64({"v": 1, "k": "memories", "p": {}}),
        _b64({"v": 1, "k": "memories", "p": {"s": 1, "t": 2}}),
        _b64({"v": 1, "k": "memories", "p": [1]}),
        _b64({"v": 1, "k": "memories"}),
        _b64([1, 2]),
        _b64(None),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        cursor.encode("memories", {"s": 1}) + "A" * 600,
        "ünïcode",
    ],
)
def test_forged_cursors_are_rejected(token):
    with pytest.raises(BadRequest) as info:
        cursor.decode("memories", token, {"s": int})
    assert info.value.code == "invalid_cursor" and info.value.status == 400


def test_retention_curve():
    assert retention(0.0, 1.0) == 1.0
    assert retention(-5.0, 1.0) == 1.0
    assert retention(1.0, 1.0) == pytest.approx(math.exp(-1))
    assert retention(2.0, 2.0) == pytest.approx(math.exp(-1))
    assert retention(1.0, 1.0, tau_days=2.0) == pytest.approx(math.exp(-0.5))
    assert retention(3.0, 1.0) < retention(1.0, 1.0) < 1.0
    assert retention(1.0, 5.0) > retention(1.0, 1.0)  # stronger memories fade slower
    assert 0.0 <= retention(1e6, 1.0) < 1e-9
    assert 0.0 <= retention(1.0, 0.0) <= 1.0  # strength 0 does not divide by zero
    now = datetime(2024, 1, 2, tzinfo=UTC)
    assert elapsed_days(now - timedelta(hours=36), now) == pytest.approx(1.5)
    assert elapsed_days(now + timedelta(days=1), now) == 0.0


def test_bm25_reference():
    assert idf(10, 10) == pytest.approx(math.log(1 + 0.5 / 10.5))
    assert idf(10, 0) > idf(10, 1) > idf(10, 9) > 0
    docs = {"a": {"cat": 2.0, "mat": 1.0}, "b": {"dog": 1.0}, "c": {"cat": 1.0, "dog": 0.5}}
    out = bm25_scores(docs, ["cat"])
    assert set(out) == {"a", "c"}
    assert out["a"] > out["c"] > 0
    # hand-computed for "a"
    avg = (3.0 + 1.0 + 1.5) / 3
    norm = 1.2 * (1 - 0.75 + 0.75 * 3.0 / avg)
    assert out["a"] == pytest.approx(idf(3, 2) * 2.0 * 2.2 / (2.0 + norm))
    assert bm25_scores(docs, ["zebra"]) == {}
    assert bm25_scores({}, ["cat"]) == {}
    assert bm25_scores(docs, ["cat", "cat"]) == out  # repeated query terms count once
