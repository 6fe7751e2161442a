"""Background jobs on the PostgreSQL queue (procrastinate). Each task calls one service."""
