"""The migrations alone make the schema; the Core tables used for queries must match them."""

from __future__ import annotations

import psycopg

from memsvc import migrate
from memsvc.store.db import libpq_url
from memsvc.store.tables import metadata


def _columns(db_url: str) -> dict[str, dict[str, bool]]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    out: dict[str, dict[str, bool]] = {}
    for table, column, nullable in rows:
        out.setdefault(table, {})[column] = nullable == "YES"
    return out


def test_tables_match_migrations(db_url):
    actual = _columns(db_url)
    for table in metadata.sorted_tables:
        assert table.name in actual, f"{table.name} is not created by the migrations"
        declared = {c.name: c.nullable for c in table.columns}
        assert set(declared) == set(actual[table.name]), table.name
        for name, nullable in declared.items():
            assert bool(nullable) == actual[table.name][name], f"{table.name}.{name} nullability"


def test_database_is_at_head(db_url):
    assert migrate.current_revision(db_url) == migrate.head_revision()


def test_required_indexes_exist(db_url):
    with psycopg.connect(libpq_url(db_url)) as conn:
        indexes = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memories'"
            ).fetchall()
        )
    assert "hnsw" in indexes["memories_embedding_hnsw"]
    assert "vector_cosine_ops" in indexes["memories_embedding_hnsw"]
    assert "gin" in indexes["memories_search_tsv"].lower()
    assert (
        "(cube_id, status, memory_type, occurred_at)" in indexes["memories_cube_status_type_time"]
    )


def test_embedding_dimension_follows_the_model(db_url, embedder):
    assert migrate.stored_embedding_dim(db_url) == embedder.dimension == 384
