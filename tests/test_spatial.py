"""Spatial search: `bbox=` keeps the datasets whose coverage intersects the box, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.harvester.sources import parse_config
from fedcat.indexer.backend import SearchDocument, SearchQuery
from fedcat.indexer.documents import search_document
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.indexer.sqlite_fts import SqliteFtsBackend
from fedcat.mappings.geometry import geojson_wkt
from fedcat.mappings.model import Dataset, Location, Text
from fedcat.store import Store
from test_search_backends import _drop_test_indices, elasticsearch_backend  # noqa: F401 (an autouse fixture)

BACKENDS = {
    "embedded": lambda tmp: EmbeddedBackend(tmp / "tantivy", writer_heap=50_000_000, writer_threads=1),
    "sqlite": lambda tmp: SqliteFtsBackend(tmp / "fts.db"),
    "elasticsearch": elasticsearch_backend,  # skipped without a node (FEDCAT_TEST_ELASTICSEARCH_URL)
}
DOCS = {
    "lille": [2.97, 50.57, 3.13, 50.69],
    "france": [-5.2, 41.3, 9.6, 51.1],
    "fiji": [177.0, -19.2, -179.8, -16.0],  # across the antimeridian itself
    "tahiti": [-149.7, -17.9, -149.1, -17.4],
    "kamchatka": [155.0, 50.0, 163.0, 62.0],
    "nowhere": [],  # no spatial coverage: never in a bbox search
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path: Path):
    found = BACKENDS[request.param](tmp_path)
    found.upsert(SearchDocument(id=i, title=f"données {i}", bbox=box) for i, box in DOCS.items())
    found.commit()
    yield found
    found.close()


def _hits(backend, box) -> set[str]:
    return set(backend.search(SearchQuery(bbox=box, page_size=100)).ids)


def test_bbox_intersects(backend) -> None:
    assert _hits(backend, (3.0, 50.6, 3.1, 50.65)) == {"lille", "france"}  # inside both
    assert _hits(backend, (3.12, 50.0, 4.0, 50.58)) == {"lille", "france"}  # overlapping a corner
    assert _hits(backend, (-10.0, 30.0, -6.0, 40.0)) == set()  # the Atlantic
    assert _hits(backend, (-180.0, -90.0, 180.0, 90.0)) == set(DOCS) - {"nowhere"}
    assert backend.search(SearchQuery(q="données", bbox=(2.0, 50.0, 4.0, 51.0))).total == 2


def test_bbox_across_the_antimeridian(backend) -> None:
    # a Pacific box from 170°E to 150°W: Fiji (itself across) in, Tahiti (149.7°W-149.1°W) just east of it
    assert _hits(backend, (170.0, -25.0, -150.0, 0.0)) == {"fiji"}
    assert _hits(backend, (170.0, -25.0, -149.5, 0.0)) == {"fiji", "tahiti"}
    assert _hits(backend, (150.0, 40.0, -170.0, 70.0)) == {"kamchatka"}
    # a box touching only Fiji's western part, without crossing
    assert _hits(backend, (176.0, -18.0, 178.0, -17.0)) == {"fiji"}
    assert _hits(backend, (-179.9, -18.0, -179.85, -17.0)) == {"fiji"}  # its eastern part


def test_coverage_from_dcat_bbox_or_geometry() -> None:
    with_bbox = Dataset(
        uri="u", title=[Text("t")], spatial=[Location(bbox="POLYGON((2 50, 3 50, 3 51, 2 51, 2 50))")]
    )
    assert search_document("a", "s", with_bbox).bbox == [2.0, 50.0, 3.0, 51.0]
    with_geometry = Dataset(
        uri="u",
        title=[Text("t")],
        spatial=[Location(geometry="<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POINT(3.06 50.63)")],
    )
    assert search_document("b", "s", with_geometry).bbox == [3.06, 50.63, 3.06, 50.63]
    assert search_document("c", "s", Dataset(uri="u", title=[Text("t")])).bbox == []


def test_bad_boxes_get_a_400_naming_bbox(tmp_path: Path) -> None:
    config = parse_config({"settings": {"base_url": "https://fedcat.example"}, "sources": []})
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    client = TestClient(create_app(store, backend, config))
    for bad in ("1,2,3", "a,b,c,d", "0,60,10,50", "0,0,200,10", "0,-95,1,1"):
        answer = client.get("/api/datasets", params={"bbox": bad})
        assert answer.status_code == 400, bad
        assert answer.json()["errors"][0]["parameter"] == "bbox"
    assert client.get("/api/datasets", params={"bbox": "2.9,50.5,3.3,50.8"}).status_code == 200
    backend.close()
    store.close()


def test_coverage_from_geojson_and_not_from_gml() -> None:
    geojson = '{"type": "Polygon", "coordinates": [[[2, 50], [3, 50], [3, 51], [2, 51], [2, 50]]]}'
    with_geojson = Dataset(uri="u", title=[Text("t")], spatial=[Location(geometry=geojson)])
    assert search_document("a", "s", with_geojson).bbox == [2.0, 50.0, 3.0, 51.0]
    gml = '<gml:Envelope srsName="EPSG:4326"><gml:lowerCorner>50 2</gml:lowerCorner></gml:Envelope>'
    with_gml = Dataset(uri="u", title=[Text("t")], spatial=[Location(geometry=gml)])
    assert search_document("b", "s", with_gml).bbox == []  # not read: never numbers of its attributes


def test_geojson_type_names_in_any_case_become_wkt() -> None:
    # GovData writes {"type": "polygon", ...}: still a polygon, published as WKT beside the source's GeoJSON
    lower = {"type": "polygon", "coordinates": [[[5.5, 47.1], [15.5, 47.1], [15.5, 55.0], [5.5, 47.1]]]}
    assert geojson_wkt(lower) == "POLYGON((5.5 47.1, 15.5 47.1, 15.5 55, 5.5 47.1))"
    assert (
        geojson_wkt({"type": "FEATURE", "geometry": {"type": "point", "coordinates": [2, 50]}})
        == "POINT(2 50)"
    )
    assert geojson_wkt({"type": "Polygonal", "coordinates": [[[2, 50]]]}) is None  # not a GeoJSON type
