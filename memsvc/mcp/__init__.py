"""`memsvc mcp`: the MCP server of memsvc (memory tools for agents over stdio or streamable
HTTP), a thin adapter over the Python SDK. See docs/mcp.md."""

from memsvc.mcp.server import HTTP_PATH, McpSettings, build_server, run, serve

__all__ = ["HTTP_PATH", "McpSettings", "build_server", "run", "serve"]
