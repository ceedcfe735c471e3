"""The JSON API over a real harvest: a DCAT catalogue served on 127.0.0.1, harvested into a SQLite store and
the embedded index, then read back through every endpoint.

Expected values come from the catalogue written here (what a user put in) or are recomputed from the store's
records (the source of truth), never from the search backend itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.api.schemas import DatasetRecord, DatasetsPage, RunReport, RunSummary, SourceSummary
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import RunResult, harvest
from fedcat.harvester.sources import Config, parse_config
from fedcat.indexer.backend import (
    FACET_SIZE,
    FACETS,
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
)
from fedcat.indexer.embedded import EmbeddedBackend, FacetCounter
from fedcat.mappings import quality, vocabularies
from fedcat.mappings.model import text_in
from fedcat.store import Store, record_id

THEME = "http://publications.europa.eu/resource/authority/data-theme/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
LO = "https://www.etalab.gouv.fr/licence-ouverte-open-licence"
ODBL = "http://opendatacommons.org/licenses/odbl/1-0/"
CC_BY = "http://creativecommons.org/licenses/by/4.0/"
HOUSE_LICENCE = "Licence maison du SIG"  # a literal no vocabulary knows: must show up as unmapped
ODD_FORMAT = "Format bizarre"
MEL, LILLE, REGION = "Métropole Européenne de Lille", "Ville de Lille", "Région Hauts-de-France"
BASE_URL = "https://fedcat.example"


@dataclass(frozen=True)
class Spec:
    slug: str
    source: str
    title_fr: str | None
    title_en: str | None
    description: tuple[tuple[str, str], ...]  # (text, lang)
    themes: tuple[str, ...]
    formats: tuple[str, ...]  # file-type codes, or a literal when it contains a space
    licence: str
    publisher: str
    modified: str | None
    keywords: tuple[str, ...] = ()

    @property
    def iri(self) -> str:
        host = "data.lille.example" if self.source == "lille" else "data.hautsdefrance.example"
        return f"https://{host}/datasets/{self.slug}"

    @property
    def fedcat_id(self) -> str:
        return record_id(self.source, self.iri)


def fr(text: str) -> tuple[tuple[str, str], ...]:
    return ((text, "fr"),)


SPECS = (
    Spec("velos", "lille", "Vélos en libre-service", "Bike-sharing stations",
         (("Disponibilité en temps réel des stations V'Lille.", "fr"), ("Live availability of V'Lille stations.", "en")),
         ("TRAN",), ("CSV", "JSON"), LO, MEL, "2024-03-15", ("vélo", "mobilité")),
    Spec("parkings-velos", "lille", "Parkings vélos sécurisés", None, fr("Abris et arceaux pour les cycles."),
         ("TRAN",), ("CSV", "GEOJSON"), ODBL, LILLE, "2023-05-02", ("vélo", "stationnement")),
    Spec("comptages", "lille", "Comptages routiers", "Traffic counts", fr("Trafic journalier par capteur."),
         ("TRAN",), ("CSV",), LO, MEL, "2022-11-30", ("trafic",)),
    Spec("bus", "lille", "Horaires des bus", "Bus timetables", fr("Horaires théoriques au format GTFS."),
         ("TRAN",), ("ZIP",), LO, "Ilévia", "2021", ("transport en commun",)),
    Spec("air", "lille", "Qualité de l'air", "Air quality", fr("Mesures horaires des polluants."),
         ("ENVI", "HEAL"), ("CSV", "JSON"), ODBL, "Atmo Hauts-de-France", "2023-11-02", ("air", "pollution")),
    Spec("arbres", "lille", "Arbres d'alignement", None, fr("Inventaire des arbres des rues."),
         ("ENVI",), ("GEOJSON", "SHP"), LO, LILLE, "2020-04-20", ("arbre", "nature")),
    Spec("bruit", "lille", None, "Noise map", (("Strategic noise map of the city.", "en"),),
         ("ENVI",), ("PDF",), CC_BY, LILLE, "2019-07-01", ("noise",)),
    Spec("ecoles", "lille", "Écoles élémentaires", "Primary schools", fr("Adresses et effectifs des écoles."),
         ("EDUC",), ("CSV",), LO, LILLE, "2024-01-10", ("école",)),
    Spec("cantines", "lille", "Menus des cantines scolaires", None, fr("Menus de la semaine."),
         ("EDUC",), ("PDF",), HOUSE_LICENCE, LILLE, "2022-06", ("école", "cantine")),
    Spec("hopitaux", "lille", "Hôpitaux et cliniques", "Hospitals and clinics", fr("Établissements de santé."),
         ("HEAL",), ("CSV",), LO, MEL, "2018-09-12"),
    Spec("budget", "lille", "Budget primitif 2023", None, fr("Budget voté par le conseil."),
         ("GOVE", "ECON"), ("CSV", "XLSX"), LO, LILLE, "2023-02-01", ("budget", "finances")),
    Spec("deliberations", "lille", "Délibérations du conseil municipal", None, fr("Textes adoptés."),
         ("GOVE",), ("PDF",), LO, LILLE, None),
    Spec("marches", "lille", "Marchés publics", "Public procurement", fr("Marchés attribués."),
         ("ECON",), (ODD_FORMAT,), LO, MEL, "2021-12-31", ("finances",)),
    Spec("bornes", "lille", "Bornes de recharge électrique", "EV charging points", fr("Points de charge."),
         ("ENER", "TRAN"), ("CSV", "JSON"), ODBL, MEL, "2024-06-30", ("électricité", "mobilité")),
    Spec("sports", "lille", "Équipements sportifs", None, fr("Salles, stades et piscines."),
         ("SOCI",), ("CSV",), LO, LILLE, "2020-01-15"),
    Spec("population", "region", "Population légale des communes", "Legal population", fr("Recensement."),
         ("SOCI",), ("CSV",), LO, REGION, "2023-12-28"),
    Spec("lycees", "region", "Lycées de la région", None, fr("Établissements publics et privés."),
         ("EDUC",), ("CSV", "GEOJSON"), LO, REGION, "2022-09-01", ("lycée",)),
    Spec("gares", "region", "Gares TER", "Regional train stations", fr("Gares et haltes."),
         ("TRAN",), ("CSV",), ODBL, REGION, "2024-02-14", ("mobilité",)),
    Spec("energie", "region", "Consommation d'énergie", None, fr("Consommation annuelle par commune."),
         ("ENER",), ("CSV",), LO, REGION, "2019-03-03"),
    Spec("veloroutes", "region", "Véloroutes et voies vertes", "Cycle routes", fr("Itinéraires cyclables."),
         ("TRAN", "ENVI"), ("GEOJSON",), ODBL, REGION, "2021-05", ("vélo",)),
)  # fmt: skip
BY_SLUG = {s.slug: s for s in SPECS}
JURISDICTIONS = {"lille": ("commune:59350", "Lille"), "region": ("region:32", "Hauts-de-France")}


def _lit(text: str, lang: str | None = None) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"' + (f"@{lang}" if lang else "")


def _date(value: str) -> str:
    xsd = {4: "gYear", 7: "gYearMonth"}.get(len(value), "date")
    return f'"{value}"^^xsd:{xsd}'


def turtle(specs: list[Spec]) -> str:
    lines = [
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .",
        "@prefix dct: <http://purl.org/dc/terms/> .",
        "@prefix foaf: <http://xmlns.com/foaf/0.1/> .",
        "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .",
        "<https://catalog.example/> a dcat:Catalog ; dct:title " + _lit("Catalogue de test", "fr") + " ;",
        "    dcat:dataset " + ", ".join(f"<{s.iri}>" for s in specs) + " .",
    ]
    for s in specs:
        props = [f"dct:identifier {_lit(s.slug)}"]
        titles = [_lit(t, lang) for t, lang in ((s.title_fr, "fr"), (s.title_en, "en")) if t]
        props.append("dct:title " + ", ".join(titles))
        props.append("dct:description " + ", ".join(_lit(t, lang) for t, lang in s.description))
        props.append("dcat:theme " + ", ".join(f"<{THEME}{t}>" for t in s.themes))
        if s.keywords:
            props.append("dcat:keyword " + ", ".join(_lit(k, "fr") for k in s.keywords))
        languages = [code for code, title in (("FRA", s.title_fr), ("ENG", s.title_en)) if title]
        props.append("dct:language " + ", ".join(f"<{LANGUAGE}{code}>" for code in languages))
        props.append(f"dct:publisher [ a foaf:Agent ; foaf:name {_lit(s.publisher)} ]")
        if s.modified:
            props.append(f"dct:modified {_date(s.modified)}")
        props.append(f"dcat:landingPage <{s.iri.replace('/datasets/', '/explore/')}>")
        props.append("dct:license " + (f"<{s.licence}>" if "://" in s.licence else _lit(s.licence)))
        for index, fmt in enumerate(s.formats):
            value = _lit(fmt) if " " in fmt else f"<{FILE_TYPE}{fmt}>"
            props.append(
                f"dcat:distribution [ a dcat:Distribution ; dct:format {value} ; "
                f"dcat:accessURL <{s.iri}/files/{index}> ]"
            )
        lines.append(f"<{s.iri}> a dcat:Dataset ;\n    " + " ;\n    ".join(props) + " .")
    return "\n".join(lines) + "\n"


def source_entry(source_id: str, name: str, url: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": source_id, "name": name, "type": "dcat", "url": url}
    if source_id in JURISDICTIONS:
        key, jname = JURISDICTIONS[source_id]
        level, code = key.split(":")
        entry["jurisdiction"] = {"level": level, "code": code, "name": jname}
    return entry


def make_config(*sources: dict[str, Any]) -> Config:
    return parse_config(
        {
            "settings": {"base_url": BASE_URL, "http": {"retries": 0, "backoff": 0}},
            "sources": list(sources),
        }
    )


@dataclass
class Site:
    portal: PortalServer
    config: Config
    store: Store
    backend: EmbeddedBackend
    runs: dict[str, RunResult]
    client: TestClient


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("api")
    with PortalServer() as portal:
        portal.add("/lille/catalog.ttl", turtle([s for s in SPECS if s.source == "lille"]))
        portal.add("/region/catalog.ttl", turtle([s for s in SPECS if s.source == "region"]))
        config = make_config(
            source_entry("lille", "Open data Lille", portal.url("/lille/catalog.ttl")),
            source_entry("region", "Open data Hauts-de-France", portal.url("/region/catalog.ttl")),
            source_entry("broken", "A portal that is down", portal.url("/broken/catalog.ttl")),
        )
        store = Store(tmp / "fedcat.db")
        backend = EmbeddedBackend(tmp / "index")
        runs = {r.source_id: r for r in harvest(config, store, backend)}
        yield Site(portal, config, store, backend, runs, TestClient(create_app(store, backend, config)))
        backend.close()
        store.close()


def get(site: Site, url: str, params: Any = None, status: int = 200) -> Any:
    response = site.client.get(url, params=params)
    assert response.status_code == status, response.text
    return response.json()


def search(site: Site, **params: Any) -> dict[str, Any]:
    params.setdefault("page_size", MAX_PAGE_SIZE)
    return get(site, "/api/datasets", params)


def slugs(page: dict[str, Any]) -> list[str]:
    by_id = {s.fedcat_id: s.slug for s in SPECS}
    return [by_id[item["id"]] for item in page["items"]]


def error_parameters(body: dict[str, Any]) -> list[str | None]:
    return [e["parameter"] for e in body["errors"]]


# --- independent expectations from the store ---------------------------------------------------------


def record_facets(record: dict[str, Any]) -> dict[str, set[str]]:
    """A stored record's facet values, derived from the Dataset the way a user reads it."""
    ds = record["dataset"]
    licences = {ds.licence} if ds.licence else {d.licence for d in ds.distributions if d.licence}
    return {
        "publisher": {text_in(ds.publisher.name)} if ds.publisher and ds.publisher.name else set(),
        "theme": set(ds.themes),
        "format": {d.format for d in ds.distributions if d.format},
        "licence": licences,
        "keyword": {k.value.strip().lower() for k in ds.keywords},
        "source": {record["source_id"]},
        "jurisdiction": {JURISDICTIONS[record["source_id"]][0]},
        "language": set(ds.language),
        "quality": {quality.score(ds).band},  # no link checks in this harvest: the pure score
        "has_reuses": {"false"},  # DCAT portals list no reuses
    }


def expected_facets(store: Store, keep=lambda values: True) -> dict[str, list[tuple[str, int]]]:
    counts: dict[str, Counter] = {f: Counter() for f in FACETS}
    for record in store.iter_records():
        values = record_facets(record)
        if keep(values):
            for facet in FACETS:
                counts[facet].update(values[facet])
    return {f: sorted(c.items(), key=lambda vc: (-vc[1], vc[0]))[:FACET_SIZE] for f, c in counts.items()}


def expected_ids(store: Store, keep) -> set[str]:
    return {r["id"] for r in store.iter_records() if keep(record_facets(r))}


def date_start(modified: str) -> str:
    """The first day a partial date covers ("2021" -> "2021-01-01"), as the date filters read it."""
    parts = [*modified.split("-"), "01", "01"]
    return "-".join(parts[:3])


# --- health, OpenAPI ---------------------------------------------------------------------------------


def test_harvest_fixture_is_what_the_tests_assume(site: Site) -> None:
    assert site.runs["lille"].status == "complete"
    assert site.runs["region"].status == "complete"
    assert site.runs["broken"].status == "failed"
    assert site.store.count() == len(SPECS)


def test_health_reports_store_size_and_backend(site: Site) -> None:
    assert get(site, "/health") == {
        "status": "ok",
        "datasets": len(SPECS),
        "index": "embedded",
        # how facets are counted: natively where fedcat._native was built, else by tantivy (said why)
        "search": {
            "backend": "embedded",
            "status": "ok",
            "facets": "native"
            if FacetCounter is not None
            else "tantivy aggregations (fedcat._native is not built: reinstall where cargo is)",
        },
    }


def test_openapi_documents_every_parameter(site: Site) -> None:
    spec = get(site, "/openapi.json")
    assert spec["info"]["title"] == "fedcat"
    for path in ("/api/datasets", "/api/datasets/{id}", "/api/datasets/{id}/raw", "/api/sources"):
        assert path in spec["paths"]
    mine = (
        "/api/datasets",
        "/api/datasets/{id}",
        "/api/datasets/{id}/raw",
        "/api/harvests",
        "/api/harvests/{run_id}",
    )
    for path in mine:  # other modules document their own routes
        for parameter in spec["paths"][path]["get"].get("parameters", []):
            assert parameter.get("description"), f"{path}: parameter {parameter['name']} has no description"
    names = {p["name"] for p in spec["paths"]["/api/datasets"]["get"]["parameters"]}
    assert names >= {"q", *FACETS, "modified_after", "modified_before", "sort", "page", "page_size", "facets"}
    assert site.client.get("/docs").status_code == 200


# --- search ------------------------------------------------------------------------------------------


def test_search_without_query_lists_everything_with_all_facets(site: Site) -> None:
    page = get(site, "/api/datasets")
    assert page["total"] == len(SPECS)
    assert (page["page"], page["page_size"], len(page["items"])) == (1, 20, 20)
    assert list(page["facets"]) == list(FACETS)
    DatasetsPage.model_validate(page)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("velo", {"velos", "parkings-velos", "veloroutes"}),  # "Vélos", "vélos", keyword "vélo"
        ("VÉLO", {"velos", "parkings-velos", "veloroutes"}),
        ("ecoles", {"ecoles", "cantines"}),  # "Écoles", keyword "école"
        ("hopital", {"hopitaux"}),  # "Hôpitaux": French plural, accent
        ("qualite air", {"air"}),
        ("velo mobilite", {"velos"}),  # every word must match
        ("noise map", {"bruit"}),  # English-only record
        ("Ilévia", {"bus"}),  # publisher name
    ],
)
def test_full_text_folds_accents_and_case(site: Site, q: str, expected: set[str]) -> None:
    page = search(site, q=q)
    assert set(slugs(page)) == expected
    assert page["total"] == len(expected)


def test_search_item_shape(site: Site) -> None:
    spec = BY_SLUG["velos"]
    (item,) = search(site, q="libre service")["items"]
    assert item["id"] == spec.fedcat_id
    assert item["uri"] == f"{BASE_URL}/datasets/{spec.fedcat_id}"
    assert item["title"] == "Vélos en libre-service"  # French preferred
    assert item["description"] == "Disponibilité en temps réel des stations V'Lille."
    assert {"value": "Bike-sharing stations", "lang": "en"} in item["title_i18n"]
    assert {"value": "Live availability of V'Lille stations.", "lang": "en"} in item["description_i18n"]
    assert item["publisher"] == MEL
    assert item["themes"] == [{"value": THEME + "TRAN", "label": vocabularies.label(THEME + "TRAN")}]
    assert item["themes"][0]["label"] != "TRAN", "theme labels must come from the vocabulary"
    assert [f["value"] for f in item["formats"]] == [FILE_TYPE + "CSV", FILE_TYPE + "JSON"]
    assert item["licence"] is not None and item["licence"]["label"]
    assert item["keywords"] == ["vélo", "mobilité"]
    assert item["modified"] == "2024-03-15"
    assert item["landing_page"] == "https://data.lille.example/explore/velos"
    assert item["source"] == {"id": "lille", "name": "Open data Lille"}


def test_labels_and_texts_follow_accept_language(site: Site) -> None:
    spec = BY_SLUG["velos"]
    english = site.client.get(
        "/api/datasets", params={"q": "libre service"}, headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"}
    )
    assert "Accept-Language" in english.headers["Vary"]  # shared caches keep one answer per language
    (item,) = english.json()["items"]
    assert item["title"] == "Bike-sharing stations"
    assert item["description"] == "Live availability of V'Lille stations."
    assert item["themes"] == [{"value": THEME + "TRAN", "label": "Transport"}]
    transport = next(f for f in english.json()["facets"]["theme"] if f["value"] == THEME + "TRAN")
    assert transport["label"] == "Transport"
    record = site.client.get(f"/api/datasets/{spec.fedcat_id}", headers={"Accept-Language": "en"}).json()
    assert record["title"] == "Bike-sharing stations"
    assert record["labels"][THEME + "TRAN"] == "Transport"
    # French when asked, and by default; a language neither the record nor the vocabulary has: French
    for headers in ({"Accept-Language": "fr-FR"}, {}, {"Accept-Language": "tlh, en;q=0"}):
        (item,) = site.client.get("/api/datasets", params={"q": "libre service"}, headers=headers).json()[
            "items"
        ]
        assert item["title"] == "Vélos en libre-service"
        assert item["themes"][0]["label"] == vocabularies.label(THEME + "TRAN", "fr") == "Transports"


def test_page_size_zero_answers_the_total_and_facets_only(site: Site) -> None:
    full = search(site, q="velo", page_size=20)
    counts = search(site, q="velo", page_size=0)
    assert counts["items"] == [] and counts["page_size"] == 0
    assert counts["total"] == full["total"] > 0
    assert counts["facets"] == full["facets"] and counts["facets"]["theme"]


def test_english_only_record_falls_back_to_english(site: Site) -> None:
    (item,) = search(site, q="noise")["items"]
    assert item["title"] == "Noise map"
    assert item["description"] == "Strategic noise map of the city."


def test_unmapped_format_is_its_own_facet_value_and_label(site: Site) -> None:
    page = search(site, format=ODD_FORMAT, facets="format")
    assert slugs(page) == ["marches"]
    assert page["facets"]["format"] == [{"value": ODD_FORMAT, "label": ODD_FORMAT, "count": 1}]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({}, lambda v: True),
        ({"theme": THEME + "TRAN"}, lambda v: THEME + "TRAN" in v["theme"]),
        ({"source": "region"}, lambda v: "region" in v["source"]),
        (
            {"publisher": LILLE, "theme": [THEME + "EDUC", THEME + "GOVE"]},
            lambda v: LILLE in v["publisher"] and v["theme"] & {THEME + "EDUC", THEME + "GOVE"},
        ),
    ],
)
def test_facet_counts_equal_counts_from_the_store(site: Site, params: dict, keep) -> None:
    page = search(site, **params)
    expected = expected_facets(site.store, keep)
    got = {f: [(v["value"], v["count"]) for v in values] for f, values in page["facets"].items()}
    assert got == expected
    assert page["total"] == len(expected_ids(site.store, keep))


def test_facet_counts_match_the_catalogue(site: Site) -> None:
    themes = {v["value"]: v["count"] for v in search(site, facets="theme")["facets"]["theme"]}
    from_catalogue = Counter(THEME + t for s in SPECS for t in s.themes)
    assert themes == dict(from_catalogue)
    assert themes[THEME + "TRAN"] == 7


def test_facet_labels(site: Site) -> None:
    facets = search(site)["facets"]
    for value in facets["theme"]:
        assert value["label"] == vocabularies.label(value["value"])
    assert {(v["value"], v["label"]) for v in facets["source"]} == {
        ("lille", "Open data Lille"),
        ("region", "Open data Hauts-de-France"),
    }
    assert {(v["value"], v["label"]) for v in facets["jurisdiction"]} == {
        ("commune:59350", "Lille"),
        ("region:32", "Hauts-de-France"),
    }
    assert {(v["value"], v["label"], v["count"]) for v in facets["publisher"]} >= {(LILLE, LILLE, 8)}


def test_facets_parameter_picks_the_facets(site: Site) -> None:
    assert list(search(site, facets="theme,format")["facets"]) == ["theme", "format"]
    assert list(search(site, facets=["licence", "theme"])["facets"]) == ["licence", "theme"]
    assert search(site, facets="")["facets"] == {}


def test_repeated_filter_is_or_and_different_filters_and(site: Site) -> None:
    tran, envi = THEME + "TRAN", THEME + "ENVI"
    either = search(site, theme=[tran, envi])
    expected = {s.slug for s in SPECS if {"TRAN", "ENVI"} & set(s.themes)}
    assert set(slugs(either)) == expected and either["total"] == len(expected)
    assert len(expected) > len([s for s in SPECS if "TRAN" in s.themes])  # the OR widened the result

    both = search(site, theme=[tran, envi], source="region")
    assert (
        set(slugs(both)) == {s for s in expected if BY_SLUG[s].source == "region"} == {"gares", "veloroutes"}
    )

    with_text = search(site, q="velo", source="lille")
    assert set(slugs(with_text)) == {"velos", "parkings-velos"}


def test_licence_and_language_filters(site: Site) -> None:
    velos = site.store.record(BY_SLUG["velos"].fedcat_id)["dataset"]
    licence = velos.licence
    assert licence and licence.startswith("http"), "the licence is normalised to a URI"
    page = search(site, licence=licence)
    assert {i["id"] for i in page["items"]} == expected_ids(site.store, lambda v: licence in v["licence"])
    assert all(item["licence"]["value"] == licence for item in page["items"])

    english = search(site, language=LANGUAGE + "ENG", source="region")
    assert set(slugs(english)) == {s.slug for s in SPECS if s.title_en and s.source == "region"}
    language_facet = {v["value"]: v for v in english["facets"]["language"]}
    assert language_facet[LANGUAGE + "ENG"]["count"] == 3
    assert language_facet[LANGUAGE + "ENG"]["label"] == vocabularies.label(LANGUAGE + "ENG") != "ENG"


def test_keyword_filter_ignores_case(site: Site) -> None:
    assert set(slugs(search(site, keyword="Vélo"))) == {"velos", "parkings-velos", "veloroutes"}


@pytest.mark.parametrize(
    ("after", "before"),
    [
        ("2022-01-01", "2023-12-31"),
        ("2024", None),  # from 2024-01-01
        (None, "2021"),  # up to 2021-12-31
        ("2021-05", "2021-05"),  # the whole of May 2021
        ("2023-06-01", "2023-11-02"),  # both bounds inclusive
    ],
)
def test_modified_date_range(site: Site, after: str | None, before: str | None) -> None:
    params = {k: v for k, v in (("modified_after", after), ("modified_before", before)) if v}
    low = date_start(after) if after else "0000-00-00"
    high = {4: f"{before}-12-31", 7: f"{before}-31"}.get(len(before), before) if before else "9999-99-99"
    expected = {s.slug for s in SPECS if s.modified and low <= date_start(s.modified) <= high}
    assert expected, "a range test that expects nothing proves nothing"
    page = search(site, **params)
    assert set(slugs(page)) == expected
    assert "deliberations" not in slugs(page)  # undated records never match a date range


def test_sort_by_modified(site: Site) -> None:
    dated = sorted((s for s in SPECS if s.modified), key=lambda s: date_start(s.modified))
    undated = [s.slug for s in SPECS if not s.modified]
    newest = search(site, sort="modified")
    assert slugs(newest) == [s.slug for s in reversed(dated)] + undated
    assert newest["items"][0]["modified"] == "2024-06-30"
    oldest = search(site, sort="-modified")
    assert slugs(oldest) == [s.slug for s in dated] + undated


def test_relevance_puts_title_matches_first(site: Site) -> None:
    # "vélo" is in the title of two records and only a keyword of the third
    assert slugs(search(site, q="velo", sort="relevance"))[-1] == "veloroutes"


def test_pages_are_disjoint_and_cover_every_hit(site: Site) -> None:
    for sort in ("relevance", "modified", "-modified"):
        seen: list[str] = []
        for page_number in (1, 2, 3):
            page = search(site, sort=sort, page=page_number, page_size=7, facets="")
            assert page["total"] == len(SPECS)
            assert len(page["items"]) == (7 if page_number < 3 else len(SPECS) - 14)
            seen += [item["id"] for item in page["items"]]
        assert len(seen) == len(set(seen)) == len(SPECS)
        assert set(seen) == {s.fedcat_id for s in SPECS}
    past_the_end = search(site, page=4, page_size=7)
    assert past_the_end["items"] == [] and past_the_end["total"] == len(SPECS)


# --- search errors -----------------------------------------------------------------------------------


def test_unknown_facet_is_a_400_naming_it(site: Site) -> None:
    body = get(site, "/api/datasets", {"facets": "theme,colour"}, status=400)
    assert error_parameters(body) == ["facets"]
    assert "colour" in body["detail"] and "theme" in body["detail"]


def test_misspelt_parameter_is_a_400_not_silently_ignored(site: Site) -> None:
    body = get(site, "/api/datasets", {"themes": THEME + "TRAN"}, status=400)
    assert error_parameters(body) == ["themes"]
    assert "theme" in body["detail"]


@pytest.mark.parametrize("value", ["2023-13-01", "2023-02-30", "yesterday", "15/03/2024", "2024-3-1"])
@pytest.mark.parametrize("parameter", ["modified_after", "modified_before"])
def test_bad_date_is_a_400_naming_the_parameter(site: Site, parameter: str, value: str) -> None:
    body = get(site, "/api/datasets", {parameter: value}, status=400)
    assert error_parameters(body) == [parameter]
    assert value in body["detail"] and "YYYY-MM-DD" in body["detail"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page_size": MAX_PAGE_SIZE + 1}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"sort": "title"}, "sort"),
        ({"q": "x" * 1001}, "q"),
    ],
)
def test_invalid_values_are_400_naming_the_parameter(site: Site, params: dict, parameter: str) -> None:
    body = get(site, "/api/datasets", params, status=400)
    assert error_parameters(body) == [parameter]
    assert body["detail"].startswith("invalid parameter(s): " + parameter)


def test_paging_past_the_result_window_is_a_400_explaining_the_cap(site: Site) -> None:
    last_allowed = MAX_RESULT_WINDOW // MAX_PAGE_SIZE
    assert search(site, page=last_allowed)["items"] == []  # allowed, merely empty here
    body = get(site, "/api/datasets", {"page": last_allowed + 1, "page_size": MAX_PAGE_SIZE}, status=400)
    assert error_parameters(body) == ["page"]
    assert str(MAX_RESULT_WINDOW) in body["detail"]
    assert "/catalog" in body["detail"]  # the way on: the catalogue, paged by id without a depth limit


# --- one dataset -------------------------------------------------------------------------------------


def test_dataset_record_with_provenance(site: Site) -> None:
    spec = BY_SLUG["air"]
    record = get(site, f"/api/datasets/{spec.fedcat_id}")
    DatasetRecord.model_validate(record)
    assert record["id"] == spec.fedcat_id
    dataset = record["dataset"]
    assert dataset["uri"] == f"{BASE_URL}/datasets/{spec.fedcat_id}"
    # the titles in the shape of the search items' title_i18n, and the item's best title beside them
    assert dataset["title"] == [
        {"value": "Qualité de l'air", "lang": "fr"},
        {"value": "Air quality", "lang": "en"},
    ]
    item = next(i for i in search(site, q="air")["items"] if i["id"] == spec.fedcat_id)
    assert record["title_i18n"] == item["title_i18n"] == dataset["title"] and record["title"] == item["title"]
    assert dataset["themes"] == [THEME + "ENVI", THEME + "HEAL"]
    assert len(dataset["distributions"]) == 2
    assert record["labels"][THEME + "ENVI"] == vocabularies.label(THEME + "ENVI")
    assert record["source"] == {
        "id": "lille",
        "name": "Open data Lille",
        "type": "dcat",
        "url": site.portal.url("/lille/catalog.ttl"),
    }
    assert record["source_record_id"] == spec.iri
    assert record["original_uri"] == spec.iri
    assert record["fetch_url"] == site.portal.url("/lille/catalog.ttl")
    assert record["first_run_id"] == record["last_run_id"] == site.runs["lille"].run_id
    assert record["first_seen"] and record["last_seen"] and record["withdrawn_at"] is None
    assert len(record["raw_hash"]) == 32 and record["raw_media_type"] == "application/n-triples"


def test_house_licence_is_kept_as_unmapped_in_the_record(site: Site) -> None:
    record = get(site, f"/api/datasets/{BY_SLUG['cantines'].fedcat_id}")
    assert record["dataset"]["unmapped"]["licence"] == [HOUSE_LICENCE]


def test_unknown_dataset_is_a_json_404(site: Site) -> None:
    for url in ("/api/datasets/lille-0000000000000000", "/api/datasets/lille-0000000000000000/raw"):
        body = get(site, url, status=404)
        assert "lille-0000000000000000" in body["detail"] and error_parameters(body) == ["id"]


def test_raw_payload_with_its_media_type(site: Site) -> None:
    spec = BY_SLUG["velos"]
    response = site.client.get(f"/api/datasets/{spec.fedcat_id}/raw")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/n-triples")
    assert response.headers["x-content-type-options"] == "nosniff"
    text = response.content.decode("utf-8")
    assert f"<{spec.iri}> <http://purl.org/dc/terms/title> " in text
    assert "Vélos en libre-service" in text or "V\\u00E9los" in text


# --- sources and harvests ----------------------------------------------------------------------------


def test_sources_with_counts_and_last_run(site: Site) -> None:
    sources = {s["id"]: s for s in get(site, "/api/sources")}
    for source in sources.values():
        SourceSummary.model_validate(source)
    assert sorted(sources) == ["broken", "lille", "region"]
    lille = sources["lille"]
    assert lille["datasets"] == site.store.count("lille") == 15
    assert lille["jurisdiction"] == {"key": "commune:59350", "name": "Lille"}
    assert lille["last_run"]["status"] == "complete"
    assert lille["last_run"]["counts"]["created"] == 15
    assert sources["region"]["datasets"] == 5
    broken = sources["broken"]
    assert broken["datasets"] == 0 and broken["last_run"]["status"] == "failed"
    assert "404" in broken["last_run"]["message"]


def test_harvest_list_newest_first_and_by_source(site: Site) -> None:
    runs = get(site, "/api/harvests")
    for run in runs:
        RunSummary.model_validate(run)
    assert [r["id"] for r in runs] == sorted((r.run_id for r in site.runs.values()), reverse=True)
    (only,) = get(site, "/api/harvests", {"source": "region"})
    assert only["id"] == site.runs["region"].run_id and only["counts"]["seen"] == 5
    assert len(get(site, "/api/harvests", {"limit": 1})) == 1


def test_harvest_list_of_unknown_source_is_a_404(site: Site) -> None:
    body = get(site, "/api/harvests", {"source": "nowhere"}, status=404)
    assert error_parameters(body) == ["source"] and "nowhere" in body["detail"]
    assert error_parameters(get(site, "/api/harvests", {"limit": 0}, status=400)) == ["limit"]


def test_harvest_report(site: Site) -> None:
    report = get(site, f"/api/harvests/{site.runs['lille'].run_id}")
    RunReport.model_validate(report)
    assert report["source_id"] == "lille" and report["status"] == "complete"
    assert report["counts"] == {
        "pages": 1,
        "seen": 15,
        "created": 15,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "failed": 0,
    }
    assert report["report"]["unmapped"]["licence"] == {HOUSE_LICENCE: 1}
    assert report["report"]["unmapped"]["format"] == {ODD_FORMAT: 1}
    assert report["errors"] == []
    assert report["started_at"] <= report["ended_at"]

    failed = get(site, f"/api/harvests/{site.runs['broken'].run_id}")
    assert failed["status"] == "failed" and "HTTP 404" in failed["message"]
    assert failed["counts"]["seen"] == 0


def test_unknown_or_malformed_run_id(site: Site) -> None:
    assert error_parameters(get(site, "/api/harvests/99999", status=404)) == ["run_id"]
    assert error_parameters(get(site, "/api/harvests/latest", status=400)) == ["run_id"]


# --- no loss, robustness -----------------------------------------------------------------------------


def test_withdrawn_record_is_still_served(portal: PortalServer, tmp_path: Path) -> None:
    kept = [BY_SLUG[s] for s in ("velos", "comptages", "bus", "air")]
    portal.add("/lille/catalog.ttl", turtle(kept))
    config = make_config(source_entry("lille", "Open data Lille", portal.url("/lille/catalog.ttl")))
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    client = TestClient(create_app(store, backend, config))
    first = harvest(config, store, backend)[0]
    portal.add("/lille/catalog.ttl", turtle(kept[1:]))  # the source dropped "velos"
    second = harvest(config, store, backend)[0]
    assert second.status == "complete"

    gone = client.get(f"/api/datasets/{kept[0].fedcat_id}").json()
    assert gone["withdrawn_at"] is not None and gone["last_run_id"] == first.run_id
    assert gone["dataset"]["title"][0] == {"value": "Vélos en libre-service", "lang": "fr"}
    assert client.get(f"/api/datasets/{kept[0].fedcat_id}/raw").status_code == 200
    page = client.get("/api/datasets").json()
    assert page["total"] == 3 and kept[0].fedcat_id not in [i["id"] for i in page["items"]]
    assert client.get("/health").json()["datasets"] == 3
    assert client.get("/api/sources").json()[0]["datasets"] == 3

    runs = client.get("/api/harvests", params={"source": "lille"}).json()
    assert [r["id"] for r in runs] == [second.run_id, first.run_id]
    assert runs[0]["counts"]["withdrawn"] == 1 and runs[0]["counts"]["unchanged"] == 3
    backend.close()
    store.close()


def test_hit_missing_from_the_store_is_skipped(
    portal: PortalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    portal.add("/lille/catalog.ttl", turtle([BY_SLUG["velos"]]))
    config = make_config(source_entry("lille", "Open data Lille", portal.url("/lille/catalog.ttl")))
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    harvest(config, store, backend)
    backend.upsert([SearchDocument(id="lille-ghost", title="Vélos fantômes", modified="2030-01-01")])
    backend.commit()
    client = TestClient(create_app(store, backend, config))
    with caplog.at_level(logging.WARNING, logger="fedcat.api"):
        page = client.get("/api/datasets", params={"q": "velos"}).json()
    assert [item["title"] for item in page["items"]] == ["Vélos en libre-service"]
    assert "lille-ghost" in caplog.text
    backend.close()
    store.close()


class FailingBackend(SearchBackend):
    name = "failing"

    def upsert(self, documents) -> None: ...
    def delete(self, ids) -> None: ...
    def commit(self) -> None: ...
    def ids(self) -> set[str]:
        return set()

    def clear(self) -> None: ...
    def search(self, query: SearchQuery) -> SearchResult:
        raise RuntimeError("secret internals")


def test_a_bug_gives_a_clean_logged_500(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(source_entry("lille", "Open data Lille", "http://127.0.0.1:9/catalog.ttl"))
    app = create_app(Store(tmp_path / "fedcat.db"), FailingBackend(), config)
    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="fedcat.api"):
        response = client.get("/api/datasets")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error: the server logged it", "errors": []}
    assert "secret internals" in caplog.text and "secret" not in response.text


def test_server_start_up_loads_vocabularies(tmp_path: Path) -> None:
    import gc

    config = make_config(source_entry("lille", "Open data Lille", "http://127.0.0.1:9/catalog.ttl"))
    app = create_app(Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index"), config)
    vocabularies.vocabulary.cache_clear()
    try:
        with TestClient(app) as client:  # runs the lifespan, as uvicorn does
            assert vocabularies.vocabulary.cache_info().currsize >= len(vocabularies.VOCABULARIES)
            assert client.get("/health").json()["datasets"] == 0
    finally:
        gc.unfreeze()  # the start-up froze the test process's heap
