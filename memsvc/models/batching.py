"""Micro-batching: concurrent embedding requests share one model call.

A search embeds one query; twenty concurrent searches would otherwise run twenty forward passes
one after the other, each paying the fixed cost of a call (tokeniser set-up, kernel launches, on a
GPU most of the time). Merging them into one call of twenty texts costs little more than one.

How: a request is queued with a future. One drain task per event loop takes the queue in
batches: it waits until `window_s` has passed since the oldest waiting request arrived (so
callers arriving together join it), concatenates the texts of the waiting requests, up to
`max_batch`, runs the blocking function once in a worker thread, and hands each caller its own
rows. While a batch runs, new requests queue up; they form the next batch, without waiting
again if their window has already passed. The function is called by one batch at a time (a
capacity limiter of 1): the model already uses every core, so two calls at once only slow both.

The batcher does no I/O itself; the function it is given does all the work.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np

BatchFunction = Callable[[list[str]], np.ndarray]


@dataclasses.dataclass(eq=False)
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    arrived: float  # loop.time()


@dataclasses.dataclass(eq=False)
class _LoopState:
    """What one event loop needs: futures and tasks cannot be shared between loops."""

    queue: collections.deque[_Request] = dataclasses.field(default_factory=collections.deque)
    drainer: asyncio.Task[None] | None = None
    limiter: anyio.CapacityLimiter = dataclasses.field(
        default_factory=lambda: anyio.CapacityLimiter(1)
    )


class MicroBatcher:
    """Run `function(texts) -> array with one row per text` for many concurrent callers at once.

    `max_batch` caps the texts merged into one call (an int, or a callable read at each batch,
    for a size only known once the model is loaded). A single request larger than the cap is
    never split: it runs alone, and the function chunks it as it would anyway.
    """

    def __init__(
        self,
        function: BatchFunction,
        *,
        window_s: float = 0.003,
        max_batch: int | Callable[[], int] = 64,
    ):
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        self.function = function
        self.window_s = window_s
        self._max_batch = max_batch
        # The service runs one event loop, but tests and scripts may run several over the
        # process's life (asyncio.run more than once); each gets its own queue and drainer.
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._counter_lock = threading.Lock()
        self.batches = 0  # calls of `function`
        self.texts = 0  # texts passed to it
        self.requests = 0  # submit() calls served by those batches
        self.largest_batch = 0
        self.busy_s = 0.0  # seconds spent in `function` (successful batches)

    @property
    def max_batch(self) -> int:
        value = self._max_batch() if callable(self._max_batch) else self._max_batch
        return max(1, int(value))

    def stats(self) -> dict[str, Any]:
        with self._counter_lock:
            return {
                "batches": self.batches,
                "texts": self.texts,
                "requests": self.requests,
                "largest_batch": self.largest_batch,
                "busy_s": round(self.busy_s, 3),
                "window_ms": round(self.window_s * 1000, 3),
            }

    async def submit(self, texts: list[str]) -> np.ndarray:
        """The function's rows for `texts`, computed in a batch with other concurrent callers."""
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        request = _Request(list(texts), loop.create_future(), loop.time())
        state.queue.append(request)
        if state.drainer is None or state.drainer.done():
            # A separate task, not the first caller's: cancelling that caller must not stop
            # the batch the others are waiting on.
            state.drainer = loop.create_task(self._drain(loop, state))
        # If this caller is cancelled, awaiting the future cancels it too; the drainer then
        # skips it (not yet batched) or drops its rows (batch already running).
        return await request.future

    async def _drain(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        try:
            while state.queue:
                # Let callers arriving shortly after the oldest waiting one join its batch. A
                # request that already waited that long (it queued behind a running batch) goes
                # at once. With window 0 this still yields once, so callers started in the same
                # loop iteration (asyncio.gather) share a batch.
                delay = state.queue[0].arrived + self.window_s - loop.time()
                await asyncio.sleep(max(0.0, delay))
                batch = self._take(state.queue)
                if batch:
                    await self._run(batch, state.limiter)
        except asyncio.CancelledError:
            # The loop is shutting down: nobody will serve the requests still queued.
            while state.queue:
                state.queue.popleft().future.cancel()
            raise

    def _take(self, queue: collections.deque[_Request]) -> list[_Request]:
        """Requests for one call, oldest first, up to max_batch texts (at least one request)."""
        cap = self.max_batch
        batch: list[_Request] = []
        size = 0
        while queue:
            request = queue[0]
            if request.future.done():  # cancelled while waiting: nobody wants its rows
                queue.popleft()
                continue
            if batch and size + len(request.texts) > cap:
                break
            batch.append(queue.popleft())
            size += len(request.texts)
        return batch

    async def _run(self, batch: list[_Request], limiter: anyio.CapacityLimiter) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            started = time.perf_counter()
            rows = await anyio.to_thread.run_sync(self.function, texts, limiter=limiter)
            busy = time.perf_counter() - started
            if len(rows) != len(texts):
                raise RuntimeError(f"the batch function returned {len(rows)} rows for {len(texts)}")
        except BaseException as exc:
            # Every caller of the batch gets the error (each raises it in its own task); the
            # drainer carries on with the next batch, except when it is itself cancelled.
            for request in batch:
                if not request.future.done():
                    if isinstance(exc, Exception):
                        request.future.set_exception(exc)
                    else:
                        request.future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        with self._counter_lock:
            self.batches += 1
            self.texts += len(texts)
            self.requests += len(batch)
            self.largest_batch = max(self.largest_batch, len(texts))
            self.busy_s += busy
        start = 0
        for request in batch:
            end = start + len(request.texts)
            if not request.future.done():  # its caller may have been cancelled meanwhile
                request.future.set_result(rows[start:end])
            start = end
