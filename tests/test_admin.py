"""Admin endpoints and /metrics: trigger a harvest with a bearer token, follow its live progress, overlapping
triggers, write endpoints disabled without a token; a real harvest service behind a real app, real HTTP to
a local portal."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.schedule import HarvestService
from fedcat.harvester.sources import parse_config
from prometheus_client.parser import text_string_to_metric_families

FAST = {"connect_timeout": 1, "read_timeout": 2, "retries": 0, "backoff": 0.01, "run_budget": 30}
TOKEN = "correct horse battery staple"


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch):
    monkeypatch.delenv("FEDCAT_ADMIN_TOKEN", raising=False)


def serve_city(portal: PortalServer, page_size: int = 5, delay: float = 0.0) -> str:
    base = portal.url("/ville")
    for number, body in hydra_pages(city_datasets(base), base + "/catalog.ttl?page=%d", page_size).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body, delay=delay)
    return base + "/catalog.ttl?page=1"


class Service:
    """An app with a harvest service behind it, as `fedcat run` builds them."""

    def __init__(self, catalogue, portal: PortalServer, *, token: str | None = TOKEN, harvester: bool = True,
                 delay: float = 0.0, page_size: int = 5) -> None:  # fmt: skip
        store, backend = catalogue
        settings = {"http": FAST, **({"admin_token": token} if token else {})}
        sources = [
            {"id": "ville", "name": "Ville", "type": "dcat", "url": serve_city(portal, page_size, delay)},
            {"id": "down", "name": "Down", "type": "dcat", "url": portal.add("/down.ttl", b"x", status=500)},
        ]
        self.config = parse_config({"settings": settings, "sources": sources})
        self.store = store
        self.harvester = HarvestService(self.config, store, backend) if harvester else None
        app = create_app(store, backend, self.config)
        if self.harvester is not None:
            app.state.harvester = self.harvester
        self.client = TestClient(app)

    def trigger(self, source_id: str = "ville", token: str | None = TOKEN, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(f"/api/sources/{source_id}/harvest", headers=headers, **kwargs)

    def follow(self, run_id: int, timeout: float = 20.0) -> list[dict]:
        """GET the run until it ends; every answer seen."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.client.get(f"/api/harvests/{run_id}")
            assert answer.status_code == 200
            seen.append(answer.json())
            if seen[-1]["status"] != "running":
                return seen
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} still running after {timeout} s")

    def close(self) -> None:
        if self.harvester is not None:
            assert self.harvester.shutdown(grace=20)
        self.client.close()


@pytest.fixture
def service_factory(catalogue, portal):
    made = []

    def make(**kwargs) -> Service:
        made.append(Service(catalogue, portal, **kwargs))
        return made[-1]

    yield make
    for service in made:
        service.close()


def test_trigger_then_follow_the_run_live(service_factory):
    service = service_factory(page_size=1, delay=0.15)  # 14 pages, ~2 s
    answer = service.trigger()
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "running" and body["links"] == {"run": f"/api/harvests/{body['run_id']}"}
    seen = service.follow(body["run_id"])
    final = seen[-1]
    assert final["status"] == "complete" and final["counts"]["created"] == 14
    # progress was visible while it ran (the counters are saved about once a second)
    assert any(s["status"] == "running" and 0 < s["counts"]["pages"] < 14 for s in seen), seen
    counts = [s["counts"]["seen"] for s in seen]
    assert counts == sorted(counts)


def test_overlapping_triggers_start_one_run(service_factory):
    service = service_factory(page_size=1, delay=0.1)
    first = service.trigger()
    second = service.trigger()
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["run_id"] == first.json()["run_id"]
    assert "already has a harvest queued or running" in second.json()["detail"]
    assert service.follow(first.json()["run_id"])[-1]["status"] == "complete"
    assert len(service.store.runs("ville")) == 1


def test_a_failing_source_is_reported(service_factory):
    service = service_factory()
    run_id = service.trigger("down").json()["run_id"]
    final = service.follow(run_id)[-1]
    assert final["status"] == "failed" and "HTTP 500" in final["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"bearer {TOKEN[:-1]}"],
)
def test_a_valid_token_is_required(service_factory, authorization):
    service = service_factory()
    headers = {"Authorization": authorization} if authorization else {}
    answer = service.client.post("/api/sources/ville/harvest", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "admin token is required" in answer.json()["detail"]
    assert service.store.runs("ville") == []


def test_the_scheme_is_case_insensitive(service_factory):
    service = service_factory()
    answer = service.client.post("/api/sources/ville/harvest", headers={"Authorization": f"bearer {TOKEN}"})
    assert answer.status_code == 202


def test_write_endpoints_are_disabled_without_a_configured_token(service_factory):
    service = service_factory(token=None)
    for token in (None, TOKEN, ""):
        answer = service.trigger(token=token)
        assert answer.status_code == 403
        assert "write endpoints are disabled" in answer.json()["detail"]
    assert service.store.runs("ville") == []
    assert service.client.get("/api/harvests").status_code == 200  # reads stay public


def test_token_from_the_environment(service_factory, monkeypatch):
    monkeypatch.setenv("FEDCAT_ADMIN_TOKEN", "from-the-environment")
    service = service_factory(token="from-the-file")
    assert service.trigger(token="from-the-file").status_code == 401
    assert service.trigger(token="from-the-environment").status_code == 202


def test_unknown_source_and_serving_only_process(service_factory):
    service = service_factory()
    answer = service.trigger("nope")
    assert answer.status_code == 404 and "no source 'nope'" in answer.json()["detail"]
    serving = service_factory(harvester=False)
    answer = serving.trigger()
    assert answer.status_code == 503 and "fedcat run" in answer.json()["detail"]


def test_metrics(service_factory):
    service = service_factory()
    for source_id in ("ville", "down"):
        service.follow(service.trigger(source_id).json()["run_id"])
    answer = service.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("fedcat_runs", (("source", "ville"), ("status", "complete")))] == 1
    assert samples[("fedcat_runs", (("source", "down"), ("status", "failed")))] == 1
    assert samples[("fedcat_records_total", (("outcome", "created"), ("source", "ville")))] == 14
    assert samples[("fedcat_records_total", (("outcome", "withdrawn"), ("source", "ville")))] == 0
    assert samples[("fedcat_datasets", (("source", "ville"),))] == 14
    assert ("fedcat_source_last_complete_run_timestamp_seconds", (("source", "ville"),)) in samples
    # this process's fetches: 3 pages and the failing one; the 500 counted against its source
    assert samples[("fedcat_fetch_seconds_count", ())] >= 4
    assert samples[("fedcat_http_errors_total", (("kind", "http_500"), ("source", "down")))] >= 1
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)
