"""Which torch device the local models run on: cuda, then mps, then cpu, unless one is asked for.

A requested device (MEMSVC_EMBEDDING_DEVICE, else MEMSVC_DEVICE) wins, but it is checked here:
asking for `cuda` on a machine (or a torch build) without CUDA fails at once with a message that
names the setting, instead of deep inside torch on the first forward pass.
"""

from __future__ import annotations

import functools

from memsvc.errors import Unavailable

KNOWN = ("cuda", "mps", "cpu")


class DeviceUnavailable(Unavailable):
    """The configured device is not available on this machine.

    A 503, not a 422: the device is the operator's configuration, which no request can fix.
    """

    code = "device_unavailable"


@functools.cache
def _detect() -> str:
    # Cached: the answer does not change while the process runs, and GET /v1/models asks often.
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_device(requested: str | None = None) -> str:
    """`requested` if this machine has it (`cuda`, `cuda:N`, `mps`, `cpu`); unset: the best one.

    Raises DeviceUnavailable for a device torch cannot use here, ValueError for an unknown name
    (Settings rejects those already).
    """
    if not requested:
        return _detect()
    kind, _, index = requested.partition(":")
    if kind not in KNOWN or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"not a device: {requested!r} (cuda, cuda:N, mps or cpu)")
    if kind == "cpu":
        return requested  # no need to import torch to know a CPU is there
    import torch

    if kind == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise DeviceUnavailable(
                f"device {requested!r} was requested (MEMSVC_DEVICE / MEMSVC_EMBEDDING_DEVICE) "
                f"but torch {torch.__version__} ({build}) sees no CUDA GPU; unset it to run on "
                "the best available device, or set it to cpu",
                details={"requested": requested},
            )
        if index and int(index) >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"device {requested!r} was requested but only {torch.cuda.device_count()} "
                "CUDA device(s) exist",
                details={"requested": requested},
            )
    elif not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceUnavailable(
            f"device {requested!r} was requested (MEMSVC_DEVICE / MEMSVC_EMBEDDING_DEVICE) but "
            "MPS (Apple GPU) is not available here; unset it or set it to cpu",
            details={"requested": requested},
        )
    return requested
