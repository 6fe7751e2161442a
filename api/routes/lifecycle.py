"""The memory lifecycle: consolidation jobs, TiM thoughts, MIRIX core blocks, active context."""

from __future__ import annotations

import itertools
import uuid

from fastapi import APIRouter, Response

from api.deps import PrincipalDep, RuntimeDep
from api.routes.jobs import JobAccepted
from api.schemas import (
    ArchivedOut,
    ConsolidateIn,
    ContextIn,
    ContextItemOut,
    ContextOut,
    CoreAppendIn,
    CoreBlockIn,
    CoreBlockOut,
    MemoryList,
    MemoryOut,
    MergedOut,
    MessageIn,
    ShortText,
    ThoughtHitOut,
    ThoughtRecallIn,
    ThoughtRecallOut,
    ThoughtsIn,
    ThoughtsOut,
)
from memsvc.domain.types import MemoryType
from memsvc.errors import InvalidRequest
from memsvc.services import consolidation, context, core, thoughts

router = APIRouter(prefix="/v1/cubes/{cube_id}", tags=["lifecycle"])


@router.post("/consolidate", status_code=202, response_model=JobAccepted)
async def consolidate(
    cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep, body: ConsolidateIn | None = None
) -> JobAccepted:
    """Queue the cube's consolidation: TiM thought forget/merge, MemoryBank summaries and
    portraits, core-block condensing and the forgetting sweep (or the `kinds` named)."""
    kinds = body.kinds if body is not None else None
    return JobAccepted(job_id=await consolidation.enqueue(rt, principal, cube_id, kinds))


def pairs_from(messages: list[MessageIn]) -> list[thoughts.QA]:
    """Each user turn and the assistant turn right after it make a question and its answer."""
    pairs = []
    for before, after in itertools.pairwise(messages):
        if before.role == "user" and after.role == "assistant":
            pairs.append(thoughts.QA(before.content, after.content))
    return pairs


@router.post("/thoughts", status_code=201, response_model=ThoughtsOut)
async def add_thoughts(
    cube_id: uuid.UUID, body: ThoughtsIn, rt: RuntimeDep, principal: PrincipalDep
) -> ThoughtsOut:
    """TiM post-thinking: thoughts from a question and its answer (or a conversation), with
    contradicted thoughts forgotten and near-duplicates merged."""
    if body.messages is not None:
        if body.question is not None or body.answer is not None:
            raise InvalidRequest(
                "send either question and answer, or messages, not both", code="invalid_request"
            )
        pairs = pairs_from(body.messages)
        if not pairs:
            raise InvalidRequest(
                "messages hold no user turn followed by an assistant turn", code="empty_batch"
            )
    else:
        if body.question is None or body.answer is None:
            raise InvalidRequest("send question and answer (or messages)", code="empty_batch")
        pairs = [thoughts.QA(body.question, body.answer)]
    outcome = await thoughts.add_thoughts(
        rt,
        principal,
        cube_id,
        pairs,
        user_id=body.user_id,
        agent_id=body.agent_id,
        session_id=body.session_id,
    )
    return ThoughtsOut(
        thoughts=[MemoryOut.model_validate(m) for m in outcome.thoughts],
        archived=[
            ArchivedOut(memory=MemoryOut.model_validate(m), reason=r) for m, r in outcome.archived
        ],
        merged=[
            MergedOut(memory=MemoryOut.model_validate(m), merged_ids=ids)
            for m, ids in outcome.merged
        ],
        made_by="llm" if outcome.made_by == "llm" else "fallback",
    )


@router.post("/thoughts/recall", response_model=ThoughtRecallOut)
async def recall_thoughts(
    cube_id: uuid.UUID, body: ThoughtRecallIn, rt: RuntimeDep, principal: PrincipalDep
) -> ThoughtRecallOut:
    """TiM hand-out: the thoughts nearest the query, from its LSH buckets only."""
    hits = await thoughts.recall_thoughts(
        rt, principal, cube_id, body.query, top_k=body.top_k, user_id=body.user_id
    )
    return ThoughtRecallOut(
        results=[ThoughtHitOut(memory=MemoryOut.model_validate(m), score=s) for m, s in hits]
    )


@router.get("/core", response_model=MemoryList)
async def list_core(
    cube_id: uuid.UUID, rt: RuntimeDep, principal: PrincipalDep, user_id: ShortText | None = None
) -> MemoryList:
    """The core memories for a user (and the cube-wide ones), oldest first."""
    blocks = await core.list_blocks(rt, principal, cube_id, user_id)
    return MemoryList(items=[MemoryOut.model_validate(m) for m in blocks], next_cursor=None)


@router.put(
    "/core/{label}",
    response_model=CoreBlockOut,
    responses={201: {"model": CoreBlockOut, "description": "The block was created."}},
)
async def rewrite_core(
    cube_id: uuid.UUID,
    label: str,
    body: CoreBlockIn,
    rt: RuntimeDep,
    principal: PrincipalDep,
    response: Response,
) -> CoreBlockOut:
    """Rewrite (or create) the `human` or `persona` block."""
    written = await core.write_block(
        rt, principal, cube_id, label, body.value, user_id=body.user_id, append=False
    )
    if written.created:
        response.status_code = 201
    return _block_out(written)


@router.post(
    "/core/{label}/append",
    response_model=CoreBlockOut,
    responses={201: {"model": CoreBlockOut, "description": "The block was created."}},
)
async def append_core(
    cube_id: uuid.UUID,
    label: str,
    body: CoreAppendIn,
    rt: RuntimeDep,
    principal: PrincipalDep,
    response: Response,
) -> CoreBlockOut:
    """Append to the `human` or `persona` block (created when missing); a block at 90% of its
    limit is condensed to about half."""
    written = await core.write_block(
        rt, principal, cube_id, label, body.content, user_id=body.user_id, append=True
    )
    if written.created:
        response.status_code = 201
    return _block_out(written)


def _block_out(written: core.BlockWrite) -> CoreBlockOut:
    return CoreBlockOut(
        block=MemoryOut.model_validate(written.block),
        created=written.created,
        condensed=written.condensed,
    )


@router.post("/context", response_model=ContextOut)
async def build_context(
    cube_id: uuid.UUID, body: ContextIn, rt: RuntimeDep, principal: PrincipalDep
) -> ContextOut:
    """A prompt-ready context across every memory type within `budget_tokens`: core blocks
    first, then by relevance to the query (or the last user messages)."""
    packed = await context.build_context(
        rt,
        principal,
        cube_id,
        query=body.query,
        messages=[context.Message(m.role, m.content) for m in body.messages or []],
        budget_tokens=body.budget_tokens,
        user_id=body.user_id,
    )
    return ContextOut(
        context=packed.text,
        tokens=packed.tokens,
        budget_tokens=body.budget_tokens,
        items=[
            ContextItemOut(
                memory_id=i.memory_id, memory_type=MemoryType(i.memory_type), score=i.score
            )
            for i in packed.included
        ],
        omitted=packed.omitted,
        truncated=packed.truncated,
    )
