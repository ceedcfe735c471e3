"""Reuses harvested from local udata-shaped portals over real HTTP on 127.0.0.1, stored, linked to the records of
the datasets they use (and to every copy of them in a federation cluster), and served: /api/reuses, the
dataset items and documents, the `has_reuses` filter and facet, the RDF, udata's /api/1/reuses/.

The portals are written here in the shapes of ../shared/corpus/udata: datasets with `uri`, `page` and a
`harvest` block for the national portal's copy of the city's dataset; reuses with their `datasets`
references. A recorded data.gouv.fr reuse object from the corpus, when present, is served as one more reuse.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyoxigraph
import pytest
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store, record_id
from fedcat.store.reuses import Reuses
from pyoxigraph import NamedNode
from web_site import served

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "udata"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


def DCT(name: str) -> NamedNode:
    return NamedNode("http://purl.org/dc/terms/" + name)


class Udata:
    """/api/1/datasets/ and /api/1/reuses/ of one udata portal, paged like udata (`page`, `page_size`,
    `next_page`, `total`)."""

    def __init__(self, portal: PortalServer, prefix: str) -> None:
        self.portal, self.prefix = portal, prefix
        self.lists: dict[str, list[dict[str, Any]]] = {"datasets": [], "reuses": []}
        self.broken: set[str] = set()  # listings answering 500
        portal.handle(prefix + "/api/1/", self)

    @property
    def root(self) -> str:
        return self.portal.url(self.prefix)

    def dataset(self, udata_id: str, slug: str, title: str, **extra: Any) -> dict[str, Any]:
        item = {
            "id": udata_id,
            "slug": slug,
            "title": title,
            "description": f"{title}: comptages publiés chaque semaine.",
            "tags": ["mobilite"],
            "created_at": "2022-03-01T10:00:00+00:00",
            "last_modified": "2024-05-02T08:00:00+00:00",
            "license": "lov2",
            "uri": f"{self.root}/api/1/datasets/{slug}/",
            "page": f"{self.root}/fr/datasets/{slug}/",
            "resources": [
                {
                    "id": f"r-{udata_id}",
                    "title": "données",
                    "format": "csv",
                    "url": f"{self.root}/files/{slug}.csv",
                    "type": "main",
                }
            ],
            "organization": {"id": "5a" * 12, "name": "Ville de Lille", "slug": "ville-de-lille"},
            **extra,
        }
        self.lists["datasets"].append(item)
        return item

    def reuse(self, udata_id: str, title: str, kind: str, datasets: list[dict[str, Any]], **extra: Any):
        item = {
            "id": udata_id,
            "slug": udata_id,
            "title": title,
            "type": kind,
            "description": f"{title}, construite sur les données ouvertes.",
            "url": f"https://apps.example/{udata_id}",
            "page": f"{self.root}/fr/reuses/{udata_id}/",
            "image": f"https://static.example/{udata_id}.png",
            "tags": ["velo", "carte"],
            "topic": "transport_and_mobility",
            "created_at": "2023-01-10T09:00:00+00:00",
            "last_modified": "2024-06-01T09:00:00+00:00",
            "private": False,
            "deleted": None,
            "organization": {"id": "5b" * 12, "name": "Association Vélo", "slug": "asso-velo"},
            "owner": None,
            # udata's dataset reference: id, title, uri, page
            "datasets": [{k: d[k] for k in ("id", "title", "uri", "page")} for d in datasets],
            **extra,
        }
        self.lists["reuses"].append(item)
        return item

    def __call__(self, request: Request) -> Reply | None:
        kind = request.path.removeprefix(self.prefix).removeprefix("/api/1/").strip("/")
        if kind not in self.lists:
            return None
        if kind in self.broken:
            return Reply(b"oops", "text/plain", status=500)
        query = {k: v[0] for k, v in request.query.items()}
        page, size = int(query.get("page", 1)), int(query.get("page_size", 20))
        items = self.lists[kind]

        def link(number: int) -> str:
            return f"{self.root}/api/1/{kind}/?{urlencode({'page': number, 'page_size': size})}"

        body = {
            "data": items[(page - 1) * size : page * size],
            "page": page,
            "page_size": size,
            "total": len(items),
            "next_page": link(page + 1) if page * size < len(items) else None,
        }
        return Reply(json.dumps(body).encode(), "application/json")


def recorded_reuse() -> dict[str, Any] | None:
    """The data.gouv.fr reuse object of the corpus (2026 shape), without the datasets it names (the dump
    nests it under its dataset and leaves them out)."""
    path = CORPUS / "udata-fixtures-results.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    for item in data["datasets"] if isinstance(data, dict) else data:
        for reuse in item.get("reuses") or ():
            return copy.deepcopy(reuse)
    return None


def config_for(*portals: tuple[str, Udata], **options: Any):
    return parse_config(
        {
            "settings": {"max_withdraw_share": 0.9},
            "sources": [
                {
                    "id": sid,
                    "name": sid,
                    "type": "udata",
                    "url": p.root,
                    "options": {"page_size": 2, **options},
                }
                for sid, p in portals
            ],
        }
    )


@pytest.fixture
def federation(portal: PortalServer) -> tuple[Udata, Udata, dict[str, Any]]:
    """A city portal and the national portal that harvested one of its datasets (udata's `harvest` block
    keeps the city's URI), each listing reuses."""
    city, national = Udata(portal, "/lille"), Udata(portal, "/national")
    routes = city.dataset("c" * 24, "comptages-velo", "Comptages vélo")
    parks = city.dataset("d" * 24, "parcs", "Parcs et jardins")
    city.dataset("e" * 24, "budget", "Budget primitif")
    mirror = national.dataset(
        "f" * 24,
        "comptages-velo-lille",
        "Comptages vélo (Lille)",
        harvest={"uri": routes["uri"], "remote_id": routes["id"], "remote_url": routes["page"]},
    )
    national.dataset("a" * 24, "population", "Population légale")
    city.reuse("1" * 24, "Carte des comptages", "visualization", [routes])
    city.reuse("2" * 24, "Appli balades", "application", [routes, parks])
    national.reuse("3" * 24, "API vélo nationale", "api", [mirror])  # names the national copy only
    if (recorded := recorded_reuse()) is not None:
        recorded["datasets"] = [{k: parks[k] for k in ("id", "title", "uri", "page")}]
        recorded["page"] = f"{city.root}/fr/reuses/{recorded['slug']}/"
        city.lists["reuses"].append(recorded)
    return city, national, {"routes": routes, "parks": parks, "mirror": mirror}


def test_reuses_are_harvested_paged_and_linked_to_their_datasets(federation, catalogue):
    store, backend = catalogue
    city, national, named = federation
    results = harvest(config_for(("lille", city), ("national", national)), store, backend)
    assert [r.status for r in results] == ["complete", "complete"], [r.message for r in results]
    reuses = Reuses(store)
    assert reuses.count("lille") == len(city.lists["reuses"])
    assert reuses.count("national") == 1
    # page_size 2: the reuses came in pages, following next_page
    assert len(city.portal.requests_to("/lille/api/1/reuses/")) == (len(city.lists["reuses"]) + 1) // 2

    routes = record_id("lille", named["routes"]["id"])
    parks = record_id("lille", named["parks"]["id"])
    mirror = record_id("national", named["mirror"]["id"])
    budget = record_id("lille", "e" * 24)
    of = reuses.of_records([routes, parks, mirror, budget])
    titles = {r: sorted(s["reuse"].title for s in reuses.summaries(ids).values()) for r, ids in of.items()}
    # the city's copy and the national copy form one cluster: each shows the other's reuses
    expected_routes = ["API vélo nationale", "Appli balades", "Carte des comptages"]
    assert titles[routes] == titles[mirror] == expected_routes
    assert "Appli balades" in titles[parks]
    assert titles[budget] == []

    summary = reuses.summaries([record_id("lille", "1" * 24)])[record_id("lille", "1" * 24)]
    reuse = summary["reuse"]
    assert (reuse.type, reuse.url, reuse.organization) == (
        "visualization",
        "https://apps.example/" + "1" * 24,
        "Association Vélo",
    )
    assert reuse.created == "2023-01-10T09:00:00Z" and reuse.tags == ["velo", "carte"]
    recorded = recorded_reuse()
    if recorded is not None:  # the data.gouv.fr object maps with its own values
        [found] = [
            s["reuse"]
            for s in reuses.search(q=recorded["title"]).items
            if s["source_record_id"] == recorded["id"]
        ]
        assert (found.type, found.url, found.topic) == (recorded["type"], recorded["url"], recorded["topic"])
        assert found.organization == recorded["organization"]["name"]


def test_a_reuse_no_longer_listed_is_withdrawn_and_a_broken_listing_withdraws_nothing(federation, catalogue):
    store, backend = catalogue
    city, _national, named = federation
    config = config_for(("lille", city))
    harvest(config, store, backend)
    reuses = Reuses(store)
    before = reuses.count("lille")
    routes = record_id("lille", named["routes"]["id"])

    city.broken.add("reuses")  # the reuse listing fails: datasets complete, no reuse withdrawn
    [result] = harvest(config, store, backend)
    assert result.status == "complete"
    assert reuses.count("lille") == before
    assert any("reuses not read to the end" in note for note in store.run(result.run_id)["report"]["notes"])

    city.broken.clear()
    city.lists["reuses"] = [r for r in city.lists["reuses"] if r["id"] != "1" * 24]
    [result] = harvest(config, store, backend)
    assert result.status == "complete"
    assert reuses.count("lille") == before - 1
    gone = reuses.summaries([record_id("lille", "1" * 24)])[record_id("lille", "1" * 24)]
    assert gone["withdrawn_at"] is not None  # kept, tombstoned
    assert "Carte des comptages" not in {
        s["reuse"].title for s in reuses.summaries(reuses.of_records([routes])[routes]).values()
    }
    assert any("1 withdrawn" in note for note in store.run(result.run_id)["report"]["notes"])


def test_reuses_option_off_reads_no_reuse(federation, catalogue):
    store, backend = catalogue
    city, _national, _named = federation
    [result] = harvest(config_for(("lille", city), reuses=False), store, backend)
    assert result.status == "complete"
    assert Reuses(store).count() == 0
    assert city.portal.requests_to("/lille/api/1/reuses/") == []


@pytest.fixture
def served_federation(federation, catalogue):
    store, backend = catalogue
    city, national, named = federation
    config = config_for(("lille", city), ("national", national))
    harvest(config, store, backend)
    return TestClient(create_app(store, backend, config)), store, backend, named


def test_reuses_api_searches_filters_and_counts(served_federation):
    client, store, _backend, named = served_federation
    body = client.get("/api/reuses").json()
    assert body["total"] == Reuses(store).count() >= 3
    assert {f["value"]: f["count"] for f in body["facets"]["source"]} == {
        "lille": body["total"] - 1,
        "national": 1,
    }
    assert {"visualization", "application", "api"} <= {f["value"] for f in body["facets"]["type"]}
    apps = client.get("/api/reuses", params={"type": "application"}).json()
    assert [i["title"] for i in apps["items"]] == ["Appli balades"]
    assert apps["items"][0]["type_label"] == "Application"
    # accents and case ignored
    assert [
        i["title"] for i in client.get("/api/reuses", params={"q": "VELO nationale"}).json()["items"]
    ] == ["API vélo nationale"]
    routes = record_id("lille", named["routes"]["id"])
    of_routes = client.get("/api/reuses", params={"dataset": routes}).json()
    assert sorted(i["title"] for i in of_routes["items"]) == [
        "API vélo nationale",
        "Appli balades",
        "Carte des comptages",
    ]
    assert client.get("/api/reuses", params={"source": "nowhere"}).status_code == 400
    assert client.get("/api/reuses", params={"type": "spaceship"}).status_code == 400

    one = client.get(f"/api/reuses/{record_id('lille', '2' * 24)}").json()
    assert one["title"] == "Appli balades" and one["source"]["id"] == "lille"
    assert {d["fedcat_id"] for d in one["datasets"]} == {routes, record_id("lille", named["parks"]["id"])}
    assert client.get("/api/reuses/lille-nothing").status_code == 404


def test_dataset_items_documents_and_the_has_reuses_facet(served_federation):
    client, _store, backend, named = served_federation
    routes = record_id("lille", named["routes"]["id"])
    mirror = record_id("national", named["mirror"]["id"])
    for fedcat_id in (routes, mirror):  # every copy shows the cluster's reuses
        document = client.get(f"/api/datasets/{fedcat_id}").json()
        assert document["reuses"]["count"] == 3
        assert document["reuses"]["items"][0]["title"]
    budget = client.get(f"/api/datasets/{record_id('lille', 'e' * 24)}").json()
    assert budget["reuses"] == {"count": 0, "items": []}

    hits = client.get("/api/datasets", params={"has_reuses": "true", "page_size": 50}).json()
    ids = {i["id"] for i in hits["items"]}
    # the cluster is one hit; parks has a reuse; budget and population have none
    assert len(ids & {routes, mirror}) == 1 and record_id("lille", named["parks"]["id"]) in ids
    assert hits["total"] == 2
    assert all(i["reuses"]["count"] > 0 for i in hits["items"])
    facet = {f["value"]: f["count"] for f in client.get("/api/datasets").json()["facets"]["has_reuses"]}
    assert facet == {"true": 2, "false": 2}
    assert backend.search(SearchQuery(filters={"has_reuses": ["false"]})).total == 2
    assert client.get("/api/datasets", params={"has_reuses": "maybe"}).status_code == 400


def test_rdf_says_the_dataset_is_referenced_by_its_reuses(served_federation):
    client, _store, _backend, named = served_federation
    mirror = record_id("national", named["mirror"]["id"])
    response = client.get(f"/datasets/{mirror}.nt")
    assert response.status_code == 200
    graph = pyoxigraph.Store()
    graph.load(response.content, format=pyoxigraph.RdfFormat.N_TRIPLES)
    dataset = NamedNode(client.get(f"/api/datasets/{mirror}").json()["dataset"]["uri"])
    referenced = {str(q.object.value) for q in graph.quads_for_pattern(dataset, DCT("isReferencedBy"), None)}
    # the national copy's own reuse, and the city copy's (one cluster)
    city_page = named["routes"]["uri"].replace(
        "/api/1/datasets/comptages-velo/", "/fr/reuses/" + "1" * 24 + "/"
    )
    assert len(referenced) == 3 and city_page in referenced
    reuse = NamedNode(city_page)
    types = {str(q.object.value) for q in graph.quads_for_pattern(reuse, RDF_TYPE, None)}
    assert types == {"http://xmlns.com/foaf/0.1/Document", "http://schema.org/CreativeWork"}
    assert [q.object.value for q in graph.quads_for_pattern(reuse, DCT("title"), None)] == [
        "Carte des comptages"
    ]
    genres = {
        q.object.value for q in graph.quads_for_pattern(reuse, NamedNode("http://schema.org/genre"), None)
    }
    assert genres == {"Visualisation"}
    assert [
        q.object.value for q in graph.quads_for_pattern(reuse, NamedNode("http://schema.org/url"), None)
    ] == ["https://apps.example/" + "1" * 24]


def test_udata_compatible_reuses_round_trip_through_fedcats_udata_adapter(served_federation, tmp_path):
    client, store, _backend, named = served_federation
    listed = client.get("/api/1/reuses/", params={"page_size": 2}).json()
    assert listed["total"] == Reuses(store).count() and len(listed["data"]) == 2 and listed["next_page"]
    assert client.get("/api/1/site/").json()["metrics"]["reuses"] == listed["total"]
    with served(client.app) as base:  # fedcat's own udata adapter reads fedcat's /api/1/
        again = Store(tmp_path / "again.db")
        index = EmbeddedBackend(tmp_path / "again-index")
        try:
            config = parse_config(
                {
                    "sources": [
                        {
                            "id": "fed",
                            "name": "fed",
                            "type": "udata",
                            "url": base,
                            "options": {"page_size": 3},
                        }
                    ]
                }
            )
            [result] = harvest(config, again, index)
            assert result.status == "complete", result.message
            assert Reuses(again).count() == listed["total"]
            # fedcat lists one dataset a cluster: the two copies of the city's dataset are one there, and
            # every reuse of either copy names it
            routes, mirror = (
                record_id("lille", named["routes"]["id"]),
                record_id("national", named["mirror"]["id"]),
            )
            [copy_of_routes] = [
                i for i in (record_id("fed", routes), record_id("fed", mirror)) if again.record(i) is not None
            ]
            titles = {
                s["reuse"].title
                for s in Reuses(again)
                .summaries(Reuses(again).of_records([copy_of_routes])[copy_of_routes])
                .values()
            }
            assert titles == {"API vélo nationale", "Appli balades", "Carte des comptages"}
        finally:
            index.close()
            again.close()


@pytest.mark.parametrize(
    ("lang", "heading", "count"),
    [
        ("fr", "Réutilisations", "3 réutilisations listées par les portails"),
        ("en", "Reuses", "3 reuses listed by the portals"),
    ],
)
def test_the_dataset_page_lists_the_clusters_reuses(served_federation, lang, heading, count):
    client, _store, _backend, named = served_federation
    mirror = record_id("national", named["mirror"]["id"])
    page = client.get(f"/datasets/{mirror}", params={"lang": lang}, headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert f'<h2 id="reuses-title">{heading}</h2>' in html and count in html
    # the city copy's reuse, linked to the application itself
    assert (
        f'<a href="https://apps.example/{"1" * 24}" rel="nofollow noopener">Carte des comptages</a>' in html
    )
    assert "Visualisation" in html
    budget = client.get(f"/datasets/{record_id('lille', 'e' * 24)}", params={"lang": lang})
    assert budget.status_code == 200 and "apps.example" not in budget.text


def test_the_search_page_offers_the_has_reuses_facet(served_federation):
    client, *_ = served_federation
    page = client.get("/", params={"lang": "fr", "has_reuses": "true"}, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "Avec réutilisations" in page.text and "2 jeux de données" in page.text


class Ckan:
    """A CKAN portal with ckanext-showcase: package_search (one page), ckanext_showcase_list and
    ckanext_showcase_package_list, answering in CKAN's envelope; `showcases=None`: no extension (CKAN's 400
    for an unknown action)."""

    def __init__(self, portal: PortalServer, prefix: str) -> None:
        self.portal, self.prefix = portal, prefix
        self.packages: list[dict[str, Any]] = []
        self.showcases: dict[str, tuple[dict[str, Any], list[str]]] | None = {}
        portal.handle(prefix + "/api/3/action/", self)

    @property
    def root(self) -> str:
        return self.portal.url(self.prefix)

    def package(self, package_id: str, title: str) -> None:
        self.packages.append(
            {
                "id": package_id,
                "name": package_id,
                "title": title,
                "notes": f"{title}.",
                "metadata_created": "2023-01-01T00:00:00",
                "metadata_modified": "2024-01-01T00:00:00",
                "resources": [{"id": f"r-{package_id}", "url": f"https://files.example/{package_id}.csv"}],
            }
        )

    def showcase(self, showcase_id: str, title: str, package_ids: list[str]) -> None:
        assert self.showcases is not None
        self.showcases[showcase_id] = (
            {
                "id": showcase_id,
                "name": f"showcase-{showcase_id}",
                "type": "showcase",
                "title": title,
                "notes": f"{title}, built on open data.",
                "url": f"https://apps.example/{showcase_id}",
                "image_display_url": f"https://static.example/{showcase_id}.png",
                "author": "Jeanne Dupont",
                "tags": [{"name": "mobilité"}],
                "metadata_created": "2024-02-01T10:00:00",
                "metadata_modified": "2024-03-01T10:00:00",
            },
            package_ids,
        )

    def __call__(self, request: Request) -> Reply | None:
        action = request.path.removeprefix(self.prefix + "/api/3/action/")
        query = {k: v[0] for k, v in request.query.items()}
        if action == "package_search":
            result: Any = {"count": len(self.packages), "results": self.packages}
        elif self.showcases is None and action.startswith("ckanext_"):
            body = {"success": False, "error": {"message": f"Bad request - Action name not known: {action}"}}
            return Reply(json.dumps(body).encode(), "application/json", status=400)
        elif action == "ckanext_showcase_list":
            result = [s for s, _ in (self.showcases or {}).values()]
        elif action == "ckanext_showcase_package_list":
            _, ids = (self.showcases or {})[query["showcase_id"]]
            result = [p for p in self.packages if p["id"] in ids]
        else:
            return None
        return Reply(json.dumps({"success": True, "result": result}).encode(), "application/json")


def test_ckan_showcases_are_reuses_of_their_packages(portal, catalogue):
    store, backend = catalogue
    ckan = Ckan(portal, "/ckan")
    for n in range(3):
        ckan.package(f"pkg-{n}", f"Jeu {n}")
    ckan.showcase("sc-1", "Tableau de bord", ["pkg-0", "pkg-1"])
    ckan.showcase("sc-2", "Article", ["pkg-1"])
    config = parse_config(
        {
            "sources": [
                {"id": "ck", "name": "ck", "type": "ckan", "url": ckan.root, "options": {"page_size": 1}}
            ]
        }
    )
    [result] = harvest(config, store, backend)
    assert result.status == "complete", result.message
    reuses = Reuses(store)
    assert reuses.count("ck") == 2
    of = reuses.of_records([record_id("ck", f"pkg-{n}") for n in range(3)])
    titles = {r: sorted(s["reuse"].title for s in reuses.summaries(ids).values()) for r, ids in of.items()}
    assert titles == {
        record_id("ck", "pkg-0"): ["Tableau de bord"],
        record_id("ck", "pkg-1"): ["Article", "Tableau de bord"],
        record_id("ck", "pkg-2"): [],
    }
    board = reuses.summaries([record_id("ck", "sc-1")])[record_id("ck", "sc-1")]["reuse"]
    assert (board.url, board.page, board.owner, board.tags) == (
        "https://apps.example/sc-1",
        f"{ckan.root}/showcase/showcase-sc-1",
        "Jeanne Dupont",
        ["mobilité"],
    )

    assert ckan.showcases is not None
    del ckan.showcases["sc-2"]
    [result] = harvest(config, store, backend)
    assert result.status == "complete" and reuses.count("ck") == 1

    ckan.showcases = None  # the extension is gone: nothing said, nothing withdrawn
    [result] = harvest(config, store, backend)
    assert result.status == "complete" and reuses.count("ck") == 1
    assert not [n for n in store.run(result.run_id)["report"].get("notes", []) if "showcase" in n]


def test_a_dataset_harvested_after_its_reuse_is_linked_and_found_as_reused(portal, catalogue):
    store, backend = catalogue
    city = Udata(portal, "/ville")
    city.dataset("c" * 24, "comptages", "Comptages vélo")
    later = {"id": "9" * 24, "title": "Stationnements", "uri": f"{city.root}/api/1/datasets/stationnements/"}
    later["page"] = f"{city.root}/fr/datasets/stationnements/"
    city.reuse("1" * 24, "Carte du stationnement", "application", [later])  # not listed by the portal yet
    config = config_for(("ville", city))
    harvest(config, store, backend)
    assert backend.search(SearchQuery(filters={"has_reuses": ["true"]})).total == 0

    city.dataset("9" * 24, "stationnements", "Stationnements")  # the portal lists it now
    [result] = harvest(config, store, backend)
    assert result.status == "complete"
    found = backend.search(SearchQuery(filters={"has_reuses": ["true"]}))
    assert found.ids == [record_id("ville", "9" * 24)]
    of = Reuses(store).of_records([record_id("ville", "9" * 24)])
    assert of == {record_id("ville", "9" * 24): [record_id("ville", "1" * 24)]}


def referenced_by(data: bytes, fmt=pyoxigraph.RdfFormat.N_TRIPLES) -> dict[str, set[str]]:
    """dataset IRI -> the reuse pages it is `dct:isReferencedBy`, read back from RDF."""
    graph = pyoxigraph.Store()
    graph.load(data, format=fmt)
    found: dict[str, set[str]] = {}
    for quad in graph.quads_for_pattern(None, DCT("isReferencedBy"), None):
        found.setdefault(quad.subject.value, set()).add(quad.object.value)
        reuse = quad.object
        assert {q.object.value for q in graph.quads_for_pattern(reuse, RDF_TYPE, None)} == {
            "http://xmlns.com/foaf/0.1/Document",
            "http://schema.org/CreativeWork",
        }
        assert [q.object.value for q in graph.quads_for_pattern(reuse, DCT("title"), None)]
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_the_whole_catalogue_carries_the_reuse_links_as_the_dataset_documents_do(served_federation, workers):
    """`fedcat export` (in this process or its worker processes) and the /catalog pages say of every
    dataset what its own document says: `dct:isReferencedBy` its cluster's reuses, each described."""
    from fedcat.export import export
    from fedcat.indexer.sparql import catalog_info_from_store

    client, store, _backend, named = served_federation
    documents = {}
    for record in store.iter_records():
        uri = client.get(f"/api/datasets/{record['id']}").json()["dataset"]["uri"]
        documents[uri] = referenced_by(client.get(f"/datasets/{record['id']}.nt").content).get(uri, set())
    mirror_uri = client.get(f"/api/datasets/{record_id('national', named['mirror']['id'])}").json()["dataset"]
    assert len(documents[mirror_uri["uri"]]) == 3  # the cluster's three reuses
    expected = {uri: pages for uri, pages in documents.items() if pages}
    assert len(expected) == 3  # both copies of the routes, and the parks

    out = io.BytesIO()
    info = catalog_info_from_store(store, "http://127.0.0.1:8000", None)
    assert export(store.path, info, out, "nt", workers=workers) == len(documents)
    assert referenced_by(out.getvalue()) == expected

    page = client.get("/catalog.ttl", params={"page_size": 50})
    assert page.status_code == 200
    assert referenced_by(page.content, pyoxigraph.RdfFormat.TURTLE) == expected
    filtered = client.get("/catalog.nt", params={"has_reuses": "true", "page_size": 50})
    assert filtered.status_code == 200
    assert referenced_by(filtered.content) == expected


def test_the_sparql_store_follows_the_reuses(federation, catalogue):
    """The SPARQL store's graphs carry the reuse links, and a withdrawn reuse leaves every copy's graph."""
    from fedcat.indexer.sparql import SparqlStore, catalog_info_from_store

    store, backend = catalogue
    city, national, named = federation
    config = config_for(("lille", city), ("national", national))
    harvest(config, store, backend)
    query = (
        "PREFIX dct: <http://purl.org/dc/terms/> PREFIX foaf: <http://xmlns.com/foaf/0.1/>\n"
        "SELECT ?d ?r WHERE { ?d dct:isReferencedBy ?r . ?r a foaf:Document }"
    )
    sparql = SparqlStore.for_store(store)
    try:

        def links() -> dict[str, set[str]]:
            sparql.sync(store, catalog_info_from_store(store, "http://127.0.0.1:8000", config))
            found: dict[str, set[str]] = {}
            for solution in sparql.oxigraph.query(query, use_default_graph_as_union=True):
                found.setdefault(solution["d"].value, set()).add(solution["r"].value)
            return found

        before = links()
        uri = {
            key: store.record(record_id(sid, named[key]["id"]))["uri"]
            for key, sid in (("routes", "lille"), ("mirror", "national"), ("parks", "lille"))
        }
        carte = named["routes"]["uri"].replace(
            "/api/1/datasets/comptages-velo/", "/fr/reuses/" + "1" * 24 + "/"
        )
        assert len(before[uri["routes"]]) == len(before[uri["mirror"]]) == 3
        assert carte in before[uri["mirror"]]  # the city copy's reuse, on the national copy (one cluster)
        assert uri["parks"] in before

        city.lists["reuses"] = [r for r in city.lists["reuses"] if r["id"] != "1" * 24]
        harvest(config, store, backend)  # the reuse is withdrawn: no record changed, the links did
        after = links()
        assert after[uri["routes"]] == after[uri["mirror"]] == before[uri["mirror"]] - {carte}
        assert after[uri["parks"]] == before[uri["parks"]]
    finally:
        sparql.close()
