"""Harvesting udata portals over real HTTP on 127.0.0.1: the recorded data.gouv.fr objects in their three API
shapes, served by a local /api/1/datasets/ that pages like udata; paging edge cases, errors, re-runs.

The corpus dumps (../shared/corpus/udata/) hold dataset, organization and resource objects but not the
listing envelope, and udata's fixture command moves `resources` and `organization` out of each dataset and
drops `uri`, `page`, `license` and `last_update`: `api_dataset` puts them back the way the API gives them.
Expected values are read from the dumps here, not through the adapter's field map.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.mappings import normalise
from fedcat.mappings.dates import normalise_date
from fedcat.mappings.values import ValueMapper
from fedcat.store import Store, record_id

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SHAPES = {
    "2021": "udata-fixtures-results-2021.json",
    "2025-02": "udata-fixtures-results-2025-02.json",
    "2026": "udata-fixtures-results.json",
}
EU_LICENCE = "http://publications.europa.eu/resource/authority/licence/"
# udata licence ids, given in turn to the rebuilt datasets, and what they must become
LICENCES = {
    "lov2": EU_LICENCE + "ETALAB_2_0",
    "odc-odbl": EU_LICENCE + "ODC_BL",
    "cc-by": EU_LICENCE + "CC_BY_4_0",
    "notspecified": None,  # udata's "no licence given": kept under `unmapped`
}
THEME = "http://publications.europa.eu/resource/authority/data-theme/"
SPDX = "http://spdx.org/rdf/terms#"


def fixture_items(shape: str) -> list[dict[str, Any]]:
    path = CORPUS / "udata" / SHAPES[shape]
    if not path.is_file():
        pytest.skip(f"{path.name} is absent: the udata corpus tests need ../shared/corpus/udata")
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["datasets"] if isinstance(data, dict) else data


def api_dataset(item: dict[str, Any], root: str, index: int) -> dict[str, Any]:
    """A dataset as /api/1/datasets/ lists it, rebuilt from one fixture item (see the module docstring)."""
    dataset = copy.deepcopy(item["dataset"])
    if "created_at_internal" in dataset:  # newer dumps flatten `internal` and drop created_at/last_modified
        dataset["internal"] = {
            "created_at_internal": dataset.pop("created_at_internal"),
            "last_modified_internal": dataset.pop("last_modified_internal"),
        }
        dataset["created_at"] = dataset["internal"]["created_at_internal"]
        dataset["last_modified"] = dataset["internal"]["last_modified_internal"]
    dataset["last_update"] = dataset["last_modified"]
    dataset["license"] = list(LICENCES)[index % len(LICENCES)]
    dataset["page"] = f"{root}/fr/datasets/{dataset['slug']}/"
    dataset["uri"] = f"{root}/api/1/datasets/{dataset['slug']}/"
    dataset["resources"] = []
    for resource in copy.deepcopy(item["resources"]):
        resource.setdefault("latest", f"{root}/fr/datasets/r/{resource['id']}")
        resource.setdefault("last_modified", resource.get("created_at"))
        dataset["resources"].append(resource)
    organization = item.get("organization")
    if organization:
        # the listing's organization reference; business_number_id (SIRET) is on the full organization
        # object only, kept here to exercise its mapping
        dataset["organization"] = {
            **{
                k: organization[k]
                for k in ("id", "name", "acronym", "slug", "logo", "badges")
                if k in organization
            },
            "business_number_id": organization.get("business_number_id"),
            "page": f"{root}/fr/organizations/{organization['slug']}/",
            "uri": f"{root}/api/1/organizations/{organization['slug']}/",
        }
        dataset["owner"] = None
    return dataset


class UdataApi:
    """/api/1/datasets/ over a list of dataset objects, paged like udata: `page`, `page_size`, `next_page`.

    `max_page_size` lowers what clients ask for; `tamper(page, body)` changes a page before it is sent."""

    def __init__(
        self,
        portal: PortalServer,
        prefix: str,
        datasets: list[dict[str, Any]],
        max_page_size: int | None = None,
        tamper: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.portal, self.prefix, self.datasets = portal, prefix, datasets
        self.max_page_size, self.tamper = max_page_size, tamper
        self.organizations: dict[str, dict[str, Any]] = {}
        portal.handle(prefix + "/api/1/", self)

    @property
    def root(self) -> str:
        return self.portal.url(self.prefix)

    def __call__(self, request: Request) -> Reply | None:
        path = request.path.removeprefix(self.prefix)
        if path.startswith("/api/1/organizations/"):
            org = self.organizations.get(path.split("/")[4])
            return Reply(json.dumps(org).encode(), "application/json") if org else None
        if path != "/api/1/datasets/":
            return None
        query = {k: v[0] for k, v in request.query.items()}
        page = int(query.get("page", 1))
        size = int(query.get("page_size", 20))
        size = min(size, self.max_page_size or size)
        organization = query.get("organization")
        items = [
            d
            for d in self.datasets
            if not organization or (d.get("organization") or {}).get("id") == organization
        ]
        chunk = items[(page - 1) * size : page * size]

        def link(number: int) -> str:
            params = {
                "page": number,
                "page_size": size,
                **({"organization": organization} if organization else {}),
            }
            return f"{self.root}/api/1/datasets/?{urlencode(params)}"

        body = {
            "data": chunk,
            "page": page,
            "page_size": size,
            "total": len(items),
            "next_page": link(page + 1) if page * size < len(items) else None,
            "previous_page": link(page - 1) if page > 1 else None,
        }
        if self.tamper:
            body = self.tamper(page, body)
        return Reply(json.dumps(body).encode(), "application/json")


def config_for(*sources: dict, **settings):
    return parse_config({"settings": settings, "sources": list(sources)})


def source(source_id: str, url: str, **options) -> dict:
    return {"id": source_id, "name": source_id, "type": "udata", "url": url, "options": options}


def served(portal: PortalServer, shape: str = "2026", prefix: str = "/udata", **kwargs) -> UdataApi:
    root = portal.url(prefix)
    items = fixture_items(shape)
    return UdataApi(portal, prefix, [api_dataset(item, root, i) for i, item in enumerate(items)], **kwargs)


def stored(store: Store, source_id: str, udata_id: str):
    record = store.record(record_id(source_id, udata_id))
    assert record is not None, f"dataset {udata_id} was not stored"
    return record["dataset"]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_recorded_dataset_arrives_mapped(portal, catalogue, shape):
    store, backend = catalogue
    api = served(portal, shape)
    [result] = harvest(config_for(source("udata", api.root, page_size=4)), store, backend)
    items = fixture_items(shape)
    assert result.status == "complete", result.message
    assert result.counts["pages"] == 4  # 15 datasets, 4 a page
    assert store.count("udata") == len(items) == result.counts["created"]
    for index, item in enumerate(items):
        recorded, organization = item["dataset"], item["organization"]
        dataset = stored(store, "udata", recorded["id"])
        assert [(t.value, t.lang) for t in dataset.title] == [(recorded["title"].strip(), None)]
        assert [t.value for t in dataset.description] == [recorded["description"].strip()]
        assert dataset.publisher.name[0].value == organization["name"]
        assert dataset.publisher.uri.endswith(f"/fr/organizations/{organization['slug']}/")
        assert dataset.publisher.identifier == organization.get("business_number_id")
        licence = list(LICENCES)[index % len(LICENCES)]
        assert dataset.licence == LICENCES[licence]
        if LICENCES[licence] is None:
            assert dataset.unmapped["licence"] == [licence]
        tags = recorded["tags"]
        assert {k.value for k in dataset.keywords} == set(tags) | ({recorded["acronym"]} - {None})
        # themes: the tags that name an EU data theme
        assert set(dataset.themes) == {m.uri for t in tags for m in normalise.theme_uris(t)}
        assert all(t.startswith(THEME) for t in dataset.themes)
        # distributions: one per resource, with its format and URL
        resources = item["resources"]
        assert len(dataset.distributions) == len(resources)
        by_uri = {d.uri: d for d in dataset.distributions}
        for resource in resources:
            distribution = by_uri[resource.get("latest") or f"{api.root}/fr/datasets/r/{resource['id']}"]
            assert distribution.download_url == [resource["url"]]
            assert distribution.format == ValueMapper().format(resource["format"])
            assert distribution.title[0].value == resource["title"].strip()
            assert distribution.licence == dataset.licence
            assert distribution.byte_size == resource.get("filesize")
            if resource.get("checksum"):
                checksum = resource["checksum"]
                assert distribution.checksum.algorithm == SPDX + "checksumAlgorithm_" + checksum["type"]
                assert distribution.checksum.value == checksum["value"]
            if resource.get("mime") == "text/csv":
                assert distribution.media_type == "http://www.iana.org/assignments/media-types/text/csv"
        # dates: created_at (or the internal date of newer dumps), last_update
        created = recorded.get("created_at") or recorded.get("created_at_internal")
        modified = recorded.get("last_modified") or recorded.get("last_modified_internal")
        assert dataset.issued == normalise_date(created)
        assert dataset.modified == normalise_date(modified)
        coverage = recorded.get("temporal_coverage")
        if coverage:
            assert [(p.start, p.end) for p in dataset.temporal] == [(coverage["start"], coverage["end"])]
        else:
            assert dataset.temporal == []
        assert dataset.accrual_periodicity == normalise.frequency_uri(recorded["frequency"]).uri
        assert dataset.landing_page[-1] == f"{api.root}/fr/datasets/{recorded['slug']}/"


def test_transport_tags_give_the_transport_theme(portal, catalogue):
    store, backend = catalogue
    api = served(portal)
    harvest(config_for(source("udata", api.root)), store, backend)
    [transport] = [i for i in fixture_items("2026") if "transport" in i["dataset"]["tags"]]
    assert stored(store, "udata", transport["dataset"]["id"]).themes == [THEME + "TRAN"]


def test_harvest_metadata_keeps_the_origin_identity(portal, catalogue):
    """Harvested datasets carry where they come from: what deduplication matches copies on."""
    store, backend = catalogue
    api = served(portal)
    harvest(config_for(source("udata", api.root)), store, backend)
    harvested = [i["dataset"] for i in fixture_items("2026") if i["dataset"].get("harvest")]
    assert {h["harvest"]["backend"] for h in harvested} == {"DCAT", "CKAN"}
    for recorded in harvested:
        origin = recorded["harvest"]
        dataset = stored(store, "udata", recorded["id"])
        if origin.get("uri"):  # DCAT origin: its URI and dct:identifier, as udata's own DCAT export gives
            assert dataset.original_uri == origin["uri"]
        else:
            assert dataset.original_uri == f"{api.root}/api/1/datasets/{recorded['slug']}/"
        assert dataset.identifier == [origin.get("dct_identifier") or recorded["id"]]
        assert origin["remote_id"] in dataset.identifier + dataset.other_identifier
        assert recorded["id"] in dataset.identifier + dataset.other_identifier
        assert dataset.landing_page[0] == origin["remote_url"]
    native = next(i["dataset"] for i in fixture_items("2026") if not i["dataset"].get("harvest"))
    dataset = stored(store, "udata", native["id"])
    assert dataset.identifier == [native["id"]] and dataset.other_identifier == []
    assert dataset.landing_page == [f"{api.root}/fr/datasets/{native['slug']}/"]


def test_spatial_coverage_of_the_2021_shape(portal, catalogue):
    store, backend = catalogue
    api = served(portal, "2021")
    geometry = {
        "type": "MultiPolygon",
        "coordinates": [[[[1.5, 47.0], [2.5, 47.0], [2.5, 48.0], [1.5, 47.0]]]],
    }
    api.datasets[0]["spatial"]["geom"] = geometry
    [result] = harvest(config_for(source("udata", api.root)), store, backend)
    assert result.status == "complete", result.message
    for recorded in api.datasets:
        dataset = stored(store, "udata", recorded["id"])
        spatial = recorded.get("spatial") or {}
        zones = [loc.label[0].value for loc in dataset.spatial if loc.label]
        assert zones == spatial.get("zones", [])
        if spatial.get("granularity"):
            assert dataset.unmapped["spatial_granularity"] == [spatial["granularity"]]
    first = stored(store, "udata", api.datasets[0]["id"])
    [drawn] = [loc for loc in first.spatial if loc.geometry]
    assert drawn.geometry == "MULTIPOLYGON(((1.5 47, 2.5 47, 2.5 48, 1.5 47)))"
    assert drawn.bbox == "POLYGON((1.5 47, 2.5 47, 2.5 48, 1.5 48, 1.5 47))"


def test_private_and_deleted_datasets_are_left_out(portal, catalogue):
    store, backend = catalogue
    api = served(portal)
    api.datasets[0]["private"] = True
    api.datasets[1]["deleted"] = "2025-01-01T00:00:00+00:00"
    [result] = harvest(config_for(source("udata", api.root, page_size=5)), store, backend)
    assert result.status == "complete", result.message
    assert store.count("udata") == len(api.datasets) - 2
    assert store.record(record_id("udata", api.datasets[0]["id"])) is None


def test_organizations_option_walks_each_organization(portal, catalogue):
    store, backend = catalogue
    api = served(portal)
    first, second = api.datasets[0]["organization"], api.datasets[5]["organization"]
    api.organizations[second["slug"]] = {"id": second["id"], "slug": second["slug"], "name": second["name"]}
    options = {"organizations": [first["id"], second["slug"]], "page_size": 2}
    [result] = harvest(config_for(source("udata", api.root, **options)), store, backend)
    assert result.status == "complete", result.message
    expected = [d["id"] for d in api.datasets if d["organization"]["id"] in (first["id"], second["id"])]
    assert store.count("udata") == len(expected)
    assert all(store.record(record_id("udata", i)) is not None for i in expected)
    asked = {r.query["organization"][0] for r in portal.log if r.path.endswith("/datasets/")}
    assert asked == {first["id"], second["id"]}  # the slug was resolved to the id udata filters on


def test_empty_last_page_ends_the_walk(portal, catalogue):
    store, backend = catalogue

    def dangling_next(page: int, body: dict[str, Any]) -> dict[str, Any]:
        if body["data"] and body["next_page"] is None:  # the last full page still links to one more
            body["next_page"] = body["previous_page"].replace(f"page={page - 1}&", f"page={page + 1}&")
        return body

    api = served(portal, tamper=dangling_next)
    [result] = harvest(config_for(source("udata", api.root, page_size=5)), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["pages"] == 4  # three full pages and the empty one
    assert store.count("udata") == len(api.datasets)


def test_page_size_lowered_by_the_server_is_followed(portal, catalogue):
    store, backend = catalogue
    api = served(portal, max_page_size=4)
    [result] = harvest(config_for(source("udata", api.root, page_size=100)), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["pages"] == 4
    assert store.count("udata") == len(api.datasets)


def test_total_changing_during_the_run_makes_it_partial(portal, catalogue):
    store, backend = catalogue

    def growing(page: int, body: dict[str, Any]) -> dict[str, Any]:
        body["total"] += page - 1  # a dataset is published while fedcat reads each page
        return body

    api = served(portal, tamper=growing)
    [result] = harvest(config_for(source("udata", api.root, page_size=5)), store, backend)
    assert result.status == "partial"
    assert "changed during the run" in result.message
    assert store.count("udata") == len(api.datasets)  # every page read was kept
    assert result.counts["withdrawn"] == 0


@pytest.mark.parametrize(
    ("target", "requests"),
    [
        ("previous", 3),  # the very URL of page 2: seen before it is fetched
        ("first", 4),  # page 1 under another spelling of its URL: known by its datasets once fetched
    ],
)
def test_next_page_loop_is_detected(portal, catalogue, target, requests):
    store, backend = catalogue

    def looping(page: int, body: dict[str, Any]) -> dict[str, Any]:
        if body["next_page"] is None:
            previous = body["previous_page"]
            body["next_page"] = (
                previous if target == "previous" else previous.replace(f"page={page - 1}&", "page=1&")
            )
        return body

    api = served(portal, tamper=looping)
    [result] = harvest(config_for(source("udata", api.root, page_size=5)), store, backend)
    assert result.status == "partial"
    assert "paging loop" in result.message
    assert store.count("udata") == len(api.datasets)
    assert len(portal.log) == requests


def test_next_page_on_another_origin_is_refused(portal, catalogue):
    store, backend = catalogue

    def elsewhere(page: int, body: dict[str, Any]) -> dict[str, Any]:
        if body["next_page"]:
            body["next_page"] = "https://www.data.gouv.fr/api/1/datasets/?page=2&page_size=5"
        return body

    api = served(portal, tamper=elsewhere)
    [result] = harvest(config_for(source("udata", api.root, page_size=5)), store, backend)
    assert result.status == "partial"
    assert "leaves the source's origin" in result.message
    assert store.count("udata") == 5


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html", "HTML page"),
        ('{"data": [', "application/json", "not valid JSON"),
        ('{"message": "Not found"}', "application/json", "not a udata dataset listing"),
    ],
)
def test_unreadable_listing_fails_clearly(portal, catalogue, body, content_type, message):
    store, backend = catalogue
    portal.handle("/broken/api/1/datasets/", lambda request: Reply(body.encode(), content_type))
    [result] = harvest(config_for(source("broken", portal.url("/broken"))), store, backend)
    assert result.status == "failed"
    assert message in result.message
    assert store.count() == 0


def test_unreadable_second_page_makes_the_run_partial(portal, catalogue):
    store, backend = catalogue
    api = served(portal)

    def second_page_is_html(request: Request) -> Reply | None:
        if request.query.get("page") == ["2"]:
            return Reply(b"<html><body>502 Bad Gateway</body></html>", "text/html")
        return None  # the listing answers

    portal.handlers.insert(0, ("/udata/api/1/datasets/", second_page_is_html))
    [result] = harvest(config_for(source("udata", api.root, page_size=5)), store, backend)
    assert result.status == "partial"
    assert "HTML page" in result.message
    assert store.count("udata") == 5


def test_unchanged_rerun_renormalises_nothing_and_one_change_one(portal, catalogue):
    store, backend = catalogue
    api = served(portal)
    config = config_for(source("udata", api.root, page_size=4))
    [first] = harvest(config, store, backend)
    assert first.counts["created"] == len(api.datasets)
    [again] = harvest(config, store, backend)
    assert again.status == "complete", again.message
    assert (again.counts["created"], again.counts["updated"], again.counts["withdrawn"]) == (0, 0, 0)
    assert again.counts["unchanged"] == len(api.datasets)
    changed = api.datasets[6]
    changed["title"] = "Titre corrigé"
    changed["last_modified"] = changed["last_update"] = "2026-11-01T10:00:00+00:00"
    [third] = harvest(config, store, backend)
    assert (third.counts["created"], third.counts["updated"]) == (0, 1)
    assert stored(store, "udata", changed["id"]).title[0].value == "Titre corrigé"


def test_a_large_page_is_read_one_dataset_at_a_time_and_stored_in_parts(portal, catalogue, monkeypatch):
    """udata writes `total` and `next_page` after `data`: a page read as a stream still finds them."""
    from fedcat.harvester.adapters import jsonapi

    store, backend = catalogue
    api = served(portal)
    template = api.datasets
    api.datasets = [{**copy.deepcopy(template[n % len(template)]), "id": f"ds{n:05d}"} for n in range(1_200)]
    monkeypatch.setattr(jsonapi, "STREAM_OVER", 1024)  # every page is streamed
    streamed: list[int] = []
    envelope = jsonapi._envelope
    monkeypatch.setattr(
        jsonapi, "_envelope", lambda *a: streamed.append(1) or envelope(*a)
    )  # the streaming path is the one taken
    [result] = harvest(config_for(source("udata", api.root, page_size=5_000)), store, backend)
    assert result.status == "complete", result.message
    assert streamed and result.counts["pages"] == 2  # one page of 1,200 in parts of 1,000
    assert store.count("udata") == 1_200
    last = stored(store, "udata", "ds01199")
    assert [t.value for t in last.title] == [template[1_199 % len(template)]["title"]]


def _stored_records(s: Store) -> dict[str, tuple]:
    """Every stored record: id -> (payload hash, mapped dataset, payload)."""
    rows = s.db.execute(
        "SELECT r.id, r.raw_hash, d.dataset FROM records r JOIN record_data d ON d.id = r.id"
    ).fetchall()
    return {row[0]: (row[1], row[2], s.raw(row[0])) for row in rows}


def test_the_mapping_process_stores_what_mapping_here_stores(portal, catalogue, tmp_path, monkeypatch):
    """A large JSON source's records are mapped in a second process (harvester.workers) while the run
    stores the page before: the store must hold the very payloads, hashes and datasets a run mapping here
    holds, the report the same unmapped values (a record with an identifier of another type maps in both,
    without it); a page fetched before a broken one is stored; an unchanged re-run maps nothing."""
    from fedcat.harvester import run as run_module
    from fedcat.indexer.embedded import EmbeddedBackend

    store, backend = catalogue
    api = served(portal)
    api.datasets[3]["harvest"] = {"dct_identifier": {"not": "a string"}}  # its mapping once raised
    config = config_for(source("udata", api.root, page_size=4))

    def run(target: Store, index: EmbeddedBackend, in_process: bool):
        monkeypatch.setattr(run_module, "MAPPER_MIN_REMAINING", 10**9 if in_process else 0)
        [result] = harvest(config, target, index)
        return result, target.run(result.run_id)

    here, here_index = Store(tmp_path / "here.db"), EmbeddedBackend(tmp_path / "here-index")
    try:
        local, local_run = run(here, here_index, in_process=True)
        started = []
        real_start = run_module.MappingWorker.start
        monkeypatch.setattr(run_module.MappingWorker, "start", lambda *a: started.append(a) or real_start(*a))
        mapped, mapped_run = run(store, backend, in_process=False)
        assert len(started) == 1  # one process for the run
        assert local.status == mapped.status == "complete"
        assert mapped.counts == local.counts and mapped.counts["failed"] == 0
        assert mapped.counts["created"] == len(api.datasets)
        assert _stored_records(store) == _stored_records(here)
        assert mapped_run["report"] == local_run["report"]
        assert mapped_run["errors"] == local_run["errors"] == []
        assert sorted(backend.ids()) == sorted(here_index.ids())
    finally:
        here_index.close()
        here.close()

    [again] = harvest(config, store, backend)
    assert (again.counts["unchanged"], again.counts["updated"]) == (len(api.datasets), 0)

    # the third page is an error page: the two before it are stored, the run is partial
    def third_page_is_html(request: Request) -> Reply | None:
        return Reply(b"<html>502</html>", "text/html") if request.query.get("page") == ["3"] else None

    portal.handlers.insert(0, ("/udata/api/1/datasets/", third_page_is_html))
    for item in api.datasets:
        item["title"] += " (revu)"
    [partial] = harvest(config, store, backend)
    assert partial.status == "partial" and "HTML page" in partial.message
    # pages 1 and 2, 4 datasets each
    assert (partial.counts["seen"], partial.counts["updated"], partial.counts["failed"]) == (8, 8, 0)
