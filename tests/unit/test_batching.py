"""MicroBatcher: concurrent requests share calls of a real blocking function."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from memsvc.models.batching import MicroBatcher


class Recorder:
    """A blocking batch function: one row [len(text), call number] per text; records calls."""

    def __init__(self, sleep_s: float = 0.0, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.sleep_s = sleep_s
        self.fail_on = fail_on
        self._lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(list(texts))
            self.threads.add(threading.get_ident())
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
            number = len(self.calls)
        try:
            if self.sleep_s:
                time.sleep(self.sleep_s)
            if self.fail_on is not None and self.fail_on in texts:
                raise RuntimeError(f"cannot embed {self.fail_on!r}")
            return np.array([[len(t), number] for t in texts], dtype=np.float32)
        finally:
            with self._lock:
                self.concurrent -= 1


def _lengths(rows: np.ndarray) -> list[int]:
    return [int(r) for r in rows[:, 0]]


async def test_concurrent_submits_within_the_window_share_one_call() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, window_s=0.05, max_batch=100)
    texts = [["a" * n] for n in range(1, 11)]
    results = await asyncio.gather(*(batcher.submit(t) for t in texts))
    assert len(fn.calls) == 1
    assert sorted(fn.calls[0]) == sorted(t[0] for t in texts)
    for request, rows in zip(texts, results, strict=True):
        assert _lengths(rows) == [len(request[0])]  # each caller got its own row
    assert threading.get_ident() not in fn.threads  # run in a worker thread
    assert batcher.stats()["batches"] == 1
    assert batcher.stats()["texts"] == 10
    assert batcher.stats()["requests"] == 10


async def test_staggered_callers_join_the_pending_batch() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, window_s=0.2, max_batch=100)

    async def late(delay: float, text: str) -> np.ndarray:
        await asyncio.sleep(delay)
        return await batcher.submit([text])

    results = await asyncio.gather(late(0.0, "x"), late(0.05, "yy"), late(0.1, "zzz"))
    assert len(fn.calls) == 1
    assert [_lengths(r) for r in results] == [[1], [2], [3]]


async def test_multi_text_requests_are_routed_to_their_callers() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, window_s=0.02, max_batch=100)
    requests = [["a", "bb", "ccc"], ["dddd"], ["eeeee", "ffffff"]]
    results = await asyncio.gather(*(batcher.submit(r) for r in requests))
    assert len(fn.calls) == 1
    for request, rows in zip(requests, results, strict=True):
        assert _lengths(rows) == [len(t) for t in request]


async def test_requests_arriving_during_a_batch_form_the_next_one() -> None:
    fn = Recorder(sleep_s=0.2)
    batcher = MicroBatcher(fn, window_s=0.01, max_batch=100)
    first = asyncio.ensure_future(batcher.submit(["first"]))
    await asyncio.sleep(0.05)  # the first batch is running now
    later = await asyncio.gather(*(batcher.submit([f"later{i}"]) for i in range(5)))
    await first
    assert [len(c) for c in fn.calls] == [1, 5]
    assert [_lengths(r) for r in later] == [[6]] * 5
    assert fn.max_concurrent == 1  # one batch at a time


async def test_max_batch_caps_a_call_and_an_oversized_request_runs_alone() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, window_s=0.02, max_batch=4)
    requests = [["a", "b"], ["c", "d"], ["e"], ["f" * 7] * 9, ["g", "h", "i"]]
    results = await asyncio.gather(*(batcher.submit(r) for r in requests))
    assert all(len(call) <= 4 or len(call) == 9 for call in fn.calls)
    assert [len(c) for c in fn.calls] == [4, 1, 9, 3]  # in arrival order, never split
    for request, rows in zip(requests, results, strict=True):
        assert _lengths(rows) == [len(t) for t in request]
    assert batcher.stats()["largest_batch"] == 9


async def test_max_batch_may_be_a_callable() -> None:
    fn = Recorder()
    size = {"value": 2}
    batcher = MicroBatcher(fn, window_s=0.02, max_batch=lambda: size["value"])
    await asyncio.gather(*(batcher.submit([str(i)]) for i in range(4)))
    assert [len(c) for c in fn.calls] == [2, 2]
    size["value"] = 10
    await asyncio.gather(*(batcher.submit([str(i)]) for i in range(4)))
    assert [len(c) for c in fn.calls] == [2, 2, 4]


async def test_an_exception_reaches_every_caller_of_its_batch_and_the_next_batch_works() -> None:
    fn = Recorder(fail_on="boom")
    batcher = MicroBatcher(fn, window_s=0.02, max_batch=100)
    results = await asyncio.gather(
        batcher.submit(["ok"]),
        batcher.submit(["boom"]),
        batcher.submit(["fine"]),
        return_exceptions=True,
    )
    assert len(fn.calls) == 1
    assert all(isinstance(r, RuntimeError) and "boom" in str(r) for r in results)
    assert batcher.stats()["batches"] == 0  # failed batches are not counted
    after = await asyncio.gather(batcher.submit(["ok"]), batcher.submit(["again"]))
    assert [_lengths(r) for r in after] == [[2], [5]]
    assert len(fn.calls) == 2


async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    fn = Recorder(sleep_s=0.1)
    batcher = MicroBatcher(fn, window_s=0.05, max_batch=100)
    # The first caller creates the drainer; cancel it before the window closes.
    first = asyncio.ensure_future(batcher.submit(["cancelled"]))
    others = [asyncio.ensure_future(batcher.submit([t])) for t in ("bb", "ccc")]
    await asyncio.sleep(0.01)
    first.cancel()
    results = await asyncio.gather(*others)
    assert [_lengths(r) for r in results] == [[2], [3]]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert fn.calls == [["bb", "ccc"]]  # the cancelled request was not computed

    # Cancelled while its batch runs: the batch completes for the others.
    running = [asyncio.ensure_future(batcher.submit([t])) for t in ("dddd", "eeeee")]
    await asyncio.sleep(0.08)  # window passed, the call is under way
    running[0].cancel()
    assert _lengths(await running[1]) == [5]
    assert running[0].cancelled()
    assert fn.calls[-1] == ["dddd", "eeeee"]


async def test_window_zero_batches_callers_of_the_same_loop_iteration() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, window_s=0.0, max_batch=100)
    results = await asyncio.gather(*(batcher.submit(["x" * n]) for n in range(1, 9)))
    assert len(fn.calls) == 1
    assert [_lengths(r) for r in results] == [[n] for n in range(1, 9)]
    # Sequential callers each get a call of their own, without waiting.
    started = time.perf_counter()
    for n in range(3):
        assert _lengths(await batcher.submit(["y" * (n + 1)])) == [n + 1]
    assert len(fn.calls) == 4
    assert time.perf_counter() - started < 1.0


def test_each_event_loop_gets_its_own_queue() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, window_s=0.01, max_batch=100)

    async def burst() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.submit(["ab"]) for _ in range(3)))

    for _ in range(2):  # a second asyncio.run: the old loop's state must not be reused
        assert [_lengths(r) for r in asyncio.run(burst())] == [[2]] * 3
    assert len(fn.calls) == 2


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), window_s=-1.0)
