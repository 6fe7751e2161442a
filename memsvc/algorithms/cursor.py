"""Opaque pagination cursors: base64url JSON with a version tag, strictly validated."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from memsvc.errors import BadRequest

_VERSION = 1


def encode(kind: str, position: dict[str, Any]) -> str:
    raw = json.dumps({"v": _VERSION, "k": kind, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(kind: str, cursor: str, schema: dict[str, type]) -> dict[str, Any]:
    """Return the position, or raise BadRequest(invalid_cursor) for anything not made by encode."""
    try:
        if len(cursor) > 512:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position = data["p"]
        if data.get("v") != _VERSION or data.get("k") != kind or not isinstance(position, dict):
            raise ValueError("foreign cursor")
        if set(position) != set(schema):
            raise ValueError("wrong keys")
        for key, expected in schema.items():
            value = position[key]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise ValueError(f"bad {key}")
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise ValueError(f"{key} out of range")  # no bigint holds it
        return position
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise invalid() from None


def invalid() -> BadRequest:
    return BadRequest(
        "invalid cursor: pass back the next_cursor of a previous page unchanged",
        code="invalid_cursor",
    )
