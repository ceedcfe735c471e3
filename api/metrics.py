"""`GET /metrics` in the Prometheus text format.

What the store knows is read at each scrape, so every process serving the API answers the same: runs by
source and status, records by source and outcome (summed over runs: created, updated, unchanged, withdrawn,
failed), live datasets per source, and when each source last ran and last ran completely. The harvesting
process (`fedcat run`) adds its own counters: fetch latency and HTTP errors by source and kind
(harvester.pool). Process CPU and memory come with them.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..harvester import pool
from ..harvester.schedule import parse_time
from ..store import Store

router = APIRouter(tags=["operations"])


class StoreCollector(Collector):
    """Metrics read from the store at scrape time (a few aggregate queries over `runs` and `records`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        # plain read queries: the store has no aggregate of runs by status, and these are for metrics only
        runs = GaugeMetricFamily(
            "fedcat_runs", "Harvest runs kept in the store, by status.", labels=["source", "status"]
        )
        for source_id, status, count in self.store.runs_by_status():
            runs.add_metric([source_id, status], count)
        yield runs
        records = CounterMetricFamily(
            "fedcat_records",
            "Records handled by harvest runs, by outcome (seen again unchanged, created, updated, withdrawn, "
            "failed to map), summed over the runs kept.",
            labels=["source", "outcome"],
        )
        for source_id, sums in self.store.outcome_sums():
            for outcome, value in sums.items():
                records.add_metric([source_id, outcome], value)
        yield records
        datasets = GaugeMetricFamily(
            "fedcat_datasets", "Live (not withdrawn) records per source.", labels=["source"]
        )
        last_run = GaugeMetricFamily(
            "fedcat_source_last_run_timestamp_seconds",
            "When the source's last run started, by that run's status.",
            labels=["source", "status"],
        )
        last_complete = GaugeMetricFamily(
            "fedcat_source_last_complete_run_timestamp_seconds",
            "When the source's last complete run ended (alert on its age).",
            labels=["source"],
        )
        for source in self.store.sources():
            datasets.add_metric([source["id"]], source["datasets"])
        for source_id, started_at, status in self.store.last_runs():
            last_run.add_metric([source_id, status], parse_time(started_at).timestamp())
        for source_id, ended_at in self.store.last_complete_runs():
            last_complete.add_metric([source_id], parse_time(ended_at).timestamp())
        yield datasets
        yield last_run
        yield last_complete


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    registry = CollectorRegistry()
    registry.register(StoreCollector(request.app.state.store))
    ProcessCollector(registry=registry)
    body = generate_latest(registry) + generate_latest(pool.REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
