"""Apply Alembic migrations programmatically (`memsvc migrate`, and before `memsvc serve`)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from memsvc.config import Settings
from memsvc.models.remote import embedding_dimension
from memsvc.store.db import sqlalchemy_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str, settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["embedding_model"] = settings.embedding_model
    # MEMSVC_EMBEDDING_DIM, else the remote model's (one call), else the local model's.
    cfg.attributes["embedding_dim"] = embedding_dimension(settings)
    return cfg


def upgrade(database_url: str, settings: Settings) -> None:
    command.upgrade(alembic_config(database_url, settings), "head")
    log.info("migrations applied")


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(database_url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def stored_embedding_dim(database_url: str) -> int | None:
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("SELECT value FROM memsvc_meta WHERE key = 'embedding_dim'")
            ).scalar()
            return int(value) if value else None
    finally:
        engine.dispose()
