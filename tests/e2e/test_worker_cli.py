"""`memsvc worker` as a real process: it picks up a job the API queued and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MEMSVC = Path(sys.executable).parent / "memsvc"
JOB_DEADLINE_S = 90.0  # the worker loads the embedding model on its first job


async def test_worker_process_completes_a_queued_job(client, cube, db_url, tmp_path):
    env = {
        **os.environ,
        "MEMSVC_DATABASE_URL": db_url,
        "MEMSVC_DATA_DIR": str(tmp_path),
        "MEMSVC_LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(MEMSVC), "worker", "--concurrency", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            r = await client.post(
                f"/v1/cubes/{cube['id']}/memories",
                json={"items": [{"content": "the worker re-embeds this memory"}]},
            )
            assert r.status_code == 201, r.text
            r = await client.post(f"/v1/cubes/{cube['id']}/reindex")
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]

            deadline = time.monotonic() + JOB_DEADLINE_S
            job: dict = {}
            while time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text()
                job = (await client.get(f"/v1/jobs/{job_id}")).json()
                if job["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.5)
            assert job.get("status") == "done", (job, log_path.read_text())
            assert job["attempts"] == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    assert code == 0, log_path.read_text()
    assert "Stopped worker" in log_path.read_text()
