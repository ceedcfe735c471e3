"""The CKAN- and udata-compatible read APIs, read by real clients over a real server on 127.0.0.1: ckanapi's
RemoteCKAN, and fedcat's own `ckan` and `udata` adapters harvesting fedcat (the round trip keeps every
dataset, title, licence, resource URL and format)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ckanapi
import httpx
import pytest
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.mappings.model import Dataset, text_in
from fedcat.store import Store
from web_site import WebSite, served, web_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebSite, str]]:
    with web_site(tmp_path_factory.mktemp("compat")) as built, served(built.app) as base:
        yield built, base


def _hits(base: str, **params: Any) -> dict[str, Any]:
    return httpx.get(f"{base}/api/datasets", params={"page_size": 100, **params}).json()


def _resources(ds: Dataset) -> set[tuple[str, str | None]]:
    return {((d.download_url or d.access_url)[0], d.format) for d in ds.distributions}


def test_ckanapi_searches_shows_and_lists_organizations(site):
    built, base = site
    ckan = ckanapi.RemoteCKAN(base)
    assert ckan.action.status_show()["ckan_version"].startswith("2.")
    native = _hits(base, q="vélo", publisher="Ville de Lille")
    found = ckan.action.package_search(
        q="vélo",
        fq="organization:ville-de-lille",
        rows=7,
        start=3,
        **{"facet.field": ["organization", "tags"]},
    )
    assert found["count"] == native["total"] > 10
    assert [p["id"] for p in found["results"]] == [i["id"] for i in native["items"][3:10]]
    assert found["search_facets"]["organization"]["items"] == [
        {"name": "ville-de-lille", "display_name": "Ville de Lille", "count": native["total"]}
    ]
    first = native["items"][0]
    shown = ckan.action.package_show(id=first["id"])
    assert shown["title"] == first["title"]
    assert shown["organization"]["name"] == "ville-de-lille"
    assert {r["format"] for r in shown["resources"]} == {f["label"] for f in first["formats"]}
    assert all(r["url"].startswith("http") for r in shown["resources"])
    assert set(ckan.action.organization_list()) == {
        "ville-de-lille",
        "metropole-europeenne-de-lille",
        "region-exemple",
    }
    orgs = {o["name"]: o["package_count"] for o in ckan.action.organization_list(all_fields=True)}
    assert (
        orgs["metropole-europeenne-de-lille"]
        == _hits(base, publisher="Métropole Européenne de Lille")["total"]
    )
    assert ckan.action.organization_show(id="ville-de-lille")["title"] == "Ville de Lille"
    names = ckan.action.package_list()  # one name a dataset as package_search counts them: a cluster once
    assert len(names) == _hits(base)["total"] == built.store.count() - 1 and first["id"] in names
    assert ckan.action.package_list(limit=5, offset=10) == names[10:15]
    limited = ckan.action.package_search(rows=0, **{"facet.field": ["organization"], "facet.limit": 2})
    assert [i["count"] for i in limited["search_facets"]["organization"]["items"]] == sorted(orgs.values())[
        ::-1
    ][:2]
    assert "tran" in ckan.action.group_list()
    assert ckan.action.package_search(fq="groups:tran", rows=0)["count"] == _hits(base, theme="TRAN")["total"]


def test_ckan_errors_have_ckan_shapes(site):
    _, base = site
    ckan = ckanapi.RemoteCKAN(base)
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no-such-dataset")
    with pytest.raises(ckanapi.NotAuthorized):
        ckan.action.package_create(name="mine", title="Mine")
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.package_search(rows="many")
    body = httpx.post(f"{base}/api/3/action/package_delete", json={"id": "x"})
    assert body.status_code == 403
    assert body.json()["success"] is False and body.json()["error"]["__type"] == "Authorization Error"
    unknown = httpx.get(f"{base}/api/3/action/package_search", params={"fq": "author:me"})
    assert unknown.status_code == 409 and "author" in unknown.json()["error"]["message"]
    no_theme = httpx.get(f"{base}/api/3/action/package_search", params={"fq": "groups:nothing"})
    assert no_theme.status_code == 409 and no_theme.json()["error"]["__type"] == "Validation Error"


def _round_trip(tmp_path: Path, base: str, kind: str) -> dict[str, Dataset]:
    config = parse_config(
        {
            "settings": {"http": {"retries": 0, "backoff": 0}},
            "sources": [
                {"id": "fedcat", "name": "fedcat", "type": kind, "url": base, "options": {"page_size": 10}}
            ],
        },
        tmp_path / "sources.yaml",
    )
    store = Store(tmp_path / "copy.db")
    backend = EmbeddedBackend(tmp_path / "index")
    try:
        [result] = harvest(config, store, backend)
        assert result.status == "complete", result
        return {r["dataset"].original_uri: r["dataset"] for r in store.iter_records()}
    finally:
        backend.close()
        store.close()


def _check_round_trip(site, copied: dict[str, Dataset]) -> None:
    built, base = site
    items = _hits(base)["items"]
    assert len(copied) == len(items) > 40  # every dataset (one per federated cluster)
    for item in items:
        original = built.store.record(item["id"])["dataset"]
        copy = copied[original.original_uri]
        assert text_in(copy.title) == text_in(original.title)
        assert copy.licence == original.licence
        assert _resources(copy) == _resources(original)


def test_ckan_adapter_harvests_fedcat_without_loss(site, tmp_path):
    _check_round_trip(site, _round_trip(tmp_path, site[1], "ckan"))


def test_udata_api_pages_filters_and_counts(site):
    _, base = site
    native = _hits(base, publisher="Ville de Lille")
    first = httpx.get(
        f"{base}/api/1/datasets/", params={"organization": "ville-de-lille", "page_size": 20}
    ).json()
    assert first["total"] == native["total"] > 20 and len(first["data"]) == 20
    second = httpx.get(first["next_page"]).json()
    assert second["page"] == 2 and second["previous_page"]
    assert [d["id"] for d in first["data"] + second["data"]] == [i["id"] for i in native["items"][:40]]
    one = httpx.get(f"{base}/api/1/datasets/{native['items'][0]['id']}/").json()
    assert one["title"] == native["items"][0]["title"] and one["organization"]["slug"] == "ville-de-lille"
    assert httpx.get(f"{base}/api/1/datasets/nothing-here/").status_code == 404
    for refused, parameter in (({"page_size": "lots"}, "page_size"), ({"sort_by": "x"}, "sort_by")):
        answer = httpx.get(f"{base}/api/1/datasets/", params=refused)
        assert answer.status_code == 400 and parameter in answer.json()["errors"], answer.text
    orgs = httpx.get(f"{base}/api/1/organizations/").json()
    assert {o["slug"]: o["metrics"]["datasets"] for o in orgs["data"]}["ville-de-lille"] == native["total"]
    site_info = httpx.get(f"{base}/api/1/site/").json()
    assert site_info["metrics"] == {"datasets": _hits(base)["total"], "organizations": 3, "reuses": 0}
    tagged = httpx.get(f"{base}/api/1/datasets/", params={"tag": native["items"][0]["keywords"][0]}).json()
    assert native["items"][0]["id"] in {d["id"] for d in tagged["data"]}


def test_udata_adapter_harvests_fedcat_without_loss(site, tmp_path):
    _check_round_trip(site, _round_trip(tmp_path, site[1], "udata"))


@pytest.mark.parametrize(
    ("method", "action", "params"),
    [
        ("GET", "package_search", {"rows": "-1"}),
        ("GET", "package_search", {"start": "999999"}),
        ("GET", "package_search", {"fq": 'tags:"unterminated'}),
        ("GET", "package_search", {"fq": "metadata_modified:[yesterday TO *]"}),
        ("GET", "package_search", {"fq": "((("}),
        ("GET", "package_search", {"facet.field": "[not json"}),
        ("GET", "package_search", {"q": "x" * 1001}),
        ("POST", "package_search", ["not", "an", "object"]),
        ("POST", "package_show", {"id": ["a", "list"]}),
        ("GET", "organization_show", {}),
        ("GET", "package_search", {"defType": "edismax"}),  # a parameter this API does not take
    ],
)
def test_ckan_refuses_bad_input_with_a_validation_error(site, method, action, params):
    _, base = site
    url = f"{base}/api/3/action/{action}"
    answer = httpx.get(url, params=params) if method == "GET" else httpx.post(url, json=params)
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["success"] is False and body["error"]["__type"] == "Validation Error"
    assert body["help"].endswith(f"help_show?name={action}")


def test_ckan_incremental_query_of_the_ckan_adapter(site):
    _, base = site
    everything = httpx.get(f"{base}/api/3/action/package_search", params={"rows": 0}).json()["result"][
        "count"
    ]
    since = {"fq": "metadata_modified:[2023-01-01T00:00:00Z TO *]", "rows": 0}
    recent = httpx.get(f"{base}/api/3/action/package_search", params=since).json()["result"]["count"]
    assert recent == _hits(base, modified_after="2023-01-01")["total"]
    assert 0 < recent < everything
    as_ckan = {**since, "fq": "+dataset_type:dataset " + since["fq"]}  # what CKAN's own search adds
    assert (
        httpx.get(f"{base}/api/3/action/package_search", params=as_ckan).json()["result"]["count"] == recent
    )
