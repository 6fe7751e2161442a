"""The request-building layer both clients share: what to send (a `Call`), how to read the
answer, and the retrying exchange as a generator that does no I/O itself. The sync and async
clients only drive it: send the requests it yields, sleep the waits it yields."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from memsvc.client.errors import connection_error, error_from_response
from memsvc.client.retry import Reply, RetryPolicy

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Decoder = Callable[[httpx.Response], T]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation, ready to send."""

    method: str
    path: str
    decode: Decoder[T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Safe to send twice: reads, and the POSTs that only read (search, context, generate).
    idempotent: bool = False
    # Statuses that are an answer, not an error (readyz's 503 "not ready").
    accept: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Wait:
    """Sleep this long before the next attempt."""

    seconds: float


Step = httpx.Request | Wait


def jsonable(value: Any) -> Any:
    """UUIDs, datetimes, enums and models as JSON values."""
    return to_jsonable_python(value, exclude_none=False)


def compact(**values: Any) -> dict[str, Any]:
    """The values given: None means "not sent", so the server's defaults apply."""
    return {k: jsonable(v) for k, v in values.items() if v is not None}


def fill(template: str, **ids: Any) -> str:
    """The path with its parameters quoted (a core block label may hold any character)."""
    return template.format(**{k: quote(str(v), safe="") for k, v in ids.items()})


def request_of(client: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    body = call.content
    headers = dict(call.headers)
    if call.json is not None:
        body = json.dumps(jsonable(call.json)).encode()
        headers.setdefault("content-type", "application/json")
    return client.build_request(
        call.method, call.path, params=call.params, content=body, headers=headers
    )


def outcome(call: Call[T], response: httpx.Response) -> T:
    if response.is_success or response.status_code in call.accept:
        return call.decode(response)
    raise error_from_response(response)


def exchange(
    call: Call[T], request: httpx.Request, policy: RetryPolicy
) -> Generator[Step, Reply | None, T]:
    """Send `request` until it succeeds, fails for good or the retries run out. Yields the
    request (to be answered with the response or the transport error) and the waits."""
    attempt = 0
    while True:
        reply = yield request
        assert reply is not None, "a sent request is answered with its reply"
        accepted = isinstance(reply, httpx.Response) and reply.status_code in call.accept
        delay = (
            None if accepted else policy.delay(reply, idempotent=call.idempotent, attempt=attempt)
        )
        if delay is None:
            if isinstance(reply, httpx.TransportError):
                raise connection_error(reply) from reply
            return outcome(call, reply)
        attempt += 1
        yield Wait(delay)


# --- decoders -------------------------------------------------------------------------------
def model(kind: type[M]) -> Decoder[M]:
    return lambda response: kind.model_validate(response.json())


def model_list(kind: type[M], key: str = "items") -> Decoder[list[M]]:
    return lambda response: [kind.model_validate(item) for item in response.json()[key]]


def first_item(kind: type[M]) -> Decoder[M]:
    return lambda response: kind.model_validate(response.json()["items"][0])


def nothing(_: httpx.Response) -> None:
    return None


def json_lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def jsonl_body(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(jsonable(r)).encode() + b"\n" for r in records)
