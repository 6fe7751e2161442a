"""Real processes for the end-to-end tests: a dedicated PostgreSQL that a test may stop and
start again, `memsvc serve` and `memsvc worker` subprocesses, and polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from memsvc.store.db import libpq_url

MEMSVC = Path(sys.executable).parent / "memsvc"
DEADLINE_S = 600.0  # generous: the machine may have 2 cores and load a model per process
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


class Postgres:
    """A PostgreSQL 16 + pgvector server of its own (pgserver's binaries) on a loopback TCP
    port, in a temporary directory: unlike the session's shared server, a test may stop it
    (`stop`, by default as a crash would: no checkpoint, connections cut) and start it again
    on the same port and data directory (`start`)."""

    def __init__(self) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="memsvc-pg-"))
        self.pgdata = self.root / "pgdata"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        # PostgreSQL refuses to run as root: as root, run it as pgserver's own system user.
        self.user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_user_exists

            self.user = "pgserver"
            ensure_user_exists(self.user)
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "utf8")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                "unix_socket_directories = ''\nmax_connections = 200\n"
                # Tests need no durability against a power cut, only against a crash.
                "fsync = off\nsynchronous_commit = on\nfull_page_writes = off\n"
            )
        self.start()

    def _run(self, exe: str, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(self.bin / exe), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            user=self.user,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_path), "-w", "-t", "120", "start"
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "-t", "120", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return self.url(name)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop("fast")
        shutil.rmtree(self.root, ignore_errors=True)


class Process:
    """A `memsvc` subprocess (the console script itself: no shell in between)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(MEMSVC), *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        assert self.proc.poll() is None, f"{self.proc.args} exited early:\n{self.log()}"

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory kill or a lost host would."""
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class Worker(Process):
    """A `memsvc worker` process."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        super().__init__(["worker", *args], env, log_path)


async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    process: Process,
    interval: float = 0.1,
    deadline_s: float = DEADLINE_S,
) -> T:
    """Poll `check` until it returns something other than None; the process must stay up."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        process.assert_alive()
        result = await check()
        if result is not None:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}:\n{process.log()}")
