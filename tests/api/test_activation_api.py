"""Activation memory over REST on a tiny random Llama: build, staleness, generation, refusals."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from memsvc.activation import kvcache
from memsvc.services import activation
from tests.conftest import _client
from tests.tiny_lm import make_tiny_lm
from workers.runner import work_until_idle


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tiny-lm-a") / "model", seed=0)


@pytest.fixture(scope="session")
def other_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tiny-lm-b") / "model", seed=1)


@pytest.fixture
def lm_settings(test_settings, tiny_lm_dir, tmp_path):
    return test_settings.model_copy(
        update={"activation_model": str(tiny_lm_dir), "data_dir": tmp_path}
    )


@pytest.fixture
async def app(db_url, lm_settings, embedder):
    application = create_app(lm_settings, database_url=db_url, embedder=embedder)
    async with application.router.lifespan_context(application):
        yield application


MEMORIES = [
    "Alice lives in York and works as a nurse.",
    "Alice's cat is called Miso.",
    "Alice drinks green tea every morning.",
    "Bob went hiking in the Lake District last weekend.",
]


async def _fill(client: httpx.AsyncClient, cube: dict[str, Any]) -> list[str]:
    r = await client.post(
        f"/v1/cubes/{cube['id']}/memories",
        json={"items": [{"content": c, "memory_type": "semantic"} for c in MEMORIES]},
    )
    assert r.status_code == 201, r.text
    return [m["id"] for m in r.json()["items"]]


async def _build(app, db_url, client, cube, **body: Any) -> dict[str, Any]:
    # Let enrichment (which versions the new memories) finish first, as it would in use.
    await work_until_idle(db_url, app.state.runtime)
    r = await client.post(f"/v1/cubes/{cube['id']}/activation", json=body)
    assert r.status_code == 202, r.text
    accepted = r.json()
    await work_until_idle(db_url, app.state.runtime)
    job = await client.get(f"/v1/jobs/{accepted['job_id']}")
    assert job.json()["status"] == "done", job.text
    state = await client.get(f"/v1/cubes/{cube['id']}/activation")
    assert state.status_code == 200, state.text
    assert state.json()["activation_id"] == accepted["activation_id"]
    return dict(state.json())


async def _generate(client, cube, prompt="Where does Alice live?", **body: Any) -> dict[str, Any]:
    r = await client.post(
        f"/v1/cubes/{cube['id']}/generate",
        json={"prompt": prompt, "max_new_tokens": 12, **body},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_build_covers_the_cube_and_generation_reuses_it(app, db_url, client, cube, tmp_path):
    ids = await _fill(client, cube)
    state = await _build(app, db_url, client, cube)
    assert state["status"] == "ready" and state["stale"] is False
    assert sorted(state["memory_ids"]) == sorted(ids)
    versions = {
        i: (await client.get(f"/v1/cubes/{cube['id']}/memories/{i}")).json()["version"] for i in ids
    }
    assert state["memory_versions"] == versions
    assert state["tokens"] > 40 and state["bytes"] > 0
    assert len(state["model_fingerprint"]) == 64 and state["dtype"] == "float32"
    # The file is plain safetensors under the data dir, its header naming what made it.
    path = tmp_path / "activations" / cube["id"] / f"{state['activation_id']}.safetensors"
    assert path.stat().st_size == state["bytes"]
    header = kvcache.read_header(path)
    assert header["model_fingerprint"] == state["model_fingerprint"]
    assert header["token_count"] == str(state["tokens"])
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle

    cached = await _generate(client, cube)
    again = await _generate(client, cube)
    fresh = await _generate(client, cube, use_activation=False)
    assert cached["activation"] == "used" and cached["activation_id"] == state["activation_id"]
    assert cached["cached_tokens"] == state["tokens"]
    assert cached["prompt_tokens"] > cached["cached_tokens"]
    assert fresh["activation"] == "off" and fresh["cached_tokens"] == 0
    assert fresh["prompt_tokens"] == cached["prompt_tokens"]
    # Greedy decoding from the cache says exactly what the full prefill says, every time:
    # generation worked on a clone, the stored cache is unchanged.
    assert cached["text"] == again["text"] == fresh["text"]
    assert cached["new_tokens"] == fresh["new_tokens"] > 0


async def test_a_changed_memory_makes_the_cache_stale_and_a_job_rebuilds_it(
    app, db_url, client, cube
):
    ids = await _fill(client, cube)
    first = await _build(app, db_url, client, cube)
    url = f"/v1/cubes/{cube['id']}/memories/{ids[0]}"
    r = await client.patch(url, json={"content": "Alice moved to Leeds and works as a doctor."})
    assert r.status_code == 200, r.text

    state = (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()
    assert state["activation_id"] == first["activation_id"]
    assert state["stale"] is True and state["stale_since"] is not None

    # A stale cache is not used: the prefix is composed from the memories as they are now,
    # and a rebuild is queued.
    out = await _generate(client, cube)
    assert out["activation"] == "stale" and out["cached_tokens"] == 0
    queued = (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()
    assert queued["status"] == "queued" and queued["activation_id"] != first["activation_id"]
    assert queued["stale"] is True  # the cache in use until the rebuild is still stale

    await work_until_idle(db_url, app.state.runtime)
    rebuilt = (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()
    assert rebuilt["status"] == "ready" and rebuilt["stale"] is False
    assert rebuilt["memory_versions"][ids[0]] > first["memory_versions"][ids[0]]
    old_file = Path(app.state.runtime.settings.data_dir) / "activations" / cube["id"]
    assert [p.name for p in old_file.iterdir()] == [f"{rebuilt['activation_id']}.safetensors"]
    used = await _generate(client, cube)
    assert used["activation"] == "used" and used["text"] == out["text"]


async def test_deleting_or_archiving_a_covered_memory_makes_it_stale(app, db_url, client, cube):
    ids = await _fill(client, cube)
    await _build(app, db_url, client, cube)
    r = await client.delete(f"/v1/cubes/{cube['id']}/memories/{ids[1]}")
    assert r.status_code in (200, 204), r.text
    assert (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()["stale"] is True
    # A hard delete (the row is gone: the trigger sees the delete itself).
    await _build(app, db_url, client, cube)
    assert (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()["stale"] is False
    r = await client.delete(f"/v1/cubes/{cube['id']}/memories/{ids[2]}", params={"hard": "true"})
    assert r.status_code in (200, 204), r.text
    state = (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()
    assert state["stale"] is True and state["stale_since"] is not None


async def test_an_uncovered_change_keeps_the_cache_fresh(app, db_url, client, cube):
    ids = await _fill(client, cube)
    await _build(app, db_url, client, cube, memory_ids=ids[:2])
    r = await client.patch(f"/v1/cubes/{cube['id']}/memories/{ids[3]}", json={"tags": ["x"]})
    assert r.status_code == 200, r.text
    state = (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()
    assert state["memory_ids"] == ids[:2] and state["stale"] is False


async def test_the_periodic_refresh_rebuilds_stale_caches_once(app, db_url, client, cube):
    ids = await _fill(client, cube)
    first = await _build(app, db_url, client, cube)
    await client.patch(f"/v1/cubes/{cube['id']}/memories/{ids[2]}", json={"content": "Tea."})
    rt = app.state.runtime
    assert await activation.refresh_stale(rt) == 1
    assert await activation.refresh_stale(rt) == 0  # one rebuild under way is enough
    await work_until_idle(db_url, rt)
    state = (await client.get(f"/v1/cubes/{cube['id']}/activation")).json()
    assert state["activation_id"] != first["activation_id"] and state["stale"] is False
    assert await activation.refresh_stale(rt) == 0


async def test_quantized_caches_are_smaller_and_still_generate(app, db_url, client, cube):
    await _fill(client, cube)
    full = await _build(app, db_url, client, cube)
    small = await _build(app, db_url, client, cube, quantization="int8")
    assert small["quantization"] == "int8" and small["tokens"] == full["tokens"]
    assert small["bytes"] < 0.4 * full["bytes"]
    out = await _generate(client, cube)
    assert out["activation"] == "used" and out["cached_tokens"] == small["tokens"]


async def test_core_memory_comes_first_and_vault_never_enters(app, db_url, client, cube):
    await _fill(client, cube)
    r = await client.put(
        f"/v1/cubes/{cube['id']}/core/human", json={"value": "The user is called Sam."}
    )
    assert r.status_code in (200, 201), r.text
    core_id = r.json()["block"]["id"]
    r = await client.post(
        f"/v1/cubes/{cube['id']}/memories",
        json={"items": [{"content": "wifi password hunter2", "memory_type": "knowledge_vault"}]},
    )
    assert r.status_code == 201, r.text
    vault_id = r.json()["items"][0]["id"]
    state = await _build(app, db_url, client, cube)
    assert state["memory_ids"][0] == core_id
    assert vault_id not in state["memory_ids"]
    text = await _prefix_text(app, state["activation_id"])
    assert "The user is called Sam." in text and "hunter2" not in text


async def _prefix_text(app, activation_id: str) -> str:
    async with app.state.runtime.db.transaction() as conn:
        from memsvc.store import activations as store

        row = await store.get_activation(conn, activation_id=uuid.UUID(activation_id))
    assert row is not None
    return str(row["prefix_text"])


async def test_a_cache_of_another_model_is_refused(
    app, db_url, client, cube, lm_settings, other_lm_dir, embedder
):
    await _fill(client, cube)
    state = await _build(app, db_url, client, cube)
    other = create_app(
        lm_settings.model_copy(update={"activation_model": str(other_lm_dir)}),
        database_url=db_url,
        embedder=embedder,
    )
    async with other.router.lifespan_context(other):
        async with _client(other, client.headers["Authorization"].split()[1]) as second:
            r = await second.post(
                f"/v1/cubes/{cube['id']}/generate", json={"prompt": "Hi", "max_new_tokens": 4}
            )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "activation_model_mismatch"
    assert state["model_fingerprint"][:12] in error["message"]
    assert "Rebuild it" in error["message"]


async def test_bad_requests_change_nothing(app, client, cube, tenant_client):
    ids = await _fill(client, cube)
    base = f"/v1/cubes/{cube['id']}"
    cases = [
        ({"quantization": "int3"}, 422),
        ({"memory_types": ["knowledge_vault"]}, 422),
        ({"memory_types": ["nonsense"]}, 422),
        ({"memory_ids": [str(uuid.uuid4())]}, 404),
        ({"memory_ids": ["not-a-uuid"]}, 422),
        ({"model": "gpt-5"}, 422),
        ({"unknown": 1}, 422),
    ]
    for body, status in cases:
        r = await client.post(f"{base}/activation", json=body)
        assert r.status_code == status, (body, r.text)
        assert "error" in r.json()
    r = await client.get(f"{base}/activation")
    assert r.status_code == 404 and r.json()["error"]["code"] == "activation_not_found"
    for body in (
        {"prompt": ""},
        {"prompt": "hi", "max_new_tokens": 0},
        {"prompt": "hi", "max_new_tokens": 100_000},
        {"prompt": "hi", "max_new_tokens": 600},  # over activation_max_new_tokens
    ):
        r = await client.post(f"{base}/generate", json=body)
        assert r.status_code == 422, (body, r.text)
    # Another tenant sees no such cube; a read-only key cannot build.
    stranger = await tenant_client()
    assert (await stranger.post(f"{base}/activation", json={})).status_code == 404
    assert (await stranger.get(f"{base}/activation")).status_code == 404
    assert (await stranger.post(f"{base}/generate", json={"prompt": "x"})).status_code == 404
    reader = await tenant_client(scopes=("read",))
    assert (await reader.post(f"/v1/cubes/{cube['id']}/activation", json={})).status_code in (
        403,
        404,
    )
    # Nothing was queued by any of it.
    assert (await client.get(f"{base}/activation")).status_code == 404
    assert ids


async def test_without_a_cache_generation_composes_the_prefix(app, client, cube):
    await _fill(client, cube)
    out = await _generate(client, cube)
    assert out["activation"] == "missing" and out["activation_id"] is None
    assert out["cached_tokens"] == 0 and out["prompt_tokens"] > 40


async def test_loaded_caches_stay_within_their_budget(app, db_url, client, cube, lm_settings):
    rt = app.state.runtime
    await _fill(client, cube)
    state = await _build(app, db_url, client, cube)
    await _generate(client, cube)
    one = rt.activation_caches.bytes
    assert one > 0 and len(rt.activation_caches) == 1
    # A budget too small for two caches keeps only the most recent.
    rt.activation_caches.budget = int(one * 1.5)
    second = (await client.post("/v1/cubes", json={"name": "second"})).json()
    await _fill(client, second)
    await _build(app, db_url, client, second)
    await _generate(client, second)
    assert rt.activation_caches.bytes <= rt.activation_caches.budget
    assert len(rt.activation_caches) == 1
    assert uuid.UUID(state["activation_id"]) not in rt.activation_caches
    assert json.dumps(rt.activation_caches.stats())


async def test_models_lists_the_activation_model_and_its_caches(app, db_url, client, cube):
    await _fill(client, cube)
    state = await _build(app, db_url, client, cube)
    await _generate(client, cube)
    listing = (await client.get("/v1/models")).json()
    kinds = {m["kind"]: m for m in listing["models"]}
    lm = kinds["causal_lm"]
    assert lm["device"] == "cpu" and lm["bytes"] > 0
    assert lm["fingerprint"] == state["model_fingerprint"]
    assert kinds["embedding"]["pinned"] is True
    assert listing["used_bytes"] >= lm["bytes"] + kinds["embedding"]["bytes"]
    caches = listing["activation_caches"]
    assert caches["entries"] == 1 and caches["loaded"] == [state["activation_id"]]
    assert 0 < caches["bytes"] <= caches["budget_bytes"]


async def test_memory_types_choose_what_the_prefix_covers(app, db_url, client, cube):
    ids = await _fill(client, cube)
    r = await client.post(
        f"/v1/cubes/{cube['id']}/memories",
        json={"items": [{"content": "Alice ran a 10k race in May.", "memory_type": "episodic"}]},
    )
    episode = r.json()["items"][0]["id"]
    await client.put(f"/v1/cubes/{cube['id']}/core/human", json={"value": "The user is Sam."})
    only_episodes = await _build(app, db_url, client, cube, memory_types=["episodic"])
    assert only_episodes["memory_ids"] == [episode]
    with_core = await _build(app, db_url, client, cube, memory_types=["core", "semantic"])
    covered = set(with_core["memory_ids"])
    assert set(ids) <= covered and episode not in covered and len(covered) == len(ids) + 1
