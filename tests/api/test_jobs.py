"""Background jobs: POST /v1/cubes/{id}/reindex, GET /v1/jobs/{id}, the worker, /readyz."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import numpy as np
import psycopg
from sqlalchemy import text

from api.main import create_app
from memsvc.store.db import libpq_url
from tests.conftest import ADMIN_KEY
from workers.runner import attach_worker, work_until_idle

CONTENTS = [
    ("Alice adopted a beagle named Rex", "s1"),
    ("Rex chewed Alice's running shoes", "s1"),
    ("The quarterly report is due on Friday", "s2"),
]


async def _add_memories(client: httpx.AsyncClient, cube_id: str) -> list[str]:
    r = await client.post(
        f"/v1/cubes/{cube_id}/memories",
        json={"items": [{"content": c, "session_id": s} for c, s in CONTENTS]},
    )
    assert r.status_code == 201, r.text
    return [item["id"] for item in r.json()["items"]]


async def _index_state(app: Any, cube_id: str) -> dict[str, tuple[Any, ...]]:
    async with app.state.runtime.db.transaction() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, embedding::text, embedding_model, search_tsv::text, lex_len_own, "
                "lex_len_ctx FROM memories WHERE cube_id = :c ORDER BY seq"
            ),
            {"c": cube_id},
        )
        return {str(r[0]): tuple(r[1:]) for r in rows}


async def _corrupt_index(app: Any, cube_id: str) -> None:
    async with app.state.runtime.db.transaction() as conn:
        await conn.execute(
            text(
                "UPDATE memories SET embedding = NULL, embedding_model = 'old-model', "
                "search_tsv = ''::tsvector, lex_len_own = 0, lex_len_ctx = 0 WHERE cube_id = :c"
            ),
            {"c": cube_id},
        )


def _vector(value: str | None) -> np.ndarray:
    assert value is not None
    return np.array([float(x) for x in value.strip("[]").split(",")], dtype=np.float32)


def _assert_same_index(got: dict[str, tuple[Any, ...]], want: dict[str, tuple[Any, ...]]) -> None:
    assert got.keys() == want.keys()
    for mid, (emb, model, tsv, own, ctx) in got.items():
        w_emb, w_model, w_tsv, w_own, w_ctx = want[mid]
        # Re-embedding in another batch can move the last float bits; the vectors are the same.
        assert np.allclose(_vector(emb), _vector(w_emb), atol=1e-5), mid
        assert (model, tsv, own, ctx) == (w_model, w_tsv, w_own, w_ctx), mid


async def test_reindex_runs_and_is_idempotent(app, client, cube, db_url):
    cube_id = cube["id"]
    await _add_memories(client, cube_id)
    original = await _index_state(app, cube_id)
    assert all(row[0] is not None and row[3] for row in original.values())
    await _corrupt_index(app, cube_id)

    r = await client.post(f"/v1/cubes/{cube_id}/reindex")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert str(uuid.UUID(job_id)) == job_id

    queued = await client.get(f"/v1/jobs/{job_id}")
    assert queued.status_code == 200, queued.text
    body = queued.json()
    assert body["id"] == job_id
    assert body["kind"] == "reindex_cube"
    assert body["status"] == "queued"
    assert body["attempts"] == 0
    assert body["error"] is None
    assert body["created_at"] is not None
    assert body["cube_id"] == cube_id

    await work_until_idle(db_url, app.state.runtime)

    done = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert done["status"] == "done", done
    assert done["attempts"] == 1
    assert done["error"] is None
    assert done["finished_at"] is not None
    _assert_same_index(await _index_state(app, cube_id), original)

    # Twice gives the same state.
    again = await client.post(f"/v1/cubes/{cube_id}/reindex")
    assert again.status_code == 202
    assert again.json()["job_id"] != job_id
    await work_until_idle(db_url, app.state.runtime)
    assert (await client.get(f"/v1/jobs/{again.json()['job_id']}")).json()["status"] == "done"
    _assert_same_index(await _index_state(app, cube_id), original)

    # The index is usable: search finds the re-indexed memories lexically and densely.
    for mode in ("lexical", "dense"):
        s = await client.post(f"/v1/cubes/{cube_id}/search", json={"query": "beagle", "mode": mode})
        assert s.status_code == 200, s.text
        assert s.json()["results"][0]["memory"]["content"] == CONTENTS[0][0]


async def test_jobs_are_private_to_their_tenant(client, cube, tenant_client, admin):
    job_id = (await client.post(f"/v1/cubes/{cube['id']}/reindex")).json()["job_id"]
    other = await tenant_client()

    r = await other.get(f"/v1/jobs/{job_id}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "job_not_found"

    r = await other.post(f"/v1/cubes/{cube['id']}/reindex")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "cube_not_found"

    # The admin may follow any job.
    assert (await admin.get(f"/v1/jobs/{job_id}")).status_code == 200


async def test_job_lookup_errors(client, cube, tenant_client):
    r = await client.get(f"/v1/jobs/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "job_not_found"

    r = await client.get("/v1/jobs/not-a-uuid")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"

    r = await client.post("/v1/cubes/not-a-uuid/reindex")
    assert r.status_code == 422

    r = await client.post(f"/v1/cubes/{uuid.uuid4()}/reindex")
    assert r.status_code == 404

    reader = await tenant_client(scopes=("read",))
    r = await reader.post(f"/v1/cubes/{cube['id']}/reindex")
    assert r.status_code == 403  # the scope is checked before any cube is looked at
    assert r.json()["error"]["code"] == "missing_scope"


async def test_reindex_of_a_purged_cube_fails(app, client, cube, db_url):
    await _add_memories(client, cube["id"])
    job_id = (await client.post(f"/v1/cubes/{cube['id']}/reindex")).json()["job_id"]
    assert (await client.delete(f"/v1/cubes/{cube['id']}?hard=true")).status_code == 204

    await work_until_idle(db_url, app.state.runtime)

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed", job
    assert job["attempts"] == 1  # not a transient error: no retry
    assert job["error"]


async def test_readyz_reports_worker_without_requiring_it(anon):
    r = await anon.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["worker"] == "no worker heartbeat"


def _http(app: Any, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_attached_worker_runs_jobs_in_the_api_process(db_url, test_settings, embedder):
    application = create_app(test_settings, database_url=db_url, embedder=embedder)
    attach_worker(application, db_url, concurrency=2)
    async with application.router.lifespan_context(application):
        async with _http(application, ADMIN_KEY) as admin:
            tenant = (await admin.post("/v1/admin/tenants", json={"name": "t"})).json()
            key = (
                await admin.post(
                    "/v1/admin/keys", json={"tenant_id": tenant["id"], "scopes": ["read", "write"]}
                )
            ).json()["key"]
            ready = await admin.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["worker"] == "ok"
        async with _http(application, key) as client:
            cube_id = (await client.post("/v1/cubes", json={"name": "c"})).json()["id"]
            await _add_memories(client, cube_id)
            job_id = (await client.post(f"/v1/cubes/{cube_id}/reindex")).json()["job_id"]
            status = None
            for _ in range(300):
                status = (await client.get(f"/v1/jobs/{job_id}")).json()["status"]
                if status in ("done", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert status == "done"
    # Stopping the app stopped the worker: it unregistered itself from the queue.
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone() == (0,)
