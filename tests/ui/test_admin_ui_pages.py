"""The admin web UI over ASGI (real app, real PostgreSQL): the login session, CSRF on every
write, 4xx pages for bad input, escaping of untrusted content, and each page on seeded data."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from api.admin_ui import session as sessions
from memsvc.services import memories, transfer
from tests.conftest import ADMIN_KEY
from tests.ui.admin_seed import USAGE, Seeded, seed

PAGES = ["/admin", "/admin/tenants", "/admin/cubes", "/admin/jobs", "/admin/usage"]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _browser(app: Any) -> httpx.AsyncClient:
    # No Authorization header: the pages know only their cookie.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://memsvc.test")


async def _login(ui: httpx.AsyncClient, key: str = ADMIN_KEY) -> httpx.Response:
    return await ui.post("/admin/login", data={"admin_key": key, "next": "/admin"})


def _csrf(html: str) -> str:
    found = re.search(rf'name="{sessions.CSRF_FIELD}" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
async def ui(app: Any) -> Any:
    async with _browser(app) as client:
        r = await _login(client)
        assert r.status_code == 303 and r.headers["location"] == "/admin", r.text
        yield client


async def _tenant_names(admin: httpx.AsyncClient) -> list[str]:
    return [t["name"] for t in (await admin.get("/v1/admin/tenants")).json()["items"]]


# --- the session --------------------------------------------------------------------------


async def test_every_page_sends_a_stranger_to_the_login_form(app):
    async with _browser(app) as stranger:
        for path in [*PAGES, f"/admin/cubes/{uuid.uuid4()}", f"/admin/tenants/{uuid.uuid4()}"]:
            r = await stranger.get(path)
            assert r.status_code == 303, (path, r.status_code)
            assert r.headers["location"].startswith("/admin/login?next=%2Fadmin"), path
        # a bearer admin key is not a session: the pages ask for the cookie
        r = await stranger.get("/admin", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert r.status_code == 303
        r = await stranger.post("/admin/tenants", data={"name": "x"})
        assert r.status_code == 401 and "log in again" in r.text
        login = await stranger.get("/admin/login")
        assert login.status_code == 200 and 'type="password"' in login.text


async def test_a_tenant_key_or_a_wrong_key_does_not_log_in(app, client):
    tenant_key = client.headers["Authorization"].removeprefix("Bearer ")
    async with _browser(app) as ui:
        for key in (tenant_key, "wrong", "", ADMIN_KEY + "x"):
            r = await _login(ui, key)
            assert r.status_code == 401, key
            assert "not the admin key" in r.text
            assert "set-cookie" not in r.headers
        assert (await ui.get("/admin")).status_code == 303


async def test_login_cookie_is_signed_strict_httponly_and_logout_ends_it(app):
    async with _browser(app) as ui:
        r = await _login(ui)
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{sessions.COOKIE}=")
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=strict" in lowered and "path=/admin" in lowered
        assert "secure" not in lowered  # plain http here; https requests get Secure
        value = ui.cookies[sessions.COOKIE]
        assert ADMIN_KEY not in value  # the session never holds the key

        page = await ui.get("/admin")
        assert page.status_code == 200 and "Overview" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]

        # a tampered or forged value is no session
        for forged in (value[:-2] + "xx", "9999999999.nonce.sig", value.replace(".", "", 1)):
            ui.cookies.set(sessions.COOKIE, forged, path="/admin")
            assert (await ui.get("/admin")).status_code == 303, forged
        ui.cookies.set(sessions.COOKIE, value, path="/admin")

        out = await ui.post("/admin/logout", data={sessions.CSRF_FIELD: _csrf(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/admin/login"
        assert "max-age=0" in out.headers["set-cookie"].lower()
        # the old value, replayed after logout, is refused too
        ui.cookies.set(sessions.COOKIE, value, path="/admin")
        assert (await ui.get("/admin")).status_code == 303


async def test_https_requests_get_a_secure_cookie(app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://memsvc.test"
    ) as ui:
        r = await _login(ui)
        assert "secure" in r.headers["set-cookie"].lower()


def test_session_tokens_expire_and_bind_to_the_admin_key():
    key = sessions.signing_key("k1")
    token = sessions.issue(key, now=1_000.0, lifetime_s=60)
    found = sessions.verify(key, token, now=1_030.0)
    assert found is not None and found.csrf == sessions.csrf_for(key, found.nonce)
    assert sessions.verify(key, token, now=1_061.0) is None  # expired
    assert sessions.verify(sessions.signing_key("k2"), token, now=1_030.0) is None  # key rotated
    assert sessions.verify(key, None, now=0) is None
    assert not sessions.csrf_matches(found, None) and not sessions.csrf_matches(found, "x")
    assert sessions.csrf_matches(found, found.csrf)


# --- writes and CSRF ----------------------------------------------------------------------


async def test_create_tenant_and_key_show_the_secret_once_and_revoke_works(app, ui):
    listing = await ui.get("/admin/tenants")
    token = _csrf(listing.text)
    r = await ui.post("/admin/tenants", data={"name": "acme", sessions.CSRF_FIELD: token})
    assert r.status_code == 303
    tenant_url = r.headers["location"]
    tenant_id = tenant_url.rsplit("/", 1)[1]

    made = await ui.post(
        f"{tenant_url}/keys",
        data={"name": "bot", "scope_read": "1", "scope_write": "1", sessions.CSRF_FIELD: token},
    )
    assert made.status_code == 200
    secret = re.search(r'id="new-key">(msk_[^<]+)<', made.text)
    assert secret, made.text
    key = secret.group(1)
    assert "shown this once" in made.text and made.headers["cache-control"] == "no-store"

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as tenant:
        assert (await tenant.get("/v1/cubes")).status_code == 200
        again = await ui.get(tenant_url)
        assert key not in again.text and "bot" in again.text  # listed, never shown again
        key_id = re.search(r'action="/admin/keys/([0-9a-f-]+)/revoke"', again.text).group(1)
        r = await ui.post(f"/admin/keys/{key_id}/revoke", data={sessions.CSRF_FIELD: token})
        assert r.status_code == 303 and r.headers["location"] == f"/admin/tenants/{tenant_id}"
        assert (await tenant.get("/v1/cubes")).status_code == 401
    assert "revoked" in (await ui.get(tenant_url)).text


async def test_writes_from_the_pages_are_audited_as_the_admin(ui, admin):
    token = _csrf((await ui.get("/admin/tenants")).text)
    assert (
        await ui.post("/admin/tenants", data={"name": "audited", sessions.CSRF_FIELD: token})
    ).status_code == 303
    await ui.post("/admin/tenants", data={"name": "forged"})  # refused: audited as refused
    entries = (await admin.get("/v1/admin/audit")).json()["items"]
    made = [(e["actor"], e["method"], e["route"], e["status"]) for e in entries]
    assert ("admin", "POST", "/admin/tenants", 303) in made
    assert ("admin", "POST", "/admin/tenants", 403) in made


async def test_forged_posts_without_the_csrf_token_change_nothing(app, ui, admin, client):
    key_id = client.key_id
    tenant_id = client.tenant_id
    before = await _tenant_names(admin)
    keys_before = (await admin.get("/v1/admin/keys")).json()["items"]
    for token in (None, "", "forged-token"):
        extra = {} if token is None else {sessions.CSRF_FIELD: token}
        attempts = [
            ("/admin/tenants", {"name": "evil", **extra}),
            (f"/admin/tenants/{tenant_id}/keys", {"scope_read": "1", **extra}),
            (f"/admin/keys/{key_id}/revoke", extra),
            ("/admin/logout", extra),
        ]
        for path, form in attempts:
            r = await ui.post(path, data=form)
            assert r.status_code == 403, (path, token, r.status_code)
            assert "CSRF" in r.text
    assert await _tenant_names(admin) == before
    assert (await admin.get("/v1/admin/keys")).json()["items"] == keys_before
    assert (await client.get("/v1/cubes")).status_code == 200  # the key was not revoked
    assert (await ui.get("/admin")).status_code == 200  # nor was the session ended

    # another session's token does not fit this one
    async with _browser(app) as other:
        await _login(other)
        foreign = _csrf((await other.get("/admin")).text)
    r = await ui.post("/admin/tenants", data={"name": "evil", sessions.CSRF_FIELD: foreign})
    assert r.status_code == 403 and await _tenant_names(admin) == before


# --- bad input -------------------------------------------------------------------------------


async def test_bad_input_is_a_clear_4xx_page(ui, client, cube):
    missing = uuid.uuid4()
    token = _csrf((await ui.get("/admin")).text)
    cases = [
        ("/admin/tenants/not-a-uuid", 400, "tenant_id"),
        (f"/admin/tenants/{missing}", 404, "no such tenant"),
        ("/admin/cubes/123", 400, "cube_id"),
        (f"/admin/cubes/{missing}", 404, "no such live cube"),
        (f"/admin/cubes/{missing}/graph", 404, "no such live cube"),
        (f"/admin/cubes/{cube['id']}/memories/{missing}", 404, "no such memory"),
        (f"/admin/cubes/{cube['id']}/memories/zzz", 400, "memory_id"),
        (f"/admin/cubes/{cube['id']}?memory_type=dream", 422, "unknown memory type"),
        (f"/admin/cubes/{cube['id']}?status=lost", 422, "unknown status"),
        (f"/admin/cubes/{cube['id']}?cursor=garbage", 400, "cursor"),
        ("/admin/usage?days=0", 400, "days"),
        ("/admin/usage?days=abc", 400, "days"),
        ("/admin/no-such-page", 404, "no admin page"),
    ]
    for path, status, words in cases:
        r = await ui.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), path
        assert words.lower() in r.text.lower(), (path, words)

    r = await ui.post("/admin/tenants", data={"name": "  ", sessions.CSRF_FIELD: token})
    assert r.status_code == 422 and "name" in r.text
    assert (
        await ui.post("/admin/tenants", data={"name": "dup", sessions.CSRF_FIELD: token})
    ).status_code == 303
    r = await ui.post("/admin/tenants", data={"name": "dup", sessions.CSRF_FIELD: token})
    assert r.status_code == 409 and "exists already" in r.text
    r = await ui.post(
        f"/admin/tenants/{client.tenant_id}/keys", data={sessions.CSRF_FIELD: token}
    )  # no scope ticked
    assert r.status_code == 422 and "scopes" in r.text
    r = await ui.post(f"/admin/keys/{missing}/revoke", data={sessions.CSRF_FIELD: token})
    assert r.status_code == 404 and "no such key" in r.text
    r = await ui.post(
        "/admin/tenants",
        content=b'{"name": "json"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 415
    assert (await ui.get("/admin/")).status_code == 307


async def test_untrusted_content_is_shown_as_text(ui, client, cube):
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    r = await client.post(
        f"/v1/cubes/{cube['id']}/memories",
        json={"items": [{"content": evil, "tags": ["<b>tag</b>"], "metadata": {"k": "<i>"}}]},
    )
    assert r.status_code == 201, r.text
    memory_id = r.json()["items"][0]["id"]
    for path in (
        f"/admin/cubes/{cube['id']}",
        f"/admin/cubes/{cube['id']}/memories/{memory_id}",
        f"/admin/cubes/{cube['id']}?q=alert",
    ):
        page = (await ui.get(path)).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(" in page, path
        assert "<b>tag</b>" not in page and "&lt;b&gt;tag&lt;/b&gt;" in page, path


# --- the pages, on seeded data ---------------------------------------------------------------


async def test_pages_show_the_seeded_service(app, db_url, admin, ui):
    data = await seed(app, db_url, admin, "acme-assistant")
    cube_url = f"/admin/cubes/{data.cube_id}"

    overview = (await ui.get("/admin")).text
    assert "maya-assistant" in overview  # among the largest cubes
    assert re.search(r'stat-value"><a href="/admin/cubes">1<', overview)

    tenant = (await ui.get(f"/admin/tenants/{data.tenant_id}")).text
    assert "helper-bot" in tenant and "maya-assistant" in tenant

    listing = (await ui.get(cube_url)).text
    assert listing.count(f'href="{cube_url}/memories/') == 12
    procedures = (await ui.get(cube_url, params={"memory_type": "procedural"})).text
    assert procedures.count(f'href="{cube_url}/memories/') == 1 and "expense report" in procedures
    tagged = (await ui.get(cube_url, params={"tags": "travel, family"})).text
    assert tagged.count(f'href="{cube_url}/memories/') == 1 and "riverside" in tagged

    before = await _strengths(app, data)
    found = (await ui.get(cube_url, params={"q": "Lena's beagle"})).text
    hits = re.findall(rf'href="{cube_url}/memories/([0-9a-f-]+)"', found)
    assert hits[0] == data.edited_id and "by relevance" in found
    assert await _strengths(app, data) == before  # looking is not a recall

    memory = (await ui.get(f"{cube_url}/memories/{data.edited_id}")).text
    for words in ("beagle Pixel", "user update", "enrichment", "create", "Pixel is a beagle"):
        assert words in memory, words
    assert "Maya&#39;s sister Lena lives in Lisbon and has a dog" in memory  # version 1
    assert 'class="curve"' in memory and 'class="now"' in memory
    assert "walked Pixel along the Lisbon riverside" in memory  # a link, to its page

    graph = (await ui.get(f"{cube_url}/graph")).text
    assert graph.count("<circle") >= 5 and graph.count('class="edge') >= 3
    assert "maya" in graph.lower()

    jobs = (await ui.get("/admin/jobs")).text
    row = re.search(r"<code>reindex_cube</code></td>\s*(.*?)</tr>", jobs, re.S).group(1)
    assert re.findall(r">(\d+)<", row) == ["1", "0", "1"]  # queued, running, failed
    assert data.failed_job_id[:8] in jobs

    usage = (await ui.get("/admin/usage", params={"days": 7})).text
    assert "gpt-4o-mini" in usage and "claude-3-5-haiku" in usage
    tokens = sum(prompt + completion for _, _, _, prompt, completion, _ in USAGE)
    assert f"{tokens:,}" in usage  # every token of the week
    assert usage.count('class="bar"') == 14  # 7 days, two charts


async def _strengths(app: Any, data: Seeded) -> dict[str, float]:
    """Each seeded memory's strength, read as the operator (no recall counted)."""
    rows = {}
    rt = app.state.runtime
    principal = await transfer.operator(rt, uuid.UUID(data.tenant_id))
    for m in data.memories:
        got = await memories.get_memory(rt, principal, uuid.UUID(data.cube_id), uuid.UUID(m["id"]))
        rows[m["id"]] = got.strength
    return rows
