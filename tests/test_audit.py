"""`fedcat audit`: the registry of public bodies, the obligation rules, publisher matching, the report.

The registry fixtures are written here in the shapes of @etalab/decoupage-administratif (the corpus's
`bodies/` files), with figures chosen for the tests; the corpus files themselves are read where present.
The end-to-end tests harvest catalogues served on 127.0.0.1 into a real store and index, then read the
report through the Python API, the CLI and `GET /api/audit`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from fedcat import cli
from fedcat.api.app import create_app
from fedcat.api.audit import AuditPage
from fedcat.audit.families import families, recognise
from fedcat.audit.match import Matcher, sirens
from fedcat.audit.registry import Body, Registry, RegistryError
from fedcat.audit.report import (
    Filters,
    audit_filters,
    body_rows,
    published_by_body,
    refresh_facts,
    report,
)
from fedcat.audit.rules import obligation, tables
from fedcat.demo.catalogues import hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import Config, parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.mappings.model import Agent, Dataset, Distribution, Text, dataset_to_json
from fedcat.mappings.vocabularies import vocabulary
from fedcat.store import Store, record_id
from fedcat.store.schema import AUDIT_FACTS, statements

EU = "http://publications.europa.eu/resource/authority/"
OPEN_LICENCE, NC_LICENCE = EU + "licence/ETALAB_2_0", EU + "licence/CC_BYNC_4_0"
HVD = "http://data.europa.eu/bna/c_ac64a52d"  # geospatial
SCDL_DELIBERATIONS = "https://schema.data.gouv.fr/scdl/deliberations/2.1.4/documentation.html"
COMMUNE_EXPECTED = ["deliberations", "budget", "subventions", "marches-publics", "equipements", "adresses"]

# --- registry fixtures, in the corpus's shapes ----------------------------------------------------------

COMMUNES = [
    {"code": "59350", "nom": "Lille", "typeLiaison": 0, "zone": "metro", "arrondissement": "595",
     "departement": "59", "region": "32", "type": "commune-actuelle", "rangChefLieu": 0,
     "siren": "215903501", "codesPostaux": ["59000"], "population": 238246},
    {"code": "59512", "nom": "Roubaix", "zone": "metro", "departement": "59", "region": "32",
     "type": "commune-actuelle", "siren": "215905126", "codesPostaux": ["59100"], "population": 98286},
    {"code": "59643", "nom": "Warneton", "zone": "metro", "departement": "59", "region": "32",
     "type": "commune-actuelle", "siren": "215906439", "codesPostaux": ["59560"], "population": 240},
    {"code": "32389", "nom": "Saint-Martin", "zone": "metro", "departement": "32", "region": "76",
     "type": "commune-actuelle", "siren": "213203895", "population": 590},
    {"code": "65392", "nom": "Saint-Martin", "zone": "metro", "departement": "65", "region": "76",
     "type": "commune-actuelle", "siren": "216503920", "population": 410},
    {"code": "59298", "nom": "Hellemmes-Lille", "zone": "metro", "departement": "59", "region": "32",
     "type": "commune-associee", "chefLieu": "59350"},
    {"code": "13201", "nom": "Marseille 1er Arrondissement", "zone": "metro", "departement": "13",
     "region": "93", "type": "arrondissement-municipal", "commune": "13055", "population": 37599},
]  # fmt: skip
EPCI = [
    {"code": "200093201", "nom": "Métropole Européenne de Lille", "type": "METRO", "modeFinancement": "FPU",
     "populationTotale": 1204796, "populationMunicipale": 1194040,
     "membres": [{"code": "59350", "siren": "215903501", "nom": "Lille", "populationTotale": 240523},
                 {"code": "59512", "siren": "215905126", "nom": "Roubaix", "populationTotale": 99926},
                 {"code": "59643", "siren": "215906439", "nom": "Warneton", "populationTotale": 245}]},
    {"code": "200070738", "nom": "CA du Grand Dole", "type": "CA", "modeFinancement": "FPU",
     "populationTotale": 54000, "populationMunicipale": 53000, "membres": []},
]  # fmt: skip
DEPARTEMENTS = [
    {"code": "59", "region": "32", "chefLieu": "59350", "nom": "Nord", "typeLiaison": 2, "zone": "metro"},
    {"code": "975", "region": "975", "chefLieu": "97502", "nom": "Saint-Pierre-et-Miquelon", "zone": "com"},
]
REGIONS = [{"code": "32", "chefLieu": "59350", "nom": "Hauts-de-France", "typeLiaison": 0, "zone": "metro"}]
DECLARED_CSV = (
    "id,name,kind,population,agents,parent,siren,aliases\n"
    "commune:59643,,,,3,,,\n"  # figures for a body the JSON files loaded
    "agency:dinum,Direction interministérielle du numérique,administration,,180,country:FR,130025265,DINUM\n"
)


def write_registry(directory: Path) -> list[Path]:
    files = []
    for name, items in (("communes", COMMUNES), ("epci", EPCI), ("departements", DEPARTEMENTS),
                        ("regions", REGIONS)):  # fmt: skip
        path = directory / f"{name}.json"
        path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        files.append(path)
    declared = directory / "bodies.csv"
    declared.write_text(DECLARED_CSV, encoding="utf-8")
    return [*files, declared]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry.load(write_registry(tmp_path_factory.mktemp("bodies")))


# --- the registry ----------------------------------------------------------------------------------------


def test_corpus_files_load_as_bodies(corpus: Path) -> None:
    files = sorted((corpus / "bodies").glob("decoupage-administratif-*.json"))
    loaded = Registry.load(files)
    kinds = {kind: sum(1 for b in loaded.bodies.values() if b.kind == kind) for kind in loaded.kinds()}
    # 34,969 current communes of 37,590 items; departements without the 8 collectivités d'outre-mer
    assert kinds == {"commune": 34969, "epci": 1255, "departement": 101, "region": 18, "ept": 11, "com": 8}
    assert loaded.problems == []
    assert loaded.skipped["communes déléguées, associées and municipal arrondissements"] == 37590 - 34969
    lille = loaded.get("commune:59350")
    assert (lille.name, lille.population, lille.siren) == ("Lille", 238246, "215903501")
    assert {"epci:200093201", "departement:59", "region:32"} <= lille.within
    assert loaded.by_siren("200093201").name == "Métropole Européenne de Lille"
    assert loaded.get("commune:98411").population is None  # no population in the file: unknown, not 0
    assert obligation(loaded.get("commune:98411"), tables()[0]).status == "unknown"
    # a commune nouvelle and its commune déléguée chef-lieu share a code: the body is the commune nouvelle
    assert loaded.get("commune:01015").name == "Arboys en Bugey"
    assert loaded.named("arbignieu") == []


def test_fixture_registry_reads_each_shape(registry: Registry) -> None:
    assert sorted(registry.bodies) == [
        "agency:dinum", "commune:32389", "commune:59350", "commune:59512", "commune:59643", "commune:65392",
        "departement:59", "departement:975", "epci:200070738", "epci:200093201", "region:32",
    ]  # fmt: skip
    assert registry.get("departement:975").kind == "com"
    warneton = registry.get("commune:59643")
    assert (warneton.population, warneton.agents) == (240, 3.0)  # the CSV filled in the agents
    assert registry.get("agency:dinum").agents == 180
    assert registry.get("epci:200093201").within >= {"departement:59", "region:32"}  # via its communes
    assert registry.get("commune:65392").within == {
        "commune:65392",
        "departement:65",
        "region:76",
        "country:FR",
    }


def test_malformed_entries_are_reported_and_skipped(tmp_path: Path) -> None:
    communes = tmp_path / "communes.json"
    communes.write_text(
        json.dumps([
            COMMUNES[0],
            {"nom": "Sans code", "type": "commune-actuelle", "departement": "59"},
            {**COMMUNES[1], "population": "beaucoup"},
            {"code": "99999", "nom": "Bizarre", "type": "hameau"},
            "not an object",
        ]),
        encoding="utf-8",
    )  # fmt: skip
    declared = tmp_path / "bodies.yaml"
    declared.write_text(
        yaml.safe_dump({"bodies": [
            {"id": "agency:a", "name": "Agence A", "kind": "administration", "agents": 60},
            {"id": "agency:b", "kind": "administration"},
            {"id": "agency:c", "name": "Agence C", "kind": "administration", "agents": -4},
            {"id": "agency:d", "name": "Agence D", "kind": "administration", "siren": "12"},
            {"id": "has space", "name": "X", "kind": "administration"},
            "a string",
        ]}),
        encoding="utf-8",
    )  # fmt: skip
    loaded = Registry.load([communes, declared])
    assert sorted(loaded.bodies) == ["agency:a", "commune:59350"]
    problems = "\n".join(loaded.problems)
    assert "communes.json item 1: Object missing required field `code`" in problems
    assert "communes.json item 2: Expected `int | null`, got `str` - at `$.population`" in problems
    assert "communes.json item 3: unknown type 'hameau'" in problems
    assert "communes.json item 4: Expected `object`" in problems
    assert "bodies.yaml bodies[1]: new body agency:b: name required" in problems
    assert (
        "bodies.yaml bodies[2]: `agents` must be a non-negative number (decimals with '.'), got -4"
        in problems
    )
    assert "bodies.yaml bodies[3]: `siren` must be 9 digits, got '12'" in problems
    assert "bodies.yaml bodies[4]: `id` is required, without spaces" in problems
    assert "bodies.yaml bodies[5]: expected a mapping" in problems
    assert len(loaded.problems) == 9


def test_semicolon_csv_as_spreadsheets_export_it(tmp_path: Path) -> None:
    declared = tmp_path / "agents.csv"
    declared.write_text(
        "\ufeffid;name;kind;agents;colour\n"
        "agency:a;Agence A;administration;12.5;red\n"
        "agency:b;Agence B;administration;12,5;blue\n",
        encoding="utf-8",
    )
    loaded = Registry.load([declared])
    assert sorted(loaded.bodies) == ["agency:a"] and loaded.get("agency:a").agents == 12.5
    assert loaded.problems == [
        "agents.csv: unknown columns colour ignored (expected id, name, kind, population, agents, parent, siren, aliases, website)",
        "agents.csv line 3: `agents` must be a non-negative number (decimals with '.'), got '12,5'",
    ]


def test_missing_or_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"cannot read the bodies file .*nowhere\.json"):
        Registry.load([tmp_path / "nowhere.json"])
    (tmp_path / "object.json").write_text('{"communes": []}', encoding="utf-8")
    with pytest.raises(RegistryError, match=r"object\.json: not a JSON array of items"):
        Registry.load([tmp_path / "object.json"])
    (tmp_path / "bodies.txt").write_text("id\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="unknown kind of bodies file"):
        Registry.load([tmp_path / "bodies.txt"])
    (tmp_path / "nohead.csv").write_text("name,kind\nX,administration\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="the first line must name the columns, `id` among them"):
        Registry.load([tmp_path / "nohead.csv"])


# --- the obligation rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "population", "agents", "status", "why"),
    [
        ("commune", 3499, 49, "no", "population 3,499 < 3,500; agents 49 < 50"),
        ("commune", 3500, None, "yes", "population 3,500 ≥ 3,500"),
        ("commune", 3499, None, "unknown", "population 3,499 < 3,500; agents unknown"),
        ("commune", 3499, 50, "yes", "agents 50 ≥ 50"),
        ("commune", None, None, "unknown", "population unknown; agents unknown"),
        ("epci", 3500, None, "yes", "population 3,500 ≥ 3,500"),
        ("administration", 10**6, 49, "no", "agents 49 < 50"),
        ("administration", None, 50, "yes", "agents 50 ≥ 50"),
        ("administration", None, 49.5, "no", "agents 49.5 < 50"),
        ("administration", None, None, "unknown", "agents unknown"),
        ("departement", None, None, "yes", "every departement (departement-region)"),
    ],
)
def test_obligation_at_the_thresholds(kind, population, agents, status, why) -> None:
    body = Body("x:1", "X", kind, population, agents)
    assert obligation(body, tables()[0])[:2] == (status, why)


def test_open_licences_are_vocabulary_uris() -> None:
    licences = tables()[1]
    assert OPEN_LICENCE in licences and EU + "licence/ODC_BL" in licences
    assert NC_LICENCE not in licences
    assert all(uri in vocabulary("licence") for uri in licences)


# --- matching ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "identifier", "uri", "jurisdiction", "body", "method"),
    [
        ("Ville de Lille", "", "", None, "commune:59350", "name"),
        ("Mairie de Lille", "", "", "epci:200093201", "commune:59350", "name"),
        ("Commune de Lille", "", "", None, "commune:59350", "name"),
        ("VILLE DE LILLE", "", "", None, "commune:59350", "name"),
        ("Lille (59)", "", "", None, "commune:59350", "name"),
        ("Métropole Européenne de Lille", "", "", None, "epci:200093201", "name"),
        ("metropole europeenne de lille", "", "", None, "epci:200093201", "name"),
        ("MEL", "", "", None, "epci:200093201", "name"),  # the publisher alias table
        ("Communauté d'agglomération du Grand Dole", "", "", None, "epci:200070738", "name"),
        ("Conseil départemental du Nord", "", "", None, "departement:59", "name"),
        ("Région Hauts-de-France", "", "", None, "region:32", "name"),
        ("Ville de Lile (typo)", "21590350100017", "", None, "commune:59350", "siren"),  # SIRET
        ("", "", "https://annuaire-entreprises.data.gouv.fr/entreprise/200093201", None, "epci:200093201", "siren"),
        ("DINUM", "130 025 265", "", None, "agency:dinum", "siren"),
        ("Direction interministérielle du numérique", "", "", None, "agency:dinum", "name"),
        ("Saint-Martin", "", "", "departement:32", "commune:32389", "name"),
        ("St-Martin", "", "", "commune:65392", "commune:65392", "name"),  # the source's own body
        ("", "", "", "commune:59350", "commune:59350", "jurisdiction"),  # no publisher
    ],
)  # fmt: skip
def test_publisher_matches(registry, name, identifier, uri, jurisdiction, body, method) -> None:
    found = Matcher(registry).match(name, identifier, uri, jurisdiction)
    assert (found.body, found.method) == (body, method)


@pytest.mark.parametrize(
    ("name", "identifier", "jurisdiction", "why"),
    [
        ("Saint-Martin", "", None, "ambiguous: 2 bodies of that name and the source has no jurisdiction "
         "(commune:32389, commune:65392)"),
        ("Commune de Saint-Martin", "", "epci:200093201", "ambiguous: bodies of that name, none within or "
         "around epci:200093201"),
        ("Ville de Paris", "", None, "no body of that name"),
        ("Lille Tourisme", "123456789", None, "no body of that name"),  # not a valid SIREN: ignored
        ("", "", "commune:75056", "no publisher, and the source's jurisdiction is no registry body"),
    ],
)  # fmt: skip
def test_ambiguous_and_unknown_publishers_are_not_guessed(registry, name, identifier, jurisdiction, why):
    found = Matcher(registry).match(name, identifier, "", jurisdiction)
    assert (found.body, found.note) == (None, why)


def test_sirens_need_their_luhn_key() -> None:
    assert sirens("21590350100017", "https://x.example/215903501/data") == ["215903501"]
    assert sirens("215903502", "https://x.example/2024010112345") == []


# --- expected dataset families -------------------------------------------------------------------------------


def _families(**fields) -> list[str]:
    found = recognise(dataset_to_json(Dataset(uri="https://x.example/d", **fields)))
    return json.loads(found) if found else []


@pytest.mark.parametrize(
    ("fields", "found"),
    [
        # dct:conformsTo, on the dataset or (udata's resource schemas) on a distribution, any spelling of the URL
        ({"title": [Text("Conseil du 3 mars")], "conforms_to": [SCDL_DELIBERATIONS]}, ["deliberations"]),
        ({"distributions": [Distribution(conforms_to=[
            "https://schema.data.gouv.fr/schemas/etalab/schema-irve-statique/2.2.0/schema-statique.json"])]},
         ["irve"]),
        ({"conforms_to": ["http://www.gitlab.com/opendatafrance/scdl/subventions.git"]}, ["subventions"]),
        ({"conforms_to": ["https://github.com/139bercy/format-commande-publique"]}, ["marches-publics"]),
        ({"conforms_to": ["https://schema.data.gouv.fr/etalab/schema-stationnement-cyclable/"]}, []),
        # EU high-value dataset categories
        ({"hvd_categories": ["http://data.europa.eu/bna/c_b79e35eb", HVD]}, ["hvd-geospatial", "hvd-mobility"]),
        # title and keyword words, folded: case and accents do not matter, endings marked * do
        ({"title": [Text("DÉLIBÉRATIONS du Conseil municipal", "fr")]}, ["deliberations"]),
        ({"title": [Text("deliberation n° 12")]}, ["deliberations"]),
        ({"title": [Text("Achats")], "keywords": [Text("Marchés Publics")]}, ["marches-publics"]),
        ({"title": [Text("Budget primitif 2025 — données budgétaires")]}, ["budget"]),
        ({"title": [Text("Prénoms des nouveau-nés")], "keywords": [Text("menus cantine")]}, ["prenoms", "menus"]),
        # not a family: descriptions are never read, excepted phrases, a word merely starting the same
        ({"title": [Text("Arbres d'alignement")],
          "description": [Text("Entretenus sur le budget de la ville, après délibération du conseil")]}, []),
        ({"title": [Text("Projets du budget participatif")]}, []),
        ({"title": [Text("Menuiseries des écoles")]}, []),
    ],
)  # fmt: skip
def test_families_recognised(fields: dict, found: list[str]) -> None:
    assert _families(**fields) == found


def test_families_table_is_checked_data() -> None:
    table = families()
    assert table.expected_of("commune") == COMMUNE_EXPECTED
    assert table.expected_of("region") == ["deliberations", "budget", "subventions", "marches-publics"]
    assert table.expected_of("administration") == []  # HVD families: recommended of any kind, never missing
    assert table.families["hvd-statistics"].concerns("administration")
    assert not table.families["prenoms"].concerns("region")


# --- end to end: harvest over HTTP, then report -------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    slug: str
    source: str  # "city" or "metro"
    publisher: Agent | None
    body: str | None  # the body the report should count it for
    formats: tuple[str, ...] = ("CSV",)
    licence: str = OPEN_LICENCE
    modified: str = "2025-01-15"
    hvd: bool = False
    conforms_to: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    description: str = ""


VILLE, MAIRIE = Agent(name=[Text("Ville de Lille", "fr")]), Agent(name=[Text("Mairie de Lille")])
MEL = Agent(name=[Text("Métropole Européenne de Lille", "fr")], identifier="200093201")
SERVED = (
    Served("velos", "city", VILLE, "commune:59350", ("CSV", "JSON"), modified="2026-10-02", hvd=True),
    Served("budget", "city", VILLE, "commune:59350", ("CSV",), licence=NC_LICENCE),
    Served(
        "arbres",
        "city",
        VILLE,
        "commune:59350",
        ("JSON",),
        description="Arbres d'alignement, entretenus sur le budget de la ville",
    ),  # not a budget
    Served("ecoles", "city", MAIRIE, "commune:59350", ("CSV",), modified="2024-03-01"),
    Served("deliberations", "city", MAIRIE, "commune:59350", ("PDF",)),
    Served("conseil-municipal", "city", VILLE, "commune:59350", conforms_to=(SCDL_DELIBERATIONS,)),
    Served("sans-editeur", "city", None, "commune:59350"),  # no publisher: the source's jurisdiction
    Served("transports", "metro", MEL, "epci:200093201", ("GEOJSON",), modified="2026-11-01"),
    Served("eau", "metro", MEL, "epci:200093201", ("CSV", "PDF")),
    Served("energie", "metro", MEL, "epci:200093201", ("XLSX",)),
    Served("plu", "metro", Agent(name=[Text("MEL")]), "epci:200093201", ("SHP",)),
    Served("aides-associations", "metro", MEL, "epci:200093201", keywords=("Subventions", "Associations")),
    Served("velos", "metro", VILLE, "commune:59350", ("CSV",), hvd=True),  # the city's, harvested twice
    Served("fete", "metro", Agent(name=[Text("Commune de Saint-Martin")]), None),
)
OPEN = {"CSV", "JSON", "GEOJSON", "SHP"}  # of the formats above, the open machine-readable ones


def served_dataset(item: Served) -> Dataset:
    uri = f"https://data.lille.example/datasets/{item.slug}"
    return Dataset(
        uri=uri,
        title=[Text(item.slug, "fr")],
        description=[Text(item.description, "fr")] if item.description else [],
        keywords=[Text(k, "fr") for k in item.keywords],
        conforms_to=list(item.conforms_to),
        publisher=item.publisher,
        licence=item.licence,
        modified=item.modified,
        hvd_categories=[HVD] if item.hvd else [],
        distributions=[
            Distribution(
                download_url=[f"{uri}.{f.lower()}"], format=EU + "file-type/" + f, licence=item.licence
            )
            for f in item.formats
        ],
    )


def serve(portal: PortalServer, items: tuple[Served, ...]) -> None:
    for source, fmt in (("city", "ttl"), ("metro", "rdf")):
        datasets = [served_dataset(i) for i in items if i.source == source]
        page_url = portal.url(f"/{source}/catalog.{fmt}?page=%d")
        for number, body in hydra_pages(datasets, page_url, 4, fmt).items():
            portal.add(
                f"/{source}/catalog.{fmt}?page={number}",
                body,
                "text/turtle" if fmt == "ttl" else "application/rdf+xml",
            )


def expected(items: tuple[Served, ...], body: str) -> dict:
    """What the report should say of a body, worked out from what was served: copies of one dataset (one
    slug, from two sources) count once, open or HVD when one copy is, modified when the latest copy was."""
    slugs: dict[str, list[Served]] = {}
    for item in items:
        if item.body == body:
            slugs.setdefault(item.slug, []).append(item)
    n = len(slugs)
    return {
        "datasets": n,
        "last_modified": max(i.modified for copies in slugs.values() for i in copies),
        "open_licence_share": round(
            sum(any(i.licence == OPEN_LICENCE for i in c) for c in slugs.values()) / n, 4
        ),
        "open_format_share": round(sum(any(OPEN & set(i.formats) for i in c) for c in slugs.values()) / n, 4),
        "hvd_datasets": sum(any(i.hvd for i in c) for c in slugs.values()),
    }


@dataclass
class Site:
    portal: PortalServer
    config: Config
    config_path: Path
    store: Store
    backend: EmbeddedBackend
    registry: Registry
    bodies: list[Path]
    data_dir: Path


def site_config(portal: PortalServer, bodies: list[Path]) -> dict:
    return {
        "settings": {"bodies": [str(b) for b in bodies], "http": {"retries": 0, "backoff": 0}},
        "sources": [
            {"id": "ville-lille", "name": "Ville de Lille", "type": "dcat", "url": portal.url("/city/catalog.ttl?page=1"),
             "jurisdiction": {"level": "commune", "code": "59350"}},
            {"id": "metropole", "name": "MEL", "type": "dcat", "url": portal.url("/metro/catalog.rdf?page=1"),
             "jurisdiction": {"level": "epci", "code": "200093201"}},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("audit")
    bodies = write_registry(tmp)
    with PortalServer() as portal:
        serve(portal, SERVED)
        raw = site_config(portal, bodies)
        config_path = tmp / "sources.yaml"
        config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        config = parse_config(raw, config_path)
        store, backend = Store(tmp / "fedcat.db"), EmbeddedBackend(tmp / "index")
        assert [r.status for r in harvest(config, store, backend)] == ["complete", "complete"]
        yield Site(portal, config, config_path, store, backend, Registry.load(bodies), bodies, tmp)
        backend.close()
        store.close()


JURISDICTIONS = {"ville-lille": "commune:59350", "metropole": "epci:200093201"}
NORD_OBLIGATED = ["epci:200093201", "commune:59350", "commune:59512", "departement:59"]


def rows_by_id(site: Site) -> dict[str, dict]:
    published = published_by_body(site.store, site.registry, JURISDICTIONS)
    return {r["id"]: r for r in body_rows(site.registry, published, Filters())}


def test_report_counts_what_each_body_publishes(site: Site) -> None:
    rows = rows_by_id(site)
    lille, mel = rows["commune:59350"], rows["epci:200093201"]
    assert (lille["obligated"], lille["why"], lille["publishing"]) == (
        "yes",
        "population 238,246 ≥ 3,500",
        True,
    )
    assert {k: lille[k] for k in expected(SERVED, "commune:59350")} == expected(SERVED, "commune:59350")
    assert lille["datasets"] == 7 and lille["sources"] == ["metropole", "ville-lille"]
    assert (lille["matched_by"], mel["matched_by"]) == (["jurisdiction", "name"], ["name", "siren"])
    assert {k: mel[k] for k in expected(SERVED, "epci:200093201")} == expected(SERVED, "epci:200093201")
    mel_ids = [record_id("metropole", served_dataset(i).uri) for i in SERVED if i.body == "epci:200093201"]
    marks = ",".join("?" * len(mel_ids))
    stored = site.store.db.execute(
        f"SELECT avg(total) FROM quality WHERE id IN ({marks})", mel_ids
    ).fetchone()[0]
    assert mel["quality_mean"] == pytest.approx(stored, abs=0.05)  # the stored MQA scores, averaged
    roubaix = rows["commune:59512"]  # obligated, nothing harvested
    assert (roubaix["obligated"], roubaix["publishing"], roubaix["datasets"]) == ("yes", False, 0)
    warneton = rows["commune:59643"]
    assert (warneton["obligated"], warneton["why"]) == ("no", "population 240 < 3,500; agents 3 < 50")
    assert (rows["commune:32389"]["obligated"], rows["commune:32389"]["why"]) == (
        "unknown", "population 590 < 3,500; agents unknown")  # fmt: skip
    # the obligated first, largest first; bodies without a population after those with one
    assert list(rows)[:4] == ["epci:200093201", "commune:59350", "commune:59512", "epci:200070738"]


def test_report_says_which_families_each_body_publishes(site: Site) -> None:
    rows = rows_by_id(site)
    lille, mel = rows["commune:59350"], rows["epci:200093201"]
    # deliberations: one by its title, one only by its conformsTo; the "arbres" description's budget is not
    # counted; velos is HVD in both copies and counts once
    assert lille["families"] == {"deliberations": 2, "budget": 1, "hvd-geospatial": 1}
    assert lille["families_missing"] == ["subventions", "marches-publics", "equipements", "adresses"]
    assert mel["families"] == {"subventions": 1}  # by a keyword
    assert mel["families_missing"] == ["deliberations", "budget", "marches-publics"]
    assert rows["commune:59512"]["families_missing"] == COMMUNE_EXPECTED  # obligated, publishes nothing
    assert rows["commune:59643"]["families_missing"] == []  # not obligated: nothing is expected of it

    published = published_by_body(site.store, site.registry, JURISDICTIONS)
    nord = report(
        site.registry, published, audit_filters(site.registry, departement="59", obligated_only=True)
    )
    coverage = {f["id"]: f for f in nord["summary"]["families"]}
    assert coverage["deliberations"] == {"id": "deliberations", "label": "délibérations", "obligated": 4,
                                         "having": 1, "coverage": 0.25, "missing": 3, "datasets": 2}  # fmt: skip
    # recommended of the EPCI and the département, expected of the communes: Lille and Roubaix lack it
    assert (coverage["equipements"]["obligated"], coverage["equipements"]["missing"]) == (4, 2)
    assert [f["id"] for f in nord["families"]] == list(families().families)

    having = audit_filters(site.registry, has=["deliberations"])
    assert [r["id"] for r in body_rows(site.registry, published, having)] == ["commune:59350"]
    lacking = audit_filters(site.registry, departement="59", obligated_only=True, missing=["deliberations"])
    assert [r["id"] for r in body_rows(site.registry, published, lacking)] == [
        "epci:200093201", "commune:59512", "departement:59"]  # fmt: skip
    with pytest.raises(ValueError, match="missing: no family 'deliberation' "):
        audit_filters(site.registry, missing=["deliberation"])


def test_facts_of_an_earlier_version_are_made_again(site: Site) -> None:
    """A store whose audit_facts predate families (no column, no stamp) is read again at the next report."""
    with site.store.write() as db:
        db.execute("DROP TABLE audit_facts")
        db.execute("DROP TABLE audit_state")
        db.execute(re.sub(r",\s*families TEXT[^\n]*", "", next(statements(AUDIT_FACTS))))
        db.execute("INSERT INTO audit_facts SELECT id, source_id, '', '', '', id, NULL, '[]', '[]', 0"
                   " FROM records WHERE withdrawn_at IS NULL")  # fmt: skip
    assert refresh_facts(site.store) == len(SERVED)
    assert rows_by_id(site)["commune:59350"]["families"] == {
        "deliberations": 2,
        "budget": 1,
        "hvd-geospatial": 1,
    }
    assert refresh_facts(site.store) == 0  # then up to date


def test_unmatched_publishers_are_listed_with_counts(site: Site) -> None:
    published = published_by_body(site.store, site.registry, JURISDICTIONS)
    assert published.unmatched == [
        {"source": "metropole", "publisher": "Commune de Saint-Martin", "identifier": "", "datasets": 1,
         "why": "ambiguous: bodies of that name, none within or around epci:200093201"},
    ]  # fmt: skip
    assert (published.records, published.matched) == (len(SERVED), len(SERVED) - 1)


def test_filters_and_summary(site: Site) -> None:
    published = published_by_body(site.store, site.registry, JURISDICTIONS)
    nord = audit_filters(site.registry, departement="59", obligated_only=True)
    body = report(site.registry, published, nord)
    assert [r["id"] for r in body["items"]] == NORD_OBLIGATED
    assert {k: body["summary"][k] for k in ("bodies", "obligated", "obligated_publishing", "coverage")} == {
        "bodies": 4, "obligated": 4, "obligated_publishing": 2, "coverage": 0.5}  # fmt: skip
    gaps = body_rows(site.registry, published, audit_filters(site.registry, ["commune"], not_publishing=True))
    assert [r["id"] for r in gaps] == ["commune:59512", "commune:32389", "commune:65392", "commune:59643"]
    with pytest.raises(ValueError, match="kind: no body of kind 'ville'"):
        audit_filters(site.registry, ["ville"])
    with pytest.raises(ValueError, match="departement: expected a département code"):
        audit_filters(site.registry, departement="Nord")


def test_a_withdrawn_or_republished_dataset_moves_in_the_next_report(tmp_path: Path) -> None:
    bodies = write_registry(tmp_path)
    registry = Registry.load(bodies)
    with PortalServer() as portal:
        serve(portal, SERVED)
        config = parse_config(site_config(portal, bodies), tmp_path / "sources.yaml")
        store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
        try:
            harvest(config, store, backend)
            before = published_by_body(store, registry, JURISDICTIONS).bodies
            # the city drops "arbres"; "ecoles" is now published by the metropolis
            changed = tuple(
                Served(i.slug, i.source, MEL, "epci:200093201", i.formats) if i.slug == "ecoles" else i
                for i in SERVED
                if i.slug != "arbres"
            )
            serve(portal, changed)
            assert [r.status for r in harvest(config, store, backend)] == ["complete", "complete"]
            after = published_by_body(store, registry, JURISDICTIONS).bodies
        finally:
            backend.close()
            store.close()
    assert before["commune:59350"]["datasets"] == 7 and before["epci:200093201"]["datasets"] == 5
    assert after["commune:59350"]["datasets"] == expected(changed, "commune:59350")["datasets"] == 5
    assert after["epci:200093201"]["datasets"] == expected(changed, "epci:200093201")["datasets"] == 6


# --- the CLI and the API -------------------------------------------------------------------------------------


def test_cli_audit(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--config", str(site.config_path), "--data-dir", str(site.data_dir)]
    assert cli.main(["audit", "--format", "csv", "--departement", "59", "--obligated-only", *common]) == 0
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert list(rows) == NORD_OBLIGATED
    lille = rows["commune:59350"]
    assert (lille["population"], lille["obligated"], lille["publishing"], lille["datasets"]) == (
        "238246", "yes", "True", str(expected(SERVED, "commune:59350")["datasets"]))  # fmt: skip
    assert (rows["commune:59512"]["publishing"], rows["commune:59512"]["datasets"]) == ("False", "0")

    assert cli.main(["audit", "--not-publishing", "--kind", "commune", "--format", "json", *common]) == 0
    body = json.loads(capsys.readouterr().out)
    assert "commune:59350" not in {r["id"] for r in body["items"]}
    assert body["unmatched"][0]["publisher"] == "Commune de Saint-Martin"

    assert cli.main(["audit", *common]) == 0
    table = capsys.readouterr().out
    assert "7 bodies obligated, 2 publishing (29%)" in " ".join(table.split())
    assert "Commune de Saint-Martin" in table  # the unmatched publishers, below

    csv_args = ["audit", "--format", "csv", "--departement", "59", "--obligated-only", *common]
    assert cli.main([*csv_args, "--missing", "marches-publics", "--has", "deliberations"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["id"], r["families"], r["families_missing"]) for r in rows] == [
        ("commune:59350", "deliberations:2|budget:1|hvd-geospatial:1",
         "subventions|marches-publics|equipements|adresses")]  # fmt: skip
    assert cli.main([*csv_args, "--missing", "subventions"]) == 0
    assert [r["id"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == [
        "commune:59350", "commune:59512", "departement:59"]  # fmt: skip
    assert cli.main(["audit", "--departement", "59", "--obligated-only", *common]) == 0
    table = " ".join(capsys.readouterr().out.split())
    # family, expected of, bodies having it, missing, datasets
    assert (
        "│ deliberations: délibérations │ commune, departement, epci, ept, region │ 1 of 4 (25%) │ 3 │ 2 │"
        in table
    )

    assert cli.main(["audit", "--kind", "ville", *common]) == 2
    assert "kind: no body of kind 'ville'" in capsys.readouterr().err
    assert cli.main(["audit", "--has", "deliberation", *common]) == 2
    assert "has: no family 'deliberation'" in capsys.readouterr().err
    assert cli.main(["audit", "--bodies", str(site.data_dir / "missing.csv"), *common]) == 2
    assert "cannot read the bodies file" in capsys.readouterr().err


def test_api_audit(site: Site) -> None:
    client = TestClient(create_app(site.store, site.backend, site.config))
    page = client.get("/api/audit", params={"departement": "59", "obligated_only": "true", "page_size": 2})
    assert page.status_code == 200
    body = page.json()
    AuditPage.model_validate(body)  # the documented shape
    assert (body["total"], body["page"], [i["id"] for i in body["items"]]) == (4, 1, NORD_OBLIGATED[:2])
    assert body["summary"]["coverage"] == 0.5
    second = client.get(
        "/api/audit", params={"departement": "59", "obligated_only": "true", "page_size": 2, "page": 2}
    )
    assert [i["id"] for i in second.json()["items"]] == NORD_OBLIGATED[2:]
    lille = body["items"][1]
    assert (lille["id"], lille["population"], lille["obligated"], lille["datasets"]) == (
        "commune:59350", 238246, "yes", expected(SERVED, "commune:59350")["datasets"])  # fmt: skip
    gaps = client.get("/api/audit", params={"kind": "commune", "not_publishing": "true"}).json()
    assert "commune:59350" not in {i["id"] for i in gaps["items"]} and gaps["total"] == 4
    parameters = client.get("/openapi.json").json()["paths"]["/api/audit"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {
        "kind", "departement", "within", "obligated_only", "not_publishing", "has", "missing", "publication",
        "page", "page_size"}  # fmt: skip
    assert all(p.get("description") for p in parameters)

    lacking = client.get("/api/audit", params={"departement": "59", "obligated_only": "true",
                                               "missing": "deliberations"}).json()  # fmt: skip
    assert [i["id"] for i in lacking["items"]] == ["epci:200093201", "commune:59512", "departement:59"]
    deliberations = next(f for f in lacking["summary"]["families"] if f["id"] == "deliberations")
    assert (deliberations["obligated"], deliberations["having"]) == (3, 0)  # of the bodies listed
    having = client.get("/api/audit", params={"has": ["deliberations", "budget"]}).json()
    assert [(i["id"], i["families"]["deliberations"]) for i in having["items"]] == [("commune:59350", 2)]
    assert having["items"][0]["families_missing"] == [
        "subventions",
        "marches-publics",
        "equipements",
        "adresses",
    ]
    bad = client.get("/api/audit", params={"missing": "deliberation"})
    assert bad.status_code == 400 and "no family 'deliberation'" in bad.json()["detail"]

    for params, status, parameter in (
        ({"kind": "ville"}, 400, "kind"),
        ({"has": "hvd"}, 400, "has"),
        ({"missing": "deliberation"}, 400, "missing"),
        ({"departement": "Nord"}, 400, "departement"),
        ({"within": "epci"}, 400, "within"),
        ({"page_size": 0}, 400, "page_size"),
        ({"obligated": "yes"}, 400, "obligated"),  # not a parameter of this endpoint
    ):
        answer = client.get("/api/audit", params=params)
        assert answer.status_code == status, params
        assert answer.json()["errors"][0]["parameter"] == parameter


def test_api_audit_without_a_registry(site: Site) -> None:
    raw = site_config(site.portal, [])
    client = TestClient(create_app(site.store, site.backend, parse_config(raw)))
    answer = client.get("/api/audit")
    assert answer.status_code == 503 and "settings.bodies" in answer.json()["detail"]
