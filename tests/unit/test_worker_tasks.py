"""The task registry of a worker: every job kind, and the consolidation schedule."""

from __future__ import annotations

import procrastinate
import pytest
from pydantic import ValidationError

from memsvc.config import Settings
from memsvc.services import consolidation, enrichment, jobs
from workers.tasks import register


def _app() -> procrastinate.App:
    # Building a connector opens nothing: the registry is inspected, no job runs.
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo="dbname=none"))


def test_every_job_kind_is_registered():
    app = _app()
    register(app, cron="")
    assert {
        jobs.REINDEX_CUBE,
        enrichment.ENRICH_MEMORIES,
        consolidation.CONSOLIDATE_CUBE,
        consolidation.SCHEDULE_CONSOLIDATION,
    } <= set(app.tasks)
    assert app.periodic_registry.periodic_tasks == {}  # an empty cron schedules nothing


def test_the_cron_schedules_the_consolidation_round():
    app = _app()
    register(app, cron="*/5 * * * *")
    [periodic] = app.periodic_registry.periodic_tasks.values()
    assert periodic.task.name == consolidation.SCHEDULE_CONSOLIDATION
    assert periodic.cron == "*/5 * * * *"


def test_bad_schedules_and_kinds_are_refused_at_start():
    with pytest.raises(ValidationError):
        Settings(consolidation_cron="every tuesday")
    with pytest.raises(ValidationError):
        Settings(consolidation_kinds="forgetting,napping")
    assert Settings(consolidation_kinds=" forgetting , core ").consolidation_kinds == (
        "forgetting,core"
    )
