"""API keys: generation, salted hashing, constant-time verification, scopes."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from memsvc.domain.types import Scope
from memsvc.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from memsvc.services.runtime import Runtime
from memsvc.store import tenants as tenant_store

KEY_PREFIX = "msk"


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: the admin, or a tenant key with scopes."""

    tenant_id: uuid.UUID | None
    key_id: uuid.UUID | None
    scopes: frozenset[Scope]
    is_admin: bool = False

    @property
    def actor(self) -> str:
        return "admin" if self.is_admin else f"key:{self.key_id}"

    def require(self, scope: Scope) -> None:
        if not self.is_admin and scope not in self.scopes:
            raise Forbidden(f"this key lacks the {scope.value!r} scope", code="missing_scope")

    def require_tenant(self) -> uuid.UUID:
        if self.tenant_id is None:
            raise Forbidden(
                "this endpoint works on a tenant's data: use a tenant key, not the admin key",
                code="tenant_key_required",
            )
        return self.tenant_id

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this endpoint needs the admin key", code="admin_required")


def _digest(salt: bytes, secret: str) -> bytes:
    # Keys carry 256 random bits, so one keyed hash is enough: no password stretching needed.
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def authenticate(rt: Runtime, bearer: str | None) -> Principal:
    if not bearer:
        raise Unauthorized()
    admin_key = rt.settings.admin_key_value
    if admin_key and hmac.compare_digest(bearer.encode(), admin_key.encode()):
        return Principal(tenant_id=None, key_id=None, scopes=frozenset(Scope), is_admin=True)
    parts = _split(bearer)
    if parts is None:
        raise Unauthorized("invalid API key", code="invalid_key")
    lookup, secret = parts
    async with rt.db.transaction() as conn:
        row = await tenant_store.find_key(conn, lookup=lookup)
    # Compare even when no row was found, so timing does not reveal which lookups exist.
    salt = row["salt"] if row else b"\0" * 16
    expected = row["hash"] if row else b"\0" * 32
    valid = hmac.compare_digest(_digest(salt, secret), expected)
    if not row or not valid or row["revoked_at"] is not None:
        raise Unauthorized("invalid or revoked API key", code="invalid_key")
    return Principal(
        tenant_id=row["tenant_id"],
        key_id=row["id"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
    )


async def create_key(
    rt: Runtime, *, tenant_id: uuid.UUID, scopes: Iterable[Scope], name: str | None
) -> tuple[dict[str, Any], str]:
    """Create a key; return its row and the key itself, which is never stored or shown again."""
    scopes = sorted({Scope(s) for s in scopes})
    if not scopes:
        raise InvalidRequest("a key needs at least one scope", code="no_scopes")
    lookup = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    async with rt.db.transaction() as conn:
        if await tenant_store.get_tenant(conn, tenant_id=tenant_id) is None:
            raise NotFound("no such tenant", code="tenant_not_found")
        row = await tenant_store.insert_key(
            conn,
            tenant_id=tenant_id,
            name=name,
            lookup=lookup,
            salt=salt,
            digest=_digest(salt, secret),
            scopes=[s.value for s in scopes],
        )
    return row, f"{KEY_PREFIX}_{lookup}_{secret}"


async def revoke_key(rt: Runtime, *, key_id: uuid.UUID) -> dict[str, Any]:
    async with rt.db.transaction() as conn:
        row = await tenant_store.revoke_key(conn, key_id=key_id, now=datetime.now(UTC))
    if row is None:
        raise NotFound("no such key", code="key_not_found")
    return row
