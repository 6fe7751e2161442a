"""The embedding tier on the real model: micro-batching, device selection, and remote embeddings
through litellm against a real OpenAI-compatible server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from memsvc.config import Settings
from memsvc.errors import Unavailable
from memsvc.models.device import DeviceUnavailable, pick_device
from memsvc.models.embedder import Embedder
from memsvc.models.remote import (
    EmbeddingUnavailable,
    RemoteEmbedder,
    embedding_dimension,
    make_embedder,
)
from tests.embedding_server import EmbeddingServer

TEXTS = [
    "Alice moved to Paris in 2021.",
    "Bob's dog is called Rex.",
    "The meeting is on Tuesday at 3 pm.",
    "Carol prefers tea over coffee.",
    "The invoice was paid last week.",
    "Dave is allergic to peanuts.",
    "Our office is on the fourth floor.",
    "Eve is learning Japanese.",
    "The server restarts every night at two.",
    "Frank's birthday is in March.",
    "The project deadline moved to June.",
    "Grace drives a red bicycle to work.",
    "Heidi plays the cello in an orchestra.",
    "Ivan's favourite film is Solaris.",
    "The garden needs watering twice a week.",
    "Judy switched from Python 2 to Python 3.",
]


# --- micro-batching on the real model --------------------------------------------------------


async def test_concurrent_embed_async_calls_share_model_calls(embedder: Embedder) -> None:
    direct = embedder.embed(TEXTS)  # loads the model; the reference vectors
    before = embedder.batcher.stats()
    results = await asyncio.gather(*(embedder.embed_async([t]) for t in TEXTS))
    after = embedder.batcher.stats()
    assert after["batches"] - before["batches"] <= 3
    assert after["texts"] - before["texts"] == len(TEXTS)
    for i, vectors in enumerate(results):
        assert vectors.shape == (1, embedder.dimension) and vectors.dtype == np.float32
        np.testing.assert_allclose(vectors[0], direct[i], atol=1e-5)


async def test_embed_async_of_several_texts_and_of_none(embedder: Embedder) -> None:
    vectors = await embedder.embed_async(TEXTS[:3])
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS[:3]), atol=1e-5)
    empty = await embedder.embed_async([])
    assert empty.shape == (0, embedder.dimension)


async def test_describe_reports_the_loaded_model(embedder: Embedder) -> None:
    await embedder.embed_async(["load me"])
    entry = embedder.describe()
    assert entry["kind"] == "embedding" and entry["device"] == "cpu" and entry["loaded"]
    assert entry["pinned"] is True
    # all-MiniLM-L6-v2: ~22.7 M float32 parameters, ~91 MB.
    assert 80 << 20 < entry["bytes"] < 100 << 20
    assert entry["bytes"] == embedder.resident_bytes
    assert entry["batches"] >= 1 and entry["texts"] >= 1 and entry["window_ms"] == 3.0


# --- device selection ------------------------------------------------------------------------


def test_auto_device_is_cpu_on_this_machine() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert pick_device(None) == "cpu"
    assert pick_device("cpu") == "cpu"


def test_cuda_requested_without_a_gpu_is_a_clear_503() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceUnavailable) as caught:
        pick_device("cuda")
    assert caught.value.status == 503 and caught.value.code == "device_unavailable"
    assert "no CUDA GPU" in caught.value.message and "MEMSVC_DEVICE" in caught.value.message
    with pytest.raises(DeviceUnavailable):
        Embedder(device="cuda:0").embed(["never embedded"])
    for bad in ("tpu", "cuda:x", "cpu:0", "mps:1"):
        with pytest.raises(ValueError, match="not a device"):
            pick_device(bad)


def test_memsvc_device_reaches_the_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMSVC_DEVICE", "cpu")
    monkeypatch.delenv("MEMSVC_EMBEDDING_DEVICE", raising=False)
    settings = Settings()
    assert settings.device == "cpu"
    local = Embedder.from_settings(settings)
    assert local.describe()["device"] == "cpu"  # requested, before loading
    local.embed(["one sentence"])
    assert local.device == "cpu" and local.loaded

    # embedding_device wins over device for the embedder.
    monkeypatch.setenv("MEMSVC_DEVICE", "cuda")
    monkeypatch.setenv("MEMSVC_EMBEDDING_DEVICE", "cpu")
    assert Embedder.from_settings(Settings()).describe()["device"] == "cpu"

    monkeypatch.setenv("MEMSVC_EMBEDDING_BATCH_WINDOW_MS", "7.5")
    assert Embedder.from_settings(Settings()).batcher.window_s == pytest.approx(0.0075)


@pytest.mark.parametrize("value", ["tpu", "gpu", "CPU0", "cuda0"])
def test_an_invalid_device_is_rejected_by_settings(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MEMSVC_DEVICE", value)
    with pytest.raises(ValidationError, match="not a device"):
        Settings()
    monkeypatch.delenv("MEMSVC_DEVICE")
    with pytest.raises(ValidationError, match="not a device"):
        Settings(embedding_device=value)


# --- remote embeddings through litellm -------------------------------------------------------


@pytest.fixture(scope="module")
def server(embedder: Embedder) -> Iterator[EmbeddingServer]:
    with EmbeddingServer(embedder) as running:
        yield running


def _remote(server: EmbeddingServer, name: str = "all-MiniLM-L6-v2", **kw: Any) -> RemoteEmbedder:
    return RemoteEmbedder(f"openai/{name}", api_base=server.base, **kw)


def test_remote_vectors_equal_the_local_ones(server: EmbeddingServer, embedder: Embedder) -> None:
    remote = _remote(server, api_key="test-secret")
    assert not remote.loaded
    vectors = remote.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    last = server.requests[-1]
    # litellm strips the provider prefix and sends the key as a bearer token.
    assert last["model"] == "all-MiniLM-L6-v2" and last["input"] == TEXTS
    assert last["authorization"] == "Bearer test-secret"
    assert remote.loaded and remote.describe()["device"] == "remote"


def test_remote_dimension_is_probed_with_one_call(server: EmbeddingServer) -> None:
    remote = _remote(server)  # no api_key: a placeholder, which self-hosted servers ignore
    seen = len(server.requests)
    assert remote.dimension == 384
    assert len(server.requests) == seen + 1
    assert server.requests[-1]["authorization"] == "Bearer none"
    assert remote.dimension == 384 and len(server.requests) == seen + 1
    assert _remote(server, dimension=384).dimension == 384 and len(server.requests) == seen + 1


def test_remote_batches_split_by_batch_size_and_ordered_by_index(
    server: EmbeddingServer, embedder: Embedder
) -> None:
    remote = _remote(server, "reversed", batch_size=5)
    seen = len(server.requests)
    vectors = remote.embed(TEXTS)
    assert [len(r["input"]) for r in server.requests[seen:]] == [5, 5, 5, 1]
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS), atol=1e-5)


async def test_remote_embed_async_merges_concurrent_callers(
    server: EmbeddingServer, embedder: Embedder
) -> None:
    remote = _remote(server, dimension=384)
    seen = len(server.requests)
    results = await asyncio.gather(*(remote.embed_async([t]) for t in TEXTS))
    assert len(server.requests) - seen <= 3
    direct = embedder.embed(TEXTS)
    for i, vectors in enumerate(results):
        np.testing.assert_allclose(vectors[0], direct[i], atol=1e-5)
    assert remote.describe()["texts"] == len(TEXTS)


def test_a_server_error_is_a_503(server: EmbeddingServer) -> None:
    remote = _remote(server, "broken", dimension=384)
    with pytest.raises(EmbeddingUnavailable) as caught:
        remote.embed(["anything"])
    error = caught.value
    assert isinstance(error, Unavailable) and error.status == 503
    assert error.code == "embedding_unavailable"
    assert "HTTP 500" in error.message and "overloaded" in error.message
    assert error.details["status_code"] == 500
    assert not remote.loaded


async def test_a_server_error_reaches_every_async_caller(server: EmbeddingServer) -> None:
    remote = _remote(server, "broken", dimension=384)
    results = await asyncio.gather(
        *(remote.embed_async([t]) for t in TEXTS[:4]), return_exceptions=True
    )
    assert all(isinstance(r, EmbeddingUnavailable) for r in results)


def test_an_unreachable_server_is_a_503() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = RemoteEmbedder(
        "openai/x", api_base=f"http://127.0.0.1:{port}/v1", dimension=384, timeout_s=5
    )
    with pytest.raises(EmbeddingUnavailable, match="failed"):
        remote.embed(["anything"])


def test_a_dimension_mismatch_is_a_503(server: EmbeddingServer) -> None:
    remote = _remote(server, dimension=768)
    with pytest.raises(EmbeddingUnavailable, match="384-d"):
        remote.embed(["anything"])


def test_make_embedder_picks_remote_or_local(server: EmbeddingServer) -> None:
    local = make_embedder(Settings(embedding_dim=384))
    assert isinstance(local, Embedder)
    remote = make_embedder(
        Settings(
            embedding_remote_model="openai/all-MiniLM-L6-v2",
            embedding_api_base=server.base,
            embedding_api_key="k",  # type: ignore[arg-type]
            embedding_batch_size=8,
            embedding_batch_window_ms=1.0,
        )
    )
    assert isinstance(remote, RemoteEmbedder)
    assert remote.batch_size == 8 and remote.batcher.window_s == pytest.approx(0.001)
    assert remote.embed(["hello"]).shape == (1, 384)
    assert server.requests[-1]["authorization"] == "Bearer k"


def test_embedding_dimension_of_each_configuration(server: EmbeddingServer) -> None:
    assert embedding_dimension(Settings(embedding_dim=7)) == 7
    assert embedding_dimension(Settings()) == 384  # read from the local model's files
    remote = Settings(
        embedding_remote_model="openai/all-MiniLM-L6-v2", embedding_api_base=server.base
    )
    seen = len(server.requests)
    assert embedding_dimension(remote) == 384
    assert len(server.requests) == seen + 1  # asked of the server
