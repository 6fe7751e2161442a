"""The real app behind a real uvicorn on a free loopback port, in a thread of the test
process (sharing the session's embedding model, so no second model load)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from tests.e2e.procs import free_port

START_DEADLINE_S = 60.0


class LiveServer:
    def __init__(self, app: Any):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="sdk-live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        give_up = time.monotonic() + START_DEADLINE_S
        # `started` is set once the app's lifespan has run and the socket listens.
        while not self.server.started:
            assert self.thread.is_alive(), "the server thread died while starting"
            assert time.monotonic() < give_up, "the server did not start in time"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
