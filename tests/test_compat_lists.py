"""The whole lists of the CKAN- and udata-compatible APIs, past the 50 values a search facet shows:
organization_list / group_list (CKAN's limit, offset, sort, all_fields), tag_list, udata's organizations/;
CKAN's licence ids (`license_id` cc-by, odc-odbl, lov2…, the URI in `license_url`); package_list naming
each federated cluster once. Read with ckanapi's RemoteCKAN over a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import ckanapi
import httpx
import pytest
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store
from web_site import served

PUBLISHERS = 60  # more than the 50 values a facet lists
EU = "http://publications.europa.eu/resource/authority/licence/"
# what each dataset's licence becomes as a CKAN licence id, in turn
LICENCES = [
    (EU + "ETALAB_2_0", "lov2"),
    (EU + "ODC_BL", "odc-odbl"),
    (EU + "CC_BY_4_0", "cc-by"),
    (None, "notspecified"),
]
SHARED = "https://region.example/datasets/shared"


def _dataset(iri: str, title: str, publisher: str, keyword: str, licence: str | None) -> str:
    return (
        f'<{iri}> a dcat:Dataset ; dct:identifier "{iri.rsplit("/", 1)[-1]}" ; dct:title "{title}"@fr ;\n'
        f'  dct:description "Données de {publisher}."@fr ; dcat:keyword "{keyword}"@fr ;\n'
        f'  dct:publisher [ a foaf:Agent ; foaf:name "{publisher}" ] ;\n'
        + (f"  dct:license <{licence}> ;\n" if licence else "")
        + f"  dcat:distribution [ a dcat:Distribution ; dcat:downloadURL <{iri}/data.csv> ] .\n"
    )


def _catalogue(datasets: list[str]) -> str:
    return (
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n@prefix dct: <http://purl.org/dc/terms/> .\n"
        "@prefix foaf: <http://xmlns.com/foaf/0.1/> .\n" + "".join(datasets)
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from fedcat.api.app import create_app

    tmp = tmp_path_factory.mktemp("lists")
    with PortalServer() as portal:
        communes = [
            _dataset(
                f"https://communes.example/datasets/d{n:02d}",
                f"Budget {n:02d}",
                f"Commune {n:02d}",
                f"mot-{n:02d}",
                LICENCES[n % len(LICENCES)][0],
            )
            for n in range(PUBLISHERS)
        ]
        shared = _dataset(SHARED, "Véloroutes", "Région exemple", "velo", EU + "CC_BY_4_0")
        portal.add("/communes/catalog.ttl", _catalogue([*communes, shared]))
        portal.add("/region/catalog.ttl", _catalogue([shared]))  # the same dataset: one cluster
        config = parse_config(
            {
                "settings": {"http": {"retries": 0, "backoff": 0}},
                "sources": [
                    {"id": s, "name": s, "type": "dcat", "url": portal.url(f"/{s}/catalog.ttl")}
                    for s in ("communes", "region")
                ],
            }
        )
        store, backend = Store(tmp / "fedcat.db"), EmbeddedBackend(tmp / "index")
        assert all(r.status == "complete" for r in harvest(config, store, backend))
    try:
        with served(create_app(store, backend, config)) as url:
            yield url
    finally:
        backend.close()
        store.close()


def test_organization_list_is_whole_paged_and_sorted_as_ckan_does(base):
    ckan = ckanapi.RemoteCKAN(base)
    names = ckan.action.organization_list()
    expected = sorted([f"commune-{n:02d}" for n in range(PUBLISHERS)] + ["region-exemple"])
    assert names == expected  # title asc, CKAN's default order
    assert ckan.action.organization_list(limit=10, offset=55) == expected[55:65]
    assert ckan.action.organization_list(sort="name desc", limit=3) == expected[::-1][:3]
    whole = ckan.action.organization_list(all_fields=True)
    assert len(whole) == 25  # CKAN's default page of whole organizations
    assert whole[0]["name"] == "commune-00" and whole[0]["package_count"] == 1
    biggest = ckan.action.organization_list(all_fields=True, sort="package_count desc", limit=1)
    assert biggest[0]["package_count"] == 1
    with pytest.raises(ckanapi.ValidationError):
        ckan.action.organization_list(sort="size desc")


def test_tag_and_group_lists_are_whole(base):
    ckan = ckanapi.RemoteCKAN(base)
    tags = ckan.action.tag_list()
    assert tags == sorted([f"mot-{n:02d}" for n in range(PUBLISHERS)] + ["velo"])
    assert ckan.action.tag_list(query="mot-5") == [f"mot-5{n}" for n in range(10)]
    assert ckan.action.group_list() == []  # no themes in these catalogues


def test_udata_organizations_page_through_every_publisher(base):
    slugs: list[str] = []
    url: str | None = f"{base}/api/1/organizations/?page_size=20"
    while url:
        body = httpx.get(url).json()
        assert body["total"] == PUBLISHERS + 1
        slugs += [o["slug"] for o in body["data"]]
        url = body["next_page"]
    assert sorted(slugs) == sorted([f"commune-{n:02d}" for n in range(PUBLISHERS)] + ["region-exemple"])
    assert httpx.get(f"{base}/api/1/site/").json()["metrics"]["organizations"] == PUBLISHERS + 1


def test_licence_ids_are_ckans_short_ids_with_the_uri_kept(base):
    ckan = ckanapi.RemoteCKAN(base)
    found = ckan.action.package_search(q="budget", rows=PUBLISHERS, **{"facet.field": ["license_id"]})
    by_title = {p["title"]: p for p in found["results"]}
    for n in range(PUBLISHERS):
        uri, short = LICENCES[n % len(LICENCES)]
        package = by_title[f"Budget {n:02d}"]
        assert package["license_id"] == short
        assert package["license_url"] == (uri or "")
    facet = {i["name"]: i["count"] for i in found["search_facets"]["license_id"]["items"]}
    assert facet == {"lov2": 15, "odc-odbl": 15, "cc-by": 15}
    # CKAN clients filter by the ids they know
    assert ckan.action.package_search(fq="license_id:odc-odbl", rows=0)["count"] == 15


def test_package_list_names_each_cluster_once(base):
    ckan = ckanapi.RemoteCKAN(base)
    names = ckan.action.package_list()
    assert len(names) == len(set(names)) == ckan.action.package_search(rows=0)["count"] == PUBLISHERS + 1
    assert ckan.action.package_list(limit=7, offset=20) == names[20:27]
