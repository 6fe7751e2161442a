"""Conversation ingestion: fact slots, extraction lineage, staged message batches.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE memories
            -- A memory inferred from a conversation states a fact about a subject (the
            -- speaker, lower case); when the fact fills a slot (lives_in, likes:coffee, ...)
            -- the slot and its value say what a later statement updates or supersedes.
            ADD COLUMN fact_subject text,
            ADD COLUMN fact_attribute text,
            ADD COLUMN fact_value text;
        -- Ingestion compares each new fact with the stored ones of its subject.
        CREATE INDEX memories_fact_subject ON memories (cube_id, fact_subject, memory_type)
            WHERE fact_subject IS NOT NULL;
        -- A retried batch of messages finds its turns by message id.
        CREATE INDEX memories_source_message_ids ON memories
            USING gin (source_message_ids);

        -- Lineage gains: a memory extracted from a conversation turn, a fact that supersedes
        -- an older one.
        ALTER TABLE memory_sources DROP CONSTRAINT memory_sources_relation_check;
        ALTER TABLE memory_sources ADD CONSTRAINT memory_sources_relation_check
            CHECK (relation IN ('summarizes', 'merged', 'derived', 'extracted', 'supersedes'));

        -- A large batch of messages waits here, acknowledged, until its ingestion job runs;
        -- the job deletes it in the transaction that stores its memories.
        CREATE TABLE ingest_batches (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE ingest_batches;
        DELETE FROM memory_sources WHERE relation IN ('extracted', 'supersedes');
        ALTER TABLE memory_sources DROP CONSTRAINT memory_sources_relation_check;
        ALTER TABLE memory_sources ADD CONSTRAINT memory_sources_relation_check
            CHECK (relation IN ('summarizes', 'merged', 'derived'));
        DROP INDEX memories_source_message_ids;
        DROP INDEX memories_fact_subject;
        ALTER TABLE memories
            DROP COLUMN fact_value,
            DROP COLUMN fact_attribute,
            DROP COLUMN fact_subject;
        """
    )
