"""/metrics (Prometheus) and the request-id-carrying JSON logs, against the real app."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from memsvc.observability.logs import JsonFormatter, TextFormatter, request_id_var


def _samples(text: str, name: str) -> dict[str, float]:
    """{labels: value} of one metric in the exposition text."""
    found = {}
    for line in text.splitlines():
        m = re.fullmatch(rf"{re.escape(name)}(\{{.*\}})? (\S+)", line)
        if m:
            found[m.group(1) or ""] = float(m.group(2))
    return found


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log line emitted during the test, formatted as the service writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_metrics_need_no_key_and_show_routes_signals_queue_and_models(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, cube: dict[str, Any]
) -> None:
    cid = cube["id"]
    r = await client.post(
        f"/v1/cubes/{cid}/memories",
        json={"items": [{"content": "Ada prefers green tea in the morning."}]},
    )
    assert r.status_code == 201, r.text
    for _ in range(3):
        r = await client.post(f"/v1/cubes/{cid}/search", json={"query": "what does Ada drink"})
        assert r.status_code == 200, r.text
    await client.get(f"/v1/cubes/{uuid.uuid4()}")  # a 404 on a matched route

    r = await anon.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    latency = _samples(text, "memsvc_http_request_duration_seconds_count")
    search = '{method="POST",route="/v1/cubes/{cube_id}/search",status="2xx"}'
    assert latency[search] == 3
    assert latency['{method="GET",route="/v1/cubes/{cube_id}",status="4xx"}'] == 1
    # per-signal time of each search: the query embedding, BM25, the vector scan, the fusion
    signals = _samples(text, "memsvc_search_signal_duration_seconds_count")
    for signal in ("embed", "lexical", "dense", "fusion"):
        assert signals[f'{{signal="{signal}"}}'] == 3, signals
    assert _samples(text, "memsvc_searches_total")[""] == 3
    # the add queued enrichment and no worker runs in this app: the job waits in the queue
    queued = _samples(text, "memsvc_queue_jobs")
    assert sum(v for k, v in queued.items() if 'status="todo"' in k) >= 1, queued
    assert _samples(text, "memsvc_worker_heartbeat_age_seconds")[""] == -1
    loaded = _samples(text, "memsvc_model_loaded")
    assert any(v == 1 and 'kind="embedding"' in k for k, v in loaded.items()), loaded
    assert all(v > 0 for v in _samples(text, "memsvc_model_resident_bytes").values())
    # series carry templates, never ids: one label per route however many cubes there are
    assert cid not in text


async def test_unmatched_paths_share_one_series(anon: httpx.AsyncClient) -> None:
    for _ in range(3):
        await anon.get(f"/no/such/{uuid.uuid4()}")
    text = (await anon.get("/metrics")).text
    counts = _samples(text, "memsvc_http_request_duration_seconds_count")
    assert counts['{method="GET",route="unmatched",status="4xx"}'] == 3
    assert "/no/such" not in text


async def test_queue_series_drop_to_zero_once_drained(app: Any, anon: httpx.AsyncClient) -> None:
    metrics = app.state.runtime.metrics
    metrics.set_queue([("default", "enrich", "todo", 4)])
    assert 'status="todo"' in metrics.render().decode()
    metrics.set_queue([])
    assert "memsvc_queue_jobs{" not in metrics.render().decode()


async def test_metrics_can_be_switched_off(app: Any, anon: httpx.AsyncClient) -> None:
    rt = app.state.runtime
    rt.settings = rt.settings.model_copy(update={"metrics_enabled": False})
    r = await anon.get("/metrics")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_every_log_line_of_a_request_carries_its_id(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    r = await client.post("/v1/cubes", json={"name": "logged"}, headers={"X-Request-ID": "req-42"})
    assert r.status_code == 201 and r.headers["x-request-id"] == "req-42"
    r = await anon.get("/v1/cubes", headers={"X-Request-ID": "req-43"})  # a 401, logged
    assert r.status_code == 401
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    mine = [e for e in lines if e.get("request_id") == "req-42"]
    access = [e for e in mine if e["logger"] == "memsvc.request"]
    assert len(access) == 1
    assert access[0]["route"] == "/v1/cubes" and access[0]["status"] == 201
    assert access[0]["method"] == "POST" and access[0]["duration_ms"] > 0
    refused = [e for e in lines if e.get("request_id") == "req-43"]
    # the gate's own "401" line and the request line, both with the id
    assert {e["logger"] for e in refused} >= {"api.ratelimit", "memsvc.request"}, refused
    assert all(e["level"] in {"INFO", "WARNING"} for e in refused)
    # a caller's id that is not a plain token is replaced by a fresh one, not logged as sent
    r = await client.get("/v1/cubes", headers={"X-Request-ID": "bad id\twith tab"})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_json_formatter_keeps_extras_and_exceptions() -> None:
    record = logging.LogRecord("memsvc.x", logging.ERROR, __file__, 1, "boom %s", ("!",), None)
    record.model = "minilm"
    record.cube = uuid.UUID(int=7)  # not JSON: written as text
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    token = request_id_var.set("abc")
    try:
        entry = json.loads(JsonFormatter().format(record))
        text = TextFormatter().format(record)
    finally:
        request_id_var.reset(token)
    assert entry["msg"] == "boom !" and entry["level"] == "ERROR"
    assert entry["request_id"] == "abc" and entry["model"] == "minilm"
    assert entry["cube"] == str(uuid.UUID(int=7))
    assert "ValueError: bad" in entry["exc"]
    assert text.endswith("[request abc]") or "[request abc]" in text
