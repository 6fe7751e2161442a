"""Conversation ingestion: turns stored, typed memories inferred, facts kept current."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import InferredOut, IngestIn, IngestOut, MemoryOut
from memsvc.services import ingest

router = APIRouter(prefix="/v1/cubes/{cube_id}", tags=["messages"])


@router.post(
    "/messages",
    status_code=201,
    response_model=IngestOut,
    responses={202: {"model": IngestOut, "description": "Accepted; ingested by the job."}},
)
async def add_messages(
    cube_id: uuid.UUID,
    body: IngestIn,
    rt: RuntimeDep,
    principal: PrincipalDep,
    response: Response,
) -> IngestOut:
    """Store the turns as episodic memories and (with `infer`, the default) extract typed
    memories from them, each added, reinforcing, updating or superseding what is stored.
    Small batches are done before the reply (201); large ones are queued (202). The turn ids
    are final either way."""
    conv = ingest.Conversation(
        messages=[ingest.ChatMessage(**m.model_dump()) for m in body.messages],
        user_id=body.user_id,
        agent_id=body.agent_id,
        session_id=body.session_id,
        infer=body.infer,
        max_trust=body.max_trust,
    )
    done = await ingest.ingest(rt, principal, cube_id, conv, mode=body.mode)
    if done.status == "queued":
        response.status_code = 202
    return IngestOut(
        status=done.status,
        job_id=done.job_id,
        message_ids=done.message_ids,
        turn_ids=done.turn_ids,
        turns=[MemoryOut.model_validate(t) for t in done.turns],
        memories=[inferred_out(i) for i in done.memories],
        extracted_by=done.extracted_by,
    )


# The update rules say "update"; the API says whose: an inferred one, not a client's PATCH.
_DECISION = {"update": "inferred_update"}


def inferred_out(i: ingest.Inferred) -> InferredOut:
    return InferredOut(
        decision=_DECISION.get(i.decision.value, i.decision.value),  # type: ignore[arg-type]
        memory=MemoryOut.model_validate(i.memory),
        previous_id=i.previous_id,
        reason=i.reason,
        message_index=i.message_index,
    )
