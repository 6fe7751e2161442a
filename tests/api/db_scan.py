"""A check the secrecy tests share: a plaintext is nowhere in the database."""

from __future__ import annotations

import psycopg
from psycopg import sql

from memsvc.store.db import libpq_url


def assert_nowhere_in_db(db_url: str, *plaintexts: str) -> None:
    """No row of any table (as text: every column, tsvectors and JSON included) holds a
    plaintext, nor do the vault ciphertext bytes, nor does any snapshot name `secret_value`."""
    needles = [p.encode() for p in plaintexts]
    with psycopg.connect(libpq_url(db_url)) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert ("public", "memories") in tables
        for schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            ).fetchall()
            for (row,) in rows:
                for plaintext in plaintexts:
                    assert plaintext not in row, (table, row[:300])
        for (blob,) in conn.execute(
            "SELECT secret_ciphertext FROM memories WHERE secret_ciphertext IS NOT NULL"
        ).fetchall():
            assert all(n not in bytes(blob) for n in needles)
        for (snapshot,) in conn.execute("SELECT snapshot::text FROM memory_versions").fetchall():
            assert "secret_value" not in snapshot
