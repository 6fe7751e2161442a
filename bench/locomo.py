"""LoCoMo retrieval benchmark through the memsvc REST API.

Ingests ../shared/data/locomo10.json (one cube per conversation, one memory per turn, the
turn's dia_id in metadata, the session date as occurred_at, the session as session_id), then
asks every question of its own cube in each search mode and reports recall@5/10/25 per
category (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop; overall = 1-4; 5 adversarial on
its own line), scored as ../shared/data/README.md describes. Prints a table, writes JSON.

    .venv/bin/python -m bench.locomo [--modes lexical,dense,hybrid] [--json PATH] [--limit N]

A mode is `lexical`, `dense`, `graph`, `hybrid`, or a hybrid variant
`hybrid/<fusion>/<dense weight>` (e.g. `hybrid/minmax/0.4`, `hybrid/rrf/0.5`) to compare fusion
methods in the same run, with optional flags: `+nograph` (hybrid without the entity-graph
signal: the baseline of the same run), `+links` (each hit followed by its A-MEM linked notes,
A-MEM's retrieval; the list is cut at k like any other).

Ingestion waits for each cube's background enrichment (notes, links, entity graph) to finish,
run by a worker inside the benchmark process (or the server's, with --url).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._service import service, tenant_client

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo10.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
KS = (5, 10, 25)


def parse_session_time(value: str) -> datetime:
    return datetime.strptime(value.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def turns(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Every turn of a conversation as a memory item, sessions in order."""
    conv = sample["conversation"]
    numbers = sorted(int(m.group(1)) for key in conv if (m := re.fullmatch(r"session_(\d+)", key)))
    items = []
    for n in numbers:
        when = parse_session_time(conv[f"session_{n}_date_time"]).isoformat()
        for turn in conv[f"session_{n}"]:
            text = f"{turn['speaker']}: {turn['text']}"
            if turn.get("blip_caption"):
                text += f" [shares an image: {turn['blip_caption']}]"
            items.append(
                {
                    "content": text,
                    "occurred_at": when,
                    "session_id": f"session_{n}",
                    "source": "locomo",
                    "metadata": {"dia_id": turn["dia_id"]},
                }
            )
    return items


def evidence_ids(raw: list[str], known: set[str]) -> list[str]:
    """Normalise the evidence quirks listed in the data README."""
    out: list[str] = []
    for entry in raw:
        for part in re.split(r"[;,\s]+", entry):
            part = part.strip()
            if re.fullmatch(r"D:\d+:\d+", part):
                part = "D" + part[2:]
            m = re.fullmatch(r"D(\d+):(\d+)", part)
            if not m:
                continue
            dia = f"D{int(m.group(1))}:{int(m.group(2))}"
            if dia in known and dia not in out:
                out.append(dia)
    return out


async def ingest(client: httpx.AsyncClient, sample: dict[str, Any]) -> tuple[str, float]:
    """Store the conversation; wait for its enrichment. Returns the cube and the seconds the
    enrichment took after the last add returned."""
    cube = await client.post("/v1/cubes", json={"name": sample["sample_id"]})
    cube.raise_for_status()
    cube_id = cube.json()["id"]
    items = turns(sample)
    jobs = []
    for start in range(0, len(items), 500):
        r = await client.post(
            f"/v1/cubes/{cube_id}/memories", json={"items": items[start : start + 500]}
        )
        r.raise_for_status()
        if r.json().get("job_id"):
            jobs.append(r.json()["job_id"])
    t0 = time.perf_counter()
    for job_id in jobs:
        while True:
            job = (await client.get(f"/v1/jobs/{job_id}")).json()
            if job["status"] == "failed":
                raise RuntimeError(f"enrichment job failed: {job}")
            if job["status"] == "done":
                break
            await asyncio.sleep(0.5)
    return cube_id, time.perf_counter() - t0


def search_body(question: str, mode: str) -> dict[str, Any]:
    body: dict[str, Any] = {"query": question, "top_k": max(KS)}
    base, *flags = mode.split("+")
    name, _, variant = base.partition("/")
    body["mode"] = name
    fusion: dict[str, Any] = {}
    if variant:
        method, _, weight = variant.partition("/")
        fusion = {"method": method, **({"dense_weight": float(weight)} if weight else {})}
    if "nograph" in flags:
        fusion["graph_weight"] = 0.0
    if fusion:
        body["fusion"] = fusion
    if "links" in flags:
        body["include_links"] = True
    return body


def _dia_ids(memory: dict[str, Any]) -> list[str]:
    dia = memory["metadata"].get("dia_id")
    return [d for d in (dia if isinstance(dia, list) else [dia]) if d]


async def ask(
    client: httpx.AsyncClient, cube_id: str, question: str, mode: str
) -> tuple[list[str], float]:
    r = await client.post(f"/v1/cubes/{cube_id}/search", json=search_body(question, mode))
    r.raise_for_status()
    body = r.json()
    ranked: list[str] = []
    for hit in body["results"]:
        memories = [hit["memory"], *(x["memory"] for x in hit.get("linked") or [])]
        for memory in memories:
            for d in _dia_ids(memory):
                if d not in ranked:
                    ranked.append(d)
    return ranked, body["took_ms"]


def summarise(per_question: list[dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        by_cat: dict[int, list[dict[int, float]]] = defaultdict(list)
        for q in per_question:
            by_cat[q["category"]].append(q["recall"][mode])
        cats = {}
        for cat, rows in sorted(by_cat.items()):
            cats[CATEGORIES[cat]] = {f"recall@{k}": sum(r[k] for r in rows) / len(rows) for k in KS}
            cats[CATEGORIES[cat]]["n"] = len(rows)
        overall_rows = [r for cat, rows in by_cat.items() if cat in (1, 2, 3, 4) for r in rows]
        cats["overall"] = {
            f"recall@{k}": sum(r[k] for r in overall_rows) / len(overall_rows) for k in KS
        }
        cats["overall"]["n"] = len(overall_rows)
        took = [q["took_ms"][mode] for q in per_question]
        took.sort()
        cats["latency_ms"] = {"p50": took[len(took) // 2], "p95": took[int(len(took) * 0.95)]}
        out[mode] = cats
    return out


def print_table(summary: dict[str, Any]) -> None:
    rows = ["overall", "single-hop", "multi-hop", "temporal", "open-domain", "adversarial"]
    print(f"{'mode':<20}{'category':<14}{'n':>6}{'R@5':>8}{'R@10':>8}{'R@25':>8}")
    for mode, cats in summary.items():
        for name in rows:
            if name in cats:
                c = cats[name]
                print(
                    f"{mode:<20}{name:<14}{c['n']:>6}{c['recall@5']:>8.3f}"
                    f"{c['recall@10']:>8.3f}{c['recall@25']:>8.3f}"
                )
        lat = cats["latency_ms"]
        print(f"{mode:<20}{'search ms':<14}{'':>6}  p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data = json.loads(Path(args.data).read_text())
    if args.limit:
        data = data[: args.limit]
    modes = args.modes.split(",")
    per_question: list[dict[str, Any]] = []
    started = time.perf_counter()
    async with service(args.url, args.database_url) as admin:
        client = await tenant_client(admin)
        ingest_seconds = enrich_seconds = 0.0
        for sample in data:
            t0 = time.perf_counter()
            cube_id, enrich_wait = await ingest(client, sample)
            ingest_seconds += time.perf_counter() - t0
            enrich_seconds += enrich_wait
            known = {t["metadata"]["dia_id"] for t in turns(sample)}
            for qa in sample["qa"]:
                evidence = evidence_ids(qa.get("evidence", []), known)
                if not evidence:
                    continue
                row: dict[str, Any] = {"category": qa["category"], "recall": {}, "took_ms": {}}
                for mode in modes:
                    ranked, took = await ask(client, cube_id, qa["question"], mode)
                    row["recall"][mode] = {
                        k: len(set(ranked[:k]) & set(evidence)) / len(evidence) for k in KS
                    }
                    row["took_ms"][mode] = took
                per_question.append(row)
            print(
                f"  {sample['sample_id']}: {len(known)} turns, "
                f"{len(per_question)} questions so far",
                file=sys.stderr,
            )
        await client.aclose()
    summary = summarise(per_question, modes)
    return {
        "benchmark": "locomo10 retrieval",
        "modes": modes,
        "results": summary,
        "questions": len(per_question),
        "ingest_seconds": round(ingest_seconds, 1),
        "enrichment_wait_seconds": round(enrich_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument(
        "--modes",
        default="lexical,dense,graph,hybrid+nograph,hybrid,hybrid+links,hybrid/minmax/0.4",
    )
    parser.add_argument("--json", default="bench/results/locomo.json")
    parser.add_argument("--limit", type=int, default=0, help="first N conversations only")
    parser.add_argument("--url", default=None, help="a running memsvc server (default: in-process)")
    parser.add_argument("--database-url", default=None, help="default: a throwaway embedded one")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print_table(report["results"])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
