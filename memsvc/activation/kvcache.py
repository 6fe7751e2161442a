"""KV caches on disk: safetensors tensors plus a header saying exactly what made them.

Never pickle: a cache file is plain tensors (safetensors refuses code), and its header names
the model fingerprint, tokenizer hash, chat-template hash, dtype and quantization. Loading checks
those against the model that is about to use the cache and refuses a mismatch: a cache made by
other weights would produce confident nonsense, not an error.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memsvc.activation import quantize
from memsvc.errors import Conflict, NotFound

FORMAT = "memsvc-activation/1"
TOKEN_IDS = "token_ids"


class ActivationModelMismatch(Conflict):
    """The activation cache was made for another model."""

    code = "activation_model_mismatch"


@dataclasses.dataclass(frozen=True)
class CacheIdentity:
    """What a cache must match to be reused."""

    model_id: str
    model_fingerprint: str
    tokenizer_hash: str
    template_hash: str
    dtype: str

    def header(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclasses.dataclass
class StoredCache:
    layers: list[tuple[Any, Any]]  # (keys, values) per layer, dequantized, on the CPU
    token_ids: list[int]
    quantization: str
    nbytes: int  # in memory, as decoded

    @property
    def token_count(self) -> int:
        return len(self.token_ids)


def check_identity(header: Mapping[str, str], expected: CacheIdentity) -> None:
    """Refuse a cache whose model, tokenizer, template or dtype is not `expected`'s."""
    wrong = [
        name
        for name, value in expected.header().items()
        if name != "model_id" and header.get(name) != value
    ]
    if wrong:
        made_by = header.get("model_id", "?"), header.get("model_fingerprint", "?")[:12]
        raise ActivationModelMismatch(
            f"this activation cache was made by model {made_by[0]} (fingerprint {made_by[1]}), "
            f"not by the loaded {expected.model_id} (fingerprint "
            f"{expected.model_fingerprint[:12]}): its {', '.join(wrong)} differ. Rebuild it "
            "with POST /v1/cubes/{cube_id}/activation.",
            details={"mismatch": wrong},
        )


def save(
    path: Path,
    layers: list[tuple[Any, Any]],
    token_ids: list[int],
    identity: CacheIdentity,
    quantization: str,
) -> int:
    """Write the cache (atomically: a reader never sees half a file); return its size."""
    import torch
    from safetensors.torch import save_file

    tensors = quantize.encode_cache([(k.cpu(), v.cpu()) for k, v in layers], quantization)
    tensors[TOKEN_IDS] = torch.tensor(token_ids, dtype=torch.int64)
    header = {
        "format": FORMAT,
        **identity.header(),
        "quantization": quantization,
        "num_layers": str(len(layers)),
        "token_count": str(len(token_ids)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(staging), metadata=header)
    os.replace(staging, path)
    return path.stat().st_size


def read_header(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def load(path: Path, expected: CacheIdentity) -> StoredCache:
    """Read a cache written by `save`, refusing one made for another model."""
    from safetensors.torch import load_file

    if not path.exists():
        raise NotFound("the activation cache file is missing; rebuild it", code="cache_missing")
    header = read_header(path)
    if header.get("format") != FORMAT:
        raise ActivationModelMismatch(f"not a {FORMAT} file: {path.name}")
    check_identity(header, expected)
    import torch

    tensors = load_file(str(path))
    token_ids = tensors.pop(TOKEN_IDS).tolist()
    layers = quantize.decode_cache(
        tensors,
        header["quantization"],
        num_layers=int(header["num_layers"]),
        dtype=getattr(torch, expected.dtype),
    )
    size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
    return StoredCache(layers, token_ids, header["quantization"], size)
