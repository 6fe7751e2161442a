"""SQLAlchemy Core tables. They mirror the Alembic migrations, which alone create the schema
(tests/integration/test_schema.py checks that the two agree)."""

from __future__ import annotations

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)

# The PostgreSQL ARRAY (not the generic one): it implements contains() (@>) for tag filters.
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

metadata = MetaData()

TZ = DateTime(timezone=True)

meta = Table(
    "memsvc_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", TZ, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text),
    Column("lookup", Text, nullable=False),
    Column("salt", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("revoked_at", TZ),
)

cubes = Table(
    "cubes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("owner", Text),
    Column("config", JSONB, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("deleted_at", TZ),
    Column("graph_version", BigInteger, nullable=False),
)

memories = Table(
    "memories",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("memory_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("updated_at", TZ, nullable=False),
    Column("occurred_at", TZ, nullable=False),
    Column("user_id", Text),
    Column("agent_id", Text),
    Column("session_id", Text),
    Column("source", Text),
    Column("source_message_ids", ARRAY(Text), nullable=False),
    Column("tags", ARRAY(Text), nullable=False),
    Column("keywords", ARRAY(Text), nullable=False),
    Column("context", Text),
    Column("metadata", JSONB, nullable=False),
    Column("fields", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    Column("strength", Float, nullable=False),
    Column("last_recalled_at", TZ),
    Column("recall_count", Integer, nullable=False),
    Column("valid_from", TZ),
    Column("valid_to", TZ),
    Column("embedding", Vector()),
    Column("embedding_model", Text),
    Column("content_hash", Text, nullable=False),
    Column("neighbour_id", Uuid),
    Column("search_tsv", TSVECTOR, nullable=False),
    Column("lex_len_own", Float, nullable=False),
    Column("lex_len_ctx", Float, nullable=False),
    Column("note_embedding", Vector()),
    Column("note_source", Text),
    Column("enriched_hash", Text),
    Column("enriched_at", TZ),
    Column("pinned", Boolean, nullable=False),
    Column("origin", Text),
    Column("lsh_bucket", Integer),
    Column("derived_key", Text),
    Column("secret_ciphertext", LargeBinary),
    Column("fact_subject", Text),
    Column("fact_attribute", Text),
    Column("fact_value", Text),
    Column("trust", SmallInteger, nullable=False),
)

memory_versions = Table(
    "memory_versions",
    metadata,
    Column("memory_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("change_kind", Text, nullable=False),
    Column("changed_fields", ARRAY(Text), nullable=False),
    Column("reason", Text),
    Column("actor", Text),
    Column("snapshot", JSONB, nullable=False),
    Column("created_at", TZ, nullable=False),
)

llm_usage = Table(
    "llm_usage",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("cube_id", Uuid),  # no foreign key: usage outlives a hard-deleted cube
    Column("task", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Float),  # NULL: the model's price is unknown
    Column("created_at", TZ, nullable=False),
)

memory_links = Table(
    "memory_links",
    metadata,
    Column("source_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True),
    Column("target_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("link_type", Text, nullable=False),
    Column("weight", Float, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", TZ, nullable=False),
)

graph_nodes = Table(
    "graph_nodes",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("embedding", Vector()),
    Column("created_at", TZ, nullable=False),
)

graph_mentions = Table(
    "graph_mentions",
    metadata,
    Column("memory_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "node_id", BigInteger, ForeignKey("graph_nodes.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
)

graph_edges = Table(
    "graph_edges",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("src_id", BigInteger, ForeignKey("graph_nodes.id", ondelete="CASCADE"), nullable=False),
    Column("dst_id", BigInteger, ForeignKey("graph_nodes.id", ondelete="CASCADE"), nullable=False),
    Column("relation", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("weight", Float, nullable=False),
    Column("memory_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE")),
)

memory_sources = Table(
    "memory_sources",
    metadata,
    Column("memory_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True),
    Column("source_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), primary_key=True),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("relation", Text, primary_key=True),
    Column("created_at", TZ, nullable=False),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", TZ, nullable=False),
)

activations = Table(
    "activations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("status", Text, nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("job_id", Uuid),
    Column("model_id", Text),
    Column("model_fingerprint", Text),
    Column("tokenizer_hash", Text),
    Column("template_hash", Text),
    Column("prefix_text", Text),
    Column("dtype", Text),
    Column("quantization", Text, nullable=False),
    Column("token_count", Integer),
    Column("bytes", BigInteger),
    Column("memory_ids", ARRAY(Uuid), nullable=False),
    Column("memory_versions", JSONB, nullable=False),
    Column("path", Text),
    Column("error", Text),
    Column("stale_since", TZ),
    Column("created_at", TZ, nullable=False),
    Column("built_at", TZ),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", TZ, nullable=False),
    Column("actor", Text, nullable=False),
    Column("tenant_id", Uuid),
    Column("key_id", Uuid),
    Column("method", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", Text, nullable=False),
)

memory_quarantine = Table(
    "memory_quarantine",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("memory_id", Uuid, ForeignKey("memories.id", ondelete="CASCADE"), nullable=False),
    Column("cube_id", Uuid, ForeignKey("cubes.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("trust", SmallInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("conflict_ids", ARRAY(Uuid), nullable=False),
    Column("conflicts", JSONB, nullable=False),
    Column("judged_by", Text, nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("resolved_at", TZ),
    Column("resolution", Text),
    Column("resolved_by", Text),
    Column("note", Text),
)
