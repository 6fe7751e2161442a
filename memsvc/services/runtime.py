"""What every use case needs at hand: settings, the database, the embedding model, the LLM."""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from memsvc.activation.lru import ByteBudgetLRU
from memsvc.algorithms import hipporag
from memsvc.config import Settings
from memsvc.models.embedder import TextEmbedder
from memsvc.models.llm import LLM
from memsvc.models.registry import ModelRegistry
from memsvc.observability.metrics import Metrics
from memsvc.security.vault import Vault
from memsvc.store.db import Database


@dataclasses.dataclass
class StatsCache:
    """Corpus statistics of large cubes for BM25, kept for a few seconds: N and the mean
    length per set of cubes, and each lexeme's document frequency.

    Small cubes are recomputed each time (cheap and always exact); for large ones a few seconds
    of staleness moves BM25 scores by a hair while saving a scan per query (counting the
    memories that hold a common word is most of a lexical search's time at 100k memories).
    """

    ttl_seconds: float = 30.0
    min_docs: int = 5_000
    # A word's share of 5,000+ memories moves slowly (a hundred writes a minute change it by
    # a few percent in five minutes, its IDF by less), and recounting it is the dear part.
    df_ttl_seconds: float = 300.0
    max_lexemes: int = 50_000  # per set of cubes; past it the oldest are dropped
    # Snapshot of a large cube's common words (ts_stat, in the background): counting a word held
    # by thousands of memories reads each of their rows (25-55 ms at 100k memories), counting a
    # rare one reads a handful. Words in fewer memories than this are left to the exact count.
    snapshot_min_df: int = 20
    _snapshots: dict[tuple[uuid.UUID, ...], tuple[float, dict[str, int]]] = dataclasses.field(
        default_factory=dict
    )
    _building: set[tuple[uuid.UUID, ...]] = dataclasses.field(default_factory=set)
    _entries: dict[tuple[uuid.UUID, ...], tuple[float, int, float]] = dataclasses.field(
        default_factory=dict
    )
    _dfs: dict[tuple[uuid.UUID, ...], dict[str, tuple[float, int]]] = dataclasses.field(
        default_factory=dict
    )

    def get(self, key: tuple[uuid.UUID, ...]) -> tuple[int, float] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, key: tuple[uuid.UUID, ...], n_docs: int, avg_len: float) -> None:
        if n_docs >= self.min_docs:
            self._entries[key] = (time.monotonic() + self.ttl_seconds, n_docs, avg_len)

    def document_frequencies(
        self, key: tuple[uuid.UUID, ...], lexemes: list[str]
    ) -> tuple[dict[str, int], list[str]]:
        """(the known lexemes' document frequencies, the lexemes to count)."""
        known = self._dfs.get(key, {})
        now = time.monotonic()
        # A snapshot serves while its refresh runs (up to twice its age limit); words it lacks
        # are rare, or new since, and are counted.
        built, common = self._snapshots.get(key, (-math.inf, {}))
        if now - built > 2 * self.df_ttl_seconds:
            common = {}
        found: dict[str, int] = {}
        missing: list[str] = []
        for lex in lexemes:
            entry = known.get(lex)
            if entry is not None and entry[0] >= now:
                found[lex] = entry[1]
            elif lex in common:
                found[lex] = common[lex]
            else:
                missing.append(lex)
        return found, missing

    def snapshot_due(self, key: tuple[uuid.UUID, ...], n_docs: int) -> bool:
        """Whether to build the common-word snapshot of `key` now (then marked as building:
        one build at a time per set of cubes; `put_snapshot` or `snapshot_failed` ends it)."""
        if n_docs < self.min_docs or key in self._building:
            return False
        built, _ = self._snapshots.get(key, (-math.inf, {}))
        if time.monotonic() - built < self.df_ttl_seconds:
            return False
        self._building.add(key)
        return True

    def put_snapshot(self, key: tuple[uuid.UUID, ...], dfs: dict[str, int]) -> None:
        self._building.discard(key)
        common = {lex: n for lex, n in dfs.items() if n >= self.snapshot_min_df}
        self._snapshots.pop(key, None)  # re-inserted last: the dict's order is the age order
        self._snapshots[key] = (time.monotonic(), common)
        while len(self._snapshots) > 64:  # the most recently built are kept
            del self._snapshots[next(iter(self._snapshots))]

    def snapshot_failed(self, key: tuple[uuid.UUID, ...]) -> None:
        self._building.discard(key)

    def put_document_frequencies(
        self, key: tuple[uuid.UUID, ...], n_docs: int, lexemes: list[str], dfs: dict[str, int]
    ) -> None:
        """Keep the counts of `lexemes` (0 for those missing from `dfs`) of a large cube."""
        if n_docs < self.min_docs:
            return
        known = self._dfs.setdefault(key, {})
        expires = time.monotonic() + self.df_ttl_seconds
        for lex in lexemes:
            known.pop(lex, None)  # re-inserted last: the dict's order is the age order
            known[lex] = (expires, dfs.get(lex, 0))
        while len(known) > self.max_lexemes:
            del known[next(iter(known))]


@dataclasses.dataclass
class GraphCache:
    """The last few cubes' graph indexes, keyed by cube and checked against its version."""

    max_cubes: int = 32
    _entries: collections.OrderedDict[uuid.UUID, hipporag.GraphIndex] = dataclasses.field(
        default_factory=collections.OrderedDict
    )
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def get(self, cube_id: uuid.UUID, version: int) -> hipporag.GraphIndex | None:
        with self._lock:
            index = self._entries.get(cube_id)
            if index is None or index.version != version:
                return None
            self._entries.move_to_end(cube_id)
            return index

    def put(self, cube_id: uuid.UUID, index: hipporag.GraphIndex) -> None:
        with self._lock:
            self._entries[cube_id] = index
            self._entries.move_to_end(cube_id)
            while len(self._entries) > self.max_cubes:
                self._entries.popitem(last=False)


@dataclasses.dataclass
class Runtime:
    settings: Settings
    db: Database
    embedder: TextEmbedder  # local (Embedder) or remote (RemoteEmbedder)
    stats: StatsCache = dataclasses.field(default_factory=StatsCache)
    graphs: GraphCache = dataclasses.field(default_factory=GraphCache)
    metrics: Metrics = dataclasses.field(default_factory=Metrics)
    # The LLM layer; unset: built from settings on first use (cheap: litellm loads lazily).
    llm_override: LLM | None = None
    # The service's clock. Recall times, creation times and the forgetting sweep read it, so a
    # simulation (bench/lifecycle.py) can run months of use in minutes.
    clock: Callable[[], datetime] = dataclasses.field(default=lambda: datetime.now(UTC))
    _vault: Vault | None = None
    _models: ModelRegistry | None = None
    _activation_caches: ByteBudgetLRU[uuid.UUID, Any] | None = None

    def now(self) -> datetime:
        return self.clock()

    @property
    def vault(self) -> Vault:
        """Encryption of knowledge-vault secrets (disabled when no key is configured)."""
        if self._vault is None:
            self._vault = Vault.from_keys(self.settings.vault_keys_value)
        return self._vault

    @property
    def models(self) -> ModelRegistry:
        """The process's loaded local models (one instance each, within the memory budget)."""
        if self._models is None:
            self._models = ModelRegistry(self.settings.model_memory_budget_mb << 20)
            # The embedder loads itself on first use; its weights count in the same budget,
            # pinned (a remote embedder counts 0 bytes but is listed by GET /v1/models).
            self._models.attach_external(self.embedder.model_name, self.embedder.describe)
        return self._models

    @property
    def activation_caches(self) -> ByteBudgetLRU[uuid.UUID, Any]:
        """Loaded KV caches by activation id, within activation_cache_budget_mb."""
        if self._activation_caches is None:
            self._activation_caches = ByteBudgetLRU(self.settings.activation_cache_budget_mb << 20)
        return self._activation_caches

    @property
    def llm(self) -> LLM:
        if self.llm_override is None:
            self.llm_override = LLM(self.settings)
        return self.llm_override
