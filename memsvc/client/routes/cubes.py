"""Cubes: create, list, read, change, delete, restore, export and import, reindex, and the
cube's entity graph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from memsvc.client.calls import compact, json_lines, jsonl_body, model, nothing
from memsvc.client.endpoints import Parts, paginated, route
from memsvc.client.models import Cube, GraphPage, ImportResult, JobAccepted, Page
from memsvc.client.routes import Id


class CubeRoutes:
    @route("POST", "/v1/cubes", model(Cube))
    def create_cube(
        name: str,
        description: str | None = None,
        owner: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Parts:
        body = {"name": name, "description": description, "owner": owner, "config": config}
        return Parts(body=compact(**body))

    @route("GET", "/v1/cubes", model(Page[Cube]))
    def list_cubes(limit: int | None = None, cursor: str | None = None) -> Parts:
        """One page of this tenant's cubes, oldest first."""
        return Parts(query={"limit": limit, "cursor": cursor})

    iter_cubes = paginated(list_cubes, lambda page: page.items)

    @route("GET", "/v1/cubes/{cube_id}", model(Cube))
    def get_cube(cube_id: Id) -> Parts:
        return Parts(ids={"cube_id": cube_id})

    @route("PATCH", "/v1/cubes/{cube_id}", model(Cube))
    def update_cube(cube_id: Id, **changes: Any) -> Parts:
        """Change `name`, `description`, `owner` or `config` (only those given; None
        clears `description` or `owner`)."""
        return Parts(ids={"cube_id": cube_id}, body=changes)

    @route("DELETE", "/v1/cubes/{cube_id}", nothing)
    def delete_cube(cube_id: Id, hard: bool = False) -> Parts:
        """Soft delete (restorable) unless `hard`, which purges all its memories."""
        return Parts(ids={"cube_id": cube_id}, query={"hard": hard or None})

    @route("POST", "/v1/cubes/{cube_id}/restore", model(Cube))
    def restore_cube(cube_id: Id) -> Parts:
        return Parts(ids={"cube_id": cube_id})

    @route("GET", "/v1/cubes/{cube_id}/export", json_lines)
    def export_cube(cube_id: Id) -> Parts:
        """Everything needed to rebuild the cube, one JSON record a line (the contract's
        JSONL stream), as a list of records."""
        return Parts(ids={"cube_id": cube_id})

    @route("POST", "/v1/cubes/import", model(ImportResult))
    def import_cube(
        records: Iterable[Mapping[str, Any]], name: str | None = None, keep_ids: bool = True
    ) -> Parts:
        """Rebuild a cube, as a new cube of the caller's tenant, from the records
        `export_cube` gave; `name` renames it (the exported name may be taken), `keep_ids`
        False gives every memory a new id."""
        return Parts(
            query={"name": name, "keep_ids": None if keep_ids else "false"},
            content=jsonl_body(records),
            content_type="application/x-ndjson",
        )

    @route("POST", "/v1/cubes/{cube_id}/reindex", model(JobAccepted), idempotent=True)
    def reindex_cube(cube_id: Id) -> Parts:
        """Re-embed every memory and rebuild the lexical index in the background. The
        server documents it as idempotent, so it is retried like a read."""
        return Parts(ids={"cube_id": cube_id})

    @route("GET", "/v1/cubes/{cube_id}/graph", model(GraphPage))
    def get_graph(cube_id: Id, limit: int | None = None, cursor: str | None = None) -> Parts:
        """A page of the cube's entity graph: nodes and edges in id order."""
        return Parts(ids={"cube_id": cube_id}, query={"limit": limit, "cursor": cursor})

    iter_graph = paginated(get_graph, lambda page: [page])
