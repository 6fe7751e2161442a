"""The model tier: which local models are loaded, on which device, within which memory budget."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PrincipalDep, RuntimeDep
from memsvc.domain.types import Scope
from memsvc.errors import MemsvcError
from memsvc.models.device import pick_device
from memsvc.services import activation

router = APIRouter(tags=["models"])


class ModelOut(BaseModel):
    # Models add their own details (batching counters, dtype, ...): kept as they come.
    model_config = ConfigDict(extra="allow")

    name: str
    kind: str = Field(description="`embedding` or `causal_lm`.")
    device: str | None = Field(
        description="cuda, mps, cpu, or `remote` for a remote embedder; None: not loaded yet."
    )
    bytes: int = Field(description="Memory its weights take (0 when remote or not loaded).")
    load_seconds: float | None = Field(default=None, description="How long loading took.")
    loaded: bool = True
    pinned: bool = Field(default=False, description="Never unloaded to make room.")


class ActivationCachesOut(BaseModel):
    entries: int = Field(description="KV caches loaded in memory.")
    bytes: int
    budget_bytes: int = Field(description="MEMSVC_ACTIVATION_CACHE_BUDGET_MB, in bytes.")
    hits: int
    misses: int
    evictions: int
    loaded: list[str] = Field(description="Activation ids, least recently used first.")


class ModelsOut(BaseModel):
    default_device: str = Field(
        description="Where local models go: MEMSVC_DEVICE, else cuda, then mps, then cpu."
    )
    budget_bytes: int = Field(description="MEMSVC_MODEL_MEMORY_BUDGET_MB, in bytes.")
    used_bytes: int = Field(description="Bytes the loaded local models take together.")
    models: list[ModelOut]
    activation_caches: ActivationCachesOut


def _default_device(requested: str | None) -> str:
    try:
        return pick_device(requested)
    except (MemsvcError, ValueError):
        # A diagnostic endpoint still answers: the load itself reports the error.
        return requested or "cpu"


@router.get("/v1/models", response_model=ModelsOut)
async def list_models(rt: RuntimeDep, principal: PrincipalDep) -> ModelsOut:
    """The loaded models (the embedder first), their device and memory, and the model memory
    budget. Any key with the `read` scope."""
    principal.require(Scope.READ)
    registry = rt.models
    # Auto-detection imports torch the first time (seconds): not on the event loop.
    default_device = await anyio.to_thread.run_sync(_default_device, rt.settings.device)
    entries: list[dict[str, Any]] = registry.describe()
    return ModelsOut(
        default_device=default_device,
        budget_bytes=registry.budget_bytes,
        used_bytes=registry.used_bytes,
        models=[ModelOut.model_validate(entry) for entry in entries],
        activation_caches=ActivationCachesOut(**activation.describe_caches(rt)),
    )
