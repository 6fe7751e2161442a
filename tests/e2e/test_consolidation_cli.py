"""The job and consolidation endpoints end to end, over HTTP, against real processes: the worker
inside `memsvc serve`, and `memsvc serve --no-worker` beside a separate `memsvc worker`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

MEMSVC = Path(sys.executable).parent / "memsvc"
ADMIN = "e2e-admin-key-0123456789"
DEADLINE_S = 120.0  # a process loads the embedding model before its first job


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(db_url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MEMSVC_DATABASE_URL": db_url,
        "MEMSVC_DATA_DIR": str(data_dir),
        "MEMSVC_ADMIN_KEY": ADMIN,
        "MEMSVC_LOG_LEVEL": "INFO",
    }


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen([str(MEMSVC), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.asynccontextmanager
async def _tenant(base: str, server: subprocess.Popen[bytes], log: Path) -> AsyncIterator[Any]:
    """Wait for the server, then a client holding a new tenant's key."""
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    ) as admin:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            assert server.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if (await admin.get("/healthz")).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.3)
        tenant = (await admin.post("/v1/admin/tenants", json={"name": "e2e"})).json()
        key = (
            await admin.post(
                "/v1/admin/keys", json={"tenant_id": tenant["id"], "scopes": ["read", "write"]}
            )
        ).json()["key"]
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


async def _wait(client: httpx.AsyncClient, job_id: str, logs: list[Path]) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        await asyncio.sleep(0.5)
    raise AssertionError("job did not finish: " + "\n".join(p.read_text() for p in logs))


async def _exercise(client: httpx.AsyncClient, logs: list[Path]) -> None:
    cube = (await client.post("/v1/cubes", json={"name": "life"})).json()["id"]
    items = [
        {"content": c, "user_id": "sam", "occurred_at": f"2024-03-0{day}T10:00:00Z"}
        for day, c in (
            (1, "I love sailing on the lake with my brother."),
            (1, "We planned a trip to Lisbon for the spring."),
            (2, "I prefer green tea over coffee in the morning."),
        )
    ]
    added = (await client.post(f"/v1/cubes/{cube}/memories", json={"items": items})).json()
    assert {m["status"] for m in added["items"]} == {"pending"}
    enrich = await _wait(client, added["job_id"], logs)
    assert enrich["status"] == "done" and enrich["kind"] == "enrich_memories", enrich
    listed = (await client.get(f"/v1/cubes/{cube}/memories")).json()["items"]
    assert {m["status"] for m in listed} == {"active"}

    r = await client.post(f"/v1/cubes/{cube}/consolidate", json={"kinds": ["summaries"]})
    assert r.status_code == 202, r.text
    job = await _wait(client, r.json()["job_id"], logs)
    assert job["status"] == "done" and job["kind"] == "consolidate_cube", job
    assert job["cube_id"] == cube and job["attempts"] == 1
    made = (await client.get(f"/v1/cubes/{cube}/memories")).json()["items"]
    origins = sorted(m["origin"] for m in made if m["origin"])
    assert origins == ["daily_summary", "daily_summary", "global_summary", "portrait"], origins
    daily = next(m for m in made if m["origin"] == "daily_summary" and "03-01" in m["content"])
    lineage = (await client.get(f"/v1/cubes/{cube}/memories/{daily['id']}/lineage")).json()
    assert len(lineage["sources"]) == 2
    assert {s["relation"] for s in lineage["sources"]} == {"summarizes"}
    r = await client.post(f"/v1/cubes/{cube}/consolidate", json={"kinds": ["nonsense"]})
    assert r.status_code == 422


async def test_consolidation_with_the_worker_inside_serve(db_url, tmp_path):
    port = _free_port()
    log = tmp_path / "serve.log"
    env = _env(db_url, tmp_path / "data")
    with _process(["serve", "--port", str(port)], env, log) as server:
        async with _tenant(f"http://127.0.0.1:{port}", server, log) as client:
            await _exercise(client, [log])
    assert "memsvc serving" in log.read_text()


async def test_consolidation_with_a_separate_worker(db_url, tmp_path):
    port = _free_port()
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    env = _env(db_url, tmp_path / "data")
    with _process(["serve", "--no-worker", "--port", str(port)], env, serve_log) as server:
        async with _tenant(f"http://127.0.0.1:{port}", server, serve_log) as client:
            # No worker yet: a queued job stays queued.
            cube = (await client.post("/v1/cubes", json={"name": "wait"})).json()["id"]
            r = await client.post(f"/v1/cubes/{cube}/consolidate", json={})
            assert r.status_code == 202, r.text
            await asyncio.sleep(2.0)
            assert (await client.get(f"/v1/jobs/{r.json()['job_id']}")).json()["status"] == (
                "queued"
            )
            with _process(["worker", "--concurrency", "2"], env, worker_log):
                done = await _wait(client, r.json()["job_id"], [serve_log, worker_log])
                assert done["status"] == "done", done
                await _exercise(client, [serve_log, worker_log])
