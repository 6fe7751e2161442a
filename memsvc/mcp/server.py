"""The MCP server of memsvc: memory tools for an agent, over stdio or streamable HTTP.

It is a thin adapter over the Python SDK (`memsvc.client.AsyncMemoryClient`): every tool is
one or two REST calls made with the configured API key, so the service still decides what
the key may see and do (tenant isolation, scopes, rate limits). Service errors come back as
tool errors (`isError`) whose text is the contract's error object, never as a crash.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from memsvc import __version__
from memsvc.client import AsyncMemoryClient, MemsvcError
from memsvc.client.models import Memory, MemoryVersion
from memsvc.domain.types import MemoryType, SearchMode

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8765
HTTP_PATH = "/mcp"

INSTRUCTIONS = """\
Long-term memory (memsvc). Memories live in cubes; `list_cubes` shows the ones you can use.
Before answering, `search_memories` (or `get_context` for a prompt-ready digest) for what is
already known; store new durable facts with `add_memories`; correct a stale fact with
`update_memory` rather than adding a contradicting one."""


# --- tool parameters -------------------------------------------------------------------------
# Only what the service cannot say better is checked here (types, ranges, "at least one
# change"); everything else is the service's to refuse, with its own error code.
CubeRef = Annotated[
    str | None,
    Field(description="The cube's id or name. Omit it to use the server's default cube (--cube)."),
]
MemoryId = Annotated[uuid.UUID, Field(description="The memory's id (a UUID).")]
Tags = Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=100)]
Metadata = dict[str, Any]


class NewMemory(BaseModel):
    """One memory to store: its text and, optionally, how to file it."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, description="The memory's text: one self-contained fact.")
    memory_type: MemoryType | None = Field(
        default=None,
        description="episodic (an event; the default), semantic (a fact), procedural (how "
        "to do something), resource (a document or link), core, knowledge_vault.",
    )
    tags: Tags | None = None
    metadata: Metadata | None = Field(default=None, description="Free-form JSON object.")
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened (ISO 8601 with a time zone)."
    )
    user_id: str | None = Field(default=None, description="Whom the memory is about.")
    agent_id: str | None = None
    session_id: str | None = None
    source: str | None = Field(
        default=None, description="Where it came from (user, agent, tool, web, ...)."
    )


# --- the views tools return ------------------------------------------------------------------
# The fields an agent needs to act on a memory; the rest is left to get_memory.
_BRIEF_FIELDS = ("id", "memory_type", "content", "status", "version", "created_at", "updated_at")
_OPTIONAL_FIELDS = (
    *("occurred_at", "user_id", "agent_id", "session_id", "source", "tags"),
    *("metadata", "trust", "pinned", "valid_to"),
)


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def memory_view(memory: Memory, *, full: bool = False) -> dict[str, Any]:
    """A memory as compact JSON: empty fields left out, and only the main ones unless `full`."""
    data = memory.model_dump(mode="json")
    if full:
        return {k: v for k, v in data.items() if _present(v)}
    view = {k: data[k] for k in _BRIEF_FIELDS}
    # `pinned: false` on every hit would be noise; a trust of 0 is not
    view |= {k: data[k] for k in _OPTIONAL_FIELDS if _present(data.get(k)) and data[k] is not False}
    return view


def version_view(version: MemoryVersion) -> dict[str, Any]:
    fields = {"version", "change_kind", "changed_fields", "reason", "actor", "created_at"}
    data = version.model_dump(mode="json", include=fields)
    data["content"] = version.snapshot.get("content")
    return {k: v for k, v in data.items() if _present(v)}


def error_text(code: str, message: str, **extra: Any) -> str:
    """The text of a failed tool call: the contract's error object, as JSON."""
    error = {"code": code, "message": message, **{k: v for k, v in extra.items() if _present(v)}}
    return json.dumps({"error": error}, default=str)


def tool_error(exc: MemsvcError) -> ToolError:
    """A service error as the tool error an agent reads (code, message, HTTP status, details)."""
    text = error_text(
        exc.code, exc.message, status=exc.status, details=exc.details, request_id=exc.request_id
    )
    return ToolError(text)


@dataclass
class Memsvc:
    """The SDK client, and how a tool's `cube` argument becomes a cube id."""

    client: AsyncMemoryClient
    default_cube: str | None = None

    async def ask(self, answer: Awaitable[T]) -> T:
        """The service's answer; its errors as tool errors (a crash is for bugs only)."""
        try:
            return await answer
        except MemsvcError as exc:
            raise tool_error(exc) from exc

    async def cube_id(self, cube: str | None) -> uuid.UUID:
        ref = (cube or "").strip() or self.default_cube
        if not ref:
            raise ToolError(
                error_text(
                    "cube_required",
                    "name a cube (its id or name; list_cubes shows them): this server has no "
                    "default cube",
                )
            )
        try:
            return uuid.UUID(ref)
        except ValueError:
            pass
        # Names are looked up afresh each time: a cube renamed elsewhere is never stale here.
        try:
            async for found in self.client.iter_cubes(limit=1000):
                if found.name == ref:
                    return found.id
        except MemsvcError as exc:
            raise tool_error(exc) from exc
        raise ToolError(error_text("cube_not_found", f"no cube named {ref!r}", status=404))


def _at_least_one(changes: Mapping[str, Any]) -> None:
    if not changes:
        raise ToolError(
            error_text("invalid_request", "nothing to update: give at least one field to change")
        )


def build_server(client: AsyncMemoryClient, *, default_cube: str | None = None) -> MCPServer:
    """The MCP server with the memory tools, each calling memsvc through `client`."""
    memsvc = Memsvc(client, default_cube)
    server: MCPServer = MCPServer(
        "memsvc",
        title="memsvc long-term memory",
        instructions=INSTRUCTIONS,
        version=__version__,
    )
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    writing = ToolAnnotations(read_only_hint=False, destructive_hint=False)

    def tool(annotations: ToolAnnotations) -> Callable[[F], F]:
        """Register a tool; its docstring, dedented, is the description the model reads."""

        def register(fn: F) -> F:
            description = inspect.cleandoc(fn.__doc__ or "")
            server.add_tool(fn, description=description, annotations=annotations)
            return fn

        return register

    @tool(reading)
    async def list_cubes(
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page, for the next one.")
        ] = None,
    ) -> dict[str, Any]:
        """List the memory cubes this API key can use (id, name, description), oldest first.
        Pass a cube's id or name as `cube` to the other tools."""
        page = await memsvc.ask(client.list_cubes(limit=limit, cursor=cursor))
        fields = {"id", "name", "description", "owner", "memory_count", "created_at"}
        cubes = [
            {k: v for k, v in c.model_dump(mode="json", include=fields).items() if _present(v)}
            for c in page.items
        ]
        return {"cubes": cubes, "next_cursor": page.next_cursor}

    @tool(writing)
    async def add_memories(
        items: Annotated[
            list[str | NewMemory],
            Field(
                min_length=1,
                max_length=1000,
                description="The memories to store: plain strings, or objects with `content` "
                "and optional memory_type, tags, metadata, occurred_at, user_id, ...",
            ),
        ],
        cube: CubeRef = None,
        memory_type: Annotated[
            MemoryType | None,
            Field(description="The type of items that do not give their own (default episodic)."),
        ] = None,
        tags: Annotated[
            Tags | None, Field(description="Tags for items that do not give their own.")
        ] = None,
        user_id: Annotated[
            str | None, Field(description="Whom the memories are about, for items without one.")
        ] = None,
        deduplicate: Annotated[
            bool,
            Field(description="A repeat of a stored memory reinforces it instead of a copy."),
        ] = True,
        infer: Annotated[
            bool,
            Field(description="Also infer typed facts from the items, as the user's statements."),
        ] = False,
    ) -> dict[str, Any]:
        """Store memories in a cube, all or none. Returns each stored memory with its id (a
        repeat of a memory already stored returns that memory and is listed in
        `duplicates`)."""
        defaults = {"memory_type": memory_type, "tags": tags, "user_id": user_id}
        defaults = {k: v for k, v in defaults.items() if v is not None}
        bodies = []
        for item in items:
            given = (
                {"content": item}
                if isinstance(item, str)
                else item.model_dump(mode="json", exclude_none=True)
            )
            bodies.append(defaults | given)
        cube_id = await memsvc.cube_id(cube)
        added = await memsvc.ask(
            client.add_memories(cube_id, bodies, deduplicate=deduplicate, infer=infer or None)
        )
        out: dict[str, Any] = {
            "cube_id": str(cube_id),
            "items": [memory_view(m) for m in added.items],
        }
        if added.duplicates:
            out["duplicates"] = [d.model_dump(mode="json") for d in added.duplicates]
        if added.inferred:
            out["inferred"] = [
                {"decision": i.decision, "memory": memory_view(i.memory), "reason": i.reason}
                for i in added.inferred
            ]
        return out

    @tool(reading)
    async def search_memories(
        query: Annotated[str, Field(min_length=1, description="What to look for, in words.")],
        cube: CubeRef = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Most results to return.")] = 10,
        memory_types: Annotated[
            list[MemoryType] | None, Field(description="Only these types.")
        ] = None,
        mode: Annotated[
            SearchMode,
            Field(description="hybrid (meaning and words; default), dense, lexical or graph."),
        ] = SearchMode.HYBRID,
        tags: Annotated[
            Tags | None, Field(description="Only memories with all these tags.")
        ] = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        metadata: Annotated[
            Metadata | None, Field(description="Only memories whose metadata contains this.")
        ] = None,
        occurred_after: AwareDatetime | None = None,
        occurred_before: AwareDatetime | None = None,
        min_trust: Annotated[
            int | None, Field(ge=0, le=3, description="0 external, 1 agent, 2 user, 3 system.")
        ] = None,
        min_score: float | None = None,
    ) -> dict[str, Any]:
        """Search a cube's memories by meaning and words, best first, each with its score.
        A time expression in the query ("last week") favours memories from then."""
        filters: dict[str, Any] = {"tags": tags, "user_id": user_id, "agent_id": agent_id}
        filters |= {"session_id": session_id, "metadata": metadata, "min_trust": min_trust}
        filters |= {"occurred_after": occurred_after, "occurred_before": occurred_before}
        filters = {k: v for k, v in filters.items() if v is not None}
        options: dict[str, Any] = {"top_k": limit, "mode": mode.value}
        if memory_types:
            options["memory_types"] = [t.value for t in memory_types]
        if filters:
            options["filters"] = filters
        if min_score is not None:
            options["min_score"] = min_score
        cube_id = await memsvc.cube_id(cube)
        found = await memsvc.ask(client.search(cube_id, query, **options))
        results = [
            {"score": round(hit.score, 4), **memory_view(hit.memory)} for hit in found.results
        ]
        return {"cube_id": str(cube_id), "results": results}

    @tool(reading)
    async def get_memory(
        memory_id: MemoryId,
        cube: CubeRef = None,
        include_history: Annotated[
            bool, Field(description="Also list its versions, oldest first.")
        ] = False,
    ) -> dict[str, Any]:
        """Read one memory in full (a deleted one too: see `status`)."""
        cube_id = await memsvc.cube_id(cube)
        memory = await memsvc.ask(client.get_memory(cube_id, memory_id))
        out = memory_view(memory, full=True)
        if include_history:
            history = await memsvc.ask(client.get_history(cube_id, memory_id))
            out["history"] = [version_view(v) for v in history.versions]
        return out

    @tool(writing)
    async def update_memory(
        memory_id: MemoryId,
        cube: CubeRef = None,
        content: Annotated[str | None, Field(min_length=1, description="The new text.")] = None,
        memory_type: MemoryType | None = None,
        tags: Annotated[Tags | None, Field(description="Replaces all its tags.")] = None,
        metadata: Annotated[Metadata | None, Field(description="Replaces its metadata.")] = None,
        occurred_at: AwareDatetime | None = None,
        valid_to: Annotated[
            AwareDatetime | None, Field(description="When it stopped being true.")
        ] = None,
        pinned: Annotated[bool | None, Field(description="Never forgotten when true.")] = None,
        status: Annotated[
            Literal["active", "archived"] | None,
            Field(description="archived: retired from search; active: back in it."),
        ] = None,
        expected_version: Annotated[
            int | None, Field(description="Refuse (version_conflict) unless at this version.")
        ] = None,
        reason: Annotated[str | None, Field(description="Why; kept in its history.")] = None,
    ) -> dict[str, Any]:
        """Change a memory: the fields given make a new version (the old one stays in its
        history). Use it to correct a fact rather than adding a contradicting memory."""
        changes: dict[str, Any] = {"content": content, "memory_type": memory_type, "tags": tags}
        changes |= {"metadata": metadata, "occurred_at": occurred_at, "valid_to": valid_to}
        changes |= {"pinned": pinned, "status": status}
        changes = {k: v for k, v in changes.items() if v is not None}
        _at_least_one(changes)
        extra = {"expected_version": expected_version, "reason": reason}
        changes |= {k: v for k, v in extra.items() if v is not None}
        cube_id = await memsvc.cube_id(cube)
        memory = await memsvc.ask(client.update_memory(cube_id, memory_id, **changes))
        return memory_view(memory)

    @tool(ToolAnnotations(read_only_hint=False, destructive_hint=True))
    async def delete_memory(
        memory_id: MemoryId,
        cube: CubeRef = None,
        hard: Annotated[
            bool,
            Field(
                description="Purge it for good (content, embeddings, graph facts). Default: "
                "a soft delete, which can be restored."
            ),
        ] = False,
    ) -> dict[str, Any]:
        """Delete a memory: it leaves search and listings at once. Soft unless `hard`."""
        cube_id = await memsvc.cube_id(cube)
        await memsvc.ask(client.delete_memory(cube_id, memory_id, hard=hard))
        return {"id": str(memory_id), "deleted": "hard" if hard else "soft", "restorable": not hard}

    @tool(reading)
    async def get_context(
        query: Annotated[str, Field(min_length=1, description="The task or question at hand.")],
        cube: CubeRef = None,
        budget_tokens: Annotated[
            int, Field(ge=1, le=200_000, description="Most tokens the context may take.")
        ] = 2000,
        user_id: Annotated[
            str | None, Field(description="Whose core memory blocks to include.")
        ] = None,
    ) -> dict[str, Any]:
        """A prompt-ready text of what the cube knows that bears on the query, within a token
        budget: core memory blocks first, then the most relevant memories of every type.
        Put `context` into the prompt as is."""
        cube_id = await memsvc.cube_id(cube)
        context = await memsvc.ask(
            client.get_context(cube_id, query, budget_tokens=budget_tokens, user_id=user_id)
        )
        return context.model_dump(mode="json")

    return server


@dataclass(frozen=True)
class McpSettings:
    """How `memsvc mcp` reaches memsvc and how it is reached."""

    url: str = DEFAULT_URL
    api_key: str = ""
    transport: Literal["stdio", "http"] = "stdio"
    host: str = DEFAULT_HTTP_HOST
    port: int = DEFAULT_HTTP_PORT
    default_cube: str | None = None


async def serve(settings: McpSettings) -> None:
    """Run the server until its transport closes (stdin ends, or the HTTP server stops)."""
    # The SDK client outlives every MCP session: an HTTP server serves many, one after another.
    async with AsyncMemoryClient(settings.url, api_key=settings.api_key) as client:
        server = build_server(client, default_cube=settings.default_cube)
        if settings.transport == "stdio":
            await server.run_stdio_async()
        else:
            await server.run_streamable_http_async(
                host=settings.host, port=settings.port, streamable_http_path=HTTP_PATH
            )


def run(settings: McpSettings) -> None:
    import anyio

    # httpx narrates each request at INFO: on stderr, the log an MCP host keeps for the server.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    anyio.run(serve, settings)


__all__ = [
    "HTTP_PATH",
    "McpSettings",
    "NewMemory",
    "build_server",
    "memory_view",
    "run",
    "serve",
]
