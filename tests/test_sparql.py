"""The read-only SPARQL endpoint over a real harvest: protocol, result formats, limits, sync with the store.

A city's catalogue is served on 127.0.0.1 and harvested; the app's SPARQL worker (a real process) loads the
pyoxigraph store from the record store on its first query; later harvests change the catalogue and the
store must follow, whether a server holds it or not.
"""

from __future__ import annotations

import csv
import io
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager

import msgspec
import pytest
import rdflib
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.api.sparql import is_update
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.indexer.sparql import SparqlStore
from fedcat.mappings.model import Text
from fedcat.store import Store

BASE_URL = "https://fedcat.example"
DCAT = "http://www.w3.org/ns/dcat#"
PREFIXES = f"PREFIX dcat: <{DCAT}> PREFIX dct: <http://purl.org/dc/terms/>\n"
COUNT = PREFIXES + "SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { ?d a dcat:Dataset }"
RESULTS_JSON = "application/sparql-results+json"


class City:
    """The city's portal: its catalogue can be changed between harvests."""

    def __init__(self, portal: PortalServer) -> None:
        self.portal = portal
        self.base = portal.url("/ville")
        self.datasets = city_datasets(self.base)
        self.publish(self.datasets)

    def publish(self, datasets) -> None:
        [page] = hydra_pages(datasets, self.base + "/catalog.ttl?page=%d", 100).values()
        self.portal.add("/ville/catalog.ttl?page=1", page)

    @property
    def url(self) -> str:
        return self.base + "/catalog.ttl?page=1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sparql")
    store = Store(data_dir / "fedcat.db")
    backend = EmbeddedBackend(data_dir / "index")
    with PortalServer() as portal:
        city = City(portal)
        config = parse_config(
            {
                "settings": {"base_url": BASE_URL},
                "sources": [{"id": "ville", "name": "Ville de Lille", "type": "dcat", "url": city.url}],
            }
        )
        harvest(config, store, backend)
        with TestClient(create_app(store, backend, config)) as client:
            yield client, store, backend, config, city
    backend.close()
    store.close()


def select(client, query: str, **headers) -> list[dict]:
    response = client.get("/sparql", params={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]["bindings"]


def count(client) -> int:
    return int(select(client, COUNT)[0]["n"]["value"])


def test_select_counts_every_dataset(site):
    client, store, *_ = site
    response = client.get("/sparql", params={"query": COUNT})
    assert response.headers["content-type"].startswith(RESULTS_JSON)
    assert int(response.json()["results"]["bindings"][0]["n"]["value"]) == store.count()
    assert "x-fedcat-sparql-pending" not in response.headers  # the first query loaded every record


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, RESULTS_JSON),
        ("application/json", RESULTS_JSON),
        ("application/sparql-results+xml", "application/sparql-results+xml"),
        ("text/csv", "text/csv"),
        ("text/tab-separated-values", "text/tab-separated-values"),
    ],
)
def test_select_result_formats(site, accept, media_type):
    client, store, *_ = site
    query = (
        PREFIXES
        + 'SELECT ?d ?title WHERE { ?d a dcat:Dataset ; dct:title ?title FILTER(lang(?title) = "fr") } ORDER BY ?title'
    )
    response = client.get("/sparql", params={"query": query}, headers={"accept": accept} if accept else {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    expected = sorted(t.value for r in store.iter_records() for t in r["dataset"].title if t.lang == "fr")
    if media_type == RESULTS_JSON:
        titles = [b["title"]["value"] for b in response.json()["results"]["bindings"]]
        assert all(b["title"]["xml:lang"] == "fr" for b in response.json()["results"]["bindings"])
    elif media_type.endswith("xml"):
        ns = {"r": "http://www.w3.org/2005/sparql-results#"}
        root = ET.fromstring(response.content)
        titles = [e.text for e in root.findall(".//r:binding[@name='title']/r:literal", ns)]
    elif media_type == "text/csv":
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["d", "title"]
        titles = [r[1] for r in rows[1:]]
    else:
        lines = response.text.splitlines()
        assert lines[0] == "?d\t?title"
        titles = [line.split("\t")[1].rsplit("@", 1)[0][1:-1] for line in lines[1:]]
    assert titles == sorted(expected)


def test_ask(site):
    client, *_ = site
    for query, answer in (
        (PREFIXES + "ASK { ?d a dcat:Dataset }", True),
        (PREFIXES + "ASK { ?d a dcat:DatasetSeries }", False),
    ):
        assert client.get("/sparql", params={"query": query}).json() == {"head": {}, "boolean": answer}
        xml = client.get(
            "/sparql", params={"query": query}, headers={"accept": "application/sparql-results+xml"}
        )
        assert f"<boolean>{'true' if answer else 'false'}</boolean>" in xml.text


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (None, "turtle"),
        ("application/n-triples", "nt"),
        ("application/rdf+xml", "xml"),
        ("application/ld+json", "json-ld"),
    ],
)
def test_construct(site, accept, fmt):
    client, store, *_ = site
    query = PREFIXES + "CONSTRUCT { ?d dct:title ?t } WHERE { ?d a dcat:Dataset ; dct:title ?t }"
    response = client.get("/sparql", params={"query": query}, headers={"accept": accept} if accept else {})
    assert response.status_code == 200, response.text
    graph = rdflib.Graph().parse(data=response.content, format=fmt)
    assert {str(t) for t in graph.objects()} == {
        t.value for r in store.iter_records() for t in r["dataset"].title
    }


def test_describe_and_graphs(site):
    client, store, *_ = site
    record = next(store.iter_records())
    uri = record["dataset"].uri
    described = client.get("/sparql", params={"query": f"DESCRIBE <{uri}>"})
    graph = rdflib.Graph().parse(data=described.content, format="turtle")
    assert {
        str(t) for t in graph.objects(rdflib.URIRef(uri), rdflib.URIRef("http://purl.org/dc/terms/title"))
    } == {t.value for t in record["dataset"].title}
    # one named graph per record, named by the dataset's IRI
    rows = select(client, PREFIXES + "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?d a dcat:Dataset } }")
    assert {b["g"]["value"] for b in rows} == {r["dataset"].uri for r in store.iter_records()}
    only = client.get("/sparql", params={"query": COUNT, "default-graph-uri": uri})
    assert only.json()["results"]["bindings"][0]["n"]["value"] == "1"


def test_post_forms(site):
    client, store, *_ = site
    form = client.post("/sparql", data={"query": COUNT})
    assert form.status_code == 200
    assert int(form.json()["results"]["bindings"][0]["n"]["value"]) == store.count()
    body = client.post("/sparql", content=COUNT, headers={"content-type": "application/sparql-query"})
    assert body.json() == form.json()
    assert client.post("/sparql", content=COUNT, headers={"content-type": "text/plain"}).status_code == 415


@pytest.mark.parametrize(
    "attempt",
    [
        {"params": {"update": "INSERT DATA { <http://a> <http://b> <http://c> }"}},
        {"params": {"query": "INSERT DATA { <http://a> <http://b> <http://c> }"}},
        {"params": {"query": "PREFIX ex: <http://e/>\n# a comment\nDELETE WHERE { ?s ?p ?o }"}},
        {"params": {"query": "DROP ALL"}},
        {"data": {"update": "CLEAR ALL"}, "method": "post"},
        {
            "content": "LOAD <http://example.org/x.ttl>",
            "headers": {"content-type": "application/sparql-update"},
            "method": "post",
        },
        {
            "content": "CLEAR DEFAULT",
            "headers": {"content-type": "application/sparql-query"},
            "method": "post",
        },
    ],
)
def test_updates_are_refused(site, attempt):
    client, store, *_ = site
    attempt = dict(attempt)
    method = attempt.pop("method", "get")
    response = getattr(client, method)("/sparql", **attempt)
    assert response.status_code == 400
    assert "read-only" in response.json()["detail"]
    assert count(client) == store.count()


def test_is_update():
    assert is_update("insert data { <a> <b> <c> }")
    assert is_update(
        "BASE <http://x/>\nPREFIX : <http://x/>\nWITH <g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }"
    )
    assert not is_update("SELECT * WHERE { ?s ?p ?o }")
    assert not is_update("PREFIX insert: <http://x/> SELECT * WHERE { ?s insert:p ?o }")


def test_bad_requests(site):
    client, *_ = site
    assert client.get("/sparql").status_code == 400
    syntax = client.get("/sparql", params={"query": "SELEC ?x WHERE {}"})
    assert syntax.status_code == 400 and "syntax" in syntax.json()["detail"]
    refused = client.get("/sparql", params={"query": COUNT}, headers={"accept": "text/turtle"})
    assert refused.status_code == 406
    assert (
        client.get("/sparql", params={"query": COUNT, "default-graph-uri": "not an iri"}).status_code == 400
    )
    assert client.get("/sparql", params={"query": COUNT, "format": "json"}).status_code == 400  # unknown


def test_results_are_capped(site, monkeypatch):
    client, *_ = site
    monkeypatch.setenv("FEDCAT_SPARQL_MAX_RESULTS", "3")
    response = client.get("/sparql", params={"query": "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"})
    assert len(response.json()["results"]["bindings"]) == 3
    assert response.headers["x-fedcat-truncated"] == "true"
    small = client.get("/sparql", params={"query": "SELECT ?s WHERE { ?s ?p ?o } LIMIT 2"})
    assert "x-fedcat-truncated" not in small.headers


def test_a_query_past_the_time_limit_is_stopped(site, monkeypatch):
    client, *_ = site
    count(client)  # the worker is up
    monkeypatch.setenv("FEDCAT_SPARQL_TIMEOUT", "1")
    state = client.app.state.linked_data
    worker = state.sparql._process
    # ~2,000 triples cubed: an aggregate pyoxigraph computes in one step, for hours
    query = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f }"
    started = time.monotonic()
    response = client.get("/sparql", params={"query": query})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "time limit" in response.json()["detail"]
    assert elapsed < 5, elapsed
    worker.join(5)
    assert not worker.is_alive()  # stopped, not left burning a core
    monkeypatch.setenv("FEDCAT_SPARQL_TIMEOUT", "10")
    assert count(client) > 0  # a new worker answers


def test_store_follows_harvests_while_a_server_holds_it(site):
    client, store, backend, config, city = site
    before = count(client)
    renamed = list(city.datasets)
    first = renamed[0]
    new_title = "Stations V'Lille (renommé)"
    renamed[0] = msgspec.structs.replace(first, title=[Text(new_title, "fr")])
    city.publish(renamed[:-1])  # one title changed, the last dataset gone
    [result] = harvest(config, store, backend)  # the worker holds the store: the harvest leaves it the sync
    assert result.counts["updated"] == 1 and result.counts["withdrawn"] == 1
    assert count(client) == before - 1
    titles = [b["t"]["value"] for b in select(client, PREFIXES + "SELECT ?t WHERE { ?d dct:title ?t }")]
    assert new_title in titles
    assert not [t for t in titles if t == first.title[0].value]
    gone = renamed[-1].title[0].value
    assert gone not in titles
    city.publish(city.datasets)  # back as it was, for the other tests
    harvest(config, store, backend)
    assert count(client) == before


@contextmanager
def harvested_city(tmp_path):
    """(store, backend, config, city): the city's catalogue harvested into tmp_path, its portal up until the
    block ends."""
    store = Store(tmp_path / "fedcat.db")
    backend = EmbeddedBackend(tmp_path / "index")
    try:
        with PortalServer() as portal:
            city = City(portal)
            config = parse_config(
                {
                    "settings": {"base_url": BASE_URL},
                    "sources": [{"id": "ville", "name": "Ville", "type": "dcat", "url": city.url}],
                }
            )
            harvest(config, store, backend)
            yield store, backend, config, city
    finally:
        backend.close()
        store.close()


def sparql_count(sparql: SparqlStore) -> int:
    solutions = sparql.oxigraph.query(COUNT, use_default_graph_as_union=True)
    return int(next(iter(solutions))["n"].value)


def test_harvest_syncs_the_store_when_no_server_holds_it(tmp_path):
    with harvested_city(tmp_path) as (store, backend, config, city):
        assert not (tmp_path / "sparql").exists()  # created by its first use, not by every harvest
        with TestClient(create_app(store, backend, config)) as client:
            assert count(client) == len(city.datasets)
        city.publish(city.datasets[:-2])
        harvest(config, store, backend)  # the server is gone: the harvest syncs the store itself
        sparql = SparqlStore.for_store(store)
        try:
            assert sparql_count(sparql) == len(city.datasets) - 2
            assert sparql.pending(store) == 0
        finally:
            sparql.close()


def test_first_load_goes_on_across_budgeted_syncs(tmp_path, monkeypatch):
    """A server loads a big catalogue a slice at a time between queries: each slice keeps the others'."""
    from fedcat.indexer import sparql as sparql_module
    from fedcat.indexer.sparql import catalog_info_from_store

    with harvested_city(tmp_path) as (store, _, config, city):
        monkeypatch.setattr(sparql_module, "SYNC_BATCH", 3)
        info = catalog_info_from_store(store, BASE_URL, config)
        sparql = SparqlStore.for_store(store)
        try:
            assert sparql.state() is None
            slices = 0
            while True:
                done = sparql.sync(store, info, budget=0)  # one batch a call
                slices += 1
                if sparql.state() == "synced":
                    break
                assert 0 < done <= 3 and sparql.state() == "filling"
                assert slices < 20
            assert slices == -(-len(city.datasets) // 3)  # the call that loads the last slice ends the load
            assert sparql_count(sparql) == len(city.datasets)
            assert sparql.sync(store, info) == 0  # nothing left: nothing written
        finally:
            sparql.close()


def test_a_store_written_by_an_older_rdf_writer_is_loaded_again(tmp_path):
    """What the writer makes of a record changed (the datasets a record only links to are no longer typed
    dcat:Dataset): a SPARQL store holding the older output is loaded again, and counts the datasets."""
    from fedcat.indexer.sparql import _STATE_GRAPH, catalog_info_from_store

    with harvested_city(tmp_path) as (store, _, config, city):
        info = catalog_info_from_store(store, BASE_URL, config)
        sparql = SparqlStore.for_store(store)
        try:
            sparql.sync(store, info)
            # as an older fedcat left it: its synced marker, and a linked layer typed as a dataset
            sparql.oxigraph.update(f"DELETE WHERE {{ GRAPH <{_STATE_GRAPH}> {{ ?s ?p ?o }} }}")
            sparql.oxigraph.update(
                f"INSERT DATA {{ GRAPH <{_STATE_GRAPH}> {{ <{_STATE_GRAPH}> <urn:fedcat:synced> <{_STATE_GRAPH}> }}"
                f" GRAPH <{BASE_URL}/datasets/x> {{ <https://gis.test/MapServer/8> a <{DCAT}Dataset> }} }}"
            )
            assert sparql.state() is None
            sparql.sync(store, info)
            assert sparql.state() == "synced"
            assert sparql_count(sparql) == len(city.datasets)
        finally:
            sparql.close()
