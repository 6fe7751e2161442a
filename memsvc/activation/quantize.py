"""KV-cache quantization after KIVI (Liu et al. 2024, "KIVI: A Tuning-Free Asymmetric 2bit
Quantization for KV Cache"). Pure tensor code: no I/O, no pickle; every output is a plain,
contiguous CPU tensor in a ``dict[str, Tensor]`` ready for ``safetensors.torch.save``.

What KIVI does
--------------
A transformer's KV cache holds, per layer, keys and values shaped
``[batch, kv_heads, seq, head_dim]``. KIVI compresses them with asymmetric (min-max)
group quantization, but along *different axes* for keys and values:

* **Keys per channel.** Key caches have a few *outlier channels* whose magnitude is one or two
  orders above the rest (a side effect of rotary embeddings and of how attention uses a few
  dimensions as "sinks"). If a group spanned the channels of one token, the outlier would set
  the group's range and every ordinary channel in that token would be rounded to a handful of
  levels. Grouping along the token axis *within one channel* confines an outlier channel to its
  own groups, so the other channels keep their resolution.
* **Values per token.** Value caches have no such fixed outlier channels, and the attention
  output ``softmax(QK^T) V`` is a weighted mix of value *rows* (tokens): the error that matters is
  per token, so each token's channels are grouped together; an outlier token then only
  coarsens itself.

The scheme here
---------------
For each group: ``min`` and ``scale = (max - min) / (2^b - 1)``, both stored as fp16;
``code = clamp(round((x - min) / scale), 0, 2^b - 1)`` as an unsigned integer; decoding is
``min + code * scale``. The stored fp16 ``min`` is rounded *down* and ``scale`` *up* from their
fp32 values, so every element lies inside ``[min, min + (2^b - 1) * scale]`` with the stored
stats and the decode error is at most ``scale / 2`` (plus fp32 rounding) for the stored scale.
A constant group (``max == min``) gets scale 1 and decodes to its min exactly (exactly the
original value whenever it is representable in fp16). Stats that would overflow fp16 (a
magnitude above 65504) fall back to fp32 stats for that tensor; no NaN or inf is ever produced,
and non-finite inputs are rejected.

* Keys: for each ``(batch, head, channel)`` the token axis is split into groups of
  ``group_size`` tokens (default 64). The last, partial group is *not* padded: codes are stored
  for exactly ``seq`` tokens and its stats cover only the real tokens.
* Values: for each ``(batch, head, token)`` the channel axis is split into groups of
  ``min(group_size, head_dim)`` channels.
* Codes are bit-packed over a flat (1-D) view: int8 one code per byte, int4 two, int2 four
  (a final partial byte holds the last 1-3 codes).

Size arithmetic (fp32 baseline 4 bytes per element, group 64, fp16 min + scale = 4 bytes per
group, i.e. 4/64 bytes per element):

* int8: ``(1 + 4/64) / 4 ≈ 0.266`` of fp32;
* int4: ``(0.5 + 4/64) / 4 ≈ 0.141``;
* int2: ``(0.25 + 4/64) / 4 ≈ 0.078``;
* fp16: 0.5; fp32: 1.

A sequence that is not a multiple of the group costs one extra (partial) key group per channel
in stats, never padded codes. The ``shape`` / ``config`` tensors add 48 bytes per tensor pair.

Every scheme but ``fp32`` loses information: fp16 rounds to 11 significant bits and the
integer schemes to ``2^b`` levels per group, so only ``fp32`` reproduces the model's logits
exactly after a restore; the others give close but not identical continuations.

Tensor names produced by :func:`encode_layer` (``p`` is ``k`` for keys, ``v`` for values):

* ``fp32`` / ``fp16``: ``k``, ``v`` (the cast tensors, original shape);
* ``int8`` / ``int4`` / ``int2``: ``p.codes`` (uint8, 1-D packed), ``p.min`` and ``p.scale``
  (fp16, or fp32 on overflow; keys ``[B, H, D, n_token_groups]``, values
  ``[B, H, S, n_channel_groups]``), ``p.shape`` (int64 ``[B, H, S, D]``) and ``p.config``
  (int64 ``[bits, group_size]``, the effective group size).
"""

from __future__ import annotations

import math
import re
from typing import TypedDict

import torch

__all__ = [
    "SCHEMES",
    "SCHEME_BITS",
    "QuantizationReport",
    "decode_cache",
    "decode_layer",
    "dequantize_groups",
    "encode_cache",
    "encode_layer",
    "measure",
    "nbytes",
    "pack_codes",
    "quantize_groups",
    "unpack_codes",
]

SCHEMES: tuple[str, ...] = ("fp32", "fp16", "int8", "int4", "int2")
"""Every supported scheme, from lossless to smallest."""

SCHEME_BITS: dict[str, int] = {"int8": 8, "int4": 4, "int2": 2}
"""Bits per code of the quantized schemes."""

DEFAULT_GROUP_SIZE = 64

_FP16_MAX = float(torch.finfo(torch.float16).max)
_LAYER_NAME = re.compile(r"^layers\.(\d+)\.")
_PARTS = (("k", True), ("v", False))  # (name prefix, quantized per channel)


class QuantizationReport(TypedDict):
    """What :func:`measure` returns: size and error of one scheme on one cache."""

    scheme: str
    bytes: int
    fp32_bytes: int
    ratio: float
    max_abs_error: float
    mean_abs_error: float
    rel_rms_error: float
    key_rel_rms_error: float
    value_rel_rms_error: float


# --- bit packing -----------------------------------------------------------------------------


def _check_bits(bits: int) -> None:
    if bits not in (2, 4, 8):
        raise ValueError(f"bits must be 2, 4 or 8, got {bits}")


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack unsigned codes in ``[0, 2^bits - 1]`` into a flat uint8 tensor.

    The codes are flattened (row-major); ``8 // bits`` consecutive codes share a byte, the first
    in the lowest bits. The result has ``ceil(numel * bits / 8)`` bytes.
    """
    _check_bits(bits)
    flat = codes.detach().to("cpu").reshape(-1)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) > (1 << bits) - 1):
        raise ValueError(f"codes out of range for {bits} bits")
    flat = flat.to(torch.uint8)
    if bits == 8:
        return flat.clone().contiguous()
    per_byte = 8 // bits
    pad = -flat.numel() % per_byte
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    shifts = torch.arange(per_byte, dtype=torch.int32) * bits
    grouped = flat.reshape(-1, per_byte).to(torch.int32)
    # Disjoint bit fields: the sum is their bitwise OR.
    return (grouped << shifts).sum(dim=1).to(torch.uint8).contiguous()


def unpack_codes(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """Inverse of :func:`pack_codes`: the first ``count`` codes as a flat uint8 tensor."""
    _check_bits(bits)
    per_byte = 8 // bits
    flat = packed.detach().to("cpu").reshape(-1)
    if flat.dtype != torch.uint8:
        raise ValueError(f"packed codes must be uint8, got {flat.dtype}")
    if flat.numel() != -(-count // per_byte):
        raise ValueError(
            f"{flat.numel()} packed bytes cannot hold exactly {count} {bits}-bit codes"
        )
    if bits == 8:
        return flat.clone().contiguous()
    shifts = torch.arange(per_byte, dtype=torch.int32) * bits
    mask = (1 << bits) - 1
    codes = (flat.to(torch.int32).unsqueeze(1) >> shifts) & mask
    return codes.reshape(-1)[:count].to(torch.uint8).contiguous()


# --- group quantization along the last axis --------------------------------------------------


def _round_toward(t: torch.Tensor, dtype: torch.dtype, *, up: bool) -> torch.Tensor:
    """Cast fp32 ``t`` to ``dtype``, rounding up (or down) instead of to nearest."""
    r = t.to(dtype)
    if dtype == torch.float32:
        return r
    back = r.to(torch.float32)
    wrong = back < t if up else back > t
    target = torch.full_like(r, math.inf if up else -math.inf)
    return torch.where(wrong, torch.nextafter(r, target), r)


def _expand(stats: torch.Tensor, group_size: int, length: int) -> torch.Tensor:
    """Per-group stats ``[..., n_groups]`` repeated to per-element ``[..., length]``."""
    return stats.to(torch.float32).repeat_interleave(group_size, dim=-1)[..., :length]


def _stats(
    x: torch.Tensor, bits: int, group_size: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    length = x.shape[-1]
    n_groups = -(-length // group_size)
    pad = n_groups * group_size - length
    if pad:
        # Repeating the last real element leaves the partial group's min and max unchanged:
        # its stats cover only the real elements.
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], pad)], dim=-1)
    grouped = x.reshape(*x.shape[:-1], n_groups, group_size)
    lo = grouped.amin(dim=-1)
    hi = grouped.amax(dim=-1)
    lo_q = _round_toward(lo, dtype, up=False)
    scale = (hi - lo_q.to(torch.float32)) / ((1 << bits) - 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return lo_q, _round_toward(scale, dtype, up=True)


def quantize_groups(
    x: torch.Tensor, bits: int, group_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric min-max quantization of ``x`` in groups of ``group_size`` along its last axis.

    Returns ``(codes, min, scale)``: uint8 codes shaped like ``x`` (unpacked) and the stats
    ``[..., ceil(len / group_size)]`` in fp16 (fp32 where fp16 would overflow). The last group
    may be partial; its stats cover only the real elements.
    """
    _check_bits(bits)
    if group_size < 1:
        raise ValueError(f"group_size must be positive, got {group_size}")
    x = x.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("cannot quantize a tensor with NaN or infinite values")
    lo, scale = _stats(x, bits, group_size, torch.float16)
    if not (bool(torch.isfinite(lo).all()) and bool(torch.isfinite(scale).all())):
        lo, scale = _stats(x, bits, group_size, torch.float32)
    length = x.shape[-1]
    lo_e = _expand(lo, group_size, length)
    scale_e = _expand(scale, group_size, length)
    codes = torch.round((x - lo_e) / scale_e).clamp_(0, (1 << bits) - 1).to(torch.uint8)
    return codes.contiguous(), lo.contiguous(), scale.contiguous()


def dequantize_groups(
    codes: torch.Tensor, lo: torch.Tensor, scale: torch.Tensor, group_size: int
) -> torch.Tensor:
    """Inverse of :func:`quantize_groups` (up to rounding): ``min + code * scale`` in fp32."""
    length = codes.shape[-1]
    expected = (*codes.shape[:-1], -(-length // group_size))
    if tuple(lo.shape) != expected or tuple(scale.shape) != expected:
        raise ValueError(
            f"stats shapes {tuple(lo.shape)}, {tuple(scale.shape)} do not match codes "
            f"{tuple(codes.shape)} with group {group_size} (expected {expected})"
        )
    lo_e = _expand(lo, group_size, length)
    scale_e = _expand(scale, group_size, length)
    return (lo_e + codes.to(torch.float32) * scale_e).contiguous()


# --- layers and caches -----------------------------------------------------------------------


def _bits(scheme: str) -> int | None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown KV quantization scheme {scheme!r}; expected one of {SCHEMES}")
    return SCHEME_BITS.get(scheme)


def _check_4d(name: str, t: torch.Tensor) -> None:
    if t.dim() != 4:
        raise ValueError(
            f"{name} must be [batch, kv_heads, seq, head_dim], got shape {tuple(t.shape)}"
        )


def _encode_part(
    prefix: str, x: torch.Tensor, per_channel: bool, bits: int, group_size: int
) -> dict[str, torch.Tensor]:
    b, h, s, d = x.shape
    if per_channel:
        stored = x.transpose(2, 3)  # [B, H, D, S]: groups run along tokens within a channel
        group = group_size
    else:
        stored = x  # [B, H, S, D]: groups run along channels within a token
        group = min(group_size, d) if d else group_size
    codes, lo, scale = quantize_groups(stored, bits, group)
    return {
        f"{prefix}.codes": pack_codes(codes, bits),
        f"{prefix}.min": lo,
        f"{prefix}.scale": scale,
        f"{prefix}.shape": torch.tensor([b, h, s, d], dtype=torch.int64),
        f"{prefix}.config": torch.tensor([bits, group], dtype=torch.int64),
    }


def _get(tensors: dict[str, torch.Tensor], name: str, scheme: str) -> torch.Tensor:
    try:
        return tensors[name]
    except KeyError:
        raise ValueError(f"missing tensor {name!r}: not a layer encoded with {scheme!r}") from None


def _decode_part(
    tensors: dict[str, torch.Tensor], prefix: str, per_channel: bool, scheme: str, bits: int
) -> torch.Tensor:
    shape = [int(v) for v in _get(tensors, f"{prefix}.shape", scheme).tolist()]
    config = [int(v) for v in _get(tensors, f"{prefix}.config", scheme).tolist()]
    if len(shape) != 4 or len(config) != 2:
        raise ValueError(f"malformed {prefix}.shape {shape} or {prefix}.config {config}")
    stored_bits, group = config
    if stored_bits != bits:
        raise ValueError(f"{prefix} was encoded with {stored_bits} bits, not {scheme!r}")
    if group < 1:
        raise ValueError(f"malformed group size {group} in {prefix}.config")
    b, h, s, d = shape
    stored = (b, h, d, s) if per_channel else (b, h, s, d)
    packed = _get(tensors, f"{prefix}.codes", scheme)
    codes = unpack_codes(packed, bits, math.prod(stored)).reshape(stored)
    lo = _get(tensors, f"{prefix}.min", scheme).to("cpu")
    scale = _get(tensors, f"{prefix}.scale", scheme).to("cpu")
    x = dequantize_groups(codes, lo, scale, group)
    return x.transpose(2, 3) if per_channel else x


def encode_layer(
    keys: torch.Tensor,
    values: torch.Tensor,
    scheme: str,
    group_size: int = DEFAULT_GROUP_SIZE,
) -> dict[str, torch.Tensor]:
    """Encode one layer's keys and values (``[batch, kv_heads, seq, head_dim]``, any device).

    Returns contiguous CPU tensors named as in the module docstring; :func:`decode_layer`
    needs nothing else. ``fp16`` saturates magnitudes above 65504 instead of storing inf.
    """
    bits = _bits(scheme)
    if group_size < 1:
        raise ValueError(f"group_size must be positive, got {group_size}")
    _check_4d("keys", keys)
    _check_4d("values", values)
    if bits is None:
        out: dict[str, torch.Tensor] = {}
        for prefix, x in (("k", keys), ("v", values)):
            t = x.detach().to("cpu", torch.float32)
            if scheme == "fp16":
                t = t.clamp(-_FP16_MAX, _FP16_MAX).to(torch.float16)
            elif t.data_ptr() == x.data_ptr():
                t = t.clone()  # never alias the caller's (live) cache
            out[prefix] = t.contiguous()
        return out
    keys = keys.detach().to("cpu", torch.float32)
    values = values.detach().to("cpu", torch.float32)
    return {
        **_encode_part("k", keys, True, bits, group_size),
        **_encode_part("v", values, False, bits, group_size),
    }


def decode_layer(
    tensors: dict[str, torch.Tensor],
    scheme: str,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Restore ``(keys, values)`` in their original shape as contiguous CPU ``dtype`` tensors."""
    bits = _bits(scheme)
    if bits is None:
        want = torch.float16 if scheme == "fp16" else torch.float32
        parts = []
        for prefix in ("k", "v"):
            t = _get(tensors, prefix, scheme)
            if t.dtype != want:
                raise ValueError(f"tensor {prefix!r} is {t.dtype}, not {scheme!r}")
            parts.append(t.to("cpu", dtype).contiguous())
        return parts[0], parts[1]
    keys, values = (
        _decode_part(tensors, prefix, per_channel, scheme, bits).to(dtype).contiguous()
        for prefix, per_channel in _PARTS
    )
    return keys, values


def encode_cache(
    layers: list[tuple[torch.Tensor, torch.Tensor]],
    scheme: str,
    group_size: int = DEFAULT_GROUP_SIZE,
) -> dict[str, torch.Tensor]:
    """Encode every layer's ``(keys, values)``; names are prefixed with ``layers.{i}.``."""
    out: dict[str, torch.Tensor] = {}
    for i, (keys, values) in enumerate(layers):
        for name, t in encode_layer(keys, values, scheme, group_size).items():
            out[f"layers.{i}.{name}"] = t
    return out


def decode_cache(
    tensors: dict[str, torch.Tensor],
    scheme: str,
    num_layers: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Inverse of :func:`encode_cache`. ``num_layers`` defaults to the highest layer index + 1."""
    if num_layers is None:
        indices = [int(m.group(1)) for name in tensors if (m := _LAYER_NAME.match(name))]
        num_layers = max(indices) + 1 if indices else 0
    layers = []
    for i in range(num_layers):
        prefix = f"layers.{i}."
        layer = {k[len(prefix) :]: t for k, t in tensors.items() if k.startswith(prefix)}
        if not layer:
            raise ValueError(f"no tensors for layer {i}")
        layers.append(decode_layer(layer, scheme, dtype))
    return layers


def nbytes(tensors: dict[str, torch.Tensor]) -> int:
    """Total bytes of the tensors' elements (what safetensors stores, less its header)."""
    return sum(t.numel() * t.element_size() for t in tensors.values())


def measure(
    layers: list[tuple[torch.Tensor, torch.Tensor]],
    scheme: str,
    group_size: int = DEFAULT_GROUP_SIZE,
) -> QuantizationReport:
    """Encode and decode ``layers`` with ``scheme``; report size (vs fp32) and error."""
    encoded = encode_cache(layers, scheme, group_size)
    decoded = decode_cache(encoded, scheme, num_layers=len(layers))
    fp32_bytes = 0
    sq_err = [0.0, 0.0]  # keys, values
    sq_ref = [0.0, 0.0]
    abs_sum = 0.0
    max_abs = 0.0
    count = 0
    for original, restored in zip(layers, decoded, strict=True):
        for j in (0, 1):
            ref = original[j].detach().to("cpu", torch.float64)
            err = restored[j].to(torch.float64) - ref
            fp32_bytes += ref.numel() * 4
            count += ref.numel()
            if ref.numel():
                max_abs = max(max_abs, float(err.abs().max()))
            abs_sum += float(err.abs().sum())
            sq_err[j] += float(err.square().sum())
            sq_ref[j] += float(ref.square().sum())

    def rel(e: float, r: float) -> float:
        return math.sqrt(e / r) if r > 0 else math.sqrt(e)

    size = nbytes(encoded)
    return QuantizationReport(
        scheme=scheme,
        bytes=size,
        fp32_bytes=fp32_bytes,
        ratio=size / fp32_bytes if fp32_bytes else 0.0,
        max_abs_error=max_abs,
        mean_abs_error=abs_sum / count if count else 0.0,
        rel_rms_error=rel(sum(sq_err), sum(sq_ref)),
        key_rel_rms_error=rel(sq_err[0], sq_ref[0]),
        value_rel_rms_error=rel(sq_err[1], sq_ref[1]),
    )
