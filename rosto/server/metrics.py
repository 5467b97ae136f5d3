"""Prometheus metrics of one server process, on a registry of its own (one per app).

With several workers, each process counts its own requests and a scrape sees the worker
that answered it; run one worker per container when the totals matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from rosto import models

disable_created_metrics()  # process-wide: the *_created series only add noise to scrapes
_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, in_progress: Callable[[], float]):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rosto_http_requests",
            "HTTP requests by route and status",
            ["path", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "rosto_http_request_seconds",
            "Time to answer, by route",
            ["path"],
            buckets=_SECONDS,
            registry=r,
        )
        self.errors = Counter("rosto_errors", "Error responses by code", ["code"], registry=r)
        self.stage_seconds = Histogram(
            "rosto_stage_seconds",
            "Seconds per image spent in detection and in each feature",
            ["stage"],
            buckets=_SECONDS,
            registry=r,
        )
        self.faces = Histogram(
            "rosto_faces_per_image",
            "Faces found per analysed image",
            buckets=(0, 1, 2, 3, 5, 10, 20, 50),
            registry=r,
        )
        Gauge(
            "rosto_analyses_in_progress", "Analyses admitted and not finished", registry=r
        ).set_function(in_progress)
        r.register(_ModelRuns())

    def observe_analysis(self, faces: int, timings: dict[str, float]) -> None:
        self.faces.observe(faces)
        for stage, seconds in timings.items():
            self.stage_seconds.labels(stage).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ModelRuns(Collector):
    """Batches run per model (a batch of many faces counts once), from ``models.run_counts``
    at scrape time."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "rosto_model_runs", "Batches run per model since start", labels=["model"]
        )
        for name, count in sorted(list(models.run_counts.items())):
            family.add_metric([name], count)
        yield family
