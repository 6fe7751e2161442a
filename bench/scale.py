"""Scale: 100k memories in one cube through a real `memsvc serve`: ingest rate, search latency,
resident memory.

The bench starts `memsvc serve --no-worker` and a separate `memsvc worker` as subprocesses on a
throwaway embedded PostgreSQL (so the API's and the worker's memory can be told apart), makes
`--n` memories with its own seeded generator (bench/_scale_data.py: people, places, events,
preferences, pets, trips, prices, times; no data set is read) and stores them in one cube over
REST, `--batch` per POST from `--posters` concurrent posters (each POST is the service's
default add: embedded, deduplicated, indexed).

- **Ingest rate** (memories/s per segment, e.g. 0-10k and 10k-100k) against the **embedding-only
  rate** measured in the same run: the same model class (memsvc's `Embedder`, same settings,
  batch size and torch threads), in the bench process, on a uniform sample of the same
  sentences, in chunks of `--batch`, while the service is idle, half before the ingest and
  half after it. That is what the same cores do when they only embed; the ratio says how much
  of the ingest time goes to everything else (HTTP, validation, dedup probes, inserts,
  full-text and HNSW index upkeep).
- **Search** at each checkpoint (10k, 100k): `--queries` hybrid searches (default top_k 10,
  no filters, the service's defaults) with 1 and with 8 concurrent clients, after
  `--warmup` searches that are not counted; questions made by the generator about stored
  memories, entity-style, keyword and paraphrase in turn. Reported: round-trip p50/p95/p99
  over REST, the server's own `took_ms` and its per-stage `timings_ms`, throughput, and the
  share of questions whose source memory is in the top 10 (a sanity check, not a quality
  benchmark).
- **Resident memory** (RSS, and the peak VmHWM) of the API and the worker process at each
  checkpoint, and the database's size on disk.

Enrichment (`MEMSVC_ENRICHMENT`: notes, links, entity graph, by the worker) is off by default
(`--enrichment on` turns it on; the bench then waits for its jobs at each checkpoint and
reports how long they took). Without enrichment the cube has no entity graph, so `hybrid` is
BM25 + dense.

    python -m bench.scale [--n 100000 --checkpoints 10000,100000] [--quick]
        [--enrichment off|on] [--json bench/results/scale.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench._scale_data import QUERY_KINDS, Item, memories, questions
from bench._service import ADMIN_KEY, tenant_client

MB = 1024 * 1024


# --- the service: `memsvc serve --no-worker` + `memsvc worker`, as subprocesses ----------------


class Service:
    """The API and worker processes and the embedded database they share."""

    def __init__(self, data_dir: Path, port: int, logs: Path):
        self.data_dir = data_dir
        self.port = port
        self.logs = logs
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.database_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as out:  # the child keeps its own copy
            return subprocess.Popen(
                [sys.executable, "-m", "memsvc.cli", *args, "--data-dir", str(self.data_dir)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def serve(enrichment: bool, keep: bool) -> AsyncIterator[Service]:
    tmp = Path(tempfile.mkdtemp(prefix="memsvc-scale-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = Service(tmp / "data", port, tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSVC_")}
    env.update(
        MEMSVC_ADMIN_KEY=ADMIN_KEY,
        MEMSVC_ENRICHMENT="true" if enrichment else "false",
        MEMSVC_LOG_LEVEL="WARNING",
        # Only what this bench does runs: no periodic consolidation or activation refresh.
        MEMSVC_CONSOLIDATION_CRON="",
        MEMSVC_ACTIVATION_REFRESH_CRON="",
    )
    try:
        svc.api = svc._spawn("api", ["serve", "--no-worker", "--port", str(port)], env)
        await _wait_ready(svc)
        svc.worker = svc._spawn("worker", ["worker"], env)
        from memsvc import embedded

        svc.database_url = embedded.start(svc.data_dir)  # attaches to the running server
        yield svc
    finally:
        for proc in (svc.worker, svc.api):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        with contextlib.suppress(Exception):
            import pgserver

            pgserver.get_server(str(svc.data_dir / "pgdata")).cleanup()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


async def _wait_ready(svc: Service, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=svc.url, timeout=10) as c:
        while time.monotonic() < deadline:
            assert svc.api is not None
            if svc.api.poll() is not None:
                raise RuntimeError(f"memsvc serve exited:\n{svc.log_tail('api')}")
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"memsvc serve not ready after {timeout} s:\n{svc.log_tail('api')}")


def rss(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of a process, MiB (psutil, else /proc)."""
    try:
        import psutil

        info = psutil.Process(pid).memory_info()
        current = info.rss
    except ImportError:
        current = _proc_status(pid, "VmRSS")
    return {"rss_mb": round(current / MB, 1), "peak_mb": round(_proc_status(pid, "VmHWM") / MB, 1)}


def _proc_status(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def database_sizes(url: str) -> dict[str, float]:
    """Size on disk of the database and of the memories table's parts, MiB."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            """
            SELECT pg_database_size(current_database()),
                   pg_table_size('memories'),
                   (SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index
                     WHERE indrelid = 'memories'::regclass),
                   pg_total_relation_size('memory_versions')
            """
        ).fetchone()
        hnsw = conn.execute(
            """
            SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              JOIN pg_am a ON a.oid = c.relam
             WHERE i.indrelid = 'memories'::regclass AND a.amname = 'hnsw'
            """
        ).fetchone()
    assert row is not None and hnsw is not None
    names = ("database_mb", "memories_table_mb", "memories_indexes_mb", "versions_mb")
    sizes = {name: round(float(value) / MB, 1) for name, value in zip(names, row, strict=True)}
    sizes["hnsw_mb"] = round(float(hnsw[0]) / MB, 1)
    return sizes


# --- embedding-only baseline ---------------------------------------------------------------


def embedding_only(texts: list[str], chunk: int) -> dict[str, Any]:
    """Embed `texts` with memsvc's own Embedder (same settings as the service) in chunks of
    `chunk`, as the service embeds one POST; the first chunk warms up and is not counted."""
    from memsvc.config import Settings
    from memsvc.models.embedder import Embedder

    settings = Settings()
    embedder = Embedder.from_settings(settings)
    embedder.embed(texts[:chunk])  # load + warm-up
    started = time.perf_counter()
    for start in range(0, len(texts), chunk):
        embedder.embed(texts[start : start + chunk])
    seconds = time.perf_counter() - started
    import torch

    result = {
        "texts": len(texts),
        "seconds": round(seconds, 2),
        "per_s": round(len(texts) / seconds, 1),
        "batch_size": embedder.batch_size,
        "device": embedder.device,
        "torch_threads": torch.get_num_threads(),
    }
    del embedder
    gc.collect()
    return result


# --- ingest ----------------------------------------------------------------------------------


async def embedder_stats(c: httpx.AsyncClient) -> dict[str, Any]:
    """The service's embedding model counters (GET /v1/models): texts, batches, busy_s."""
    r = await c.get("/v1/models")
    r.raise_for_status()
    for model in r.json()["models"]:
        if model["kind"] == "embedding":
            return dict(model)
    return {}


async def ingest(
    c: httpx.AsyncClient,
    cube_id: str,
    items: list[Item],
    offset: int,
    ids: list[str | None],
    *,
    batch: int,
    posters: int,
    deduplicate: bool = True,
) -> dict[str, Any]:
    """Store items (positions offset.. in the full list) with `posters` concurrent POSTs."""
    starts = iter(range(0, len(items), batch))
    latencies: list[float] = []
    jobs: list[str] = []
    duplicates = 0

    async def poster() -> None:
        nonlocal duplicates
        for start in starts:
            chunk = items[start : start + batch]
            t0 = time.perf_counter()
            r = await c.post(
                f"/v1/cubes/{cube_id}/memories",
                json={"items": [i.body for i in chunk], "deduplicate": deduplicate},
            )
            if r.status_code != 201:
                raise RuntimeError(f"add failed: {r.status_code} {r.text[:500]}")
            latencies.append(time.perf_counter() - t0)
            out = r.json()
            for k, memory in enumerate(out["items"]):
                ids[offset + start + k] = memory["id"]
            duplicates += len(out["duplicates"])
            if out.get("job_id"):
                jobs.append(out["job_id"])

    before = await embedder_stats(c)
    started = time.perf_counter()
    await asyncio.gather(*(poster() for _ in range(posters)))
    seconds = time.perf_counter() - started
    after = await embedder_stats(c)
    texts = after.get("texts", 0) - before.get("texts", 0)
    busy = after.get("busy_s", 0.0) - before.get("busy_s", 0.0)
    return {
        "memories": len(items),
        "seconds": round(seconds, 2),
        "per_s": round(len(items) / seconds, 1),
        # The model inside the service: how long it ran, and its rate while running (it
        # shares the cores with the API and the database meanwhile).
        "embed_busy_s": round(busy, 2),
        "embed_share": round(busy / seconds, 3) if seconds else 0.0,
        "embed_in_service_per_s": round(texts / busy, 1) if busy else None,
        "post_p50_s": round(_pct(latencies, 50), 2),
        "post_p95_s": round(_pct(latencies, 95), 2),
        "duplicates_folded": duplicates,
        "jobs": jobs,
    }


async def wait_jobs(c: httpx.AsyncClient, jobs: list[str]) -> float:
    t0 = time.perf_counter()
    for job_id in jobs:
        while True:
            job = (await c.get(f"/v1/jobs/{job_id}")).json()
            if job["status"] == "failed":
                raise RuntimeError(f"enrichment job failed: {job}")
            if job["status"] == "done":
                break
            await asyncio.sleep(1.0)
    return time.perf_counter() - t0


# --- search ----------------------------------------------------------------------------------


async def search_load(
    c: httpx.AsyncClient,
    cube_id: str,
    asked: list[tuple[str, str, str]],
    *,
    clients: int,
    warmup: int,
) -> dict[str, Any]:
    """Run `asked` (after `warmup` uncounted ones) with `clients` concurrent clients."""
    for _, query, _ in asked[:warmup]:
        (await c.post(f"/v1/cubes/{cube_id}/search", json={"query": query})).raise_for_status()
    todo: Iterator[tuple[str, str, str]] = iter(asked[warmup:])
    samples: list[dict[str, Any]] = []

    async def client() -> None:
        for kind, query, target in todo:
            t0 = time.perf_counter()
            r = await c.post(f"/v1/cubes/{cube_id}/search", json={"query": query})
            wall = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            out = r.json()
            samples.append(
                {
                    "kind": kind,
                    "ms": wall,
                    "took_ms": out["took_ms"],
                    "timings_ms": out["timings_ms"],
                    "hit": any(h["memory"]["id"] == target for h in out["results"]),
                }
            )

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    wall = [s["ms"] for s in samples]
    took = [s["took_ms"] for s in samples]
    stages = sorted({k for s in samples for k in s["timings_ms"]})
    return {
        "clients": clients,
        "queries": len(samples),
        "p50_ms": round(_pct(wall, 50), 1),
        "p95_ms": round(_pct(wall, 95), 1),
        "p99_ms": round(_pct(wall, 99), 1),
        "took_p50_ms": round(_pct(took, 50), 1),
        "took_p95_ms": round(_pct(took, 95), 1),
        "stages_p50_ms": {
            k: round(_pct([s["timings_ms"].get(k, 0.0) for s in samples], 50), 1) for k in stages
        },
        "stages_p95_ms": {
            k: round(_pct([s["timings_ms"].get(k, 0.0) for s in samples], 95), 1) for k in stages
        },
        "qps": round(len(samples) / seconds, 1),
        "hit_at_10": {
            kind: round(
                statistics.fmean(s["hit"] for s in samples if s["kind"] == kind)
                if any(s["kind"] == kind for s in samples)
                else 0.0,
                3,
            )
            for kind in QUERY_KINDS
        },
        "p95_ms_by_kind": {
            kind: round(_pct([s["ms"] for s in samples if s["kind"] == kind], 95), 1)
            for kind in QUERY_KINDS
        },
    }


async def dense_recall(database_url: str, cube_id: str, queries: list[str]) -> dict[str, Any]:
    """The dense signal as the service computes it (exact scan up to dense_exact_max_rows,
    HNSW above) against an exact scan: recall of the 100 nearest (search_pool), per query."""
    from memsvc.config import Settings
    from memsvc.domain.filters import MemoryFilter
    from memsvc.domain.types import SEARCHABLE_STATUSES
    from memsvc.models.embedder import Embedder
    from memsvc.services.search import DEFAULT_TYPES
    from memsvc.store import search as search_store
    from memsvc.store.db import create_engine

    settings = Settings()
    vectors = Embedder.from_settings(settings).embed(queries)
    engine = create_engine(database_url)
    flt = MemoryFilter(statuses=SEARCHABLE_STATUSES, memory_types=DEFAULT_TYPES)
    cube = [uuid.UUID(cube_id)]
    pool = settings.search_pool
    recalls = []
    try:
        async with engine.connect() as conn:
            async with conn.begin():
                n_docs, _ = await search_store.corpus_stats(conn, cube_ids=cube, ctx_weight=0.5)
            exact_path = n_docs <= settings.dense_exact_max_rows
            for vector in vectors:
                found = []
                for exact in (exact_path, True):
                    async with conn.begin():
                        rows = await search_store.dense_candidates(
                            conn,
                            cube_ids=cube,
                            flt=flt,
                            vector=vector,
                            limit=pool,
                            exact=exact,
                            ef_search=settings.hnsw_ef_search,
                        )
                    found.append({mid for mid, _ in rows})
                recalls.append(len(found[0] & found[1]) / max(len(found[1]), 1))
    finally:
        await engine.dispose()
    return {
        "path": "exact" if exact_path else "hnsw",
        "queries": len(recalls),
        "recall_at_pool": round(statistics.fmean(recalls), 3),
        "recall_p10": round(_pct(recalls, 10), 3),
    }


async def lexical_recall(database_url: str, cube_id: str, queries: list[str]) -> dict[str, Any]:
    """The lexical signal as the service computes it (pruned past lexical_prune_budget
    memories: memsvc.algorithms.bm25.selective_terms) against exact BM25 over every memory
    holding a query word: recall of the exact top 100 (search_pool), per query."""
    from memsvc.algorithms import bm25
    from memsvc.config import Settings
    from memsvc.domain.filters import MemoryFilter
    from memsvc.domain.types import SEARCHABLE_STATUSES
    from memsvc.services.search import BM25_B, BM25_K1, DEFAULT_TYPES
    from memsvc.store import search as search_store
    from memsvc.store.db import create_engine

    settings = Settings()
    engine = create_engine(database_url)
    flt = MemoryFilter(statuses=SEARCHABLE_STATUSES, memory_types=DEFAULT_TYPES)
    cube = [uuid.UUID(cube_id)]
    ctx = settings.lexical_context_weight
    recalls, pruned = [], 0
    try:
        async with engine.connect() as conn:
            for query in queries:
                async with conn.begin():
                    n_docs, avg_len = await search_store.corpus_stats(
                        conn, cube_ids=cube, ctx_weight=ctx
                    )
                    lexemes = await search_store.query_lexemes(conn, query)
                    dfs = await search_store.document_frequencies(
                        conn, cube_ids=cube, lexemes=lexemes
                    )
                    found = []
                    selective = bm25.selective_terms(dfs, settings.lexical_prune_budget)
                    pruned += selective is not None
                    for terms in (selective, None):
                        rows = await search_store.lexical_candidates(
                            conn,
                            cube_ids=cube,
                            flt=flt,
                            lexemes=lexemes,
                            dfs=dfs,
                            n_docs=n_docs,
                            avg_len=avg_len,
                            ctx_weight=ctx,
                            k1=BM25_K1,
                            b=BM25_B,
                            limit=settings.search_pool,
                            selective=terms,
                        )
                        found.append({mid for mid, _ in rows})
                recalls.append(len(found[0] & found[1]) / max(len(found[1]), 1))
    finally:
        await engine.dispose()
    return {
        "budget": settings.lexical_prune_budget,
        "queries": len(recalls),
        "pruned_share": round(pruned / max(len(recalls), 1), 3),
        "recall_at_pool": round(statistics.fmean(recalls), 3),
        "recall_p10": round(_pct(recalls, 10), 3),
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    checkpoints = sorted({int(x) for x in args.checkpoints.split(",")} | {args.n})
    checkpoints = [k for k in checkpoints if k <= args.n]
    t0 = time.perf_counter()
    items = list(memories(args.seed, args.n))
    print(f"generated {len(items):,} memories in {time.perf_counter() - t0:.1f} s", flush=True)
    rng = random.Random(args.seed)
    sample_n = len(items) if args.embed_sample <= 0 else min(args.embed_sample, len(items))
    sample = [items[i].body["content"] for i in rng.sample(range(len(items)), sample_n)]
    half = len(sample) // 2

    result: dict[str, Any] = {
        "ingest": [],
        "search": [],
        "memory": [],
        "dense_recall": [],
        "lexical_recall": [],
    }
    enrichment = args.enrichment == "on"
    async with serve(enrichment, args.keep) as svc:
        assert svc.api is not None and svc.worker is not None
        async with httpx.AsyncClient(
            base_url=svc.url,
            timeout=1800,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        ) as admin:
            c = await tenant_client(admin)
            cube_id = (await c.post("/v1/cubes", json={"name": "scale"})).json()["id"]
            result["memory"].append(
                {"memories": 0, "api": rss(svc.api.pid), "worker": rss(svc.worker.pid)}
            )
            print("embedding-only baseline (before the ingest) ...", flush=True)
            before = embedding_only(sample[:half], args.batch)
            print(f"  {before['per_s']:.1f} texts/s", flush=True)

            ids: list[str | None] = [None] * len(items)
            done = 0
            for k in checkpoints:
                seg = await ingest(
                    c,
                    cube_id,
                    items[done:k],
                    done,
                    ids,
                    batch=args.batch,
                    posters=args.posters,
                    deduplicate=args.dedup == "on",
                )
                jobs = seg.pop("jobs")
                seg["segment"] = f"{done:,}-{k:,}"
                if enrichment:
                    print(f"  waiting for {len(jobs)} enrichment jobs ...", flush=True)
                    seg["enrichment_wait_s"] = round(await wait_jobs(c, jobs), 1)
                result["ingest"].append(seg)
                _print_ingest(seg)
                done = k
                stored = [i for i in ids[:k] if i is not None]
                assert len(stored) == k
                mem = {
                    "memories": k,
                    "api": rss(svc.api.pid),
                    "worker": rss(svc.worker.pid),
                    "db": database_sizes(svc.database_url or ""),
                }
                for clients in args.clients:
                    asked = questions(
                        items[:k],
                        stored,
                        count=args.warmup + args.queries,
                        seed=args.seed * 1000 + k + clients,
                    )
                    row = await search_load(c, cube_id, asked, clients=clients, warmup=args.warmup)
                    row["memories"] = k
                    result["search"].append(row)
                    _print_search(row)
                mem["api_after_search"] = rss(svc.api.pid)
                result["memory"].append(mem)
                _print_memory(mem)
                if args.recall_queries:
                    asked = questions(
                        items[:k], stored, count=args.recall_queries, seed=args.seed + k
                    )
                    recall = await dense_recall(
                        svc.database_url or "", cube_id, [q for _, q, _ in asked]
                    )
                    recall["memories"] = k
                    result["dense_recall"].append(recall)
                    lexical = await lexical_recall(
                        svc.database_url or "", cube_id, [q for _, q, _ in asked]
                    )
                    lexical["memories"] = k
                    result["lexical_recall"].append(lexical)
                    print(
                        f"lexical at {k:,}: {lexical['pruned_share']:.0%} of queries pruned; "
                        f"recall of the exact top {lexical['recall_at_pool']} "
                        f"(p10 {lexical['recall_p10']})",
                        flush=True,
                    )
                    print(
                        f"dense at {k:,} ({recall['path']}): recall of the exact top "
                        f"{recall['recall_at_pool']} (p10 {recall['recall_p10']})",
                        flush=True,
                    )
            await c.aclose()

    print("embedding-only baseline (after the ingest) ...", flush=True)
    after = embedding_only(sample[half:], args.batch)
    print(f"  {after['per_s']:.1f} texts/s", flush=True)
    embed_rate = (before["per_s"] * before["texts"] + after["per_s"] * after["texts"]) / max(
        before["texts"] + after["texts"], 1
    )
    total_s = sum(s["seconds"] for s in result["ingest"])
    ingest_rate = args.n / total_s
    result["embedding_only"] = {
        "before": before,
        "after": after,
        "per_s": round(embed_rate, 1),
    }
    result["headline"] = {
        "enrichment": args.enrichment,
        "dedup": args.dedup,
        "memories": args.n,
        "ingest_per_s": round(ingest_rate, 1),
        "embedding_only_per_s": round(embed_rate, 1),
        "ratio": round(ingest_rate / embed_rate, 3),
    }
    return result


def _print_ingest(seg: dict[str, Any]) -> None:
    wait = seg.get("enrichment_wait_s")
    extra = f", enrichment done {wait} s later" if wait is not None else ""
    print(
        f"ingest {seg['segment']}: {seg['seconds']} s, {seg['per_s']} memories/s "
        f"(POST p50 {seg['post_p50_s']} s, p95 {seg['post_p95_s']} s, "
        f"{seg['duplicates_folded']} folded as duplicates; the model ran "
        f"{seg['embed_share']:.0%} of the time, at {seg['embed_in_service_per_s']} texts/s)"
        f"{extra}",
        flush=True,
    )


def _print_search(row: dict[str, Any]) -> None:
    stages = " ".join(f"{k} {v}" for k, v in row["stages_p50_ms"].items())
    hits = " ".join(f"{k} {v:.2f}" for k, v in row["hit_at_10"].items())
    print(
        f"search {row['memories']:>7,} x{row['clients']}: p50 {row['p50_ms']} ms, "
        f"p95 {row['p95_ms']} ms, p99 {row['p99_ms']} ms | took p50 {row['took_p50_ms']} "
        f"p95 {row['took_p95_ms']} | stages p50: {stages} | {row['qps']} q/s | hit@10 {hits}",
        flush=True,
    )


def _print_memory(mem: dict[str, Any]) -> None:
    db = mem["db"]
    print(
        f"memory at {mem['memories']:,}: API {mem['api']['rss_mb']} MiB "
        f"(after the searches {mem['api_after_search']['rss_mb']}, peak "
        f"{mem['api_after_search']['peak_mb']}), worker {mem['worker']['rss_mb']} MiB; "
        f"database {db['database_mb']} MiB (memories {db['memories_table_mb']}, its indexes "
        f"{db['memories_indexes_mb']} of which HNSW {db['hnsw_mb']}, versions "
        f"{db['versions_mb']})",
        flush=True,
    )


def table(result: dict[str, Any]) -> str:
    h = result["headline"]
    lines = [
        f"enrichment {h['enrichment']}, dedup {h['dedup']}; embedding-only "
        f"{h['embedding_only_per_s']} texts/s "
        f"(before {result['embedding_only']['before']['per_s']}, after "
        f"{result['embedding_only']['after']['per_s']})",
        "",
        "| segment | memories/s | embedding-only /s | ratio | model busy | model rate in "
        "service /s | POST p50 / p95 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for seg in result["ingest"]:
        lines.append(
            f"| {seg['segment']} | {seg['per_s']} | {h['embedding_only_per_s']} | "
            f"{seg['per_s'] / h['embedding_only_per_s']:.2f} | {seg['embed_share']:.0%} | "
            f"{seg['embed_in_service_per_s']} | {seg['post_p50_s']} / {seg['post_p95_s']} |"
        )
    lines.append(
        f"| **all {h['memories']:,}** | **{h['ingest_per_s']}** | {h['embedding_only_per_s']} | "
        f"**{h['ratio']:.2f}** | | | |"
    )
    lines += [
        "",
        "| memories | clients | p50 ms | p95 ms | p99 ms | took_ms p50 / p95 | stages p50 ms "
        "| q/s | hit@10 entity / keyword / paraphrase |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["search"]:
        stages = ", ".join(f"{k} {v}" for k, v in row["stages_p50_ms"].items())
        hits = " / ".join(f"{row['hit_at_10'][k]:.2f}" for k in QUERY_KINDS)
        lines.append(
            f"| {row['memories']:,} | {row['clients']} | {row['p50_ms']} | {row['p95_ms']} | "
            f"{row['p99_ms']} | {row['took_p50_ms']} / {row['took_p95_ms']} | {stages} | "
            f"{row['qps']} | {hits} |"
        )
    if result["dense_recall"]:
        lines += ["", "| memories | dense path | recall of the exact top 100 (mean / p10) |"]
        lines.append("|---|---|---|")
        for r in result["dense_recall"]:
            lines.append(
                f"| {r['memories']:,} | {r['path']} | {r['recall_at_pool']} / {r['recall_p10']} |"
            )
    if result["lexical_recall"]:
        lines += [
            "",
            "| memories | lexical: queries pruned | recall of exact BM25's top 100 (mean / p10) |",
            "|---|---|---|",
        ]
        for r in result["lexical_recall"]:
            lines.append(
                f"| {r['memories']:,} | {r['pruned_share']:.0%} | "
                f"{r['recall_at_pool']} / {r['recall_p10']} |"
            )
    lines += [
        "",
        "| memories | API RSS MiB | worker RSS MiB | database MiB | HNSW MiB |",
        "|---|---|---|---|---|",
    ]
    for mem in result["memory"][1:]:
        lines.append(
            f"| {mem['memories']:,} | {mem['api_after_search']['rss_mb']} | "
            f"{mem['worker']['rss_mb']} | {mem['db']['database_mb']} | {mem['db']['hnsw_mb']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="memories in the cube")
    parser.add_argument("--checkpoints", default="10000,100000", help="sizes to search at")
    parser.add_argument("--quick", action="store_true", help="10k memories only")
    parser.add_argument("--batch", type=int, default=500, help="memories per POST")
    parser.add_argument("--posters", type=int, default=4, help="concurrent POSTs")
    parser.add_argument("--enrichment", choices=("off", "on"), default="off")
    parser.add_argument(
        "--dedup", choices=("on", "off"), default="on", help="the adds' `deduplicate` (default on)"
    )
    parser.add_argument("--queries", type=int, default=200, help="counted searches per setting")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted searches first")
    parser.add_argument("--clients", default="1,8", help="concurrent search clients, per row")
    parser.add_argument(
        "--embed-sample",
        type=int,
        default=10_000,
        help="sentences the embedding-only baseline embeds (0: all)",
    )
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=50,
        help="queries whose dense candidates are checked against an exact scan (0: none)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    parser.add_argument("--json", default="bench/results/scale.json")
    args = parser.parse_args()
    if args.quick:
        args.n, args.checkpoints = 10_000, "10000"
    args.clients = [int(x) for x in str(args.clients).split(",")]
    started = time.perf_counter()
    result = asyncio.run(run(args))
    result["args"] = {k: v for k, v in vars(args).items() if k != "json"}
    result["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print()
    print(table(result))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json} in {result['wall_s']} s")


if __name__ == "__main__":
    main()
