"""The local embedding model as one traced TorchScript graph, for CPU inference.

Why: an eager PyTorch forward pass returns to Python between its few hundred operators, and
takes the GIL back each time. In the service the event loop shares the process: whenever it runs
Python (validating a batch, reading rows, encoding a response) the model thread waits up to the
interpreter's switch interval (5 ms) at each of those points. Measured on the 2-core machine, a
one-query embedding took 18.7 ms alone and 412 ms beside a busy Python thread; traced and frozen,
the whole forward pass runs in C++ without the GIL: 13.8 ms alone, 42.5 ms beside the busy thread
(bench/embed_gil.py measures both).

What: sentence-transformers' Transformer module (the Hugging Face encoder), its mean or CLS
pooling and the optional normalisation, traced once at load with dynamic batch and sequence
sizes, then checked against the eager model on texts of several lengths (alone and padded in a
batch). Anything else (other modules, other pooling, a mismatch, a trace error) keeps the eager
path: this is a speed-up, never a second opinion on the vectors.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Texts the traced graph must reproduce before it replaces the eager model: short and long (the
# last is cut at the model's maximum length), with surrounding blanks, alone and padded together.
_CHECK_TEXTS = [
    "ok",
    "  Where did we leave the spare key to the garden shed?  ",
    "The committee moved the quarterly review to Thursday afternoon, after the budget vote. " * 40,
]
_TOLERANCE = 1e-5
_POOLING_MODES = {"mean", "cls"}


class TracedEncoder:
    """`encode(texts, batch_size)`: what SentenceTransformer.encode(..., normalize_embeddings=True)
    returns, computed by the traced graph."""

    def __init__(self, model: Any, graph: Any, inputs: tuple[str, ...]):
        self._model = model
        self._graph = graph
        self._inputs = inputs

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        if not texts:
            raise ValueError("no texts to encode")
        # Longest first, as sentence-transformers does: batches of like lengths pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        chunks = []
        for start in range(0, len(order), batch_size):
            features = _features(self._model, [texts[i] for i in order[start : start + batch_size]])
            with torch.inference_mode():
                vectors = self._graph(*(features[name] for name in self._inputs))
            chunks.append(vectors.float().numpy())
        stacked = np.concatenate(chunks)
        result = np.empty_like(stacked)
        result[np.asarray(order)] = stacked
        return result


def trace(model: Any) -> TracedEncoder | None:
    """A traced encoder equal to `model` (a SentenceTransformer on CPU), or None when the model
    is not of the traceable shape or the trace does not reproduce it."""
    try:
        return _trace(model)
    except Exception as exc:
        log.warning("embedding model not traced, eager path kept: %s", exc)
        return None


def _trace(model: Any) -> TracedEncoder | None:
    import torch

    kinds = [type(module).__name__ for module in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        log.info("embedding model not traced: modules %s", kinds)
        return None
    config = model[1].get_config_dict() if hasattr(model[1], "get_config_dict") else {}
    mode = config.get("pooling_mode")
    if mode not in _POOLING_MODES:
        log.info("embedding model not traced: pooling %s", mode)
        return None
    encoder = getattr(model[0], "auto_model", None) or getattr(model[0], "model", None)
    example = _features(model, _CHECK_TEXTS[:2])
    inputs = tuple(
        name
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if isinstance(example.get(name), torch.Tensor)
    )
    if encoder is None or inputs[:2] != ("input_ids", "attention_mask"):
        return None
    module = _pooled_encoder(encoder, str(mode), inputs)
    with torch.inference_mode(), warnings.catch_warnings():
        # The encoder's Python branches on shapes (is there padding, is attention causal) are
        # recorded as taken for the padded example: the check below is what vouches for them.
        warnings.simplefilter("ignore")
        graph = torch.jit.trace(module, tuple(example[name] for name in inputs), check_trace=False)
        graph = torch.jit.freeze(graph)
    traced = TracedEncoder(model, graph, inputs)
    eager = np.asarray(
        model.encode(_CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True),
        dtype=np.float32,
    )
    alone = np.concatenate([traced.encode([text], 1) for text in _CHECK_TEXTS])
    padded = traced.encode(_CHECK_TEXTS, len(_CHECK_TEXTS))
    error = max(float(np.abs(alone - eager).max()), float(np.abs(padded - eager).max()))
    if error > _TOLERANCE:
        log.warning("embedding model not traced: differs from eager by %.2g", error)
        return None
    return traced


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's own tokenisation (stripping, lower-casing, truncation as it is configured)."""
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    return dict(preprocess(texts))


def _pooled_encoder(encoder: Any, mode: str, inputs: tuple[str, ...]) -> Any:
    """The eager modules the trace records: encoder, pooling, L2 normalisation."""
    import torch

    class PooledEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *tensors: Any) -> Any:
            named = dict(zip(inputs, tensors, strict=True))
            hidden = self.encoder(**named, return_dict=False)[0]
            if mode == "cls":
                pooled = hidden[:, 0]
            else:
                weights = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return PooledEncoder().eval()
