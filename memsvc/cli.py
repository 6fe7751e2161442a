"""The `memsvc` command: serve, migrate, worker."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from memsvc.config import Settings, get_settings

log = logging.getLogger("memsvc")


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        os.environ["MEMSVC_DATA_DIR"] = str(args.data_dir)
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
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())


def cmd_worker(args: argparse.Namespace) -> None:
    from workers.runner import run_worker

    settings = _settings(args)
    url = prepare_database(settings)
    run_worker(url, concurrency=args.concurrency or settings.worker_concurrency)


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
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The embedded server and Alembic narrate every step at INFO; keep their warnings only.
    for chatty in ("pgserver", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    args.func(args)


if __name__ == "__main__":
    main()
