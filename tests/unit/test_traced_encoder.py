"""The traced CPU embedding graph (memsvc/models/traced.py) against the eager model it replaces:
the same vectors for every length and batch, and models it cannot reproduce left eager."""

from __future__ import annotations

import numpy as np
import pytest

from memsvc.models import traced
from memsvc.models.embedder import Embedder, resolve_model_path

TEXTS = [
    "Lena's beagle is called Rex.",
    "   leading and trailing blanks   ",
    "A",
    "Die Katze schläft auf dem Sofa, während es draußen regnet.",
    "emoji 🐶 and punctuation?!",
    "a long memory about the quarterly budget meeting and who said what. " * 30,
    *[f"note {i}: the meeting moved to room {i % 7} at {i % 12} pm" for i in range(40)],
]


@pytest.fixture(scope="module")
def eager() -> Embedder:
    return Embedder(trace=False)


@pytest.fixture(scope="module")
def compiled() -> Embedder:
    return Embedder(trace=True)


def test_traced_vectors_equal_the_eager_model(eager, compiled):
    expected = eager.embed(TEXTS)
    assert compiled.embed(TEXTS).shape == expected.shape
    assert compiled.describe()["traced"] is True  # loaded now
    assert eager.describe()["traced"] is False
    np.testing.assert_allclose(compiled.embed(TEXTS), expected, atol=1e-5, rtol=0)
    # one at a time (no padding) and in reversed order (rows come back in the callers' order)
    single = np.concatenate([compiled.embed([t]) for t in TEXTS[:6]])
    np.testing.assert_allclose(single, expected[:6], atol=1e-5, rtol=0)
    np.testing.assert_allclose(compiled.embed(TEXTS[::-1]), expected[::-1], atol=1e-5, rtol=0)
    assert np.allclose(np.linalg.norm(compiled.embed(TEXTS), axis=1), 1.0, atol=1e-5)


def test_batches_smaller_than_the_input(compiled, eager):
    encoder = compiled._traced
    assert encoder is not None
    np.testing.assert_allclose(
        encoder.encode(TEXTS, batch_size=7), eager.embed(TEXTS), atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError):
        encoder.encode([], batch_size=4)


def test_a_model_of_another_shape_stays_eager():
    """Max pooling is not what the trace computes: the model is refused, not approximated."""
    from sentence_transformers import SentenceTransformer, models

    path = resolve_model_path("all-MiniLM-L6-v2")
    word = models.Transformer(path)
    pooling = models.Pooling(word.get_embedding_dimension(), pooling_mode="max")
    model = SentenceTransformer(modules=[word, pooling], device="cpu")
    assert traced.trace(model) is None
    # the same modules with mean pooling are traced
    mean = models.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    assert traced.trace(SentenceTransformer(modules=[word, mean], device="cpu")) is not None


def test_trace_setting_reaches_the_embedder():
    from memsvc.config import Settings

    assert Embedder.from_settings(Settings(embedding_trace=False))._trace is False
    assert Embedder.from_settings(Settings())._trace is True
