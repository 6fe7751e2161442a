"""Schemathesis against the app's own OpenAPI document: every operation, authenticated.

Each operation gets generated requests, valid and invalid (bodies, query and path parameters;
NUL characters allowed), sent in-process to a real app on a real database. The app is seeded
so that generated ids mostly name real things: a cube with memories of several types (a vault
secret too), a core block, a thought, conversation turns, a queued activation build, a job,
tenants and keys. Destructive calls work on spare copies made for them (a cube, a memory, a
key), so the rest of the run keeps its data. Admin operations run with the admin key, the rest
with a tenant key holding every scope.

Every response must be no server error, carry a status code and content type the document
declares, and match the declared schema: the error responses are declared too (the contract's
ErrorResponse, api/errors.py RESPONSES), so a 4xx in another shape fails.

Bounded for CI (one to two minutes on two slow cores): Schemathesis's examples phase (a valid
body for the busiest routes, EXAMPLES) and fuzzing phase (valid and invalid cases, ten per
operation), derandomized so that a failure reproduces. `MEMSVC_FUZZ_DEEP=1` adds the coverage
phase (boundary values of every parameter, about 2500 requests) and 100 examples per operation
(about ten minutes): worth a run after changing a schema.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.meta import TestPhase
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python import asgi
from sqlalchemy.engine import make_url

from api.main import create_app
from memsvc.config import Settings
from memsvc.store.db import libpq_url
from tests.conftest import ADMIN_KEY
from tests.tiny_lm import make_tiny_lm

DEEP = os.environ.get("MEMSVC_FUZZ_DEEP", "") not in ("", "0")
# Examples per operation (valid and invalid ones together).
MAX_EXAMPLES = 100 if DEEP else 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def _openapi() -> dict[str, Any]:
    """The app's OpenAPI document (an app that is never started: no database needed).
    test_served_document_is_the_fuzzed_one checks that /openapi.json serves exactly this."""
    app = create_app(
        Settings(database_url=None, run_worker=False),
        database_url="postgresql+psycopg://unused/unused",
        embedder=object(),  # type: ignore[arg-type]
    )
    return dict(app.openapi())


SPEC = _openapi()

# A valid body per operation that takes one, sent first (Schemathesis's examples phase): random
# bodies seldom get past the rules no schema states (a non-empty content, a question with its
# answer), so without these few 2xx responses of the busiest routes would be checked.
EXAMPLES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/cubes/{cube_id}/memories"): {
        "items": [
            {"content": "Sam moved to Berlin", "memory_type": "semantic", "tags": ["home"]},
            {"content": "Sam's sister is called Ana", "session_id": "s1", "metadata": {"k": 1}},
        ]
    },
    ("POST", "/v1/cubes/{cube_id}/messages"): {
        "messages": [
            {"role": "user", "content": "I live in Leeds and my dog is called Rex."},
            {"role": "assistant", "content": "Noted."},
        ],
        "user_id": "sam",
        "session_id": "s2",
    },
    ("POST", "/v1/cubes/{cube_id}/search"): {
        "query": "where does Maya's dog live?",
        "top_k": 3,
        "include_links": True,
        "filters": {"user_id": "maya"},
    },
    ("POST", "/v1/search"): {
        "query": "peanuts",
        "cube_ids": ["00000000-0000-4000-8000-000000000000"],
    },
    ("POST", "/v1/cubes/{cube_id}/thoughts"): {"question": "Dog's name?", "answer": "Biscuit."},
    ("POST", "/v1/cubes/{cube_id}/thoughts/recall"): {"query": "dog", "top_k": 3},
    ("POST", "/v1/cubes/{cube_id}/context"): {"query": "Maya's dog", "budget_tokens": 200},
    ("POST", "/v1/cubes/{cube_id}/generate"): {"prompt": "Hello", "max_new_tokens": 2},
    ("PATCH", "/v1/cubes/{cube_id}/memories/{memory_id}"): {"tags": ["x"], "reason": "fuzz"},
    ("POST", "/v1/cubes/{cube_id}/core/{label}/append"): {"content": "Likes tea."},
}


def _with_examples(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for (method, path), body in EXAMPLES.items():
        media = spec["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
        media["examples"] = {"valid": {"value": body}}
    return spec


SCHEMA = schemathesis.openapi.from_dict(
    _with_examples(SPEC),
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "allow-x00": True,
                # the key is ours to send (missing and bad keys: test_auth)
                "with-security-parameters": False,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": DEEP},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    ),
)


@dataclass
class Seeded:
    """The fuzzed app, a client of it, and what it holds before the first generated request."""

    app: Any
    http: asgi.ASGIClient
    tenant_key: str = ""
    tenant_id: str = ""
    other_tenant_id: str = ""
    cube_id: str = ""
    memory_ids: tuple[str, ...] = ()
    job_id: str = ""

    def call(self, key: str, method: str, url: str, **kw: Any) -> dict[str, Any]:
        r = self.http.request(method, url, headers=_bearer(key), **kw)
        assert r.status_code in (200, 201, 202), (method, url, r.status_code, r.text[:300])
        return dict(r.json())

    def admin(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        return self.call(ADMIN_KEY, method, url, **kw)

    def tenant(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        return self.call(self.tenant_key, method, url, **kw)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _execute(server_url: str, sql: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fuzz_db(pg_server_url: str, template_db: str) -> Iterator[str]:
    """One database for the whole module (each operation's test adds to the same data)."""
    name = f"memsvc_fuzz_{uuid.uuid4().hex[:10]}"
    _execute(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    _execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def seeded(fuzz_db: str, test_settings: Settings, embedder: Any) -> Iterator[Seeded]:
    root = Path(tempfile.mkdtemp(prefix="memsvc-fuzz-"))
    fuzz_settings = test_settings.model_copy(
        update={
            # a tiny random Llama, so /generate and activation builds cost milliseconds
            "activation_model": str(make_tiny_lm(root / "lm")),
            "activation_max_new_tokens": 8,
            "data_dir": root / "data",
            # the deep run sends thousands of requests with one key
            "rate_limit_per_minute": 0,
        }
    )
    app = create_app(fuzz_settings, database_url=fuzz_db, embedder=embedder)
    # Schemathesis runs the app (and its lifespan) on an event loop thread of its own.
    with asgi.get_client(app) as http:
        s = Seeded(app, http)
        tenant = s.admin("POST", "/v1/admin/tenants", json={"name": "fuzz"})
        key = s.admin(
            "POST",
            "/v1/admin/keys",
            json={"tenant_id": tenant["id"], "scopes": ["read", "write", "admin", "secrets"]},
        )
        s.tenant_key, s.tenant_id = key["key"], tenant["id"]
        s.other_tenant_id = s.admin("POST", "/v1/admin/tenants", json={"name": "other"})["id"]
        s.cube_id = s.tenant("POST", "/v1/cubes", json={"name": "fuzzed"})["id"]
        base = f"/v1/cubes/{s.cube_id}"
        items = [
            {"content": "Maya adopted a greyhound called Biscuit", "user_id": "maya"},
            {"content": "Maya is allergic to peanuts", "memory_type": "semantic"},
            {"content": "To reset the router, hold the button", "memory_type": "procedural"},
            {
                "content": "door code",
                "memory_type": "knowledge_vault",
                "fields": {"secret_value": "4711", "caption": "door"},
            },
        ]
        added = s.tenant("POST", f"{base}/memories", json={"items": items})
        s.memory_ids = tuple(m["id"] for m in added["items"])
        s.job_id = added["job_id"]
        s.tenant("PUT", f"{base}/core/human", json={"value": "Maya, a nurse in York."})
        s.tenant("POST", f"{base}/thoughts", json={"question": "Pet?", "answer": "A greyhound."})
        s.tenant(
            "POST",
            f"{base}/messages",
            json={"messages": [{"role": "user", "content": "I live in Leeds."}], "user_id": "m"},
        )
        s.tenant("POST", f"{base}/activation", json={})
        yield s
    asgi.shutdown_lifespans()
    shutil.rmtree(root, ignore_errors=True)


def _pick(value: Any, choices: tuple[str, ...] | list[str], *, always: bool = False) -> Any:
    """A generated UUID becomes one of the real ids (one in five stays unknown, a 404, unless
    `always`); anything else (a malformed id of an invalid case) is sent as generated."""
    if not isinstance(value, str) or not UUID_RE.match(value):
        return value
    n = int(hashlib.sha256(value.encode()).hexdigest(), 16)
    return value if n % 5 == 0 and not always else choices[n % len(choices)]


def _prepare(case: Any, s: Seeded) -> dict[str, str]:
    """Point path parameters at real things, make destructive calls work on spare copies,
    and pick the key the operation needs."""
    path, method = case.path, case.method.upper()
    params = case.path_parameters if case.path_parameters is not None else {}
    # the valid bodies of EXAMPLES go to real things
    example = case.meta is not None and case.meta.phase.name == TestPhase.EXAMPLES
    if "cube_id" in params:
        cubes: tuple[str, ...] = (s.cube_id,)
        if method == "DELETE" and path == "/v1/cubes/{cube_id}":
            cubes = (s.tenant("POST", "/v1/cubes", json={"name": f"spare {uuid.uuid4()}"})["id"],)
        params["cube_id"] = _pick(params["cube_id"], cubes, always=example)
    if "memory_id" in params:
        memories = s.memory_ids
        if method == "DELETE":
            spare = s.tenant(
                "POST",
                f"/v1/cubes/{s.cube_id}/memories",
                json={"items": [{"content": f"spare {uuid.uuid4()}"}]},
            )
            memories = (spare["items"][0]["id"],)
        params["memory_id"] = _pick(params["memory_id"], memories, always=example)
    if isinstance(params.get("label"), str):
        n = int(hashlib.sha256(params["label"].encode()).hexdigest(), 16)
        params["label"] = ("human", "persona", params["label"])[n % 3]
    if "job_id" in params:
        params["job_id"] = _pick(params["job_id"], (s.job_id,))
    if "tenant_id" in params:
        params["tenant_id"] = _pick(params["tenant_id"], (s.tenant_id, s.other_tenant_id))
    if "key_id" in params:
        # revoke a key made for the purpose, never the one the run uses
        spare_key = s.admin("POST", "/v1/admin/keys", json={"tenant_id": s.other_tenant_id})
        params["key_id"] = _pick(params["key_id"], (spare_key["id"],))
    # ids in the query and the body name real things too
    ids = {"cube_id": (s.cube_id,), "tenant_id": (s.tenant_id, s.other_tenant_id)}
    for name, choices in ids.items():
        if case.query and name in case.query:
            case.query[name] = _pick(case.query[name], choices)
    body = case.body if isinstance(case.body, dict) else {}
    if "tenant_id" in body:
        body["tenant_id"] = _pick(body["tenant_id"], ids["tenant_id"])
    for name, choices in (("cube_ids", (s.cube_id,)), ("memory_ids", s.memory_ids)):
        if isinstance(body.get(name), list):
            body[name] = [_pick(v, choices, always=example) for v in body[name]]
    return _bearer(ADMIN_KEY if path.startswith("/v1/admin/") else s.tenant_key)


def test_served_document_is_the_fuzzed_one(seeded: Seeded) -> None:
    r = seeded.http.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == SPEC
    operations = {(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops}
    assert len(operations) >= 40
    assert {("GET", "/readyz"), ("POST", "/v1/admin/keys"), ("POST", "/v1/search")} <= operations
    # every operation but the probes declares the contract's errors, 422 included
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            if path in ("/healthz", "/readyz"):
                continue
            declared = op["responses"]
            for status in ("401", "404", "413", "422", "503"):
                ref = declared[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (method, path, status)
    assert "HTTPValidationError" not in SPEC["components"]["schemas"]


OPERATIONS = [(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms(method: str, path: str, seeded: Seeded) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        headers = _prepare(case, seeded)
        case.call_and_validate(headers=headers, checks=CHECKS, app=seeded.app)

    # What `@schema.parametrize()` builds for one operation (examples, fuzzing and, when deep,
    # coverage phases), with a test id per operation that pytest-xdist can tell apart (the
    # plugin's own items all share one id under pytest 9).
    run = build_operation_test(
        config=SCHEMA.config,
        operation=SCHEMA[path][method],
        test_func=check,
        given_kwargs={},
        feedback=FeedbackSources(),
    )
    run()
