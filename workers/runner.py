"""Run the procrastinate worker: standalone (`memsvc worker`) or inside the API (`memsvc serve`).

Both share one Runtime shape (settings, database, embedder) which the tasks find in their job
context (`additional_context["runtime"]`). The in-process worker reuses the API's Runtime, so
the embedding model is loaded once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from memsvc.config import Settings, get_settings
from memsvc.models.embedder import Embedder
from memsvc.services.runtime import Runtime
from memsvc.store.db import Database, create_engine
from workers.app import create_app

log = logging.getLogger(__name__)

# How long a stopping worker lets running jobs finish before aborting them.
SHUTDOWN_GRACE_SECONDS = 30.0


def _worker_options(runtime: Runtime, *, concurrency: int, name: str) -> dict[str, Any]:
    return {
        "concurrency": concurrency,
        "name": name,
        "additional_context": {"runtime": runtime},
        "shutdown_graceful_timeout": SHUTDOWN_GRACE_SECONDS,
        "update_heartbeat_interval": 10.0,
        "stalled_worker_timeout": 60.0,
        "delete_jobs": "never",  # GET /v1/jobs/{id} reports finished jobs too
    }


async def work(
    url: str,
    runtime: Runtime,
    *,
    concurrency: int = 1,
    wait: bool = True,
    install_signal_handlers: bool = False,
    name: str = "memsvc-worker",
) -> None:
    """Run a worker on the database at `url` until stopped (or, with wait=False, until the
    queue is empty and the jobs it took are finished)."""
    app = create_app(url, max_connections=concurrency + 2)
    async with app.open_async():
        await app.run_worker_async(
            wait=wait,
            install_signal_handlers=install_signal_handlers,
            listen_notify=wait,
            **_worker_options(runtime, concurrency=concurrency, name=name),
        )


async def work_until_idle(url: str, runtime: Runtime, *, concurrency: int = 1) -> None:
    """Process every job queued now, then return (tests, one-off maintenance)."""
    await work(url, runtime, concurrency=concurrency, wait=False, name="memsvc-drain")


def attach_worker(app: Any, url: str, *, concurrency: int) -> None:
    """Run a worker inside the API process for the lifetime of the app.

    It starts once the app's own lifespan has built the Runtime and stops (letting running
    jobs finish, up to SHUTDOWN_GRACE_SECONDS) before that lifespan closes the database.
    Signals stay with the server (uvicorn); the worker is stopped through the lifespan.
    """
    inner = app.router.lifespan_context
    app.state.worker_attached = True

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(
                work(
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
    embedder = Embedder.from_settings(settings)
    db = Database(create_engine(url, pool_size=max(2, concurrency + 1)))
    return Runtime(settings=settings, db=db, embedder=embedder)


def run_worker(url: str, *, concurrency: int) -> None:
    """Blocking worker for `memsvc worker`; SIGINT/SIGTERM stop it after the running jobs."""
    settings = get_settings()

    async def main() -> None:
        runtime = build_runtime(url, settings, concurrency=concurrency)
        try:
            await work(url, runtime, concurrency=concurrency, install_signal_handlers=True)
        finally:
            await runtime.db.dispose()

    log.info("memsvc worker starting (concurrency %s)", concurrency)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # interrupted before procrastinate installed its handlers
        pass
    log.info("memsvc worker stopped")
