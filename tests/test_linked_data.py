"""Dataset documents, the Hydra-paged catalogue and source catalogues, over a real harvest.

Two sources are served on 127.0.0.1: a city's Hydra-paged Turtle catalogue and a metropolis's catalogue
that also lists two of the city's datasets under the same IRIs (duplicates). Both are harvested into a
SQLite store and the embedded index; the API answers through the app factory, and every RDF answer is read
back with rdflib. A national portal harvesting its slice is played by fedcat itself, over HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime
from pathlib import Path

import pyoxigraph
import pytest
import rdflib
import uvicorn
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.api.negotiation import negotiate
from fedcat.demo.catalogues import city_datasets, hydra_pages, metropolis_datasets
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import FACETS
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.mappings.rdf import text
from fedcat.store import Store, record_id
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF

BASE_URL = "https://fedcat.example"
HYDRA = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
ADMS = rdflib.Namespace("http://www.w3.org/ns/adms#")
SKOS = rdflib.Namespace("http://www.w3.org/2004/02/skos/core#")
CATALOG = rdflib.URIRef(f"{BASE_URL}/catalog")
SHAPES = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "shapes"
RDFLIB = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
    "application/ld+json": "json-ld",
}


def serve_catalogues(portal: PortalServer) -> tuple[str, str]:
    city_base, metro_base = portal.url("/ville"), portal.url("/metropole")
    city = city_datasets(city_base)
    for number, body in hydra_pages(city, city_base + "/catalog.ttl?page=%d", 5).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body)
    # the metropolis republishes two of the city's datasets, under the city's IRIs
    [page] = hydra_pages(
        metropolis_datasets(metro_base) + city[:2], metro_base + "/catalog.ttl?page=%d", 100
    ).values()
    portal.add("/metropole/catalog.ttl?page=1", page)
    return city_base + "/catalog.ttl?page=1", metro_base + "/catalog.ttl?page=1"


CATALOGUE = {
    "title": "Catalogue des Hauts-de-France",
    "description": "Données ouvertes des collectivités du Nord",
    "publisher": "Région Hauts-de-France",
}


def config_for(city_url: str, metro_url: str):
    return parse_config(
        {
            "settings": {"base_url": BASE_URL, "catalogue": CATALOGUE},
            "sources": [
                {"id": "ville", "name": "Ville de Lille", "type": "dcat", "url": city_url},
                {
                    "id": "metropole",
                    "name": "Métropole Européenne de Lille",
                    "type": "dcat",
                    "url": metro_url,
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(client, store, config, portal) over both catalogues, harvested once for the module."""
    data_dir = tmp_path_factory.mktemp("linked-data")
    store = Store(data_dir / "fedcat.db")
    backend = EmbeddedBackend(data_dir / "index")
    with PortalServer() as portal:
        config = config_for(*serve_catalogues(portal))
        results = harvest(config, store, backend)
        assert [r.status for r in results] == ["complete", "complete"]
        with TestClient(create_app(store, backend, config)) as client:
            yield client, store, config, portal
    backend.close()
    store.close()


def graph_of(response) -> rdflib.Graph:
    media_type = response.headers["content-type"].split(";")[0]
    return rdflib.Graph().parse(data=response.content, format=RDFLIB[media_type])


@pytest.fixture(scope="module")
def ids(site):
    """fedcat id by (source, slug)."""
    _, store, _, _ = site
    found = {}
    for row in store.db.execute("SELECT id, source_id, original_uri FROM records"):
        found[(row[1], row[2].rsplit("/", 1)[1])] = row[0]
    return found


# --- writing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "lang"),
    [
        ('quote " backslash \\ newline \n return \r tab \t', "fr"),
        ("controls \x00\x01\x1f\x7f and é ü 中文 🚲", None),
        ("plain", "en-GB"),
        ("malformed tag", "not a tag!"),
    ],
)
def test_literals_are_written_as_pyoxigraph_writes_them(value, lang):
    expected = pyoxigraph.Literal(value, language=lang) if lang != "not a tag!" else pyoxigraph.Literal(value)
    assert text(value, lang) == str(expected)
    [triple] = pyoxigraph.parse(
        f"<http://s> <http://p> {text(value, lang)} .", pyoxigraph.RdfFormat.N_TRIPLES
    )
    assert triple.object.value == value


# --- content negotiation -----------------------------------------------------------------------------------

OFFERS = (("text/turtle", "ttl"), ("application/ld+json", "jsonld"), ("text/html", "html"))


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "ttl"),
        ("", "ttl"),
        ("*/*", "ttl"),
        ("text/*", "ttl"),
        ("application/*", "jsonld"),
        ("application/ld+json;q=0.5, text/turtle;q=0.4", "jsonld"),
        ("text/turtle;q=0, */*;q=0.1", "jsonld"),
        ("text/turtle;q=0.0, application/ld+json;q=0", None),  # refused both, asked for nothing else
        ("TEXT/TURTLE", "ttl"),
        ("text/html, */*;q=0.1", "html"),
        ("image/png", None),
        ("text/turtle;q=bogus", None),
        ("application/json", None),
    ],
)
def test_negotiate(accept, expected):
    assert negotiate(accept, OFFERS) == expected


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("text/turtle", "text/turtle"),
        ("application/rdf+xml", "application/rdf+xml"),
        ("application/ld+json", "application/ld+json"),
        ("application/n-triples", "application/n-triples"),
        (None, "text/turtle"),
        ("*/*", "text/turtle"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/rdf+xml;q=0.9, application/ld+json;q=0.95, text/turtle;q=0.1", "application/ld+json"),
        ("text/turtle;q=0, application/*;q=0.5", "application/ld+json"),
        ("application/n-triples;q=1, text/html;q=0.9", "application/n-triples"),
        ("application/json", "application/ld+json"),
        ("image/png", None),
        ("application/pdf, image/*", None),
    ],
)
def test_dataset_content_negotiation(site, ids, accept, media_type):
    client, _, _, _ = site
    fedcat_id = ids[("ville", "velos-libre-service")]
    response = client.get(f"/datasets/{fedcat_id}", headers={"accept": accept} if accept is not None else {})
    if media_type is None:
        assert response.status_code == 406
        assert "text/turtle" in response.json()["detail"]
        return
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    assert "Accept" in response.headers["vary"]
    if media_type == "text/html":
        assert "Stations de vélos en libre-service" in response.text
        return
    graph = graph_of(response)
    assert (rdflib.URIRef(f"{BASE_URL}/datasets/{fedcat_id}"), RDF.type, DCAT.Dataset) in graph
    assert f'/datasets/{fedcat_id}.ttl>; rel="alternate"; type="text/turtle"' in response.headers["link"]


@pytest.mark.parametrize(
    ("ext", "media_type"),
    [
        ("ttl", "text/turtle"),
        ("rdf", "application/rdf+xml"),
        ("jsonld", "application/ld+json"),
        ("nt", "application/n-triples"),
    ],
)
def test_extension_overrides_accept(site, ids, ext, media_type):
    client, _, _, _ = site
    fedcat_id = ids[("ville", "budget-primitif")]
    response = client.get(f"/datasets/{fedcat_id}.{ext}", headers={"accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert "accept" not in response.headers.get("vary", "").lower().replace("accept-encoding", "")
    titles = {str(t) for t in graph_of(response).objects(None, DCTERMS.title)}
    assert "Budget primitif de la ville" in titles


def test_unknown_extension_and_id(site, ids):
    client, _, _, _ = site
    fedcat_id = ids[("ville", "budget-primitif")]
    assert client.get(f"/datasets/{fedcat_id}.xyz").status_code == 404
    missing = client.get("/datasets/ville-0000000000000000")
    assert missing.status_code == 404 and "no dataset" in missing.json()["detail"]
    assert client.get("/catalog.xyz").status_code == 404


# --- the dataset document ----------------------------------------------------------------------------------


def test_dataset_document_keeps_identity_and_provenance(site, ids):
    client, store, _, portal = site
    fedcat_id = ids[("ville", "velos-libre-service")]
    graph = graph_of(client.get(f"/datasets/{fedcat_id}.ttl"))
    dataset = rdflib.URIRef(f"{BASE_URL}/datasets/{fedcat_id}")
    original = rdflib.URIRef(portal.url("/ville/datasets/velos-libre-service"))
    assert (dataset, OWL.sameAs, original) in graph
    assert (dataset, PROV.wasDerivedFrom, original) in graph
    assert (dataset, DCTERMS.identifier, rdflib.Literal("velos-libre-service")) in graph
    notations = {str(graph.value(i, SKOS.notation)) for i in graph.objects(dataset, ADMS.identifier)}
    assert str(original) in notations
    # fedcat's catalogue record, and the source catalogue's record it comes from
    record = rdflib.URIRef(f"{dataset}#record")
    assert (record, RDF.type, DCAT.CatalogRecord) in graph
    assert graph.value(record, FOAF.primaryTopic) == dataset
    stored = store.record(fedcat_id)
    assert graph.value(record, DCTERMS.modified).toPython() == datetime.fromisoformat(stored["last_seen"])
    assert graph.value(record, DCTERMS.issued).toPython() == datetime.fromisoformat(stored["first_seen"])
    source_record = graph.value(record, DCTERMS.source)
    assert (source_record, RDF.type, DCAT.CatalogRecord) in graph
    assert graph.value(source_record, FOAF.primaryTopic) == dataset
    assert str(graph.value(source_record, DCTERMS.identifier)) == str(original)
    assert graph.value(source_record, DCTERMS.modified) is not None
    source = rdflib.URIRef(f"{BASE_URL}/sources/ville")
    assert (source, DCAT.record, source_record) in graph
    assert (source, RDF.type, DCAT.Catalog) in graph
    assert (CATALOG, DCAT.catalog, source) in graph
    assert (CATALOG, DCAT.record, record) in graph
    # the metropolis lists the same dataset: its record is a duplicate, and its catalogue is kept
    duplicate = rdflib.URIRef(f"{BASE_URL}/datasets/{ids[('metropole', 'velos-libre-service')]}")
    assert (dataset, OWL.sameAs, duplicate) in graph
    metro = rdflib.URIRef(f"{BASE_URL}/sources/metropole")
    assert (metro, DCAT.dataset, dataset) in graph
    assert (metro, RDF.type, DCAT.Catalog) in graph
    # distributions have fedcat IRIs under the dataset's, the source's kept
    distributions = set(graph.objects(dataset, DCAT.distribution))
    assert len(distributions) == 2
    assert all(str(d).startswith(f"{dataset}#distribution-") for d in distributions)
    assert all(str(graph.value(d, OWL.sameAs)).startswith(str(original)) for d in distributions)


def test_dataset_without_duplicates_has_no_same_as_to_fedcat(site, ids):
    client, _, _, _ = site
    fedcat_id = ids[("ville", "budget-primitif")]
    graph = graph_of(client.get(f"/datasets/{fedcat_id}.nt"))
    dataset = rdflib.URIRef(f"{BASE_URL}/datasets/{fedcat_id}")
    assert not [o for o in graph.objects(dataset, OWL.sameAs) if str(o).startswith(BASE_URL)]


def test_source_catalogue(site):
    client, _, _, _ = site
    response = client.get("/sources/metropole", headers={"accept": "application/ld+json"})
    assert response.status_code == 200
    graph = graph_of(response)
    source = rdflib.URIRef(f"{BASE_URL}/sources/metropole")
    assert str(graph.value(source, DCTERMS.title)) == "Métropole Européenne de Lille"
    assert graph.value(source, DCTERMS.publisher) is not None
    assert client.get("/sources/nowhere.ttl").status_code == 404


def test_root_catalogue_says_what_the_settings_say(site):
    client, _, config, _ = site
    graph = graph_of(client.get("/catalog.ttl"))
    root = rdflib.URIRef(f"{BASE_URL}/catalog")
    assert (root, RDF.type, DCAT.Catalog) in graph
    assert str(graph.value(root, DCTERMS.title)) == CATALOGUE["title"]
    assert str(graph.value(root, DCTERMS.description)) == CATALOGUE["description"]
    assert str(graph.value(graph.value(root, DCTERMS.publisher), FOAF.name)) == CATALOGUE["publisher"]
    # without the settings, the catalogue is named after fedcat's host
    from fedcat.mappings.catalog_rdf import catalog_info

    bare = parse_config({"settings": {"base_url": BASE_URL}, "sources": []})
    host = BASE_URL.split("://", 1)[1]
    assert catalog_info(bare).title == f"fedcat catalogue ({host})"
    assert catalog_info(bare).publisher == host
    assert catalog_info(config).publisher == CATALOGUE["publisher"]


def test_html_escapes_what_it_shows(site, ids):
    client, _, _, _ = site
    page = client.get(f"/datasets/{ids[('ville', 'budget-primitif')]}", headers={"accept": "text/html"})
    assert "Budget primitif" in page.text
    assert "Aussi publié par" not in page.text
    duplicate = client.get(f"/datasets/{ids[('ville', 'qualite-air')]}", headers={"accept": "text/html"})
    assert "Qualité de l&#39;air : indices quotidiens" in duplicate.text  # escaped by the template
    assert "Aussi publié par" in duplicate.text and "Métropole Européenne de Lille" in duplicate.text
    catalogue = client.get("/catalog?page_size=5", headers={"accept": "text/html"})
    assert catalogue.status_code == 200 and 'rel="next"' in catalogue.text
    assert '<ol class="hits" start="11">' in client.get("/catalog.html?page=3&page_size=5").text


# --- the catalogue -----------------------------------------------------------------------------------------


def walk(client, url: str) -> tuple[list[str], list[rdflib.Graph]]:
    """Follow hydra:next from `url`: every dataset IRI in page order, and the pages."""
    seen, pages = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        graph = graph_of(response)
        pages.append(graph)
        on_page = sorted(str(d) for d in graph.objects(CATALOG, DCAT.dataset))
        seen.extend(on_page)
        view = graph.value(predicate=RDF.type, object=HYDRA.PartialCollectionView, any=False)
        following = graph.value(view, HYDRA.next)
        url = str(following).replace("http://testserver", "") if following else None
        assert len(pages) < 100
    return seen, pages


def test_hydra_walk_reads_every_record_exactly_once(site):
    client, store, _, _ = site
    seen, pages = walk(client, "/catalog.ttl?page_size=4")
    live = {r["dataset"].uri for r in store.iter_records()}
    assert len(seen) == len(set(seen)) == len(live)
    assert set(seen) == live
    total = store.count()
    assert len(pages) == -(-total // 4)
    first = pages[0]
    assert int(first.value(CATALOG, HYDRA.totalItems)) == total
    view = first.value(CATALOG, HYDRA.view)
    assert (view, RDF.type, HYDRA.PartialCollectionView) in first
    assert str(first.value(view, HYDRA.first)).endswith("page=1&page_size=4")
    assert str(first.value(view, HYDRA.last)).endswith(f"page={len(pages)}&page_size=4")
    assert first.value(view, HYDRA.previous) is None
    second_view = pages[1].value(CATALOG, HYDRA.view)
    assert str(pages[1].value(second_view, HYDRA.previous)).endswith("page=1&page_size=4")
    assert pages[-1].value(pages[-1].value(CATALOG, HYDRA.view), HYDRA.next) is None
    # each page holds its datasets whole, with their records
    for graph in pages:
        for dataset in graph.objects(CATALOG, DCAT.dataset):
            assert graph.value(dataset, DCTERMS.title) is not None
            assert (rdflib.URIRef(f"{dataset}#record"), FOAF.primaryTopic, dataset) in graph


def test_numbered_pages_read_the_same_records(site):
    client, store, _, _ = site
    walked, _ = walk(client, "/catalog.nt?page_size=3")
    numbered = []
    for page in range(1, -(-store.count() // 3) + 1):
        graph = graph_of(client.get(f"/catalog.nt?page={page}&page_size=3"))
        numbered.extend(sorted(str(d) for d in graph.objects(CATALOG, DCAT.dataset)))
    assert numbered == walked
    past = client.get(f"/catalog.ttl?page={-(-store.count() // 3) + 1}&page_size=3")
    assert past.status_code == 404 and "past the last page" in past.json()["detail"]


def test_page_size_is_capped(site):
    client, store, _, _ = site
    graph = graph_of(client.get("/catalog.ttl?page_size=5000"))
    view = graph.value(CATALOG, HYDRA.view)
    assert str(view).endswith("page=1&page_size=1000")
    assert len(set(graph.objects(CATALOG, DCAT.dataset))) == store.count()
    assert client.get("/catalog.ttl?page_size=0").status_code == 400


def test_catalogue_negotiates_and_rejects_unknown_parameters(site):
    client, _, _, _ = site
    assert (
        client.get("/catalog", headers={"accept": "application/rdf+xml"})
        .headers["content-type"]
        .startswith("application/rdf+xml")
    )
    assert client.get("/catalog", headers={"accept": "image/png"}).status_code == 406
    misspelt = client.get("/catalog.ttl?themes=x")
    assert misspelt.status_code == 400 and "themes" in misspelt.json()["detail"]


def test_catalogue_accepts_every_search_filter(site):
    client, _, _, _ = site
    parameters = client.app.openapi()["paths"]["/catalog{ext}"]["get"]["parameters"]
    accepted = {p["name"] for p in parameters if p["in"] == "query"}
    assert set(FACETS) <= accepted
    assert {"q", "modified_after", "modified_before"} <= accepted


def test_filtered_slice(site, ids):
    client, store, _, _ = site
    seen, pages = walk(client, "/catalog.ttl?source=metropole&page_size=4")
    metro = {r["dataset"].uri for r in store.iter_records() if r["source_id"] == "metropole"}
    assert set(seen) == metro and len(seen) == len(metro)
    first = pages[0]
    [collection] = set(first.subjects(HYDRA.view))
    assert int(first.value(collection, HYDRA.totalItems)) == len(metro)
    note = str(first.value(first.value(collection, HYDRA.view), HYDRA.description))
    assert "10,000" in note and "search index" in note
    by_publisher = graph_of(client.get("/catalog.ttl", params={"publisher": "Ville de Lille (exemple)"}))
    datasets = set(by_publisher.objects(CATALOG, DCAT.dataset))
    assert datasets and all(
        str(by_publisher.value(by_publisher.value(d, DCTERMS.publisher), FOAF.name))
        == "Ville de Lille (exemple)"
        for d in datasets
    )
    words = graph_of(client.get("/catalog.ttl", params={"q": "velo"}))
    assert rdflib.URIRef(f"{BASE_URL}/datasets/{ids[('ville', 'velos-libre-service')]}") in set(
        words.objects(CATALOG, DCAT.dataset)
    )
    too_deep = client.get("/catalog.ttl?source=metropole&page=101&page_size=100")
    assert too_deep.status_code == 400 and "10,000" in too_deep.json()["detail"]


def test_a_portal_harvests_its_slice_from_fedcat(site, tmp_path):
    """fedcat's own DCAT harvester, over HTTP, follows the filtered catalogue's Hydra links."""
    client, store, _, _ = site
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(client.app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            port = sock.getsockname()[1]
            url = f"http://127.0.0.1:{port}/catalog.ttl?source=metropole&page_size=3"
            national = parse_config(
                {
                    "settings": {"base_url": "https://national.example"},
                    "sources": [{"id": "fedcat-lille", "name": "fedcat (Lille)", "type": "dcat", "url": url}],
                }
            )
            target = Store(tmp_path / "fedcat.db")
            backend = EmbeddedBackend(tmp_path / "index")
            try:
                [result] = harvest(national, target, backend)
                assert result.status == "complete", result.message
                assert result.counts["pages"] == -(-store.count("metropole") // 3)
                harvested = {t.value for r in target.iter_records() for t in r["dataset"].title}
                expected = {
                    t.value
                    for r in store.iter_records()
                    if r["source_id"] == "metropole"
                    for t in r["dataset"].title
                }
                assert harvested == expected
                assert target.count() == store.count("metropole")
            finally:
                backend.close()
                target.close()
        finally:
            server.should_exit = True
            thread.join(10)


# --- withdrawn records -------------------------------------------------------------------------------------


def test_withdrawn_dataset_answers_gone(tmp_path):
    store = Store(tmp_path / "fedcat.db")
    backend = EmbeddedBackend(tmp_path / "index")
    try:
        with PortalServer() as portal:
            base = portal.url("/ville")
            datasets = city_datasets(base)
            [page] = hydra_pages(datasets, base + "/catalog.ttl?page=%d", 100).values()
            portal.add("/ville/catalog.ttl?page=1", page)
            config = parse_config(
                {
                    "settings": {"base_url": BASE_URL},
                    "sources": [
                        {"id": "ville", "name": "Ville", "type": "dcat", "url": base + "/catalog.ttl?page=1"}
                    ],
                }
            )
            harvest(config, store, backend)
            [smaller] = hydra_pages(datasets[1:], base + "/catalog.ttl?page=%d", 100).values()
            portal.add("/ville/catalog.ttl?page=1", smaller)
            [result] = harvest(config, store, backend)
            assert result.counts["withdrawn"] == 1
        gone = record_id("ville", datasets[0].uri)
        with TestClient(create_app(store, backend, config)) as client:
            response = client.get(f"/datasets/{gone}")
            assert response.status_code == 410 and "withdrawn" in response.json()["detail"]
            seen, _ = walk(client, "/catalog.ttl?page_size=5")
            assert len(seen) == len(datasets) - 1
            assert f"{BASE_URL}/datasets/{gone}" not in seen
    finally:
        backend.close()
        store.close()


# --- validation --------------------------------------------------------------------------------------------


def test_dataset_validation(site, ids, monkeypatch):
    if not (SHAPES / "dcat-ap-3.0.1").is_dir():
        pytest.skip(f"the official shapes are absent ({SHAPES})")
    client, _, _, _ = site
    monkeypatch.setenv("FEDCAT_SHAPES_DIR", str(SHAPES / "dcat-ap-3.0.1"))
    response = client.get(f"/datasets/{ids[('ville', 'velos-libre-service')]}/validation")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["profile"] == "dcat-ap-3.0.1"
    assert body["counts"]["fedcat"] == 0
    assert body["conforms"] is (body["counts"]["violations"] == 0)
    monkeypatch.setenv("FEDCAT_SHAPES_DIR", str(SHAPES / "dcat-ap-3.0.0"))
    older = client.get(f"/datasets/{ids[('ville', 'velos-libre-service')]}/validation?profile=dcat-ap-3.0.0")
    assert older.status_code == 200 and older.json()["counts"]["fedcat"] == 0
    assert client.get("/datasets/ville-0000000000000000/validation").status_code == 404


def test_validation_without_shapes_is_unavailable(site, ids, monkeypatch, tmp_path):
    client, _, _, _ = site
    monkeypatch.setenv("FEDCAT_SHAPES_DIR", str(tmp_path / "nowhere"))
    response = client.get(f"/datasets/{ids[('ville', 'budget-primitif')]}/validation")
    assert response.status_code == 503
    unknown = client.get(f"/datasets/{ids[('ville', 'budget-primitif')]}/validation?profile=dcat-ap-9")
    assert unknown.status_code == 400 and "profile" in unknown.json()["detail"]
