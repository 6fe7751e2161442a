"""Alembic migrations: the only way memsvc's schema is created or changed."""
