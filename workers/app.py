"""The procrastinate App: the job queue lives in the service's own PostgreSQL database.

The API enqueues jobs with SQL on its own transactions (memsvc.store.jobs), so only workers need
an App; each worker builds a fresh one for its database URL.
"""

from __future__ import annotations

import procrastinate

from memsvc.store.db import libpq_url
from workers import tasks


def create_app(url: str, *, max_connections: int = 4) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(url), min_size=1, max_size=max(2, max_connections)
    )
    app = procrastinate.App(connector=connector)
    tasks.register(app)
    return app
