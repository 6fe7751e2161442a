"""The procrastinate App: the job queue lives in the service's own PostgreSQL database.

The API enqueues jobs with SQL on its own transactions (memsvc.store.jobs), so only workers need
an App; each worker builds a fresh one for its database URL.
"""

from __future__ import annotations

import procrastinate

from memsvc.store.db import CONNECT_TIMEOUT_S, POOL_TIMEOUT_S, libpq_url
from workers import tasks


def create_app(url: str, *, max_connections: int = 4) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(url),
        min_size=1,
        max_size=max(2, max_connections),
        # While the database is away, a query waits this long for a connection, then fails:
        # the worker stops and workers.runner.work_forever starts it again (not a silent hang).
        timeout=POOL_TIMEOUT_S,
        kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
    )
    app = procrastinate.App(connector=connector)
    tasks.register(app)
    return app
