"""The per-key rate limit over HTTP: a token bucket per API key (and one for the admin key), 429
`rate_limited` with Retry-After when it is empty, refused before the body is read.

The app here admits 5 requests at once and one a second after that, on a clock the test moves.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest

from api import ratelimit
from api.deps import PrincipalDep
from api.main import create_app
from memsvc.store.db import libpq_url
from tests.conftest import ADMIN_KEY, _client

BURST = 5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "clock", fake)
    return fake


@pytest.fixture
async def app(db_url, test_settings, embedder, clock) -> AsyncIterator[Any]:
    settings = test_settings.model_copy(
        update={"rate_limit_per_minute": 60, "rate_limit_burst": BURST}
    )
    application = create_app(settings, database_url=db_url, embedder=embedder)

    async def probe(principal: PrincipalDep) -> dict[str, str]:
        return {"actor": principal.actor}

    # a route outside /v1: the gate does not see it, get_principal limits it
    application.add_api_route("/probe", probe, methods=["GET"])
    async with application.router.lifespan_context(application):
        yield application


def _limited(r: httpx.Response) -> str:
    assert r.status_code == 429, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "rate_limited"
    retry = r.headers["retry-after"]
    assert retry.isdigit() and int(retry) >= 1
    return retry


async def _spend(c: httpx.AsyncClient, n: int, url: str = "/v1/cubes") -> None:
    for _ in range(n):
        r = await c.get(url)
        assert r.status_code == 200, r.text


async def test_an_empty_bucket_is_429_with_retry_after_and_refills(
    app, tenant_client, clock, db_url
):
    a = await tenant_client()
    clock.advance(60)  # the admin's bucket (two tenants made) is full again
    b = await tenant_client()
    await _spend(a, BURST)
    assert _limited(await a.get("/v1/cubes")) == "1"  # one token a second
    # a refused write writes nothing, and is not audited (it reached no route)
    _limited(await a.post("/v1/cubes", json={"name": "refused"}))
    # another key of the same service is not affected
    await _spend(b, 1)
    # half a second later: still empty; Retry-After is whole seconds, at least 1
    clock.advance(0.5)
    assert _limited(await a.get("/v1/cubes")) == "1"
    # a second later one token is back, and only one
    clock.advance(0.5)
    await _spend(a, 1)
    _limited(await a.get("/v1/cubes"))
    # after a long pause the bucket is full again, but never more than the burst
    clock.advance(3600)
    await _spend(a, BURST)
    _limited(await a.get("/v1/cubes"))
    assert (await b.get("/v1/cubes")).json()["items"] == []
    clock.advance(1)
    assert (await a.get("/v1/cubes")).json()["items"] == []
    with psycopg.connect(libpq_url(db_url)) as conn:
        statuses = conn.execute("SELECT DISTINCT status FROM audit_log").fetchall()
    assert (429,) not in statuses and statuses


async def test_the_admin_key_has_its_own_bucket(app, admin, tenant_client, clock):
    a = await tenant_client()  # two admin requests
    await _spend(a, BURST)
    _limited(await a.get("/v1/cubes"))
    await _spend(admin, BURST - 2, "/v1/admin/tenants")  # a's empty bucket is not the admin's
    _limited(await admin.get("/v1/admin/tenants"))
    _limited(await admin.post("/v1/admin/tenants", json={"name": "refused"}))
    clock.advance(1)
    await _spend(admin, 1, "/v1/admin/tenants")
    names = [t["name"] for t in (await _after(admin, clock)).json()["items"]]
    assert "refused" not in names


async def _after(admin: httpx.AsyncClient, clock: FakeClock) -> httpx.Response:
    clock.advance(60)
    return await admin.get("/v1/admin/tenants")


async def test_bad_keys_are_401_and_drain_no_bucket(app, tenant_client, db_url):
    a = await tenant_client()
    key = a.headers["Authorization"].removeprefix("Bearer ")
    prefix, lookup, secret = key.split("_", 2)
    for bad in (f"{prefix}_{lookup}_{secret}x", "garbage", ADMIN_KEY + "x", None):
        async with _client(app, bad) as c:
            for _ in range(2 * BURST):
                r = await c.get("/v1/cubes")
                assert r.status_code == 401, r.text
    # the real key (whose lookup the attacker knew) and the admin key still have every token
    await _spend(a, BURST)
    async with _client(app, ADMIN_KEY) as admin:
        await _spend(admin, BURST - 2, "/v1/admin/tenants")
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE status = 401").fetchone() == (0,)


async def test_refused_before_the_body_is_read(app, tenant_client):
    a = await tenant_client()
    cube = (await a.post("/v1/cubes", json={"name": "c"})).json()
    await _spend(a, BURST - 1)
    seen: list[bytes] = []

    def body() -> Any:
        async def chunks() -> AsyncIterator[bytes]:
            seen.append(b"read")
            yield b"{not json"

        return chunks()

    url = f"/v1/cubes/{cube['id']}/memories"
    headers = {"Content-Type": "application/json"}
    # an exhausted key: 429, not the 400 its body would earn; the body was never pulled
    _limited(await a.post(url, content=body(), headers=headers))
    # an unknown key: 401, same
    async with _client(app, f"msk_{uuid.uuid4().hex[:12]}_nope") as stranger:
        r = await stranger.post(url, content=body(), headers=headers)
        assert r.status_code == 401
    assert seen == []


async def test_routes_outside_v1_are_limited_by_the_dependency(app, tenant_client):
    a = await tenant_client()
    for _ in range(BURST):
        r = await a.get("/probe")
        assert r.status_code == 200 and r.json()["actor"] == f"key:{a.key_id}"
    _limited(await a.get("/probe"))
    async with _client(app, "garbage") as c:
        assert (await c.get("/probe")).status_code == 401


async def test_zero_disables_the_limit(db_url, test_settings, embedder):
    settings = test_settings.model_copy(update={"rate_limit_per_minute": 0, "rate_limit_burst": 1})
    application = create_app(settings, database_url=db_url, embedder=embedder)
    async with application.router.lifespan_context(application):
        async with _client(application, ADMIN_KEY) as admin:
            await _spend(admin, 20, "/v1/admin/tenants")
        assert ratelimit.limiter(application) is None
