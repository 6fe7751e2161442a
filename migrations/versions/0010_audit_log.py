"""Audit log: one row per mutating API request that reached a route (who, what, when).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- No foreign keys: the trail outlives the keys, cubes and tenants it names. No request
        -- bodies either: they hold memories and secrets.
        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            -- 'admin' or 'key:<api key id>'
            actor text NOT NULL,
            tenant_id uuid,
            key_id uuid,
            method text NOT NULL,
            -- the route template, e.g. /v1/cubes/{cube_id}/memories/{memory_id}
            route text NOT NULL,
            -- its path parameters (cube_id, memory_id, ...) and the `hard` flag of deletes
            params jsonb NOT NULL DEFAULT '{}',
            status integer NOT NULL,
            request_id text NOT NULL
        );
        CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at, id);
        CREATE INDEX audit_log_at ON audit_log (at, id);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE audit_log;")
