"""The LLM layer through litellm's own mock path (no network), usage on real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel, Field

from memsvc.config import Settings
from memsvc.models.llm import LLM, LLMResult
from memsvc.services.usage import DatabaseUsageSink
from memsvc.store.db import libpq_url

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-mini"  # in litellm's local cost map, so the cost is known and > 0


class Facts(BaseModel):
    facts: list[str] = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)


def _fallback() -> Facts:
    return Facts(facts=["deterministic"], confidence=0.0)


PROMPT = [{"role": "user", "content": "Extract the facts: Alice moved to Paris in 2021."}]
GOOD = '{"facts": ["Alice moved to Paris", "in 2021"], "confidence": 0.9}'


def _llm(test_settings: Settings, replies: list[Any], **overrides: Any) -> LLM:
    values = {"llm_model": MODEL, "llm_max_retries": 2, **overrides}
    return LLM(test_settings.model_copy(update=values), mock_responses=replies)


def _usage_rows(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        cur = conn.execute(
            "SELECT tenant_id, cube_id, task, model, source, attempts, prompt_tokens, "
            "completion_tokens, cost_usd FROM llm_usage ORDER BY id"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


async def _call(
    llm: LLM, app: Any, tenant_id: str, cube_id: str | None, task: str = "extract_facts"
) -> LLMResult[Facts]:
    sink = DatabaseUsageSink(
        app.state.runtime, uuid.UUID(tenant_id), uuid.UUID(cube_id) if cube_id else None
    )
    return await llm.structured(
        prompt=PROMPT, schema=Facts, task=task, fallback=_fallback, usage_sink=sink
    )


async def test_valid_json_is_parsed_and_recorded(app, client, cube, test_settings, db_url):
    result = await _call(_llm(test_settings, [GOOD]), app, client.tenant_id, cube["id"])
    assert result.source == "llm"
    assert result.value == Facts(facts=["Alice moved to Paris", "in 2021"], confidence=0.9)
    assert result.attempts == 1 and result.fallback_reason is None
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.cost_known and result.cost_usd > 0
    [row] = _usage_rows(db_url)
    assert row["source"] == "llm" and row["task"] == "extract_facts" and row["model"] == MODEL
    assert str(row["tenant_id"]) == client.tenant_id and str(row["cube_id"]) == cube["id"]
    assert row["prompt_tokens"] == result.prompt_tokens > 0
    assert row["completion_tokens"] == result.completion_tokens > 0
    assert row["cost_usd"] == pytest.approx(result.cost_usd)


async def test_fenced_and_sloppy_json_is_repaired(app, client, cube, test_settings):
    sloppy = "Here you go:\n```json\n{'facts': ['Alice moved to Paris',], 'confidence': 0.5,}\n```"
    result = await _call(_llm(test_settings, [sloppy]), app, client.tenant_id, cube["id"])
    assert result.source == "llm" and result.attempts == 1
    assert result.value.facts == ["Alice moved to Paris"]


async def test_invalid_json_then_valid_on_retry(app, client, cube, test_settings, db_url):
    llm = _llm(test_settings, ["I cannot answer in JSON, sorry.", GOOD])
    result = await _call(llm, app, client.tenant_id, cube["id"])
    assert result.source == "llm" and result.attempts == 2
    assert result.value.confidence == 0.9
    assert "no JSON object" in result.errors[0]
    [row] = _usage_rows(db_url)
    # tokens of both attempts are counted: the failed one was paid for too
    assert row["attempts"] == 2 and row["source"] == "llm"
    assert row["prompt_tokens"] == result.prompt_tokens
    single = await _call(_llm(test_settings, [GOOD]), app, client.tenant_id, cube["id"])
    assert result.prompt_tokens == 2 * single.prompt_tokens
    assert result.completion_tokens == 2 * single.completion_tokens


async def test_invalid_every_time_falls_back_and_is_recorded(
    app, client, cube, test_settings, db_url
):
    llm = _llm(test_settings, ["nope", "{still not json", "```json\n[1, 2]\n```"])
    result = await _call(llm, app, client.tenant_id, cube["id"])
    assert result.source == "fallback" and result.fallback_reason == "invalid_json"
    assert result.value == _fallback()
    assert result.attempts == 3 == test_settings.llm_max_retries + 1
    assert len(result.errors) == 3
    [row] = _usage_rows(db_url)
    assert row["source"] == "fallback" and row["attempts"] == 3
    assert row["prompt_tokens"] == result.prompt_tokens > 0


async def test_schema_mismatch_is_retried_then_falls_back(app, client, cube, test_settings):
    wrong = '{"facts": [], "confidence": 7}'  # valid JSON, invalid for the schema
    fixed = await _call(_llm(test_settings, [wrong, GOOD]), app, client.tenant_id, cube["id"])
    assert fixed.source == "llm" and fixed.attempts == 2
    assert "does not match the schema" in fixed.errors[0] and "confidence" in fixed.errors[0]

    never = _llm(test_settings, [wrong], llm_max_retries=1)
    result = await _call(never, app, client.tenant_id, cube["id"])
    assert result.source == "fallback" and result.fallback_reason == "schema_mismatch"
    assert result.attempts == 2 and result.value == _fallback()


async def test_zero_retries_means_one_attempt(app, client, cube, test_settings):
    llm = _llm(test_settings, ["nope", GOOD], llm_max_retries=0)
    result = await _call(llm, app, client.tenant_id, cube["id"])
    assert result.source == "fallback" and result.attempts == 1


async def test_api_errors_are_retried_then_fall_back(app, client, cube, test_settings, db_url):
    llm = _llm(test_settings, [RuntimeError("server hiccup"), GOOD])
    result = await _call(llm, app, client.tenant_id, cube["id"])
    assert result.source == "llm" and result.attempts == 2
    assert "server hiccup" in result.errors[0]

    down = _llm(test_settings, [RuntimeError("server down")])
    result = await _call(down, app, client.tenant_id, cube["id"])
    assert result.source == "fallback" and result.fallback_reason == "llm_error"
    assert result.attempts == 3 and result.prompt_tokens == 0
    rows = _usage_rows(db_url)
    assert [r["source"] for r in rows] == ["llm", "fallback"]


async def test_unknown_price_is_recorded_as_unknown(app, client, cube, test_settings, db_url):
    llm = _llm(
        test_settings,
        [GOOD],
        llm_model="my-local-model",
        llm_api_base="http://127.0.0.1:9/v1",  # never reached: litellm's mock path answers
    )
    result = await _call(llm, app, client.tenant_id, cube["id"])
    assert result.source == "llm" and result.model == "openai/my-local-model"
    assert not result.cost_known and result.cost_usd == 0.0
    [row] = _usage_rows(db_url)
    assert row["cost_usd"] is None
    usage = (await client.get("/v1/usage")).json()
    assert usage["totals"]["cost_unknown_calls"] == 1 and usage["totals"]["cost_usd"] == 0.0


async def test_a_failing_sink_never_breaks_the_call(test_settings):
    class Broken:
        async def record(self, usage: Any) -> None:
            raise RuntimeError("database gone")

    result = await _llm(test_settings, [GOOD]).structured(
        prompt=PROMPT, schema=Facts, task="t", fallback=_fallback, usage_sink=Broken()
    )
    assert result.source == "llm"


async def test_no_model_means_fallback_and_no_record(app, client, cube, test_settings, db_url):
    llm = LLM(test_settings.model_copy(update={"llm_model": None}))
    assert not llm.configured
    result = await _call(llm, app, client.tenant_id, cube["id"])
    assert result.source == "fallback" and result.fallback_reason == "no_model"
    assert result.attempts == 0 and result.value == _fallback()
    assert _usage_rows(db_url) == []
    assert not app.state.runtime.llm.configured  # the test settings name no model


def test_without_a_model_litellm_is_never_imported():
    # A fresh interpreter: importing the API and making a call without a model configured
    # must not import litellm (its import costs ~5 s).
    code = """
import asyncio, sys
from pydantic import BaseModel
import api.main, memsvc.services.usage, workers
from memsvc.config import Settings
from memsvc.models.llm import LLM

class S(BaseModel):
    x: int

llm = LLM(Settings(llm_model=None))
result = asyncio.run(llm.structured(
    prompt=[{"role": "user", "content": "hi"}], schema=S, task="t",
    fallback=lambda: S(x=1), usage_sink=None))
assert result.source == "fallback" and result.value.x == 1, result
print("litellm" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSVC_")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


async def _record(app: Any, tenant_id: str, cube_id: str | None, task: str, source: str, n: int):
    from memsvc.models.llm import UsageRecord

    sink = DatabaseUsageSink(
        app.state.runtime, uuid.UUID(tenant_id), uuid.UUID(cube_id) if cube_id else None
    )
    await sink.record(
        UsageRecord(
            task=task,
            model="m",
            source=source,  # type: ignore[arg-type]
            attempts=1,
            prompt_tokens=10 * n,
            completion_tokens=n,
            cost_usd=0.5 * n,
        )
    )


async def test_usage_endpoint_sums(app, client, cube, test_settings):
    other = (await client.post("/v1/cubes", json={"name": "other"})).json()
    tid = client.tenant_id
    await _record(app, tid, cube["id"], "extract", "llm", 1)
    await _record(app, tid, cube["id"], "extract", "fallback", 2)
    await _record(app, tid, cube["id"], "summarize", "llm", 3)
    await _record(app, tid, other["id"], "extract", "llm", 4)
    await _record(app, tid, None, "extract", "llm", 5)
    real = await _call(_llm(test_settings, ["bad", GOOD]), app, tid, cube["id"])

    r = await client.get("/v1/usage")
    assert r.status_code == 200, r.text
    body = r.json()
    totals = body["totals"]
    assert totals["calls"] == 6 and totals["fallbacks"] == 1
    assert totals["prompt_tokens"] == 150 + real.prompt_tokens
    assert totals["completion_tokens"] == 15 + real.completion_tokens
    assert totals["cost_usd"] == pytest.approx(7.5 + real.cost_usd)
    groups = {(g["cube_id"], g["task"], g["model"]): g for g in body["rows"]}
    assert len(groups) == 5
    extract = groups[(cube["id"], "extract", "m")]
    assert extract["calls"] == 2 and extract["fallbacks"] == 1
    assert extract["prompt_tokens"] == 30 and extract["completion_tokens"] == 3
    assert extract["cost_usd"] == pytest.approx(1.5)
    assert groups[(None, "extract", "m")]["prompt_tokens"] == 50
    assert groups[(cube["id"], "extract_facts", MODEL)]["calls"] == 1
    assert all(g["tenant_id"] == tid for g in body["rows"])

    r = await client.get("/v1/usage", params={"cube_id": cube["id"]})
    assert r.status_code == 200
    assert r.json()["totals"]["calls"] == 4
    assert {g["cube_id"] for g in r.json()["rows"]} == {cube["id"]}

    # a time window
    now = datetime.now(UTC)
    r = await client.get("/v1/usage", params={"until": (now - timedelta(hours=1)).isoformat()})
    assert r.status_code == 200 and r.json()["totals"]["calls"] == 0
    r = await client.get(
        "/v1/usage",
        params={
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert r.json()["totals"]["calls"] == 6
    r = await client.get("/v1/usage", params={"since": now.isoformat(), "until": now.isoformat()})
    assert r.status_code == 422
    r = await client.get("/v1/usage", params={"since": "2026-01-01T00:00:00"})  # no timezone
    assert r.status_code == 422

    # usage outlives a hard-deleted cube, still readable by its owner only
    r = await client.delete(f"/v1/cubes/{other['id']}", params={"hard": "true"})
    assert r.status_code == 204
    r = await client.get("/v1/usage", params={"cube_id": other["id"]})
    assert r.status_code == 200 and r.json()["totals"]["prompt_tokens"] == 40


async def test_usage_is_tenant_isolated(app, tenant_client, admin):
    a = await tenant_client()
    b = await tenant_client()
    a_cube = (await a.post("/v1/cubes", json={"name": "a"})).json()
    b_cube = (await b.post("/v1/cubes", json={"name": "b"})).json()
    await _record(app, a.tenant_id, a_cube["id"], "extract", "llm", 1)
    await _record(app, a.tenant_id, None, "extract", "llm", 2)

    r = await b.get("/v1/usage")
    assert r.status_code == 200
    assert r.json()["totals"]["calls"] == 0 and r.json()["rows"] == []
    # A's cube is not found for B (the same answer as for an unknown id), and so is A's tenant
    for params in (
        {"cube_id": a_cube["id"]},
        {"cube_id": str(uuid.uuid4())},
        {"tenant_id": a.tenant_id},
    ):
        r = await b.get("/v1/usage", params=params)
        assert r.status_code == 404, (params, r.text)
        assert "extract" not in r.text
    r = await b.get("/v1/usage", params={"cube_id": b_cube["id"]})
    assert r.status_code == 200 and r.json()["totals"]["calls"] == 0
    # soft-deleted own cube: still readable
    assert (await a.delete(f"/v1/cubes/{a_cube['id']}")).status_code == 204
    r = await a.get("/v1/usage", params={"cube_id": a_cube["id"]})
    assert r.status_code == 200 and r.json()["totals"]["prompt_tokens"] == 10

    # the admin sees every tenant, or the one it names
    r = await admin.get("/v1/usage")
    assert r.status_code == 200 and r.json()["totals"]["calls"] == 2
    r = await admin.get("/v1/usage", params={"tenant_id": a.tenant_id})
    assert r.json()["totals"]["prompt_tokens"] == 30
    r = await admin.get("/v1/usage", params={"tenant_id": b.tenant_id})
    assert r.json()["totals"]["calls"] == 0
    r = await admin.get("/v1/usage", params={"tenant_id": b.tenant_id, "cube_id": a_cube["id"]})
    assert r.status_code == 404


async def test_usage_needs_the_read_scope(tenant_client, anon):
    writer = await tenant_client(scopes=("write",))
    assert (await writer.get("/v1/usage")).status_code == 403
    assert (await anon.get("/v1/usage")).status_code == 401


def test_usage_route_is_documented(app):
    paths = app.openapi()["paths"]
    assert "get" in paths["/v1/usage"]
    params = {p["name"] for p in paths["/v1/usage"]["get"]["parameters"]}
    assert params == {"cube_id", "since", "until", "tenant_id"}
    json.dumps(paths["/v1/usage"])


async def test_a_base_url_as_model_uses_the_servers_first_model(test_settings):
    import http.server
    import threading

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"data": [{"id": "llama3.1"}, {"id": "other"}]}).encode()
            code = 200 if self.path == "/v1/models" else 404
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1"
        llm = _llm(test_settings, [GOOD], llm_model=base)
        result = await llm.structured(prompt=PROMPT, schema=Facts, task="t", fallback=_fallback)
        assert result.source == "llm" and result.model == "openai/llama3.1"
        assert not result.cost_known  # a local model has no price
    finally:
        server.shutdown()
        server.server_close()
    # a server that cannot be reached: the fallback, with the reason
    gone = _llm(test_settings, [GOOD], llm_model=base, llm_timeout_s=2)
    result = await gone.structured(prompt=PROMPT, schema=Facts, task="t", fallback=_fallback)
    assert result.source == "fallback" and result.fallback_reason == "llm_error"
