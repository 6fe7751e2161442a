"""The admin UI's pure parts: graph layout, retention curve, bar chart, formatting, the
browser's query, usage folding and the queue matrix (no database, no browser)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.admin_ui import charts, data
from memsvc.algorithms.retention import days_until_forgotten, retention
from memsvc.domain.types import LISTED_STATUSES, MemoryType, Status
from memsvc.errors import InvalidRequest


def _star(n_leaves: int, *, loners: int = 0) -> tuple[list[dict], list[dict]]:
    nodes = [{"id": i, "key": f"e{i}", "memory_count": 1} for i in range(n_leaves + 1 + loners)]
    edges = [
        {"src_id": 0, "dst_id": i, "relation": "knows", "kind": "relation"}
        for i in range(1, n_leaves + 1)
    ]
    return nodes, edges


def test_graph_drawing_is_deterministic_and_inside_the_canvas():
    nodes, edges = _star(12, loners=3)
    edges.append({"src_id": 1, "dst_id": 2, "relation": "synonym", "kind": "synonym"})
    edges.append({"src_id": 2, "dst_id": 1, "relation": "again", "kind": "relation"})  # parallel
    edges.append({"src_id": 3, "dst_id": 3, "relation": "self", "kind": "relation"})  # loop
    first = charts.graph_drawing(nodes, edges, width=800, height=500)
    assert first == charts.graph_drawing(nodes, edges, width=800, height=500)
    assert len(first.nodes) == 16 and len(first.edges) == 13 and not first.capped
    assert first.unlinked == 3
    for n in first.nodes:
        assert 0 < n.x < 800 and 0 < n.y < 500
    hub = max(first.nodes, key=lambda n: n.r)
    assert hub.label == "e0" and hub.degree == 12 and hub.font_px > first.nodes[0].font_px
    assert first.nodes[-1].label == "e0"  # drawn last, on top
    loners = [n for n in first.nodes if n.degree == 0]
    assert {round(n.y) for n in loners} == {max(round(n.y) for n in first.nodes)}  # bottom row
    edge = next(e for e in first.edges if e.kind == "synonym")
    assert {edge.source, edge.target} == {"e1", "e2"}


def test_graph_drawing_keeps_the_most_connected_nodes():
    nodes, edges = _star(20, loners=10)
    drawn = charts.graph_drawing(nodes, edges, max_nodes=8)
    assert drawn.capped and drawn.total_nodes == 31 and drawn.total_edges == 20
    labels = {n.label for n in drawn.nodes}
    assert "e0" in labels and len(labels) == 8 and not labels & {f"e{i}" for i in range(21, 31)}
    assert charts.graph_drawing([], []).nodes == []


def test_labels_stay_on_the_canvas():
    assert charts.label_position(500, 5, "short", 12, 1000) == (500, "middle")
    assert charts.label_position(10, 5, "a long label here", 12, 1000) == (5.0, "start")
    assert charts.label_position(990, 5, "a long label here", 12, 1000) == (995.0, "end")


def test_retention_curve_follows_the_memorybank_formula():
    curve = charts.retention_curve(strength=3, elapsed_days=9, tau_days=10, threshold=0.05)
    assert curve.now_value == pytest.approx(retention(9, 3, 10)) == pytest.approx(math.exp(-0.3))
    forget = days_until_forgotten(3, tau_days=10, threshold=0.05)
    assert curve.forget_in_days == pytest.approx(forget - 9)
    assert curve.horizon_days == pytest.approx(forget * 1.15)
    plot_w = curve.right - curve.left
    assert curve.forget_x == pytest.approx(curve.left + forget / curve.horizon_days * plot_w, 0.01)
    # the curve starts at R = 1 at the top-left, and the "now" point lies on it
    start = curve.path.split(" ")[0].removeprefix("M").split(",")
    assert float(start[0]) == curve.left and float(start[1]) == curve.top
    height = curve.bottom - curve.top
    assert curve.now_y == pytest.approx(curve.bottom - curve.now_value * height, abs=0.01)
    assert curve.threshold_y == pytest.approx(curve.bottom - 0.05 * height, abs=0.01)
    assert curve.path.count("L") == 120 and curve.next_path != curve.path
    assert [t.label for t in curve.y_ticks] == ["0.00", "0.25", "0.50", "0.75", "1.00"]
    assert curve.x_ticks[0].label == "0" and len(curve.x_ticks) <= 9


def test_retention_curve_edges():
    fresh = charts.retention_curve(strength=1, elapsed_days=0, tau_days=1, threshold=0.05)
    assert fresh.now_value == 1.0 and fresh.now_label_y > fresh.now_y  # label below the point
    gone = charts.retention_curve(strength=1, elapsed_days=50, tau_days=1, threshold=0.05)
    assert gone.forget_in_days == 0 and gone.now_x <= gone.right
    assert gone.now_label_anchor == "end"  # at the right edge: the label goes left
    never = charts.retention_curve(strength=2, elapsed_days=1, tau_days=1, threshold=0.0)
    assert never.forget_x is None and never.forget_in_days == math.inf


def test_bar_chart_scales_to_a_round_ceiling():
    chart = charts.bar_chart([("a", 5.0), ("b", 10.0), ("c", 0.0)], width=400, height=200)
    a, b, c = chart.bars
    assert b.h == pytest.approx(2 * a.h) and c.h == 0 and b.y + b.h == chart.baseline
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]
    assert chart.bars[0].title == "a: 5"
    empty = charts.bar_chart([])
    assert empty.bars == [] and empty.y_ticks[0].label == "0"


def test_nice_steps_and_formatting():
    assert charts.nice_step(100) == 20 and charts.nice_step(7) == 1 and charts.nice_step(0) == 1
    assert charts.compact(1234) == "1.2k" and charts.compact(2_500_000) == "2.5M"
    assert charts.compact(5) == "5" and charts.compact(0.015) == "0.015"
    assert charts.thousands(60780) == "60,780"
    assert charts.dollars(0.0386) == "$0.0386" and charts.dollars(12.5) == "$12.50"
    now = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
    assert charts.ago(now - timedelta(seconds=5), now) == "5 s ago"
    assert charts.ago(now - timedelta(minutes=3), now) == "3 min ago"
    assert charts.ago(now - timedelta(hours=5), now) == "5 h ago"
    assert charts.ago(now - timedelta(days=1), now) == "1 day ago"
    assert charts.ago(now + timedelta(days=3), now) == "in 3 days"
    assert charts.ago(None, now) == "never"
    assert charts.duration_days(math.inf) == "never" and charts.duration_days(0.5) == "12.0 h"
    assert charts.duration_days(0.01) == "14 min" and charts.duration_days(80.9) == "80.9 days"
    assert charts.when(now) == "2025-03-20 12:00 UTC" and charts.when(None) == "—"
    assert charts.short_id(uuid.UUID(int=0)) == "00000000"


def test_browse_query_from_the_form():
    query = data.parse_browse(
        q="  coffee ", memory_type="episodic", tags="food, ,morning", include_deleted="1"
    )
    assert query.q == "coffee" and query.memory_type is MemoryType.EPISODIC
    assert query.tags == ("food", "morning") and query.statuses == (
        *LISTED_STATUSES,
        Status.DELETED,
    )
    assert query.memory_filter().memory_types == (MemoryType.EPISODIC,)
    assert query.query_string(cursor="abc") == {
        "q": "coffee",
        "memory_type": "episodic",
        "tags": "food, morning",
        "include_deleted": "1",
        "cursor": "abc",
    }
    assert data.parse_browse(status="archived").statuses == (Status.ARCHIVED,)
    assert data.parse_browse().statuses == LISTED_STATUSES
    for bad in (
        {"memory_type": "dream"},
        {"status": "lost"},
        {"tags": "x" * 201},
        {"q": "q" * 2001},
    ):
        with pytest.raises(InvalidRequest):
            data.parse_browse(**bad)


def test_usage_folds_into_days_and_totals():
    t1, t2 = uuid.uuid4(), uuid.uuid4()

    def row(tenant, model, prompt, cost):
        return {
            "tenant_id": tenant,
            "model": model,
            "prompt_tokens": prompt,
            "completion_tokens": 10,
            "cost_usd": cost,
            "calls": 1,
            "fallbacks": 0,
        }

    day1, day2 = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
    folded = data.fold_usage(
        [
            (day1, [row(t1, "m", 100, 0.5), row(t1, "m", 50, 0.25)]),  # two cubes, same model
            (day2, [row(t2, "m", 10, 0.0)]),
        ],
        {t1: "acme"},
    )
    assert folded["series"] == [("03-01", 170.0, 0.75), ("03-02", 20.0, 0.0)]
    assert [r["day"] for r in folded["daily"]] == ["2025-03-02", "2025-03-01"]
    acme = next(r for r in folded["totals"] if r["tenant"] == "acme")
    assert acme["prompt_tokens"] == 150 and acme["calls"] == 2 and acme["cost_usd"] == 0.75
    assert any(r["tenant"] == str(t2)[:8] for r in folded["totals"])  # a tenant since deleted
    assert folded["tokens"] == 190 and folded["calls"] == 3


def test_day_windows_are_utc_days_ending_today():
    now = datetime(2025, 3, 20, 15, 30, tzinfo=UTC)
    windows = data.day_windows(now, 3)
    assert [w[0].day for w in windows] == [18, 19, 20]
    assert all(end - start == timedelta(days=1) for start, end in windows)


def test_queue_matrix():
    matrix = data.queue_matrix(
        [("b", "queued", 2), ("a", "failed", 1), ("b", "running", 1), ("b", "queued", 1)]
    )
    assert matrix == [("a", [0, 0, 1]), ("b", [3, 1, 0])]
