"""Memory organisation: A-MEM notes and links, the HippoRAG entity graph.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _embedding_dim() -> int:
    dim = context.config.attributes.get("embedding_dim")
    if not dim:
        raise RuntimeError("embedding_dim missing: run migrations through `memsvc migrate`")
    return int(dim)


def upgrade() -> None:
    dim = _embedding_dim()
    # A memory's note (keywords, tags, context) lives in its own columns (0001); here: the note's
    # embedding (what A-MEM links by), who built it, and which content it was built from, so a
    # content update re-enriches and a stale enrichment job leaves a newer note alone.
    op.execute(
        f"""
        ALTER TABLE memories
            ADD COLUMN note_embedding vector({dim}),
            ADD COLUMN note_source text CHECK (note_source IN ('llm', 'heuristic')),
            ADD COLUMN enriched_hash text,
            ADD COLUMN enriched_at timestamptz;
        CREATE INDEX memories_note_embedding_hnsw ON memories
            USING hnsw (note_embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);

        -- Bumped by every change to a cube's entity graph: the key of the cached PPR matrix.
        ALTER TABLE cubes ADD COLUMN graph_version bigint NOT NULL DEFAULT 0;

        CREATE TABLE memory_links (
            source_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            target_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            link_type text NOT NULL,
            weight double precision NOT NULL CHECK (weight >= 0 AND weight <= 1),
            created_by text NOT NULL CHECK (created_by IN ('llm', 'heuristic')),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (source_id, target_id),
            CHECK (source_id <> target_id)
        );
        CREATE INDEX memory_links_target ON memory_links (target_id);

        CREATE TABLE graph_nodes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            key text NOT NULL,
            embedding vector({dim}),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX graph_nodes_cube_key ON graph_nodes (cube_id, key);
        CREATE INDEX graph_nodes_embedding_hnsw ON graph_nodes
            USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);

        -- Which memories mention which entity: HippoRAG 2's passage-entity context edges, and
        -- the passage count |P_i| of node specificity.
        CREATE TABLE graph_mentions (
            memory_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            node_id bigint NOT NULL REFERENCES graph_nodes(id) ON DELETE CASCADE,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            PRIMARY KEY (memory_id, node_id)
        );
        CREATE INDEX graph_mentions_node ON graph_mentions (node_id);
        CREATE INDEX graph_mentions_cube ON graph_mentions (cube_id);

        -- Relation edges come from one memory's triples (memory_id set, removed with it);
        -- synonym edges join two nodes whose embeddings are close (memory_id NULL).
        CREATE TABLE graph_edges (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            src_id bigint NOT NULL REFERENCES graph_nodes(id) ON DELETE CASCADE,
            dst_id bigint NOT NULL REFERENCES graph_nodes(id) ON DELETE CASCADE,
            relation text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('relation', 'synonym')),
            weight double precision NOT NULL CHECK (weight > 0),
            memory_id uuid REFERENCES memories(id) ON DELETE CASCADE,
            CHECK ((kind = 'relation') = (memory_id IS NOT NULL))
        );
        CREATE INDEX graph_edges_cube ON graph_edges (cube_id, id);
        CREATE INDEX graph_edges_src ON graph_edges (src_id);
        CREATE INDEX graph_edges_dst ON graph_edges (dst_id);
        CREATE INDEX graph_edges_memory ON graph_edges (memory_id) WHERE memory_id IS NOT NULL;
        CREATE UNIQUE INDEX graph_edges_synonym_pair ON graph_edges (src_id, dst_id)
            WHERE kind = 'synonym';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS graph_edges;
        DROP TABLE IF EXISTS graph_mentions;
        DROP TABLE IF EXISTS graph_nodes;
        DROP TABLE IF EXISTS memory_links;
        ALTER TABLE cubes DROP COLUMN IF EXISTS graph_version;
        DROP INDEX IF EXISTS memories_note_embedding_hnsw;
        ALTER TABLE memories
            DROP COLUMN IF EXISTS note_embedding,
            DROP COLUMN IF EXISTS note_source,
            DROP COLUMN IF EXISTS enriched_hash,
            DROP COLUMN IF EXISTS enriched_at;
        """
    )
