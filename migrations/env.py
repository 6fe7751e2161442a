"""Alembic environment. The URL and the embedding size come from memsvc (memsvc.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from memsvc.store.db import sqlalchemy_url

config = context.config


def _sync_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `memsvc migrate`")
    # Alembic runs synchronously; psycopg 3 serves both sync and async engines.
    return sqlalchemy_url(url)


def run_migrations_online() -> None:
    engine = create_engine(_sync_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=None, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use `memsvc migrate`")
run_migrations_online()
