"""`MemoryClient` and `AsyncMemoryClient`: the same operations (declared once, in
`memsvc.client.routes`) over a blocking or an asyncio executor."""

from __future__ import annotations

from memsvc.client.endpoints import routes_of
from memsvc.client.executors import AsyncExecutor, SyncExecutor
from memsvc.client.routes.admin import AdminRoutes
from memsvc.client.routes.cubes import CubeRoutes
from memsvc.client.routes.lifecycle import LifecycleRoutes
from memsvc.client.routes.memories import MemoryRoutes
from memsvc.client.routes.search import SearchRoutes
from memsvc.client.routes.service import ServiceRoutes


class Operations(
    AdminRoutes, CubeRoutes, MemoryRoutes, SearchRoutes, LifecycleRoutes, ServiceRoutes
):
    """Every operation of REST v1."""


class MemoryClient(SyncExecutor, Operations):
    """The blocking client.

    >>> with MemoryClient("http://127.0.0.1:8000", api_key="...") as memsvc:
    ...     cube = memsvc.create_cube("notes")
    ...     memsvc.add_memories(cube.id, ["Ada prefers tea"])
    ...     hits = memsvc.search(cube.id, "what does Ada drink?").results
    """


class AsyncMemoryClient(AsyncExecutor, Operations):
    """The asyncio client: the same methods as `MemoryClient`, awaited (and `iter_*` with
    `async for`)."""


# (method, path template) of every route the SDK calls.
ROUTES = routes_of(Operations)
