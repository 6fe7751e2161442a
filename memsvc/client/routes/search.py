"""Search one cube, several cubes, a prompt-ready context, and thoughts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from typing_extensions import Unpack

from memsvc.client.calls import compact, model
from memsvc.client.endpoints import Parts, route
from memsvc.client.models import Context, SearchResult, ThoughtRecall
from memsvc.client.routes import Id


class SearchOptions(TypedDict, total=False):
    """The search body besides the query (server defaults for what is left out)."""

    top_k: int
    mode: str  # hybrid (default), dense, lexical, graph
    memory_types: Sequence[str]
    # user_id, agent_id, session_id, tags, metadata, occurred_after, occurred_before, min_trust
    filters: Mapping[str, Any]
    include_links: bool
    min_score: float
    as_of: datetime
    fusion: Mapping[str, Any]  # method (calibrated, minmax, rrf), dense_weight, graph_weight
    time: str  # auto, filter, off: how a time expression in the query is used
    now: datetime


# Searches, context and recall only read (a search updates recall counts, harmlessly twice):
# they are retried like GETs.
class SearchRoutes:
    @route("POST", "/v1/cubes/{cube_id}/search", model(SearchResult), idempotent=True)
    def search(cube_id: Id, query: str, **options: Unpack[SearchOptions]) -> Parts:
        """Search a cube. Counts as a recall of the memories returned."""
        return Parts(ids={"cube_id": cube_id}, body={"query": query, **compact(**options)})

    @route("POST", "/v1/search", model(SearchResult), idempotent=True)
    def search_cubes(cube_ids: Sequence[Id], query: str, **options: Unpack[SearchOptions]) -> Parts:
        """Search several of your cubes as one corpus."""
        body = {"cube_ids": list(cube_ids), "query": query, **compact(**options)}
        return Parts(body=body)

    @route("POST", "/v1/cubes/{cube_id}/context", model(Context), idempotent=True)
    def get_context(
        cube_id: Id,
        query: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        budget_tokens: int | None = None,
        user_id: str | None = None,
    ) -> Parts:
        """A prompt-ready context across every memory type within `budget_tokens`: core
        blocks first, then by relevance to the query (or the last user messages)."""
        body = compact(query=query, messages=messages, budget_tokens=budget_tokens)
        return Parts(ids={"cube_id": cube_id}, body={**body, **compact(user_id=user_id)})

    @route("POST", "/v1/cubes/{cube_id}/thoughts/recall", model(ThoughtRecall), idempotent=True)
    def recall_thoughts(
        cube_id: Id, query: str, top_k: int | None = None, user_id: str | None = None
    ) -> Parts:
        """The thoughts nearest the query (TiM)."""
        body = compact(query=query, top_k=top_k, user_id=user_id)
        return Parts(ids={"cube_id": cube_id}, body=body)
