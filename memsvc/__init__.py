"""memsvc: a long-term memory service for AI agents (MemCubes on PostgreSQL + pgvector)."""

__version__ = "0.1.0"
