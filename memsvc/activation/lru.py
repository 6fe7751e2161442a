"""A least-recently-used map bounded by the bytes of what it holds (pure; no I/O)."""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteBudgetLRU(Generic[K, V]):
    """Keeps the most recently used entries whose sizes add up to at most `budget` bytes.

    Putting an entry evicts the least recently used ones until it fits; an entry larger than the
    whole budget is not kept at all (keeping it would mean evicting everything for one entry that
    still breaks the budget). Thread-safe: the API and the worker share it.
    """

    def __init__(self, budget: int):
        if budget < 0:
            raise ValueError("budget must be >= 0")
        self.budget = budget
        self._entries: collections.OrderedDict[K, tuple[V, int]] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: K, value: V, size: int) -> bool:
        """Keep `value`; False when it is larger than the budget (and so not kept)."""
        with self._lock:
            self._drop(key)
            if size > self.budget:
                return False
            while self._bytes + size > self.budget:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
                self.evictions += 1
            self._entries[key] = (value, size)
            self._bytes += size
            return True

    def pop(self, key: K) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes

    def keys(self) -> list[K]:
        """Least recently used first."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "budget_bytes": self.budget,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
            }
