"""Structured logs: one JSON object per line, carrying the id of the request being served.

The request id is the one the API echoes as `X-Request-ID` (and stores in the audit log), so an
operator can go from a client's error to every log line of that request. It travels in a
context variable: asyncio copies the context into the tasks a request starts, so lines logged
by the search's concurrent signals carry it too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "memsvc_request_id", default=None
)

# Attributes every LogRecord has: anything else on a record came from `extra=` and is logged as
# a field of its own.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # default=str: an extra that JSON cannot hold (a UUID, a path) is still logged.
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human format, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        return f"{line} [request {request_id}]" if request_id else line


def configure(level: str, fmt: str) -> None:
    """Send every logger (uvicorn's included) through one handler on stderr in `fmt`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn installs its own handlers when it starts unless given log_config=None;
        # propagating to the root keeps its lines in the same format.
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The access log is replaced by memsvc's own request line (route, status, duration, id).
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded server and Alembic narrate every step at INFO; keep their warnings only.
    for chatty in ("pgserver", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
