"""Embeddings from a remote server through litellm (OpenAI, or any OpenAI-compatible server such
as text-embeddings-inference, vLLM or Ollama), with the interface of the local Embedder.

Set MEMSVC_EMBEDDING_REMOTE_MODEL (a litellm model string, e.g. `openai/text-embedding-3-small`,
or `openai/<served name>` with MEMSVC_EMBEDDING_API_BASE for a self-hosted server). Vectors are
L2-normalised float32 like the local model's, so the rest of the service cannot tell them apart.
Any failure of the remote call is a 503 `embedding_unavailable`: the request may be retried.

`import litellm` costs seconds and ~170 MB, so it happens on the first call only.
"""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np

from memsvc.config import Settings
from memsvc.errors import Unavailable
from memsvc.models.batching import MicroBatcher
from memsvc.models.embedder import Embedder, TextEmbedder, probe_dimension

# text-embeddings-inference refuses requests of more than 32 inputs by default
# (--max-client-batch-size), so that is the default number of texts per HTTP request.
DEFAULT_REMOTE_BATCH = 32
DEFAULT_TIMEOUT_S = 30.0
# The openai/ provider refuses to send a request without a key; self-hosted servers ignore it.
PLACEHOLDER_KEY = "none"


class EmbeddingUnavailable(Unavailable):
    """The remote embedding server failed; retry shortly."""

    code = "embedding_unavailable"


def _litellm() -> ModuleType:
    # Before the import: otherwise litellm fetches its model cost map from the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
    return litellm


class RemoteEmbedder:
    """Normalised float32 embeddings computed by a remote server (see the module docstring)."""

    device = "remote"

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int | None = None,
        batch_window_s: float = 0.003,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        self.model_name = model
        self.api_base = api_base
        self._api_key = api_key
        self._dimension = dimension
        self._batch_size = batch_size
        self.timeout_s = timeout_s
        self._litellm_module: ModuleType | None = None
        self._import_lock = threading.Lock()
        self.load_seconds: float | None = None  # time of the first successful call
        self.resident_bytes = 0  # no local weights
        self.calls = 0  # HTTP requests that succeeded
        # Merging concurrent callers saves round trips just as it saves forward passes.
        self.batcher = MicroBatcher(
            self.embed, window_s=batch_window_s, max_batch=lambda: self.batch_size
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteEmbedder:
        if not settings.embedding_remote_model:
            raise ValueError("embedding_remote_model is not set")
        return cls(
            settings.embedding_remote_model,
            api_base=settings.embedding_api_base,
            api_key=settings.embedding_api_key_value,
            dimension=settings.embedding_dim,
            batch_size=settings.embedding_batch_size,
            batch_window_s=settings.embedding_batch_window_ms / 1000,
        )

    @property
    def batch_size(self) -> int:
        """Texts per HTTP request."""
        return self._batch_size or DEFAULT_REMOTE_BATCH

    @property
    def loaded(self) -> bool:
        """Whether a call has succeeded (there is nothing to load locally)."""
        return self.load_seconds is not None

    @property
    def dimension(self) -> int:
        """MEMSVC_EMBEDDING_DIM, else asked of the server with one (blocking) call."""
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension probe"]).shape[1])
        return self._dimension

    def _module(self) -> ModuleType:
        with self._import_lock:
            if self._litellm_module is None:
                self._litellm_module = _litellm()
            return self._litellm_module

    def embed(self, texts: list[str]) -> np.ndarray:
        """Blocking: one request per `batch_size` texts."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self._request(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    async def embed_async(self, texts: list[str]) -> np.ndarray:
        """`embed` in a worker thread, merged with other concurrent callers' texts."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return await self.batcher.submit(texts)

    def _request(self, texts: list[str]) -> np.ndarray:
        litellm = self._module()
        started = time.perf_counter()
        kwargs: dict[str, Any] = {
            "model": self.model_name,
            "input": texts,
            "timeout": self.timeout_s,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        elif self.api_base:
            kwargs["api_key"] = PLACEHOLDER_KEY
        try:
            response = litellm.embedding(**kwargs)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            message = " ".join(str(exc).split())[:300]
            raise EmbeddingUnavailable(
                f"the remote embedding model {self.model_name!r} failed"
                f"{f' (HTTP {status})' if status else ''}: {message}",
                details={"model": self.model_name, "status_code": status},
            ) from exc
        vectors = self._vectors(response, len(texts))
        if self._dimension is not None and vectors.shape[1] != self._dimension:
            raise EmbeddingUnavailable(
                f"the remote embedding model {self.model_name!r} returned {vectors.shape[1]}-d "
                f"vectors; this service stores {self._dimension}-d ones (MEMSVC_EMBEDDING_DIM)",
                details={"model": self.model_name},
            )
        self._dimension = vectors.shape[1]
        self.calls += 1
        if self.load_seconds is None:
            self.load_seconds = time.perf_counter() - started
        return vectors

    def _vectors(self, response: Any, expected: int) -> np.ndarray:
        data = response["data"] if isinstance(response, dict) else response.data
        items = [item if isinstance(item, dict) else item.model_dump() for item in data]
        if len(items) != expected:
            raise EmbeddingUnavailable(
                f"the remote embedding model {self.model_name!r} returned {len(items)} vectors "
                f"for {expected} texts",
                details={"model": self.model_name},
            )
        # The OpenAI shape numbers each vector; servers need not return them in order.
        items.sort(key=lambda item: item.get("index", 0))
        try:
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError):  # missing, non-numeric or ragged vectors
            vectors = np.zeros((0, 0), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbeddingUnavailable(
                f"the remote embedding model {self.model_name!r} returned no usable vectors",
                details={"model": self.model_name},
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.float32(1e-12))

    def describe(self) -> dict[str, Any]:
        """This model as GET /v1/models sees it (no local memory: nothing in the budget)."""
        return {
            "name": self.model_name,
            "kind": "embedding",
            "device": self.device,
            "bytes": 0,
            "load_seconds": round(self.load_seconds, 3) if self.load_seconds is not None else None,
            "loaded": self.loaded,
            "pinned": False,
            "api_base": self.api_base,
            "batch_size": self.batch_size,
            "http_calls": self.calls,
            **self.batcher.stats(),
        }


def make_embedder(settings: Settings) -> TextEmbedder:
    """The process's embedder: remote when MEMSVC_EMBEDDING_REMOTE_MODEL is set, else local."""
    if settings.embedding_remote_model:
        return RemoteEmbedder.from_settings(settings)
    return Embedder.from_settings(settings)


def embedding_dimension(settings: Settings) -> int:
    """The vector size this configuration stores (migrations and the start-up check need it):
    MEMSVC_EMBEDDING_DIM, else asked of the remote model with one call, else read from the local
    model's files (or, failing that, from the loaded model)."""
    if settings.embedding_dim:
        return settings.embedding_dim
    if settings.embedding_remote_model:
        return RemoteEmbedder.from_settings(settings).dimension
    return probe_dimension(settings.embedding_model) or Embedder(settings.embedding_model).dimension
