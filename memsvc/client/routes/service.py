"""The service itself: health, readiness, models, LLM usage."""

from __future__ import annotations

from datetime import datetime

from memsvc.client.calls import model
from memsvc.client.endpoints import Parts, route
from memsvc.client.models import Health, Models, Readiness, Usage
from memsvc.client.routes import Id


class ServiceRoutes:
    @route("GET", "/healthz", model(Health))
    def healthz() -> Parts:
        """The process is up."""
        return Parts()

    @route("GET", "/readyz", model(Readiness), accept={503})
    def readyz() -> Parts:
        """Database reachable and migrations current; "not ready" is an answer (`.ready`
        False, `.checks` says why), not an error, and is not retried."""
        return Parts()

    @route("GET", "/v1/models", model(Models))
    def list_models() -> Parts:
        """The loaded models, their devices and memory, and the model memory budget."""
        return Parts()

    @route("GET", "/v1/usage", model(Usage))
    def get_usage(
        cube_id: Id | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        tenant_id: Id | None = None,
    ) -> Parts:
        """LLM tokens, cost and fallbacks, totalled and grouped by cube, task and model."""
        return Parts(
            query={"cube_id": cube_id, "since": since, "until": until, "tenant_id": tenant_id}
        )
