"""Activation (KV-cache) memory: build a cube's cache, read its state, generate with it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import ActivationAccepted, ActivationIn, ActivationOut, GenerateIn, GenerateOut
from memsvc.services import activation

router = APIRouter(prefix="/v1/cubes/{cube_id}", tags=["activation"])


@router.post("/activation", status_code=202, response_model=ActivationAccepted)
async def build_activation(
    cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep, body: ActivationIn | None = None
) -> ActivationAccepted:
    """Queue a build of the cube's KV cache: its core memory and strongest memories (or the
    ids given), rendered with the model's chat template and prefilled once."""
    body = body or ActivationIn()
    spec = activation.ActivationSpec(
        memory_ids=body.memory_ids,
        memory_types=[t.value for t in body.memory_types] if body.memory_types else None,
        quantization=body.quantization,
    )
    activation_id, job_id = await activation.request_build(
        rt, principal, cube_id, spec, model_name=body.model
    )
    return ActivationAccepted(activation_id=activation_id, job_id=job_id)


@router.get("/activation", response_model=ActivationOut)
async def get_activation(
    cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep
) -> ActivationOut:
    """The cube's newest build: its state, what it covers, and whether it is stale."""
    found = await activation.get_status(rt, principal, cube_id)
    row = found.row
    return ActivationOut(
        activation_id=row["id"],
        status=row["status"],
        stale=found.stale,
        stale_since=row["stale_since"],
        quantization=row["quantization"],
        model=row["model_id"],
        model_fingerprint=row["model_fingerprint"],
        tokenizer_hash=row["tokenizer_hash"],
        template_hash=row["template_hash"],
        dtype=row["dtype"],
        tokens=row["token_count"],
        bytes=row["bytes"],
        memory_ids=row["memory_ids"],
        memory_versions=row["memory_versions"],
        job_id=row["job_id"],
        error=row["error"],
        created_at=row["created_at"],
        built_at=row["built_at"],
    )


@router.post("/generate", response_model=GenerateOut)
async def generate(
    cube_id: uuid.UUID, body: GenerateIn, rt: RuntimeDep, principal: PrincipalDep
) -> GenerateOut:
    """Greedy generation with the cube's memories as the system message, reusing its
    activation cache when it is fresh (the prefill of the memories is skipped)."""
    out = await activation.generate(
        rt,
        principal,
        cube_id,
        prompt=body.prompt,
        max_new_tokens=body.max_new_tokens,
        use_activation=body.use_activation,
    )
    return GenerateOut(
        text=out.text,
        cached_tokens=out.cached_tokens,
        prompt_tokens=out.prompt_tokens,
        new_tokens=out.new_tokens,
        ttft_ms=out.ttft_ms,
        total_ms=out.total_ms,
        activation_id=out.activation_id,
        activation=out.activation,  # type: ignore[arg-type]
        model=out.model,
    )
