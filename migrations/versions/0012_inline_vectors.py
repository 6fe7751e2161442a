"""Keep the embeddings in the memories' rows (storage MAIN), not in the TOAST table.

A memory's row with its 384-float embedding is about 2.3 kB, over the 2 kB at which
PostgreSQL moves the largest movable value out of line; pgvector's `vector` defaults to
EXTERNAL storage, so that value was the embedding. Every exact nearest-neighbour scan (search
in cubes up to `dense_exact_max_rows`, and the dedup probe of every new memory) then read each
vector from the TOAST table: at 5,000 memories an exact search took ~45 ms and ingest ran at
under half the embedding rate (bench/scale.py). With MAIN the vectors stay in the row while
it fits in a page (the text columns are compressed or moved first), and are moved out of line
only as a last resort, so large remote-embedding dimensions still store.

Rows written before this migration keep their vectors where they are until rewritten.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE memories
            ALTER COLUMN embedding SET STORAGE MAIN,
            ALTER COLUMN note_embedding SET STORAGE MAIN;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE memories
            ALTER COLUMN embedding SET STORAGE EXTERNAL,
            ALTER COLUMN note_embedding SET STORAGE EXTERNAL;
        """
    )
