"""The two thin executors: they send what the shared layer (`calls`) builds, sleep the waits
it asks for, and follow cursors. All decisions (what to send, whether to retry, how to read
the answer) are made in `calls` and `retry`, once for both."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx

from memsvc import __version__
from memsvc.client.calls import Call, Wait, exchange, request_of
from memsvc.client.retry import RetryPolicy

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item of a page

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0  # a search or an ingestion with inference may take seconds

NextPage = Callable[[Any], "Call[Any] | None"]


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T


def advance(plan: Generator[Any, Any, T], reply: Any) -> Any:
    """The plan's next step, or `Done` with what it returned."""
    try:
        return plan.send(reply)
    except StopIteration as finished:
        return Done(finished.value)


class Executor:
    """What both clients are configured with.

    `base_url` and `api_key` default to MEMSVC_URL and MEMSVC_API_KEY. `transport` is handed
    to httpx (an in-process ASGI app, a proxy, a test double). `sleep` is how retries wait
    (tests pass one that records the delays)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: Any = None,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Any] | None = None,
    ):
        self.retry_policy = RetryPolicy(
            max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max
        )
        key = api_key if api_key is not None else os.environ.get("MEMSVC_API_KEY")
        sent = {"user-agent": f"memsvc-python/{__version__}", **(headers or {})}
        if key:
            sent["authorization"] = f"Bearer {key}"
        self._sleep = sleep or self._default_sleep()
        self._http = self._open(
            base_url=base_url or os.environ.get("MEMSVC_URL") or DEFAULT_BASE_URL,
            headers=sent,
            timeout=timeout,
            transport=transport,
        )

    def _default_sleep(self) -> Callable[[float], Any]:
        raise NotImplementedError

    def _open(self, **options: Any) -> Any:
        raise NotImplementedError


class SyncExecutor(Executor):
    _http: httpx.Client

    def _default_sleep(self) -> Callable[[float], Any]:
        return time.sleep

    def _open(self, **options: Any) -> httpx.Client:
        return httpx.Client(**options)

    def _run(self, call: Call[T]) -> T:
        return self._drive(exchange(call, request_of(self._http, call), self.retry_policy))

    def _drive(self, plan: Generator[Any, Any, T]) -> T:
        reply = None
        while not isinstance(step := advance(plan, reply), Done):
            reply = self._perform(step)
        return step.value

    def _perform(self, step: Any) -> Any:
        if isinstance(step, Wait):
            return self._sleep(step.seconds)
        if isinstance(step, Call):
            return self._run(step)
        try:
            return self._http.send(step)
        except httpx.TransportError as exc:
            return exc

    def _paginate(self, after: NextPage, items: Callable[[Any], Iterable[I]]) -> Iterator[I]:
        page = None
        while (call := after(page)) is not None:
            page = self._run(call)
            yield from items(page)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncExecutor(Executor):
    _http: httpx.AsyncClient

    def _default_sleep(self) -> Callable[[float], Any]:
        return asyncio.sleep

    def _open(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**options)

    async def _run(self, call: Call[T]) -> T:
        return await self._drive(exchange(call, request_of(self._http, call), self.retry_policy))

    async def _drive(self, plan: Generator[Any, Any, T]) -> T:
        reply = None
        while not isinstance(step := advance(plan, reply), Done):
            reply = await self._perform(step)
        return step.value

    async def _perform(self, step: Any) -> Any:
        if isinstance(step, Wait):
            slept = self._sleep(step.seconds)
            # a plain function may stand in for asyncio.sleep (a test recording the delays)
            return await slept if inspect.isawaitable(slept) else slept
        if isinstance(step, Call):
            return await self._run(step)
        try:
            return await self._http.send(step)
        except httpx.TransportError as exc:
            return exc

    async def _paginate(
        self, after: NextPage, items: Callable[[Any], Iterable[I]]
    ) -> AsyncIterator[I]:
        page = None
        while (call := after(page)) is not None:
            page = await self._run(call)
            for item in items(page):
                yield item

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
