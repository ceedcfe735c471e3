"""Harvesting DCAT over real HTTP on 127.0.0.1: the corpus, Hydra paging, unsafe links, the no-loss rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import rdflib
from conftest import CORPUS, MEDIA_TYPES, RDFLIB_FORMATS
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer, Reply
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.documents import sync_index
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store
from rdflib.namespace import DCAT, DCTERMS, RDF

DATASET_SERIES = rdflib.URIRef("http://www.w3.org/ns/dcat#DatasetSeries")  # DCAT 3: not in rdflib's DCAT


def corpus_dcat_files() -> list[Path]:
    if not (CORPUS / "dcat").is_dir():
        return []
    return sorted(p for p in (CORPUS / "dcat").rglob("*") if p.is_file() and p.suffix in MEDIA_TYPES)


def config_for(*sources: dict, **settings):
    return parse_config({"settings": settings, "sources": list(sources)})


def source(source_id: str, url: str, **extra) -> dict:
    return {"id": source_id, "name": source_id, "type": "dcat", "url": url, **extra}


def reference_graph(path: Path) -> rdflib.Graph | None:
    """The file as rdflib reads it offline (None when it cannot: remote JSON-LD contexts, syntax errors)."""
    try:
        return rdflib.Graph().parse(path, format=RDFLIB_FORMATS[path.suffix])
    except Exception:
        return None


def stored_records(s: Store) -> dict[str, tuple]:
    """Every stored record: id -> (payload hash, mapped dataset, payload)."""
    rows = s.db.execute(
        "SELECT r.id, r.raw_hash, d.dataset FROM records r JOIN record_data d ON d.id = r.id"
    ).fetchall()
    return {row[0]: (row[1], row[2], s.raw(row[0])) for row in rows}


def live_titles(store: Store, source_id: str) -> set[tuple[str, str | None]]:
    return {
        (t.value, t.lang)
        for r in store.iter_records()
        if r["source_id"] == source_id
        for t in r["dataset"].title
    }


@pytest.mark.skipif(not corpus_dcat_files(), reason="../shared/corpus/dcat is absent: corpus tests need it")
@pytest.mark.parametrize("path", corpus_dcat_files(), ids=lambda p: str(p.relative_to(CORPUS / "dcat")))
def test_corpus_file_harvests_every_dataset(path, portal, catalogue):
    store, backend = catalogue
    url = portal.add("/" + path.name, path.read_bytes(), MEDIA_TYPES[path.suffix])
    [result] = harvest(config_for(source("corpus", url)), store, backend)
    reference = reference_graph(path)
    if reference is None:
        # rdflib cannot read it offline either: fedcat must say so clearly, and store nothing
        assert result.status == "failed", result.message
        assert "not valid" in result.message or "refused" in result.message
        assert store.count() == 0
        return
    # dataset series are records too (DCAT 3's datasets of datasets)
    datasets = set(reference.subjects(RDF.type, DCAT.Dataset)) | set(
        reference.subjects(RDF.type, DATASET_SERIES)
    )
    # stand-alone data services are records too: listed by a catalogue, or named by no distribution
    named = set(reference.objects(None, DCAT.accessService))
    listed = set(reference.objects(None, DCAT.service))
    services = {
        s
        for s in reference.subjects(RDF.type, DCAT.DataService)
        if s not in datasets and (s in listed or s not in named)
    }
    if not datasets and not services and not set(reference.subjects(RDF.type, DCAT.Catalog)):
        # not a catalogue at all (a JSON-LD context): a failed run saying so
        assert result.status == "failed", result.message
        assert "no dcat:Catalog, dcat:Dataset or dcat:DataService found" in result.message
        assert store.count() == 0
        return
    assert result.status in ("complete", "partial"), result.message
    if result.status == "partial":  # only a next link leaving the local origin may stop the walk
        assert "leaves the source's origin" in result.message
    assert store.count("corpus") == len(datasets) + len(services)
    expected_titles = {
        (str(t).strip(), t.language)
        for d in datasets | services
        for t in reference.objects(d, DCTERMS.title)
        if str(t).strip()
    }
    assert live_titles(store, "corpus") == expected_titles
    expected_distributions = sorted(
        len(set(reference.objects(d, DCAT.distribution))) for d in datasets | services
    )
    got = sorted(len(r["dataset"].distributions) for r in store.iter_records())
    assert got == expected_distributions
    # every stored dataset is searchable
    assert backend.search(SearchQuery(page_size=100)).total == len(datasets) + len(services)


def serve_city(portal: PortalServer, page_size: int = 5) -> tuple[str, int]:
    base = portal.url("/ville")
    datasets = city_datasets(base)
    for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", page_size).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body)
    return base + "/catalog.ttl?page=1", len(datasets)


def test_hydra_paging_walks_every_page(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal)
    [result] = harvest(config_for(source("ville", url)), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["pages"] == 3
    assert result.counts["created"] == count == store.count("ville")
    assert {r.path + "?" + "&".join(f"{k}={v[0]}" for k, v in r.query.items()) for r in portal.log} == {
        f"/ville/catalog.ttl?page={n}" for n in (1, 2, 3)
    }
    hit = backend.search(SearchQuery(q="velos libre service"))
    assert hit.total >= 1
    assert store.record(hit.ids[0])["dataset"].title[0].value == "Stations de vélos en libre-service"


def test_corpus_two_page_walks(portal, catalogue):
    store, backend = catalogue
    folder = CORPUS / "dcat" / "udata-fixtures"
    if not folder.is_dir():
        pytest.skip("../shared/corpus/dcat/udata-fixtures is absent")
    origin = portal.base_url.removeprefix("http://")
    sources = []
    for kind in ("partial-collection", "paged-collection"):
        for n in (1, 2):
            body = (folder / f"{kind}-{n}.jsonld").read_text().replace("data.test.org", f"{origin}/{kind}")
            portal.add(f"/{kind}/catalog.jsonld?page={n}", body, "application/ld+json")
        sources.append(source(kind, portal.url(f"/{kind}/catalog.jsonld?page=1")))
    results = harvest(config_for(*sources), store, backend)
    for result in results:
        assert result.status == "complete", result.message
        assert result.counts["pages"] == 2
        assert store.count(result.source_id) == 4  # hydra:totalItems of the fixture


def test_paging_loop_is_detected_and_run_is_partial(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal)
    page3 = portal.routes["/ville/catalog.ttl?page=3"].body.decode()
    looped = (
        page3
        + f"\n<{portal.url('/ville/catalog.ttl?page=3')}> <http://www.w3.org/ns/hydra/core#next> <{url}> .\n"
    )
    portal.add("/ville/catalog.ttl?page=3", looped)
    [result] = harvest(config_for(source("ville", url)), store, backend)
    assert result.status == "partial"
    assert "paging loop" in result.message
    assert store.count("ville") == count  # every page was read once, nothing lost
    assert len(portal.log) == 3


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://example.org/catalog.ttl?page=2", "leaves the source's origin"),
        ("http://169.254.169.254/latest/meta-data/", "leaves the source's origin"),
        ("file:///etc/passwd", "only http and https"),
        ("http://127.0.0.1:99999/catalog.ttl?page=2", "not a valid URL"),  # Python's parser raised
    ],
)
def test_next_link_outside_the_origin_is_refused(portal, catalogue, target, reason):
    store, backend = catalogue
    url, _ = serve_city(portal)
    page1 = portal.routes["/ville/catalog.ttl?page=1"].body.decode()
    page1 = page1.replace(portal.url("/ville/catalog.ttl?page=2"), target)
    portal.add("/ville/catalog.ttl?page=1", page1)
    [result] = harvest(config_for(source("ville", url)), store, backend)
    assert result.status == "partial"
    assert reason in result.message
    assert store.count("ville") == 5  # the first page's datasets are kept
    assert len(portal.log) == 1


def test_allowed_hosts_let_paging_continue_elsewhere(portal, catalogue):
    store, backend = catalogue
    base = portal.url("/ville")
    datasets = city_datasets(base)
    # page 2 is served under "localhost", another host name for the same server
    other = portal.base_url.replace("127.0.0.1", "localhost")
    pages = hydra_pages(datasets, base + "/catalog.ttl?page=%d", 10)
    portal.add(
        "/ville/catalog.ttl?page=1",
        pages[1].decode().replace(base + "/catalog.ttl?page=2", other + "/ville/catalog.ttl?page=2"),
    )
    portal.add("/ville/catalog.ttl?page=2", pages[2])
    [result] = harvest(
        config_for(source("ville", base + "/catalog.ttl?page=1", allowed_hosts=["localhost"])), store, backend
    )
    assert result.status == "complete", result.message
    assert store.count("ville") == len(datasets)


def test_reharvest_of_unchanged_source_updates_and_reindexes_nothing(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal)
    config = config_for(source("ville", url))
    harvest(config, store, backend)
    [again] = harvest(config, store, backend)
    assert again.status == "complete"
    assert (again.counts["created"], again.counts["updated"], again.counts["withdrawn"]) == (0, 0, 0)
    assert again.counts["unchanged"] == count
    # conditional GET: the portal answered 304 to the second walk
    assert all("If-None-Match" in r.headers for r in portal.log[3:])
    assert sync_index(store, backend) == 0
    # a full re-fetch (no validators) parses again but still finds every payload unchanged
    [full] = harvest(config, store, backend, full=True)
    assert (full.counts["unchanged"], full.counts["updated"]) == (count, 0)
    assert store.count("ville") == count


def test_changed_dataset_is_updated_and_reindexed(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal)
    config = config_for(source("ville", url))
    harvest(config, store, backend)
    page = portal.routes["/ville/catalog.ttl?page=2"].body.decode()
    portal.add(
        "/ville/catalog.ttl?page=2", page.replace("Bibliothèques et médiathèques", "Réseau des médiathèques")
    )
    [again] = harvest(config, store, backend)
    assert (again.counts["updated"], again.counts["unchanged"], again.counts["created"]) == (1, count - 1, 0)
    assert backend.search(SearchQuery(q="reseau mediatheques")).total == 1


def test_removed_dataset_is_withdrawn_after_a_complete_run_only(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal, page_size=20)
    config = config_for(source("ville", url))
    harvest(config, store, backend)
    [kept] = [r for r in store.iter_records() if "Arbres" in r["dataset"].title[0].value]
    # the source drops one dataset, but the page that should list the rest fails: partial, nothing withdrawn
    base = portal.url("/ville")
    smaller = [d for d in city_datasets(base) if "Arbres" not in d.title[0].value]
    pages = hydra_pages(smaller, base + "/catalog.ttl?page=%d", 7)
    portal.routes.clear()
    portal.add("/ville/catalog.ttl?page=1", pages[1])
    portal.add("/ville/catalog.ttl?page=2", b"oops", status=500)
    [partial] = harvest(config_for(source("ville", url), http={"retries": 0}), store, backend)
    assert partial.status == "partial"
    assert "HTTP 500" in partial.message
    assert partial.counts["withdrawn"] == 0
    assert store.count("ville") == count
    # now the whole smaller catalogue is served: the complete run withdraws the missing dataset
    for number, body in pages.items():
        portal.add(f"/ville/catalog.ttl?page={number}", body)
    [complete] = harvest(config, store, backend)
    assert complete.status == "complete"
    assert complete.counts["withdrawn"] == 1
    assert store.count("ville") == count - 1
    tombstone = store.record(kept["id"])
    assert tombstone["withdrawn_at"] is not None  # kept, not deleted
    assert kept["id"] not in backend.ids()


def test_mass_withdrawal_is_refused(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal, page_size=20)
    config = config_for(source("ville", url))
    harvest(config, store, backend)
    portal.routes.clear()
    # a catalogue with no dataset at all (an empty document would not be a catalogue: a failed run)
    portal.add(
        "/ville/catalog.ttl?page=1",
        b"@prefix dcat: <http://www.w3.org/ns/dcat#> .\n<https://ville.example/catalog> a dcat:Catalog .\n",
    )
    [result] = harvest(config, store, backend)
    assert result.status == "partial"
    assert "refused to withdraw" in result.message
    assert store.count("ville") == count
    [forced] = harvest(config, store, backend, force_withdraw=True)
    assert forced.counts["withdrawn"] == count
    assert store.count("ville") == 0


def test_failed_source_does_not_stop_the_others(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal)
    portal.add("/broken.ttl", "this is <not turtle", "text/turtle")
    portal.add("/html.ttl", "<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html")
    results = harvest(
        config_for(
            source("broken", portal.url("/broken.ttl")),
            source("html", portal.url("/html.ttl")),
            source("ville", url),
        ),
        store,
        backend,
    )
    status = {r.source_id: (r.status, r.message) for r in results}
    assert status["broken"][0] == "failed" and "not valid Turtle" in status["broken"][1]
    assert status["html"][0] == "failed" and "HTML page" in status["html"][1]
    assert status["ville"][0] == "complete"
    assert store.count("ville") == count


def test_multilingual_literals_and_dates_survive(portal, catalogue):
    store, backend = catalogue
    url, _ = serve_city(portal)
    harvest(config_for(source("ville", url)), store, backend)
    [record] = [r for r in store.iter_records() if r["dataset"].title[0].value.startswith("Qualité de l'air")]
    dataset = record["dataset"]
    assert {(t.value, t.lang) for t in dataset.title} == {
        ("Qualité de l'air : indices quotidiens", "fr"),
        ("Daily air quality index", "en"),
    }
    assert dataset.modified == "2026-11-20"
    assert dataset.publisher.name[0].value == "Ville de Lille (exemple)"
    assert [d.format for d in dataset.distributions] == [
        "http://publications.europa.eu/resource/authority/file-type/CSV",
        "http://publications.europa.eu/resource/authority/file-type/JSON",
    ]
    assert dataset.spatial[0].bbox.startswith("POLYGON")


def test_retry_after_is_honoured(portal, catalogue):
    store, backend = catalogue
    url, count = serve_city(portal, page_size=20)
    calls = []

    def flaky(request):
        calls.append(request)
        if len(calls) == 1:
            return Reply(b"slow down", status=429, headers={"Retry-After": "0"})
        return None

    body = portal.routes.pop("/ville/catalog.ttl?page=1")
    portal.handle("/ville/catalog.ttl", lambda r: flaky(r) or body)
    [result] = harvest(config_for(source("ville", url)), store, backend)
    assert result.status == "complete", result.message
    assert len(calls) == 2
    assert store.count("ville") == count


def test_the_parsing_process_stores_what_parsing_here_stores(portal, catalogue, tmp_path):
    """Pages 2 and 3 go through the DCAT parsing process (forced), which maps, hashes and packs their
    records itself: the store must hold the very records a harvest parsing here holds, and a full
    re-harvest through that process must find every one unchanged."""
    store, backend = catalogue
    url, count = serve_city(portal)
    here = Store(tmp_path / "here.db")
    here_backend = EmbeddedBackend(tmp_path / "here-index")
    try:
        [local] = harvest(
            config_for(source("ville", url, options={"parse_worker": False})), here, here_backend
        )
        config = config_for(source("ville", url, options={"parse_worker": True}))
        [worker] = harvest(config, store, backend)
        assert local.status == worker.status == "complete"
        assert worker.counts["created"] == count == len(store.live_ids())

        assert stored_records(store) == stored_records(here)
        [full] = harvest(config, store, backend, full=True)
        assert (full.counts["unchanged"], full.counts["updated"], full.counts["failed"]) == (count, 0, 0)
    finally:
        here_backend.close()
        here.close()


# --- a large page read from a store on disk (harvester/adapters/rdfstore.py) ------------------------------


def _records(pages) -> list[tuple[str, bytes, str | None, bytes]]:
    """(source record id, payload, change hash, mapped dataset) of every record, sorted: what a run stores."""
    from fedcat.mappings import from_rdf
    from fedcat.mappings.context import SourceContext
    from fedcat.mappings.model import dataset_to_json

    context = SourceContext("s", "https://fedcat.example/")
    return sorted(
        (
            r.source_record_id,
            r.payload,
            r.digest,
            dataset_to_json(from_rdf.map_record(r.payload, "https://fedcat.example/d", context, r.parsed)),
        )
        for page in pages
        for r in page.records
    )


@pytest.fixture
def temporary(tmp_path, monkeypatch):
    """Python's temporary directory, to see that a large page leaves nothing there (its table is SQLite's
    own temporary file: see test_a_large_pages_table_is_on_disk_and_gone_even_after_a_kill)."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.skipif(not corpus_dcat_files(), reason="../shared/corpus/dcat is absent: corpus tests need it")
def test_a_page_read_from_a_store_gives_what_parsing_in_memory_gives(monkeypatch, temporary):
    """Corpus DCAT files (Turtle, RDF/XML, JSON-LD, N-Triples), read whole in memory and read from a store
    on disk in parts of 3: the same records (ids, payloads, so hashes), mapped the same, the same next link
    and total; nothing left in the temporary directory."""
    from fedcat.harvester.adapters import dcat, rdfstore
    from fedcat.harvester.http import HarvestError

    monkeypatch.setattr(rdfstore, "PART", 3)
    compared = 0
    # the 30 largest files (most records, every serialisation): a store costs ~0.1 s to open
    files = sorted(corpus_dcat_files(), key=lambda p: p.stat().st_size, reverse=True)[:30]
    assert {p.suffix for p in files} >= {".ttl", ".rdf", ".jsonld"}
    for path in files:
        content = path.read_bytes()
        url = "https://portal.example/" + path.name
        try:
            rdf_format = dcat.detect_format(content, MEDIA_TYPES[path.suffix], url)
            whole = dcat.read_page(content, rdf_format, url, url, 1)
        except HarvestError as exc:
            with pytest.raises(HarvestError) as raised:
                list(dcat.read_large_page(content, rdf_format, url, url, 1))
            assert str(raised.value) == str(exc), path
            continue
        parts = list(dcat.read_large_page(content, rdf_format, url, url, 1))
        assert _records(parts) == _records([whole]), path
        assert [p.url for p in parts] == [url] + [f"{url}#part={n}" for n in range(2, len(parts) + 1)], path
        assert [p.number for p in parts] == list(range(1, len(parts) + 1))
        assert all(len(p.records) <= 3 for p in parts)
        assert {p.next_url for p in parts} == {whole.next_url} and {p.total for p in parts} == {whole.total}
        compared += bool(whole.records)
    assert compared >= 20  # most of them have records
    assert list(temporary.iterdir()) == []


def test_a_large_page_is_harvested_in_parts_as_it_would_be_whole(
    portal, catalogue, tmp_path, monkeypatch, temporary
):
    """One page of the whole city over the size threshold: stored exactly as a harvest parsing it in
    memory stores it (ids, hashes, mapped datasets, payloads); a second run finds every record unchanged,
    withdraws nothing (no part is skipped by a conditional GET meant for another)."""
    from fedcat.harvester.adapters import rdfstore

    store, backend = catalogue
    base = portal.url("/ville")
    datasets = city_datasets(base)
    [(_, body)] = hydra_pages(datasets, base + "/catalog.ttl?page=%d", len(datasets)).items()
    url = portal.add("/ville/catalog.ttl", body, "text/turtle", headers={"ETag": '"v1"'})
    here = Store(tmp_path / "here.db")
    here_backend = EmbeddedBackend(tmp_path / "here-index")
    try:
        [whole] = harvest(config_for(source("ville", url)), here, here_backend)
        monkeypatch.setattr(rdfstore, "STORE_OVER", len(body) - 1)
        monkeypatch.setattr(rdfstore, "PART", 3)
        [parts] = harvest(config_for(source("ville", url)), store, backend)
        assert whole.status == parts.status == "complete", parts.message
        assert parts.counts["pages"] == (len(datasets) + 2) // 3 and whole.counts["pages"] == 1
        assert parts.counts["created"] == len(datasets) == len(store.live_ids())

        assert stored_records(store) == stored_records(here)
        [again] = harvest(config_for(source("ville", url)), store, backend)
        assert again.status == "complete", again.message
        assert (again.counts["unchanged"], again.counts["withdrawn"]) == (len(datasets), 0)
        assert list(temporary.iterdir()) == []
    finally:
        here_backend.close()
        here.close()


def hostile_page(datasets: int = 12) -> bytes:
    """A page of the shapes a table read could get wrong: a dataset whose statements are scattered across
    the file (and repeated), blank-node datasets (with and without dct:identifier), a publisher described
    again with every dataset, a chain of blank nodes past the per-record cap, values the parser takes but
    the term constructors refuse (an IRI with a space, a tab in a subject), typed literals in their own
    lexical form, a base direction, a dataset naming another, a series and its members, services listed
    and accessed."""
    dcat, dct = "http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/"
    lines = [
        f"@prefix dcat: <{dcat}> . @prefix dct: <{dct}> . @prefix foaf: <http://xmlns.com/foaf/0.1/> .",
        "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> . @prefix hydra: <http://www.w3.org/ns/hydra/core#> .",
        '<https://ville.example/d/0> dct:title "Début"@fr ; dct:modified "2024-01-01"^^xsd:date .',
        "<https://ville.example/catalog> a dcat:Catalog ; hydra:totalItems 42 ; "
        "hydra:next <https://ville.example/catalog?page=2> .",
    ]
    for n in range(datasets):
        lines.append(
            f"<https://ville.example/catalog> dcat:dataset <https://ville.example/d/{n}> .\n"
            f'<https://ville.example/d/{n}> a dcat:Dataset ; dct:title "Jeu {n}"@fr, "Set {n}"@en ; '
            f'dct:publisher <https://ville.example/org> ; dcat:version "1.0"^^xsd:decimal ; '
            f'dcat:spatialResolutionInMeters "010"^^xsd:integer ; dct:relation <https://ville.example/d/{n + 1}> ; '
            f"dcat:distribution [ a dcat:Distribution ; dcat:accessURL <https://ville.example/files/{n} 2024.csv> ; "
            f'dct:title "fichier {n}"@ar--rtl ] .\n'
            f'<https://ville.example/org> a foaf:Agent ; foaf:name "Ville" .'
        )
    chain = " ".join("[ dct:hasPart" for _ in range(60)) + ' "fond" ' + "]" * 60
    lines += [
        f'[ a dcat:Dataset ; dct:identifier "anonyme-1" ; dct:title "Sans IRI" ; dct:isPartOf {chain} ] .',
        '[ a dcat:Dataset ; dct:title "Ni IRI ni identifiant" ] .',
        '<https://ville.example/series> a dcat:DatasetSeries ; dct:title "Série" .',
        "<https://ville.example/d/1> dcat:inSeries <https://ville.example/series> .",
        "<https://ville.example/d/3> dcat:inSeries <https://ville.example/series> .",
        "<https://ville.example/catalog> dcat:service <https://ville.example/api> .",
        '<https://ville.example/api> a dcat:DataService ; dcat:servesDataset <https://ville.example/d/2> ; dct:title "API" .',
        '<https://ville.example/wms> a dcat:DataService ; dct:title "WMS" .',
        "<https://ville.example/d/5> dcat:distribution [ dcat:accessService <https://ville.example/wms> ] .",
        '<https://ville.example/tab\tsubject> a dcat:Dataset ; dct:title "Tab" .',
        # the first dataset's last statements, at the very end of the file (and one said twice)
        '<https://ville.example/d/0> dct:modified "2025-06-30"^^xsd:date ; dct:title "Début"@fr ; '
        'dcat:keyword "fin" .',
    ]
    return "\n".join(lines).encode()


def test_a_large_page_reads_hostile_shapes_as_parsing_in_memory_does(monkeypatch):
    from fedcat.harvester.adapters import dcat, rdfstore
    from pyoxigraph import RdfFormat

    monkeypatch.setattr(rdfstore, "PART", 4)
    monkeypatch.setattr(rdfstore, "CACHED_NODES", 2)  # shared nodes read again and again
    content, url = hostile_page(), "https://ville.example/catalog"
    whole = dcat.read_page(content, RdfFormat.TURTLE, url, url, 1)
    parts = list(dcat.read_large_page(content, RdfFormat.TURTLE, url, url, 1))
    assert len(whole.records) == 12 + 5 and len(parts) == 5
    assert _records(parts) == _records([whole])
    assert {p.next_url for p in parts} == {"https://ville.example/catalog?page=2"} and {
        p.total for p in parts
    } == {42}
    first = next(r for p in parts for r in p.records if r.source_record_id == "https://ville.example/d/0")
    assert b'"fin"' in first.payload and b"2025-06-30" in first.payload  # gathered from the file's end
    ids = {r.source_record_id for p in parts for r in p.records}
    assert "identifier:anonyme-1" in ids and any(i.startswith("digest:") for i in ids)


@pytest.mark.parametrize(
    ("media_type", "content"),
    [
        (
            "application/rdf+xml",
            b'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dcat="http://www.w3.org/ns/dcat#"'
            b' xmlns:dct="http://purl.org/dc/terms/"><dcat:Dataset rdf:about="http://example.org/d">'
            b"<dct:title>&b;</dct:title></dcat:Dataset></rdf:RDF>",
        ),
        (
            "application/rdf+xml",
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            + b"<rdf:Description><rdf:value>" * 5000
            + b"</rdf:value></rdf:Description>" * 5000
            + b"</rdf:RDF>",
        ),
        (
            "text/turtle",
            b"<http://example.org/d> <http://example.org/p> "
            + b"[ <http://example.org/p> " * 5000
            + b"1"
            + b" ]" * 5000
            + b" .",
        ),
        (
            "application/ld+json",
            b'{"@id": "http://example.org/d", "http://example.org/p": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        ),
    ],
    ids=["xml entities", "xml depth", "turtle depth", "json-ld depth"],
)
def test_a_large_page_is_refused_as_a_page_in_memory_is(media_type, content):
    """The guards of issue 10 (entities, nesting) run before the table is written: the same refusal."""
    from fedcat.harvester.adapters import dcat
    from fedcat.harvester.http import HarvestError

    url = "https://ville.example/catalog"
    rdf_format = dcat.detect_format(content, media_type, url)
    with pytest.raises(HarvestError) as in_memory:
        dcat.read_page(content, rdf_format, url, url, 1)
    with pytest.raises(HarvestError) as from_table:
        list(dcat.read_large_page(content, rdf_format, url, url, 1))
    assert str(from_table.value) == str(in_memory.value)
    assert "refused" in str(in_memory.value) or "entit" in str(in_memory.value)


def test_a_large_pages_table_is_on_disk_and_gone_even_after_a_kill(tmp_path):
    """The table is a file in SQLite's temporary directory, unlinked from the start: while a page is read
    the process holds it open (deleted), the directory stays empty, and a kill -9 leaves nothing behind;
    closing the parts closes it."""
    import signal
    import subprocess
    import sys

    folder = tmp_path / "sqlite-tmp"
    folder.mkdir()
    script = (
        "import json, os, sys\n"
        "from fedcat.harvester.adapters import dcat, rdfstore\n"
        "rdfstore.CACHE_KB = 256  # written to its file, not kept in the cache\n"
        "from pyoxigraph import RdfFormat\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_harvest_dcat import hostile_page\n"
        "url = 'https://ville.example/catalog'\n"
        "parts = dcat.read_large_page(hostile_page(3000), RdfFormat.TURTLE, url, url, 1)\n"
        "next(parts)\n"
        "def held():\n"
        "    found = []\n"
        "    for fd in os.listdir('/proc/self/fd'):\n"
        "        try:\n"
        "            found.append(os.readlink(f'/proc/self/fd/{fd}'))\n"
        "        except OSError:\n"
        "            pass\n"
        "    return json.dumps([f for f in found if f.startswith(os.environ['SQLITE_TMPDIR'])])\n"
        "print(held(), flush=True)\n"
        "sys.stdin.readline()\n"
        "parts.close()\n"
        "print(held(), flush=True)\n"
        "sys.stdin.readline()\n"
    )
    env = {**os.environ, "SQLITE_TMPDIR": str(folder)}
    tests = str(Path(__file__).parent)
    for kill in (False, True):
        reader = subprocess.Popen(
            [sys.executable, "-c", script, tests],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            held = json.loads(reader.stdout.readline())
            assert len(held) == 1 and held[0].endswith(" (deleted)"), held  # on disk, unlinked already
            assert list(folder.iterdir()) == []
            if kill:
                reader.send_signal(signal.SIGKILL)
                reader.wait(timeout=30)
            else:
                reader.stdin.write("\n")
                reader.stdin.flush()
                assert json.loads(reader.stdout.readline()) == []  # closed with the parts
                reader.stdin.write("\n")
                reader.stdin.flush()
                assert reader.wait(timeout=30) == 0
        finally:
            reader.kill()
            reader.wait()
        assert list(folder.iterdir()) == []


def test_a_large_page_is_read_in_memory_that_does_not_grow_with_it(monkeypatch):
    """What Python holds while a large page is checked and read (its records, the nodes kept, the rows on
    their way to the table) is the same for 4× the datasets; read whole, the page's graph grows with them.
    (The table's own cache is SQLite's, bounded by rdfstore.CACHE_KB; bench/large_page.py measures it all.)"""
    import gc
    import tracemalloc

    from fedcat.harvester import safety
    from fedcat.harvester.adapters import dcat, rdfstore
    from pyoxigraph import RdfFormat

    monkeypatch.setattr(rdfstore, "PART", 100)
    monkeypatch.setattr(rdfstore, "CACHED_NODES", 256)
    monkeypatch.setattr(safety, "ONE_PASS_UP_TO", 0)  # the pages here stand for pages of many megabytes
    url = "https://ville.example/catalog"

    def peak(datasets: int, read) -> int:
        content = hostile_page(datasets)
        gc.collect()
        tracemalloc.start()
        try:
            for _ in read(content):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def parts(content):
        return dcat.read_large_page(content, RdfFormat.TURTLE, url, url, 1)

    def whole(content):
        return [dcat.read_page(content, RdfFormat.TURTLE, url, url, 1)]

    small, large = peak(1000, parts), peak(4000, parts)
    assert large < small * 1.15, (small, large)
    assert peak(4000, whole) > 2 * peak(1000, whole)


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/bom.ttl", "text/turtle"),  # a Turtle file saved with a byte-order mark (Windows editors)
        ("/cp1252.ttl", "text/turtle"),  # Turtle saved as Windows-1252: é is one byte, not UTF-8
        ("/latin1.rdf", "application/rdf+xml"),  # RDF/XML declaring encoding="ISO-8859-1"
        ("/utf16.rdf", "application/rdf+xml"),  # RDF/XML in UTF-16 (its BOM and declaration say so)
    ],
)
def test_pages_in_other_text_encodings_are_read_as_what_they_mean(portal, catalogue, path, media_type):
    store, backend = catalogue
    title = "Données de l'été à Orléans"
    ttl = (
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n@prefix dct: <http://purl.org/dc/terms/> .\n"
        f"<https://ville.example/catalog> a dcat:Catalog ; dcat:dataset <https://ville.example/ds/1> .\n"
        f'<https://ville.example/ds/1> a dcat:Dataset ; dct:title "{title}"@fr .\n'
    )
    rdf = (
        '<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns:dcat="http://www.w3.org/ns/dcat#" xmlns:dct="http://purl.org/dc/terms/">'
        '<dcat:Catalog rdf:about="https://ville.example/catalog"><dcat:dataset>'
        '<dcat:Dataset rdf:about="https://ville.example/ds/1">'
        f'<dct:title xml:lang="fr">{title}</dct:title></dcat:Dataset></dcat:dataset></dcat:Catalog></rdf:RDF>'
    )
    encoded = {
        "/bom.ttl": ("\ufeff" + ttl).encode("utf-8"),
        "/cp1252.ttl": ttl.encode("cp1252"),
        "/latin1.rdf": rdf.format(encoding="ISO-8859-1").encode("latin-1"),
        "/utf16.rdf": rdf.format(encoding="UTF-16").encode("utf-16"),
    }[path]
    portal.add(path, encoded, media_type)
    [result] = harvest(config_for(source("ville", portal.url(path))), store, backend)
    assert result.status == "complete", result.message
    [record] = [store.record(i) for i in backend.ids()]
    assert [t.value for t in record["dataset"].title] == [title]


# --- JSON-LD pages naming their @context by URL -----------------------------------------------------------

# fedcat's own small DCAT context (terms as DCAT-AP's JSON-LD examples use them), split in two documents so
# that a context importing another is covered too
DCAT_TERMS = {
    "@context": {
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "Catalog": "dcat:Catalog",
        "Dataset": "dcat:Dataset",
        "dataset": {"@id": "dcat:dataset", "@type": "@id"},
        "title": {"@id": "dct:title", "@language": "en"},
    }
}


def jsonld_page(context: object, pages: int = 1, number: int = 1, base: str = "") -> bytes:
    graph = [
        {
            "@id": "https://ville.example/catalog",
            "@type": "Catalog",
            "dataset": [f"https://ville.example/ds/{number}"],
        },
        {"@id": f"https://ville.example/ds/{number}", "@type": "Dataset", "title": f"Bee counts {number}"},
    ]
    if number < pages:
        graph.append(
            {
                "@id": f"{base}/bees.jsonld?page={number}",
                "http://www.w3.org/ns/hydra/core#next": {"@id": f"{base}/bees.jsonld?page={number + 1}"},
            }
        )
    return json.dumps({"@context": context, "@graph": graph}).encode()


def test_jsonld_page_with_a_remote_context_is_read_with_it(portal, catalogue):
    store, backend = catalogue
    portal.add("/contexts/terms.jsonld", json.dumps(DCAT_TERMS), "application/ld+json")
    portal.add(
        "/contexts/dcat.jsonld",
        json.dumps(
            {"@context": {"@import": "terms.jsonld", "@version": 1.1}}
        ),  # resolved against its own URL
        "application/ld+json",
    )
    base = portal.url("")
    for number in (1, 2):
        page = jsonld_page(portal.url("/contexts/dcat.jsonld"), pages=2, number=number, base=base)
        portal.add(f"/bees.jsonld?page={number}", page, "application/ld+json")
    [result] = harvest(config_for(source("bees", portal.url("/bees.jsonld?page=1"))), store, backend)
    assert result.status == "complete", result.message
    titles = sorted(t.value for i in backend.ids() for t in store.record(i)["dataset"].title)
    assert titles == ["Bee counts 1", "Bee counts 2"]
    # loaded once for the run, not once per page
    assert len(portal.requests_to("/contexts/dcat.jsonld")) == 1
    assert len(portal.requests_to("/contexts/terms.jsonld")) == 1


def test_remote_context_on_another_host_needs_allowed_hosts(portal, catalogue):
    store, backend = catalogue
    other = PortalServer(host="127.0.0.1").start()  # another origin: another port
    try:
        other.add("/context.jsonld", json.dumps(DCAT_TERMS), "application/ld+json")
        portal.add("/bees.jsonld", jsonld_page(other.url("/context.jsonld")), "application/ld+json")
        [refused] = harvest(config_for(source("bees", portal.url("/bees.jsonld"))), store, backend)
        assert refused.status == "failed"
        assert "@context" in refused.message and "allowed_hosts" in refused.message
        assert other.requests_to("/context.jsonld") == []  # nothing fetched off the source's origin
        assert store.count("bees") == 0
        allowed = source("bees", portal.url("/bees.jsonld"), allowed_hosts=["127.0.0.1"])
        [result] = harvest(config_for(allowed), store, backend)
        assert result.status == "complete", result.message
        assert store.count("bees") == 1 and len(other.requests_to("/context.jsonld")) == 1
    finally:
        other.stop()


def test_a_catalogue_published_as_a_gzip_file_is_harvested(portal, catalogue):
    import gzip

    store, backend = catalogue
    turtle = (
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n@prefix dct: <http://purl.org/dc/terms/> .\n"
        "<https://ville.example/catalog> a dcat:Catalog ; dcat:dataset <https://ville.example/ds/1> .\n"
        '<https://ville.example/ds/1> a dcat:Dataset ; dct:title "Horaires des bus"@fr .\n'
    )
    url = portal.add("/catalog.ttl.gz", gzip.compress(turtle.encode()), "application/gzip")
    [result] = harvest(config_for(source("ville", url)), store, backend)
    assert result.status == "complete", result.message
    [record] = [store.record(i) for i in backend.ids()]
    assert [t.value for t in record["dataset"].title] == ["Horaires des bus"]
