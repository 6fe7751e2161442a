"""Write-time dedup on LoCoMo: each conversation ingested twice, through the real service.

Per conversation: a cube gets every turn (as bench/locomo.py stores them), then the same turns
again. Reported: turns, memories stored by the first ingest (turns folded into an earlier one
of the same session and time count as duplicates), live memories after the second (it should
not grow), the second ingest's exact and near matches, and the add time with dedup against a
cube ingested with `deduplicate: false` (the baseline, same run). Enrichment is off: this
measures dedup alone.

    python -m bench.dedup [--data ../shared/data/locomo10.json --limit 10]
        [--json bench/results/dedup.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path
from typing import Any

import httpx

from bench._service import local_tenant
from bench.locomo import turns

BATCH = 500


async def _add(c: httpx.AsyncClient, cube_id: str, items: list[dict[str, Any]], dedup: bool):
    duplicates: list[dict[str, Any]] = []
    started = time.perf_counter()
    for start in range(0, len(items), BATCH):
        r = await c.post(
            f"/v1/cubes/{cube_id}/memories",
            json={"items": items[start : start + BATCH], "deduplicate": dedup},
        )
        r.raise_for_status()
        duplicates += r.json()["duplicates"]
    return duplicates, time.perf_counter() - started


async def _live(c: httpx.AsyncClient, cube_id: str) -> int:
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await c.get(f"/v1/cubes/{cube_id}/memories", params=params)).json()
        count += sum(m["status"] in ("active", "pending") for m in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return count


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from memsvc.config import Settings

    samples = json.loads(Path(args.data).read_text())[: args.limit]
    rows = []
    async with local_tenant(Settings(enrichment=False)) as (_, _, c):
        for sample in samples:
            items = turns(sample)
            sid = sample["sample_id"]
            cube = (await c.post("/v1/cubes", json={"name": sid})).json()["id"]
            plain = (await c.post("/v1/cubes", json={"name": f"{sid}-plain"})).json()["id"]
            _, t_plain = await _add(c, plain, items, dedup=False)
            first, t_first = await _add(c, cube, items, dedup=True)
            after_first = await _live(c, cube)
            second, t_second = await _add(c, cube, items, dedup=True)
            row = {
                "conversation": sid,
                "turns": len(items),
                "stored_first": after_first,
                "folded_first": len(first),
                "live_after_second": await _live(c, cube),
                "exact_second": sum(d["match"] == "exact" for d in second),
                "near_second": sum(d["match"] == "near" for d in second),
                "add_s_no_dedup": round(t_plain, 2),
                "add_s_first": round(t_first, 2),
                "add_s_second": round(t_second, 2),
                "folded_examples": [
                    items[d["index"]]["content"][:80] for d in first[: args.examples]
                ],
            }
            rows.append(row)
            _print(row)
    return rows


HEADER = (
    f"{'conv':>8} {'turns':>6} {'stored':>7} {'folded':>7} {'live 2nd':>9} {'exact':>6} "
    f"{'near':>5} | {'add s (no dedup)':>16} {'add s 1st':>9} {'add s 2nd':>9}"
)


def _print(row: dict[str, Any]) -> None:
    print(
        f"{row['conversation']:>8} {row['turns']:>6} {row['stored_first']:>7} "
        f"{row['folded_first']:>7} {row['live_after_second']:>9} {row['exact_second']:>6} "
        f"{row['near_second']:>5} | {row['add_s_no_dedup']:>16} {row['add_s_first']:>9} "
        f"{row['add_s_second']:>9}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/locomo10.json")
    parser.add_argument("--limit", type=int, default=10, help="conversations")
    parser.add_argument("--examples", type=int, default=5, help="folded turns shown per conv")
    parser.add_argument("--json", default="bench/results/dedup.json")
    args = parser.parse_args()
    print(HEADER)
    started = time.perf_counter()
    rows = asyncio.run(run(args))
    total = {
        k: sum(r[k] for r in rows)
        for k in ("turns", "stored_first", "folded_first", "live_after_second")
    }
    print(
        f"{'total':>8} {total['turns']:>6} {total['stored_first']:>7} "
        f"{total['folded_first']:>7} {total['live_after_second']:>9}"
    )
    result = {
        "rows": rows,
        "total": total,
        "unchanged_after_second": all(r["live_after_second"] == r["stored_first"] for r in rows),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"unchanged after the second ingest: {result['unchanged_after_second']}")
    print(f"wrote {args.json} in {result['wall_s']} s")


if __name__ == "__main__":
    main()
