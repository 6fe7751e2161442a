"""Activation cache files: safetensors with an identity header; another model's are refused."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from memsvc.activation import kvcache


def layers(seed: int = 0, tokens: int = 70) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(1, 2, tokens, 16, generator=gen), torch.randn(1, 2, tokens, 16, generator=gen))
        for _ in range(3)
    ]


IDENTITY = kvcache.CacheIdentity("tiny", "f" * 64, "t" * 64, "c" * 64, "float32")


def test_fp32_round_trip_is_exact_and_carries_its_identity(tmp_path):
    path = tmp_path / "a.safetensors"
    cache = layers()
    size = kvcache.save(path, cache, list(range(70)), IDENTITY, "fp32")
    assert size == path.stat().st_size
    header = kvcache.read_header(path)
    assert header["model_fingerprint"] == "f" * 64 and header["quantization"] == "fp32"
    stored = kvcache.load(path, IDENTITY)
    assert stored.token_ids == list(range(70)) and stored.token_count == 70
    for (k, v), (k2, v2) in zip(cache, stored.layers, strict=True):
        assert torch.equal(k, k2) and torch.equal(v, v2)
    assert stored.nbytes == sum(k.numel() * 4 + v.numel() * 4 for k, v in cache)


@pytest.mark.parametrize("field", ["model_fingerprint", "tokenizer_hash", "template_hash", "dtype"])
def test_a_cache_of_another_model_is_refused(tmp_path, field):
    path = tmp_path / "a.safetensors"
    kvcache.save(path, layers(), [1, 2, 3], IDENTITY, "int8")
    other = dataclasses.replace(IDENTITY, **{field: "x" * 64})
    with pytest.raises(kvcache.ActivationModelMismatch) as refused:
        kvcache.load(path, other)
    assert field in refused.value.message and "Rebuild it" in refused.value.message
    assert refused.value.status == 409


def test_the_file_is_written_atomically_and_not_a_pickle(tmp_path):
    path = tmp_path / "sub" / "a.safetensors"
    kvcache.save(path, layers(), [1], IDENTITY, "int4")
    assert [p.name for p in path.parent.iterdir()] == ["a.safetensors"]  # no staging left
    assert path.read_bytes()[8:9] == b"{"  # safetensors: 8-byte length, then a JSON header


def test_a_missing_or_foreign_file_is_a_clear_error(tmp_path):
    with pytest.raises(kvcache.NotFound):
        kvcache.load(tmp_path / "gone.safetensors", IDENTITY)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(kvcache.ActivationModelMismatch):
        kvcache.load(foreign, IDENTITY)
