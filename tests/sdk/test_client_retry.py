"""The SDK's retry policy and error mapping. These test the client's own decisions, so the
server is replaced by scripted answers (httpx.MockTransport); everything else runs against
the real service (test_client_inprocess.py, test_client_server.py)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from memsvc.client import (
    APIConnectionError,
    AsyncMemoryClient,
    AuthenticationError,
    ConflictError,
    MemoryClient,
    MemsvcError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    UnavailableError,
    ValidationError,
)
from memsvc.client.retry import retry_after_seconds

CUBE = str(uuid.uuid4())
MEMORY = {"id": str(uuid.uuid4()), "cube_id": CUBE, "content": "x"}


def error(status: int, code: str, details: Any = None, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "details": details}}
    return httpx.Response(status, json=body, headers=headers)


Answer = httpx.Response | Exception


class Script:
    """Answers requests in order; records what was asked."""

    def __init__(self, *answers: Answer):
        self.answers: Iterator[Answer] = iter(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


def sync_client(script: Script, delays: list[float], **options: Any) -> MemoryClient:
    return MemoryClient(
        "http://memsvc.test",
        api_key="k",
        transport=httpx.MockTransport(script),
        sleep=delays.append,
        **options,
    )


def ok_search() -> httpx.Response:
    return httpx.Response(200, json={"results": [], "took_ms": 1.0})


def ok_added() -> httpx.Response:
    return httpx.Response(201, json={"items": [MEMORY]})


def add(client: MemoryClient) -> Any:
    return client.add_memories(CUBE, ["x"])


# --- reads ----------------------------------------------------------------------------------
def test_a_read_is_retried_on_503_with_growing_jittered_backoff() -> None:
    script = Script(error(503, "unavailable"), error(503, "unavailable"), ok_search())
    delays: list[float] = []
    with sync_client(script, delays, backoff_base=0.2) as client:
        result = client.search(CUBE, "tea")
    assert result.results == [] and len(script.requests) == 3
    # attempt n waits between half and all of base * 2**n
    assert 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4, delays


def test_retry_after_is_honoured_with_jitter() -> None:
    script = Script(error(429, "rate_limited", **{"Retry-After": "2"}), ok_search())
    delays: list[float] = []
    with sync_client(script, delays, backoff_base=0.5) as client:
        client.search(CUBE, "tea")
    assert len(delays) == 1 and 2.0 <= delays[0] <= 2.5


def test_retries_run_out_and_the_last_error_is_raised() -> None:
    answers = [error(429, "rate_limited", **{"Retry-After": "1"}) for _ in range(3)]
    delays: list[float] = []
    with sync_client(Script(*answers), delays, max_retries=2) as client:
        with pytest.raises(RateLimitError) as raised:
            client.get_cube(CUBE)
    assert len(delays) == 2
    assert raised.value.status == 429 and raised.value.code == "rate_limited"
    assert raised.value.retry_after == 1.0


def test_max_retries_zero_never_retries() -> None:
    delays: list[float] = []
    with sync_client(Script(error(503, "unavailable")), delays, max_retries=0) as client:
        with pytest.raises(UnavailableError):
            client.get_cube(CUBE)
    assert delays == []


def test_a_read_is_retried_after_a_broken_connection() -> None:
    script = Script(httpx.ReadError("reset"), httpx.ConnectError("refused"), ok_search())
    delays: list[float] = []
    with sync_client(script, delays) as client:
        client.search(CUBE, "tea")
    assert len(delays) == 2


def test_a_retry_after_longer_than_the_cap_is_not_waited_for() -> None:
    script = Script(error(429, "rate_limited", **{"Retry-After": "3600"}))
    delays: list[float] = []
    with sync_client(script, delays) as client, pytest.raises(RateLimitError):
        client.get_cube(CUBE)
    assert delays == []


def test_not_ready_is_an_answer_not_an_error_nor_a_retry() -> None:
    body = {"status": "not_ready", "checks": {"database": "unreachable: OSError"}}
    script = Script(httpx.Response(503, json=body))
    delays: list[float] = []
    with sync_client(script, delays) as client:
        readiness = client.readyz()
    assert not readiness.ready and readiness.checks["database"].startswith("unreachable")
    assert delays == []


# --- writes ---------------------------------------------------------------------------------
def test_a_write_is_retried_on_429_nothing_was_done() -> None:
    script = Script(error(429, "rate_limited", **{"Retry-After": "1"}), ok_added())
    delays: list[float] = []
    with sync_client(script, delays) as client:
        added = add(client)
    assert len(added.items) == 1 and len(script.requests) == 2
    # the same body both times
    assert script.requests[0].content == script.requests[1].content


def test_a_write_is_retried_on_503_that_wrote_nothing() -> None:
    script = Script(error(503, "unavailable"), ok_added())
    delays: list[float] = []
    with sync_client(script, delays) as client:
        add(client)
    assert len(script.requests) == 2


def test_a_write_whose_outcome_is_unknown_is_not_sent_again() -> None:
    script = Script(error(503, "unavailable", {"outcome": "unknown"}))
    delays: list[float] = []
    with sync_client(script, delays) as client, pytest.raises(UnavailableError) as raised:
        add(client)
    assert delays == [] and len(script.requests) == 1
    assert raised.value.outcome == "unknown"


def test_a_read_is_retried_even_when_the_outcome_is_unknown() -> None:
    script = Script(error(503, "unavailable", {"outcome": "unknown"}), ok_search())
    delays: list[float] = []
    with sync_client(script, delays) as client:
        client.search(CUBE, "tea")  # search only reads: retried
    assert len(delays) == 1


@pytest.mark.parametrize("broken", [httpx.ReadError("reset"), httpx.ReadTimeout("slow")])
def test_a_write_is_not_retried_when_the_request_may_have_arrived(broken: Exception) -> None:
    delays: list[float] = []
    with sync_client(Script(broken), delays) as client, pytest.raises(APIConnectionError):
        add(client)
    assert delays == []


def test_a_write_is_retried_when_the_connection_never_opened() -> None:
    script = Script(httpx.ConnectError("refused"), ok_added())
    delays: list[float] = []
    with sync_client(script, delays) as client:
        add(client)
    assert len(delays) == 1


def test_patch_is_a_write() -> None:
    script = Script(error(503, "unavailable", {"outcome": "unknown"}))
    delays: list[float] = []
    with sync_client(script, delays) as client, pytest.raises(UnavailableError):
        client.update_memory(CUBE, MEMORY["id"], content="y")
    assert delays == []


# --- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (422, ValidationError),
        (500, MemsvcError),
    ],
)
def test_each_status_raises_its_exception(status: int, kind: type[MemsvcError]) -> None:
    answer = error(status, "some_code", {"field": "x"}, **{"X-Request-ID": "req-1"})
    with sync_client(Script(answer), []) as client, pytest.raises(kind) as raised:
        client.get_cube(CUBE)
    err = raised.value
    assert isinstance(err, MemsvcError)
    assert (err.status, err.code, err.message) == (status, "some_code", "some_code happened")
    assert err.details == {"field": "x"} and err.request_id == "req-1"


def test_a_body_that_is_not_the_contracts_shape_still_raises_a_useful_error() -> None:
    script = Script(httpx.Response(502, text="<html>bad gateway</html>"))
    with sync_client(script, []) as client, pytest.raises(MemsvcError) as raised:
        client.get_cube(CUBE)
    assert raised.value.status == 502 and raised.value.code == "http_502"
    assert "bad gateway" in raised.value.message


# --- the policy itself ----------------------------------------------------------------------
def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=4.0, rng=random.Random(7))
    assert all(2.0 <= policy.backoff(n) <= 4.0 for n in range(3, 20))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers()) is None


# --- the async client follows the same policy ------------------------------------------------
def async_client(script: Script, delays: list[float]) -> AsyncMemoryClient:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return AsyncMemoryClient(
        "http://memsvc.test", api_key="k", transport=httpx.MockTransport(script), sleep=sleep
    )


async def test_async_client_retries_reads_and_refuses_unknown_writes() -> None:
    script = Script(
        error(503, "unavailable"),
        ok_search(),
        error(503, "unavailable", {"outcome": "unknown"}),
    )
    delays: list[float] = []
    async with async_client(script, delays) as client:
        await client.search(CUBE, "tea")
        with pytest.raises(UnavailableError):
            await client.add_memories(CUBE, ["x"])
    assert len(delays) == 1 and len(script.requests) == 3


async def test_async_client_accepts_a_plain_function_as_sleep() -> None:
    delays: list[float] = []
    script = Script(error(429, "rate_limited", **{"Retry-After": "1"}), ok_added())
    client = AsyncMemoryClient(
        "http://memsvc.test",
        api_key="k",
        transport=httpx.MockTransport(script),
        sleep=delays.append,
    )
    async with client:
        await client.add_memories(CUBE, ["x"])
    assert len(delays) == 1


def test_requests_carry_the_key_and_json() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok_added()

    handler: Callable[[httpx.Request], httpx.Response] = answer
    with MemoryClient(
        "http://memsvc.test", api_key="secret", transport=httpx.MockTransport(handler)
    ) as client:
        client.add_memories(CUBE, ["x", {"content": "y", "tags": ["t"]}], infer=False)
    request = seen[0]
    assert request.headers["authorization"] == "Bearer secret"
    assert request.headers["content-type"] == "application/json"
    assert request.url.path == f"/v1/cubes/{CUBE}/memories"
    assert b'"infer": false' in request.content and b'"tags": ["t"]' in request.content
