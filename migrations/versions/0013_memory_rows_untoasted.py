"""Keep memory rows of up to a page whole: no compression, no TOAST (toast_tuple_target 8160).

PostgreSQL starts shrinking a row once it passes ~2 kB: it compresses, then moves out of line,
its largest compressible values first. With the embedding kept in the row (0012: 1.5 kB of
384 floats) nearly every memory passed that mark, so the values shrunk were the full-text
vector and the content. BM25 reads a memory's tsvector once per query word (one ts_rank_cd
call each), and each read decompressed it again: at 100k memories the lexical signal took
twice as long as with the vectors out of line (bench/scale.py; 49-56 ms against 23-29 ms median
for the same queries once rows are whole).

With the target at its maximum a row is only compressed or moved out when it would not fit in
a page (long content, a remote model's larger vectors), so both the vector scans and BM25 read
plain values from the row. Existing rows keep their layout until rewritten: `VACUUM FULL
memories` in a maintenance window applies the new one to all of them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE memories SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE memories RESET (toast_tuple_target)")
