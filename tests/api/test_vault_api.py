"""The knowledge vault: secrets encrypted at rest, write-only, shown only with reveal=true and
the `secrets` scope, never in search, history, context or anywhere in the database."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from memsvc.store.db import libpq_url
from tests.api.db_scan import assert_nowhere_in_db as _nowhere_in_db
from tests.api.memory_http import key_client as _key_client
from tests.api.memory_http import revealed_fields
from workers.runner import work_until_idle

SECRET = "hunter2-Vault-Plaintext-7731"
NEW_SECRET = "correct-horse-Battery-9902"
CAPTION = "Online banking password for Dana's checking account"


def _vault_item(secret: str = SECRET, **extra: Any) -> dict[str, Any]:
    return {
        "content": "Dana's online banking password for the checking account",
        "memory_type": "knowledge_vault",
        "user_id": "u1",
        "fields": {
            "entry_type": "password",
            "source": "user",
            "sensitivity": "high",
            "caption": CAPTION,
            "secret_value": secret,
        },
        **extra,
    }


async def _add_one(client: httpx.AsyncClient, cube_id: str, item: dict[str, Any]) -> dict:
    r = await client.post(f"/v1/cubes/{cube_id}/memories", json={"items": [item]})
    assert r.status_code == 201, r.text
    return r.json()["items"][0]


def _err(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body


async def test_a_secret_is_encrypted_and_never_shown(app, db_url, admin, client, cube):
    cid = cube["id"]
    memory = await _add_one(client, cid, _vault_item())
    assert memory["has_secret"] is True
    assert "secret_value" not in memory["fields"]
    assert memory["fields"]["caption"] == CAPTION
    assert memory["fields"]["sensitivity"] == "high"
    await work_until_idle(db_url, app.state.runtime)  # notes, links and graph facts too
    _nowhere_in_db(db_url, SECRET)

    mid = memory["id"]
    responses = [
        await client.get(f"/v1/cubes/{cid}/memories/{mid}"),
        await client.get(f"/v1/cubes/{cid}/memories"),
        await client.get(f"/v1/cubes/{cid}/memories/{mid}/history"),
        await client.get(f"/v1/cubes/{cid}/memories/{mid}/lineage"),
        await client.get(f"/v1/cubes/{cid}/memories/{mid}/links"),
        await client.get(f"/v1/cubes/{cid}/graph"),
        await client.post(
            f"/v1/cubes/{cid}/search",
            json={"query": "banking password", "memory_types": ["knowledge_vault"]},
        ),
        await client.post("/v1/search", json={"query": "banking password", "cube_ids": [cid]}),
        await client.post(
            f"/v1/cubes/{cid}/context", json={"query": "banking password", "user_id": "u1"}
        ),
    ]
    for r in responses:
        assert r.status_code == 200, (r.request.url, r.text[:300])
        assert SECRET not in r.text, r.request.url
        assert "secret_value" not in r.text, r.request.url
    assert responses[0].json()["has_secret"] is True

    # reveal needs the secrets scope
    fields = await revealed_fields(app, admin, client, cid, mid)
    assert fields["secret_value"] == SECRET
    assert fields["caption"] == CAPTION
    keeper = await _key_client(app, admin, client.tenant_id, ["read", "secrets"])
    async with keeper:
        plain = await keeper.get(f"/v1/cubes/{cid}/memories/{mid}")
        assert "secret_value" not in plain.json()["fields"]
        # a memory without a secret reveals nothing
        other = await _add_one(client, cid, {"content": "Dana likes sailing."})
        r = await keeper.get(f"/v1/cubes/{cid}/memories/{other['id']}", params={"reveal": True})
        assert r.status_code == 200 and "secret_value" not in r.json()["fields"]
        # ...and the secrets scope alone does not open a cube it cannot read
    only_secrets = await _key_client(app, admin, client.tenant_id, ["secrets"])
    async with only_secrets:
        r = await only_secrets.get(f"/v1/cubes/{cid}/memories/{mid}", params={"reveal": "true"})
        _err(r, 403, "missing_scope")
    # another tenant's secrets key cannot reveal it either
    r = await admin.post("/v1/admin/tenants", json={"name": "other"})
    stranger = await _key_client(app, admin, r.json()["id"], ["read", "secrets"])
    async with stranger:
        r = await stranger.get(f"/v1/cubes/{cid}/memories/{mid}", params={"reveal": "true"})
        assert r.status_code == 404 and SECRET not in r.text


async def test_a_secret_may_not_be_written_in_the_clear(app, db_url, client, cube):
    cid = cube["id"]
    with psycopg.connect(libpq_url(db_url)) as conn:
        before = conn.execute("SELECT count(*) FROM memories").fetchone()
    url = f"/v1/cubes/{cid}/memories"
    in_content = _vault_item(content=f"Dana's banking password is {SECRET}")
    _err(await client.post(url, json={"items": [in_content]}), 422, "secret_in_content")
    in_caption = _vault_item()
    in_caption["fields"] = {**in_caption["fields"], "caption": f"password {SECRET}"}
    _err(await client.post(url, json={"items": [in_caption]}), 422, "secret_in_content")
    not_vault = {"content": "Dana's notes", "fields": {"secret_value": SECRET}}
    _err(await client.post(url, json={"items": [not_vault]}), 422, "invalid_fields")
    empty = _vault_item()
    empty["fields"] = {**empty["fields"], "secret_value": ""}
    _err(await client.post(url, json={"items": [empty]}), 422, "invalid_fields")
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == before
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)


async def test_patching_a_secret_re_encrypts_it(app, db_url, admin, client, cube):
    cid = cube["id"]
    memory = await _add_one(client, cid, _vault_item())
    mid = memory["id"]
    with psycopg.connect(libpq_url(db_url)) as conn:
        [(old_blob,)] = conn.execute(
            "SELECT secret_ciphertext FROM memories WHERE id = %s", (mid,)
        ).fetchall()
    fields = {**_vault_item()["fields"], "secret_value": NEW_SECRET}
    r = await client.patch(
        f"/v1/cubes/{cid}/memories/{mid}", json={"fields": fields, "reason": "rotated"}
    )
    assert r.status_code == 200, r.text
    assert NEW_SECRET not in r.text and "secret_value" not in r.json()["fields"]
    assert r.json()["has_secret"] is True
    assert r.json()["version"] == memory["version"] + 1
    assert r.json()["fields"]["caption"] == CAPTION

    history = (await client.get(f"/v1/cubes/{cid}/memories/{mid}/history")).json()["versions"]
    last = history[-1]
    assert last["change_kind"] == "user_update"
    assert last["changed_fields"] == ["secret_value"]
    assert last["reason"] == "rotated"
    assert "secret_value" not in last["snapshot"]["fields"]
    history_text = str(history)
    assert NEW_SECRET not in history_text and SECRET not in history_text

    with psycopg.connect(libpq_url(db_url)) as conn:
        [(new_blob,)] = conn.execute(
            "SELECT secret_ciphertext FROM memories WHERE id = %s", (mid,)
        ).fetchall()
    assert bytes(new_blob) != bytes(old_blob)
    _nowhere_in_db(db_url, SECRET, NEW_SECRET)
    keeper = await _key_client(app, admin, client.tenant_id, ["read", "secrets"])
    async with keeper:
        r = await keeper.get(f"/v1/cubes/{cid}/memories/{mid}", params={"reveal": "true"})
        assert r.json()["fields"]["secret_value"] == NEW_SECRET

    # a new secret written into the content is refused as it is on add
    clear = {**fields, "secret_value": "another-Secret-1234"}
    r = await client.patch(
        f"/v1/cubes/{cid}/memories/{mid}",
        json={"fields": clear, "content": "the password is another-Secret-1234"},
    )
    _err(r, 422, "secret_in_content")


async def test_content_may_not_spell_out_the_stored_secret(app, db_url, admin, client, cube):
    """The stored secret must not reach the (searchable, versioned) content by a PATCH that
    leaves the secret itself alone."""
    cid = cube["id"]
    memory = await _add_one(client, cid, _vault_item())
    r = await client.patch(
        f"/v1/cubes/{cid}/memories/{memory['id']}",
        json={"content": f"Dana's banking password is {SECRET}"},
    )
    _err(r, 422, "secret_in_content")
    _nowhere_in_db(db_url, SECRET)


async def test_vault_entries_are_found_only_when_asked_for(app, db_url, client, cube):
    cid = cube["id"]
    vault = await _add_one(client, cid, _vault_item())
    note = await _add_one(client, cid, {"content": "Dana opened a checking account in May."})
    # two entries with the same text are never merged: each keeps its own secret
    twin = await client.post(
        f"/v1/cubes/{cid}/memories", json={"items": [_vault_item("other-Secret-5555")]}
    )
    assert twin.status_code == 201
    assert twin.json()["duplicates"] == []
    assert twin.json()["items"][0]["id"] != vault["id"]

    r = await client.post(
        f"/v1/cubes/{cid}/search", json={"query": "online banking password checking account"}
    )
    found = [h["memory"]["id"] for h in r.json()["results"]]
    assert note["id"] in found and vault["id"] not in found
    assert all(h["memory"]["memory_type"] != "knowledge_vault" for h in r.json()["results"])

    r = await client.post(
        f"/v1/cubes/{cid}/search",
        json={"query": CAPTION, "memory_types": ["knowledge_vault"], "top_k": 5},
    )
    results = r.json()["results"]
    assert {h["memory"]["id"] for h in results} == {vault["id"], twin.json()["items"][0]["id"]}
    assert results[0]["memory"]["fields"]["caption"] == CAPTION
    assert results[0]["memory"]["has_secret"] is True
    assert SECRET not in r.text and "secret_value" not in r.text
