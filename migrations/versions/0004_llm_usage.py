"""LLM usage: one row per LLM-layer call (tokens, cost, whether the fallback was used).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # cube_id has no foreign key on purpose: usage is an account of money spent, and it stays
    # (attributed to the cube's id) after the cube is hard-deleted. cost_usd is NULL when the
    # model's price is unknown (a local model, or one missing from litellm's cost map).
    op.execute(
        """
        CREATE TABLE llm_usage (
            id bigserial PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            cube_id uuid,
            task text NOT NULL,
            model text NOT NULL,
            source text NOT NULL CHECK (source IN ('llm', 'fallback')),
            attempts integer NOT NULL DEFAULT 0,
            prompt_tokens integer NOT NULL DEFAULT 0,
            completion_tokens integer NOT NULL DEFAULT 0,
            cost_usd double precision,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX llm_usage_tenant_time ON llm_usage (tenant_id, created_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS llm_usage")
