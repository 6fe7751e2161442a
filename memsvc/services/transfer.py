"""Cube export and import: a JSONL stream holding everything needed to rebuild a cube.

Line 1 is a header (`kind: memsvc-export`, the format number, the cube, counts); then one
record per row, in the order `store.transfer.TABLES` gives, so that every record names only
memories and graph nodes of earlier lines. The REST routes and the `memsvc export|import`
commands both call `export_lines` / `import_stream`.

Not exported, on purpose: activation builds (caches of files on one machine: rebuild them),
staged message batches (each waits for a queued job that does not travel) and LLM usage (the
tenant's accounting, not the cube's content). Vault secrets travel as their ciphertext.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from memsvc.algorithms.notes import Note, note_text
from memsvc.domain.memory import Cube
from memsvc.domain.types import Scope
from memsvc.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import tenants as tenant_store
from memsvc.store import transfer as store
from memsvc.store.tables import cubes as cube_table

FORMAT = 1
HEADER_KIND = "memsvc-export"
PAGE = 500  # memories per read of an export, records per write of an import

Progress = Callable[[str, int], None]  # (record kind, records just written)


# --- export ---------------------------------------------------------------------------------
async def open_export(
    rt: Runtime, principal: Principal, cube_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """Check the caller may read the cube (404 otherwise) before the first byte goes out."""
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
    return export_lines(rt, cube_id)


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


async def export_lines(rt: Runtime, cube_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The export, line by line, from one consistent snapshot; memories are read a page at a
    time, so the cube is never held in memory whole."""
    async with rt.db.transaction() as conn:
        await store.snapshot_read(conn)
        cube = await store.cube_row(conn, cube_id)
        if cube is None:  # deleted since the check
            return
        header = {
            "kind": HEADER_KIND,
            "format": FORMAT,
            "cube": store.encode_row(cube_table, cube, frozenset()),
            "embedding_model": rt.embedder.model_name,
            "exported_at": datetime.now(UTC).isoformat(),
            "counts": await store.count_rows(conn, cube_id),
        }
        yield _line(header)
        for kind in store.TABLES:
            async for row in _rows(conn, kind, cube_id):
                yield _line({"kind": kind, **store.encode_row(store.TABLES[kind], row)})


async def _rows(conn: AsyncConnection, kind: str, cube_id: uuid.UUID) -> AsyncIterator[Any]:
    if kind == "memory":
        after = 0
        while page := await store.memory_page(conn, cube_id, after, PAGE):
            for row in page:
                yield row
            after = page[-1]["seq"]
    elif store.memory_keyed(kind):
        after = 0
        while ids := await store.memory_id_page(conn, cube_id, after, PAGE):
            for row in await store.rows_of_memories(conn, kind, [i for _, i in ids]):
                yield row
            after = ids[-1][0]
    else:
        after_id = 0
        while page := await store.id_page(conn, kind, cube_id, after_id, PAGE):
            for row in page:
                yield row
            after_id = page[-1]["id"]


# --- reading the stream ---------------------------------------------------------------------
def _bad(line: int, message: str, code: str = "invalid_import") -> InvalidRequest:
    return InvalidRequest(f"line {line}: {message}", code=code, details={"line": line})


async def split_lines(
    chunks: AsyncIterator[bytes], max_bytes: int | None = None
) -> AsyncIterator[tuple[int, bytes]]:
    """(line number, line) of a byte stream; blank lines are skipped but counted."""
    buffer = b""
    seen = 0
    number = 0
    async for chunk in chunks:
        seen += len(chunk)
        if max_bytes is not None and seen > max_bytes:
            raise PayloadTooLarge(
                f"the import exceeds {max_bytes} bytes (MEMSVC_MAX_IMPORT_BYTES)",
                code="payload_too_large",
            )
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
    if buffer.strip():
        yield number + 1, buffer


def _parse(number: int, line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise _bad(number, "not a JSON object (a truncated or corrupted line?)") from None
    if not isinstance(record, dict):
        raise _bad(number, "not a JSON object")
    return record


# --- import ---------------------------------------------------------------------------------
async def import_stream(
    rt: Runtime,
    principal: Principal,
    chunks: AsyncIterator[bytes],
    *,
    keep_ids: bool = True,
    name: str | None = None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> tuple[Cube, dict[str, int]]:
    """Rebuild an exported cube as a new cube of the caller's tenant, in one transaction: a
    bad line (422, its number in `details.line`) writes nothing."""
    principal.require(Scope.WRITE)
    tenant_id = principal.require_tenant()
    async with rt.db.transaction() as conn:
        importer = _Importer(rt, conn, tenant_id, keep_ids=keep_ids, name=name, progress=progress)
        async for number, line in split_lines(chunks, max_bytes):
            await importer.take(number, _parse(number, line))
        await importer.finish()
    assert importer.cube is not None
    return importer.cube, importer.counts


class _Importer:
    """Applies records in stream order, a batch of one kind at a time, remapping ids."""

    def __init__(
        self,
        rt: Runtime,
        conn: AsyncConnection,
        tenant_id: uuid.UUID,
        *,
        keep_ids: bool,
        name: str | None,
        progress: Progress | None,
    ):
        self.rt, self.conn, self.tenant_id = rt, conn, tenant_id
        self.keep_ids, self.name, self.progress = keep_ids, name, progress
        self.cube: Cube | None = None
        self.expected: dict[str, int] = {}
        self.counts = dict.fromkeys(store.TABLES, 0)
        self.memory_ids: dict[uuid.UUID, uuid.UUID] = {}  # exported id -> imported id
        self.seen: set[uuid.UUID] = set()  # exported memory ids read so far
        self.node_ids: dict[int, int] = {}
        self.model: Any = None  # the embedding model of the exporting service
        self.neighbours: dict[uuid.UUID, uuid.UUID] = {}  # imported id -> exported neighbour
        self.batch: list[tuple[int, dict[str, Any]]] = []
        self.batch_kind = ""
        self.last_line = 0

    async def take(self, number: int, record: dict[str, Any]) -> None:
        self.last_line = number
        if self.cube is None:
            await self._header(number, record)
            return
        kind = record.get("kind")
        if not isinstance(kind, str) or kind not in store.TABLES:
            raise _bad(number, f"unknown kind {kind!r}; one of {', '.join(store.TABLES)}")
        if kind != self.batch_kind or len(self.batch) >= PAGE:
            await self._flush()  # first: this record may name what the batch holds
            self.batch_kind = kind
        skip = store.OWNER_COLUMNS | store.MINTED.get(kind, frozenset())
        try:
            row = store.decode_row(store.TABLES[kind], record, skip)
            self._check_references(kind, row)
        except ValueError as exc:
            raise _bad(number, f"{kind}: {exc}") from None
        self.batch.append((number, row))

    async def finish(self) -> None:
        if self.cube is None:
            raise _bad(1, "the stream is empty: expected the export header")
        await self._flush()
        await store.set_neighbours(
            self.conn,
            {new: self.memory_ids.get(old, old) for new, old in self.neighbours.items()},
        )
        short = {k: (n, self.counts.get(k, 0)) for k, n in self.expected.items()}
        missing = {k: v for k, v in short.items() if k in self.counts and v[0] != v[1]}
        if missing:
            said = ", ".join(f"{k}: {n} announced, {got} read" for k, (n, got) in missing.items())
            raise _bad(self.last_line, f"the stream does not match its header ({said})")

    # -- the header --------------------------------------------------------------------------
    async def _header(self, number: int, record: dict[str, Any]) -> None:
        if record.get("kind") != HEADER_KIND:
            raise _bad(number, f"expected the header (kind {HEADER_KIND!r}) first")
        if record.get("format") != FORMAT:
            raise _bad(
                number,
                f"format {record.get('format')!r} is not supported (this service reads {FORMAT})",
                "unsupported_format",
            )
        counts, cube = record.get("counts"), record.get("cube")
        if not isinstance(counts, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in counts.values()
        ):
            raise _bad(number, "counts: expected an object of record counts")
        if not isinstance(cube, dict):
            raise _bad(number, "cube: expected an object")
        self.expected = counts
        self.model = record.get("embedding_model")
        self.cube = await self._create_cube(number, cube)

    async def _create_cube(self, number: int, exported: dict[str, Any]) -> Cube:
        skip = frozenset({"id", "tenant_id", "deleted_at"})
        try:
            values = store.decode_row(cube_table, exported, skip)
        except ValueError as exc:
            raise _bad(number, f"cube: {exc}") from None
        if not isinstance(values["config"], dict):
            raise _bad(number, "cube: config: expected an object")
        values.update(id=uuid.uuid4(), tenant_id=self.tenant_id, deleted_at=None)
        if self.name is not None:
            if "\x00" in self.name:
                raise InvalidRequest("name: must not contain NUL characters", code="invalid_name")
            values["name"] = self.name
        cube = await store.insert_cube(self.conn, values)
        if cube is None:
            raise Conflict(
                f"a cube named {values['name']!r} exists: import under another name (?name=)",
                code="cube_name_taken",
            )
        return cube

    # -- records -----------------------------------------------------------------------------
    def _check_references(self, kind: str, row: dict[str, Any]) -> None:
        """Every memory and node a record names must come from an earlier line."""
        if kind == "memory":
            if row["id"] in self.seen:
                raise ValueError(f"memory {row['id']} appears twice")
            self.seen.add(row["id"])
            return
        for column in MEMORY_REFS.get(kind, ()):
            if row[column] is not None and row[column] not in self.memory_ids:
                raise ValueError(f"{column}: no earlier memory record has id {row[column]}")
        for column in _NODE_REFS.get(kind, ()):
            if row[column] not in self.node_ids:
                raise ValueError(f"{column}: no earlier node record has id {row[column]}")

    async def _flush(self) -> None:
        if not self.batch:
            return
        kind, batch = self.batch_kind, self.batch
        self.batch = []
        assert self.cube is not None
        rows = [row for _, row in batch]
        for row in rows:
            row["cube_id"] = self.cube.id
        try:
            await _WRITERS[kind](self, rows)
        except (sa_exc.IntegrityError, sa_exc.DataError) as exc:
            # what Python cannot see (a CHECK, a vector of the wrong size): still the input's fault
            raise _db_refused(kind, batch, exc) from None
        self.counts[kind] += len(rows)
        if self.progress is not None:
            self.progress(kind, len(rows))

    async def _memories(self, rows: list[dict[str, Any]]) -> None:
        taken = await store.taken_ids(self.conn, [r["id"] for r in rows]) if self.keep_ids else None
        for row in rows:
            old = row["id"]
            new = old if taken is not None and old not in taken else uuid.uuid4()
            self.memory_ids[old] = row["id"] = new
            if row["neighbour_id"] is not None:
                # set once every memory is in: a turn's neighbour may come after it
                self.neighbours[new] = row["neighbour_id"]
                row["neighbour_id"] = None
        await self._reembed(rows)
        await store.insert_memories(self.conn, rows)

    async def _reembed(self, rows: list[dict[str, Any]]) -> None:
        """Embeddings of another model are made afresh (content, and the note's text)."""
        model = self.rt.embedder.model_name
        stale = [r for r in rows if r["embedding"] is not None and r["embedding_model"] != model]
        if not stale:
            return
        vectors = await self.rt.embedder.embed_async([r["content"] for r in stale])
        for row, vector in zip(stale, vectors, strict=True):
            row["embedding"], row["embedding_model"] = [float(x) for x in vector], model
        noted = [r for r in stale if r["note_embedding"] is not None]
        if noted:
            texts = [
                note_text(r["content"], Note(tuple(r["keywords"]), tuple(r["tags"]), r["context"]))
                for r in noted
            ]
            vectors = await self.rt.embedder.embed_async(texts)
            for row, vector in zip(noted, vectors, strict=True):
                row["note_embedding"] = [float(x) for x in vector]

    async def _plain(self, rows: list[dict[str, Any]]) -> None:
        kind = self.batch_kind
        for row in rows:
            for column in MEMORY_REFS.get(kind, ()):
                if row[column] is not None:
                    row[column] = self.memory_ids[row[column]]
            for column in _NODE_REFS.get(kind, ()):
                row[column] = self.node_ids[row[column]]
            if kind == "quarantine":
                row["tenant_id"] = self.tenant_id
                row["conflict_ids"] = [self.memory_ids.get(i, i) for i in row["conflict_ids"]]
        await store.insert_rows(self.conn, kind, rows)

    async def _nodes(self, rows: list[dict[str, Any]]) -> None:
        olds = [row.pop("id") for row in rows]
        if self.model != self.rt.embedder.model_name:
            embedded = [r for r in rows if r["embedding"] is not None]
            vectors = await self.rt.embedder.embed_async([r["key"] for r in embedded])
            for row, vector in zip(embedded, vectors, strict=True):
                row["embedding"] = [float(x) for x in vector]
        new_ids = await store.insert_nodes(self.conn, rows)
        for old, row in zip(olds, rows, strict=True):
            self.node_ids[old] = new_ids[row["key"]]


def _db_refused(kind: str, batch: list[tuple[int, dict[str, Any]]], exc: Exception) -> Exception:
    first, last = batch[0][0], batch[-1][0]
    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
    return InvalidRequest(
        f"lines {first}-{last}: the database refused a {kind} record: {reason}",
        code="invalid_import",
        details={"line": first, "last_line": last},
    )


# The columns of each record kind naming a memory (remapped on import), and a graph node.
MEMORY_REFS: dict[str, tuple[str, ...]] = {
    "version": ("memory_id",),
    "link": ("source_id", "target_id"),
    "source": ("memory_id", "source_id"),
    "mention": ("memory_id",),
    "edge": ("memory_id",),
    "quarantine": ("memory_id",),
}
_NODE_REFS: dict[str, tuple[str, ...]] = {"mention": ("node_id",), "edge": ("src_id", "dst_id")}
_WRITERS = {
    "memory": _Importer._memories,
    "node": _Importer._nodes,
    **{kind: _Importer._plain for kind in store.TABLES if kind not in ("memory", "node")},
}


# --- the operator's side (memsvc export / import / cubes on the database itself) -------------
async def operator(rt: Runtime, tenant_id: uuid.UUID) -> Principal:
    """Whoever runs the CLI on the database acts for the tenant, with every scope."""
    async with rt.db.transaction() as conn:
        if await tenant_store.get_tenant(conn, tenant_id=tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id}", code="tenant_not_found")
    return Principal(tenant_id=tenant_id, key_id=None, scopes=frozenset(Scope))


async def operator_cube(rt: Runtime, cube_id: uuid.UUID) -> Cube:
    async with rt.db.transaction() as conn:
        cube = await store.find_cube(conn, cube_id)
    if cube is None:
        raise NotFound("no such live cube", code="cube_not_found")
    return cube


async def operator_cubes(rt: Runtime, tenant_id: uuid.UUID | None) -> list[Cube]:
    async with rt.db.transaction() as conn:
        return await store.live_cubes(conn, tenant_id)
