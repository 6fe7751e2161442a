"""What the admin pages draw and how they write numbers: the entity graph's layout in SVG
coordinates, a memory's retention curve, the usage bar chart, and formatting helpers.

Pure functions, no I/O: the routes gather the data, these turn it into coordinates and text,
and the templates only place them. Every drawing is deterministic (no random layout seed), so
the same data always gives the same picture.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import networkx as nx

from memsvc.algorithms.retention import days_until_forgotten, retention

# --- the entity graph -----------------------------------------------------------------------

GRAPH_MAX_NODES = 150  # past this the drawing is a hairball: keep the most connected


@dataclasses.dataclass(frozen=True)
class PlacedNode:
    id: int
    label: str
    x: float
    y: float
    r: float
    degree: int
    mentions: int
    font_px: float
    label_x: float
    label_anchor: str  # "middle", or "start"/"end" for a label that would leave the canvas


@dataclasses.dataclass(frozen=True)
class PlacedEdge:
    x1: float
    y1: float
    x2: float
    y2: float
    relation: str
    kind: str
    source: str
    target: str


@dataclasses.dataclass(frozen=True)
class GraphDrawing:
    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    total_nodes: int
    total_edges: int
    unlinked: int  # entities drawn in the bottom row: related to no other drawn entity

    @property
    def capped(self) -> bool:
        return len(self.nodes) < self.total_nodes


def _entity_graph(nodes: Sequence[Mapping[str, Any]], edges: Sequence[Mapping[str, Any]]) -> Any:
    """An undirected graph of the entities; parallel relations between two entities collapse
    into one drawn edge (the first relation names it), self-relations are left out."""
    graph = nx.Graph()
    for node in nodes:
        graph.add_node(int(node["id"]), key=str(node["key"]), mentions=int(node["memory_count"]))
    for edge in edges:
        src, dst = int(edge["src_id"]), int(edge["dst_id"])
        if src == dst or src not in graph or dst not in graph or graph.has_edge(src, dst):
            continue
        graph.add_edge(src, dst, relation=str(edge["relation"]), kind=str(edge["kind"]))
    return graph


def most_connected(graph: Any, limit: int) -> list[int]:
    """The `limit` nodes of highest degree; ties go to the most mentioned, then by name."""
    ranked = sorted(
        graph.nodes,
        key=lambda n: (-graph.degree[n], -graph.nodes[n]["mentions"], graph.nodes[n]["key"], n),
    )
    return ranked[:limit]


def _fit(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high - low < 1e-12:
        return (out_low + out_high) / 2
    return out_low + (value - low) / (high - low) * (out_high - out_low)


def _component_layout(graph: Any, nodes: list[int]) -> dict[int, tuple[float, float]]:
    """Kamada-Kawai positions of one connected component, in [0, 1]²: it spaces nodes by
    their graph distance, which keeps a hub's neighbours in a readable ring rather than a
    knot, and it is deterministic (it starts from a circle, no random seed)."""
    if len(nodes) == 1:
        return {nodes[0]: (0.5, 0.5)}
    pos = nx.kamada_kawai_layout(graph.subgraph(nodes))
    xs = [float(p[0]) for p in pos.values()]
    ys = [float(p[1]) for p in pos.values()]
    return {
        n: (
            _fit(float(pos[n][0]), min(xs), max(xs), 0.0, 1.0),
            _fit(float(pos[n][1]), min(ys), max(ys), 0.0, 1.0),
        )
        for n in nodes
    }


def graph_layout(graph: Any, width: float, height: float) -> dict[int, tuple[float, float]]:
    """Pixel positions: connected components side by side (width by the square root of their
    size, largest first), each laid out on its own; entities related to nothing in a row of
    their own along the bottom, so they neither crowd the picture nor squash it."""
    components = sorted(
        (sorted(c) for c in nx.connected_components(graph)),
        key=lambda c: (-len(c), graph.nodes[c[0]]["key"]),
    )
    groups = [c for c in components if len(c) > 1]
    loners = sorted((c[0] for c in components if len(c) == 1), key=lambda n: graph.nodes[n]["key"])
    pad_x, pad_y = 70.0, 30.0  # room for the labels at the edges of the canvas
    per_row = max(int((width - 2 * pad_x) // 120), 1)
    loner_rows = math.ceil(len(loners) / per_row) if loners else 0
    strip = 34.0 * loner_rows
    top, bottom = pad_y, height - pad_y - strip
    out: dict[int, tuple[float, float]] = {}
    shares = [math.sqrt(len(c)) for c in groups]
    x = pad_x
    for comp, share in zip(groups, shares, strict=True):
        box = (width - 2 * pad_x) * share / sum(shares)
        inner = 12.0 if len(groups) > 1 else 0.0  # a gap between neighbouring components
        for n, (u, v) in _component_layout(graph, comp).items():
            out[n] = (
                round(x + inner + u * max(box - 2 * inner, 1.0), 1),
                round(top + v * (bottom - top), 1),
            )
        x += box
    for i, n in enumerate(loners):
        row, col = divmod(i, per_row)
        step = (width - 2 * pad_x) / per_row
        out[n] = (round(pad_x + step * (col + 0.5), 1), round(height - strip + 34.0 * row, 1))
    return out


def label_position(
    x: float, r: float, label: str, font_px: float, width: float
) -> tuple[float, str]:
    """Where a node's label starts, and its anchor: centred above the node, unless it would
    run off the canvas (bold text is about 0.6 em a character wide)."""
    half = 0.3 * font_px * len(label)
    if x - half < 4:
        return round(max(4.0, x - r), 1), "start"
    if x + half > width - 4:
        return round(min(width - 4.0, x + r), 1), "end"
    return x, "middle"


def graph_drawing(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    *,
    max_nodes: int = GRAPH_MAX_NODES,
    width: int = 1100,
    height: int = 720,
) -> GraphDrawing:
    """Lay out the entity graph on a width × height canvas (graph_layout).

    `nodes`: {id, key, memory_count}; `edges`: {src_id, dst_id, relation, kind}, as the graph
    service pages them. Node radius grows with degree; labels of well-connected nodes are a
    little larger, so the hubs read first.
    """
    full = _entity_graph(nodes, edges)
    keep = most_connected(full, max_nodes)
    graph = full.subgraph(keep)
    at = graph_layout(graph, float(width), float(height)) if keep else {}
    max_degree = max((graph.degree[n] for n in keep), default=0) or 1
    placed_nodes = []
    for n in keep:
        share = math.sqrt(graph.degree[n] / max_degree)
        x, y = at[n]
        r, font = round(4.0 + 10.0 * share, 1), round(11.0 + 3.0 * share, 1)
        label = graph.nodes[n]["key"]
        label_x, anchor = label_position(x, r, label, font, width)
        placed_nodes.append(
            PlacedNode(
                id=n,
                label=label,
                x=x,
                y=y,
                r=r,
                degree=int(full.degree[n]),
                mentions=graph.nodes[n]["mentions"],
                font_px=font,
                label_x=label_x,
                label_anchor=anchor,
            )
        )
    placed_edges = [
        PlacedEdge(
            x1=at[src][0],
            y1=at[src][1],
            x2=at[dst][0],
            y2=at[dst][1],
            relation=data["relation"],
            kind=data["kind"],
            source=graph.nodes[src]["key"],
            target=graph.nodes[dst]["key"],
        )
        for src, dst, data in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1]))
    ]
    # Small nodes first, so the hubs (and their labels) are drawn on top.
    placed_nodes.sort(key=lambda p: (p.r, p.label))
    return GraphDrawing(
        width=width,
        height=height,
        nodes=placed_nodes,
        edges=placed_edges,
        total_nodes=full.number_of_nodes(),
        total_edges=full.number_of_edges(),
        unlinked=sum(1 for n in keep if graph.degree[n] == 0),
    )


# --- the retention curve --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tick:
    pos: float  # pixel position along its axis
    label: str


@dataclasses.dataclass(frozen=True)
class RetentionCurve:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    path: str  # the curve at the memory's strength
    next_path: str  # the curve after one more recall (strength + 1), for comparison
    now_x: float
    now_y: float
    now_value: float
    now_label_x: float  # the "now" label sits beside the point, inside the plot
    now_label_y: float
    now_label_anchor: str
    threshold: float
    threshold_y: float
    forget_x: float | None  # where the curve crosses the threshold, if inside the plot
    forget_in_days: float  # from now; 0 when already below
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    horizon_days: float


def nice_step(span: float, max_ticks: int = 8) -> float:
    """The smallest 1-2-5 step that cuts `span` into at most `max_ticks` intervals."""
    if span <= 0:
        return 1.0
    raw = span / max_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 5.0, 10.0):
        if mult * power >= raw:
            return mult * power
    return 10.0 * power  # pragma: no cover (the loop always returns)


def _day_label(days: float) -> str:
    return f"{days:g}" if days >= 1 or days == 0 else f"{days:.2g}"


def retention_curve(
    *,
    strength: float,
    elapsed_days: float,
    tau_days: float,
    threshold: float,
    width: int = 600,
    height: int = 260,
    samples: int = 120,
) -> RetentionCurve:
    """The MemoryBank curve R(t) = exp(-t / (τ·S)) from the last recall (t = 0) on, with the
    memory's place on it now and the forgetting threshold; the same function the search and
    the forgetting sweep use (memsvc.algorithms.retention)."""
    left, top, right, bottom = 48.0, 14.0, float(width) - 16.0, float(height) - 34.0
    forget_day = days_until_forgotten(strength, tau_days=tau_days, threshold=threshold)
    horizon = max(elapsed_days * 1.15, 1.0)
    if math.isfinite(forget_day):
        horizon = max(horizon, forget_day * 1.15)
    else:
        horizon = max(horizon, 3.0 * tau_days * max(strength, 1.0))

    def px(day: float) -> float:
        return round(left + day / horizon * (right - left), 2)

    def py(value: float) -> float:
        return round(bottom - value * (bottom - top), 2)

    def path(s: float) -> str:
        points = []
        for i in range(samples + 1):
            day = horizon * i / samples
            points.append(f"{px(day)},{py(retention(day, s, tau_days))}")
        return "M" + " L".join(points)

    step = nice_step(horizon)
    x_ticks = [
        Tick(px(i * step), _day_label(round(i * step, 6)))
        for i in range(int(horizon / step + 1e-9) + 1)
    ]
    y_ticks = [Tick(py(v / 4), f"{v / 4:.2f}") for v in range(5)]
    now_value = retention(elapsed_days, strength, tau_days)
    now_x, now_y = px(min(elapsed_days, horizon)), py(now_value)
    near_right = now_x > right - 90
    on_plot = math.isfinite(forget_day) and forget_day <= horizon
    return RetentionCurve(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        path=path(strength),
        next_path=path(strength + 1.0),
        now_x=now_x,
        now_y=now_y,
        now_value=now_value,
        now_label_x=now_x - 10 if near_right else now_x + 10,
        now_label_y=now_y + 20 if now_y < top + 24 else now_y - 8,
        now_label_anchor="end" if near_right else "start",
        threshold=threshold,
        threshold_y=py(threshold),
        forget_x=px(forget_day) if on_plot else None,
        forget_in_days=max(forget_day - elapsed_days, 0.0)
        if math.isfinite(forget_day)
        else math.inf,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        horizon_days=horizon,
    )


# --- the usage bar chart --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    value: float
    title: str


@dataclasses.dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    baseline: float
    bars: list[Bar]
    max_value: float
    y_ticks: list[Tick]


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    width: int = 460,  # about the width it is shown at, so its text reads at its own size
    height: int = 210,
    unit: str = "",
) -> BarChart:
    """One bar per (label, value), left to right, on a shared zero baseline."""
    left, top, right, baseline = 56.0, 10.0, float(width) - 8.0, float(height) - 26.0
    top_value = max((v for _, v in points), default=0.0)
    step = nice_step(top_value, 4) if top_value > 0 else 1.0
    ceiling = step * math.ceil(top_value / step) if top_value > 0 else 1.0
    slot = (right - left) / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = 0.0 if ceiling <= 0 else value / ceiling * (baseline - top)
        bars.append(
            Bar(
                x=round(left + i * slot + slot * 0.15, 2),
                y=round(baseline - h, 2),
                w=round(slot * 0.7, 2),
                h=round(h, 2),
                label=label,
                value=value,
                title=f"{label}: {compact(value)}{unit}",
            )
        )
    ticks = [
        Tick(round(baseline - (i * step) / ceiling * (baseline - top), 2), compact(i * step))
        for i in range(int(ceiling / step + 1e-9) + 1)
    ]
    return BarChart(
        width=width,
        height=height,
        left=left,
        right=right,
        baseline=baseline,
        bars=bars,
        max_value=top_value,
        y_ticks=ticks,
    )


# --- formatting -----------------------------------------------------------------------------


def compact(value: float) -> str:
    """1234 → "1.2k", 2_500_000 → "2.5M"; small numbers as they are."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}" if value != int(value) else str(int(value))


def thousands(value: int | float) -> str:
    return f"{int(value):,}"


def dollars(value: float) -> str:
    """Costs of LLM calls are often fractions of a cent: keep four decimals below $1."""
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def ago(then: datetime | None, now: datetime) -> str:
    """ "12 s ago", "5 min ago", "3 h ago", "4 days ago" (or "in …" for a future time)."""
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{int(seconds)} s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86_400:
        text = f"{int(seconds // 3600)} h"
    else:
        days = int(seconds // 86_400)
        text = f"{days} day" + ("s" if days != 1 else "")
    return f"in {text}" if future else f"{text} ago"


def duration_days(days: float) -> str:
    """A span in days as a person says it: "3.5 h", "12 days", "never"."""
    if not math.isfinite(days):
        return "never"
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    if days < 1:
        return f"{days * 24:.1f} h"
    return f"{days:.1f} days"


def short_id(value: object) -> str:
    """The first 8 hex digits of a UUID: enough to tell rows apart on a page."""
    return str(value)[:8]


def when(value: datetime | None) -> str:
    """An absolute time, to the minute, with its offset (UTC on this service)."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()
