"""Both SDK clients end to end against a real uvicorn server (real PostgreSQL, the real
embedding model): the everyday path, pagination, errors, and retries on a real 429 (a
server with a tiny rate limit) and a real 503 (its database stopped, then started again)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.main import create_app
from memsvc import migrate
from memsvc.client import (
    AsyncMemoryClient,
    JobTimeout,
    MemoryClient,
    NotFoundError,
    RateLimitError,
)
from memsvc.config import Settings
from tests.conftest import ADMIN_KEY
from tests.e2e.procs import Postgres
from tests.sdk.live_server import LiveServer

FACTS = [f"Fact number {i}: the {w} is on the table." for i, w in enumerate("abcdefg")]


def serve(settings: Settings, db_url: str, embedder: Any) -> LiveServer:
    return LiveServer(create_app(settings, database_url=db_url, embedder=embedder))


@pytest.fixture
def live(db_url: str, test_settings: Settings, embedder: Any) -> Iterator[LiveServer]:
    with serve(test_settings, db_url, embedder) as server:
        yield server


def tenant_key(url: str, **client_options: Any) -> str:
    """A new tenant and its read/write key, made with the admin key."""
    with MemoryClient(url, api_key=ADMIN_KEY, **client_options) as admin:
        tenant = admin.create_tenant(f"t-{uuid.uuid4().hex[:8]}")
        assert admin.get_tenant(tenant.id).name == tenant.name
        return admin.create_key(tenant.id).key


def sleeper(delays: list[float], then: Callable[[float], None] = time.sleep) -> Any:
    """A sleep hook that records each delay, then waits it out for real."""

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        then(seconds)

    return sleep


def test_sync_client_end_to_end(live: LiveServer) -> None:
    delays: list[float] = []
    with MemoryClient(live.url, api_key=tenant_key(live.url), sleep=sleeper(delays)) as client:
        assert client.healthz().status == "ok" and client.readyz().ready
        cube = client.create_cube("notes", description="sdk e2e")
        added = client.add_memories(cube.id, FACTS, deduplicate=False)
        ids = [m.id for m in added.items]
        assert len(ids) == len(FACTS) and client.get_cube(cube.id).memory_count == len(FACTS)

        # pagination: 7 memories, pages of 3
        first = client.list_memories(cube.id, limit=3)
        assert len(first.items) == 3 and first.next_cursor is not None
        assert [m.id for m in client.iter_memories(cube.id, limit=3)] == ids

        hits = client.search(cube.id, "where is the c?", top_k=3).results
        assert hits[0].memory.id == ids[2]

        patched = client.update_memory(cube.id, ids[0], content="The a is on the floor.")
        assert patched.version == 2
        versions = client.get_history(cube.id, ids[0]).versions
        assert [v.change_kind for v in versions][-1] == "user_update"
        assert versions[0].snapshot["content"] == FACTS[0]

        client.delete_memory(cube.id, ids[1])
        assert client.get_memory(cube.id, ids[1]).status == "deleted"
        assert ids[1] not in [m.id for m in client.iter_memories(cube.id)]

        with pytest.raises(NotFoundError) as missing:
            client.get_cube(uuid.uuid4())
        err = missing.value
        assert (err.status, err.code) == (404, "cube_not_found") and "cube" in err.message

        # no worker runs beside this server: the job stays queued, and waiting gives up
        job = client.consolidate(cube.id)
        with pytest.raises(JobTimeout) as waited:
            client.wait_for_job(job.job_id, timeout=0.3, interval=0.1)
        assert waited.value.job.status == "queued" and delays == [0.1, 0.1, 0.1]


async def test_async_client_end_to_end(live: LiveServer) -> None:
    async with AsyncMemoryClient(live.url, api_key=tenant_key(live.url)) as client:
        cube = await client.create_cube("async notes")
        await client.add_memories(cube.id, FACTS[:4])
        said = await client.add_messages(
            cube.id,
            [
                {"role": "user", "content": "My dog is called Rex."},
                {"role": "assistant", "content": "Nice name!"},
            ],
            user_id="u1",
        )
        assert said.status == "done" and len(said.turns) == 2
        queued = await client.add_messages(
            cube.id, [{"role": "user", "content": "I like jazz."}], mode="async"
        )
        assert queued.status == "queued"
        assert queued.job_id and (await client.get_job(queued.job_id)).status == "queued"
        contents = [m.content async for m in client.iter_memories(cube.id, limit=2)]
        assert contents[:4] == FACTS[:4] and "My dog is called Rex." in contents[4]
        hits = (await client.search(cube.id, "what is the dog called?", top_k=3)).results
        assert any("Rex" in hit.memory.content for hit in hits)
        with pytest.raises(NotFoundError) as missing:
            await client.get_memory(cube.id, uuid.uuid4())
        assert missing.value.code == "memory_not_found"


@pytest.mark.slow  # waits out real Retry-After seconds
def test_a_rate_limited_request_is_retried_after_retry_after(
    db_url: str, test_settings: Settings, embedder: Any
) -> None:
    tight = test_settings.model_copy(update={"rate_limit_per_minute": 60, "rate_limit_burst": 2})
    with serve(tight, db_url, embedder) as server:
        key = tenant_key(server.url, max_retries=5, sleep=sleeper([]))
        delays: list[float] = []
        with MemoryClient(server.url, api_key=key, sleep=sleeper(delays)) as client:
            cube = client.create_cube("limited")  # token 1
            client.get_cube(cube.id)  # token 2: the bucket is empty now
            added = client.add_memory(cube.id, "Written once, after a 429.")  # a write
            assert delays and all(d >= 1.0 for d in delays), delays  # Retry-After: >= 1 s
            page = client.list_memories(cube.id)
            assert [m.id for m in page.items] == [added.id]  # stored once
        with MemoryClient(server.url, api_key=key, max_retries=0) as impatient:
            with pytest.raises(RateLimitError) as limited:
                for _ in range(3):
                    impatient.get_cube(cube.id)
        assert limited.value.code == "rate_limited" and (limited.value.retry_after or 0) >= 1


@pytest.fixture
def own_postgres(test_settings: Settings) -> Iterator[tuple[Postgres, str]]:
    """A PostgreSQL of this test's own, which it may stop and start."""
    pg = Postgres()
    try:
        url = pg.create_database("memsvc")
        migrate.upgrade(url, test_settings)
        yield pg, url
    finally:
        pg.destroy()


@pytest.mark.slow  # a PostgreSQL of its own (initdb)
def test_unavailable_database_is_retried_until_it_is_back(
    own_postgres: tuple[Postgres, str], test_settings: Settings, embedder: Any
) -> None:
    pg, url = own_postgres
    with serve(test_settings, url, embedder) as server:
        key = tenant_key(server.url)
        delays: list[float] = []

        def restart_database(seconds: float) -> None:
            if len(delays) == 1:
                pg.start()  # back while the client waits

        with MemoryClient(
            server.url, api_key=key, sleep=sleeper(delays, then=restart_database)
        ) as client:
            cube = client.create_cube("outage")
            pg.stop()  # as a crash would
            added = client.add_memory(cube.id, "Stored after the outage.")  # 503, then retried
            assert delays and delays[0] >= 2.0  # the server's Retry-After: 2
            assert [m.id for m in client.iter_memories(cube.id)] == [added.id]
