"""Embedding throughput on the auto-selected device (GPU when torch sees one) against the CPU,
in the same run, and how far the two devices' vectors differ.

    .venv/bin/python -m bench.embed_device [--model NAME_OR_PATH] [--n 2000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from memsvc.config import DEFAULT_EMBEDDING_MODEL
from memsvc.models.embedder import Embedder, pick_device

SUBJECTS = ["Maya", "the team", "my landlord", "Grandpa Joe", "our cat", "the new intern"]
VERBS = ["moved to", "asked about", "finally fixed", "never liked", "wrote a poem on", "visited"]
OBJECTS = [
    "Lisbon",
    "the leaking roof",
    "the quarterly report",
    "a vegan bakery",
    "the PostgreSQL upgrade",
    "a jazz concert last Friday",
    "his knee surgery",
]


def sentences(n: int) -> list[str]:
    out = []
    for i in range(n):
        s, v, o = SUBJECTS[i % 6], VERBS[(i // 6) % 6], OBJECTS[(i // 36) % 7]
        out.append(f"{s} {v} {o} (note {i}).")
    return out


def throughput(embedder: Embedder, texts: list[str]) -> tuple[float, np.ndarray, float]:
    embedder.embed(texts[:64])  # load and warm up
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    seconds = time.perf_counter() - started
    singles = []
    for text in texts[:20]:
        one = time.perf_counter()
        embedder.embed([text])
        singles.append((time.perf_counter() - one) * 1000)
    return len(texts) / seconds, vectors, float(np.median(singles))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_EMBEDDING_MODEL)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--json", default="bench/results/embed_device.json")
    parser.add_argument("--batch-size", type=int, default=64, help="for the accelerator")
    args = parser.parse_args()
    texts = sentences(args.n)
    device = pick_device(None)
    rows = {}
    cpu_rate, cpu_vectors, cpu_one = throughput(Embedder(args.model, device="cpu"), texts)
    rows["cpu"] = {"sentences_per_s": round(cpu_rate, 1), "one_sentence_ms": round(cpu_one, 2)}
    result = {
        "auto_device": device,
        "n": args.n,
        "model": args.model,
        "rows": rows,
        "machine": platform.platform(),
    }
    if device != "cpu":
        rate, vectors, one = throughput(Embedder(args.model, batch_size=args.batch_size), texts)
        rows[device] = {"sentences_per_s": round(rate, 1), "one_sentence_ms": round(one, 2)}
        cosines = np.sum(vectors * cpu_vectors, axis=1)
        result["min_cosine_vs_cpu"] = float(cosines.min())
        result["speedup"] = round(rate / cpu_rate, 1)
    print(f"{'device':<8}{'sentences/s':>14}{'1 sentence ms':>16}")
    for name, row in rows.items():
        print(f"{name:<8}{row['sentences_per_s']:>14}{row['one_sentence_ms']:>16}")
    if "speedup" in result:
        print(
            f"auto device {device}: {result['speedup']}x the CPU; "
            f"min cosine to the CPU vectors {result['min_cosine_vs_cpu']:.6f}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
