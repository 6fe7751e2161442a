"""Memory-poisoning defense: a trust level on every memory, the `quarantined` status, and the
quarantine records admins review.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OLD_STATUSES = "'pending','active','archived','merged','deleted'"
STATUSES = OLD_STATUSES + ",'quarantined'"


def upgrade() -> None:
    op.execute(
        f"""
        -- How far a memory is trusted, from where it came (memsvc.algorithms.trust):
        -- 0 external (tools, web), 1 agent, 2 user, 3 system.
        ALTER TABLE memories
            ADD COLUMN trust smallint NOT NULL DEFAULT 1 CHECK (trust BETWEEN 0 AND 3);

        -- Existing memories, by what they show of their provenance: conversation turns by
        -- their role (a system message written with an ordinary key is a user statement),
        -- what was inferred from a turn as that turn, core blocks and sources that name the
        -- user as user statements, sources naming a tool or the web as external.
        UPDATE memories SET trust = CASE fields->>'event_type'
                WHEN 'user_message' THEN 2 WHEN 'system_message' THEN 2
                WHEN 'tool_message' THEN 0 ELSE 1 END
            WHERE source = 'conversation' AND fact_subject IS NULL
              AND fields->>'event_type' LIKE '%\\_message';
        UPDATE memories m SET trust = t.trust
            FROM (SELECT s.memory_id, min(turn.trust) AS trust
                    FROM memory_sources s JOIN memories turn ON turn.id = s.source_id
                   WHERE s.relation = 'extracted' GROUP BY s.memory_id) t
            WHERE m.id = t.memory_id;
        UPDATE memories SET trust = 2
            WHERE memory_type = 'core'
               OR substring(lower(source) from '^[a-z]+') IN ('user', 'human', 'self');
        UPDATE memories SET trust = 0
            WHERE substring(lower(source) from '^[a-z]+') IN
                ('tool', 'function', 'web', 'www', 'http', 'https', 'url', 'browser', 'search',
                 'retrieved', 'retrieval', 'rag', 'external', 'file', 'document', 'doc', 'pdf',
                 'email', 'mail', 'api', 'plugin', 'scrape', 'scraper', 'import', 'feed', 'rss');

        ALTER TABLE memories DROP CONSTRAINT memories_status_check;
        ALTER TABLE memories ADD CONSTRAINT memories_status_check
            CHECK (status IN ({STATUSES}));

        -- One row per quarantine: why (the more trusted memories it contradicts, with their
        -- trust and statements), and how an admin resolved it. Kept after the resolution.
        CREATE TABLE memory_quarantine (
            id bigserial PRIMARY KEY,
            memory_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            trust smallint NOT NULL,
            reason text NOT NULL,
            conflict_ids uuid[] NOT NULL,
            conflicts jsonb NOT NULL,
            judged_by text NOT NULL CHECK (judged_by IN ('rules', 'llm')),
            created_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            resolution text CHECK (resolution IN ('released', 'rejected')),
            resolved_by text,
            note text,
            CHECK ((resolved_at IS NULL) = (resolution IS NULL))
        );
        -- At most one open quarantine per memory; the admin view lists the open ones.
        CREATE UNIQUE INDEX memory_quarantine_open ON memory_quarantine (memory_id)
            WHERE resolved_at IS NULL;
        CREATE INDEX memory_quarantine_tenant ON memory_quarantine
            (tenant_id, cube_id, created_at, id);
        CREATE INDEX memory_quarantine_memory ON memory_quarantine (memory_id, id);
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DROP TABLE memory_quarantine;
        UPDATE memories SET status = 'archived' WHERE status = 'quarantined';
        ALTER TABLE memories DROP CONSTRAINT memories_status_check;
        ALTER TABLE memories ADD CONSTRAINT memories_status_check
            CHECK (status IN ({OLD_STATUSES}));
        ALTER TABLE memories DROP COLUMN trust;
        """
    )
