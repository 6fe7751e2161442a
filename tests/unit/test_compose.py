"""docker-compose.yml and the Dockerfile only use commands, flags and settings that exist.

There is no Docker engine in CI, so this checks the files against the CLI's own argparse parser
and the Settings model instead of running them.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from memsvc.cli import build_parser
from memsvc.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
MEMSVC_SERVICES = ("migrate", "api", "worker")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _check_memsvc_command(argv: list[str]) -> argparse.ArgumentParser:
    assert argv[0] == "memsvc", argv
    subcommands = _subcommands()
    assert argv[1] in subcommands, f"`memsvc {argv[1]}` is not a subcommand ({sorted(subcommands)})"
    sub = subcommands[argv[1]]
    known = {opt for action in sub._actions for opt in action.option_strings}
    for token in argv[2:]:
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            assert flag in known, f"`memsvc {argv[1]}` has no {flag} ({sorted(known)})"
    sub.parse_args(argv[2:])  # the values parse too (types, required arguments)
    return sub


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_has_the_services():
    services = _services()
    assert set(services) >= {"db", *MEMSVC_SERVICES}
    assert services["db"]["image"].startswith("pgvector/pgvector:pg16")
    assert "pg_isready" in " ".join(_argv(services["db"]["healthcheck"]["test"]))
    assert any(str(v).endswith("/var/lib/postgresql/data") for v in services["db"]["volumes"])
    assert services["api"]["build"] == "."


@pytest.mark.parametrize("name", MEMSVC_SERVICES)
def test_service_commands_exist_in_the_cli(name):
    _check_memsvc_command(_argv(_services()[name]["command"]))


def test_api_and_worker_wait_for_migrations():
    services = _services()
    assert _argv(services["migrate"]["command"])[:2] == ["memsvc", "migrate"]
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["db"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    api = _argv(services["api"]["command"])
    assert "--no-worker" in api  # the separate worker service runs the jobs
    assert api[api.index("--host") + 1] == "0.0.0.0"
    assert _argv(services["worker"]["command"])[:2] == ["memsvc", "worker"]


@pytest.mark.parametrize("name", MEMSVC_SERVICES)
def test_environment_names_are_settings(name):
    env = _environment(_services()[name])
    assert "MEMSVC_DATABASE_URL" in env
    fields = set(Settings.model_fields)
    for key in env:
        assert key.startswith("MEMSVC_"), f"{name}: {key} is not a memsvc setting"
        assert key.removeprefix("MEMSVC_").lower() in fields, (
            f"{name}: {key} is not a Settings field"
        )


def test_api_gets_an_admin_key_and_the_database_host():
    services = _services()
    assert "MEMSVC_ADMIN_KEY" in _environment(services["api"])
    for name in MEMSVC_SERVICES:
        assert "@db:5432/" in _environment(services[name])["MEMSVC_DATABASE_URL"], name


def test_dockerfile_installs_the_project_and_runs_memsvc():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert re.search(r"^RUN pip install \.", text, re.M)
    for folder in ("memsvc", "api", "workers", "migrations"):
        assert re.search(rf"^COPY {folder} ", text, re.M), folder
    cmd = re.search(r"^CMD (\[.*\])\s*$", text, re.M)
    assert cmd, "the Dockerfile needs an exec-form CMD"
    _check_memsvc_command(json.loads(cmd.group(1)))


def test_configuration_doc_lists_every_setting():
    from memsvc.config import settings_table

    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert settings_table() in doc, "regenerate the table: python -m memsvc.config"
