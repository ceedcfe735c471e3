"""Metadata quality (MQA score), publisher normalisation and link checks.

The scores of the sample datasets are worked out by hand here, indicator by indicator, from the MQA table
in `mappings.quality`'s docstring; the integration tests harvest a catalogue served on 127.0.0.1 into a
real store and index and read the scores back through the API, the search facet and the CLI.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from fedcat import cli
from fedcat.api.app import create_app
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.linkcheck import LinkChecker, RateLimiter, linkcheck
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import Config, parse_config
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.documents import rebuild_index, sync_index
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.indexer.sqlite_fts import SqliteFtsBackend
from fedcat.mappings import quality
from fedcat.mappings.model import (
    Agent,
    ContactPoint,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Text,
)
from fedcat.mappings.publishers import AliasTable, PublisherNames, publisher_key
from fedcat.mappings.vocabularies import vocabulary
from fedcat.store import Store, record_id

FT = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "http://www.iana.org/assignments/media-types/"
LIC = "http://publications.europa.eu/resource/authority/licence/"
AR = "http://publications.europa.eu/resource/authority/access-right/"
THEME = "http://publications.europa.eu/resource/authority/data-theme/"


def points(q: quality.Quality) -> dict[str, float]:
    return {i.name: i.points for i in q.indicators}


# --- the MQA score, by hand ---------------------------------------------------------------------------


def full_dataset(**changes) -> Dataset:
    """Every indicator satisfied (with the link checks of `ALL_OK` and a conforming SHACL validation)."""
    fields = dict(
        uri="https://fedcat.example/datasets/full",
        title=[Text("Stations vélo", "fr")],
        keywords=[Text("vélo", "fr")],
        themes=[THEME + "TRAN"],
        spatial=[Location(uri="http://publications.europa.eu/resource/authority/place/FRA_LIL")],
        temporal=[PeriodOfTime(start="2020-01-01")],
        publisher=Agent(name=[Text("Ville de Lille")]),
        contact_points=[ContactPoint(email="opendata@lille.example")],
        access_rights=AR + "PUBLIC",
        licence=LIC + "ETALAB_2_0",
        issued="2020-01-01",
        modified="2024-05-01",
        distributions=[
            Distribution(
                access_url=["https://files.example/a"],
                download_url=["https://files.example/a.csv"],
                format=FT + "CSV",
                media_type=IANA + "text/csv",
                rights="Mention de la source",
                byte_size=1234,
            )
        ],
    )
    fields.update(changes)
    return Dataset(**fields)


ALL_OK = {"https://files.example/a": True, "https://files.example/a.csv": True}


def test_tables_add_up_to_the_methodology() -> None:
    assert quality.DIMENSION_MAX == {
        "findability": 100,
        "accessibility": 100,
        "interoperability": 110,
        "reusability": 75,
        "contextuality": 20,
    }
    assert quality.MAX_POINTS == 405
    assert [quality.band(t) for t in (405, 351, 350.99, 221, 220, 121, 120.5, 0)] == [
        "excellent", "excellent", "good", "good", "sufficient", "sufficient", "bad", "bad",
    ]  # fmt: skip
    non_proprietary, machine_readable = quality.format_tables()
    file_types = vocabulary("file-type")
    assert all(uri in file_types for uri in non_proprietary | machine_readable)  # codes of the EU NAL


def test_a_complete_dataset_scores_405_excellent() -> None:
    q = quality.score(full_dataset(), link_checks=ALL_OK, shacl_conforms=True)
    assert points(q) == {name: float(p) for _dim, name, p in quality.INDICATORS}
    assert (q.total, q.band) == (405, "excellent")
    assert all(i.note is None for i in q.indicators)


def test_two_distributions_one_broken_scores_shares_by_hand() -> None:
    """d1: CSV, reachable, downloadable, rights, size. d2: PDF, its access URL answers 404, nothing else."""
    ds = full_dataset(
        distributions=[
            *full_dataset().distributions,
            Distribution(access_url=["https://files.example/b"], format=FT + "PDF"),
        ]
    )
    q = quality.score(ds, link_checks={**ALL_OK, "https://files.example/b": False}, shacl_conforms=True)
    expected = {
        # findability: dataset properties, all there
        "keyword": 30, "theme": 30, "spatial": 20, "temporal": 20,
        # accessibility: 1 of 2 distributions each time
        "access_url_status": 50 / 2, "download_url": 20 / 2, "download_url_status": 30 / 2,
        # interoperability: the best distribution (CSV) counts; SHACL conforms
        "format": 20, "media_type": 10, "vocabulary": 10, "non_proprietary": 20, "machine_readable": 20,
        "dcat_ap_compliance": 30,
        # reusability: both distributions take the dataset's Licence Ouverte 2.0
        "licence": 20, "licence_vocabulary": 10, "access_rights": 10, "access_rights_vocabulary": 5,
        "contact_point": 20, "publisher": 10,
        # contextuality: rights and size on 1 of 2 distributions; dates on the dataset
        "rights": 5 / 2, "byte_size": 5 / 2, "issued": 5, "modified": 5,
    }  # fmt: skip
    assert points(q) == pytest.approx(expected)
    assert q.dimensions == pytest.approx(
        {
            "findability": 100,
            "accessibility": 50,
            "interoperability": 110,
            "reusability": 75,
            "contextuality": 15,
        }
    )
    assert q.total == pytest.approx(350)
    assert q.band == "good"  # one point short of excellent


def test_sparse_dataset_scores_by_hand() -> None:
    """One distribution with an unmapped format label, a licence no vocabulary knows, never link-checked."""
    ds = Dataset(
        uri="https://fedcat.example/datasets/sparse",
        publisher=Agent(name=[Text("Mairie de Lille")]),
        distributions=[Distribution(access_url=["https://files.example/c"], format="Format bizarre")],
        unmapped={"licence": ["Licence maison du SIG"], "format": ["Format bizarre"]},
    )
    q = quality.score(ds)
    expected = dict.fromkeys(quality.POINTS, 0.0) | {
        "format": 20,  # a format is given, even if no vocabulary knows it
        "licence": 20,  # licence information, kept in `unmapped`: not from a vocabulary (0 for that)
        "publisher": 10,
    }
    assert points(q) == pytest.approx(expected)
    assert (q.total, q.band) == (50, "bad")
    notes = {i.name: i.note for i in q.indicators if i.note}
    assert notes == {"access_url_status": "not checked", "dcat_ap_compliance": "not validated"}


def test_three_distributions_scores_by_hand() -> None:
    """Themes only for findability; XLSX (proprietary, machine-readable), JSON without media type, GeoJSON
    whose URL timed out; licences on two of three distributions; SHACL says it does not conform."""
    ds = Dataset(
        uri="https://fedcat.example/datasets/three",
        themes=[THEME + "ENVI"],
        publisher=Agent(name=[Text("Région Hauts-de-France")]),
        modified="2023",
        distributions=[
            Distribution(
                access_url=["https://files.example/x"],
                download_url=["https://files.example/x.xlsx"],  # never checked
                format=FT + "XLSX",
                media_type=IANA + "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                licence=LIC + "CC_BY_4_0",
                byte_size=10,
            ),
            Distribution(access_url=["https://files.example/j"], format=FT + "JSON", byte_size=20),
            Distribution(
                access_url=["https://files.example/g"],
                format=FT + "GEOJSON",
                media_type=IANA + "application/geo+json",
                licence="http://opendatacommons.org/licenses/odbl/1-0/",
            ),
        ],
    )
    checks = {
        "https://files.example/x": True,
        "https://files.example/j": True,
        "https://files.example/g": False,
    }
    q = quality.score(ds, link_checks=checks, shacl_conforms=False)
    expected = dict.fromkeys(quality.POINTS, 0.0) | {
        "theme": 30,
        "access_url_status": 50 * 2 / 3,
        "download_url": 20 * 1 / 3,
        "download_url_status": 0,  # listed but never checked
        # per distribution: XLSX 20+10+10+0+20 = 60, JSON 20+0+0+20+20 = 60, GeoJSON 20+10+10+20+20 = 80
        "format": 20, "media_type": 10, "vocabulary": 10, "non_proprietary": 20, "machine_readable": 20,
        "dcat_ap_compliance": 0,
        "licence": 20 * 2 / 3,
        "licence_vocabulary": 10 * 2 / 3,  # CC BY 4.0 (EU URI) and ODbL 1.0 (its ODC address)
        "publisher": 10,
        "byte_size": 5 * 2 / 3,
        "modified": 5,
    }  # fmt: skip
    assert points(q) == pytest.approx(expected)
    assert q.total == pytest.approx(30 + 40 + 80 + 30 + 5 + 10 / 3)  # 188.33
    assert q.band == "sufficient"
    assert {i.name: i.note for i in q.indicators if i.note} == {"download_url_status": "not checked"}


def test_no_distribution_scores_zero_on_distribution_indicators() -> None:
    ds = Dataset(
        uri="https://fedcat.example/datasets/none",
        keywords=[Text("budget")],
        themes=[THEME + "GOVE"],
        contact_points=[ContactPoint(name="Service open data")],
        access_rights="sur demande",  # not the EU vocabulary: counted as given, not as aligned
        unmapped={"access_rights": ["sur demande"]},
        issued="2021-02-03",
    )
    q = quality.score(ds)
    expected = dict.fromkeys(quality.POINTS, 0.0) | {
        "keyword": 30, "theme": 30, "access_rights": 10, "contact_point": 20, "issued": 5,
    }  # fmt: skip
    assert points(q) == pytest.approx(expected)
    assert (q.total, q.band) == (95, "bad")


def test_aggregates_by_group() -> None:
    dims = dict.fromkeys(quality.DIMENSIONS, 0.0)
    rows = [
        ("lille", 400.0, {**dims, "findability": 100.0}),
        ("lille", 200.0, {**dims, "findability": 50.0}),
        ("lille", 120.0, dims),
        ("region", 250.0, dims),
    ]
    lille, region = quality.aggregate(rows)
    assert (lille.key, lille.datasets, lille.mean, lille.min, lille.max) == ("lille", 3, 240, 120, 400)
    assert lille.bands == {"excellent": 1, "good": 0, "sufficient": 1, "bad": 1}
    assert lille.dimensions["findability"] == 50
    assert (region.datasets, region.mean, region.bands["good"]) == (1, 250, 1)
    assert quality.aggregate([]) == []


# --- publisher names --------------------------------------------------------------------------------


def test_publisher_key_drops_municipal_prefixes_case_and_accents() -> None:
    keys = {
        publisher_key(n) for n in ("Ville de Lille", "Mairie de Lille", "VILLE DE LILLE", "Lille", " lille ")
    }
    assert keys == {"lille"}
    assert publisher_key("Ville du Havre") == publisher_key("Le Havre")
    assert publisher_key("Commune d'Évry") == publisher_key("EVRY")
    assert publisher_key("Métropole Européenne de Lille") != publisher_key("Lille")


def test_spellings_merge_within_a_source_only() -> None:
    counts = [
        ("lille", "Ville de Lille", 2),
        ("lille", "Mairie de Lille", 1),
        ("lille", "VILLE DE LILLE", 1),
        ("lille", "Lille", 1),
        ("region", "Lille", 2),
        ("region", "Mairie de Lille", 1),
    ]
    names = PublisherNames(counts, AliasTable())
    assert {
        names.resolve("lille", n) for n in ("Ville de Lille", "Mairie de Lille", "VILLE DE LILLE", "Lille")
    } == {"Ville de Lille"}
    # the same spellings in another source are that source's business: its own most used spelling
    assert {names.resolve("region", n) for n in ("Lille", "Mairie de Lille")} == {"Lille"}
    # an unknown spelling is shown as given (trimmed) until the next recount
    assert names.resolve("lille", "  Ville  de Lille ") == "Ville  de Lille"


def test_alias_table_merges_across_sources() -> None:
    aliases = AliasTable({"Ville de Lille": ["Lille", "Mairie de Lille"]})
    names = PublisherNames([("lille", "VILLE DE LILLE", 3), ("region", "Lille", 2)], aliases)
    assert names.resolve("lille", "VILLE DE LILLE") == names.resolve("region", "Lille") == "Ville de Lille"
    with pytest.raises(ValueError, match="listed under both"):
        AliasTable({"A": ["x"], "B": ["X"]})


def test_shipped_alias_table_loads() -> None:
    table = AliasTable.load()
    assert table.canonical("mel") == "Métropole Européenne de Lille"
    assert table.canonical("Métropole Européenne de Lille") == "Métropole Européenne de Lille"


def test_ties_prefer_the_better_written_spelling() -> None:
    names = PublisherNames(
        [("s", "REGION HAUTS-DE-FRANCE", 1), ("s", "Région Hauts-de-France", 1)], AliasTable()
    )
    assert names.resolve("s", "REGION HAUTS-DE-FRANCE") == "Région Hauts-de-France"


# --- a real harvest: index, API, CLI ----------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    slug: str
    source: str
    publisher: str
    keywords: bool = True
    files: tuple[str, ...] = ("ok",)  # paths under /files/ served by the portal (see `serve_files`)


ITEMS = (
    Item("velos", "lille", "Ville de Lille"),
    Item("arbres", "lille", "Ville de Lille", files=("ok", "missing")),
    Item("bruit", "lille", "Mairie de Lille", files=("slow",)),
    Item("ecoles", "lille", "VILLE DE LILLE", keywords=False, files=("head-refused",)),
    Item("marches", "lille", "Lille", keywords=False, files=()),
    Item("gares", "region", "Lille"),
    Item("lycees", "region", "Lille", files=("missing",)),
    Item("energie", "region", "Mairie de Lille", keywords=False),
)


def turtle(base: str, items: list[Item]) -> str:
    lines = [
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .",
        "@prefix dct: <http://purl.org/dc/terms/> .",
        "@prefix foaf: <http://xmlns.com/foaf/0.1/> .",
        "@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .",
        "<https://catalog.example/> a dcat:Catalog ; dcat:dataset "
        + ", ".join(f"<https://data.example/{i.slug}>" for i in items)
        + " .",
    ]
    for item in items:
        props = [
            f'dct:title "{item.slug}"@fr',
            f"dcat:theme <{THEME}TRAN>",
            f'dct:publisher [ a foaf:Agent ; foaf:name "{item.publisher}" ]',
            'dct:modified "2024-01-02"',
            f"dct:license <{LIC}ETALAB_2_0>",
            'dcat:contactPoint [ a vcard:Kind ; vcard:fn "Open data" ]',
        ]
        if item.keywords:
            props.append('dcat:keyword "mobilité"@fr')
        for path in item.files:
            props.append(
                f"dcat:distribution [ a dcat:Distribution ; dct:format <{FT}CSV> ; "
                f"dcat:mediaType <{IANA}text/csv> ; dcat:accessURL <{base}/files/{path}> ; "
                f"dcat:downloadURL <{base}/files/{path}.csv> ]"
            )
        lines.append(
            f"<https://data.example/{item.slug}> a dcat:Dataset ;\n    " + " ;\n    ".join(props) + " ."
        )
    return "\n".join(lines) + "\n"


def serve_files(portal: PortalServer) -> None:
    def files(request: Request) -> Reply | None:
        name = request.path.removeprefix("/files/")
        if name.startswith("ok"):
            return Reply(b"a,b\n1,2\n", "text/csv")
        if name.startswith("slow"):
            return Reply(b"late", delay=3.0)
        if name.startswith("head-refused"):  # a server that refuses HEAD but serves GET
            return Reply(b"", status=405) if request.method == "HEAD" else Reply(b"x", "text/csv")
        return None  # 404

    portal.handle("/files/", files)


def site_config(portal: PortalServer) -> dict:
    return {
        "settings": {"base_url": "https://fedcat.example", "http": {"retries": 0, "backoff": 0}},
        "sources": [
            {
                "id": "lille",
                "name": "Open data Lille",
                "type": "dcat",
                "url": portal.url("/lille/catalog.ttl"),
            },
            {
                "id": "region",
                "name": "Open data Région",
                "type": "dcat",
                "url": portal.url("/region/catalog.ttl"),
            },
        ],
    }


@dataclass
class Site:
    portal: PortalServer
    config: Config
    store: Store
    backend: EmbeddedBackend
    client: TestClient
    data_dir: Path
    config_path: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("quality")
    with PortalServer() as portal:
        for source in ("lille", "region"):
            portal.add(
                f"/{source}/catalog.ttl", turtle(portal.base_url, [i for i in ITEMS if i.source == source])
            )
        serve_files(portal)
        raw = site_config(portal)
        config_path = tmp / "sources.yaml"
        config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        config = parse_config(raw)
        store = Store(tmp / "fedcat.db")
        backend = EmbeddedBackend(tmp / "index")
        runs = harvest(config, store, backend)
        assert [r.status for r in runs] == ["complete", "complete"]
        yield Site(
            portal, config, store, backend, TestClient(create_app(store, backend, config)), tmp, config_path
        )
        backend.close()
        store.close()


def fedcat_id(slug: str) -> str:
    item = next(i for i in ITEMS if i.slug == slug)
    return record_id(item.source, f"https://data.example/{slug}")


def expected_scores(store: Store) -> dict[str, quality.Quality]:
    """Every live record scored from the store (the source of truth) and its stored link checks."""
    found = {}
    for record in store.iter_records():
        urls = quality.dataset_urls(record["dataset"])
        checks = {u: c["ok"] for u, c in store.link_checks(urls).items()}
        found[record["id"]] = quality.score(record["dataset"], link_checks=checks)
    return found


def facet(site: Site, name: str, **params) -> dict[str, int]:
    page = site.client.get("/api/datasets", params={"facets": name, "page_size": 100, **params}).json()
    return {v["value"]: v["count"] for v in page["facets"][name]}


def test_publisher_facet_shows_one_name_per_body_per_source(site: Site) -> None:
    assert facet(site, "publisher") == {"Ville de Lille": 5, "Lille": 3}
    # the records keep what their source said
    record = site.client.get(f"/api/datasets/{fedcat_id('ecoles')}").json()
    assert [name["value"] for name in record["dataset"]["publisher"]["name"]] == ["VILLE DE LILLE"]
    # filtering by the shown name finds every spelling of that source
    ids = {
        i["id"]
        for i in site.client.get("/api/datasets", params={"publisher": "Ville de Lille"}).json()["items"]
    }
    assert ids == {fedcat_id(i.slug) for i in ITEMS if i.source == "lille"}


def test_dataset_record_carries_its_score(site: Site) -> None:
    body = site.client.get(f"/api/datasets/{fedcat_id('velos')}").json()
    score = body["quality"]
    # before any link check: findability 30+30, accessibility 20 (download URL given), interoperability
    # 20+10+10+20+20, reusability 20+10+20+10, contextuality 5 (modified)
    assert score["dimensions"] == {
        "findability": 60, "accessibility": 20, "interoperability": 80, "reusability": 60, "contextuality": 5,
    }  # fmt: skip
    assert (score["total"], score["band"], score["max_points"]) == (225, "good", 405)
    by_name = {i["name"]: i for i in score["indicators"]}
    assert by_name["access_url_status"] == {
        "name": "access_url_status", "dimension": "accessibility", "points": 0, "max": 50, "share": 0,
        "note": "not checked",
    }  # fmt: skip


def test_quality_endpoint_by_source_and_publisher(site: Site) -> None:
    scores = expected_scores(site.store)
    source_of = {fedcat_id(i.slug): i.source for i in ITEMS}
    body = site.client.get("/api/quality", params={"group_by": "source"}).json()
    assert body["max_points"] == 405
    assert [b["band"] for b in body["bands"]] == ["excellent", "good", "sufficient", "bad"]
    groups = {g["key"]: g for g in body["groups"]}
    assert set(groups) == {"lille", "region"}
    for source in ("lille", "region"):
        totals = [q.total for i, q in scores.items() if source_of[i] == source]
        group = groups[source]
        assert group["datasets"] == len(totals)
        assert group["mean"] == pytest.approx(sum(totals) / len(totals), abs=0.01)
        assert group["bands"] == {
            b: sum(1 for t in totals if quality.band(t) == b) for b in quality.BAND_NAMES
        }
    assert groups["lille"]["label"] == "Open data Lille"
    assert body["overall"]["datasets"] == len(ITEMS)

    by_publisher = site.client.get("/api/quality", params={"group_by": "publisher"}).json()
    assert {g["key"]: g["datasets"] for g in by_publisher["groups"]} == {"Ville de Lille": 5, "Lille": 3}
    only_region = site.client.get("/api/quality", params={"group_by": "publisher", "source": "region"}).json()
    assert [(g["key"], g["datasets"]) for g in only_region["groups"]] == [("Lille", 3)]

    refused = site.client.get("/api/quality", params={"group_by": "theme"})
    assert refused.status_code == 400
    assert site.client.get("/api/quality", params={"grouping": "source"}).status_code == 400


def test_quality_facet_and_filter(site: Site) -> None:
    scores = expected_scores(site.store)
    expected = Counter(q.band for q in scores.values())
    assert facet(site, "quality") == dict(expected)
    for band_name, count in expected.items():
        page = site.client.get(
            "/api/datasets", params={"quality": band_name.upper(), "page_size": 100}
        ).json()
        assert page["total"] == count
        assert {i["id"] for i in page["items"]} == {i for i, q in scores.items() if q.band == band_name}
    superb = site.client.get("/api/datasets", params={"quality": "superb"})  # no such band: said, not 0 hits
    assert superb.status_code == 400 and superb.json()["errors"][0]["parameter"] == "quality"


def test_linkcheck_stores_results_and_rescoring_follows(site: Site) -> None:
    report = linkcheck(
        site.store, ["lille", "region"], rate=50, concurrency=4, timeout=0.5, allow_private=lambda s: True
    )
    base = site.portal.base_url
    checks = site.store.link_checks([f"{base}/files/{p}" for p in ("ok", "missing", "slow", "head-refused")])
    assert {
        u.rsplit("/", 1)[1]: (c["ok"], c["status"], c["method"], c["error"]) for u, c in checks.items()
    } == {
        "ok": (True, 200, "HEAD", None),
        "missing": (False, 404, "GET", "HTTP 404"),  # HEAD said 404, the GET confirmed it
        "slow": (False, None, "HEAD", "timeout"),
        "head-refused": (True, 200, "GET", None),  # HEAD refused (405), the ranged GET answered
    }
    # 4 access URLs and their 4 download URLs, each once though both sources list "ok" and "missing"
    assert (report.counts["urls"], report.counts["checked"], report.counts["ok"]) == (8, 8, 4)
    gets = [r for r in site.portal.log if r.method == "GET" and r.path.startswith("/files/")]
    assert gets and all(r.headers.get("Range") == "bytes=0-0" for r in gets)

    # a second run within max_age checks nothing again
    again = linkcheck(site.store, ["lille", "region"], rate=50, timeout=0.5, allow_private=lambda s: True)
    assert (again.counts["checked"], again.counts["skipped"]) == (0, 8)

    sync_index(site.store, site.backend)
    score = site.client.get(f"/api/datasets/{fedcat_id('arbres')}").json()["quality"]
    by_name = {i["name"]: i for i in score["indicators"]}
    # arbres: "ok" (access and download reachable) and "missing" (both 404)
    assert by_name["access_url_status"]["points"] == 25
    assert by_name["download_url_status"]["points"] == 15
    assert "note" not in by_name["access_url_status"]
    bruit = {
        i["name"]: i
        for i in site.client.get(f"/api/datasets/{fedcat_id('bruit')}").json()["quality"]["indicators"]
    }
    assert bruit["access_url_status"]["points"] == 0 and "note" not in bruit["access_url_status"]
    # the facet and the endpoint follow the stored checks
    scores = expected_scores(site.store)
    assert facet(site, "quality") == dict(Counter(q.band for q in scores.values()))
    velos = scores[fedcat_id("velos")]
    assert (velos.total, velos.band) == (305, "good")  # 225 + 50 + 30 for its reachable URLs


def test_private_addresses_are_refused_unless_allowed(site: Site) -> None:
    checker = LinkChecker(timeout=0.5)
    try:
        result = checker.check(site.portal.url("/files/ok"))
        assert (result.ok, result.status, result.error) == (
            False,
            None,
            "private, loopback or link-local address",
        )
        assert checker.check("ftp://files.example/a").error == "not an http(s) URL"
    finally:
        checker.close()


def test_rate_limiter_spaces_requests() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(4, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == pytest.approx([0.25] * 4)


def test_sqlite_backend_counts_the_quality_facet(site: Site, tmp_path: Path) -> None:
    backend = SqliteFtsBackend(tmp_path / "search.sqlite")
    try:
        rebuild_index(site.store, backend)
        result = backend.search(SearchQuery(facets=("quality", "publisher")))
        expected = Counter(q.band for q in expected_scores(site.store).values())
        assert {f.value: f.count for f in result.facets["quality"]} == dict(expected)
        assert {f.value: f.count for f in result.facets["publisher"]} == {"Ville de Lille": 5, "Lille": 3}
    finally:
        backend.close()


def test_cli_quality_csv(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = site.data_dir / "cli"
    common = ["--config", str(site.config_path), "--data-dir", str(data_dir)]
    assert cli.main(["harvest", *common]) == 0
    capsys.readouterr()
    assert cli.main(["quality", "--format", "csv", "--group-by", "publisher", *common]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["publisher"], r["datasets"]) for r in rows] == [("Ville de Lille", "5"), ("Lille", "3")]
    assert set(rows[0]) >= {"mean", "band", "excellent", "good", "sufficient", "bad", "findability"}
    store = Store(data_dir / "fedcat.db")
    try:
        scores = expected_scores(store)
    finally:
        store.close()
    lille = [q.total for i, q in scores.items() if i.startswith("lille-")]
    assert float(rows[0]["mean"]) == pytest.approx(sum(lille) / len(lille), abs=0.01)

    assert cli.main(["quality", "--format", "json", "--group-by", "source", *common]) == 0
    assert '"group_by": "source"' in capsys.readouterr().out
    assert cli.main(["quality", "--group-by", "publisher", *common]) == 0
    table = capsys.readouterr().out
    assert "Metadata quality by publisher" in table
    # the terminal's table: every band and dimension word whole on its line (none folded in two)
    lines = [line.split("│") for line in table.splitlines() if "Ville de Lille" in line]
    assert lines and lines[0][5].strip() in ("excellent", "good", "sufficient", "bad")
    assert "findability" in table and "contextuality" in table

    # fedcat linkcheck: the portal is on 127.0.0.1 like the sources, so their links may point there
    assert cli.main(["linkcheck", "lille", "--rate", "50/s", "--timeout", "0.5", *common]) == 0
    assert "8 URLs: 8 checked (4 reachable, 4 not)" in " ".join(capsys.readouterr().err.split())
    assert cli.main(["quality", "--format", "csv", "--group-by", "publisher", *common]) == 0
    after = {r["publisher"]: float(r["mean"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert after["Ville de Lille"] > float(rows[0]["mean"])  # reachable URLs earn accessibility points
    # the region lists some of the same files: its stored scores follow the checks too
    store = Store(data_dir / "fedcat.db")
    try:
        scores = expected_scores(store)
    finally:
        store.close()
    for prefix, publisher in (("lille-", "Ville de Lille"), ("region-", "Lille")):
        totals = [q.total for i, q in scores.items() if i.startswith(prefix)]
        assert after[publisher] == pytest.approx(sum(totals) / len(totals), abs=0.01)
    assert after["Lille"] > float(rows[1]["mean"])
