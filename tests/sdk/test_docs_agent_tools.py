"""The agent tool example of docs/sdk.md ("Giving an agent memory tools") runs as printed,
against a real server: the code a reader copies must work."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from memsvc.client import MemoryClient
from memsvc.config import Settings
from tests.sdk.live_server import LiveServer
from tests.sdk.test_client_server import serve, tenant_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"


def _example() -> dict[str, Any]:
    """Execute the section's Python block; return its names (TOOLS, MemoryTools)."""
    text = DOC.read_text()
    section = text.split("## Giving an agent memory tools", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the section lost its example"
    names: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOC), "exec"), names)
    return names


@pytest.fixture
def live(db_url: str, test_settings: Settings, embedder: Any) -> Iterator[LiveServer]:
    with serve(test_settings, db_url, embedder) as server:
        yield server


def test_the_tool_schemas_match_the_methods() -> None:
    names = _example()
    tools, cls = names["TOOLS"], names["MemoryTools"]
    for tool in tools:
        fn = tool["function"]
        jsonschema.Draft202012Validator.check_schema(fn["parameters"])
        method = getattr(cls, fn["name"])
        params = set(inspect.signature(method).parameters) - {"self"}
        assert set(fn["parameters"]["properties"]) == params, fn["name"]
        required = {
            n
            for n, p in inspect.signature(method).parameters.items()
            if n != "self" and p.default is inspect.Parameter.empty
        }
        assert set(fn["parameters"].get("required", [])) == required, fn["name"]


def test_the_tool_example_remembers_recalls_and_forgets(live: LiveServer) -> None:
    names = _example()
    with MemoryClient(live.url, api_key=tenant_key(live.url)) as memsvc:
        cube = memsvc.create_cube("agent")
        tools = names["MemoryTools"](memsvc, str(cube.id), user_id="u-1")
        # what a model's tool calls look like: a name and a JSON string of arguments
        stored = json.loads(
            tools.call(
                "remember",
                json.dumps({"content": "The user is allergic to peanuts.", "tags": ["health"]}),
            )
        )
        other = json.loads(tools.call("remember", '{"content": "The user lives in Lisbon."}'))
        found = json.loads(tools.call("recall", '{"query": "food allergies", "top_k": 2}'))
        assert found["memories"][0]["memory_id"] == stored["memory_id"], found
        assert found["memories"][0]["content"] == "The user is allergic to peanuts."
        # another user's memories are not recalled for this one
        them = names["MemoryTools"](memsvc, str(cube.id), user_id="u-2")
        assert json.loads(them.call("recall", '{"query": "allergic"}'))["memories"] == []

        assert json.loads(tools.call("forget", json.dumps(stored)))["deleted"]
        left = json.loads(tools.call("recall", '{"query": "food allergies"}'))["memories"]
        assert [m["memory_id"] for m in left] == [other["memory_id"]]
        # a service error goes back to the model as data, with the contract's code
        error = json.loads(tools.call("forget", '{"memory_id": "not-an-id"}'))
        assert set(error) == {"error", "message"} and error["error"], error
