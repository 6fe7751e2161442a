"""Prometheus metrics of one process.

Each app (each `Runtime`) owns its registry instead of using prometheus_client's global one:
tests build many apps in one process, and a global registry refuses a second metric of the same
name. Values that live elsewhere (queue depth in PostgreSQL, the model registry) are copied in
at scrape time by the /metrics route, so a scrape always shows the present state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

# Request latency buckets (seconds): from a cached read (a few ms) to a large batch add (tens
# of seconds), dense around the 100 ms search target.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A search signal takes from under a millisecond (fusion) to hundreds (BM25 on a large cube).
SIGNAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

# Routes label the latency histogram by their template (`/v1/cubes/{cube_id}/search`), never
# by the raw path: ids would make one series per memory. Requests that matched no route share
# one label, so a scan of random paths cannot grow the series either.
UNMATCHED = "unmatched"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Histogram(
            "memsvc_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status class.",
            ("method", "route", "status"),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.search_signal = Histogram(
            "memsvc_search_signal_duration_seconds",
            "Time per search stage: embed, lexical, dense, graph, fusion (and others).",
            ("signal",),
            buckets=SIGNAL_BUCKETS,
            registry=r,
        )
        self.searches = Counter("memsvc_searches", "Searches answered.", registry=r)
        self.queue_jobs = Gauge(
            "memsvc_queue_jobs",
            "Jobs in the PostgreSQL queue by queue, task and status (todo, doing, failed).",
            ("queue", "task", "status"),
            registry=r,
        )
        self.worker_heartbeat_age = Gauge(
            "memsvc_worker_heartbeat_age_seconds",
            "Seconds since the freshest worker heartbeat (-1: no worker ever beat).",
            registry=r,
        )
        self.model_loaded = Gauge(
            "memsvc_model_loaded",
            "1 when the model is loaded in this process, 0 when it is known but not loaded.",
            ("model", "kind", "device"),
            registry=r,
        )
        self.model_bytes = Gauge(
            "memsvc_model_resident_bytes",
            "Memory a loaded model's weights take.",
            ("model",),
            registry=r,
        )
        self.model_load_seconds = Gauge(
            "memsvc_model_load_seconds",
            "How long loading the model took.",
            ("model",),
            registry=r,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, f"{status // 100}xx").observe(seconds)

    def observe_search(self, timings_ms: Mapping[str, float]) -> None:
        self.searches.inc()
        for signal, ms in timings_ms.items():
            self.search_signal.labels(signal).observe(ms / 1000.0)

    def set_queue(self, counts: Iterable[tuple[str, str, str, int]]) -> None:
        """(queue, task, status, count) rows; series absent from them drop to zero, so a
        drained queue reads 0 rather than its last non-zero value."""
        self.queue_jobs.clear()
        for queue, task, status, count in counts:
            self.queue_jobs.labels(queue, task, status).set(count)

    def set_heartbeat_age(self, seconds: float | None) -> None:
        self.worker_heartbeat_age.set(-1 if seconds is None else seconds)

    def set_models(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Entries as ModelRegistry.describe() gives them (name, kind, device, bytes, ...)."""
        for gauge in (self.model_loaded, self.model_bytes, self.model_load_seconds):
            gauge.clear()
        for entry in entries:
            name = str(entry.get("name"))
            loaded = bool(entry.get("loaded", True)) and entry.get("device") is not None
            self.model_loaded.labels(
                name, str(entry.get("kind") or ""), str(entry.get("device") or "")
            ).set(1 if loaded else 0)
            self.model_bytes.labels(name).set(int(entry.get("bytes") or 0))
            if entry.get("load_seconds") is not None:
                self.model_load_seconds.labels(name).set(float(entry["load_seconds"]))

    def render(self) -> bytes:
        return generate_latest(self.registry)
