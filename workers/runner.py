"""Run the procrastinate worker: standalone (`memsvc worker`) or inside the API (`memsvc serve`).

Both share one Runtime shape (settings, database, embedder) which the tasks find in their job
context (`additional_context["runtime"]`). The in-process worker reuses the API's Runtime, so
the embedding model is loaded once per process.

A worker that dies (killed, out of memory, host lost) leaves its jobs `doing` for ever: every
live worker therefore looks, at start and every `worker_stalled_seconds / 2` while it runs, for
running jobs whose worker has not sent a heartbeat for `worker_stalled_seconds`, and puts them
back in the queue. The jobs are idempotent (enrichment skips memories already enriched, writes
one memory per transaction), so the retry converges to the state an uninterrupted run reaches.

A worker whose database goes away (a restart, a failover) stops: procrastinate ends a worker
whose heartbeat, notification listener or job fetch fails. `work_forever` (what `memsvc serve`
and `memsvc worker` run) then starts it again, after a pause that doubles up to
RESTART_MAX_DELAY_S while the database stays away, and the new worker first puts back in the
queue the jobs its predecessor was running (their outcome could not be recorded), without
waiting for `worker_stalled_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import procrastinate
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job

from memsvc.config import Settings, get_settings
from memsvc.models.remote import make_embedder
from memsvc.services.runtime import Runtime
from memsvc.store.db import Database, create_engine
from workers.app import create_app

log = logging.getLogger(__name__)

# How long a stopping worker lets running jobs finish before aborting them.
SHUTDOWN_GRACE_SECONDS = 30.0
# A job whose worker died this many times is failed rather than retried once more: a job that
# kills its worker (out of memory, say) must not take every worker down in turn.
STALLED_MAX_RUNS = 5
# A worker that stopped by itself (its database went away) is started again after a pause:
# RESTART_MIN_DELAY_S, doubling while it keeps failing, at most RESTART_MAX_DELAY_S. A worker
# that ran longer than RESTART_RESET_S before stopping starts again after the shortest pause.
RESTART_MIN_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
RESTART_RESET_S = 60.0

# Retry (or fail) a stalled job only if it is still `doing` for the worker that was seen dead:
# two live workers may find the same stalled job, and the second must not put back in the
# queue a job the first one's retry already handed to a live worker. FOR UPDATE re-checks the
# condition on the row's newest version, so the check and the change are one step.
_STALLED_TARGET = """
WITH target AS (
    SELECT id FROM procrastinate_jobs
     WHERE id = %(job_id)s AND status = 'doing'
       AND worker_id IS NOT DISTINCT FROM %(worker_id)s
       FOR UPDATE
)
"""
_RETRY_STALLED = (
    _STALLED_TARGET
    + "SELECT procrastinate_retry_job_v2(id, NOW(), NULL, NULL, NULL)::text AS done FROM target"
)
_FAIL_STALLED = (
    _STALLED_TARGET
    + "SELECT procrastinate_finish_job_v1(id, 'failed', false)::text AS done FROM target"
)
# The jobs a worker known to be gone (an earlier run of this process's worker) left running.
_JOBS_OF_WORKER = """
SELECT id, status, priority, lock, queueing_lock, task_name, args, scheduled_at, queue_name,
       attempts, worker_id
  FROM procrastinate_jobs
 WHERE status = 'doing' AND worker_id = %(worker_id)s
"""


def stalled_timings(stalled_seconds: float) -> tuple[float, float, float]:
    """(heartbeat interval, stalled-worker timeout, interval between stalled-job checks): a
    worker beats at least 4 times per timeout, and looks for stalled jobs twice per timeout."""
    return min(10.0, stalled_seconds / 4), stalled_seconds, stalled_seconds / 2


class _RunningJobs:
    """Worker middleware: the ids of the jobs this worker is running now. A worker whose event
    loop was busy may find its own heartbeat late; it never retries a job it is running.
    `worker_ids`: the queue's ids of the procrastinate workers that ran jobs here (one per
    start), so that a restarted worker knows whose jobs were left running."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.worker_ids: set[int] = set()

    async def __call__(self, call_next: Any, context: JobContext, worker: Any) -> Any:
        job_id = context.job.id
        if getattr(worker, "worker_id", None) is not None:
            self.worker_ids.add(worker.worker_id)
        if job_id is None:
            return await call_next()
        self.ids.add(job_id)
        try:
            return await call_next()
        finally:
            self.ids.discard(job_id)


def _worker_options(
    runtime: Runtime, *, concurrency: int, name: str, running: _RunningJobs | None = None
) -> dict[str, Any]:
    heartbeat, stalled, _ = stalled_timings(runtime.settings.worker_stalled_seconds)
    return {
        "concurrency": concurrency,
        "name": name,
        "additional_context": {"runtime": runtime},
        "shutdown_graceful_timeout": SHUTDOWN_GRACE_SECONDS,
        "update_heartbeat_interval": heartbeat,
        "stalled_worker_timeout": stalled,
        "delete_jobs": "never",  # GET /v1/jobs/{id} reports finished jobs too
        "worker_middleware": [running or _RunningJobs()],
    }


async def retry_stalled_jobs(
    app: procrastinate.App,
    *,
    stalled_seconds: float,
    exclude: set[int] | frozenset[int] = frozenset(),
) -> list[Job]:
    """Put back in the queue the running jobs of workers silent for `stalled_seconds` (dead);
    fail those whose workers died STALLED_MAX_RUNS times. Returns the jobs retried or failed."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds)
    handled = []
    for job in stalled:
        if job.id is None or job.id in exclude:
            continue
        if await _retry_or_fail(app, job):
            handled.append(job)
    return handled


async def retry_jobs_of_gone_workers(app: procrastinate.App, worker_ids: set[int]) -> list[Job]:
    """Put back in the queue (or fail, as retry_stalled_jobs does) the jobs that these workers,
    known to be gone (earlier runs of this process's worker), left running; unregister them.
    Each worker handled is removed from `worker_ids`."""
    handled = []
    for worker_id in sorted(worker_ids):
        rows = await app.connector.execute_query_all_async(_JOBS_OF_WORKER, worker_id=worker_id)
        for row in rows:
            job = Job.from_row(row)
            if await _retry_or_fail(app, job, why="stopped when its database went away"):
                handled.append(job)
        await app.job_manager.unregister_worker(worker_id)
        worker_ids.discard(worker_id)
    return handled


async def _retry_or_fail(
    app: procrastinate.App, job: Job, why: str = "stopped sending heartbeats"
) -> bool:
    """Retry a job whose worker died (fail it after STALLED_MAX_RUNS runs), provided it is still
    running on that worker; False when another worker handled it first or it finished."""
    public_id = job.task_kwargs.get("job_id")
    give_up = job.attempts + 1 >= STALLED_MAX_RUNS
    rows = await app.connector.execute_query_all_async(
        _FAIL_STALLED if give_up else _RETRY_STALLED, job_id=job.id, worker_id=job.worker_id
    )
    if not rows:
        return False
    if give_up:
        log.error(
            "job %s (%s, id %s) failed: its worker died during each of its %s runs",
            public_id,
            job.task_name,
            job.id,
            job.attempts + 1,
        )
    else:
        log.warning(
            "job %s (%s, id %s) retried: its worker (%s) %s during run %s",
            public_id,
            job.task_name,
            job.id,
            job.worker_id if job.worker_id is not None else "gone",
            why,
            job.attempts + 1,
        )
    return True


async def _watch_stalled_jobs(
    app: procrastinate.App, *, stalled_seconds: float, interval: float, running: _RunningJobs
) -> None:
    """Every `interval` seconds, retry_stalled_jobs; an error is logged and tried again."""
    while True:
        await asyncio.sleep(interval)
        await _retry_stalled_safely(app, stalled_seconds=stalled_seconds, running=running)


async def _retry_stalled_safely(
    app: procrastinate.App, *, stalled_seconds: float, running: _RunningJobs
) -> None:
    try:
        await retry_stalled_jobs(app, stalled_seconds=stalled_seconds, exclude=running.ids)
    except Exception:  # the database away for a moment: the next round tries again
        log.warning("could not check for jobs of dead workers", exc_info=True)


async def work(
    url: str,
    runtime: Runtime,
    *,
    concurrency: int = 1,
    wait: bool = True,
    install_signal_handlers: bool = False,
    name: str = "memsvc-worker",
    running: _RunningJobs | None = None,
    gone_workers: set[int] | None = None,
) -> None:
    """Run a worker on the database at `url` until stopped (or, with wait=False, until the
    queue is empty and the jobs it took are finished). `gone_workers`: queue ids of this
    process's earlier workers, whose running jobs are put back in the queue first."""
    _, stalled, interval = stalled_timings(runtime.settings.worker_stalled_seconds)
    running = running or _RunningJobs()
    # + the listener's connection, the heartbeat's, the stalled-job check's.
    app = create_app(url, max_connections=concurrency + 3)
    async with app.open_async():
        if gone_workers:
            await retry_jobs_of_gone_workers(app, gone_workers)
        # Once before the first fetch, so that even a draining worker (wait=False) runs what a
        # dead worker left; then in the background while the worker runs.
        await _retry_stalled_safely(app, stalled_seconds=stalled, running=running)
        watcher = asyncio.create_task(
            _watch_stalled_jobs(app, stalled_seconds=stalled, interval=interval, running=running),
            name="memsvc-stalled-jobs",
        )
        try:
            await app.run_worker_async(
                wait=wait,
                install_signal_handlers=install_signal_handlers,
                listen_notify=wait,
                **_worker_options(runtime, concurrency=concurrency, name=name, running=running),
            )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def work_forever(
    url: str, runtime: Runtime, *, concurrency: int = 1, name: str = "memsvc-worker"
) -> None:
    """`work` until cancelled (cancelling is the graceful stop). A worker that stops by itself,
    or fails to start, because its database went away is started again after a pause
    (RESTART_MIN_DELAY_S, doubling up to RESTART_MAX_DELAY_S while it keeps failing); the
    jobs the stopped one was running are put back in the queue at once."""
    delay = RESTART_MIN_DELAY_S
    gone: set[int] = set()
    while True:
        running = _RunningJobs()
        started = time.monotonic()
        failure: BaseException | None = None
        try:
            await work(
                url,
                runtime,
                concurrency=concurrency,
                name=name,
                running=running,
                gone_workers=gone,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database away: connect, fetch, heartbeat or listen
            failure = exc
        gone |= running.worker_ids
        if time.monotonic() - started > RESTART_RESET_S:
            delay = RESTART_MIN_DELAY_S
        log.error(
            "the worker %s %s; starting it again in %.0f s",
            name,
            f"failed: {failure!r}" if failure else "stopped (a database connection failed)",
            delay,
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_MAX_DELAY_S)


async def work_until_idle(url: str, runtime: Runtime, *, concurrency: int = 1) -> None:
    """Process every job queued now, then return (tests, one-off maintenance)."""
    await work(url, runtime, concurrency=concurrency, wait=False, name="memsvc-drain")


def attach_worker(app: Any, url: str, *, concurrency: int) -> None:
    """Run a worker inside the API process for the lifetime of the app.

    It starts once the app's own lifespan has built the Runtime and stops (letting running
    jobs finish, up to SHUTDOWN_GRACE_SECONDS) before that lifespan closes the database.
    Signals stay with the server (uvicorn); the worker is stopped through the lifespan. A
    worker that stops by itself (the database went away) is started again (work_forever).
    """
    inner = app.router.lifespan_context
    app.state.worker_attached = True

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(
                work_forever(
                    url,
                    application.state.runtime,
                    concurrency=concurrency,
                    name="memsvc-api-worker",
                ),
                name="memsvc-worker",
            )
            task.add_done_callback(_report_exit)
            application.state.worker_task = task
            try:
                yield state
            finally:
                await _stop(task)

    app.router.lifespan_context = lifespan


def _report_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the in-process worker stopped", exc_info=task.exception())


async def _stop(task: asyncio.Task[None]) -> None:
    if task.done():
        return
    # Cancelling run_worker_async is procrastinate's way to ask a graceful stop.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def build_runtime(url: str, settings: Settings, *, concurrency: int) -> Runtime:
    embedder = make_embedder(settings)
    db = Database(create_engine(url, pool_size=max(2, concurrency + 1)))
    return Runtime(settings=settings, db=db, embedder=embedder)


def run_worker(url: str, settings: Settings | None = None, *, concurrency: int) -> None:
    """Blocking worker for `memsvc worker`; SIGINT/SIGTERM stop it after the running jobs (a
    second signal acts as if none was handled). It outlives database outages (work_forever).
    `settings`: those the command prepared (default: from the environment)."""
    settings = settings or get_settings()

    async def main() -> None:
        runtime = build_runtime(url, settings, concurrency=concurrency)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def stop() -> None:
            log.info("memsvc worker stopping: letting running jobs finish")
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            task.cancel()  # the graceful stop (procrastinate's own, on cancellation)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            await work_forever(url, runtime, concurrency=concurrency)
        except asyncio.CancelledError:
            pass
        finally:
            await runtime.db.dispose()

    log.info("memsvc worker starting (concurrency %s)", concurrency)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # interrupted before the handlers were installed
        pass
    log.info("memsvc worker stopped")
