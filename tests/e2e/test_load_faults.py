"""Load and faults against real processes.

1. 32 concurrent clients (8 per tenant, 4 per cube) against a real `memsvc serve` (uvicorn on a
   loopback port) and a PostgreSQL of its own, each mixing adds, searches, patches, soft and
   hard deletes and restores on its own memories, and now and then a reindex of its cube (a job
   the in-process worker runs meanwhile): no 5xx, every acknowledged write reads back as
   acknowledged (content, version, status, history), each cube's listing reconciles with the
   acknowledged adds and hard deletes, and every job succeeds. Enrichment is off: a 2-core
   machine would spend minutes on the notes of 800 operations (tests/e2e/test_worker_kill.py
   and tests/api cover it).
2. The same, while PostgreSQL is stopped (as a crash would: no checkpoint, connections cut)
   and started again on the same port and data directory, the API process left running: the
   API answers 503 `unavailable` with the error shape and `Retry-After` (never a 500, never a
   hang), /readyz says not ready, then both recover by themselves; acknowledged writes from
   before, during and after are all there, refused ones are not (a retry is safe), and the
   in-process worker runs jobs again.
   (A quick test checks the worker's restart and the hand-back of its jobs on their own.)
3. A `memsvc worker` SIGKILLed in the middle of a `consolidate_cube` job (summaries written,
   the rest not): a second worker retries the job, and the cube ends exactly as an identical
   cube consolidated without interruption: memories, statuses, summaries by derived key,
   versions per memory, lineage.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from tests.conftest import ADMIN_KEY
from tests.e2e.load_clients import CLIENT_TIMEOUT_S, Agent, summary, verify
from tests.e2e.procs import Postgres, Process, Worker, free_port, query, until
from workers import runner
from workers.app import create_app as create_queue

ADMIN = "faults-admin-key-0123456789"
CLIENTS = 32
TENANTS = 4
CUBES_PER_TENANT = 2
OPS_PER_CLIENT = 25
STARTUP_S = 300.0  # migrations, then the embedding model, on a loaded 2-core machine
RECOVERY_BOUND_S = 90.0  # the API and its worker are back this soon after PostgreSQL is


@dataclasses.dataclass
class Service:
    pg: Postgres
    server: Process
    base: str
    db_url: str


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSVC_")}
    env.update(
        MEMSVC_LOG_LEVEL="INFO",
        MEMSVC_CONSOLIDATION_CRON="",
        MEMSVC_ACTIVATION_REFRESH_CRON="",
        **extra,
    )
    return env


def _admin(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=CLIENT_TIMEOUT_S
    )


async def _readyz(base: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S) as http:
        return await http.get("/readyz")


@pytest.fixture(scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """`memsvc serve` (with its in-process worker) on a PostgreSQL of its own."""
    pg = Postgres()
    try:
        db_url = pg.create_database("memsvc")
        root = tmp_path_factory.mktemp("serve")
        port = free_port()
        env = _env(
            MEMSVC_DATABASE_URL=db_url,
            MEMSVC_DATA_DIR=str(root / "data"),
            MEMSVC_ADMIN_KEY=ADMIN,
            MEMSVC_WORKER_STALLED_SECONDS="10",
            MEMSVC_ENRICHMENT="false",
        )
        server = Process(["serve", "--port", str(port)], env, root / "serve.log")
        try:
            service = Service(pg, server, f"http://127.0.0.1:{port}", db_url)

            async def ready() -> bool | None:
                with contextlib.suppress(httpx.TransportError):
                    if (await _readyz(service.base)).status_code == 200:
                        return True
                return None

            await until("the server to be ready", ready, server, 0.3, STARTUP_S)
            # Load the embedding model before anything is timed.
            async with _admin(service.base) as admin:
                (key,) = await _tenant_keys(admin, "warm-up", 1)
            async with _client(service.base, key) as http:
                cube = await _cube(http, "warm-up")
                r = await http.post(
                    f"/v1/cubes/{cube}/search", json={"query": "warm up", "top_k": 1}
                )
                assert r.status_code == 200, r.text
            yield service
        finally:
            code = server.stop()
            log = server.log()
            assert code in (0, -signal.SIGTERM), log  # uvicorn re-raises the signal it handled
            assert "unhandled error" not in log, log
    finally:
        pg.destroy()


def _queue(db_url: str) -> dict[str, int]:
    rows = query(db_url, "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")
    return {status: int(n) for status, n in rows}


async def _drained(service: Service, deadline_s: float = 600) -> dict[str, int]:
    """Wait until the in-process worker has run every queued job; the queue's counts."""

    async def idle() -> dict[str, int] | None:
        counts = _queue(service.db_url)
        return counts if not counts.get("todo") and not counts.get("doing") else None

    return await until("the job queue to drain", idle, service.server, 0.5, deadline_s)


def _client(base: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        timeout=CLIENT_TIMEOUT_S,
        limits=httpx.Limits(max_connections=4),
    )


async def _tenant_keys(admin: httpx.AsyncClient, prefix: str, n: int) -> list[str]:
    keys = []
    for i in range(n):
        tenant = await admin.post("/v1/admin/tenants", json={"name": f"{prefix}-{i}"})
        assert tenant.status_code == 201, tenant.text
        key = await admin.post(
            "/v1/admin/keys", json={"tenant_id": tenant.json()["id"], "scopes": ["read", "write"]}
        )
        assert key.status_code == 201, key.text
        keys.append(key.json()["key"])
    return keys


async def _cube(http: httpx.AsyncClient, name: str) -> str:
    r = await http.post("/v1/cubes", json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@contextlib.asynccontextmanager
async def _agents(service: Service, prefix: str, *, allow_503: bool) -> AsyncIterator[list[Agent]]:
    """CLIENTS agents: TENANTS tenants, CUBES_PER_TENANT cubes each, an HTTP client per agent
    (the agents of a tenant share its key)."""
    async with _admin(service.base) as admin:
        keys = await _tenant_keys(admin, prefix, TENANTS)
    async with contextlib.AsyncExitStack() as stack:
        cubes: dict[tuple[int, int], str] = {}
        agents = []
        for i in range(CLIENTS):
            tenant, cube = i % TENANTS, (i // TENANTS) % CUBES_PER_TENANT
            http = await stack.enter_async_context(_client(service.base, keys[tenant]))
            if (tenant, cube) not in cubes:
                cubes[tenant, cube] = await _cube(http, f"{prefix}-{cube}")
            agents.append(Agent(i, http, cubes[tenant, cube], allow_503=allow_503))
        yield agents


@pytest.mark.slow
async def test_32_concurrent_clients_lose_nothing(service: Service) -> None:
    async with _agents(service, "load", allow_503=False) as agents:
        started = time.monotonic()

        async def run(agent: Agent) -> None:
            for _ in range(OPS_PER_CLIENT):
                await agent.step()

        await asyncio.gather(*(run(a) for a in agents))
        took = time.monotonic() - started
        seen = summary(agents)
        assert not seen["errors"], seen["errors"][:20]
        assert all(status < 500 for status in seen["statuses"]), seen
        assert seen["requests"] == CLIENTS * OPS_PER_CLIENT
        queue = await _drained(service)
        drained = time.monotonic() - started - took
        assert not queue.get("failed"), queue
        checked = await verify(agents, settled=True)
    assert checked["cubes"] == TENANTS * CUBES_PER_TENANT
    assert checked["cubes_reconciled"] == checked["cubes"]
    assert checked["memories"] > CLIENTS and checked["purged"] and checked["soft_deleted"]
    print(
        f"\n{CLIENTS}x{OPS_PER_CLIENT} operations in {took:.1f}s, jobs drained {drained:.1f}s "
        f"later ({queue}): {seen}; checked {checked}"
    )


@pytest.mark.slow
async def test_a_postgres_restart_mid_run_is_503_then_heals(service: Service) -> None:
    pg, base = service.pg, service.base
    async with _agents(service, "outage", allow_503=True) as agents:
        stop = asyncio.Event()
        ready_seen: list[tuple[float, int, dict[str, Any]]] = []

        async def run(agent: Agent) -> None:
            while not stop.is_set():
                await agent.step()
                if agent.last_refused:
                    await asyncio.sleep(0.5)  # shorter than Retry-After: more to observe

        def acknowledged() -> int:
            return sum(a.ledger.acknowledged for a in agents)

        def refused() -> int:
            return sum(a.ledger.refused for a in agents)

        async def at_least(what: str, count: Any, n: int, deadline_s: float) -> None:
            async def enough() -> bool | None:
                return True if count() >= n else None

            await until(what, enough, service.server, 0.05, deadline_s)

        async def readiness(want: int, deadline_s: float) -> dict[str, Any]:
            async def check() -> dict[str, Any] | None:
                r = await _readyz(base)
                ready_seen.append((time.monotonic(), r.status_code, r.json()))
                return dict(r.json()) if r.status_code == want else None

            return await until(f"/readyz {want}", check, service.server, 0.2, deadline_s)

        clients = asyncio.gather(*(run(a) for a in agents))
        try:
            await at_least("writes before the outage", acknowledged, 3 * CLIENTS, 300)
            # A job running when the database goes away: its worker dies with it, and the
            # restarted worker must run it again.
            for agent in agents[: TENANTS * CUBES_PER_TENANT]:
                assert await agent.reindex() is not None

            async def a_running_job() -> str | None:
                rows = query(
                    service.db_url,
                    "SELECT args->>'job_id' FROM procrastinate_jobs WHERE status = 'doing'",
                )
                return str(rows[0][0]) if rows else None

            interrupted = await until("a running job", a_running_job, service.server, 0.05, 120)
            before = acknowledged()
            stopped_at = datetime.now(UTC)
            await asyncio.to_thread(pg.stop)
            down_at = time.monotonic()
            not_ready = await readiness(503, 60)
            assert not_ready["status"] == "not_ready", not_ready
            assert not_ready["checks"]["database"].startswith("unreachable"), not_ready
            await at_least("503s from the API", refused, CLIENTS, 60)

            # Down long enough for the in-process worker to give up too (its pool waits 10 s
            # for a connection) and stop, so that it has to start again by itself.
            async def worker_stopped() -> bool | None:
                return True if "starting it again" in service.server.log() else None

            await until("the worker to stop", worker_stopped, service.server, 0.2, 120)
            await asyncio.to_thread(pg.start)
            up_at = time.monotonic()
            ready = await readiness(200, RECOVERY_BOUND_S)
            healed_s = time.monotonic() - up_at
            assert all(ready["checks"][k] == "ok" for k in ("database", "migrations", "worker"))
            after = acknowledged()
            await at_least("writes after the outage", acknowledged, after + 3 * CLIENTS, 300)
        finally:
            stop.set()
            await clients
        seen = summary(agents)
        assert not seen["errors"], seen["errors"][:20]
        assert set(seen["statuses"]) <= {200, 201, 202, 204, 503}, seen
        assert seen["statuses"].get(503, 0) >= CLIENTS, seen
        # The in-process worker came back too: it runs every job, those its predecessor was
        # running when the database went away included, and none fails.
        queue = await _drained(service)
        assert not queue.get("failed"), queue
        ((status,),) = query(
            service.db_url,
            "SELECT status::text FROM procrastinate_jobs WHERE args->>'job_id' = %s",
            interrupted,
        )
        assert status == "succeeded", status
        events = query(
            service.db_url,
            "SELECT e.type::text, e.at FROM procrastinate_events e "
            "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.args->>'job_id' = %s",
            interrupted,
        )
        log = service.server.log()
        # Unless it ended in the instant between the query and the stop, the job was cut off
        # with its worker: the restarted worker put it back in the queue and ran it again.
        cut_off = not any(
            kind in ("succeeded", "failed", "deferred_for_retry") and at < stopped_at
            for kind, at in events
        )
        if cut_off:
            assert f"job {interrupted} (reindex_cube" in log, log[-5000:]
            assert sum(kind == "started" for kind, _ in events) >= 2, events
        checked = await verify(agents, settled=True)
    refusals = sum(a.ledger.refused for a in agents)
    print(
        f"\n{before} acknowledged before the stop; PostgreSQL down "
        f"{up_at - down_at:.1f}s; ready again {healed_s:.1f}s after its start; "
        f"{refusals} requests refused with 503; {seen}; checked {checked}; "
        f"jobs {queue}; worker restarts: {log.count('starting it again')}; "
        f"a running job cut off and run again: {cut_off}"
    )


async def test_a_worker_that_stopped_is_started_again_and_hands_back_its_jobs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """work_forever starts a worker again when it fails (the database went away), and the new
    one puts back in the queue, at once, the job the failed one was running."""
    monkeypatch.setattr(runner, "RESTART_MIN_DELAY_S", 0.01)
    queue = create_queue(db_url)
    calls: list[set[int]] = []
    async with queue.open_async():
        await queue.configure_task("reindex_cube").defer_async(
            job_id="j", tenant_id="t", cube_id="c"
        )
        dead = await queue.job_manager.register_worker()
        job = await queue.job_manager.fetch_job(queues=None, worker_id=dead)
        assert job is not None

        async def fake_work(
            url: str, runtime: Any, *, running: Any, gone_workers: set[int], **_: Any
        ) -> None:
            calls.append(set(gone_workers))
            if len(calls) == 1:  # the first worker ran the job, then lost its database
                running.worker_ids.add(dead)
                raise ConnectionError("server closed the connection unexpectedly")
            await runner.retry_jobs_of_gone_workers(queue, gone_workers)
            raise asyncio.CancelledError  # stop here: the real one would run the job now

        monkeypatch.setattr(runner, "work", fake_work)
        with pytest.raises(asyncio.CancelledError):
            await runner.work_forever(db_url, runtime=None, concurrency=1)  # type: ignore[arg-type]
    assert calls == [set(), {dead}]
    assert query(db_url, "SELECT status::text, attempts, worker_id FROM procrastinate_jobs") == [
        ("todo", 1, None)
    ]
    assert query(db_url, "SELECT count(*) FROM procrastinate_workers WHERE id = %s", dead) == [(0,)]
    assert "starting it again" in caplog.text and "database went away" in caplog.text


# --- 3. a worker SIGKILLed mid-consolidation ---------------------------------------------------

USERS = ["ana", "ben", "caro", "dev"]
DAYS = 10
PER_DAY = 4
TOPICS = [
    "went climbing at the indoor wall",
    "cooked a lentil curry for friends",
    "read two chapters of a novel about whalers",
    "argued about train timetables",
    "fixed the bicycle's rear brake",
    "planted tomatoes on the balcony",
    "watched a documentary on glaciers",
    "practised Spanish verbs for an hour",
]
STALLED_SECONDS = 4


def _cube_items() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(old, new) memories of a cube: episodes of USERS over DAYS days, and a few statements.
    The old ones are added with the service clock 60 days back, so forgetting archives them."""
    old, new = [], []
    for d in range(DAYS):
        for u, user in enumerate(USERS):
            for k in range(PER_DAY):
                item = {
                    "content": f"{user} {TOPICS[(d + u + k) % len(TOPICS)]} (day {d}, {k})",
                    "user_id": user,
                    "occurred_at": f"2024-05-{d + 1:02d}T{9 + k:02d}:00:00Z",
                }
                (old if (d + k) % 2 == 0 else new).append(item)
    for user in USERS:
        for text in ("I prefer tea to coffee", "I hate waking up early", "I love long walks"):
            new.append(
                {"content": f"{text} (said {user})", "user_id": user, "memory_type": "semantic"}
            )
    return old, new


def _consolidated_state(db_url: str, cube_id: str) -> dict[str, Any]:
    """A cube's memories keyed by derived key (summaries) or content (the rest; ids differ
    between cubes): status, type, user, origin, content, version and change kinds; lineage."""
    rows = query(
        db_url,
        "SELECT m.id, coalesce(m.derived_key, m.content), m.status, m.memory_type, m.user_id, "
        "m.origin, m.content, m.version, "
        "(SELECT array_agg(v.change_kind ORDER BY v.version) FROM memory_versions v "
        " WHERE v.memory_id = m.id) "
        "FROM memories m WHERE m.cube_id = %s",
        cube_id,
    )
    key_of = {row[0]: row[1] for row in rows}
    memories = {row[1]: row[2:] for row in rows}
    assert len(memories) == len(rows), "two memories share a derived key or a content"
    lineage = sorted(
        (key_of[m], key_of[s], relation)
        for m, s, relation in query(
            db_url,
            "SELECT memory_id, source_id, relation FROM memory_sources WHERE cube_id = %s",
            cube_id,
        )
    )
    statuses = collections.Counter(row[2] for row in rows)
    origins = collections.Counter(row[5] for row in rows)
    return {"memories": memories, "lineage": lineage, "statuses": statuses, "origins": origins}


@pytest.fixture
async def quiet_app(db_url: str, test_settings: Any, embedder: Any) -> AsyncIterator[Any]:
    """The API in this process, without enrichment: only consolidation changes the cubes."""
    settings = test_settings.model_copy(update={"enrichment": False})
    application = create_app(settings, database_url=db_url, embedder=embedder)
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.slow
async def test_a_worker_killed_mid_consolidation_changes_nothing(
    quiet_app: Any, db_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    transport = httpx.ASGITransport(app=quiet_app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as admin:
        (key,) = await _tenant_keys(admin, "consolidation", 1)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        cube_a, cube_b = await _cube(http, "interrupted"), await _cube(http, "uninterrupted")
        old, new = _cube_items()
        runtime = quiet_app.state.runtime
        back = datetime.now(UTC) - timedelta(days=60)
        for cube in (cube_a, cube_b):
            runtime.clock = lambda: back
            try:
                r = await http.post(f"/v1/cubes/{cube}/memories", json={"items": old})
            finally:
                runtime.clock = lambda: datetime.now(UTC)
            assert r.status_code == 201, r.text
            r = await http.post(f"/v1/cubes/{cube}/memories", json={"items": new})
            assert r.status_code == 201, r.text
        total = len(old) + len(new)

        async def consolidate(cube: str) -> str:
            r = await http.post(f"/v1/cubes/{cube}/consolidate", json={})
            assert r.status_code == 202, r.text
            return str(r.json()["job_id"])

        def progress(cube: str) -> tuple[int, int, int]:
            ((daily, other, archived),) = query(
                db_url,
                "SELECT count(*) FILTER (WHERE origin = 'daily_summary'), "
                "count(*) FILTER (WHERE origin IN ('global_summary', 'portrait')), "
                "count(*) FILTER (WHERE status = 'archived') FROM memories WHERE cube_id = %s",
                cube,
            )
            return daily, other, archived

        job_a = await consolidate(cube_a)
        env = _env(
            MEMSVC_DATABASE_URL=db_url,
            MEMSVC_DATA_DIR=str(tmp_path),
            MEMSVC_WORKER_STALLED_SECONDS=str(STALLED_SECONDS),
        )
        first = Worker(env, tmp_path / "worker-1.log", "--concurrency", "1")
        second: Worker | None = None
        try:

            async def summarised() -> tuple[int, int, int] | None:
                seen = progress(cube_a)
                return seen if seen[0] else None

            # Kill it once the daily summaries are written (global summaries, portraits and
            # the forgetting sweep still to come).
            await until("the daily summaries", summarised, first, 0.02)
            first.kill()
            at_kill = progress(cube_a)
            ((status, attempts),) = query(
                db_url,
                "SELECT status::text, attempts FROM procrastinate_jobs WHERE args->>'job_id' = %s",
                job_a,
            )
            assert (status, attempts) == ("doing", 0), "the job ended before the kill"

            job_b = await consolidate(cube_b)
            second = Worker(env, tmp_path / "worker-2.log", "--concurrency", "2")

            async def finished(job_id: str) -> dict[str, Any] | None:
                body = (await http.get(f"/v1/jobs/{job_id}")).json()
                assert body["status"] != "failed", body
                return dict(body) if body["status"] == "done" else None

            done_a = await until("the retried job", lambda: finished(job_a), second, 0.5)
            done_b = await until("the uninterrupted job", lambda: finished(job_b), second, 0.5)
        finally:
            first.stop()
            if second is not None:
                second.stop()

    assert second is not None
    assert f"job {job_a} (consolidate_cube" in second.log(), second.log()
    assert done_a["attempts"] == 2 and done_b["attempts"] == 1, (done_a, done_b)
    got, want = _consolidated_state(db_url, cube_a), _consolidated_state(db_url, cube_b)
    # The comparison compares something: summaries were made, old memories archived.
    assert want["origins"]["daily_summary"] == DAYS * len(USERS), want["origins"]
    assert want["origins"]["global_summary"] == want["origins"]["portrait"] == len(USERS)
    assert want["statuses"]["archived"] == len(old), want["statuses"]
    assert len(want["memories"]) == total + DAYS * len(USERS) + 2 * len(USERS)
    assert at_kill[1:] != progress(cube_b)[1:], (at_kill, "the kill left nothing to redo")
    for part in ("statuses", "origins", "lineage", "memories"):
        assert got[part] == want[part], part
    print(
        f"\nkilled at {at_kill} (daily, global+portraits, archived); "
        f"{len(want['memories'])} memories and {len(want['lineage'])} lineage rows compared; "
        f"{time.monotonic() - started:.1f}s"
    )
