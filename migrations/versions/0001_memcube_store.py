"""MemCube store: tenants, API keys, cubes, memories and their versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MEMORY_TYPES = "'core','episodic','semantic','procedural','resource','knowledge_vault'"
STATUSES = "'pending','active','archived','merged','deleted'"


def _embedding_dim() -> int:
    dim = context.config.attributes.get("embedding_dim")
    if not dim:
        raise RuntimeError("embedding_dim missing: run migrations through `memsvc migrate`")
    return int(dim)


def upgrade() -> None:
    dim = _embedding_dim()
    model = context.config.attributes.get("embedding_model", "")
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE memsvc_meta (key text PRIMARY KEY, value text NOT NULL);

        CREATE TABLE tenants (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX tenants_name_key ON tenants (name);

        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            name text,
            lookup text NOT NULL UNIQUE,
            salt bytea NOT NULL,
            hash bytea NOT NULL,
            scopes text[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        );
        CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

        CREATE TABLE cubes (
            id uuid PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            name text NOT NULL,
            description text,
            owner text,
            config jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        );
        -- Names are unique among a tenant's live cubes; a soft-deleted name can be reused.
        CREATE UNIQUE INDEX cubes_tenant_name_live ON cubes (tenant_id, name)
            WHERE deleted_at IS NULL;
        CREATE INDEX cubes_tenant_created ON cubes (tenant_id, created_at, id);
        """
    )
    op.execute(
        f"""
        CREATE TABLE memories (
            id uuid PRIMARY KEY,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            cube_id uuid NOT NULL REFERENCES cubes(id) ON DELETE CASCADE,
            memory_type text NOT NULL CHECK (memory_type IN ({MEMORY_TYPES})),
            status text NOT NULL CHECK (status IN ({STATUSES})),
            content text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            occurred_at timestamptz NOT NULL,
            user_id text,
            agent_id text,
            session_id text,
            source text,
            source_message_ids text[] NOT NULL DEFAULT '{{}}',
            tags text[] NOT NULL DEFAULT '{{}}',
            keywords text[] NOT NULL DEFAULT '{{}}',
            context text,
            metadata jsonb NOT NULL DEFAULT '{{}}',
            fields jsonb NOT NULL DEFAULT '{{}}',
            version integer NOT NULL DEFAULT 1,
            strength double precision NOT NULL DEFAULT 1,
            last_recalled_at timestamptz,
            recall_count integer NOT NULL DEFAULT 0,
            valid_from timestamptz,
            valid_to timestamptz,
            embedding vector({dim}),
            embedding_model text,
            content_hash text NOT NULL,
            neighbour_id uuid,
            search_tsv tsvector NOT NULL,
            lex_len_own double precision NOT NULL,
            lex_len_ctx double precision NOT NULL
        );
        CREATE UNIQUE INDEX memories_seq ON memories (seq);
        CREATE INDEX memories_embedding_hnsw ON memories
            USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
        CREATE INDEX memories_search_tsv ON memories USING gin (search_tsv);
        CREATE INDEX memories_cube_status_type_time
            ON memories (cube_id, status, memory_type, occurred_at);
        CREATE INDEX memories_cube_seq ON memories (cube_id, seq);
        CREATE INDEX memories_cube_session ON memories (cube_id, session_id, seq)
            WHERE session_id IS NOT NULL;
        CREATE INDEX memories_neighbour ON memories (neighbour_id) WHERE neighbour_id IS NOT NULL;
        CREATE INDEX memories_cube_hash ON memories (cube_id, content_hash);
        CREATE INDEX memories_tags ON memories USING gin (tags);
        CREATE INDEX memories_metadata ON memories USING gin (metadata jsonb_path_ops);

        CREATE TABLE memory_versions (
            memory_id uuid NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            version integer NOT NULL,
            change_kind text NOT NULL,
            changed_fields text[] NOT NULL,
            reason text,
            actor text,
            snapshot jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (memory_id, version)
        );
        """
    )
    # Helpers for BM25 over tsvectors: a memory's own text is indexed with weight A, the text of
    # its conversational neighbour with weight B; term frequency counts a B occurrence as
    # `ctx_weight` of an A one, so the weight stays a query-time setting.
    op.execute(
        """
        CREATE FUNCTION memsvc_token_count(tsv tsvector) RETURNS double precision
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT coalesce(sum(cardinality(positions)), 0)::double precision
                  FROM unnest(tsv) $$;
        CREATE FUNCTION memsvc_search_tsv(own text, ctx text) RETURNS tsvector
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT setweight(to_tsvector('english'::regconfig, own), 'A')
                         || setweight(to_tsvector('english'::regconfig, coalesce(ctx, '')), 'B') $$;
        CREATE FUNCTION memsvc_tf(weights text[], ctx_weight double precision)
            RETURNS double precision
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT (count(*) FILTER (WHERE w <> 'B')
                          + ctx_weight * count(*) FILTER (WHERE w = 'B'))::double precision
                  FROM unnest(weights) AS w $$;
        """
    )
    op.execute(
        "INSERT INTO memsvc_meta (key, value) VALUES "
        f"('embedding_dim', '{dim}'), ('embedding_model', {_quote(model)})"
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION IF EXISTS memsvc_tf(text[], double precision);
        DROP FUNCTION IF EXISTS memsvc_token_count(tsvector);
        DROP FUNCTION IF EXISTS memsvc_search_tsv(text, text);
        DROP TABLE IF EXISTS memory_versions;
        DROP TABLE IF EXISTS memories;
        DROP TABLE IF EXISTS cubes;
        DROP TABLE IF EXISTS api_keys;
        DROP TABLE IF EXISTS tenants;
        DROP TABLE IF EXISTS memsvc_meta;
        """
    )
