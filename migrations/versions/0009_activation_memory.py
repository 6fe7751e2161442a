"""Activation (KV-cache) memory: one row per cache build, with what it covers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE activations (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            -- queued -> building -> ready | failed; a newer ready build makes the older
            -- ones 'replaced' (their files are deleted).
            status text NOT NULL CHECK (status IN ('queued', 'building', 'ready', 'failed',
                                                   'replaced')),
            -- What was asked for (memory_ids, memory_types, quantization): a rebuild asks again.
            spec jsonb NOT NULL,
            job_id uuid,
            model_id text,
            model_fingerprint text,
            tokenizer_hash text,
            template_hash text,
            -- The system text the cache encodes; a generation renders it again around its prompt
            -- and reuses the cache only if the tokens agree from position 0.
            prefix_text text,
            dtype text,
            quantization text NOT NULL,
            token_count integer,
            bytes bigint,
            memory_ids uuid[] NOT NULL DEFAULT '{}',
            -- {memory id: version} at build time: a covered memory at another version (or no
            -- longer active) makes the cache stale.
            memory_versions jsonb NOT NULL DEFAULT '{}',
            path text,
            error text,
            stale_since timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            built_at timestamptz
        );
        CREATE INDEX activations_cube ON activations (cube_id, created_at DESC);

        -- A cache is stale the moment a memory it covers changes, whatever code path changed
        -- it: every change bumps the memory's version or its status.
        CREATE FUNCTION activations_mark_stale() RETURNS trigger AS $$
        DECLARE
            changed memories%ROWTYPE;
        BEGIN
            IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
            UPDATE activations SET stale_since = now()
             WHERE cube_id = changed.cube_id AND status = 'ready' AND stale_since IS NULL
               AND memory_ids @> ARRAY[changed.id];
            RETURN NULL;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER memories_stale_activations
            AFTER UPDATE OF version, status, content ON memories
            FOR EACH ROW
            WHEN (OLD.version IS DISTINCT FROM NEW.version
                  OR OLD.status IS DISTINCT FROM NEW.status
                  OR OLD.content IS DISTINCT FROM NEW.content)
            EXECUTE FUNCTION activations_mark_stale();
        CREATE TRIGGER memories_deleted_activations
            AFTER DELETE ON memories
            FOR EACH ROW EXECUTE FUNCTION activations_mark_stale();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER memories_deleted_activations ON memories;
        DROP TRIGGER memories_stale_activations ON memories;
        DROP FUNCTION activations_mark_stale();
        DROP TABLE activations;
        """
    )
