"""HTTP conventions on every route of the API (api/conventions.py): CORS for configured origins with
preflights, HEAD on every GET route, ETag / Last-Modified / Cache-Control with 304 answers, gzip over 1 KB,
Link headers on paged JSON, JSON-LD with an @context, one error shape with 400 for any refused parameter."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator

import httpx
import pytest
from conftest import CORPUS
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.catalogue import Catalogue
from fedcat.demo.run import EXAMPLE_DATASET

ORIGIN = "https://portal.example.org"


@pytest.fixture(scope="module")
def client(demo) -> Iterator[TestClient]:
    config, data = demo
    catalogue = Catalogue.open(config, data, writer=False)
    settings = dataclasses.replace(catalogue.config.settings, cors_origins=(ORIGIN,))
    app = create_app(
        catalogue.store, catalogue.backend, dataclasses.replace(catalogue.config, settings=settings)
    )
    try:
        yield TestClient(app)
    finally:
        catalogue.close()


def test_cors_for_the_configured_origins_with_preflight(client, demo):
    preflight = client.options(
        "/api/datasets",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "GET" in preflight.headers["access-control-allow-methods"]
    answer = client.get("/api/datasets?q=velo", headers={"Origin": ORIGIN})
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "ETag" in answer.headers["access-control-expose-headers"]
    other = client.get("/api/datasets?q=velo", headers={"Origin": "https://elsewhere.example.com"})
    assert "access-control-allow-origin" not in other.headers
    # not configured: no CORS at all
    config, data = demo
    catalogue = Catalogue.open(config, data, writer=False)
    try:
        plain = TestClient(create_app(catalogue.store, catalogue.backend, catalogue.config))
        assert "access-control-allow-origin" not in plain.get("/health", headers={"Origin": ORIGIN}).headers
    finally:
        catalogue.close()


def test_head_answers_on_every_get_route(client, monkeypatch):
    if (CORPUS / "shapes").is_dir():
        monkeypatch.setenv("FEDCAT_SHAPES_DIR", str(CORPUS / "shapes" / "dcat-ap-3.0.1"))
    values = {"{id}": EXAMPLE_DATASET, "{run_id}": "1", "{ext}": ".ttl"}
    paths = client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, operations in paths.items():
        if "get" not in operations or (path.endswith("/validation") and not (CORPUS / "shapes").is_dir()):
            continue
        url = path.replace("/sources/{name}", "/sources/ville-exemple").replace("{name}", EXAMPLE_DATASET)
        for key, value in values.items():
            url = url.replace(key, value)
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code, url
        assert head.content == b"", url
        assert head.headers.get("content-type") == get.headers.get("content-type"), url
        checked += 1
    assert checked >= 14


@pytest.mark.parametrize(
    "url",
    ["/api/datasets?q=velo", f"/api/datasets/{EXAMPLE_DATASET}", f"/datasets/{EXAMPLE_DATASET}.ttl",
     "/catalog.ttl?page_size=5", "/api/quality"],
)  # fmt: skip
def test_validators_and_304(client, url):
    first = client.get(url)
    assert first.status_code == 200
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["cache-control"] == "public, max-age=60"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-Modified-Since": "Thu, 01 Jan 2015 00:00:00 GMT"}).status_code == 200


def test_live_state_is_always_revalidated(client):
    assert client.get("/api/harvests").headers["cache-control"] == "no-cache"
    assert client.get("/health").headers["cache-control"] == "no-cache"


def test_gzip_over_1_kb_only(client):
    raw = httpx.Client(transport=client._transport, base_url="http://testserver")  # no automatic decoding
    big = client.get("/api/datasets", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip" and "accept-encoding" in big.headers["vary"].lower()
    with raw.stream("GET", "/api/datasets", headers={"Accept-Encoding": "gzip"}) as response:
        assert json.loads(gzip.decompress(b"".join(response.iter_raw())))["total"] == big.json()["total"] > 0
    small = client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert len(small.content) < 1024 and "content-encoding" not in small.headers


def test_link_headers_on_paged_json(client):
    page = client.get("/api/datasets?theme=TRAN&page_size=1&page=2")
    total = page.json()["total"]
    assert total >= 3, "the fixture needs three pages of transport datasets"
    links = {
        link.split('rel="')[1].rstrip('"'): link.split(">")[0].lstrip("<")
        for link in page.headers["link"].split(", ")
    }
    assert set(links) == {"first", "prev", "next", "last"}
    assert (
        links["next"].endswith("page=3") and "theme=TRAN" in links["next"] and "page_size=1" in links["next"]
    )
    assert links["last"].endswith(f"page={total}") and links["first"].endswith("page=1")
    first = client.get(links["first"].replace("http://testserver", ""))
    assert 'rel="prev"' not in first.headers["link"]
    audit = client.get("/api/audit?page_size=3")
    assert 'rel="next"' in audit.headers["link"] and "page_size=3" in audit.headers["link"]


def test_json_ld_has_a_context(client):
    for url in (f"/datasets/{EXAMPLE_DATASET}.jsonld", "/catalog.jsonld?page_size=3"):
        document = client.get(url).json()
        assert document["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
        titles = [n["dct:title"] for n in document["@graph"] if "dct:title" in n]
        assert titles, url


def test_one_error_shape_and_status(client):
    for url, status in (("/api/datasets?page=two", 400), ("/api/datasets?theme=ZZZ", 400),
                        ("/api/datasets/nope", 404), ("/no/such/path", 404)):  # fmt: skip
        answer = client.get(url)
        assert answer.status_code == status, url
        assert set(answer.json()) == {"detail", "errors"}, url


def test_cors_origins_are_checked_at_load(monkeypatch):
    from fedcat.harvester.sources import ConfigError, parse_config

    source = {"id": "a", "name": "A", "type": "dcat", "url": "https://example.org/catalog.ttl"}
    with pytest.raises(ConfigError) as refused:
        parse_config(
            {"settings": {"cors_origins": ["https://ok.example.org", "ftp://x/y"]}, "sources": [source]}
        )
    assert refused.value.problems == [
        "settings.cors_origins: 'ftp://x/y' is not an origin (scheme://host[:port]) or *"
    ]
    monkeypatch.setenv("FEDCAT_CORS_ORIGINS", "https://a.example.org, https://b.example.org/")
    config = parse_config(
        {"settings": {"cors_origins": ["https://ignored.example.org"]}, "sources": [source]}
    )
    assert config.settings.cors_origins == ("https://a.example.org", "https://b.example.org")
