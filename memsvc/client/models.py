"""What the API answers, as typed objects.

Every model allows extra fields and most fields have defaults: a newer server adding fields
(or an enum value, kept as a plain string here) never breaks an older client.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(Model, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (None: the end)."""

    items: list[T]
    next_cursor: str | None = None


# --- tenants and keys -----------------------------------------------------------------------
class Tenant(Model):
    id: uuid.UUID
    name: str
    created_at: datetime | None = None


class ApiKey(Model):
    id: uuid.UUID
    tenant_id: uuid.UUID | None = None
    name: str | None = None
    scopes: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedKey(ApiKey):
    key: str = Field(description="The secret: shown in this response only.")


class AuditEntry(Model):
    id: int
    at: datetime
    actor: str
    tenant_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    method: str
    route: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: int
    request_id: str | None = None


# --- cubes ----------------------------------------------------------------------------------
class Cube(Model):
    id: uuid.UUID
    tenant_id: uuid.UUID | None = None
    name: str
    description: str | None = None
    owner: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    memory_count: int | None = None


# --- memories -------------------------------------------------------------------------------
class Fact(Model):
    subject: str
    attribute: str | None = None
    value: str | None = None


class Link(Model):
    memory_id: uuid.UUID
    direction: str
    link_type: str
    weight: float
    created_by: str | None = None
    created_at: datetime | None = None


class Memory(Model):
    id: uuid.UUID
    cube_id: uuid.UUID
    memory_type: str = "episodic"
    content: str
    status: str = "active"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    occurred_at: datetime | None = None
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    source_message_ids: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    context: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, Any] = Field(default_factory=dict)
    version: int = 1
    strength: float | None = None
    last_recalled_at: datetime | None = None
    recall_count: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    pinned: bool = False
    origin: str | None = None
    has_secret: bool = False
    fact: Fact | None = None
    trust: int | None = None
    links: list[Link] | None = None


class LinkedMemory(Model):
    link: Link
    memory: Memory


class MemoryLinks(Model):
    memory_id: uuid.UUID
    links: list[LinkedMemory]


class Duplicate(Model):
    index: int
    memory_id: uuid.UUID
    match: str


class Inferred(Model):
    """What inference did with one fact: add, reinforce, inferred_update, supersede or
    quarantine."""

    decision: str
    memory: Memory
    previous_id: uuid.UUID | None = None
    reason: str | None = None
    message_index: int | None = None


class AddedMemories(Model):
    items: list[Memory]
    job_id: uuid.UUID | None = None
    duplicates: list[Duplicate] = Field(default_factory=list)
    inferred: list[Inferred] = Field(default_factory=list)
    extracted_by: str | None = None


class MemoryVersion(Model):
    """One entry of a memory's history: what changed it (`change_kind`) and its snapshot."""

    version: int
    change_kind: str
    changed_fields: list[str] = Field(default_factory=list)
    reason: str | None = None
    actor: str | None = None
    created_at: datetime | None = None
    snapshot: dict[str, Any] = Field(default_factory=dict)


class MemoryHistory(Model):
    memory_id: uuid.UUID
    versions: list[MemoryVersion]


class LineageRef(Model):
    memory_id: uuid.UUID
    relation: str


class Lineage(Model):
    memory_id: uuid.UUID
    sources: list[LineageRef] = Field(default_factory=list)
    derived: list[LineageRef] = Field(default_factory=list)


class Ingested(Model):
    """The answer to POST /messages: `status` "done" (201) or "queued" (202, see `job_id`)."""

    status: str
    job_id: uuid.UUID | None = None
    message_ids: list[str] = Field(default_factory=list)
    turn_ids: list[uuid.UUID] = Field(default_factory=list)
    turns: list[Memory] = Field(default_factory=list)
    memories: list[Inferred] = Field(default_factory=list)
    extracted_by: str | None = None


# --- search ---------------------------------------------------------------------------------
class SearchHit(Model):
    memory: Memory
    score: float
    scores: dict[str, float] = Field(default_factory=dict)
    linked: list[LinkedMemory] | None = None


class TimeWindow(Model):
    expression: str
    start: datetime
    end: datetime


class SearchResult(Model):
    results: list[SearchHit]
    took_ms: float | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    time_windows: list[TimeWindow] = Field(default_factory=list)


# --- entity graph ---------------------------------------------------------------------------
class GraphNode(Model):
    id: int
    key: str
    memory_count: int = 0
    created_at: datetime | None = None


class GraphEdge(Model):
    id: int
    src_id: int
    dst_id: int
    relation: str
    kind: str
    weight: float
    memory_id: uuid.UUID | None = None


class GraphPage(Model):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    next_cursor: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    version: int | None = None


# --- jobs and lifecycle ---------------------------------------------------------------------
class JobAccepted(Model):
    job_id: uuid.UUID


class Job(Model):
    id: uuid.UUID
    kind: str
    status: str = Field(description="queued, running, done or failed.")
    attempts: int = 0
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cube_id: uuid.UUID | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class ArchivedThought(Model):
    memory: Memory
    reason: str


class MergedThought(Model):
    memory: Memory
    merged_ids: list[uuid.UUID]


class Thoughts(Model):
    thoughts: list[Memory]
    archived: list[ArchivedThought] = Field(default_factory=list)
    merged: list[MergedThought] = Field(default_factory=list)
    made_by: str | None = None


class ThoughtHit(Model):
    memory: Memory
    score: float


class ThoughtRecall(Model):
    results: list[ThoughtHit]


class CoreBlockWrite(Model):
    block: Memory
    created: bool
    condensed: bool = False


class ContextItem(Model):
    memory_id: uuid.UUID
    memory_type: str
    score: float


class Context(Model):
    """A prompt-ready text of the cube's memories within a token budget."""

    context: str
    tokens: int
    budget_tokens: int
    items: list[ContextItem] = Field(default_factory=list)
    omitted: int = 0
    truncated: bool = False


# --- quarantine -----------------------------------------------------------------------------
class Conflict(Model):
    memory_id: uuid.UUID
    trust: int
    statements: int
    by: str
    content: str


class QuarantineEntry(Model):
    id: int
    tenant_id: uuid.UUID
    cube_id: uuid.UUID
    memory: Memory
    trust: int
    reason: str
    contradicted_ids: list[uuid.UUID] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    judged_by: str | None = None
    created_at: datetime | None = None
    resolution: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str | None = None


# --- activation and models ------------------------------------------------------------------
class ActivationAccepted(Model):
    activation_id: uuid.UUID
    job_id: uuid.UUID


class Activation(Model):
    activation_id: uuid.UUID
    status: str
    stale: bool = False
    stale_since: datetime | None = None
    quantization: str | None = None
    model: str | None = None
    model_fingerprint: str | None = None
    tokenizer_hash: str | None = None
    template_hash: str | None = None
    dtype: str | None = None
    tokens: int | None = None
    bytes: int | None = None
    memory_ids: list[uuid.UUID] = Field(default_factory=list)
    memory_versions: dict[str, int] = Field(default_factory=dict)
    job_id: uuid.UUID | None = None
    error: str | None = None
    created_at: datetime | None = None
    built_at: datetime | None = None


class Generation(Model):
    text: str
    cached_tokens: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_ms: float | None = None
    total_ms: float | None = None
    activation_id: uuid.UUID | None = None
    activation: str | None = None
    model: str | None = None


class ModelInfo(Model):
    name: str
    kind: str
    device: str | None = None
    bytes: int = 0
    load_seconds: float | None = None
    loaded: bool = True
    pinned: bool = False


class ActivationCaches(Model):
    entries: int = 0
    bytes: int = 0
    budget_bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    loaded: list[str] = Field(default_factory=list)


class Models(Model):
    default_device: str
    budget_bytes: int
    used_bytes: int
    models: list[ModelInfo]
    activation_caches: ActivationCaches | None = None


# --- usage and operations -------------------------------------------------------------------
class UsageSums(Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    fallbacks: int = 0
    cost_unknown_calls: int = 0


class UsageRow(UsageSums):
    tenant_id: uuid.UUID
    cube_id: uuid.UUID | None = None
    task: str
    model: str


class Usage(Model):
    totals: UsageSums
    rows: list[UsageRow] = Field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None


class Health(Model):
    status: str


class Readiness(Model):
    """`status` "ready" or "not_ready"; `checks` says what is wrong (a 503 is not raised)."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class ImportResult(Model):
    """A cube rebuilt from an export, and how many records of each kind it took."""

    cube: Cube
    counts: dict[str, int] = {}
