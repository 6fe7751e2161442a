"""One loaded instance per model, within one memory budget for the whole process.

Loading is slow (seconds) and memory-heavy, so each model is loaded once, by the first caller,
while concurrent callers wait for that load instead of starting their own. When a new model would
push the total past `model_memory_budget_mb`, the least recently used unpinned models are
unloaded first; if it still does not fit, the load is refused with 503 `model_budget_exceeded`.

Models loaded elsewhere (the embedder loads itself on first use) are attached with
`attach_external(name, describe)`: their bytes count in `used_bytes` and in every eviction plan,
as pinned residents (the registry cannot unload what it does not own), and `describe()` lists
them first.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from memsvc.errors import Unavailable
from memsvc.models.budget import Resident, plan_eviction


class ModelBudgetExceeded(Unavailable):
    """Loading this model would exceed the model memory budget."""

    code = "model_budget_exceeded"


@dataclasses.dataclass
class LoadedModel:
    name: str
    kind: str  # "embedding" or "causal_lm"
    handle: Any  # what the loader returned (the model object, or a wrapper)
    device: str
    bytes: int  # resident size of its weights
    load_seconds: float
    pinned: bool = False
    last_used: float = dataclasses.field(default_factory=time.monotonic)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "device": self.device,
            "bytes": self.bytes,
            "load_seconds": round(self.load_seconds, 3),
            "pinned": self.pinned,
            "loaded": True,
            **self.details,
        }


@dataclasses.dataclass(frozen=True)
class Loader:
    """How to load a model: `load()` returns (handle, device, bytes, details)."""

    kind: str
    load: Callable[[], tuple[Any, str, int, dict[str, Any]]]
    estimate_bytes: int = 0  # checked against the budget before loading; 0: unknown
    pinned: bool = False


class ModelRegistry:
    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}
        # name -> a function returning that model's describe() dict (at least `bytes`), or
        # None while it is not loaded.
        self.external: dict[str, Callable[[], dict[str, Any] | None]] = {}

    def attach_external(self, name: str, describe: Callable[[], dict[str, Any] | None]) -> None:
        """Count a model loaded outside the registry (idempotent: attaching again replaces)."""
        with self._lock:
            self.external[name] = describe

    def detach_external(self, name: str) -> bool:
        with self._lock:
            return self.external.pop(name, None) is not None

    def _externals(self) -> list[dict[str, Any]]:
        # Called without self._lock held: a describe function may take locks of its own.
        with self._lock:
            functions = list(self.external.items())
        entries = []
        for name, describe in functions:
            entry = describe()
            if entry is not None:
                entries.append({"name": name, **entry, "external": True})
        return entries

    def get(self, name: str) -> LoadedModel | None:
        with self._lock:
            model = self._models.get(name)
            if model is not None:
                model.last_used = time.monotonic()
            return model

    def load(self, name: str, loader: Loader) -> LoadedModel:
        """The loaded model `name`, loading it (once) if needed. Blocking: call from a thread."""
        model = self.get(name)
        if model is not None:
            return model
        with self._lock:
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:
            model = self.get(name)
            if model is not None:
                return model
            self._make_room(name, loader.estimate_bytes)
            started = time.perf_counter()
            handle, device, size, details = loader.load()
            model = LoadedModel(
                name=name,
                kind=loader.kind,
                handle=handle,
                device=device,
                bytes=size,
                load_seconds=time.perf_counter() - started,
                pinned=loader.pinned,
                details=details,
            )
            with self._lock:
                self._models[name] = model
            # The estimate may have been low: settle the budget with the real size.
            self._make_room(None, 0)
            return model

    def _make_room(self, incoming_name: str | None, incoming: int) -> None:
        external = [
            Resident(e["name"], int(e.get("bytes") or 0), 0.0, True) for e in self._externals()
        ]
        with self._lock:
            residents = external + [
                Resident(m.name, m.bytes, m.last_used, m.pinned or m.name == incoming_name)
                for m in self._models.values()
            ]
            victims = plan_eviction(residents, incoming, self.budget_bytes)
            if victims is None:
                used = sum(r.bytes for r in residents)
                raise ModelBudgetExceeded(
                    f"loading {incoming_name or 'this model'} needs about {incoming >> 20} MiB "
                    f"and {used >> 20} MiB of the {self.budget_bytes >> 20} MiB model budget "
                    "are pinned; raise MEMSVC_MODEL_MEMORY_BUDGET_MB",
                    details={"needed_bytes": incoming, "budget_bytes": self.budget_bytes},
                )
            for victim in victims:
                self._models.pop(victim, None)
        if victims:
            gc.collect()

    def unload(self, name: str) -> bool:
        with self._lock:
            gone = self._models.pop(name, None) is not None
        if gone:
            gc.collect()
        return gone

    @property
    def used_bytes(self) -> int:
        """Bytes of the loaded models, attached external ones included."""
        external = sum(int(e.get("bytes") or 0) for e in self._externals())
        with self._lock:
            return external + sum(m.bytes for m in self._models.values())

    def describe(self) -> list[dict[str, Any]]:
        """The attached external models (`external: true`), then the registry's own."""
        external = self._externals()
        with self._lock:
            return external + [m.describe() for m in self._models.values()]
