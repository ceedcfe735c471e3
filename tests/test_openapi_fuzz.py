"""Schemathesis over fedcat's own OpenAPI: generated requests to every operation answer no 5xx, except a 503
the operation documents (a SPARQL time limit or full queue, validation shapes not installed).

A bounded number of examples per operation (FEDCAT_FUZZ_EXAMPLES, default 20), against the app over a real
harvested store, so ids in paths sometimes hit real records.
"""

from __future__ import annotations

import os

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store

EXAMPLES = int(os.environ.get("FEDCAT_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz")
    store, backend = Store(data_dir / "fedcat.db"), EmbeddedBackend(data_dir / "index")
    with PortalServer() as portal:
        base = portal.url("/ville")
        [page] = hydra_pages(city_datasets(base), base + "/catalog.ttl?page=%d", 100).values()
        portal.add("/ville/catalog.ttl?page=1", page)
        config = parse_config(
            {
                "settings": {"base_url": "https://fedcat.example", "admin_token": "fuzz-token-not-given"},
                "sources": [
                    {"id": "ville", "name": "Ville", "type": "dcat", "url": base + "/catalog.ttl?page=1"}
                ],
            }
        )
        harvest(config, store, backend)
    application = create_app(store, backend, config)
    with TestClient(application):  # the lifespan, as a server runs it
        yield application
    backend.close()
    store.close()


def test_no_server_error_on_generated_requests(app, monkeypatch):
    monkeypatch.setenv("FEDCAT_SPARQL_TIMEOUT", "3")
    monkeypatch.delenv("FEDCAT_SHAPES_DIR", raising=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        check_operation(result.ok(), failures)
    assert operations >= 10  # the schema was read
    assert failures == [], "\n".join(failures[:20])


def check_operation(operation, failures: list[str]) -> None:
    documented = {str(code) for code in operation.definition.raw.get("responses", {})}

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def check(case):
        response = case.call()
        if response.status_code >= 500 and not (response.status_code == 503 and "503" in documented):
            failures.append(f"{operation.label}: {response.status_code} for {case.path} {case.query}")

    check()
