"""SQL of cube export and import: every row a cube owns, read in pages and written in batches.

Rows travel as plain JSON: each column encoded by its SQL type (`encode_value`), and decoded
back by the same type on import (`decode_row`), so a new column of a table travels without
any change here. Generated or minted columns (`seq`, serial ids) are never written back.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    Uuid,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.domain.memory import Cube
from memsvc.store.tables import (
    cubes,
    graph_edges,
    graph_mentions,
    graph_nodes,
    memories,
    memory_links,
    memory_quarantine,
    memory_sources,
    memory_versions,
)

# Record kind -> table, in the order an import can apply them (what a row references first).
TABLES: dict[str, Table] = {
    "memory": memories,
    "version": memory_versions,
    "link": memory_links,
    "source": memory_sources,
    "node": graph_nodes,
    "mention": graph_mentions,
    "edge": graph_edges,
    "quarantine": memory_quarantine,
}
# Columns the importing side decides: the new cube and tenant, and what the database mints
# (graph node ids are minted too, but read: mentions and edges name nodes by them).
OWNER_COLUMNS = frozenset({"cube_id", "tenant_id"})
MINTED: dict[str, frozenset[str]] = {
    "memory": frozenset({"seq"}),
    "edge": frozenset({"id"}),
    "quarantine": frozenset({"id"}),
}


# --- values ---------------------------------------------------------------------------------
def encode_value(column: Column[Any], value: Any) -> Any:
    """A column's value as JSON: uuids and times as text, vectors as float lists, bytes as
    base64 (vault ciphertext stays ciphertext), a tsvector as its text form."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, Uuid):
        return str(value)
    if isinstance(kind, DateTime):
        return value.isoformat()
    if isinstance(kind, Vector):
        return [float(x) for x in value]
    if isinstance(kind, LargeBinary):
        return base64.b64encode(value).decode()
    if isinstance(kind, ARRAY):
        return [str(v) for v in value] if isinstance(kind.item_type, Uuid) else list(value)
    return value


def _fail(column: Column[Any], wanted: str) -> ValueError:
    return ValueError(f"{column.name}: expected {wanted}")


def _decode_scalar(column: Column[Any], kind: Any, value: Any) -> Any:
    if isinstance(kind, Uuid):
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise _fail(column, "a UUID") from None
    if isinstance(kind, DateTime):
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise _fail(column, "an RFC 3339 time with an offset")
        return parsed
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise _fail(column, "true or false")
        return value
    if isinstance(kind, Integer | BigInteger | SmallInteger):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(column, "an integer")
        return value
    if isinstance(kind, Float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(column, "a number")
        return float(value)
    if isinstance(kind, Text | TSVECTOR):
        if not isinstance(value, str) or "\x00" in value:
            raise _fail(column, "a string without NUL characters")
        return value
    raise _fail(column, "a supported value")  # pragma: no cover - every table type is above


def _decode_value(column: Column[Any], value: Any) -> Any:
    kind = column.type
    if isinstance(kind, JSONB):
        return value
    if isinstance(kind, Vector):
        if not isinstance(value, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in value
        ):
            raise _fail(column, "a list of numbers")
        return [float(x) for x in value]
    if isinstance(kind, LargeBinary):
        try:
            return base64.b64decode(str(value), validate=True)
        except ValueError:
            raise _fail(column, "base64") from None
    if isinstance(kind, ARRAY):
        if not isinstance(value, list):
            raise _fail(column, "a list")
        return [_decode_scalar(column, kind.item_type, v) for v in value]
    return _decode_scalar(column, kind, value)


# `kind` names the record, so a column of that name travels under another.
_ALIASES = {("graph_edges", "kind"): "edge_kind"}


def _field(table: Table, column: Column[Any]) -> str:
    return _ALIASES.get((table.name, column.name), column.name)


def encode_row(table: Table, row: Any, skip: frozenset[str] = OWNER_COLUMNS) -> dict[str, Any]:
    """Every column of the row but those in `skip`, as JSON."""
    return {
        _field(table, c): encode_value(c, row[c.name]) for c in table.columns if c.name not in skip
    }


def decode_row(table: Table, record: dict[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    """The typed row of a record (columns in `skip` left out); ValueError names the first bad
    column. A missing column is NULL, refused where the column cannot be."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in skip:
            continue
        value = record.get(_field(table, column))
        if value is None and not column.nullable:
            raise ValueError(f"{column.name}: missing")
        row[column.name] = None if value is None else _decode_value(column, value)
    return row


# --- reading --------------------------------------------------------------------------------
def _selected(table: Table) -> list[Any]:
    # tsvector comes back as its text form, which casts back to the same tsvector
    return [
        cast(c, Text).label(c.name) if isinstance(c.type, TSVECTOR) else c for c in table.columns
    ]


async def snapshot_read(conn: AsyncConnection) -> None:
    """Make this (fresh) transaction one consistent read-only snapshot for a whole export."""
    await conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


async def count_rows(conn: AsyncConnection, cube_id: uuid.UUID) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, table in TABLES.items():
        if kind == "version":
            query = select(func.count()).select_from(
                memory_versions.join(memories, memories.c.id == memory_versions.c.memory_id)
            )
            query = query.where(memories.c.cube_id == cube_id)
        else:
            query = select(func.count()).select_from(table).where(table.c.cube_id == cube_id)
        counts[kind] = int((await conn.execute(query)).scalar_one())
    return counts


async def memory_page(
    conn: AsyncConnection, cube_id: uuid.UUID, after_seq: int, limit: int
) -> list[Any]:
    """Memories of the cube after `after_seq`, in seq (insertion) order."""
    query = (
        select(*_selected(memories))
        .where(memories.c.cube_id == cube_id, memories.c.seq > after_seq)
        .order_by(memories.c.seq)
        .limit(limit)
    )
    return [r._mapping for r in await conn.execute(query)]


async def memory_id_page(
    conn: AsyncConnection, cube_id: uuid.UUID, after_seq: int, limit: int
) -> list[tuple[int, uuid.UUID]]:
    query = (
        select(memories.c.seq, memories.c.id)
        .where(memories.c.cube_id == cube_id, memories.c.seq > after_seq)
        .order_by(memories.c.seq)
        .limit(limit)
    )
    return [(r.seq, r.id) for r in await conn.execute(query)]


# The column that ties each memory-keyed table to a page of memories (each row once).
_BY_MEMORY = {
    "version": memory_versions.c.memory_id,
    "link": memory_links.c.source_id,
    "source": memory_sources.c.memory_id,
    "mention": graph_mentions.c.memory_id,
    "quarantine": memory_quarantine.c.memory_id,
}
_ORDER = {
    "version": (memory_versions.c.memory_id, memory_versions.c.version),
    "link": (memory_links.c.source_id, memory_links.c.target_id),
    "source": (memory_sources.c.memory_id, memory_sources.c.source_id),
    "mention": (graph_mentions.c.memory_id, graph_mentions.c.node_id),
    "quarantine": (memory_quarantine.c.id,),
}


def memory_keyed(kind: str) -> bool:
    return kind in _BY_MEMORY


async def rows_of_memories(
    conn: AsyncConnection, kind: str, memory_ids: Sequence[uuid.UUID]
) -> list[Any]:
    """The `kind` rows belonging to these memories, in a stable order."""
    table = TABLES[kind]
    query = select(table).where(_BY_MEMORY[kind].in_(memory_ids)).order_by(*_ORDER[kind])
    return [r._mapping for r in await conn.execute(query)]


async def id_page(
    conn: AsyncConnection, kind: str, cube_id: uuid.UUID, after_id: int, limit: int
) -> list[Any]:
    """Graph nodes or edges of the cube after `after_id`, in id order."""
    table = TABLES[kind]
    query = (
        select(table)
        .where(table.c.cube_id == cube_id, table.c.id > after_id)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [r._mapping for r in await conn.execute(query)]


async def cube_row(conn: AsyncConnection, cube_id: uuid.UUID) -> Any:
    """Every column of a live cube (the domain record leaves some out), or None."""
    query = select(cubes).where(cubes.c.id == cube_id, cubes.c.deleted_at.is_(None))
    row = (await conn.execute(query)).first()
    return row._mapping if row else None


async def find_cube(conn: AsyncConnection, cube_id: uuid.UUID) -> Cube | None:
    """A live cube by id, whoever owns it (the CLI works for the operator, not a tenant)."""
    query = select(cubes).where(cubes.c.id == cube_id, cubes.c.deleted_at.is_(None))
    row = (await conn.execute(query)).first()
    return Cube.from_row(row._mapping) if row else None


async def live_cubes(conn: AsyncConnection, tenant_id: uuid.UUID | None) -> list[Cube]:
    """Every live cube (of one tenant, or of all), oldest first."""
    query = select(cubes).where(cubes.c.deleted_at.is_(None))
    if tenant_id is not None:
        query = query.where(cubes.c.tenant_id == tenant_id)
    query = query.order_by(cubes.c.created_at, cubes.c.id)
    return [Cube.from_row(r._mapping) for r in await conn.execute(query)]


# --- writing --------------------------------------------------------------------------------
async def insert_cube(conn: AsyncConnection, values: dict[str, Any]) -> Cube | None:
    """Insert the imported cube; None when its name is taken by a live cube of the tenant."""
    try:
        async with conn.begin_nested():
            row = (await conn.execute(insert(cubes).values(**values).returning(cubes))).one()
    except IntegrityError as exc:
        if (
            getattr(getattr(exc.orig, "diag", None), "constraint_name", "")
            == "cubes_tenant_name_live"
        ):
            return None
        raise
    return Cube.from_row(row._mapping)


async def taken_ids(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these memory ids some memory (of any cube) already has."""
    if not ids:
        return set()
    rows = await conn.execute(select(memories.c.id).where(memories.c.id.in_(ids)))
    return {r.id for r in rows}


async def insert_memories(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert memory rows as they were (the tsvector from its text form); seq is minted."""
    params = [
        {**{k: v for k, v in r.items() if k != "search_tsv"}, "tsv_text": r["search_tsv"]}
        for r in rows
    ]
    # the bind parameter is named apart from the column it fills
    stmt = insert(memories).values(search_tsv=cast(bindparam("tsv_text"), TSVECTOR))
    await conn.execute(stmt, params)


async def insert_rows(conn: AsyncConnection, kind: str, rows: list[dict[str, Any]]) -> None:
    await conn.execute(insert(TABLES[kind]), rows)


async def insert_nodes(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert graph nodes; {key: new id} (keys are unique per cube)."""
    stmt = insert(graph_nodes).returning(graph_nodes.c.key, graph_nodes.c.id)
    result = await conn.execute(stmt, rows)
    return {r.key: r.id for r in result}


async def set_neighbours(conn: AsyncConnection, pairs: dict[uuid.UUID, uuid.UUID]) -> None:
    """Point imported turns at their remapped neighbours (one may come after the other)."""
    for memory_id, neighbour_id in pairs.items():
        await conn.execute(
            update(memories).where(memories.c.id == memory_id).values(neighbour_id=neighbour_id)
        )
