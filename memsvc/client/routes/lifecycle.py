"""Background work: jobs, consolidation, thoughts, and activation (KV-cache) memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memsvc.client.calls import Wait, compact, model
from memsvc.client.endpoints import Parts, Plan, Procedure, route
from memsvc.client.models import (
    Activation,
    ActivationAccepted,
    Generation,
    Job,
    JobAccepted,
    Thoughts,
)
from memsvc.client.routes import Id

CUBE = "/v1/cubes/{cube_id}"


class JobTimeout(TimeoutError):
    """The job did not finish in the time given (it may still finish later)."""

    def __init__(self, job: Job):
        super().__init__(f"job {job.id} is still {job.status}")
        self.job = job


@route("GET", "/v1/jobs/{job_id}", model(Job))
def get_job(job_id: Id) -> Parts:
    """A background job: queued, running, done or failed."""
    return Parts(ids={"job_id": job_id})


def poll_job(job_id: Id, *, timeout: float = 60.0, interval: float = 0.5) -> Plan[Job]:
    """Poll the job until it is done or failed; `JobTimeout` after `timeout` seconds of
    waiting (counted in polls, so a test's sleep hook needs no clock)."""
    for _ in range(max(1, round(timeout / interval))):
        job: Job = yield get_job.call(job_id)
        if job.finished:
            return job
        yield Wait(interval)
    raise JobTimeout((yield get_job.call(job_id)))


class LifecycleRoutes:
    get_job = get_job
    wait_for_job = Procedure(poll_job)

    @route("POST", CUBE + "/consolidate", model(JobAccepted))
    def consolidate(cube_id: Id, kinds: Sequence[str] | None = None) -> Parts:
        """Queue the cube's consolidation (thoughts, summaries, core, forgetting; or the
        `kinds` named)."""
        return Parts(ids={"cube_id": cube_id}, body=compact(kinds=kinds))

    @route("POST", CUBE + "/thoughts", model(Thoughts))
    def add_thoughts(
        cube_id: Id,
        question: str | None = None,
        answer: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> Parts:
        """TiM post-thinking on a question and its answer (or a conversation)."""
        body = compact(question=question, answer=answer, messages=messages)
        body |= compact(user_id=user_id, agent_id=agent_id, session_id=session_id)
        return Parts(ids={"cube_id": cube_id}, body=body)

    @route("POST", CUBE + "/activation", model(ActivationAccepted))
    def build_activation(
        cube_id: Id,
        *,
        memory_ids: Sequence[Id] | None = None,
        memory_types: Sequence[str] | None = None,
        model: str | None = None,
        quantization: str | None = None,
    ) -> Parts:
        """Queue a build of the cube's KV cache (follow `job_id`)."""
        body = compact(memory_ids=memory_ids, memory_types=memory_types)
        body |= compact(model=model, quantization=quantization)
        return Parts(ids={"cube_id": cube_id}, body=body)

    @route("GET", CUBE + "/activation", model(Activation))
    def get_activation(cube_id: Id) -> Parts:
        """The newest build: status, model fingerprint, tokens, bytes, coverage, staleness."""
        return Parts(ids={"cube_id": cube_id})

    @route("POST", CUBE + "/generate", model(Generation), idempotent=True)
    def generate(
        cube_id: Id,
        prompt: str,
        *,
        max_new_tokens: int | None = None,
        use_activation: bool | None = None,
    ) -> Parts:
        """Greedy generation with the cube's memories, reusing its activation cache."""
        body = compact(prompt=prompt, max_new_tokens=max_new_tokens)
        return Parts(ids={"cube_id": cube_id}, body=body | compact(use_activation=use_activation))
