"""Activation memory: KV caches of a cube's hot memories that skip the prefill at generation.

A build composes the cube's prefix (core memory first, then its strongest memories, or the
memories asked for), renders it as the system message of the model's chat template, runs one
prefill from position 0 and stores the KV cache (memsvc.activation.kvcache). A generation renders
the same system text around its prompt and reuses the cache only when the prompt's tokens start
with exactly the cached ones: a contiguous prefix encoded from position 0, never caches encoded
apart and glued together. It decodes from a clone, so the stored cache serves every request
unchanged.

A cache is stale as soon as a memory it covers changes (a trigger marks it; the versions it
records are checked again on every read). A stale cache is not used: the generation composes the
prefix afresh, and a job rebuilds the cache (queued at once, and by the periodic refresh).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from memsvc.activation import kvcache, prefix
from memsvc.activation.lm import LanguageModel
from memsvc.activation.quantize import SCHEMES
from memsvc.domain.types import SEARCHABLE_STATUSES, MemoryType, Scope
from memsvc.errors import InvalidRequest, MemsvcError, NotFound
from memsvc.models.device import pick_device
from memsvc.models.registry import LoadedModel, Loader
from memsvc.services.auth import Principal
from memsvc.services.cubes import require_cube
from memsvc.services.runtime import Runtime
from memsvc.store import activations as store
from memsvc.store import jobs as job_store

log = logging.getLogger(__name__)

BUILD_ACTIVATION = "build_activation"
REFRESH_ACTIVATIONS = "refresh_activations"
# Memories read to fill a prefix: far more than 2048 tokens' worth.
CANDIDATE_LIMIT = 2000
MAX_MEMORY_IDS = 1000
ACTIVATION_NOT_FOUND = "this cube has no activation memory yet: POST /v1/cubes/{id}/activation"
ACTIVATABLE = [t.value for t in MemoryType if t is not MemoryType.KNOWLEDGE_VAULT]


@dataclasses.dataclass(frozen=True)
class ActivationSpec:
    memory_ids: list[uuid.UUID] | None = None
    memory_types: list[str] | None = None
    quantization: str = "fp32"

    def as_json(self) -> dict[str, Any]:
        return {
            "memory_ids": [str(i) for i in self.memory_ids] if self.memory_ids else None,
            "memory_types": self.memory_types,
            "quantization": self.quantization,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivationSpec:
        ids = data.get("memory_ids")
        return cls(
            memory_ids=[uuid.UUID(i) for i in ids] if ids else None,
            memory_types=data.get("memory_types"),
            quantization=data.get("quantization", "fp32"),
        )


@dataclasses.dataclass(frozen=True)
class Activation:
    row: dict[str, Any]
    stale: bool

    @property
    def id(self) -> uuid.UUID:
        activation_id: uuid.UUID = self.row["id"]
        return activation_id


@dataclasses.dataclass(frozen=True)
class Generated:
    text: str
    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    ttft_ms: float
    total_ms: float
    activation_id: uuid.UUID | None
    # used, stale, missing, off (not asked) or prefix_mismatch: why the cache was (not) used.
    activation: str
    model: str


# --- the model --------------------------------------------------------------------------


def _estimate_bytes(rt: Runtime) -> int:
    """The weights' size on disk, when they are there already (a fair guess of RAM for fp32)."""
    name = rt.settings.activation_model
    path = Path(name).expanduser()
    if name == "smollm2":
        path = rt.settings.data_dir / "models" / "smollm2-135m-instruct"
    files = list(path.glob("*.safetensors")) if path.is_dir() else []
    size = sum(f.stat().st_size for f in files)
    if rt.settings.activation_dtype != "float32":
        size //= 2
    return size


def load_model(rt: Runtime) -> LanguageModel:
    """The activation model, loaded once per process (blocking: call from a thread)."""
    settings = rt.settings

    def load() -> tuple[Any, str, int, dict[str, Any]]:
        device = pick_device(settings.device)
        lm = LanguageModel.load(
            settings.activation_model,
            data_dir=settings.data_dir,
            device=device,
            dtype=settings.activation_dtype,
        )
        details = {
            "dtype": lm.dtype,
            "fingerprint": lm.fingerprint,
            "path": str(lm.path),
            "max_positions": lm.max_positions,
        }
        return lm, device, lm.resident_bytes, details

    loaded: LoadedModel = rt.models.load(
        f"activation:{settings.activation_model}",
        Loader(kind="causal_lm", load=load, estimate_bytes=_estimate_bytes(rt)),
    )
    lm: LanguageModel = loaded.handle
    return lm


async def model(rt: Runtime) -> LanguageModel:
    return await anyio.to_thread.run_sync(load_model, rt)


def identity_of(lm: LanguageModel) -> kvcache.CacheIdentity:
    return kvcache.CacheIdentity(
        model_id=lm.name,
        model_fingerprint=lm.fingerprint,
        tokenizer_hash=lm.tokenizer_hash,
        template_hash=lm.template_hash,
        dtype=lm.dtype,
    )


# --- requests ---------------------------------------------------------------------------


def _check_spec(rt: Runtime, spec: ActivationSpec, model_name: str | None) -> None:
    if model_name is not None and model_name != rt.settings.activation_model:
        raise InvalidRequest(
            f"this server's activation model is {rt.settings.activation_model!r} "
            "(MEMSVC_ACTIVATION_MODEL); omit `model` or name that one",
            code="unknown_model",
        )
    if spec.quantization not in SCHEMES:
        raise InvalidRequest(
            f"quantization must be one of {', '.join(SCHEMES)}", code="invalid_quantization"
        )
    for memory_type in spec.memory_types or []:
        if memory_type not in ACTIVATABLE:
            raise InvalidRequest(
                f"memory type {memory_type!r} cannot be activated; choose from "
                f"{', '.join(ACTIVATABLE)} (vault secrets are never written to a cache)",
                code="invalid_memory_type",
            )
    if spec.memory_ids is not None and len(spec.memory_ids) > MAX_MEMORY_IDS:
        raise InvalidRequest(f"at most {MAX_MEMORY_IDS} memory_ids", code="too_many_ids")


async def _check_ids(conn: Any, cube_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    found = await store.by_ids(conn, cube_id=cube_id, ids=ids)
    live = {s.value for s in SEARCHABLE_STATUSES}
    missing = [str(i) for i in ids if i not in found or found[i][1] not in live]
    if missing:
        raise NotFound(
            f"no live memory {missing[0]} in this cube",
            code="memory_not_found",
            details={"memory_ids": missing},
        )
    vault = [str(i) for i in ids if found[i][0].memory_type not in ACTIVATABLE]
    if vault:
        raise InvalidRequest(
            "knowledge-vault memories are never written to an activation cache",
            code="invalid_memory_type",
            details={"memory_ids": vault},
        )


async def _queue_build(
    conn: Any, *, tenant_id: uuid.UUID, cube_id: uuid.UUID, spec: ActivationSpec
) -> tuple[uuid.UUID, uuid.UUID]:
    activation_id, job_id = uuid.uuid4(), uuid.uuid4()
    await store.insert_activation(
        conn,
        {
            "id": activation_id,
            "tenant_id": tenant_id,
            "cube_id": cube_id,
            "status": "queued",
            "spec": spec.as_json(),
            "job_id": job_id,
            "quantization": spec.quantization,
            "memory_ids": [],
            "memory_versions": {},
        },
    )
    await job_store.defer_job(
        conn,
        task_name=BUILD_ACTIVATION,
        args={
            "job_id": str(job_id),
            "tenant_id": str(tenant_id),
            "cube_id": str(cube_id),
            "activation_id": str(activation_id),
        },
        # One build of a cube at a time (they would only replace each other).
        lock=f"activation:{cube_id}",
    )
    return activation_id, job_id


async def request_build(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    spec: ActivationSpec,
    *,
    model_name: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """Queue a build of the cube's activation cache; return (activation_id, job_id)."""
    principal.require(Scope.WRITE)
    _check_spec(rt, spec, model_name)
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
        if spec.memory_ids:
            await _check_ids(conn, cube.id, spec.memory_ids)
        return await _queue_build(conn, tenant_id=cube.tenant_id, cube_id=cube.id, spec=spec)


async def _staleness(conn: Any, row: dict[str, Any]) -> bool:
    if row["status"] != "ready":
        return False
    if row["stale_since"] is not None:
        return True
    recorded = {uuid.UUID(k): v for k, v in row["memory_versions"].items()}
    now = await store.current_versions(conn, cube_id=row["cube_id"], ids=list(recorded))
    return now != recorded


async def get_status(rt: Runtime, principal: Principal, cube_id: uuid.UUID) -> Activation:
    """The cube's newest activation build, with whether it is stale."""
    principal.require(Scope.READ)
    async with rt.db.transaction() as conn:
        await require_cube(conn, principal, cube_id)
        row = await store.latest(conn, cube_id=cube_id)
        if row is None:
            raise NotFound(ACTIVATION_NOT_FOUND, code="activation_not_found")
        if row["status"] != "ready":
            ready = await store.latest(conn, cube_id=cube_id, status="ready")
            # A rebuild is under way: report it, with the staleness of the cache it replaces.
            stale = await _staleness(conn, ready) if ready else False
            return Activation(row, stale)
        return Activation(row, await _staleness(conn, row))


# --- the build (a job) ------------------------------------------------------------------


def cache_path(rt: Runtime, cube_id: uuid.UUID, activation_id: uuid.UUID) -> Path:
    return rt.settings.data_dir / "activations" / str(cube_id) / f"{activation_id}.safetensors"


async def _candidates(
    rt: Runtime, conn: Any, cube_id: uuid.UUID, spec: ActivationSpec
) -> list[prefix.PrefixMemory]:
    if spec.memory_ids:
        found = await store.by_ids(conn, cube_id=cube_id, ids=spec.memory_ids)
        live = {s.value for s in SEARCHABLE_STATUSES}
        # In the order asked for, core blocks first; gone or vault ones are skipped.
        chosen = [
            found[i][0]
            for i in spec.memory_ids
            if i in found and found[i][1] in live and found[i][0].memory_type in ACTIVATABLE
        ]
        return prefix.priority([m for m in chosen if m.memory_type == "core"], chosen)
    types = spec.memory_types
    core = []
    if not types or MemoryType.CORE.value in types:
        core = await store.core_memories(conn, cube_id=cube_id)
    ranked = await store.strongest(
        conn,
        cube_id=cube_id,
        memory_types=[t for t in types if t != MemoryType.CORE.value] if types else None,
        now=rt.now(),
        limit=CANDIDATE_LIMIT,
    )
    if types and set(types) == {MemoryType.CORE.value}:
        ranked = []
    return prefix.priority(core, ranked)


def compose_for(
    lm: LanguageModel, candidates: list[prefix.PrefixMemory], max_tokens: int
) -> prefix.Prefix:
    """The prefix that fits the token budget (and the model's context, leaving room to ask)."""
    budget = min(max_tokens, max(16, lm.max_positions // 2))
    return prefix.compose(
        candidates,
        count_text=lm.count_tokens,
        count_rendered=lambda system: lm.count_tokens(lm.render(system, None)),
        max_tokens=budget,
    )


async def build(
    rt: Runtime,
    *,
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    cube_id: uuid.UUID,
    activation_id: uuid.UUID,
) -> dict[str, Any]:
    """Build one queued activation cache. Running it again after it finished changes nothing."""
    async with rt.db.transaction() as conn:
        row = await store.get_activation(conn, activation_id=activation_id, lock=True)
        if row is None or row["tenant_id"] != tenant_id or row["status"] in ("ready", "replaced"):
            return {"activation_id": str(activation_id), "built": False}
        await store.set_fields(conn, activation_id=activation_id, status="building", error=None)
        spec = ActivationSpec.from_json(row["spec"])
        candidates = await _candidates(rt, conn, cube_id, spec)
    try:
        lm = await model(rt)
        composed = await anyio.to_thread.run_sync(
            compose_for, lm, candidates, rt.settings.activation_max_tokens
        )
        token_ids = await anyio.to_thread.run_sync(lm.encode, lm.render(composed.text, None))
        layers = await anyio.to_thread.run_sync(lm.prefill, token_ids)
        path = cache_path(rt, cube_id, activation_id)
        size = await anyio.to_thread.run_sync(
            kvcache.save, path, layers, token_ids, identity_of(lm), spec.quantization
        )
    except MemsvcError as exc:
        async with rt.db.transaction() as conn:
            await store.set_fields(
                conn, activation_id=activation_id, status="failed", error=exc.message
            )
        log.warning("activation build failed", extra={"cube_id": str(cube_id), "error": str(exc)})
        return {"job_id": str(job_id), "built": False, "error": exc.message}
    versions = {m.id: m.version for m in composed.memories}
    built_at = rt.now()
    async with rt.db.transaction() as conn:
        now_versions = await store.current_versions(conn, cube_id=cube_id, ids=list(versions))
        await store.set_fields(
            conn,
            activation_id=activation_id,
            status="ready",
            model_id=lm.name,
            model_fingerprint=lm.fingerprint,
            tokenizer_hash=lm.tokenizer_hash,
            template_hash=lm.template_hash,
            prefix_text=composed.text,
            dtype=lm.dtype,
            token_count=len(token_ids),
            bytes=size,
            memory_ids=list(versions),
            memory_versions={str(k): v for k, v in versions.items()},
            path=str(path),
            built_at=built_at,
            # A covered memory that changed while we prefilled: stale from birth (the
            # trigger only watches ready builds).
            stale_since=built_at if now_versions != versions else None,
        )
        replaced = await store.replace_older(
            conn, cube_id=cube_id, newer=activation_id, built_at=built_at
        )
    for old in replaced:
        Path(old).unlink(missing_ok=True)
    log.info(
        "activation built",
        extra={"cube_id": str(cube_id), "tokens": len(token_ids), "bytes": size},
    )
    return {
        "job_id": str(job_id),
        "activation_id": str(activation_id),
        "built": True,
        "tokens": len(token_ids),
        "bytes": size,
        "memories": len(versions),
        "left_out": composed.left_out,
    }


async def refresh_stale(rt: Runtime) -> int:
    """Queue a rebuild of every stale cache that has none under way (the periodic job)."""
    queued = 0
    async with rt.db.transaction() as conn:
        for row in await store.stale_builds(conn):
            await _queue_build(
                conn,
                tenant_id=row["tenant_id"],
                cube_id=row["cube_id"],
                spec=ActivationSpec.from_json(row["spec"]),
            )
            queued += 1
    return queued


# --- generation -------------------------------------------------------------------------


async def _cached_layers(
    rt: Runtime, lm: LanguageModel, row: dict[str, Any]
) -> kvcache.StoredCache:
    """The build's cache from the LRU, or read from its file (and kept, budget allowing)."""
    key = row["id"]
    stored: kvcache.StoredCache | None = rt.activation_caches.get(key)
    if stored is None:
        stored = await anyio.to_thread.run_sync(kvcache.load, Path(row["path"]), identity_of(lm))
        rt.activation_caches.put(key, stored, stored.nbytes)
    return stored


async def generate(
    rt: Runtime,
    principal: Principal,
    cube_id: uuid.UUID,
    *,
    prompt: str,
    max_new_tokens: int,
    use_activation: bool = True,
) -> Generated:
    """Greedy generation with the cube's memories as the system message."""
    principal.require(Scope.READ)
    if max_new_tokens > rt.settings.activation_max_new_tokens:
        raise InvalidRequest(
            f"max_new_tokens is at most {rt.settings.activation_max_new_tokens}",
            code="invalid_request",
        )
    async with rt.db.transaction() as conn:
        cube = await require_cube(conn, principal, cube_id)
        row = await store.latest(conn, cube_id=cube.id, status="ready") if use_activation else None
        stale = await _staleness(conn, row) if row is not None else False
        spec = ActivationSpec.from_json(row["spec"]) if row is not None else ActivationSpec()
        candidates = await _candidates(rt, conn, cube.id, spec) if row is None or stale else []
        if row is not None and stale:
            in_flight = await store.in_flight(conn, cube_id=cube.id)
            if not in_flight:
                await _queue_build(conn, tenant_id=cube.tenant_id, cube_id=cube.id, spec=spec)
    lm = await model(rt)
    if row is not None:
        # A cache of other weights is refused outright, not silently bypassed.
        kvcache.check_identity(
            {
                k: str(row[k])
                for k in (
                    "model_fingerprint",
                    "tokenizer_hash",
                    "template_hash",
                    "dtype",
                    "model_id",
                )
            },
            identity_of(lm),
        )
    if not use_activation:
        status = "off"
    else:
        status = "missing" if row is None else "stale" if stale else "used"
    cached = None
    if status == "used":
        assert row is not None
        system = row["prefix_text"]
        cached = await _cached_layers(rt, lm, row)
    else:
        composed = await anyio.to_thread.run_sync(
            compose_for, lm, candidates, rt.settings.activation_max_tokens
        )
        system = composed.text
    token_ids = await anyio.to_thread.run_sync(lm.encode, lm.render(system, prompt))
    if len(token_ids) + max_new_tokens > lm.max_positions:
        raise InvalidRequest(
            f"the prompt ({len(token_ids)} tokens with the memories) and max_new_tokens exceed "
            f"the model's {lm.max_positions} positions",
            code="prompt_too_long",
        )
    cached_tokens = 0
    if cached is not None:
        n = cached.token_count
        if token_ids[:n] == cached.token_ids and len(token_ids) > n:
            cached_tokens = n
        else:
            status, cached = "prefix_mismatch", None
    result = await anyio.to_thread.run_sync(
        lambda: lm.generate(
            token_ids,
            max_new_tokens=max_new_tokens,
            cached=cached.layers if cached is not None else None,
            cached_tokens=cached_tokens,
        )
    )
    return Generated(
        text=result.text,
        prompt_tokens=len(token_ids),
        cached_tokens=cached_tokens,
        new_tokens=len(result.token_ids),
        ttft_ms=round(result.ttft_s * 1000, 2),
        total_ms=round(result.total_s * 1000, 2),
        activation_id=row["id"] if row is not None else None,
        activation=status,
        model=lm.name,
    )


def describe_caches(rt: Runtime) -> dict[str, Any]:
    return {**rt.activation_caches.stats(), "loaded": [str(k) for k in rt.activation_caches.keys()]}
