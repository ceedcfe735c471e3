"""Concurrency and scheduling over real HTTP on 127.0.0.1: per-host limits counted at the servers, one run per
source, the scheduler's catch-up after a restart, and a graceful shutdown in the middle of a run."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer, Reply
from fedcat.harvester.pool import AlreadyRunning, RunPool
from fedcat.harvester.run import harvest
from fedcat.harvester.schedule import HarvestService, missed_schedule
from fedcat.harvester.sources import Source, parse_config
from fedcat.store import Store

FAST = {"connect_timeout": 1, "read_timeout": 2, "retries": 1, "backoff": 0.01, "run_budget": 30}
# once a day, twelve hours from now: no fire time comes while a test runs, the last one was hours ago
DAILY = f"0 {(datetime.now(UTC).hour + 12) % 24} * * *"


def serve_city(portal: PortalServer, prefix: str, page_size: int = 5, delay: float = 0.0) -> tuple[str, int]:
    base = portal.url(prefix)
    datasets = city_datasets(base)
    for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", page_size).items():
        portal.add(f"{prefix}/catalog.ttl?page={number}", body, delay=delay)
    return base + "/catalog.ttl?page=1", len(datasets)


def config_for(*sources: dict, **settings):
    return parse_config({"settings": {"http": FAST, **settings}, "sources": list(sources)})


def source(source_id: str, url: str, **extra) -> dict:
    return {"id": source_id, "name": source_id, "type": "dcat", "url": url, **extra}


def wait_for(condition, timeout: float = 20.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true after {timeout} s: {condition}")


# --- concurrency -----------------------------------------------------------------------------------------


class Overlap:
    """Requests in flight across several servers (each server only counts its own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = self.max = 0

    def slow(self, body: bytes, delay: float):
        def answer(request) -> Reply:
            with self.lock:
                self.active += 1
                self.max = max(self.max, self.active)
            time.sleep(delay)
            with self.lock:
                self.active -= 1
            return Reply(body, "text/turtle")

        return answer


def test_sources_run_in_parallel_within_the_per_host_limit(catalogue):
    """Six sources on three loopback hosts, two per host: at most one request at a time per host (as each
    server counts them), several hosts at once, and every record arrives."""
    store, backend = catalogue
    overlap = Overlap()
    servers = [PortalServer(host=f"127.0.0.{n}").start() for n in (1, 2, 3)]
    try:
        sources = []
        for server in servers:
            for name in ("a", "b"):
                base = server.url(f"/{name}")
                pages = hydra_pages(city_datasets(base), base + "/catalog.ttl?page=%d", 5)
                answer = {n: overlap.slow(body, 0.1) for n, body in pages.items()}
                server.handle(f"/{name}/catalog.ttl", lambda r, a=answer: a[int(r.query["page"][0])](r))
                host = server.httpd.server_address[0].replace(".", "-")
                sources.append(source(f"{host}-{name}", base + "/catalog.ttl?page=1"))
        results = harvest(config_for(*sources, max_concurrency=4, max_per_host=1), store, backend)
    finally:
        for server in servers:
            server.stop()
    assert [r.status for r in results] == ["complete"] * 6, [r.message for r in results]
    assert [r.source_id for r in results] == [s["id"] for s in sources]  # in the order asked
    assert store.count() == 6 * len(city_datasets("http://127.0.0.1"))
    assert [server.max_active for server in servers] == [1, 1, 1]  # the per-host limit
    assert overlap.max >= 2  # hosts served at the same time


def test_one_host_limit_holds_for_requests_of_several_runs(portal, catalogue):
    store, backend = catalogue
    sources = []
    for name in ("a", "b", "c", "d"):
        url, _ = serve_city(portal, f"/{name}", delay=0.05)
        sources.append(source(name, url))
    harvest(config_for(*sources, max_concurrency=8, max_per_host=2), store, backend)
    assert 1 <= portal.max_active <= 2


def test_a_source_runs_once_at_a_time_in_the_pool():
    pool = RunPool(workers=4, per_host=4)
    ville = Source("ville", "Ville", "dcat", "http://127.0.0.1:1/")
    gate = threading.Event()
    first = pool.submit(ville, gate.wait)
    with pytest.raises(AlreadyRunning, match="already has a harvest queued or running"):
        pool.submit(ville, lambda: None)
    gate.set()
    assert first.result(timeout=5) is True
    assert pool.wait(5)
    assert pool.submit(ville, lambda: "again").result(timeout=5) == "again"


# --- the service: triggers, catch-up, shutdown ------------------------------------------------------------


def test_overlapping_triggers_of_one_source_start_one_run(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal, "/ville", page_size=3, delay=0.1)
    service = HarvestService(config_for(source("ville", url)), store, backend)
    run_id = service.trigger("ville")
    with pytest.raises(AlreadyRunning):
        service.trigger("ville")
    assert service.running() == {"ville": run_id}
    assert service.pool.wait(20)
    assert [r.run_id for r in service.results] == [run_id]
    assert store.run(run_id)["status"] == "complete"
    assert len(store.runs("ville")) == 1
    assert backend.ids() == store.live_ids() and store.count() == count
    # once it ended, the next trigger runs again
    assert service.trigger("ville") != run_id
    assert service.shutdown(grace=20)


def backdate(store: Store, source_id: str, started: datetime) -> None:
    """Make the source's runs look as if they started at `started` (the process was down since)."""
    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE runs SET started_at = ? WHERE source_id = ?",
            (started.isoformat(timespec="seconds").replace("+00:00", "Z"), source_id),
        )


def test_scheduler_restart_catches_up_once(portal, catalogue):
    store, backend = catalogue
    sources = []
    for name in ("missed", "recent", "never", "unscheduled"):
        url, _ = serve_city(portal, f"/{name}")
        sources.append(source(name, url, **({} if name == "unscheduled" else {"schedule": DAILY})))
    config = config_for(*sources)
    harvest(config_for(*sources[:2]), store, backend)  # "missed" and "recent" ran once, just now
    backdate(store, "missed", datetime.now(UTC) - timedelta(days=3))  # three fire times passed since
    assert missed_schedule(config.source("missed"), store)
    assert not missed_schedule(config.source("recent"), store)

    service = HarvestService(config, store, backend)
    caught_up = service.start()
    try:
        # one each, not one per missed fire time; a source without a schedule that never ran gets its data
        assert sorted(caught_up) == ["missed", "never", "unscheduled"]
        assert service.pool.wait(20)
        assert {r.source_id for r in service.results} == {"missed", "never", "unscheduled"}
        assert len(store.runs("missed")) == 2 and len(store.runs("never")) == 1
        assert len(store.runs("unscheduled")) == 1 and store.count("unscheduled") > 0
        assert set(service.describe()) == {"missed", "recent", "never"}
    finally:
        assert service.shutdown(grace=20)

    # started again straight away: nothing was missed in between, and the unscheduled source waits for a trigger
    again = HarvestService(config, store, backend)
    try:
        assert again.start() == []
    finally:
        again.shutdown(grace=20)


def test_an_interrupted_last_run_does_not_count_as_run(portal, catalogue):
    store, backend = catalogue
    url, _ = serve_city(portal, "/ville")
    config = config_for(source("ville", url, schedule=DAILY))
    harvest(config, store, backend)
    assert not missed_schedule(config.source("ville"), store)
    backdate(store, "ville", datetime.now(UTC) - timedelta(days=1, hours=1))
    assert missed_schedule(config.source("ville"), store)
    run_id = store.start_run("ville")  # started after the last fire time, but a crash interrupted it
    store.mark_interrupted()
    assert store.run(run_id)["status"] == "interrupted"
    assert missed_schedule(config.source("ville"), store)


def test_a_scheduled_fire_runs_the_source(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal, "/ville")
    service = HarvestService(config_for(source("ville", url, schedule=DAILY)), store, backend)
    assert service.start() == ["ville"]  # never ran: caught up
    assert service.pool.wait(20)
    service.scheduler.get_job("ville").modify(next_run_time=datetime.now(UTC))  # its time comes now
    wait_for(lambda: len(service.results) == 2)
    assert [r.status for r in service.results] == ["complete", "complete"]
    assert store.count("ville") == count
    assert service.shutdown(grace=20)


def test_shutdown_ends_the_run_after_a_whole_page(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal, "/ville", page_size=1, delay=0.2)  # 14 pages, 0.2 s each
    service = HarvestService(config_for(source("ville", url)), store, backend)
    run_id = service.trigger("ville")
    wait_for(lambda: store.count("ville") >= 3)
    assert service.shutdown(grace=10)
    run = store.run(run_id)
    assert run["status"] == "interrupted"
    assert run["message"].startswith("stopped by a shutdown after ")
    assert run["message"].endswith("nothing withdrawn")
    stored = store.count("ville")
    assert 3 <= stored < count and run["withdrawn"] == 0
    assert run["created"] == stored == run["pages"]  # one dataset a page: every stored page is whole
    assert backend.ids() == store.live_ids()  # indexed before the service let go
    with pytest.raises(RuntimeError, match="shutting down"):
        service.trigger("ville")


def test_queued_runs_are_dropped_at_shutdown(catalogue):
    store, backend = catalogue
    with PortalServer() as portal:
        sources = []
        for name in ("a", "b", "c"):
            portal.add(f"/{name}.ttl", b"", delay=0.5)
            sources.append(source(name, portal.url(f"/{name}.ttl")))
        service = HarvestService(config_for(*sources, max_concurrency=1), store, backend)
        ids = [service.trigger(s["id"]) for s in sources]
        assert service.shutdown(grace=10)
    statuses = [store.run(i)["status"] for i in ids]
    assert statuses[0] in ("interrupted", "complete") and statuses[1:] == ["interrupted", "interrupted"]
    assert all(store.run(i)["ended_at"] for i in ids)


def test_slow_page_is_waited_for_no_longer_than_the_grace(catalogue):
    store, backend = catalogue
    with PortalServer() as portal:
        portal.add("/slow.ttl", b"", delay=3)
        service = HarvestService(config_for(source("slow", portal.url("/slow.ttl"))), store, backend)
        run_id = service.trigger("slow")
        wait_for(lambda: portal.log)
        started = time.monotonic()
        assert service.shutdown(grace=0.5) is False  # the request is still out
        assert time.monotonic() - started < 2
        run = store.run(run_id)
        assert run["status"] == "interrupted" and run["message"] == "the process stopped before the run ended"


def test_retry_wait_is_cut_short_by_a_shutdown(portal, catalogue):
    store, backend = catalogue
    portal.add("/busy.ttl", b"busy", status=503, headers={"Retry-After": "60"})
    config = parse_config(
        {
            "settings": {"http": {**FAST, "retries": 3, "run_budget": 300}},
            "sources": [source("busy", portal.url("/busy.ttl"))],
        }
    )
    service = HarvestService(config, store, backend)
    run_id = service.trigger("busy")
    wait_for(lambda: portal.log)
    started = time.monotonic()
    assert service.shutdown(grace=10)
    assert time.monotonic() - started < 2  # not the 60 s Retry-After
    run = store.run(run_id)
    assert run["status"] == "interrupted" and "shutdown" in run["message"]
    assert len(portal.log) == 1


def test_service_survives_a_failing_source(portal, catalogue):
    store, backend = catalogue
    portal.add("/down.ttl", b"down", status=500)
    url, count = serve_city(portal, "/ville")
    service = HarvestService(
        config_for(source("down", portal.url("/down.ttl")), source("ville", url)), store, backend
    )
    service.trigger("down")
    service.trigger("ville")
    assert service.pool.wait(20)
    assert {r.source_id: r.status for r in service.results} == {"down": "failed", "ville": "complete"}
    assert store.count("ville") == count
    assert service.shutdown(grace=5)
