"""MemoryBank forgetting over 90 simulated days, through the real service and job queue.

Two cubes get the same memories on the same schedule (`--per-day` adds a day, synthetic facts
from a seeded generator). The `recalled` cube is also searched every day: a few "hot" facts
again and again, plus a few random older ones; the `baseline` cube is never searched, so its
memories fade by time alone (archived after τ·ln(1/θ) days). Every simulated night the
consolidation job runs the forgetting sweep on both (POST /consolidate, run by a worker).

The service's clock is moved a day at a time (Runtime.clock), so 90 days take minutes. Reports,
every `--every` days: live and archived counts of both cubes, the recalled cube's mean retention
and mean strength of live memories, and the sweep's time. Also writes docs/retention_curves.png
(R = exp(-t/(τ·S)) for S = 1..5) and docs/lifecycle_simulation.png (with matplotlib).

    python -m bench.lifecycle [--days 90 --per-day 20 --searches 10]
        [--json bench/results/lifecycle.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench._service import local_tenant
from memsvc.algorithms.retention import days_until_forgotten, elapsed_days, retention

START = datetime(2025, 1, 1, 9, tzinfo=UTC)
PEOPLE = ["Ana", "Ben", "Chloe", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
ACTIONS = [
    "booked a table at",
    "went running near",
    "lost an umbrella at",
    "met a colleague at",
    "bought flowers at",
    "took photos of",
    "read a novel at",
    "fixed a bike near",
]
PLACES = [
    "the harbour market",
    "the old library",
    "the botanical garden",
    "the train station",
    "the hilltop cafe",
    "the science museum",
    "the river bridge",
    "the night bazaar",
    "the city stadium",
    "the lakeside park",
]
DETAILS = ["in the rain", "with a friend", "before work", "after dinner", "on a whim", "at dawn"]


def fact(rng: random.Random, day: int) -> str:
    return (
        f"On day {day} {rng.choice(PEOPLE)} {rng.choice(ACTIONS)} {rng.choice(PLACES)} "
        f"{rng.choice(DETAILS)} (note {rng.randrange(10**6)})."
    )


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from memsvc.config import Settings
    from workers.runner import work_until_idle

    # Enrichment (notes, links, graph) is off: this measures the lifecycle alone.
    settings = Settings(enrichment=False)
    clock = Clock(START)
    rng = random.Random(args.seed)
    rows: list[dict[str, Any]] = []
    async with local_tenant(settings) as (app, url, c):
        app.state.runtime.clock = clock
        cubes = {
            name: (await c.post("/v1/cubes", json={"name": name})).json()["id"]
            for name in ("recalled", "baseline")
        }
        hot: list[str] = []
        history: list[str] = []
        for day in range(1, args.days + 1):
            clock.now = START + timedelta(days=day - 1)
            texts = [fact(rng, day) for _ in range(args.per_day)]
            for cube_id in cubes.values():
                r = await c.post(
                    f"/v1/cubes/{cube_id}/memories",
                    # Every fact stays (dedup would fold the look-alike ones): this
                    # measures forgetting alone.
                    json={"items": [{"content": t} for t in texts], "deduplicate": False},
                )
                r.raise_for_status()
            if day <= 3:
                hot.extend(texts[: args.hot // 3 + 1])
            history.extend(texts)
            clock.now += timedelta(hours=6)
            queries = hot[: args.hot] + rng.sample(
                history, min(len(history), args.searches - min(args.hot, len(hot)))
            )
            for q in queries:
                r = await c.post(
                    f"/v1/cubes/{cubes['recalled']}/search",
                    json={"query": q, "top_k": 1, "mode": "lexical"},
                )
                r.raise_for_status()
            clock.now += timedelta(hours=12)
            t0 = time.perf_counter()
            for cube_id in cubes.values():
                r = await c.post(f"/v1/cubes/{cube_id}/consolidate", json={"kinds": ["forgetting"]})
                r.raise_for_status()
            await work_until_idle(url, app.state.runtime)
            sweep_ms = (time.perf_counter() - t0) * 1000 / len(cubes)
            if day % args.every == 0 or day == args.days:
                row = {"day": day, "sweep_ms": round(sweep_ms, 1)}
                for name, cube_id in cubes.items():
                    row.update(await _state(c, cube_id, name, clock.now, settings))
                rows.append(row)
                _print_row(row)
    return {
        "settings": {
            "retention_tau_days": settings.retention_tau_days,
            "forget_threshold": settings.forget_threshold,
            "days_until_forgotten_by_strength": {
                s: round(
                    days_until_forgotten(
                        s, tau_days=settings.retention_tau_days, threshold=settings.forget_threshold
                    ),
                    2,
                )
                for s in range(1, 6)
            },
        },
        "args": vars(args),
        "rows": rows,
    }


async def _state(
    c: httpx.AsyncClient, cube_id: str, name: str, now: datetime, settings: Any
) -> dict[str, Any]:
    live: list[dict[str, Any]] = []
    archived = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await c.get(f"/v1/cubes/{cube_id}/memories", params=params)).json()
        for m in page["items"]:
            if m["status"] == "archived":
                archived += 1
            elif m["status"] in ("active", "pending"):
                live.append(m)
        cursor = page["next_cursor"]
        if not cursor:
            break
    values = [
        retention(
            elapsed_days(datetime.fromisoformat(m["last_recalled_at"] or m["created_at"]), now),
            m["strength"],
            settings.retention_tau_days,
        )
        for m in live
    ]
    return {
        f"{name}_live": len(live),
        f"{name}_archived": archived,
        f"{name}_mean_retention": round(statistics.fmean(values), 4) if values else None,
        f"{name}_mean_strength": round(statistics.fmean(m["strength"] for m in live), 3)
        if live
        else None,
    }


HEADER = (
    f"{'day':>4} | {'recalled live':>13} {'archived':>8} {'mean R':>6} {'mean S':>6} | "
    f"{'baseline live':>13} {'archived':>8} {'mean R':>6} | {'sweep ms':>8}"
)


def _print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['day']:>4} | {row['recalled_live']:>13} {row['recalled_archived']:>8} "
        f"{row['recalled_mean_retention'] or 0:>6.3f} {row['recalled_mean_strength'] or 0:>6.2f} | "
        f"{row['baseline_live']:>13} {row['baseline_archived']:>8} "
        f"{row['baseline_mean_retention'] or 0:>6.3f} | {row['sweep_ms']:>8.1f}",
        flush=True,
    )


def plot(result: dict[str, Any], out_dir: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e .[bench]); no plots written")
        return []
    tau = result["settings"]["retention_tau_days"]
    theta = result["settings"]["forget_threshold"]
    days = [d / 4 for d in range(0, 90 * 4 + 1)]
    fig, ax = plt.subplots(figsize=(7, 4))
    for s in range(1, 6):
        ax.plot(days, [math.exp(-t / (tau * s)) for t in days], label=f"S = {s}")
    ax.axhline(theta, color="grey", linestyle="--", label=f"archive below {theta}")
    ax.set_xlabel("days since last recall")
    ax.set_ylabel("retention R = exp(-t / (τ·S))")
    ax.set_title(f"MemoryBank forgetting curves (τ = {tau:g} days)")
    ax.legend()
    fig.tight_layout()
    curves = out_dir / "retention_curves.png"
    fig.savefig(curves, dpi=110)
    plt.close(fig)

    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7, 4))
    x = [r["day"] for r in rows]
    ax.plot(x, [r["recalled_live"] for r in rows], label="live (searched daily)")
    ax.plot(x, [r["recalled_archived"] for r in rows], label="archived (searched daily)")
    ax.plot(x, [r["baseline_live"] for r in rows], "--", label="live (never searched)")
    ax.plot(x, [r["baseline_archived"] for r in rows], "--", label="archived (never searched)")
    ax.set_xlabel("simulated day")
    ax.set_ylabel("memories")
    ax.set_title("90 days of use: the forgetting sweep each night")
    ax.legend()
    fig.tight_layout()
    sim = out_dir / "lifecycle_simulation.png"
    fig.savefig(sim, dpi=110)
    plt.close(fig)
    return [curves, sim]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=20, help="memories added a day")
    parser.add_argument("--searches", type=int, default=10, help="searches a day (recalled cube)")
    parser.add_argument("--hot", type=int, default=4, help="of which: the same early facts")
    parser.add_argument("--every", type=int, default=10, help="report every N days")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="bench/results/lifecycle.json")
    parser.add_argument("--plots", default="docs", help="folder for the PNGs ('' for none)")
    args = parser.parse_args()
    print(HEADER)
    started = time.perf_counter()
    result = asyncio.run(run(args))
    result["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    written = plot(result, Path(args.plots)) if args.plots else []
    print(f"wrote {args.json} {' '.join(map(str, written))} in {result['wall_s']} s")


if __name__ == "__main__":
    main()
