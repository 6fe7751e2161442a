"""Embedded PostgreSQL (pgserver: PostgreSQL 16 + pgvector) under the data dir.

The zero-setup default: `memsvc serve` without MEMSVC_DATABASE_URL starts one here. It keeps
running as long as a process uses it and stops with the last one.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Start (or attach to) the embedded server; return a postgresql:// URL for it."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, containers): harmless.
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    uri: str = server.get_uri()
    log.info("embedded PostgreSQL ready at %s", pgdata)
    return uri
