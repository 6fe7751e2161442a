"""The local embedding model eager and traced (memsvc/models/traced.py), alone and beside a busy
Python thread (what the service's event loop is while it works), in the same run.

    .venv/bin/python -m bench.embed_gil [--n 60] [--json bench/results/embed_gil.json]

One-query latency (p50 / p95 over `--n` queries) and a 512-text batch rate, each measured for
the eager model and the traced graph, with and without a thread that spins in Python.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from memsvc.models.embedder import Embedder


def _queries(n: int) -> list[str]:
    topics = ["the garden", "her sister's wedding", "the broken boiler", "a trip to Porto"]
    return [
        f"what did person {i} say about {topics[i % 4]} last {i % 7 + 1} weeks" for i in range(n)
    ]


@contextmanager
def _busy_python(on: bool) -> Iterator[None]:
    """A thread that holds the GIL whenever it can, as an event loop at work does."""
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    thread = threading.Thread(target=spin, daemon=True)
    if on:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if on:
            thread.join()


def _one_query_ms(embed: Callable[[list[str]], object], queries: list[str]) -> list[float]:
    times = []
    for q in queries:
        t0 = time.perf_counter()
        embed([q])
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    embedders = {"eager": Embedder(trace=False), "traced": Embedder(trace=True)}
    queries = _queries(args.n)
    batch = [f"{q} and then {q}" for q in _queries(512)]
    for embedder in embedders.values():
        embedder.embed(queries[:4])
    rows = []
    for busy in (False, True):
        for name, embedder in embedders.items():
            with _busy_python(busy):
                times = _one_query_ms(embedder.embed, queries)
                t0 = time.perf_counter()
                embedder.embed(batch)
                rate = len(batch) / (time.perf_counter() - t0)
            rows.append(
                {
                    "model": name,
                    "busy_python_thread": busy,
                    "one_query_p50_ms": round(statistics.median(times), 1),
                    "one_query_p95_ms": _pct(times, 0.95),
                    "batch_texts_per_s": round(rate, 1),
                }
            )
    print("| model | busy Python thread | 1 query p50 ms | p95 ms | 512-text batch /s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {'yes' if r['busy_python_thread'] else 'no'} | "
            f"{r['one_query_p50_ms']} | {r['one_query_p95_ms']} | {r['batch_texts_per_s']} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"machine": platform.platform(), "cpus": _cpus(), "rows": rows}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
