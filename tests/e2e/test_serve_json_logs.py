"""`memsvc serve` as shipped writes one JSON object per log line, each request's lines carrying
its X-Request-ID, and serves /metrics, through a real uvicorn process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import Process, free_port, until

pytestmark = pytest.mark.slow

ADMIN = "e2e-admin-key-json-logs-0123"


async def test_serve_logs_json_lines_with_request_ids(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MEMSVC_DATABASE_URL": db_url,
        "MEMSVC_DATA_DIR": str(tmp_path / "data"),
        "MEMSVC_ADMIN_KEY": ADMIN,
        "MEMSVC_LOG_LEVEL": "INFO",
    }
    env.pop("MEMSVC_LOG_FORMAT", None)  # the default
    server = Process(["serve", "--no-worker", "--port", str(port)], env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:

            async def up() -> bool | None:
                try:
                    return (await http.get("/healthz")).status_code == 200 or None
                except httpx.TransportError:
                    return None

            await until("the server to answer", up, server, deadline_s=120)
            admin = {"Authorization": f"Bearer {ADMIN}", "X-Request-ID": "e2e-req-1"}
            r = await http.post("/v1/admin/tenants", json={"name": "logged"}, headers=admin)
            assert r.status_code == 201, r.text
            assert r.headers["x-request-id"] == "e2e-req-1"
            metrics = (await http.get("/metrics")).text
            assert 'route="/v1/admin/tenants",status="2xx"' in metrics
    finally:
        server.stop()
    lines = [line for line in server.log().splitlines() if line.strip()]
    entries = []
    for line in lines:
        if line.startswith("{"):
            entries.append(json.loads(line))
    # everything the service itself logs is JSON (uvicorn's startup lines included)
    assert any(e["logger"].startswith("uvicorn") for e in entries), lines
    assert any("memsvc serving on" in e["msg"] for e in entries), lines
    request = [e for e in entries if e.get("request_id") == "e2e-req-1"]
    assert [e["logger"] for e in request] == ["memsvc.request"], request
    assert request[0]["status"] == 201 and request[0]["route"] == "/v1/admin/tenants"
    # no plain-text access log line beside the JSON one
    plain = [line for line in lines if not line.startswith("{")]
    assert not any("POST /v1/admin/tenants" in line for line in plain), plain
