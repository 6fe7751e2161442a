"""A worker killed in the middle of a job: another worker retries it and the end state is the
one an uninterrupted run reaches.

Cube A: 60 memories added in one call (one `enrich_memories` job); a real `memsvc worker`
process takes the job and is SIGKILLed once some, not all, memories are enriched. The job stays
`running` (nobody is left to finish it) until a second worker sees the dead worker's heartbeat
is stale and puts the job back in the queue. Cube B: the same contents, enriched by that second
worker without interruption. Notes, versions, links and graph mentions must match, content for
content (no LLM is configured: the deterministic fallback makes the runs comparable).

A quick test checks the recovery's guards on the queue alone (workers.runner.retry_stalled_jobs).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from procrastinate.jobs import Status

from memsvc.store.db import libpq_url
from tests.e2e.procs import Worker, until
from tests.e2e.procs import query as _query
from workers import runner
from workers.app import create_app

STALLED_SECONDS = 4

PEOPLE = ["Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hiro", "Ines", "Jonas"]
PLACES = ["Lisbon", "Nairobi", "Osaka", "Toronto", "Krakow", "Lima"]
TOPICS = [
    "graph neural networks for protein folding",
    "medieval trade routes across the Sahara",
    "battery chemistry for cold climates",
    "the economics of urban bike sharing",
    "coral reef bleaching off the Kenyan coast",
]
TEMPLATES = [
    "{p} adopted a beagle named Rex after moving to {c}.",
    "{p} ran the {c} marathon in under four hours last spring.",
    "The quarterly budget review with {q} is scheduled in the {c} office.",
    "{p} is allergic to peanuts and always checks restaurant menus in {c}.",
    "{p} and {q} are writing a paper on {t}.",
    "{p} plays jazz piano every Thursday at a small bar near the {c} harbour.",
    "The server migration that {p} leads moves our databases to a data centre in {c}.",
    "{p} prefers green tea over coffee and drinks it without sugar.",
    "{q} recommended that {p} read a history of the Ottoman empire.",
    "{p} lost a passport at the {c} airport and had to visit the consulate.",
    "{p} teaches {q} to sail on the lake every other weekend.",
    "{p}'s daughter starts primary school in {c} this September.",
]


def _contents() -> list[str]:
    """60 distinct statements that share people and places (links, evolution, entities)."""
    out = []
    for i in range(60):
        template = TEMPLATES[i % len(TEMPLATES)]
        p = PEOPLE[(i * 7) % len(PEOPLE)]
        q = PEOPLE[(i * 3 + 1) % len(PEOPLE)]
        c = PLACES[(i // len(TEMPLATES) + i) % len(PLACES)]
        t = TOPICS[(i // len(TEMPLATES)) % len(TOPICS)]
        out.append(template.format(p=p, q=q if q != p else "Kofi", c=c, t=t))
    assert len(set(out)) == len(out)
    return out


def _enriched(db_url: str, cube_id: str) -> tuple[int, int]:
    ((done, total),) = _query(
        db_url,
        "SELECT count(*) FILTER (WHERE enriched_at IS NOT NULL), count(*) "
        "FROM memories WHERE cube_id = %s",
        cube_id,
    )
    return done, total


def _procrastinate_job(db_url: str, public_id: str) -> tuple[int, str, int, int | None]:
    ((job_id, status, attempts, worker_id),) = _query(
        db_url,
        "SELECT id, status::text, attempts, worker_id FROM procrastinate_jobs "
        "WHERE args->>'job_id' = %s",
        public_id,
    )
    return job_id, status, attempts, worker_id


def _state(db_url: str, cube_id: str) -> dict[str, Any]:
    """The cube's enrichment results, keyed by content (ids differ between cubes)."""
    notes = {
        content: (status, sorted(keywords), sorted(tags), context, versions, enriched)
        for content, status, keywords, tags, context, versions, enriched in _query(
            db_url,
            "SELECT m.content, m.status, m.keywords, m.tags, m.context, "
            "(SELECT count(*) FROM memory_versions v WHERE v.memory_id = m.id), "
            "m.enriched_hash = m.content_hash "
            "FROM memories m WHERE m.cube_id = %s",
            cube_id,
        )
    }
    links = sorted(
        _query(
            db_url,
            "SELECT s.content, t.content, l.link_type FROM memory_links l "
            "JOIN memories s ON s.id = l.source_id JOIN memories t ON t.id = l.target_id "
            "WHERE l.cube_id = %s",
            cube_id,
        )
    )
    mentions = sorted(
        _query(
            db_url,
            "SELECT m.content, n.key FROM graph_mentions g "
            "JOIN memories m ON m.id = g.memory_id JOIN graph_nodes n ON n.id = g.node_id "
            "WHERE g.cube_id = %s",
            cube_id,
        )
    )
    mention_counts = Counter(key for _, key in mentions)
    relations = sorted(
        _query(
            db_url,
            "SELECT s.key, d.key, e.relation, e.kind FROM graph_edges e "
            "JOIN graph_nodes s ON s.id = e.src_id JOIN graph_nodes d ON d.id = e.dst_id "
            "WHERE e.cube_id = %s AND e.memory_id IS NOT NULL",
            cube_id,
        )
    )
    return {
        "notes": notes,
        "links": links,
        "mentions": mentions,
        "mention_counts": mention_counts,
        "relations": relations,
    }


async def _add(client: Any, cube_id: str, contents: list[str]) -> str:
    r = await client.post(
        f"/v1/cubes/{cube_id}/memories", json={"items": [{"content": c} for c in contents]}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert len(body["items"]) == len(contents)
    assert body["job_id"], body
    return str(body["job_id"])


@pytest.mark.slow
async def test_a_killed_worker_s_job_is_retried_to_the_same_end_state(
    client, cube, db_url, tmp_path
):
    started = time.monotonic()
    contents = _contents()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSVC_")}
    env.update(
        MEMSVC_DATABASE_URL=db_url,
        MEMSVC_DATA_DIR=str(tmp_path),
        MEMSVC_LOG_LEVEL="INFO",
        MEMSVC_WORKER_STALLED_SECONDS=str(STALLED_SECONDS),
        MEMSVC_WORKER_CONCURRENCY="2",
    )
    cube_a = cube["id"]
    r = await client.post("/v1/cubes", json={"name": "uninterrupted"})
    assert r.status_code == 201, r.text
    cube_b = r.json()["id"]

    job_a = await _add(client, cube_a, contents)
    assert _enriched(db_url, cube_a) == (0, len(contents))

    first = Worker(env, tmp_path / "worker-1.log")
    second: Worker | None = None
    try:

        async def partly_enriched() -> int | None:
            done, total = _enriched(db_url, cube_a)
            assert done < total, "the job finished before the worker could be killed"
            return done if done >= 1 else None

        done_before = await until("the first memories to be enriched", partly_enriched, first)
        # The process to kill is the worker itself (the console script, no shell in between).
        cmdline = Path(f"/proc/{first.proc.pid}/cmdline").read_bytes().split(b"\0")
        assert any(arg.endswith(b"memsvc") for arg in cmdline) and b"worker" in cmdline, cmdline
        os.kill(first.proc.pid, signal.SIGKILL)
        assert first.proc.wait(timeout=30) == -signal.SIGKILL
        partial, total = _enriched(db_url, cube_a)
        assert 1 <= done_before <= partial < total, (done_before, partial, total)

        # Nobody finishes the dead worker's job: it is still running, on that worker.
        _, status, attempts, dead_worker = _procrastinate_job(db_url, job_a)
        assert (status, attempts) == ("doing", 0)
        assert dead_worker is not None
        job = (await client.get(f"/v1/jobs/{job_a}")).json()
        assert job["status"] == "running", job

        # The uninterrupted run: same contents, another cube, the second worker alone.
        job_b = await _add(client, cube_b, contents)
        second = Worker(env, tmp_path / "worker-2.log")

        async def finished(job_id: str) -> dict[str, Any] | None:
            body = (await client.get(f"/v1/jobs/{job_id}")).json()
            assert body["status"] != "failed", body
            return body if body["status"] == "done" else None

        done_a = await until("the retried job", lambda: finished(job_a), second, interval=0.5)
        done_b = await until("the uninterrupted job", lambda: finished(job_b), second)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert second is not None
    log = second.log()
    assert f"job {job_a} (enrich_memories" in log and "retried" in log, log
    assert done_a["attempts"] == 2, done_a  # the killed run and the retry
    assert done_b["attempts"] == 1, done_b
    assert _enriched(db_url, cube_a) == (len(contents), len(contents))
    assert _enriched(db_url, cube_b) == (len(contents), len(contents))

    got, want = _state(db_url, cube_a), _state(db_url, cube_b)
    assert len(want["notes"]) == len(contents)
    assert want["links"] and want["mentions"], want  # the comparison compares something
    for key in ("notes", "links", "mentions", "mention_counts", "relations"):
        assert got[key] == want[key], key
    print(
        f"killed after {partial}/{total} memories enriched; "
        f"{len(want['links'])} links, {len(want['mentions'])} mentions compared; "
        f"{time.monotonic() - started:.1f}s"
    )


async def _dead_workers_job(app: Any, db_url: str, *, attempts: int = 0) -> tuple[int, int]:
    """A job taken by a worker that then went silent (its heartbeat an hour old)."""
    await app.configure_task("reindex_cube").defer_async(job_id="j", tenant_id="t", cube_id="c")
    worker_id = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
    assert job is not None and job.id is not None
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
            "WHERE id = %s",
            (worker_id,),
        )
        conn.execute(
            "UPDATE procrastinate_jobs SET attempts = %s WHERE id = %s", (attempts, job.id)
        )
    return job.id, worker_id


async def test_stalled_job_recovery_is_guarded(db_url):
    """Two workers finding the same stalled job retry it once; a job a worker runs itself, or
    whose worker is alive, is left alone; a job that killed its worker too often fails."""
    app = create_app(db_url)
    async with app.open_async():
        job_id, dead = await _dead_workers_job(app, db_url)

        # Its own jobs a worker never retries, however late its heartbeat.
        assert await runner.retry_stalled_jobs(app, stalled_seconds=60, exclude={job_id}) == []
        # A live worker's job is not stalled.
        assert await runner.retry_stalled_jobs(app, stalled_seconds=7200) == []

        handled = await asyncio.gather(
            runner.retry_stalled_jobs(app, stalled_seconds=60),
            runner.retry_stalled_jobs(app, stalled_seconds=60),
        )
        assert sorted(len(h) for h in handled) == [0, 1]
        assert _query(db_url, "SELECT status::text, attempts FROM procrastinate_jobs") == [
            ("todo", 1)
        ]

        # A live worker took the retried job: a recovery that saw the job on the dead worker
        # before (the race two recovering workers run) must leave it alone.
        alive = await app.job_manager.register_worker()
        assert (await app.job_manager.fetch_job(queues=None, worker_id=alive)) is not None
        assert await runner.retry_stalled_jobs(app, stalled_seconds=60) == []
        rows = await app.connector.execute_query_all_async(
            runner._RETRY_STALLED, job_id=job_id, worker_id=dead
        )
        assert rows == []
        assert _query(db_url, "SELECT status::text, worker_id FROM procrastinate_jobs") == [
            ("doing", alive)
        ]

        # A job that killed its worker STALLED_MAX_RUNS times fails instead.
        await app.job_manager.finish_job_by_id_async(
            job_id, status=Status.SUCCEEDED, delete_job=True
        )
        poison, _ = await _dead_workers_job(app, db_url, attempts=runner.STALLED_MAX_RUNS - 1)
        (failed,) = await runner.retry_stalled_jobs(app, stalled_seconds=60)
        assert failed.id == poison
        assert _query(db_url, "SELECT status::text FROM procrastinate_jobs") == [("failed",)]
