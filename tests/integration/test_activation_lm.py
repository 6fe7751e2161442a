"""The activation LM on a tiny random Llama: prefix reuse is exact and never mutates the cache."""

from __future__ import annotations

import pytest
import torch

from memsvc.activation.lm import LanguageModel, ModelUnavailable
from memsvc.errors import InvalidRequest
from tests.tiny_lm import make_tiny_lm

SYSTEM = "You are a helpful assistant with a long-term memory.\n- (2026-01-02) Alice lives in York."


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> LanguageModel:
    path = make_tiny_lm(tmp_path_factory.mktemp("tiny-lm") / "model", seed=0)
    return LanguageModel.load(str(path), data_dir=path.parent, device="cpu", dtype="float32")


def test_the_system_rendering_is_a_token_prefix_of_the_prompt(lm):
    prefix_ids = lm.encode(lm.render(SYSTEM, None))
    full_ids = lm.encode(lm.render(SYSTEM, "Where does Alice live?"))
    assert len(full_ids) > len(prefix_ids) and full_ids[: len(prefix_ids)] == prefix_ids


def test_generation_from_the_cache_matches_and_leaves_it_untouched(lm):
    prefix_ids = lm.encode(lm.render(SYSTEM, None))
    full_ids = lm.encode(lm.render(SYSTEM, "Where does Alice live?"))
    stored = lm.prefill(prefix_ids)
    snapshot = [(k.clone(), v.clone()) for k, v in stored]
    assert stored[0][0].shape[-2] == len(prefix_ids)  # one entry per prefix token

    fresh = lm.generate(full_ids, max_new_tokens=10)
    first = lm.generate(full_ids, max_new_tokens=10, cached=stored, cached_tokens=len(prefix_ids))
    second = lm.generate(full_ids, max_new_tokens=10, cached=stored, cached_tokens=len(prefix_ids))
    assert first.token_ids == second.token_ids == fresh.token_ids
    assert float((first.first_logits - fresh.first_logits).abs().max()) <= 1e-5
    for (k, v), (k0, v0) in zip(stored, snapshot, strict=True):
        assert torch.equal(k, k0) and torch.equal(v, v0)  # decoding worked on a clone
    assert first.ttft_s <= first.total_s


def test_a_prompt_must_extend_past_the_cached_prefix(lm):
    prefix_ids = lm.encode(lm.render(SYSTEM, None))
    stored = lm.prefill(prefix_ids)
    with pytest.raises(InvalidRequest):
        lm.generate(prefix_ids, max_new_tokens=2, cached=stored, cached_tokens=len(prefix_ids))


def test_fingerprints_tell_models_apart(lm, tmp_path):
    other = make_tiny_lm(tmp_path / "other", seed=1)
    second = LanguageModel.load(str(other), data_dir=tmp_path, device="cpu", dtype="float32")
    assert second.fingerprint != lm.fingerprint
    assert second.tokenizer_hash == lm.tokenizer_hash  # same tokenizer, other weights
    half = LanguageModel.load(str(lm.path), data_dir=tmp_path, device="cpu", dtype="float16")
    assert half.fingerprint != lm.fingerprint and half.dtype == "float16"


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"no config\.json"):
        LanguageModel.load(
            str(tmp_path / "nowhere"), data_dir=tmp_path, device="cpu", dtype="float32"
        )
