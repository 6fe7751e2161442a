"""The admin web UI at /admin: server-rendered pages (Jinja2) over the service layer, opened
with the admin key. See docs/admin-ui.md."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.admin_ui.pages import STATIC
from api.admin_ui.routes import router


def install(app: FastAPI) -> None:
    """Serve the UI on `app`. The stylesheet is mounted first, so the UI's catch-all 404 page
    does not shadow it."""
    app.mount("/admin/static", StaticFiles(directory=STATIC), name="admin-static")
    app.include_router(router)


__all__ = ["install", "router"]
