"""Lexical index: a conversation turn also carries the turn after it as context.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Own text weight A, the turn before B, the turn after C. Term frequency counts every
    # non-A occurrence at the query-time context weight (before: only B was context).
    op.execute(
        """
        CREATE FUNCTION memsvc_search_tsv(own text, before text, after text) RETURNS tsvector
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT setweight(to_tsvector('english'::regconfig, own), 'A')
                         || setweight(to_tsvector('english'::regconfig, coalesce(before, '')), 'B')
                         || setweight(to_tsvector('english'::regconfig, coalesce(after, '')), 'C')
               $$;
        CREATE OR REPLACE FUNCTION memsvc_tf(weights text[], ctx_weight double precision)
            RETURNS double precision
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT (count(*) FILTER (WHERE w = 'A')
                          + ctx_weight * count(*) FILTER (WHERE w <> 'A'))::double precision
                  FROM unnest(weights) AS w $$;

        -- Turns that already have a turn after them gain its text.
        UPDATE memories m
           SET search_tsv = memsvc_search_tsv(
                   m.content, (SELECT b.content FROM memories b WHERE b.id = m.neighbour_id),
                   a.content),
               lex_len_ctx = memsvc_token_count(to_tsvector('english'::regconfig, coalesce(
                                 (SELECT b.content FROM memories b WHERE b.id = m.neighbour_id),
                                 '')))
                           + memsvc_token_count(to_tsvector('english'::regconfig, a.content))
          FROM (SELECT DISTINCT ON (neighbour_id) neighbour_id, content
                  FROM memories WHERE neighbour_id IS NOT NULL
                 ORDER BY neighbour_id, seq) a
         WHERE a.neighbour_id = m.id;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION memsvc_tf(weights text[], ctx_weight double precision)
            RETURNS double precision
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT (count(*) FILTER (WHERE w <> 'B')
                          + ctx_weight * count(*) FILTER (WHERE w = 'B'))::double precision
                  FROM unnest(weights) AS w $$;
        UPDATE memories m
           SET search_tsv = memsvc_search_tsv(
                   m.content, (SELECT b.content FROM memories b WHERE b.id = m.neighbour_id)),
               lex_len_ctx = memsvc_token_count(to_tsvector('english'::regconfig, coalesce(
                                 (SELECT b.content FROM memories b WHERE b.id = m.neighbour_id),
                                 '')));
        DROP FUNCTION IF EXISTS memsvc_search_tsv(text, text, text);
        """
    )
