"""Tenants, keys, the audit log and the quarantine (the admin key; the quarantine also a
tenant key with the `admin` scope)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from memsvc.client.calls import compact, model, model_list, nothing
from memsvc.client.endpoints import Parts, paginated, route
from memsvc.client.models import (
    ApiKey,
    AuditEntry,
    CreatedKey,
    Page,
    QuarantineEntry,
    Tenant,
)
from memsvc.client.routes import Id


class AdminRoutes:
    @route("POST", "/v1/admin/tenants", model(Tenant))
    def create_tenant(name: str) -> Parts:
        """Create a tenant."""
        return Parts(body={"name": name})

    @route("GET", "/v1/admin/tenants", model_list(Tenant))
    def list_tenants() -> Parts:
        """Every tenant."""
        return Parts()

    @route("GET", "/v1/admin/tenants/{tenant_id}", model(Tenant))
    def get_tenant(tenant_id: Id) -> Parts:
        return Parts(ids={"tenant_id": tenant_id})

    @route("POST", "/v1/admin/keys", model(CreatedKey))
    def create_key(
        tenant_id: Id, scopes: Sequence[str] | None = None, name: str | None = None
    ) -> Parts:
        """A key for the tenant (default scopes: read and write). `.key` is the secret,
        shown in this answer only."""
        body = {"tenant_id": tenant_id, "scopes": scopes, "name": name}
        return Parts(body=compact(**body))

    @route("GET", "/v1/admin/keys", model_list(ApiKey))
    def list_keys(tenant_id: Id | None = None) -> Parts:
        """Keys (never their secrets), optionally of one tenant."""
        return Parts(query={"tenant_id": tenant_id})

    @route("DELETE", "/v1/admin/keys/{key_id}", nothing)
    def revoke_key(key_id: Id) -> Parts:
        """Revoke a key: it stops working at once."""
        return Parts(ids={"key_id": key_id})

    @route("GET", "/v1/admin/audit", model(Page[AuditEntry]))
    def list_audit(
        tenant_id: Id | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Parts:
        """One page of the audit log, newest first."""
        query = {"tenant_id": tenant_id, "since": since, "until": until}
        return Parts(query={**query, "limit": limit, "cursor": cursor})

    iter_audit = paginated(list_audit, lambda page: page.items)

    @route("GET", "/v1/admin/quarantine", model(Page[QuarantineEntry]))
    def list_quarantine(
        tenant_id: Id | None = None,
        cube_id: Id | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Parts:
        """One page of the memories in quarantine, oldest first, each with why."""
        query = {"tenant_id": tenant_id, "cube_id": cube_id}
        return Parts(query={**query, "limit": limit, "cursor": cursor})

    iter_quarantine = paginated(list_quarantine, lambda page: page.items)

    @route("POST", "/v1/admin/quarantine/{memory_id}/release", model(QuarantineEntry))
    def release_quarantined(memory_id: Id, note: str | None = None) -> Parts:
        """The memory is sound: active again."""
        return Parts(ids={"memory_id": memory_id}, body={"note": note} if note else None)

    @route("POST", "/v1/admin/quarantine/{memory_id}/reject", model(QuarantineEntry))
    def reject_quarantined(memory_id: Id, note: str | None = None) -> Parts:
        """The memory is poisoned: soft-deleted."""
        return Parts(ids={"memory_id": memory_id}, body={"note": note} if note else None)
