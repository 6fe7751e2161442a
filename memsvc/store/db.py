"""Engine and transactions. Driver errors are translated to domain errors at this edge."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from memsvc.errors import Unavailable

log = logging.getLogger(__name__)

# A database that does not answer (host down, network cut) must not hold a request for ever:
# connecting gives up after this many seconds, waiting for a pooled connection after
# POOL_TIMEOUT_S; either is a 503 `unavailable`.
CONNECT_TIMEOUT_S = 10
POOL_TIMEOUT_S = 10
UNAVAILABLE = "the database is not reachable; retry shortly"
# The connection was lost while the COMMIT was under way: the server may have committed.
COMMIT_UNKNOWN = (
    "the database connection was lost while committing: the change may or may not have been "
    "saved; read it back before retrying"
)


def sqlalchemy_url(url: str) -> str:
    """Normalise any postgres URL to the psycopg 3 driver SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL as plain libpq understands it (psycopg, procrastinate)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a connection the server dropped is replaced, not used
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


def _is_connection_problem(exc: sa_exc.DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError
    )


def _unavailable(committing: bool) -> Unavailable:
    if committing:
        return Unavailable(COMMIT_UNKNOWN, details={"outcome": "unknown"})
    return Unavailable(UNAVAILABLE)


class Database:
    """Owns the engine; hands out transactions. Services own transaction boundaries."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction, committed when the block ends. A lost database is `Unavailable`
        (503): nothing was written, unless the connection was lost during the COMMIT itself,
        when the outcome is unknown (`details.outcome` says so)."""
        committing = False
        try:
            async with self.engine.begin() as conn:
                yield conn
                committing = True
        except sa_exc.DBAPIError as exc:
            if _is_connection_problem(exc):
                log.warning("database unavailable: %s", exc.orig)
                raise _unavailable(committing) from exc
            raise
        except (OSError, TimeoutError, sa_exc.TimeoutError) as exc:
            log.warning("database unavailable: %r", exc)
            raise _unavailable(committing) from exc

    async def dispose(self) -> None:
        await self.engine.dispose()
