"""Job queue: procrastinate's schema (pinned version), applied through Alembic like the rest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    # procrastinate is pinned (pyproject); a version bump adds a migration that replays its
    # own migration files from procrastinate/sql/migrations.
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DROP TYPE IF EXISTS procrastinate_job_event_type, procrastinate_job_status CASCADE;
        """
    )
