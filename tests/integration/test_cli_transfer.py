"""The operator commands on the test database, run as the real `memsvc` command: export and
import round-trip a rich cube like the REST routes do; keys and cubes work without HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api.test_export_import import build_rich_cube, export, normalized, parse
from tests.conftest import _client


def memsvc(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEMSVC_LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [sys.executable, "-m", "memsvc.cli", *args, "--database-url", db_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


async def test_export_import_round_trip(app, db_url, client, tenant_client, tmp_path: Path):
    cube_id = await build_rich_cube(client, app, db_url)
    path = tmp_path / "rich.jsonl"
    memsvc(db_url, "export", "--cube", cube_id, "--out", str(path))
    exported = parse(path.read_text())
    over_rest = await export(client, cube_id)
    assert exported[1:] == over_rest[1:]  # the same records as the REST route, ids included
    assert normalized(exported) == normalized(over_rest)

    done = memsvc(db_url, "import", str(path), "--tenant", client.tenant_id, "--name", "restored")
    new_id = done.stdout.strip()
    assert new_id and new_id != cube_id
    assert normalized(await export(client, new_id)) == normalized(exported)

    # every cube of the tenant, one file each
    out = tmp_path / "all"
    memsvc(db_url, "export", "--tenant", client.tenant_id, "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"cube-{i}.jsonl" for i in (cube_id, new_id)
    )
    listing = memsvc(db_url, "cubes", "list", "--tenant", client.tenant_id).stdout
    assert {line.split("\t")[3] for line in listing.splitlines()} == {"rich", "restored"}

    # the whole tenant into another one: every file of the directory, a cube each
    other = await tenant_client()
    moved = memsvc(db_url, "import", str(out), "--tenant", other.tenant_id).stdout.split()
    assert len(moved) == 2
    copies = [await export(other, cube) for cube in moved]
    assert sorted(c[0]["cube"]["name"] for c in copies) == ["restored", "rich"]
    sources = {"rich": exported, "restored": await export(client, new_id)}
    for copy in copies:
        assert normalized(copy) == normalized(sources[copy[0]["cube"]["name"]])
    refused = subprocess.run(
        [sys.executable, "-m", "memsvc.cli", "import", str(out), "--name", "x"],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMSVC_DATABASE_URL": db_url},
        timeout=120,
    )
    assert refused.returncode != 0 and "directory holds several" in refused.stderr


async def test_keys_create_and_revoke(app, db_url, client):
    made = memsvc(
        db_url, "keys", "create", "--tenant", client.tenant_id, "--scopes", "read", "--name", "ops"
    )
    key = made.stdout.strip()
    key_id = made.stderr.split("key id: ")[1].split()[0]
    async with _client(app, key) as by_key:
        assert (await by_key.get("/v1/cubes")).status_code == 200
        assert (await by_key.post("/v1/cubes", json={"name": "x"})).status_code == 403
        memsvc(db_url, "keys", "revoke", key_id)
        assert (await by_key.get("/v1/cubes")).status_code == 401
