"""`memsvc mcp` end to end, driven by the `mcp` client SDK: the server runs as a subprocess
(`python -m memsvc.cli mcp`, as an MCP host launches it) against the real app behind uvicorn
(real PostgreSQL, the real embedding model), over stdio and over streamable HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from api.main import create_app
from memsvc.client import MemoryClient
from memsvc.config import Settings
from tests.conftest import ADMIN_KEY
from tests.e2e.procs import free_port
from tests.sdk.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {
    "list_cubes",
    "add_memories",
    "search_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "get_context",
}
CALL_TIMEOUT_S = 30.0


@pytest.fixture
def live(db_url: str, test_settings: Settings, embedder: Any) -> Iterator[LiveServer]:
    with LiveServer(create_app(test_settings, database_url=db_url, embedder=embedder)) as server:
        yield server


def tenant_keys(url: str, *scopes: list[str]) -> list[str]:
    """A new tenant and a key of it for each list of scopes, made with the admin key."""
    with MemoryClient(url, api_key=ADMIN_KEY) as admin:
        tenant = admin.create_tenant(f"mcp-{uuid.uuid4().hex[:8]}")
        return [admin.create_key(tenant.id, scopes=wanted).key for wanted in scopes]


def new_tenant_key(url: str) -> str:
    """A new tenant's read/write key."""
    return tenant_keys(url, ["read", "write"])[0]


def mcp_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "memsvc.cli", "mcp", *options]


@asynccontextmanager
async def stdio_session(url: str, key: str, *options: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with `memsvc mcp` launched over stdio (key in the env)."""
    command, *args = mcp_command(*options)
    params = StdioServerParameters(
        command=command,
        args=args,
        env={"MEMSVC_URL": url, "MEMSVC_API_KEY": key},
        cwd=ROOT,
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT_S) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    """A successful tool call's structured result."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None
    # the text block carries the same JSON, for hosts that read text only
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


async def fail(session: ClientSession, tool: str, **arguments: Any) -> str:
    """A failed tool call's text (a tool error, not a protocol error)."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"{tool} did not fail: {result.structured_content}"
    return text_of(result)


async def service_error(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A failed call's error object: the contract's code and message, as JSON after the
    SDK's "Error executing tool <name>: " prefix."""
    text = await fail(session, tool, **arguments)
    assert text.startswith(f"Error executing tool {tool}: {{")
    error: dict[str, Any] = json.loads(text[text.index("{") :])["error"]
    assert error["code"] and error["message"]
    return error


def text_of(result: CallToolResult) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def test_every_tool_over_stdio(live: LiveServer) -> None:
    key = new_tenant_key(live.url)
    with MemoryClient(live.url, api_key=key) as sdk:
        cube = sdk.create_cube("assistant", description="mcp e2e")

    async with stdio_session(live.url, key, "--cube", "assistant") as session:
        listed = (await session.list_tools()).tools
        assert {t.name for t in listed} == TOOLS
        for t in listed:
            assert t.description and len(t.description) > 30, t.name
            assert t.input_schema["type"] == "object", t.name
        by_name = {t.name: t for t in listed}
        assert by_name["search_memories"].input_schema["required"] == ["query"]
        reads = by_name["search_memories"].annotations
        deletes = by_name["delete_memory"].annotations
        assert reads is not None and reads.read_only_hint
        assert deletes is not None and deletes.destructive_hint

        cubes = (await call(session, "list_cubes"))["cubes"]
        assert [(c["id"], c["name"]) for c in cubes] == [(str(cube.id), "assistant")]

        added = await call(
            session,
            "add_memories",
            items=[
                "Ada prefers green tea over coffee in the morning.",
                {"content": "Ada's cat is called Miso.", "memory_type": "semantic"}
                | {"tags": ["pet"]},
                "The quarterly report is due on the first Friday of April.",
            ],
            cube=str(cube.id),
        )
        assert added["cube_id"] == str(cube.id)
        tea, cat, report = (m["id"] for m in added["items"])
        assert added["items"][1]["memory_type"] == "semantic"
        assert added["items"][1]["tags"] == ["pet"]

        # by meaning, in the default cube (named on the command line)
        found = await call(session, "search_memories", query="What does Ada like to drink?")
        assert found["results"][0]["id"] == tea
        assert found["results"][0]["score"] > 0
        assert "green tea" in found["results"][0]["content"]
        pets = await call(session, "search_memories", query="animal", tags=["pet"], limit=5)
        assert [hit["id"] for hit in pets["results"]] == [cat]

        got = await call(session, "get_memory", memory_id=cat)
        assert got["content"] == "Ada's cat is called Miso."
        assert got["status"] in ("pending", "active")  # no worker enriches it here

        updated = await call(
            session,
            "update_memory",
            memory_id=tea,
            content="Ada switched to black coffee in the morning.",
            reason="she said so",
        )
        assert updated["version"] == 2
        history = (await call(session, "get_memory", memory_id=tea, include_history=True))[
            "history"
        ]
        assert [v["version"] for v in history] == [1, 2]
        assert history[0]["content"] == "Ada prefers green tea over coffee in the morning."
        assert history[-1]["change_kind"] == "user_update"
        assert history[-1]["reason"] == "she said so"

        context = await call(session, "get_context", query="What is the cat's name?")
        assert "Miso" in context["context"]
        assert 0 < context["tokens"] <= context["budget_tokens"] == 2000
        assert cat in [item["memory_id"] for item in context["items"]]

        deleted = await call(session, "delete_memory", memory_id=report)
        assert deleted == {"id": report, "deleted": "soft", "restorable": True}
        after = await call(session, "search_memories", query="When is the quarterly report due?")
        assert report not in [hit["id"] for hit in after["results"]]
        assert (await call(session, "get_memory", memory_id=report))["status"] == "deleted"

        # errors are tool errors carrying the contract's code; the server keeps serving
        missing = await service_error(session, "get_memory", memory_id=str(uuid.uuid4()))
        assert (missing["code"], missing["status"]) == ("memory_not_found", 404)
        nothing = await service_error(session, "update_memory", memory_id=cat)
        assert nothing["code"] == "invalid_request"
        unknown = await service_error(session, "search_memories", query="x", cube="no-such-cube")
        assert unknown["code"] == "cube_not_found"
        assert "memory_id" in await fail(session, "get_memory", memory_id="not-a-uuid")
        assert "limit" in await fail(session, "search_memories", query="tea", limit=0)
        assert (await call(session, "get_memory", memory_id=cat))["id"] == cat

    with MemoryClient(live.url, api_key=key) as sdk:  # what the tools did, seen by the SDK
        assert sdk.get_memory(cube.id, tea).content.startswith("Ada switched to black coffee")
        assert sdk.get_memory(cube.id, report).status == "deleted"


async def test_keys_and_tenants_are_enforced_by_the_service(live: LiveServer) -> None:
    mine, reader = tenant_keys(live.url, ["read", "write"], ["read"])
    theirs = new_tenant_key(live.url)
    with MemoryClient(live.url, api_key=theirs) as other:
        their_cube = other.create_cube("private")
        their_memory = other.add_memory(their_cube.id, "The vault code is 4711.")
    with MemoryClient(live.url, api_key=mine) as sdk:
        my_cube = sdk.create_cube("mine")

    async with stdio_session(live.url, mine) as session:
        assert [c["name"] for c in (await call(session, "list_cubes"))["cubes"]] == ["mine"]
        hidden = await service_error(
            session, "search_memories", query="vault code", cube=str(their_cube.id)
        )
        assert (hidden["code"], hidden["status"]) == ("cube_not_found", 404)
        read = await service_error(
            session, "get_memory", memory_id=str(their_memory.id), cube=str(their_cube.id)
        )
        assert read["status"] == 404
        by_name = await service_error(session, "get_context", query="vault", cube="private")
        assert by_name["code"] == "cube_not_found"
        # no --cube: a tool call without one says so
        assert (await service_error(session, "search_memories", query="x"))["code"] == (
            "cube_required"
        )

    async with stdio_session(live.url, "not-a-real-key") as session:
        for _ in range(2):  # refused each time, and the server is still there
            denied = await service_error(session, "list_cubes")
            assert denied["status"] == 401
            assert denied["code"] in ("unauthorized", "invalid_key")

    # a read-only key: reads work, writes are refused by the service (missing_scope)
    async with stdio_session(live.url, reader, "--cube", str(my_cube.id)) as session:
        assert (await call(session, "search_memories", query="anything"))["results"] == []
        refused = await service_error(session, "add_memories", items=["I may not write."])
        assert (refused["code"], refused["status"]) == ("missing_scope", 403)
        assert (await call(session, "list_cubes"))["cubes"][0]["name"] == "mine"


@pytest.fixture
def http_server(live: LiveServer) -> Iterator[tuple[str, str]]:
    """`memsvc mcp --transport http` on a free port: (its MCP endpoint, its tenant key)."""
    key = new_tenant_key(live.url)
    port = free_port()
    env = {**os.environ, "MEMSVC_URL": live.url, "MEMSVC_API_KEY": key}
    proc = subprocess.Popen(
        mcp_command("--transport", "http", "--port", str(port)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        give_up = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < give_up, "the MCP HTTP server did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", key
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_streamable_http(http_server: tuple[str, str], live: LiveServer) -> None:
    endpoint, key = http_server
    with MemoryClient(live.url, api_key=key) as sdk:
        cube = sdk.create_cube("http-notes")
    async with (
        streamable_http_client(endpoint) as (read, write),
        ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT_S) as session,
    ):
        await session.initialize()
        assert {t.name for t in (await session.list_tools()).tools} == TOOLS
        added = await call(
            session,
            "add_memories",
            items=["Bob is allergic to peanuts.", "Bob's bike is red."],
            cube="http-notes",
        )
        assert len(added["items"]) == 2
        found = await call(
            session, "search_memories", query="What food must Bob avoid?", cube=str(cube.id)
        )
        assert "peanuts" in found["results"][0]["content"]
        context = await call(session, "get_context", query="Bob's allergies", cube="http-notes")
        assert "peanuts" in context["context"]
        missing = await service_error(
            session, "delete_memory", memory_id=str(uuid.uuid4()), cube="http-notes"
        )
        assert missing["code"] == "memory_not_found"
