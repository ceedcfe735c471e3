"""Hostile requests and hostile sources (issue 10): each case is an attack that once worked.

Every source is a real HTTP server on 127.0.0.1 and every request goes through the app. A case states what a
user relies on: the answer (a clear refusal, a run's status), what must not happen (a request leaving the
server, a record lost), within a bound measured in the test.
"""

from __future__ import annotations

import json

import msgspec
import pytest
import rdflib
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.api.sparql import remote_access
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer, Reply
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.mappings.model import Text
from rdflib.namespace import DCAT, RDF

BASE_URL = "https://fedcat.example"


def generated_datasets(base: str, count: int):
    """`count` distinct datasets shaped like the city's (its rows, under new IRIs and titles)."""
    template = city_datasets(base)
    datasets = []
    for number in range(count):
        dataset = msgspec.structs.replace(
            template[number % len(template)],
            uri=f"{base}/datasets/generated-{number}",
            identifier=[f"generated-{number}"],
            title=[Text(f"Jeu de données {number}", "fr")],
        )
        datasets.append(dataset)
    return datasets


class Portal:
    """A source's catalogue on 127.0.0.1 (one Turtle page), changeable between harvests."""

    def __init__(self, server: PortalServer, prefix: str = "/ville") -> None:
        self.server, self.prefix = server, prefix
        self.base = server.url(prefix)

    def publish(self, datasets) -> None:
        [page] = hydra_pages(datasets, self.base + "/catalog.ttl?page=%d", 10_000).values()
        self.server.add(f"{self.prefix}/catalog.ttl?page=1", page)

    @property
    def url(self) -> str:
        return self.base + "/catalog.ttl?page=1"


def config_for(url: str, **settings):
    return parse_config(
        {
            "settings": {"base_url": BASE_URL, **settings},
            "sources": [{"id": "ville", "name": "Ville", "type": "dcat", "url": url}],
        }
    )


def live_datasets(client) -> set[str]:
    """The dataset IRIs fedcat publishes in its catalogue, read back with rdflib."""
    response = client.get("/catalog.ttl")
    assert response.status_code == 200, response.text
    graph = rdflib.Graph().parse(data=response.content, format="turtle")
    return {str(s) for s in graph.subjects(RDF.type, DCAT.Dataset)}


# --- 1. no federated access through the public SPARQL endpoint --------------------------------------------


@pytest.fixture(scope="module")
def sparql_site(tmp_path_factory):
    """(client, victim): a harvested catalogue's app, and a loopback server that must never be asked."""
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.store import Store

    data_dir = tmp_path_factory.mktemp("hostile-sparql")
    store = Store(data_dir / "fedcat.db")
    backend = EmbeddedBackend(data_dir / "index")
    with PortalServer() as portal, PortalServer() as victim:
        source = Portal(portal)
        source.publish(city_datasets(source.base))
        harvest(config_for(source.url), store, backend)
        # the victim answers like a SPARQL endpoint, so a fetch would return its data to the caller
        answer = {
            "head": {"vars": ["s"]},
            "results": {"bindings": [{"s": {"type": "uri", "value": "urn:x"}}]},
        }
        victim.handle(
            "/", lambda request: Reply(json.dumps(answer).encode(), "application/sparql-results+json")
        )
        with TestClient(create_app(store, backend, config_for(source.url))) as client:
            yield client, victim
    backend.close()
    store.close()


FEDERATED = [
    "SELECT * WHERE { SERVICE <{url}> { ?s ?p ?o } }",
    "select * where { service silent <{url}> { ?s ?p ?o } }",
    "PREFIX v: <{url}>\nSELECT * WHERE { ?x ?y ?z . SERVICE v: { ?s ?p ?o } }",
    "SELECT * WHERE { ?x ?y ?z.SERVICE#a comment\n<{url}>{ ?s ?p ?o } }",
    "SELECT * WHERE { VALUES ?e { <{url}> } SERVICE ?e { ?s ?p ?o } }",
    "SELECT * WHERE { SERVIC\\u0045 <{url}> { ?s ?p ?o } }",
    "SELECT * WHERE { ?s ?p ?o } ; LOAD <{url}>",
]


@pytest.mark.parametrize("template", FEDERATED)
@pytest.mark.parametrize("how", ["get", "form", "body"])
def test_federated_queries_are_refused_before_any_request(sparql_site, template, how):
    client, victim = sparql_site
    query = template.replace("{url}", victim.url("/sparql"))
    if how == "get":
        response = client.get("/sparql", params={"query": query})
    elif how == "form":
        response = client.post("/sparql", data={"query": query})
    else:
        response = client.post(
            "/sparql", content=query.encode(), headers={"content-type": "application/sparql-query"}
        )
    assert response.status_code == 400
    assert "never fetches remote data" in response.json()["detail"]
    assert victim.log == []


def test_graph_selection_never_fetches(sparql_site):
    """FROM, FROM NAMED and the protocol's graph parameters only select the store's own graphs: no fetch."""
    client, victim = sparql_site
    url = victim.url("/graph")
    for params in (
        {"query": f"SELECT * FROM <{url}> WHERE {{ ?s ?p ?o }}"},
        {"query": f"SELECT * FROM NAMED <{url}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"},
        {"query": "SELECT * WHERE { ?s ?p ?o }", "default-graph-uri": url},
        {"query": "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", "named-graph-uri": url},
    ):
        response = client.get("/sparql", params=params)
        assert response.status_code == 200, response.text
        assert "urn:x" not in response.text  # nothing of the victim's answer
    assert victim.log == []


def test_ordinary_queries_naming_service_are_answered(sparql_site):
    """The refusal reads the grammar: a prefixed name, a variable or a literal called `service` is no keyword."""
    client, _ = sparql_site
    query = (
        "PREFIX service: <http://example.org/service#>\n"
        "SELECT ?service WHERE { ?service service:load ?o . FILTER(?o != 'SERVICE <x>') } LIMIT 1"
    )
    assert remote_access(query) is None
    assert client.get("/sparql", params={"query": query}).status_code == 200


# --- 2. a source whose records change twice between SPARQL syncs ---------------------------------------------


def test_a_source_recovers_after_withdrawals_while_linked_data_is_served(tmp_path, catalogue):
    """Withdrawn records come back and every run completes, whatever tracks changes for the linked data."""
    store, backend = catalogue
    with PortalServer() as server:
        source = Portal(server)
        datasets = generated_datasets(source.base, 40)
        source.publish(datasets)
        config = config_for(source.url)
        [first] = harvest(config, store, backend)
        assert first.status == "complete"
        with TestClient(create_app(store, backend, config)) as client:
            everything = live_datasets(client)  # serving the catalogue turns on linked-data change tracking
            assert len(everything) == 40
            source.publish(datasets[4:])  # 10% gone at the source
            [dropped] = harvest(config, store, backend)
            assert dropped.status == "complete"
            assert len(live_datasets(client)) == 36
            source.publish(datasets)  # ...and back
            for attempt in range(3):
                [run] = harvest(config, store, backend)
                assert run.status == "complete", (attempt, run)
                assert live_datasets(client) == everything, attempt
            # and a change to every record is taken too
            source.publish([msgspec.structs.replace(d, description=[Text("révisé", "fr")]) for d in datasets])
            [changed] = harvest(config, store, backend)
            assert changed.status == "complete"
            assert live_datasets(client) == everything
