"""The model memory budget: eviction planning and the registry, with tiny real loaders."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from memsvc.errors import Unavailable
from memsvc.models.budget import Resident, plan_eviction
from memsvc.models.registry import LoadedModel, Loader, ModelBudgetExceeded, ModelRegistry

KB = 1024


# --- plan_eviction ---------------------------------------------------------------------------


def test_nothing_to_evict_when_it_fits() -> None:
    residents = [Resident("a", 100, 1.0, False)]
    assert plan_eviction(residents, 50, 200) == []
    assert plan_eviction([], 200, 200) == []


def test_least_recently_used_unpinned_go_first_and_only_as_many_as_needed() -> None:
    residents = [
        Resident("new", 100, 3.0, False),
        Resident("old", 100, 1.0, False),
        Resident("middle", 100, 2.0, False),
    ]
    assert plan_eviction(residents, 100, 300) == ["old"]
    assert plan_eviction(residents, 200, 300) == ["old", "middle"]


def test_pinned_residents_are_never_planned() -> None:
    residents = [Resident("embedder", 100, 0.0, True), Resident("lm", 100, 5.0, False)]
    assert plan_eviction(residents, 150, 300) == ["lm"]
    assert plan_eviction(residents, 250, 300) is None  # only the pinned one would have to go


def test_too_large_for_the_budget_alone() -> None:
    assert plan_eviction([], 301, 300) is None


# --- the registry ----------------------------------------------------------------------------


class ArrayLoader:
    """Loads a real numpy array of `size` bytes; counts its loads."""

    def __init__(self, size: int, *, delay_s: float = 0.0):
        self.size = size
        self.delay_s = delay_s
        self.loads = 0
        self._lock = threading.Lock()

    def __call__(self) -> tuple[Any, str, int, dict[str, Any]]:
        with self._lock:
            self.loads += 1
        time.sleep(self.delay_s)  # a slow load: concurrent callers pile up behind it
        handle = np.zeros(self.size, dtype=np.uint8)
        return handle, "cpu", int(handle.nbytes), {"dtype": "uint8"}

    def loader(self, *, pinned: bool = False, estimate: bool = True) -> Loader:
        return Loader(
            kind="causal_lm", load=self, estimate_bytes=self.size if estimate else 0, pinned=pinned
        )


def test_concurrent_threads_load_a_model_once() -> None:
    registry = ModelRegistry(100 * KB)
    load = ArrayLoader(10 * KB, delay_s=0.2)
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: registry.load("lm", load.loader()), range(8)))
    assert load.loads == 1
    assert all(m is models[0] for m in models)
    model = models[0]
    assert isinstance(model, LoadedModel)
    assert model.handle.nbytes == 10 * KB
    assert model.load_seconds >= 0.2
    assert registry.used_bytes == 10 * KB
    assert registry.get("lm") is model
    assert registry.load("lm", load.loader()) is model and load.loads == 1


def test_least_recently_used_unpinned_model_is_unloaded_to_make_room() -> None:
    registry = ModelRegistry(30 * KB)
    loads = {name: ArrayLoader(10 * KB) for name in ("a", "b", "c", "d")}
    for name in ("a", "b", "c"):
        registry.load(name, loads[name].loader())
        time.sleep(0.01)
    registry.get("a")  # "a" used more recently than "b" and "c"
    registry.load("d", loads["d"].loader())
    names = {m["name"] for m in registry.describe()}
    assert names == {"a", "c", "d"}
    assert registry.used_bytes == 30 * KB
    # Asked again, the unloaded one is loaded anew (and pushes out the next LRU, "c").
    registry.load("b", loads["b"].loader())
    assert loads["b"].loads == 2
    assert {m["name"] for m in registry.describe()} == {"a", "d", "b"}


def test_pinned_models_are_never_unloaded() -> None:
    registry = ModelRegistry(30 * KB)
    pinned = ArrayLoader(10 * KB)
    registry.load("pinned", pinned.loader(pinned=True))
    for name in ("x", "y", "z", "w"):
        registry.load(name, ArrayLoader(10 * KB).loader())
        time.sleep(0.01)
    names = [m["name"] for m in registry.describe()]
    assert "pinned" in names and len(names) == 3
    assert pinned.loads == 1


def test_a_model_that_cannot_fit_is_refused_with_503() -> None:
    registry = ModelRegistry(30 * KB)
    registry.load("pinned", ArrayLoader(20 * KB).loader(pinned=True))
    big = ArrayLoader(15 * KB)
    with pytest.raises(ModelBudgetExceeded) as caught:
        registry.load("big", big.loader())
    assert isinstance(caught.value, Unavailable)
    assert caught.value.status == 503 and caught.value.code == "model_budget_exceeded"
    assert "MEMSVC_MODEL_MEMORY_BUDGET_MB" in caught.value.message
    assert big.loads == 0  # refused before loading
    assert registry.get("big") is None


def test_a_low_estimate_is_settled_after_loading() -> None:
    registry = ModelRegistry(30 * KB)
    registry.load("old", ArrayLoader(20 * KB).loader())
    time.sleep(0.01)
    # No estimate: it loads, then the real size pushes out the LRU unpinned model.
    registry.load("new", ArrayLoader(20 * KB).loader(estimate=False))
    assert [m["name"] for m in registry.describe()] == ["new"]
    assert registry.used_bytes == 20 * KB


def test_unload() -> None:
    registry = ModelRegistry(30 * KB)
    registry.load("m", ArrayLoader(KB).loader())
    assert registry.unload("m") is True
    assert registry.unload("m") is False
    assert registry.used_bytes == 0


def test_external_models_count_as_pinned_residents() -> None:
    registry = ModelRegistry(30 * KB)
    weights = np.zeros(20 * KB, dtype=np.uint8)  # an embedder's weights, loaded elsewhere
    state: dict[str, Any] = {"loaded": False}

    def describe() -> dict[str, Any] | None:
        if not state["loaded"]:
            return None
        return {"kind": "embedding", "device": "cpu", "bytes": int(weights.nbytes), "pinned": True}

    registry.attach_external("embedder", describe)
    registry.attach_external("embedder", describe)  # idempotent
    assert registry.used_bytes == 0 and registry.describe() == []  # not loaded yet
    state["loaded"] = True
    assert registry.used_bytes == 20 * KB
    [entry] = registry.describe()
    assert entry["name"] == "embedder" and entry["external"] is True

    small = registry.load("small", ArrayLoader(5 * KB).loader())
    assert small.bytes == 5 * KB
    time.sleep(0.01)
    # 20 (external) + 5 + 10 > 30: the small model goes, the external one stays.
    registry.load("other", ArrayLoader(10 * KB).loader())
    assert [m["name"] for m in registry.describe()] == ["embedder", "other"]
    with pytest.raises(ModelBudgetExceeded):
        registry.load("huge", ArrayLoader(15 * KB).loader())
    assert registry.detach_external("embedder") is True
    assert registry.used_bytes == 10 * KB
