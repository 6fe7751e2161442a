"""A REST search's recall is written after its response (reinforce_after_response): the service
names the recalled memories, `reinforce_recalled` writes them in a transaction of its own, and a
failure there is logged, never raised into a response already sent."""

from __future__ import annotations

import logging
import uuid

import psycopg
from sqlalchemy.engine import make_url

from memsvc.services import search as search_service
from memsvc.services.auth import Principal, Scope
from memsvc.services.search import SearchRequest
from memsvc.store.db import libpq_url


def _recalls(db_url: str, ids: list[str]) -> dict[str, tuple[float, int]]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        rows = conn.execute(
            "SELECT id::text, strength, recall_count FROM memories WHERE id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
    return {mid: (float(s), int(n)) for mid, s, n in rows}


async def _seed(client, cube_id: str) -> list[str]:
    texts = ["Lena's beagle is called Rex.", "The boiler was fixed on Monday.", "Tea at four."]
    r = await client.post(
        f"/v1/cubes/{cube_id}/memories", json={"items": [{"content": t} for t in texts]}
    )
    assert r.status_code == 201, r.text
    return [m["id"] for m in r.json()["items"]]


def _principal(client) -> Principal:
    return Principal(
        tenant_id=uuid.UUID(client.tenant_id),
        key_id=uuid.UUID(client.key_id),
        scopes=frozenset({Scope.READ, Scope.WRITE}),
    )


async def test_deferred_recall_is_written_by_reinforce_recalled(app, db_url, client, cube):
    ids = await _seed(client, cube["id"])
    rt = app.state.runtime
    request = SearchRequest(query="Lena's beagle", top_k=1)
    result = await search_service.search(
        rt, _principal(client), [uuid.UUID(cube["id"])], request, defer_reinforcement=True
    )
    [hit] = result.results
    assert result.recalled == (hit.memory.id,) and result.recalled_at is not None
    assert _recalls(db_url, ids)[str(hit.memory.id)] == (1.0, 0)  # not yet
    await search_service.reinforce_recalled(rt, result)
    assert _recalls(db_url, ids)[str(hit.memory.id)] == (2.0, 1)
    others = [mid for mid in ids if mid != str(hit.memory.id)]
    assert all(_recalls(db_url, others)[mid] == (1.0, 0) for mid in others)
    # not deferred: written inside the search, nothing left for the caller
    now = await search_service.search(rt, _principal(client), [uuid.UUID(cube["id"])], request)
    assert now.recalled == () and _recalls(db_url, ids)[str(hit.memory.id)] == (3.0, 2)
    # a search asked not to reinforce defers nothing either
    quiet = SearchRequest(query="Lena's beagle", top_k=1, reinforce=False)
    none = await search_service.search(
        rt, _principal(client), [uuid.UUID(cube["id"])], quiet, defer_reinforcement=True
    )
    assert none.recalled == () and _recalls(db_url, ids)[str(hit.memory.id)] == (3.0, 2)


async def test_rest_search_reinforces_after_its_response(app, db_url, client, cube):
    ids = await _seed(client, cube["id"])
    r = await client.post(f"/v1/cubes/{cube['id']}/search", json={"query": "boiler", "top_k": 1})
    assert r.status_code == 200, r.text
    [hit] = r.json()["results"]
    assert hit["memory"]["recall_count"] == 0  # the answer shows the memory as found
    # the ASGI transport returns once the app is done, after-response work included
    assert _recalls(db_url, ids)[hit["memory"]["id"]] == (2.0, 1)


async def test_a_failed_deferred_recall_is_logged_not_raised(app, db_url, client, cube, caplog):
    await _seed(client, cube["id"])
    rt = app.state.runtime
    result = await search_service.search(
        rt,
        _principal(client),
        [uuid.UUID(cube["id"])],
        SearchRequest(query="tea", top_k=2),
        defer_reinforcement=True,
    )
    assert result.recalled
    name = make_url(db_url).database
    server = make_url(db_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with caplog.at_level(logging.WARNING, logger="memsvc.services.search"):
        await search_service.reinforce_recalled(rt, result)
    assert any(r.getMessage() == "recall reinforcement not written" for r in caplog.records)
