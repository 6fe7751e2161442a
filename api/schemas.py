"""Request and response bodies of REST v1 (the contract in docs/api.md)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from memsvc.domain.types import (
    ChangeKind,
    FusionMethod,
    MemoryType,
    Scope,
    SearchMode,
    Status,
    TimeUse,
)

# A lone UTF-16 surrogate (JSON "\ud800" unpaired) decodes to a str that is not Unicode
# text: neither UTF-8 (PostgreSQL) nor the tokenizers can take it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    if _SURROGATE.search(value):
        raise ValueError("text must not contain unpaired surrogates (\\ud800-\\udfff)")
    return value


MAX_JSON_DEPTH = 16


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        for key in value:
            _no_nul(key)  # nested keys too: JSONB cannot hold them either
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    if isinstance(value, str):
        _no_nul(value)
    return level


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    for key in value:
        _no_nul(key)
    return value


# Free-form JSON objects (metadata, fields, config): bounded depth, no NUL anywhere.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]

# A trust level (memsvc.algorithms.trust): 0 external, 1 agent, 2 user, 3 system.
Trust = Annotated[int, Field(ge=0, le=3)]

# Every client string goes through this: PostgreSQL text cannot hold NUL.
Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
ShortText = Annotated[Text, Field(max_length=1000)]
Tag = Annotated[Text, Field(min_length=1, max_length=200)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- errors -------------------------------------------------------------------------------
class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- admin --------------------------------------------------------------------------------
class TenantCreate(Model):
    name: Name


class TenantOut(Out):
    id: uuid.UUID
    name: str
    created_at: datetime


class TenantList(BaseModel):
    items: list[TenantOut]


class KeyCreate(Model):
    tenant_id: uuid.UUID
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.READ, Scope.WRITE], min_length=1)
    name: ShortText | None = None


class KeyOut(Out):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str | None
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="The API key. Shown once: store it now.")


class KeyList(BaseModel):
    items: list[KeyOut]


# --- cubes --------------------------------------------------------------------------------
class CubeCreate(Model):
    name: Name
    description: Annotated[Text, Field(max_length=10_000)] | None = None
    owner: ShortText | None = None
    config: JsonObject = Field(default_factory=dict)


class CubeUpdate(Model):
    name: Name | None = None
    description: Annotated[Text, Field(max_length=10_000)] | None = None
    owner: ShortText | None = None
    config: JsonObject | None = None


class CubeOut(Out):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str | None
    owner: str | None
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    memory_count: int | None = None


class CubeList(BaseModel):
    items: list[CubeOut]
    next_cursor: str | None


# --- memories -----------------------------------------------------------------------------
class MemoryIn(Model):
    content: Text
    memory_type: MemoryType = MemoryType.EPISODIC
    occurred_at: AwareDatetime | None = None
    user_id: ShortText | None = None
    agent_id: ShortText | None = None
    session_id: ShortText | None = None
    source: ShortText | None = None
    source_message_ids: list[ShortText] = Field(default_factory=list, max_length=1000)
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    keywords: list[Tag] = Field(default_factory=list, max_length=100)
    context: Annotated[Text, Field(max_length=10_000)] | None = None
    metadata: JsonObject = Field(default_factory=dict)
    fields: JsonObject = Field(default_factory=dict)
    pinned: bool = Field(default=False, description="Never archived by the forgetting sweep.")
    valid_from: AwareDatetime | None = Field(
        default=None,
        description="When it became true (default: when stored); as_of searches use it.",
    )
    valid_to: AwareDatetime | None = Field(
        default=None, description="When it stopped being true (default: still true)."
    )
    trust: Trust | None = Field(
        default=None,
        description="How far it is trusted: 0 external, 1 agent, 2 user, 3 system. Default: "
        "from `source` (tool, web, user, system, ...), else 1 (2 with infer); never above "
        "the key's level (3 needs the admin scope; asking above it is 403).",
    )


class AddMemories(Model):
    items: list[MemoryIn] = Field(description="1 to 1000 memories, stored all or none.")
    deduplicate: bool = Field(
        default=True,
        description="An item repeating a live memory (same text, or a near duplicate of the "
        "same type, user and agent; for episodic ones also session and time) reinforces it "
        "instead of being stored twice; `duplicates` lists them.",
    )
    infer: bool = Field(
        default=False,
        description="Also read each item as the user's statement and infer typed memories "
        "from it, kept current as for POST /messages (`inferred`); secrets found in an item's "
        "text go to the vault and are redacted from it.",
    )


class FactOut(BaseModel):
    subject: str = Field(description="Who the fact is about: the speaker's name, or `user`.")
    attribute: str | None = Field(
        description="The slot it fills (lives_in, works_at, name_of:dog, likes:coffee, ...)."
    )
    value: str | None = Field(description="The slot's value, lower case (never a secret).")


class MemoryOut(Out):
    id: uuid.UUID
    cube_id: uuid.UUID
    memory_type: MemoryType
    content: str
    status: Status
    created_at: datetime
    updated_at: datetime
    occurred_at: datetime
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    source: str | None
    source_message_ids: list[str]
    tags: list[str]
    keywords: list[str]
    context: str | None
    metadata: dict[str, Any]
    fields: dict[str, Any]
    version: int
    strength: float
    last_recalled_at: datetime | None
    recall_count: int
    valid_from: datetime | None
    valid_to: datetime | None
    pinned: bool = Field(description="Never archived by the forgetting sweep.")
    origin: str | None = Field(
        description="null for a client's memory; else what made it: thought, daily_summary, "
        "global_summary, portrait."
    )
    has_secret: bool = Field(
        description="A knowledge-vault secret is stored, encrypted; `fields.secret_value` shows "
        "it only on GET with reveal=true and the secrets scope."
    )
    fact: FactOut | None = Field(
        default=None,
        description="For a memory inferred from a conversation: who it is about and the slot "
        "it fills; null for the rest.",
    )
    trust: int = Field(
        default=1,
        description="How far it is trusted, from where it came: 0 external (tools, web), 1 "
        "agent, 2 user, 3 system. A memory contradicting a consensus of more trusted ones is "
        "quarantined.",
    )
    links: list[LinkOut] | None = Field(
        default=None, description="Only with include_links (search) or from the links endpoint."
    )

    @model_validator(mode="before")
    @classmethod
    def _fact(cls, data: Any) -> Any:
        # A Memory record carries the slot as three columns; clients see one object.
        subject = getattr(data, "fact_subject", None)
        if subject is None or isinstance(data, dict):
            return data
        out = {name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)}
        out["fact"] = {
            "subject": subject,
            "attribute": data.fact_attribute,
            "value": data.fact_value,
        }
        return out


class LinkOut(Out):
    """A link as seen from one memory: `out` when that memory's note made it."""

    memory_id: uuid.UUID = Field(validation_alias="other_id")
    direction: Literal["out", "in"]
    link_type: str
    weight: float
    created_by: Literal["llm", "heuristic"]
    created_at: datetime


class LinkedMemoryOut(BaseModel):
    link: LinkOut
    memory: MemoryOut


class LinksOut(BaseModel):
    memory_id: uuid.UUID
    links: list[LinkedMemoryOut]


class DuplicateOut(Out):
    index: int = Field(description="Position of the item in the request.")
    memory_id: uuid.UUID = Field(description="The live memory it repeated (and reinforced).")
    match: Literal["exact", "near"]


class InferredOut(BaseModel):
    decision: Literal["add", "reinforce", "inferred_update", "supersede", "quarantine"] = Field(
        description="quarantine: it contradicts a consensus of more trusted memories; stored "
        "with status quarantined, for an admin to release or reject."
    )
    memory: MemoryOut = Field(
        description="add and supersede: the new memory; reinforce and inferred_update: the "
        "stored memory, as it is now."
    )
    previous_id: uuid.UUID | None = Field(
        description="The stored memory reinforced, updated or superseded (valid_to set)."
    )
    reason: str
    message_index: int = Field(description="The message it was inferred from.")


class AddMemoriesOut(BaseModel):
    items: list[MemoryOut] = Field(
        description="One per item, in order; a duplicate's is the memory it reinforced."
    )
    job_id: uuid.UUID | None = None
    duplicates: list[DuplicateOut] = Field(default_factory=list)
    inferred: list[InferredOut] = Field(
        default_factory=list,
        description="With infer: the memories inferred from the items, as for POST /messages.",
    )
    extracted_by: Literal["llm", "fallback"] | None = Field(
        default=None, description="With infer: the configured LLM, or the deterministic rules."
    )


class MemoryList(BaseModel):
    items: list[MemoryOut]
    next_cursor: str | None


class MemoryPatch(Model):
    content: Text | None = None
    memory_type: MemoryType | None = None
    status: Status | None = None
    occurred_at: AwareDatetime | None = None
    user_id: ShortText | None = None
    agent_id: ShortText | None = None
    session_id: ShortText | None = None
    source: ShortText | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)
    keywords: list[Tag] | None = Field(default=None, max_length=100)
    context: Annotated[Text, Field(max_length=10_000)] | None = None
    metadata: JsonObject | None = None
    fields: JsonObject | None = None
    pinned: bool | None = None
    valid_from: AwareDatetime | None = Field(
        default=None, description="When it became true; null: from when it was stored."
    )
    valid_to: AwareDatetime | None = Field(
        default=None,
        description="When it stopped being true (it ranks below current memories after "
        "that); null: still true.",
    )
    trust: Trust | None = Field(
        default=None,
        description="Set its trust (at most the key's level, else 403). A new content from "
        "a key of a lower level lowers it to that level.",
    )
    expected_version: int | None = Field(
        default=None, description="Refuse with 409 unless the memory is at this version."
    )
    reason: ShortText | None = Field(default=None, description="Recorded in the history.")


class VersionOut(Out):
    version: int
    change_kind: ChangeKind
    changed_fields: list[str]
    reason: str | None
    actor: str | None
    created_at: datetime
    snapshot: dict[str, Any]


class HistoryOut(BaseModel):
    memory_id: uuid.UUID
    versions: list[VersionOut]


# --- search -------------------------------------------------------------------------------
class SearchFilters(Model):
    min_trust: Trust | None = Field(
        default=None, description="Only memories trusted at least this much (0-3)."
    )
    user_id: ShortText | None = None
    agent_id: ShortText | None = None
    session_id: ShortText | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)
    metadata: JsonObject | None = None
    occurred_after: AwareDatetime | None = None
    occurred_before: AwareDatetime | None = None


class FusionIn(Model):
    method: FusionMethod = Field(
        default=FusionMethod.CALIBRATED,
        description="calibrated (default): BM25 over max(best, query bound) + min-max dense; "
        "minmax: min-max both; rrf: reciprocal-rank fusion (k 60).",
    )
    dense_weight: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Default: MEMSVC_FUSION_DENSE_WEIGHT."
    )
    graph_weight: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Weight of the entity-graph signal; 0 leaves it out. "
        "Default: MEMSVC_FUSION_GRAPH_WEIGHT.",
    )


class SearchIn(Model):
    query: Text
    top_k: int = 10
    mode: SearchMode = SearchMode.HYBRID
    memory_types: list[MemoryType] | None = None
    filters: SearchFilters | None = None
    include_links: bool = Field(
        default=False, description="Give each hit its strongest links, with the linked memories."
    )
    min_score: float | None = None
    as_of: AwareDatetime | None = None
    fusion: FusionIn | None = Field(default=None, description="How `hybrid` fuses (tuning).")
    time: TimeUse = Field(
        default=TimeUse.AUTO,
        description="A time expression in the query ('last week', 'in May 2023'): `auto` "
        "favours memories that happened then, `filter` keeps only those, `off` ignores it.",
    )
    now: AwareDatetime | None = Field(
        default=None,
        description="The moment relative times are read from; default as_of, else now.",
    )


class MultiSearchIn(SearchIn):
    cube_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


class SearchHitOut(BaseModel):
    memory: MemoryOut
    score: float
    scores: dict[str, float]
    linked: list[LinkedMemoryOut] | None = Field(
        default=None, description="With include_links: the hit's linked memories."
    )


class TimeWindowOut(Out):
    expression: str
    start: datetime
    end: datetime


class SearchOut(BaseModel):
    results: list[SearchHitOut]
    took_ms: float
    timings_ms: dict[str, float] = Field(description="Time spent per stage (embed, each signal).")
    time_windows: list[TimeWindowOut] = Field(
        default_factory=list, description="Time expressions found in the query, resolved."
    )


# --- entity graph -------------------------------------------------------------------------
class GraphNodeOut(Out):
    id: int
    key: str
    memory_count: int
    created_at: datetime


class GraphEdgeOut(Out):
    id: int
    src_id: int
    dst_id: int
    relation: str
    kind: Literal["relation", "synonym"]
    weight: float
    memory_id: uuid.UUID | None = Field(description="The memory a relation was extracted from.")


class GraphOut(Out):
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut]
    next_cursor: str | None
    counts: dict[str, int]
    version: int


# --- lifecycle ----------------------------------------------------------------------------
class LineageRef(BaseModel):
    memory_id: uuid.UUID
    relation: Literal["summarizes", "merged", "derived", "extracted", "supersedes"] = Field(
        description="summarizes (a summary of its sources), merged (thoughts folded into one), "
        "derived, extracted (inferred from a conversation turn), supersedes (a newer fact "
        "replacing an older one)."
    )


class LineageOut(BaseModel):
    memory_id: uuid.UUID
    sources: list[LineageRef] = Field(description="What this memory was made from.")
    derived: list[LineageRef] = Field(description="What was made from this memory.")


class ConsolidateIn(Model):
    kinds: list[Literal["thoughts", "summaries", "core", "forgetting"]] | None = Field(
        default=None, description="What to run; omitted: all, in the order listed."
    )


class MessageIn(Model):
    role: Literal["user", "assistant", "system", "tool"]
    content: Annotated[Text, Field(max_length=64_000)]
    name: ShortText | None = None


class ChatMessageIn(Model):
    role: Literal["user", "assistant", "system", "tool"]
    content: Annotated[Text, Field(max_length=64_000)]
    name: ShortText | None = Field(default=None, description="The speaker's name.")
    timestamp: AwareDatetime | None = Field(
        default=None,
        description="When it was said: the turn's occurred_at and valid_from, and what "
        "'yesterday' in it is read against. Default: when it is stored.",
    )
    message_id: Annotated[Text, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="Your id for the message (unique in the batch). Sending a message again "
        "with the same id in the same session returns its stored turn and infers nothing "
        "twice; without one the service makes one up.",
    )


class IngestIn(Model):
    messages: list[ChatMessageIn] = Field(description="1 to 1000 turns, in order.")
    user_id: ShortText | None = None
    agent_id: ShortText | None = None
    session_id: ShortText | None = None
    infer: bool = Field(
        default=True,
        description="Extract typed memories from the turns and keep facts current (add, "
        "reinforce, update or supersede). false: store the turns only (secrets unredacted).",
    )
    mode: Literal["auto", "sync", "async"] = Field(
        default="auto",
        description="auto: stored before the reply (201) up to MEMSVC_INGEST_SYNC_MAX_MESSAGES "
        "messages, else queued (202); sync and async force one way.",
    )
    max_trust: Trust | None = Field(
        default=None,
        description="Caps every message's trust (by role: user 2, assistant 1, system 3, "
        "tool 0), e.g. 0 for a transcript from an outside source; at most the key's level.",
    )


class IngestOut(BaseModel):
    status: Literal["done", "queued"]
    job_id: uuid.UUID | None = Field(
        description="queued: the ingestion job (GET /v1/jobs/{id}); done: the background "
        "enrichment of the new memories, if any."
    )
    message_ids: list[str] = Field(description="Each message's id (yours, or one made up).")
    turn_ids: list[uuid.UUID] = Field(
        description="Each message's turn memory id, final even when queued."
    )
    turns: list[MemoryOut] = Field(description="done: the stored turns (secrets redacted).")
    memories: list[InferredOut] = Field(description="done: what inference did, in order.")
    extracted_by: Literal["llm", "fallback"] | None = Field(
        description="Who extracted: the configured LLM, or the deterministic rules."
    )


class ThoughtsIn(Model):
    question: Annotated[Text, Field(max_length=16_000)] | None = None
    answer: Annotated[Text, Field(max_length=16_000)] | None = None
    messages: list[MessageIn] | None = Field(
        default=None,
        max_length=200,
        description="Instead of question/answer: each user turn and the assistant turn that "
        "answers it make one pair.",
    )
    user_id: ShortText | None = None
    agent_id: ShortText | None = None
    session_id: ShortText | None = None


class ArchivedOut(BaseModel):
    memory: MemoryOut
    reason: str


class MergedOut(BaseModel):
    memory: MemoryOut = Field(description="The thought the others were folded into.")
    merged_ids: list[uuid.UUID]


class ThoughtsOut(BaseModel):
    thoughts: list[MemoryOut] = Field(description="Inserted (or reinforced) thoughts.")
    archived: list[ArchivedOut] = Field(description="Older thoughts forgotten, with why.")
    merged: list[MergedOut]
    made_by: Literal["llm", "fallback"]


class ThoughtRecallIn(Model):
    query: Annotated[Text, Field(max_length=4_000)]
    top_k: int = Field(default=5, ge=1, le=100)
    user_id: ShortText | None = None


class ThoughtHitOut(BaseModel):
    memory: MemoryOut
    score: float


class ThoughtRecallOut(BaseModel):
    results: list[ThoughtHitOut]


class CoreBlockIn(Model):
    value: Annotated[Text, Field(max_length=100_000)]
    user_id: ShortText | None = None


class CoreAppendIn(Model):
    content: Annotated[Text, Field(max_length=100_000)]
    user_id: ShortText | None = None


class CoreBlockOut(BaseModel):
    block: MemoryOut
    created: bool
    condensed: bool = Field(description="The block reached 90% of its limit and was condensed.")


class ContextIn(Model):
    query: Annotated[Text, Field(max_length=16_000)] | None = None
    messages: list[MessageIn] | None = Field(default=None, max_length=200)
    budget_tokens: int = Field(default=2000, ge=1, le=200_000)
    user_id: ShortText | None = None


class ContextItemOut(BaseModel):
    memory_id: uuid.UUID
    memory_type: MemoryType
    score: float


class ContextOut(BaseModel):
    context: str = Field(description="Prompt-ready text: core blocks first, then by relevance.")
    tokens: int = Field(description="Estimated tokens of `context` (never above the budget).")
    budget_tokens: int
    items: list[ContextItemOut]
    omitted: int = Field(description="Relevant memories left out for lack of budget.")
    truncated: bool = Field(description="Some item was cut to fit.")


# --- memory poisoning defense (quarantine) ------------------------------------------------
class ConflictOut(BaseModel):
    memory_id: uuid.UUID = Field(description="A more trusted memory it contradicts.")
    trust: int
    statements: int = Field(description="Independent statements that memory stands for.")
    by: Literal["rules", "llm"] = Field(description="Who found the contradiction.")
    content: str = Field(description="That memory's text when the quarantine was decided.")


class QuarantineOut(BaseModel):
    id: int = Field(description="The quarantine record.")
    tenant_id: uuid.UUID
    cube_id: uuid.UUID
    memory: MemoryOut = Field(description="The quarantined memory, as it is now.")
    trust: int = Field(description="Its trust when it was quarantined.")
    reason: str
    contradicted_ids: list[uuid.UUID]
    conflicts: list[ConflictOut]
    judged_by: Literal["rules", "llm"]
    created_at: datetime
    resolution: Literal["released", "rejected"] | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str | None = None


class QuarantineList(BaseModel):
    items: list[QuarantineOut]
    next_cursor: str | None


class QuarantineDecisionIn(Model):
    note: Annotated[Text, Field(max_length=2000)] | None = Field(
        default=None, description="Why; kept in the memory's history and the record."
    )


# --- activation (KV-cache) memory -------------------------------------------------------
class ActivationIn(Model):
    memory_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=1000,
        description="Exactly these memories (core blocks first); omitted: the cube's core "
        "memory, then its strongest memories, as many as fit activation_max_tokens.",
    )
    memory_types: list[MemoryType] | None = Field(
        default=None, description="Only these types (knowledge_vault is never activated)."
    )
    model: ShortText | None = Field(
        default=None, description="Must name the server's activation model when given."
    )
    quantization: Literal["fp32", "fp16", "int8", "int4", "int2"] = Field(
        default="fp32",
        description="How the KV cache is stored: fp32 reproduces the uncached logits; the "
        "others trade exactness for size (KIVI group quantization).",
    )


class ActivationAccepted(BaseModel):
    activation_id: uuid.UUID
    job_id: uuid.UUID = Field(description="Follow the build with GET /v1/jobs/{job_id}.")


class ActivationOut(BaseModel):
    activation_id: uuid.UUID
    status: Literal["queued", "building", "ready", "failed"]
    stale: bool = Field(
        description="A covered memory changed since the build (a rebuild is queued); a stale "
        "cache is not used by /generate."
    )
    stale_since: datetime | None
    quantization: str
    model: str | None
    model_fingerprint: str | None = Field(description="sha256 of the weights, as loaded.")
    tokenizer_hash: str | None
    template_hash: str | None
    dtype: str | None
    tokens: int | None = Field(description="Token count of the cached prefix.")
    bytes: int | None = Field(description="Size of the stored cache file.")
    memory_ids: list[uuid.UUID]
    memory_versions: dict[str, int] = Field(description="Version of each covered memory.")
    job_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    built_at: datetime | None


class GenerateIn(Model):
    prompt: Annotated[Text, Field(min_length=1, max_length=32_000)]
    max_new_tokens: int = Field(default=64, ge=1, le=8192)
    use_activation: bool = Field(
        default=True,
        description="Reuse the cube's activation cache (skipping the prefill of its memories); "
        "false: prefill the same memories afresh.",
    )


class GenerateOut(BaseModel):
    text: str
    cached_tokens: int = Field(description="Prompt tokens served from the activation cache.")
    prompt_tokens: int = Field(description="Tokens of the whole prompt, memories included.")
    new_tokens: int
    ttft_ms: float = Field(description="Time to the first generated token.")
    total_ms: float
    activation_id: uuid.UUID | None
    activation: Literal["used", "stale", "missing", "off", "prefix_mismatch"] = Field(
        description="used: the cache served the prefix; stale: a covered memory changed (the "
        "prefix was composed afresh and a rebuild queued); missing: no cache built yet; off: "
        "use_activation was false; prefix_mismatch: the prompt did not start with the cached "
        "tokens."
    )
    model: str


class ImportOut(BaseModel):
    """A cube rebuilt from an export, and how many records of each kind it took."""

    cube: CubeOut
    counts: dict[str, int]
