"""Memory lifecycle: pinning, origins, lineage, TiM buckets, derived keys, vault ciphertext.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE memories
            -- Pinned memories (like core ones) are never archived by the forgetting sweep.
            ADD COLUMN pinned boolean NOT NULL DEFAULT false,
            -- What made the memory: NULL for a client's own; else thought, daily_summary,
            -- global_summary, portrait.
            ADD COLUMN origin text,
            -- The TiM LSH bucket of a thought (random hyperplanes over its embedding).
            ADD COLUMN lsh_bucket integer,
            -- One memory per key and cube: a day's summary, a user's portrait, a core block.
            -- Consolidation updates it in place, so re-runs and retries never duplicate it.
            ADD COLUMN derived_key text,
            -- A knowledge-vault secret, Fernet-encrypted; never in `fields`, snapshots or logs.
            ADD COLUMN secret_ciphertext bytea;
        CREATE UNIQUE INDEX memories_derived_key ON memories (cube_id, derived_key)
            WHERE derived_key IS NOT NULL;
        CREATE INDEX memories_lsh_bucket ON memories (cube_id, lsh_bucket)
            WHERE lsh_bucket IS NOT NULL;
        -- The forgetting sweep reads the live memories of a cube.
        CREATE INDEX memories_cube_status ON memories (cube_id, status);

        -- Lineage: a memory made from others (a summary from its days' memories, a merged
        -- thought from the thoughts folded into it, a thought from its question and answer).
        CREATE TABLE memory_sources (
            memory_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            source_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            relation text NOT NULL CHECK (relation IN ('summarizes', 'merged', 'derived')),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (memory_id, source_id, relation),
            CHECK (memory_id <> source_id)
        );
        CREATE INDEX memory_sources_source ON memory_sources (source_id);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE memory_sources;
        DROP INDEX memories_cube_status;
        ALTER TABLE memories
            DROP COLUMN pinned, DROP COLUMN origin, DROP COLUMN lsh_bucket,
            DROP COLUMN derived_key, DROP COLUMN secret_ciphertext;
        """
    )
