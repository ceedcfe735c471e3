"""Harvesting Opendatasoft portals (Explore API v2.1) over real HTTP on 127.0.0.1.

No live v2.1 capture exists (see the corpus MANIFEST, "Gaps"), so the local portal serves:
- the v2.1 OpenAPI response examples (`explore-v2.1-openapi-examples/datasets-v2.1.json`, `dataset-v2.1.json`);
- the recorded Explore **v1** responses of `ods/udata-ods/`, converted by the handler to the v2.1 shape
  (`datasetid` → `dataset_id`, flat `metas` → `metas.default`, `interop_metas.*` → `metas.*`, one-string
  `theme`/`keyword` → lists): see `v1_to_v21`;
- fixtures written here in the v2.1 shape, among them a Lille-like catalogue where "Ville de Lille" and
  other publishers mix, with Lille's seven categories.
Every expectation is read from the served JSON or written out here, never from the adapter's own tables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.adapters.opendatasoft import odsql_string
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.documents import sync_index
from fedcat.store import Store, record_id

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
ODS = CORPUS / "ods"
EU = "http://publications.europa.eu/resource/authority/"
API = "/api/explore/v2.1/catalog"

# Written out independently of the vocabulary tables: what each category and licence must become.
THEMES = {
    "administration": "GOVE",
    "transport et déplacements": "TRAN",
    "culture et patrimoine": "EDUC",
    "environnement": "ENVI",
    "aménagement du territoire": "REGI",
    "services et social": "SOCI",
    "sport et loisirs": "EDUC",
    "Administration, Government, Public finances, Citizenship": "GOVE",
    "Culture, Heritage": "EDUC",
    "Environment": "ENVI",
    "Spatial planning, Town planning, Buildings, Equipment, Housing": "REGI",
    "Administration, Gouvernement, Finances publiques, Citoyenneté": "GOVE",
    "Aménagement du territoire, Urbanisme, Bâtiments, Equipements, Logement": "REGI",
    "Culture, Patrimoine": "EDUC",
    "Economie, Business, PME, Développement économique, Emploi": "ECON",
    "Education, Formation, Recherche, Enseignement": "EDUC",
    "Hébergement, Restauration": "ECON",
    "Justice, Sécurité, Police, Crime": "JUST",
    "Santé": "HEAL",
    "Services, Social": "SOCI",
    "Sport, Loisirs": "EDUC",
    "Transports, Déplacements": "TRAN",
}
LICENCES = {
    "Open Government Licence v3.0": EU + "licence/OGL_3_0",
    "CC BY 4.0": EU + "licence/CC_BY_4_0",
    "Licence Ouverte (Etalab)": EU + "licence/ETALAB_2_0",
    "Licence Ouverte v2.0 (Etalab)": EU + "licence/ETALAB_2_0",
    "Open Database License (ODbL)": EU + "licence/ODC_BL",
}


def theme_code(label: str) -> str | None:
    return THEMES.get(label) or THEMES.get(label.lower())


FORMATS = {"csv": "CSV", "json": "JSON", "xlsx": "XLSX", "geojson": "GEOJSON", "shp": "SHP"}
ZIP, PDF, XLS = EU + "file-type/ZIP", EU + "file-type/PDF", EU + "file-type/XLS"


# --- the local Explore v2.1 API -------------------------------------------------------------------------


class ExploreApi:
    """A v2.1 catalogue over `datasets`: /catalog/datasets and /catalog/exports/json, as Opendatasoft
    answers them (limit capped at 100, offset + limit capped at 10,000 with HTTP 400, `order_by` and the
    ODSQL `publisher="…"` clause honoured), plus hooks for the faults a test injects."""

    def __init__(self, datasets: list[dict], max_limit: int = 100, window: int = 10_000) -> None:
        self.datasets = datasets
        self.max_limit, self.window = max_limit, window
        self.announce_total = True
        self.total_shift = 0  # added to total_count (a portal whose count disagrees with its list)
        self.honour_where = True
        self.faults: dict[int, Reply] = {}  # offset -> reply served instead
        self.after_page: list = []  # callables run after each listing page is served
        self.export_fault: Reply | None = None
        self.export_ignores_offset = False
        self.after_export: list = []  # callables run after each export chunk is served

    def selected(self, request: Request) -> list[dict]:
        found = list(self.datasets)
        where = request.query.get("where", [""])[0]
        if where and self.honour_where:
            match = re.search(r'publisher="((?:[^"\\]|\\.)*)"', where)
            assert match, f"unexpected ODSQL {where!r}"
            wanted = re.sub(r"\\(.)", r"\1", match[1])
            found = [d for d in found if d["metas"]["default"].get("publisher") == wanted]
        if request.query.get("order_by", [""])[0] == "dataset_id":
            found.sort(key=lambda d: d["dataset_id"])
        return found

    def __call__(self, request: Request) -> Reply | None:
        if request.path.endswith(API + "/datasets"):
            offset = int(request.query.get("offset", ["0"])[0])
            limit = int(request.query.get("limit", ["10"])[0])
            if offset in self.faults:
                return self.faults[offset]
            if offset + limit > self.window:
                return json_reply({"error": "offset + limit must be lower than 10000"}, status=400)
            found = self.selected(request)
            body: dict = {"results": found[offset : offset + min(limit, self.max_limit)]}
            if self.announce_total:
                body = {"total_count": len(found) + self.total_shift, **body}
            reply = json_reply(body)
            for hook in self.after_page:
                hook()
            return reply
        if request.path.endswith(API + "/exports/json"):
            if self.export_fault is not None:
                return self.export_fault
            found = self.selected(request)
            limit = int(request.query.get("limit", ["-1"])[0])
            offset = 0 if self.export_ignores_offset else int(request.query.get("offset", ["0"])[0])
            reply = json_reply(found[offset : offset + limit] if limit >= 0 else found[offset:])
            for hook in self.after_export:
                hook()
            return reply
        return None


def json_reply(body, status: int = 200) -> Reply:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Reply(data, "application/json; charset=utf-8", status=status)


def v1_to_v21(dataset: dict) -> dict:
    """An Explore v1 dataset in the v2.1 shape (the keys v2.1 renamed or nested; values untouched)."""
    default = dict(dataset.get("metas") or {})
    for key in ("theme", "keyword"):
        if isinstance(default.get(key), str):
            default[key] = [default[key]]  # v1 gave one value as a string; v2.1 always a list
    metas = {"default": default, **(dataset.get("interop_metas") or {})}
    converted = {"dataset_id": dataset["datasetid"], "metas": metas}
    for key in ("has_records", "features", "attachments", "alternative_exports", "fields"):
        if key in dataset:
            converted[key] = dataset[key]
    return converted


def corpus_datasets() -> list[dict]:
    """The corpus's Opendatasoft datasets in the v2.1 shape, one per dataset_id."""
    found: dict[str, dict] = {}
    for item in json.loads((ODS / "explore-v2.1-openapi-examples" / "datasets-v2.1.json").read_text())[
        "results"
    ]:
        found[item["dataset_id"]] = item
    for path in sorted((ODS / "udata-ods").glob("*.json")):
        document = json.loads(path.read_text())
        for item in document.get("datasets", [document]):
            found.setdefault(item["datasetid"], v1_to_v21(item))
    return list(found.values())


# --- the Lille-like fixture (v2.1 shape) ------------------------------------------------------------------

LILLE_CATEGORIES = (
    "Administration",
    "Transport et déplacements",
    "Culture et patrimoine",
    "Environnement",
    "Aménagement du territoire",
    "Services et social",
    "Sport et loisirs",
)
PUBLISHERS = (
    "Ville de Lille",
    "Métropole Européenne de Lille",
    "Ville de Roubaix",
    'Association "Les Amis du Vieux-Lille"',
)


def lille_dataset(i: int) -> dict:
    """One dataset of the Lille-like catalogue; its shape varies with `i` (geo, attachments, templates)."""
    publisher = PUBLISHERS[i % 4] if i % 7 else PUBLISHERS[0]
    category = LILLE_CATEGORIES[i % 7]
    themes = [category] if i % 11 else [category, "Divers"]  # "Divers" has no EU theme
    item = {
        "dataset_id": f"lille-{i:04d}",
        "dataset_uid": f"da_{i:06x}",
        "has_records": i % 13 != 0,
        "data_visible": True,
        "features": ["analyze", "geo"] if i % 3 == 0 else ["analyze"],
        "attachments": [],
        "fields": [{"name": "nom", "label": "Nom", "type": "text"}],
        "metas": {
            "default": {
                "title": f"Jeu de données {i} : {category.lower()}",
                "description": f"<p>Données publiées par {publisher}, numéro {i}.</p>",
                "keyword": ["lille", f"mot{i % 5}"],
                "theme": themes,
                "publisher": publisher,
                "license": "Licence Ouverte v2.0 (Etalab)" if i % 2 else "Open Database License (ODbL)",
                "license_url": None,
                "modified": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T08:30:00+00:00",
                "language": "fr",
                "metadata_languages": ["fr"],
                "territory": ["Lille"],
                "records_count": 100_000 if i % 9 == 0 else 10 * i,
                "attributions": ["Ville de Lille"] if i % 5 == 0 else None,
            }
        },
    }
    if i % 4 == 0:
        item["attachments"] = [
            {
                "mimetype": "application/pdf",
                "url": "odsfile://notice.pdf",
                "id": "notice_pdf",
                "title": "Notice",
            }
        ]
    if i % 6 == 0:
        item["metas"]["dcat"] = {
            "issued": "2019-03-01",
            "accrualperiodicity": "Annuelle",
            "temporal": "2015-2020",
            "contact_name": "Service open data",
            "contact_email": "opendata@example.fr",
            "granularity": "Commune",
        }
    if i % 10 == 0:
        item["metas"]["inspire"] = {
            "file_identifier": f"{{lille-{i}}}",
            "extend_bounding_box_westbound_longitude": "2.97",
            "extend_bounding_box_eastbound_longitude": "3.13",
            "extend_bounding_box_southbound_latitude": "50.60",
            "extend_bounding_box_northbound_latitude": "50.66",
        }
    return item


def tiny_dataset(i: int) -> dict:
    """A minimal dataset, for the tests that need a catalogue past the 10,000 window but not its detail."""
    return {
        "dataset_id": f"tiny-{i:05d}",
        "has_records": False,
        "metas": {"default": {"title": f"Jeu {i}", "publisher": "Ville de Lille", "modified": "2025-01-01"}},
    }


def lille(count: int = 250) -> list[dict]:
    return [lille_dataset(i) for i in range(1, count + 1)]


# --- helpers ------------------------------------------------------------------------------------------------


def serve(portal: PortalServer, datasets: list[dict], **kwargs) -> ExploreApi:
    api = ExploreApi(datasets, **kwargs)
    portal.handle("/api/explore/v2.1/", api)
    return api


def config_for(portal: PortalServer, source_id: str = "ods", http: dict | None = None, **options):
    source = {"id": source_id, "name": source_id, "type": "opendatasoft", "url": portal.base_url}
    if options:
        source["options"] = options
    settings = {"http": {"retries": 0, **(http or {})}}
    return parse_config({"settings": settings, "sources": [source]})


def stored(store: Store, source_id: str, dataset_id: str):
    record = store.record(record_id(source_id, dataset_id))
    assert record is not None, f"{dataset_id} was not stored"
    return record["dataset"]


def listing_requests(portal: PortalServer) -> list[dict[str, str]]:
    return [
        {k: v[0] for k, v in r.query.items()}
        for r in portal.log
        if r.path.endswith(API + "/datasets") and r.path.startswith("/api/")
    ]


def expected_distributions(root: str, item: dict) -> list[tuple[str | None, str]]:
    """(format URI, download URL) of every distribution a dataset must get, read from its JSON."""
    api = f"{root}{API}/datasets/{item['dataset_id']}"
    default = item["metas"]["default"]
    found = []
    if item.get("has_records"):
        codes = ["csv", "json", "xlsx"]
        if "geo" in item.get("features", []):
            codes.append("geojson")
            if (default.get("records_count") or 0) <= 50_000:
                codes.append("shp")
        found += [(EU + "file-type/" + FORMATS[c], f"{api}/exports/{c}") for c in codes]
    for kind in ("attachments", "alternative_exports"):
        for file in item.get(kind) or []:
            extension = file["url"].rsplit(".", 1)[-1].upper()
            found.append((EU + "file-type/" + extension, f"{api}/{kind}/{file['id']}"))
    return found


def check_dataset(dataset, item: dict, root: str) -> None:
    """A stored dataset against the JSON it came from."""
    default = item["metas"]["default"]
    assert [t.value for t in dataset.title] == [default["title"]]
    if default.get("description"):
        assert [t.value for t in dataset.description] == [default["description"]]
    else:
        assert dataset.description == []
    if default.get("publisher"):
        assert [n.value for n in dataset.publisher.name] == [default["publisher"]]
    else:
        assert dataset.publisher is None
    if default.get("license") in LICENCES:
        assert dataset.licence == LICENCES[default["license"]]
        assert {d.licence for d in dataset.distributions} <= {dataset.licence}
    elif not default.get("license") and not default.get("license_url"):
        assert dataset.licence is None
    themes = default.get("theme") or []
    assert dataset.themes == list(
        dict.fromkeys(EU + "data-theme/" + theme_code(t) for t in themes if theme_code(t))
    )
    keywords = {k.value for k in dataset.keywords}
    assert set(default.get("keyword") or []) <= keywords
    assert {t for t in themes if not theme_code(t)} <= keywords  # unknown categories stay keywords
    got = [(d.format, d.download_url[0]) for d in dataset.distributions]
    assert got == expected_distributions(root, item)
    modified = default["modified"].replace("+00:00", "Z")
    assert dataset.modified == modified
    assert dataset.identifier == [item["dataset_id"]]
    assert dataset.landing_page == [f"{root}/explore/dataset/{item['dataset_id']}/"]


# --- corpus shapes ------------------------------------------------------------------------------------------


@pytest.fixture
def ods_corpus():
    if not ODS.is_dir():
        pytest.skip(f"the recorded Opendatasoft corpus is not available (expected at {ODS})")
    return corpus_datasets()


def test_corpus_datasets_arrive_with_every_field_mapped(portal, catalogue, ods_corpus):
    store, backend = catalogue
    serve(portal, ods_corpus)
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["created"] == len(ods_corpus) == store.count("ods")
    for item in ods_corpus:
        check_dataset(stored(store, "ods", item["dataset_id"]), item, portal.base_url)
    # the two v2.1 examples, field by field against their JSON
    world = stored(store, "ods", "world-administrative-boundaries-countries-and-territories")
    assert world.themes == [EU + "data-theme/GOVE"]
    assert world.language == [EU + "language/ENG"]
    assert world.other_identifier == ["da_6kvv9v"]
    assert [t.lang for t in world.title] == ["en"]
    assert world.documentation == ["https://geonode.wfp.org/layers/geonode:wld_bnd_adm0_wfp"]
    service = world.distributions[0].access_service[0]
    api = f"{portal.base_url}{API}/datasets/world-administrative-boundaries-countries-and-territories"
    assert service.endpoint_url == [api + "/records"]
    assert service.endpoint_description == [portal.base_url + "/api/explore/v2.1/swagger.json"]
    assert service.serves_dataset == [world.uri]
    geonames = stored(store, "ods", "geonames-all-cities-with-a-population-1000")
    assert geonames.publisher is None and geonames.licence is None  # null in the example
    [attachment] = [d for d in geonames.distributions if "/attachments/" in d.download_url[0]]
    assert attachment.title[0].value == "cities1000.zip"
    assert attachment.media_type == "http://www.iana.org/assignments/media-types/application/zip"
    # v1 captures: the INSPIRE template's bounding box and contact, the Etalab licence, a two-theme list
    inspire = stored(store, "ods", "inspire")
    assert inspire.spatial[0].bbox == (
        "POLYGON((0.1568 46.4944, 0.5084 46.4944, 0.5084 46.6848, 0.1568 46.6848, 0.1568 46.4944))"
    )
    assert (inspire.contact_points[0].name, inspire.contact_points[0].email) == ("ACME", "tnt@acme.com")
    assert inspire.other_identifier == ["{73E--sfA386709}"]
    test_a = stored(store, "ods", "test-a")
    assert test_a.themes == [EU + "data-theme/EDUC", EU + "data-theme/ENVI"]
    assert test_a.documentation == ["http://example.com"]
    # everything is searchable
    assert backend.search(SearchQuery(page_size=100)).total == len(ods_corpus)


def test_lille_catalogue_categories_publishers_and_templates(portal, catalogue):
    store, backend = catalogue
    datasets = lille(250)
    serve(portal, datasets)
    [result] = harvest(config_for(portal, page_size=100), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["pages"] == 3 and store.count("ods") == 250
    assert [q["offset"] for q in listing_requests(portal)] == ["0", "100", "200"]
    assert all(q["limit"] == "100" and q["order_by"] == "dataset_id" for q in listing_requests(portal))
    for item in datasets:
        check_dataset(stored(store, "ods", item["dataset_id"]), item, portal.base_url)
    with_dcat = stored(store, "ods", "lille-0006")
    assert with_dcat.issued == "2019-03-01"
    assert with_dcat.accrual_periodicity == EU + "frequency/ANNUAL"
    assert [(p.start, p.end) for p in with_dcat.temporal] == [("2015", "2020")]
    assert with_dcat.contact_points[0].email == "opendata@example.fr"
    assert with_dcat.unmapped["metas.dcat.granularity"] == ["Commune"]  # a key no rule reads: noted
    assert [t.lang for t in with_dcat.title] == ["fr"]
    with_inspire = stored(store, "ods", "lille-0010")
    assert any(loc.bbox and loc.bbox.startswith("POLYGON((2.97 50.6,") for loc in with_inspire.spatial)
    assert with_inspire.distributions[0].rights == "Ville de Lille"  # attributions
    # unknown categories show in the run report
    report = store.run(result.run_id)["report"]
    assert report["unmapped"]["theme"] == {
        "Divers": len([d for d in datasets if "Divers" in d["metas"]["default"]["theme"]])
    }
    hits = backend.search(SearchQuery(q="divers"))
    assert hits.total >= 1


@pytest.mark.parametrize("publisher", ["Ville de Lille", 'Association "Les Amis du Vieux-Lille"'])
def test_publisher_filter_sends_odsql_and_keeps_only_that_publisher(portal, catalogue, publisher):
    store, backend = catalogue
    datasets = lille(250)
    serve(portal, datasets)
    [result] = harvest(config_for(portal, publisher=publisher), store, backend)
    assert result.status == "complete", result.message
    escaped = publisher.replace('"', '\\"')
    assert {q["where"] for q in listing_requests(portal)} == {f'publisher="{escaped}"'}
    assert odsql_string(publisher) == f'"{escaped}"'
    # the query string itself is percent-encoded (quotes, spaces)
    raw = [r for r in portal.log if r.path.endswith("/datasets")]
    assert raw and all(r.query["where"] == [f'publisher="{escaped}"'] for r in raw)
    expected = [d for d in datasets if d["metas"]["default"]["publisher"] == publisher]
    assert store.count("ods") == len(expected) > 0
    assert {r["dataset"].publisher.name[0].value for r in store.iter_records()} == {publisher}


def test_publisher_filter_holds_when_the_portal_ignores_where(portal, catalogue):
    store, backend = catalogue
    datasets = lille(120)
    api = serve(portal, datasets)
    api.honour_where = False
    [result] = harvest(
        config_for(portal, publisher="Ville de Lille", where="records_count > 0"), store, backend
    )
    assert result.status == "complete", result.message
    assert {q["where"] for q in listing_requests(portal)} == {
        '(records_count > 0) AND publisher="Ville de Lille"'
    }
    expected = [d for d in datasets if d["metas"]["default"]["publisher"] == "Ville de Lille"]
    assert store.count("ods") == len(expected)


def exports(portal: PortalServer) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.query.items()} for r in portal.log if r.path.endswith("/exports/json")]


def test_offset_window_switches_to_the_exports_endpoint(portal, catalogue):
    store, backend = catalogue
    datasets = [lille_dataset(i) for i in range(1, 10_251)]
    serve(portal, datasets)
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "complete", result.message
    assert store.count("ods") == 10_250
    # one listing page told the total; no request ever crossed the 10,000 window
    assert [int(q["offset"]) + int(q["limit"]) for q in listing_requests(portal)] == [100]
    # the export goes on in chunks of 5,000, each starting on the last dataset already read
    assert [(q["offset"], q["limit"], q["order_by"]) for q in exports(portal)] == [
        ("99", "5001", "dataset_id"),
        ("5099", "5001", "dataset_id"),
        ("10099", "5001", "dataset_id"),
    ]
    assert result.counts["seen"] == 10_250  # no dataset counted twice
    check_dataset(stored(store, "ods", "lille-10250"), datasets[-1], portal.base_url)


def test_export_in_one_request_when_asked(portal, catalogue):
    store, backend = catalogue
    serve(portal, [tiny_dataset(i) for i in range(1, 10_051)])
    [result] = harvest(config_for(portal, export_chunk=0), store, backend)
    assert result.status == "complete", result.message
    [query] = exports(portal)
    assert "limit" not in query and "offset" not in query
    assert store.count("ods") == 10_050 == result.counts["seen"]


def test_catalogue_moving_during_the_export_withdraws_nothing(portal, catalogue):
    store, backend = catalogue
    api = serve(portal, [tiny_dataset(i) for i in range(1, 10_251)])
    removed: list = []

    def delete_one() -> None:  # after the first chunk, a dataset already exported is deleted
        if not removed:
            removed.append(api.datasets.pop(500))

    api.after_export.append(delete_one)
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "partial"
    assert "changed while it was exported" in result.message
    assert result.counts["withdrawn"] == 0
    assert store.count("ods") == 10_250  # the shift made one dataset appear twice, none was lost here


def test_export_ignoring_offset_stops(portal, catalogue):
    store, backend = catalogue
    api = serve(portal, [tiny_dataset(i) for i in range(1, 10_251)])
    api.export_ignores_offset = True
    [result] = harvest(config_for(portal, export_chunk=4000), store, backend)
    assert result.status == "partial"
    assert "repeats datasets already read" in result.message
    # the second chunk showed it; the third may or may not have been fetched ahead by then
    assert len(exports(portal)) in (2, 3)


def test_export_that_breaks_off_makes_the_run_partial(portal, catalogue):
    store, backend = catalogue
    datasets = [tiny_dataset(i) for i in range(1, 10_051)]
    api = serve(portal, datasets)
    body = json.dumps(datasets[99:5100]).encode()
    api.export_fault = Reply(body[: len(body) // 2], "application/json")
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "partial"
    assert "not valid JSON" in result.message
    assert result.counts["withdrawn"] == 0
    assert 1000 <= store.count("ods") < 5100  # what was read before the break is kept


# --- paging edge cases ----------------------------------------------------------------------------------------


def test_without_total_the_walk_ends_on_an_empty_page(portal, catalogue):
    store, backend = catalogue
    api = serve(portal, lille(200))
    api.announce_total = False
    [result] = harvest(config_for(portal, page_size=100), store, backend)
    assert result.status == "complete", result.message
    assert [q["offset"] for q in listing_requests(portal)] == ["0", "100", "200"]  # the last one empty
    assert store.count("ods") == 200


def test_a_short_list_against_its_total_is_partial(portal, catalogue):
    store, backend = catalogue
    api = serve(portal, lille(200))
    api.total_shift = 50  # announces 250, lists 200: the last page comes back empty
    [result] = harvest(config_for(portal, page_size=100), store, backend)
    assert result.status == "partial"
    assert "announced 250 datasets but listed 200" in result.message
    assert store.count("ods") == 200


def test_server_lowering_the_page_size(portal, catalogue):
    store, backend = catalogue
    serve(portal, lille(100), max_limit=30)
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "complete", result.message
    assert [q["offset"] for q in listing_requests(portal)] == ["0", "30", "60", "90"]
    assert store.count("ods") == 100


def test_total_changing_during_the_walk_withdraws_nothing(portal, catalogue):
    store, backend = catalogue
    datasets = lille(250)
    api = serve(portal, datasets)
    config = config_for(portal)
    harvest(config, store, backend)
    # during the next walk, a dataset on an already-read page is deleted: everything after it moves up
    # one place, so one dataset is never listed
    removed = []

    def delete_after_first_page() -> None:
        if not removed:
            removed.append(api.datasets.pop(3))

    api.after_page.append(delete_after_first_page)
    [result] = harvest(config, store, backend)
    assert result.status == "partial"
    assert "changed during the walk" in result.message
    assert result.counts["withdrawn"] == 0
    assert store.count("ods") == 250


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html"), "HTML page"),
        (Reply(b'{"total_count": 250, "results": [{"dataset_id": ', "application/json"), "not valid JSON"),
        (Reply(b"oops", status=500), "HTTP 500"),
        (json_reply({"error": "no results here"}), "not an Explore v2.1 datasets listing"),
    ],
)
def test_a_broken_page_makes_the_run_partial(portal, catalogue, reply, reason):
    store, backend = catalogue
    api = serve(portal, lille(250))
    api.faults[100] = reply
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "partial"
    assert reason in result.message
    assert store.count("ods") == 100  # the first page is kept
    assert result.counts["withdrawn"] == 0


def test_a_broken_first_page_fails_the_run(portal, catalogue):
    store, backend = catalogue
    api = serve(portal, lille(20))
    api.faults[0] = Reply(b"<html><body>Bad gateway</body></html>", "text/html")
    [result] = harvest(config_for(portal), store, backend)
    assert result.status == "failed" and "HTML page" in result.message


# --- incremental ------------------------------------------------------------------------------------------------


def test_unchanged_rerun_renormalises_nothing_and_one_change_exactly_one(portal, catalogue, ods_corpus):
    store, backend = catalogue
    datasets = ods_corpus + lille(150)
    api = serve(portal, datasets)
    config = config_for(portal)
    [first] = harvest(config, store, backend)
    assert first.counts["created"] == len(datasets)
    [again] = harvest(config, store, backend)
    assert again.status == "complete"
    assert (again.counts["created"], again.counts["updated"]) == (0, 0)
    assert again.counts["unchanged"] == len(datasets)
    assert sync_index(store, backend) == 0
    # the portal edits one dataset: the v2.1 example of the same dataset_id, with new keywords and themes
    edited = json.loads((ODS / "explore-v2.1-openapi-examples" / "dataset-v2.1.json").read_text())
    position = next(i for i, d in enumerate(api.datasets) if d["dataset_id"] == edited["dataset_id"])
    api.datasets[position] = edited
    [changed] = harvest(config, store, backend)
    assert (changed.counts["updated"], changed.counts["created"]) == (1, 0)
    assert changed.counts["unchanged"] == len(datasets) - 1
    dataset = stored(store, "ods", edited["dataset_id"])
    check_dataset(dataset, edited, portal.base_url)
    assert {k.value for k in dataset.keywords} == {"Geonames", "city", "world"}
    assert backend.search(SearchQuery(q="geonames")).total == 1


def test_the_portal_root_may_be_given_with_a_path(portal, catalogue):
    store, backend = catalogue
    serve(portal, lille(10))
    source = {
        "id": "ods",
        "name": "ods",
        "type": "opendatasoft",
        "url": portal.base_url + "/api/explore/v2.1/",
    }
    [result] = harvest(parse_config({"sources": [source]}), store, backend)
    assert result.status == "complete", result.message
    assert store.count("ods") == 10
    assert stored(store, "ods", "lille-0001").landing_page == [
        portal.base_url + "/explore/dataset/lille-0001/"
    ]
