"""Job lookup: memsvc jobs are found by the public UUID in their args (`args->>'job_id'`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS procrastinate_jobs_memsvc_job_id "
        "ON procrastinate_jobs ((args->>'job_id'))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS procrastinate_jobs_memsvc_job_id")
