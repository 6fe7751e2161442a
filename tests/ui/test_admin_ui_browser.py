"""The admin UI in a real headless Chromium (Debian's `chromium`, driven by Playwright) against
a real uvicorn server: log in, create a tenant and its key, browse and search memories, open
one (history, links, retention curve), the entity graph, the job queue and the LLM usage.
Each page is saved as docs/screenshots/admin-<page>.png (1280×800 viewport, full page)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
from playwright import async_api as playwright_api

from api.main import create_app
from memsvc.config import Settings
from tests.conftest import ADMIN_KEY
from tests.sdk.live_server import LiveServer
from tests.ui.admin_seed import EDITED_CONTENT, seed

expect = playwright_api.expect

CHROMIUM = os.environ.get("MEMSVC_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}

# Not skipped when the browser is missing: `make setup` installs Debian's chromium (Playwright's
# own browser download does not work offline), and a UI test that silently did not run would
# read as a pass.


async def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)


async def _hostile_memory(app: Any, key: str, cube_name: str) -> str:
    """A cube holding a memory whose content is markup and script (untrusted content)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://memsvc.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        cube = (await client.post("/v1/cubes", json={"name": cube_name})).json()
        r = await client.post(
            f"/v1/cubes/{cube['id']}/memories",
            json={"items": [{"content": HOSTILE}], "deduplicate": False},
        )
        assert r.status_code == 201, r.text
        return str(cube["id"])


HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


async def test_admin_ui_in_a_real_browser(
    app: Any, db_url: str, admin: Any, test_settings: Settings, embedder: Any
) -> None:
    data = await seed(app, db_url, admin, "acme-assistant")
    hostile_cube = await _hostile_memory(app, data.key, "scratchpad")
    # A second app on the same database, served by uvicorn in a thread (the `app` fixture's
    # runtime belongs to this test's event loop).
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium"
    served = create_app(test_settings, database_url=db_url, embedder=embedder)
    with LiveServer(served) as live:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = await browser.new_page(viewport=VIEWPORT)
                dialogs: list[str] = []
                page.on("dialog", lambda d: dialogs.append(d.message))
                await _walk(page, live.url, data)
                await _hostile_content_stays_text(page, live.url, hostile_cube)
                assert dialogs == []
            finally:
                await browser.close()


async def _walk(page: Any, base: str, data: Any) -> None:
    # --- log in ---------------------------------------------------------------------------
    await page.goto(f"{base}/admin/usage")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fadmin%2Fusage$"))
    await page.fill("#admin_key", "not-the-key")
    await page.click("button:has-text('Log in')")
    await expect(page.get_by_role("alert")).to_contain_text("not the admin key")
    await _shot(page, "login")
    await page.fill("#admin_key", ADMIN_KEY)
    await page.click("button:has-text('Log in')")
    await expect(page).to_have_url(f"{base}/admin/usage")  # back where it was going

    # --- overview ---------------------------------------------------------------------------
    await page.click("nav.sidebar >> text=Overview")
    await expect(page.locator("h1")).to_have_text("Overview")
    await expect(page.locator(".stat").filter(has_text="Cubes")).to_contain_text("2")
    await expect(page.locator("body")).to_contain_text("maya-assistant")
    await _shot(page, "overview")

    # --- tenants and keys -------------------------------------------------------------------
    await page.click("nav.sidebar >> text=Tenants & keys")
    await page.fill("#name", "globex-support")
    await page.click("button:has-text('Create tenant')")
    await expect(page.locator("h1")).to_have_text("Tenant globex-support")
    await page.fill("#key-name", "support agent")
    await page.click("button:has-text('Create key')")
    secret = page.locator("#new-key")
    await expect(secret).to_have_text(re.compile(r"^msk_"))
    key = await secret.inner_text()
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.get("/v1/cubes", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200  # the key shown works
    await _shot(page, "key-created")
    await page.goto(page.url)  # the page again, by GET: the secret is not shown again
    await expect(page.locator("h1")).to_have_text("Tenant globex-support")
    await expect(page.locator("#new-key")).to_have_count(0)
    await expect(page.locator("tbody tr", has_text="support agent")).to_have_count(1)
    await page.click("nav.sidebar >> text=Tenants & keys")
    await expect(page.locator("tbody tr")).to_have_count(2)  # acme-assistant, globex-support
    await _shot(page, "tenants")

    # --- a cube's memories ------------------------------------------------------------------
    await page.click("nav.sidebar >> text=Cubes & memories")
    await page.click("text=maya-assistant")
    await expect(page.locator("h1")).to_contain_text("maya-assistant")
    rows = page.locator("table.memories tbody tr")
    await expect(rows).to_have_count(12)
    await _shot(page, "cube")
    await page.select_option("#memory_type", "episodic")
    await page.click("button:has-text('Apply')")
    await expect(rows).to_have_count(4)
    await page.click("a.button:has-text('Reset')")
    await page.fill("#q", "Lena's beagle")
    await page.click("button:has-text('Apply')")
    await expect(page.locator(".result-note")).to_contain_text("by relevance")
    await expect(rows.first).to_contain_text("beagle Pixel")
    await _shot(page, "search")

    # --- one memory: note, retention, links, history ---------------------------------------
    await rows.first.locator("a").click()
    await expect(page.locator(".memory-content").first).to_have_text(EDITED_CONTENT)
    await expect(page.locator("svg.chart")).to_be_visible()
    await expect(page.locator("svg.chart .now-label")).to_contain_text("now:")
    await expect(page.locator("table.history tbody tr").first).to_contain_text("enrichment")
    await expect(page.locator("table.history")).to_contain_text("user update")
    await expect(page.locator("section", has_text="Links")).to_contain_text("riverside")
    await _shot(page, "memory")
    await page.click("text=walked Pixel along the Lisbon riverside")  # follow a link
    await expect(page.locator(".memory-content").first).to_contain_text("riverside")

    # --- the entity graph --------------------------------------------------------------------
    await page.goto(f"{base}/admin/cubes/{data.cube_id}/graph")
    await expect(page.locator("svg.graph")).to_be_visible()
    assert await page.locator("svg.graph .node").count() >= 10
    await expect(page.locator("svg.graph text", has_text="lisbon")).to_have_count(1)
    await _shot(page, "graph")

    # --- jobs and usage ----------------------------------------------------------------------
    await page.click("nav.sidebar >> text=Job queue")
    reindex = page.locator("tr", has_text="reindex_cube").first
    await expect(reindex).to_contain_text("1")
    await expect(page.locator("section", has_text="Recent failures")).to_contain_text(
        data.failed_job_id[:8]
    )
    await _shot(page, "jobs")
    await page.click("nav.sidebar >> text=LLM usage")
    await page.select_option("#days", "7")
    await page.click("button:has-text('Show')")
    await expect(page.locator("body")).to_contain_text("claude-3-5-haiku")
    await expect(page.locator("svg.bars").first.locator("rect.bar")).to_have_count(7)
    await _shot(page, "usage")


async def _hostile_content_stays_text(page: Any, base: str, cube_id: str) -> None:
    await page.goto(f"{base}/admin/cubes/{cube_id}")
    link = page.locator("table.memories a").first
    await expect(link).to_have_text(HOSTILE)  # shown as the characters it is
    await link.click()
    await expect(page.locator(".memory-content").first).to_have_text(HOSTILE)
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("main img").count() == 0
    # and logging out ends the session
    await page.click("button:has-text('Log out')")
    await expect(page).to_have_url(f"{base}/admin/login")
    await page.goto(f"{base}/admin/jobs")
    await expect(page).to_have_url(re.compile(r"/admin/login"))
