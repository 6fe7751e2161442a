"""The `memsvc` command: serve, migrate, worker; export, import, keys and cubes (operator
commands working on the database directly, through the same services as the REST routes)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memsvc.config import Settings, get_settings
from memsvc.domain.types import Scope
from memsvc.observability import logs

if TYPE_CHECKING:
    from memsvc.services.runtime import Runtime

log = logging.getLogger("memsvc")


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        os.environ["MEMSVC_DATA_DIR"] = str(args.data_dir)
        get_settings.cache_clear()
    if getattr(args, "database_url", None):
        os.environ["MEMSVC_DATABASE_URL"] = args.database_url
        get_settings.cache_clear()
    return get_settings()


def database_url(settings: Settings) -> str:
    """The configured server, or the embedded one under the data dir (started on demand)."""
    if settings.database_url:
        return settings.database_url
    from memsvc import embedded

    return embedded.start(settings.data_dir)


def prepare_database(settings: Settings) -> str:
    """Reach the database, apply migrations, check the embedding size matches the model's."""
    from memsvc import migrate
    from memsvc.models.remote import embedding_dimension

    url = database_url(settings)
    migrate.upgrade(url, settings)
    stored = migrate.stored_embedding_dim(url)
    wanted = embedding_dimension(settings)
    if stored and wanted and stored != wanted:
        sys.exit(
            f"memsvc: the database holds {stored}-d embeddings but "
            f"{settings.embedding_remote_model or settings.embedding_model} "
            f"makes {wanted}-d ones; use the model the database was built with"
        )
    return url


def ensure_admin_key(settings: Settings) -> Settings:
    """Without MEMSVC_ADMIN_KEY, use (or create) a random admin key kept in the data dir.

    The file is readable by its owner only; `cat <data dir>/admin_key` shows it.
    """
    if settings.admin_key is not None:
        return settings
    import secrets

    from pydantic import SecretStr

    path = settings.data_dir / "admin_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32) + "\n")
    log.info("admin key: MEMSVC_ADMIN_KEY is unset, using the key in %s", path)
    return settings.model_copy(update={"admin_key": SecretStr(path.read_text().strip())})


def ensure_vault_key(settings: Settings) -> Settings:
    """Without MEMSVC_VAULT_KEYS, use (or create) a Fernet key kept in the data dir, so vault
    secrets are encrypted at rest out of the box. Keep that file (and its backups) apart from
    database dumps: with both, the secrets can be read."""
    if settings.vault_keys is not None:
        return settings
    from pydantic import SecretStr

    from memsvc.security.vault import load_or_create_key

    path = settings.data_dir / "vault_key"
    key = load_or_create_key(path)
    log.info("vault key: MEMSVC_VAULT_KEYS is unset, using the key in %s", path)
    return settings.model_copy(update={"vault_keys": SecretStr(key)})


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings(args)
    prepare_database(settings)
    print("migrations applied")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.main import create_app

    settings = ensure_vault_key(ensure_admin_key(_settings(args)))
    url = prepare_database(settings)
    app = create_app(settings, database_url=url)
    if settings.run_worker and not args.no_worker:
        from workers.runner import attach_worker

        attach_worker(app, url, concurrency=settings.worker_concurrency)
    host = args.host or settings.host
    port = args.port or settings.port
    log.info("memsvc serving on http://%s:%s", host, port)
    # log_config=None: uvicorn keeps memsvc's handlers (JSON lines with request ids).
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None)


def cmd_worker(args: argparse.Namespace) -> None:
    from workers.runner import run_worker

    settings = _settings(args)
    url = prepare_database(settings)
    run_worker(url, concurrency=args.concurrency or settings.worker_concurrency)


def cmd_mcp(args: argparse.Namespace) -> None:
    # Imported here: the MCP SDK is needed by this command only.
    from memsvc.mcp import McpSettings, run

    # The key is read from the environment by preference: a command line is visible to
    # every user of the machine (ps), and MCP host configs are often shared.
    api_key = args.api_key or os.environ.get("MEMSVC_API_KEY")
    if not api_key:
        sys.exit("memsvc mcp: no API key: set MEMSVC_API_KEY (a tenant key) or --api-key")
    run(
        McpSettings(
            url=args.url or os.environ.get("MEMSVC_URL") or "http://127.0.0.1:8000",
            api_key=api_key,
            transport=args.transport,
            host=args.host,
            port=args.port,
            default_cube=args.cube or os.environ.get("MEMSVC_MCP_CUBE") or None,
        )
    )


# --- operator commands (export, import, keys, cubes) ----------------------------------------
def _operate(args: argparse.Namespace, work: Callable[[Runtime], Awaitable[None]]) -> None:
    """Run `work` with a Runtime on the configured database; a refusal exits with its message."""
    from memsvc.errors import MemsvcError

    settings = _settings(args)
    url = prepare_database(settings)

    async def run() -> None:
        from memsvc.models.remote import make_embedder
        from memsvc.services.runtime import Runtime
        from memsvc.store.db import Database, create_engine

        db = Database(create_engine(url, pool_size=2))
        try:
            await work(Runtime(settings=settings, db=db, embedder=make_embedder(settings)))
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except MemsvcError as exc:
        sys.exit(f"memsvc: {exc.message}")


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {text!r}") from None


class _Progress:
    """Records done out of a total, on stderr: tqdm's bar when installed, else a plain line."""

    def __init__(self, label: str, total: int | None):
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar: Any = None
        else:
            self.bar = tqdm(total=total, desc=label, unit="rec", file=sys.stderr)
        self.label, self.total, self.done = label, total, 0

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.done % 1000 < n or self.done == self.total:
            print(f"{self.label}: {self.done}/{self.total or '?'}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def _export_to(rt: Runtime, cube_id: uuid.UUID, path: Path | None) -> None:
    from memsvc.services import transfer

    out = path.open("wb") if path else sys.stdout.buffer
    progress: _Progress | None = None
    try:
        async for line in transfer.export_lines(rt, cube_id):
            if progress is None:  # the header: it says how many records follow
                total = sum(json.loads(line).get("counts", {}).values())
                progress = _Progress(f"export {cube_id}", total)
            else:
                progress.update(1)
            out.write(line)
    finally:
        if progress is not None:
            progress.close()
        if path:
            out.close()


def cmd_export(args: argparse.Namespace) -> None:
    from memsvc.services import transfer

    if (args.cube is None) == (args.tenant is None):
        sys.exit("memsvc export: give --cube ID or --tenant ID (with --out DIR)")
    if args.tenant is not None and args.out is None:
        sys.exit("memsvc export --tenant: give --out DIR (one file per cube)")

    async def work(rt: Runtime) -> None:
        if args.cube is not None:
            await transfer.operator_cube(rt, args.cube)
            await _export_to(rt, args.cube, args.out)
            return
        args.out.mkdir(parents=True, exist_ok=True)
        for cube in await transfer.operator_cubes(rt, args.tenant):
            await _export_to(rt, cube.id, args.out / f"cube-{cube.id}.jsonl")

    _operate(args, work)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def _header(path: Path) -> dict[str, Any]:
    """The export's first line, for its counts and tenant ({} when unreadable: the import
    itself then says what is wrong with it)."""
    try:
        with path.open("rb") as f:
            header = json.loads(f.readline())
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError):
            sys.exit(f"memsvc import: cannot read {path}: {exc.strerror}")
        return {}
    return header if isinstance(header, dict) else {}


def _exporting_tenant(header: dict[str, Any]) -> uuid.UUID:
    cube = header.get("cube")
    try:
        return uuid.UUID(str(cube.get("tenant_id") if isinstance(cube, dict) else None))
    except ValueError:
        sys.exit("memsvc import: the export names no tenant; give --tenant ID")


def _export_files(path: Path) -> list[Path]:
    """The files to import: the one given, or every `*.jsonl` of a directory (a tenant's
    export, one file per cube), in name order."""
    if not path.is_dir():
        return [path]
    files = sorted(path.glob("*.jsonl"))
    if not files:
        sys.exit(f"memsvc import: no .jsonl files in {path}")
    return files


def cmd_import(args: argparse.Namespace) -> None:
    from memsvc.services import transfer

    files = _export_files(args.file)
    if len(files) > 1 and args.name is not None:
        sys.exit("memsvc import: --name renames one cube; a directory holds several")
    headers = [_header(path) for path in files]  # read first: a bad file stops before any import
    tenants = [args.tenant or _exporting_tenant(header) for header in headers]

    async def import_one(rt: Runtime, path: Path, header: dict[str, Any], tenant: Any) -> None:
        counts = header.get("counts")
        total = (
            sum(v for v in counts.values() if isinstance(v, int)) if isinstance(counts, dict) else 0
        )
        progress = _Progress(f"import {path.name}", total or None)
        try:
            cube, done = await transfer.import_stream(
                rt,
                await transfer.operator(rt, tenant),
                _file_chunks(path),
                keep_ids=not args.new_ids,
                name=args.name,
                progress=lambda _kind, n: progress.update(n),
            )
        finally:
            progress.close()
        print(cube.id)
        print(json.dumps({"file": path.name, **done}), file=sys.stderr)

    async def work(rt: Runtime) -> None:
        # One transaction per cube: a file refused midway leaves the cubes before it imported
        # (their ids are printed) and nothing of its own.
        for path, header, tenant in zip(files, headers, tenants, strict=True):
            await import_one(rt, path, header, tenant)

    _operate(args, work)


def cmd_keys_create(args: argparse.Namespace) -> None:
    from memsvc.services import auth

    async def work(rt: Runtime) -> None:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        try:
            row, key = await auth.create_key(
                rt, tenant_id=args.tenant, scopes=[Scope(s) for s in scopes], name=args.name
            )
        except ValueError:
            sys.exit(
                f"memsvc: unknown scope in {args.scopes!r} ({', '.join(s.value for s in Scope)})"
            )
        print(f"key id: {row['id']}", file=sys.stderr)
        print(key)  # shown this once: only its hash is stored

    _operate(args, work)


def cmd_keys_revoke(args: argparse.Namespace) -> None:
    from memsvc.services import auth

    async def work(rt: Runtime) -> None:
        await auth.revoke_key(rt, key_id=args.key_id)
        print(f"revoked {args.key_id}")

    _operate(args, work)


def cmd_cubes_list(args: argparse.Namespace) -> None:
    from memsvc.services import cubes, transfer

    async def work(rt: Runtime) -> None:
        items = await transfer.operator_cubes(rt, args.tenant)
        counts = await cubes.memory_counts(rt, [c.id for c in items]) if items else {}
        for c in items:
            print(f"{c.id}\t{c.tenant_id}\t{counts.get(c.id, 0)}\t{c.name}")

    _operate(args, work)


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None, help="MEMSVC_DATABASE_URL")
    parser.add_argument("--data-dir", type=Path, default=None, help="MEMSVC_DATA_DIR")


def _operator_parsers(sub: Any) -> None:
    export = sub.add_parser("export", help="write a cube (or every cube of a tenant) as JSONL")
    export.add_argument("--cube", type=_uuid, default=None, help="the cube to export")
    export.add_argument("--tenant", type=_uuid, default=None, help="export each of its cubes")
    export.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file (--cube; default stdout) or directory (--tenant)",
    )
    _database_options(export)
    export.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="rebuild an exported cube as a new cube")
    imp.add_argument(
        "file", type=Path, help="a file written by memsvc export, or a directory of them (--tenant)"
    )
    imp.add_argument("--tenant", type=_uuid, default=None, help="default: the exporting tenant")
    imp.add_argument("--name", default=None, help="the new cube's name (default: the export's)")
    imp.add_argument("--new-ids", action="store_true", help="mint new memory ids")
    _database_options(imp)
    imp.set_defaults(func=cmd_import)

    keys = sub.add_parser("keys", help="create or revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = _leaf(key_commands, "create", "create a tenant key (printed once)", cmd_keys_create)
    create.add_argument("--tenant", type=_uuid, required=True)
    create.add_argument("--scopes", default="read,write", help="comma-separated")
    create.add_argument("--name", default=None)
    _leaf(key_commands, "revoke", "revoke a key", cmd_keys_revoke).add_argument(
        "key_id", type=_uuid
    )
    cubes = sub.add_parser("cubes", help="list cubes")
    cube_commands = cubes.add_subparsers(dest="cubes_command", required=True)
    _leaf(
        cube_commands, "list", "id, tenant, memories and name of each live cube", cmd_cubes_list
    ).add_argument("--tenant", type=_uuid, default=None)


def _leaf(
    parent: Any, name: str, help: str, func: Callable[[argparse.Namespace], None]
) -> argparse.ArgumentParser:
    """A subcommand working on the database (its options included)."""
    parser: argparse.ArgumentParser = parent.add_parser(name, help=help)
    _database_options(parser)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memsvc", description="Long-term memory for AI agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and a worker) on the database")
    serve.add_argument("--host", default=None, help="default 127.0.0.1 (MEMSVC_HOST)")
    serve.add_argument("--port", type=int, default=None, help="default 8000 (MEMSVC_PORT)")
    serve.add_argument("--data-dir", type=Path, default=None, help="MEMSVC_DATA_DIR")
    serve.add_argument("--no-worker", action="store_true", help="do not run a worker in-process")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--data-dir", type=Path, default=None, help="MEMSVC_DATA_DIR")
    migrate.set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="run background jobs from the PostgreSQL queue")
    worker.add_argument("--concurrency", type=int, default=None, help="jobs run at once")
    worker.add_argument("--data-dir", type=Path, default=None, help="MEMSVC_DATA_DIR")
    worker.set_defaults(func=cmd_worker)

    mcp = sub.add_parser("mcp", help="run the MCP server (memory tools) against a memsvc")
    mcp.add_argument("--url", default=None, help="memsvc's URL (MEMSVC_URL; default :8000)")
    mcp.add_argument(
        "--api-key", default=None, help="a tenant key; prefer MEMSVC_API_KEY (not in ps)"
    )
    mcp.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    mcp.add_argument("--host", default="127.0.0.1", help="http: the address to listen on")
    mcp.add_argument("--port", type=int, default=8765, help="http: the port (path /mcp)")
    mcp.add_argument("--cube", default=None, help="default cube id or name (MEMSVC_MCP_CUBE)")
    mcp.set_defaults(func=cmd_mcp)
    _operator_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    args.func(args)


if __name__ == "__main__":
    main()
