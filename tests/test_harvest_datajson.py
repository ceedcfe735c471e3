"""Harvesting DCAT-US `data.json` catalogues over real HTTP on 127.0.0.1: every corpus file (ArcGIS Hub,
Socrata, OpenDataPhilly, CFTC, US agencies, DCAT-US 3.0 test catalogs), fixtures for the shapes the corpus
lacks (temporal intervals, access levels), faults, and incremental re-harvests (304 and full)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fedcat.demo.portal import Reply
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.documents import sync_index
from fedcat.store import Store, record_id

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
DATAJSON = CORPUS / "datajson"
EU = "http://publications.europa.eu/resource/authority/"
IANA = "http://www.iana.org/assignments/media-types/"


def corpus_files() -> list[Path]:
    if not DATAJSON.is_dir():
        return []
    return sorted(p for p in DATAJSON.rglob("*.json") if "dataset" in json.loads(p.read_text()))


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"the recorded data.json corpus is not available (expected {path})")
    return path


def config_for(url: str, source_id: str = "dj", http: dict | None = None, **options):
    source = {"id": source_id, "name": source_id, "type": "datajson", "url": url}
    if options:
        source["options"] = options
    return parse_config({"settings": {"http": {"retries": 0, **(http or {})}}, "sources": [source]})


def identifier_of(item: dict) -> str | None:
    """Read independently of the adapter: DCAT-US 1.1 `identifier`, 3.0 Identifier `@id`/`notation`."""
    value = item.get("identifier")
    if isinstance(value, dict):
        value = value.get("@id") or value.get("notation")
    return str(value).strip() if value not in (None, "") else None


def documented_datasets(document: dict) -> list[dict]:
    """Every dataset a data.json lists (dataset[], nested catalog[], series members) and every DCAT-US 3.0
    data service with the datasets it serves, first of each id."""
    found: dict[str, dict] = {}

    def walk(catalogue: dict) -> None:
        for item in catalogue.get("dataset") or []:
            if isinstance(item, dict) and identifier_of(item):
                found.setdefault(identifier_of(item), item)
        for service in catalogue.get("service") or []:
            for item in [service, *(service.get("servesDataset") or [])]:
                if isinstance(item, dict) and identifier_of(item):
                    found.setdefault(identifier_of(item), item)
        for series in catalogue.get("datasetSeries") or []:
            for item in series.get("seriesMember") or []:
                found.setdefault(identifier_of(item), item)
        for child in catalogue.get("catalog") or []:
            walk(child)

    walk(document)
    return list(found.values())


def stored(store: Store, source_id: str, identifier: str):
    record = store.record(record_id(source_id, identifier))
    assert record is not None, f"{identifier} was not stored"
    return record["dataset"]


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus/datajson is absent: corpus tests need it")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(DATAJSON)))
def test_corpus_file_harvests_every_dataset(path, portal, catalogue):
    store, backend = catalogue
    url = portal.add("/data.json", path.read_bytes(), "application/json")
    [result] = harvest(config_for(url), store, backend)
    document = json.loads(path.read_text())
    expected = documented_datasets(document)
    assert result.status == "complete", result.message
    assert store.count("dj") == len(expected)
    # a dataset without identifier is reported as failed, never silently dropped
    missing = len([d for d in document["dataset"] if isinstance(d, dict) and not identifier_of(d)])
    assert result.counts["failed"] >= missing
    for item in expected:
        dataset = stored(store, "dj", identifier_of(item))
        title = item.get("title")
        assert [t.value for t in dataset.title] == ([str(title).strip()] if title not in (None, "") else [])
        description = item.get("description")
        if isinstance(description, str) and description.strip():
            assert dataset.description[0].value == description.strip()
        distributions = [d for d in item.get("distribution") or [] if isinstance(d, dict)]
        assert len(dataset.distributions) == len(distributions)
        for got, raw in zip(dataset.distributions, distributions, strict=True):
            urls = {k: raw.get(k) for k in ("accessURL", "downloadURL") if raw.get(k)}
            if all(u.startswith(("http://", "https://")) for u in urls.values()):
                assert got.download_url == ([urls["downloadURL"]] if "downloadURL" in urls else [])
                assert got.access_url == [urls.get("accessURL") or urls["downloadURL"]]
            else:  # a broken address ("hhttps://…") is not an IRI: noted instead
                assert set(urls.values()) - set(got.access_url) <= set(dataset.unmapped["distribution_url"])
        publisher = item.get("publisher") or {}
        if publisher.get("name"):
            assert dataset.publisher.name[0].value == publisher["name"].strip()
        modified = item.get("modified")
        if modified is None or str(modified).startswith("R/"):
            assert dataset.modified is None
        else:
            assert dataset.modified.replace("-", "")[:8] == str(modified).replace("-", "")[:8]
        if item.get("accessLevel") == "public":
            assert dataset.access_rights == EU + "access-right/PUBLIC"
        keywords = {k.value for k in dataset.keywords}
        assert {str(k).strip() for k in item.get("keyword") or [] if str(k).strip()} <= keywords
    assert backend.search(SearchQuery(page_size=100)).total == len(expected)


def test_cftc_modified_holding_a_frequency(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "gsa-harvester" / "cftc-dcatus.json")
    [result] = harvest(config_for(portal.add("/data.json", path.read_bytes())), store, backend)
    assert result.status == "complete", result.message
    document = json.loads(path.read_text())
    weekly = [d for d in document["dataset"] if d.get("modified") == "R/P1W"]
    assert weekly
    for item in weekly:
        dataset = stored(store, "dj", item["identifier"])
        assert dataset.modified is None
        assert dataset.accrual_periodicity == EU + "frequency/WEEKLY"
        assert dataset.contact_points[0].email == item["contactPoint"]["hasEmail"].removeprefix("mailto:")
    report = store.run(result.run_id)["report"]
    assert (
        "U.S. Commodity Futures Trading Commission < U.S. Government"
        in report["unmapped"]["publisher_hierarchy"]
    )


def test_opendataphilly_null_modified(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "gsa-harvester" / "opendataphilly-dcatus-with-nulls.json")
    url = portal.add("/data.json", path.read_bytes())
    [result] = harvest(config_for(url, page_size=50), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["pages"] == 9 and store.count("dj") == 402
    datasets = [r["dataset"] for r in store.iter_records()]
    assert sum(1 for d in datasets if d.modified is None) == 402  # 391 null, 11 "R/P1D"
    daily = [d for d in datasets if d.accrual_periodicity == EU + "frequency/DAILY"]
    assert len(daily) == 11
    assert result.counts["failed"] == 0


def test_publisher_hierarchy_is_kept_as_a_note(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "ckanext-datajson" / "arm.data.json")
    [result] = harvest(config_for(portal.add("/data.json", path.read_bytes())), store, backend)
    dataset = stored(store, "dj", "ncepgfsbrwpprof")
    assert dataset.publisher.name[0].value == "Atmospheric Radiation Measurement Data Center"
    chain = (
        "Atmospheric Radiation Measurement Data Center < DOE Biological and Environmental Research (BER)"
        " < DOE Office of Science user facilities < U.S. Government"
    )
    assert dataset.unmapped["publisher_hierarchy"] == [chain]
    assert store.run(result.run_id)["report"]["unmapped"]["publisher_hierarchy"][chain] == 3


def test_arcgis_hub_bbox_html_and_formats(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "udata-esri-apur-arcgis-hub.data.json")
    [result] = harvest(config_for(portal.add("/data.json", path.read_bytes())), store, backend)
    assert result.status == "complete", result.message
    item = json.loads(path.read_text())["dataset"][0]
    dataset = stored(store, "dj", item["identifier"])
    west, south, east, north = item["spatial"].split(",")
    assert dataset.spatial[0].bbox == (
        f"POLYGON(({west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}))"
    )
    assert "<div><br /></div>" in dataset.description[0].value  # HTML kept as the source wrote it
    assert dataset.original_uri == item["identifier"]
    by_title = {d.title[0].value: d for d in dataset.distributions}
    assert by_title["CSV"].format == EU + "file-type/CSV"
    assert by_title["CSV"].media_type == IANA + "text/csv"
    assert by_title["GeoJSON"].format == EU + "file-type/GEOJSON"
    assert by_title["KML"].format == EU + "file-type/KML"
    assert by_title["ArcGIS Open Dataset"].format == EU + "file-type/HTML"  # "Web page"
    assert by_title["ArcGIS Open Dataset"].access_url == [item["distribution"][0]["accessURL"]]


def test_html_licences(portal, catalogue):
    store, backend = catalogue
    bushfire = need(DATAJSON / "magda-act-arcgis-hub-bushfire-html-license.data.json")
    oakland = need(DATAJSON / "gsa-harvester" / "oakland-county-bad-license-uri.json")
    harvest(config_for(portal.add("/a.json", bushfire.read_bytes()), "act"), store, backend)
    [result] = harvest(config_for(portal.add("/b.json", oakland.read_bytes()), "oak"), store, backend)
    [act] = [r["dataset"] for r in store.iter_records() if r["source_id"] == "act"]
    assert act.licence == EU + "licence/CC_BY_4_0"  # the link inside the HTML fragment
    assert act.publisher.name[0].value == "ACT Government Online Maps and Apps"  # leading spaces dropped
    [oak] = [r["dataset"] for r in store.iter_records() if r["source_id"] == "oak"]
    raw = json.loads(oakland.read_text())["dataset"][0]["license"]
    assert oak.licence is None and oak.unmapped["licence"] == [raw]  # kept, and counted in the report
    assert store.run(result.run_id)["report"]["unmapped"]["licence"] == {raw: 1}


FIXTURE = {
    "@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
    "@type": "dcat:Catalog",
    "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
    "dataset": [
        {
            "identifier": "parent-001",
            "title": "Budget collection",
            "description": "Parent of the budget datasets.",
            "accessLevel": "restricted public",
            "modified": "2020-05-01",
            "temporal": "2000-01-01/2010-12-31",
            "spatial": "Springfield, Illinois",
            "theme": ["Finance", "Economic Development"],
            "references": ["https://example.gov/docs/budget.pdf", "https://example.gov/docs/howto"],
            "language": ["en-US"],
            "license": "https://creativecommons.org/publicdomain/zero/1.0/",
            "publisher": {"name": "City of Springfield"},
            "contactPoint": {"fn": "Open Data Team", "hasEmail": "mailto:data@springfield.example.gov"},
            "keyword": ["budget"],
        },
        {
            "identifier": "child-002",
            "title": "Budget 2019",
            "description": "Child dataset.",
            "accessLevel": "non-public",
            "modified": "R/P1M",
            "accrualPeriodicity": "R/P1Y",
            "temporal": "2019-01-01/P1Y",
            "isPartOf": "parent-001",
            "spatial": '{"type": "Point", "coordinates": [-89.65, 39.78]}',
            "publisher": {"name": "Budget Office", "subOrganizationOf": {"name": "City of Springfield"}},
            "keyword": ["budget", "2019"],
            "distribution": [
                {"downloadURL": "https://example.gov/budget-2019.csv", "mediaType": "text/csv"},
                {"accessURL": "https://example.gov/api/budget", "format": "API", "title": "Budget API"},
            ],
        },
        {
            "identifier": "child-003",
            "title": "Budget history",
            "description": "Odd shapes.",
            "accessLevel": "public",
            "modified": "sometime in 2019",
            "temporal": "R/2015-01-01/P1M",
            "spatial": "https://sws.geonames.org/4250542/",
            "keyword": "budget",
        },
        {"title": "A dataset that forgot its identifier", "description": "…", "keyword": ["x"]},
    ],
}


def test_fixture_access_levels_periods_places_themes(portal, catalogue):
    store, backend = catalogue
    url = portal.add("/data.json", json.dumps(FIXTURE), "application/json")
    [result] = harvest(config_for(url), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["created"] == 3 and result.counts["failed"] == 1
    [error] = store.run(result.run_id)["errors"]
    assert "has no identifier" in error["error"] and "forgot its identifier" in error["error"]
    parent, child, odd = (stored(store, "dj", i) for i in ("parent-001", "child-002", "child-003"))
    assert (parent.access_rights, child.access_rights, odd.access_rights) == (
        EU + "access-right/RESTRICTED",
        EU + "access-right/NON_PUBLIC",
        EU + "access-right/PUBLIC",
    )
    assert [(p.start, p.end) for p in parent.temporal] == [("2000-01-01", "2010-12-31")]
    assert [(p.start, p.end) for p in child.temporal] == [("2019-01-01", "2020-01-01")]
    assert [(p.start, p.end) for p in odd.temporal] == [("2015-01-01", None)]
    assert parent.spatial[0].label[0].value == "Springfield, Illinois"
    assert child.spatial[0].geometry == "POINT(-89.65 39.78)"
    assert odd.spatial[0].uri == "https://sws.geonames.org/4250542/"
    assert parent.themes == [EU + "data-theme/ECON"]
    assert "Finance" in {k.value for k in parent.keywords}  # no EU theme for it: kept as a keyword
    assert parent.documentation == ["https://example.gov/docs/budget.pdf", "https://example.gov/docs/howto"]
    assert parent.language == [EU + "language/ENG"] and parent.title[0].lang == "en"
    assert parent.licence == EU + "licence/CC0"
    assert parent.contact_points[0].email == "data@springfield.example.gov"
    # "R/P1M" in modified is a frequency, but accrualPeriodicity says yearly and wins
    assert child.modified is None and child.accrual_periodicity == EU + "frequency/ANNUAL"
    assert child.related == [parent.uri]  # isPartOf: the parent's fedcat URI
    csv, api = child.distributions
    assert csv.access_url == csv.download_url == ["https://example.gov/budget-2019.csv"]
    assert csv.format == EU + "file-type/CSV"
    assert api.format == "API" and child.unmapped["format"] == ["API"]  # unknown label kept and noted
    assert odd.modified is None and odd.unmapped["modified"] == ["sometime in 2019"]
    assert [k.value for k in odd.keywords] == ["budget"]
    report = store.run(result.run_id)["report"]["unmapped"]
    assert report["theme"] == {"Finance": 1}
    assert report["publisher_hierarchy"] == {"Budget Office < City of Springfield": 1}


def test_dcatus3_nested_catalogs_and_series(portal, catalogue):
    store, backend = catalogue
    nested = need(DATAJSON / "gsa-harvester" / "dcatus3_0_nested_catalog.json")
    series = need(DATAJSON / "gsa-harvester" / "dcatus3_0_series_with_members.json")
    harvest(config_for(portal.add("/n.json", nested.read_bytes()), "nested"), store, backend)
    [result] = harvest(config_for(portal.add("/s.json", series.read_bytes()), "series"), store, backend)
    assert store.count("nested") == 3
    titles = {r["dataset"].title[0].value for r in store.iter_records() if r["source_id"] == "nested"}
    assert titles == {"Parent Catalog Dataset", "Child Catalog Dataset", "Grandchild Catalog Dataset"}
    assert store.count("series") == 2 and result.counts["failed"] == 0  # first/last repeat the members


# --- faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html"), "HTML page"),
        (Reply(b'{"dataset": [{"identifier": "a", ', "application/json"), "not valid JSON"),
        (Reply(b"oops", status=500), "HTTP 500"),
        (Reply(b'{"dataset": [' + b"[" * 5000 + b"]" * 5000 + b"]}", "application/json"), "nested"),
    ],
)
def test_unreadable_document_fails_the_run(portal, catalogue, reply, reason):
    store, backend = catalogue
    portal.routes["/data.json"] = reply
    [result] = harvest(config_for(portal.url("/data.json")), store, backend)
    assert result.status == "failed"
    assert reason in result.message
    assert store.count() == 0


def test_document_over_the_size_cap_is_refused(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "gsa-harvester" / "opendataphilly-dcatus-with-nulls.json")
    url = portal.add("/data.json", path.read_bytes())
    [result] = harvest(config_for(url, http={"max_bytes": 100_000}), store, backend)
    assert result.status == "failed" and "cap" in result.message


def test_document_cut_short_keeps_what_was_read_and_withdraws_nothing(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "gsa-harvester" / "opendataphilly-dcatus-with-nulls.json")
    body = path.read_bytes()
    url = portal.add("/data.json", body)
    config = config_for(url, page_size=50)
    harvest(config, store, backend)
    portal.add("/data.json", body[: len(body) * 2 // 3])
    [result] = harvest(config, store, backend)
    assert result.status == "partial" and "not valid JSON" in result.message
    assert result.counts["withdrawn"] == 0 and store.count("dj") == 402
    assert 0 < result.counts["seen"] < 402


# --- incremental --------------------------------------------------------------------------------------------


def test_unchanged_rerun_renormalises_nothing_and_one_change_exactly_one(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "gsa-harvester" / "opendataphilly-dcatus-with-nulls.json")
    document = json.loads(path.read_text())
    url = portal.add("/data.json", path.read_bytes())
    config = config_for(url, page_size=50)
    [first] = harvest(config, store, backend)
    assert first.counts["created"] == 402
    # the document answers 304: its nine pages are replayed from the page cache, nothing is parsed
    [again] = harvest(config, store, backend)
    assert again.status == "complete", again.message
    assert (again.counts["created"], again.counts["updated"], again.counts["withdrawn"]) == (0, 0, 0)
    assert again.counts["unchanged"] == 402 and again.counts["pages"] == 9
    assert portal.log[-1].headers.get("If-None-Match")
    assert sync_index(store, backend) == 0
    # without conditional GET every record is parsed again and hashes as before
    [full] = harvest(config, store, backend, full=True)
    assert (full.counts["unchanged"], full.counts["updated"]) == (402, 0)
    # one dataset edited at the source
    item = document["dataset"][200]
    item["title"] = "Réseau cyclable (édité)"
    portal.add("/data.json", json.dumps(document))
    [changed] = harvest(config, store, backend)
    assert (changed.counts["updated"], changed.counts["created"], changed.counts["unchanged"]) == (1, 0, 401)
    assert stored(store, "dj", item["identifier"]).title[0].value == "Réseau cyclable (édité)"
    assert backend.search(SearchQuery(q="reseau cyclable edite")).total == 1


def test_a_lost_page_cache_entry_reads_the_document_again(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "gsa-harvester" / "opendataphilly-dcatus-with-nulls.json")
    url = portal.add("/data.json", path.read_bytes())
    config = config_for(url, page_size=50)
    harvest(config, store, backend)
    with store.write() as db:  # as if the cache of page 5 had been lost
        db.execute("DELETE FROM pages WHERE url = ?", (url + "#page=5",))
    before = len(portal.log)
    [again] = harvest(config, store, backend)
    assert again.status == "complete", again.message
    assert again.counts["unchanged"] == 402 and again.counts["withdrawn"] == 0
    assert [r.headers.get("If-None-Match") is not None for r in portal.log[before:]] == [True, False]


def test_searchable_by_publisher_and_keyword(portal, catalogue):
    store, backend = catalogue
    path = need(DATAJSON / "udata-esri-apur-arcgis-hub.data.json")
    harvest(config_for(portal.add("/data.json", path.read_bytes())), store, backend)
    assert backend.search(SearchQuery(q="innovation")).total >= 1
    assert store.count("dj") == 71


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_json_stream_reads_values_across_chunk_boundaries(chunk):
    from fedcat.harvester.adapters.datajson import catalogue_datasets
    from fedcat.harvester.adapters.jsonapi import JsonStream

    path = need(DATAJSON / "udata-esri-apur-arcgis-hub.data.json")  # French text: multi-byte characters
    data = path.read_bytes()
    items = [item for item, _ in catalogue_datasets(JsonStream(data, "apur", chunk=chunk))]
    assert items == json.loads(data)["dataset"]
    numbers = b'{"dataset": [], "n": [123456789, 3.25e10, true, null, "\\u00e9t\\u00e9"]}'
    stream = JsonStream(numbers, "numbers", chunk=chunk)
    values = {}
    for key in stream.members():
        values[key] = list(stream.items())
    assert values == {"dataset": [], "n": [123456789, 3.25e10, True, None, "été"]}


@pytest.mark.parametrize("body", [b'{"dataset": null}', b'\xef\xbb\xbf{"dataset": []}', b"[]"])
def test_empty_catalogues(portal, catalogue, body):
    store, backend = catalogue
    [result] = harvest(config_for(portal.add("/data.json", body, "application/json")), store, backend)
    assert result.status == "complete", result.message
    assert store.count() == 0


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-16"])
def test_data_json_in_another_text_encoding_is_read_as_it_means(portal, catalogue, encoding):
    store, backend = catalogue
    title = "Données de l'été à Orléans"
    document = {
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "dataset": [
            {"identifier": "ete", "title": title, "description": "Fréquentation", "keyword": ["été"]}
        ],
    }
    body = json.dumps(document, ensure_ascii=False).encode(encoding)
    [result] = harvest(config_for(portal.add("/data.json", body, "application/json")), store, backend)
    assert result.status == "complete", result.message
    assert [t.value for t in stored(store, "dj", "ete").title] == [title]
