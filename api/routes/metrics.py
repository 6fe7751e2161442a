"""Prometheus metrics at /metrics (text exposition format)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import RuntimeDep
from api.errors import error_response
from memsvc.observability.metrics import CONTENT_TYPE
from memsvc.store import jobs as job_store

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


# Outside /v1, so no key is asked (as for /healthz): a scraper holds no tenant's key, and the
# series carry route templates, counts and timings, never ids or content.
@router.get("/metrics", include_in_schema=False)
async def metrics(rt: RuntimeDep) -> Response:
    if not rt.settings.metrics_enabled:
        return error_response(404, "not_found", "metrics are disabled (MEMSVC_METRICS_ENABLED)")
    m = rt.metrics
    try:
        async with rt.db.engine.connect() as conn:
            m.set_queue(await job_store.queue_counts(conn))
            beat, now = await job_store.latest_worker_heartbeat(conn)
            m.set_heartbeat_age(None if beat is None else (now - beat).total_seconds())
    except Exception as exc:  # the database is down: the in-process series still answer
        log.warning("metrics: queue depth unavailable (%s)", type(exc).__name__)
    m.set_models(rt.models.describe())
    return Response(m.render(), media_type=CONTENT_TYPE)
