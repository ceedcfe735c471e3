"""`type: website`: a local website on 127.0.0.1 crawled with Scrapy (in its own process) for schema.org
Datasets in JSON-LD, microdata and RDFa — robots.txt, a sitemap, a link loop, another loopback origin, a
`file:` link, a 10 MB page, a page that drips — harvested into a real store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from fedcat.demo.portal import PortalServer, Reply
from fedcat.harvester.crawl import discover
from fedcat.harvester.discovery import classify
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.mappings.context import SourceContext
from fedcat.mappings.registry import mapping_for
from fedcat.store import record_id

pytest.importorskip("scrapy")
pytest.importorskip("extruct")

EU = "http://publications.europa.eu/resource/authority/"
FAST = {"delay": 0, "autothrottle": False, "page_timeout": 3, "budget": 60}


def page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><title>t</title>{head}</head><body>{body}</body></html>"


def jsonld(item: dict) -> str:
    return f'<script type="application/ld+json">{json.dumps(item)}</script>'


AIR = {
    "@context": "https://schema.org/",
    "@type": "Dataset",
    "name": "Qualité de l'air",
    "description": "Mesures horaires des stations.",
    "inLanguage": "fr",
    "keywords": "air, pollution,  ozone",
    "license": "https://creativecommons.org/licenses/by/4.0/",
    "publisher": {"@type": "Organization", "name": "Ville de Lille", "url": "https://www.lille.fr"},
    "creator": {"@type": "Person", "name": "Service Environnement"},
    "temporalCoverage": "2020-01-01/2023-12-31",
    "spatialCoverage": {
        "@type": "Place",
        "name": "Lille",
        "geo": {"@type": "GeoShape", "box": "50.6 3.0 50.7 3.1"},
    },
    "distribution": [
        {"@type": "DataDownload", "encodingFormat": "text/csv", "contentUrl": "https://data.example/air.csv"}
    ],
    "includedInDataCatalog": {"@type": "DataCatalog", "name": "Données", "url": "https://data.example/"},
}

MICRODATA = """<div itemscope itemtype="https://schema.org/Dataset">
  <h1 itemprop="name">Arbres d'alignement</h1>
  <p itemprop="description">Inventaire des arbres.</p>
  <span itemprop="keywords">arbres</span>
  <div itemprop="distribution" itemscope itemtype="https://schema.org/DataDownload">
    <meta itemprop="encodingFormat" content="application/geo+json">
    <a itemprop="contentUrl" href="https://data.example/arbres.geojson">GeoJSON</a>
  </div>
</div>"""

RDFA = """<div vocab="https://schema.org/" typeof="Dataset">
  <span property="name">Budget primitif</span>
  <span property="description">Le budget voté.</span>
</div>"""


def dataset(name: str) -> dict:
    return {"@context": "https://schema.org", "@type": "Dataset", "name": name, "description": f"{name}."}


def website(site: PortalServer, other: PortalServer) -> dict[str, str]:
    """Serve the site; returns {record id: dataset name} for the datasets on the pages a crawl may read."""
    html = "text/html; charset=utf-8"
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    links = [
        "http://[broken",  # an unclosed IPv6 bracket: costs this link, not the page's others
        "/air.html",
        "/trees.html",
        "/budget.html",
        "/multi.html",
        "/loop1.html#top",
        "/private/secret.html",
        other.url("/elsewhere.html"),
        "file:///etc/passwd",
        "mailto:open@example.org",
        "/missing.html",
    ]
    site.add("/", page("".join(f'<a href="{link}">x</a>' for link in links)), html)
    site.add("/air.html", page('<a href="/">home</a>', jsonld(AIR)), html)
    site.add("/trees.html", page(MICRODATA), html)
    site.add("/budget.html", page(RDFA), html)
    site.add(
        "/multi.html",
        page(
            "", jsonld({"@context": "https://schema.org", "@graph": [dataset("Vélos"), dataset("Parkings")]})
        ),
        html,
    )
    site.add("/loop1.html", page('<a href="/loop2.html">2</a>'), html)
    site.add("/loop2.html", page('<a href="/loop1.html">1</a>', jsonld(dataset("Boucle"))), html)
    site.add("/private/secret.html", page("", jsonld(dataset("Secret"))), html)
    site.add("/only-in-sitemap.html", page("", jsonld(dataset("Plan"))), html)
    site.add(
        "/sitemap-index.xml",
        f"<sitemapindex><sitemap><loc>{site.url('/sitemap.xml')}</loc></sitemap></sitemapindex>",
        "application/xml",
    )
    site.add(
        "/sitemap.xml",
        "<urlset><url><loc>http://[broken/</loc></url>"
        f"<url><loc>{site.url('/only-in-sitemap.html')}</loc></url></urlset>",
        "application/xml",
    )
    other.add("/elsewhere.html", page("", jsonld(dataset("Ailleurs"))), html)
    return {
        site.url("/air.html"): "Qualité de l'air",
        site.url("/trees.html"): "Arbres d'alignement",
        site.url("/budget.html"): "Budget primitif",
        site.url("/multi.html"): "Vélos",
        site.url("/multi.html") + "#2": "Parkings",
        site.url("/loop2.html"): "Boucle",
        site.url("/only-in-sitemap.html"): "Plan",
    }


def config_for(url: str, **options):
    source = {"id": "web", "name": "Ville", "type": "website", "url": url, "options": {**FAST, **options}}
    return parse_config({"settings": {"contact": "open@example.org"}, "sources": [source]})


@pytest.fixture
def sites():
    with PortalServer() as site, PortalServer() as other:
        yield site, other


def test_crawl_harvests_exactly_the_datasets_of_the_allowed_pages(sites, catalogue):
    site, other = sites
    store, backend = catalogue
    expected = website(site, other)
    [result] = harvest(config_for(site.url("/"), sitemap=site.url("/sitemap-index.xml")), store, backend)
    assert result.status == "complete", result.message
    assert store.count("web") == len(expected)
    for srid, name in expected.items():
        record = store.record(record_id("web", srid))
        assert record is not None, f"{srid} was not harvested"
        assert record["dataset"].title[0].value == name
    # robots.txt's disallowed folder and the other loopback origin are never requested
    assert not [r for r in site.log if r.path.startswith("/private/")]
    assert other.log == []
    # the operator's contact in the User-Agent of every request
    assert all("open@example.org" in r.headers.get("User-Agent", "") for r in site.log)
    # each page once, though the loop links back and forth
    assert len(site.requests_to("/loop1.html")) == 1 and len(site.requests_to("/loop2.html")) == 1


def test_schemaorg_mapping_of_a_jsonld_dataset(sites, catalogue):
    site, other = sites
    store, backend = catalogue
    website(site, other)
    harvest(config_for(site.url("/")), store, backend)
    air = store.record(record_id("web", site.url("/air.html")))["dataset"]
    assert air.description[0].value == "Mesures horaires des stations." and air.description[0].lang == "fr"
    assert [k.value for k in air.keywords] == ["air", "pollution", "ozone"]
    assert air.licence == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
    assert (
        air.publisher.name[0].value == "Ville de Lille" and air.publisher.homepage == "https://www.lille.fr"
    )
    assert air.creator.name[0].value == "Service Environnement"
    assert (air.temporal[0].start, air.temporal[0].end) == ("2020-01-01", "2023-12-31")
    assert air.spatial[0].label[0].value == "Lille"
    assert air.spatial[0].bbox == "POLYGON((3 50.6, 3.1 50.6, 3.1 50.7, 3 50.7, 3 50.6))"
    [dist] = air.distributions
    assert dist.download_url == ["https://data.example/air.csv"] and dist.format == f"{EU}file-type/CSV"
    assert air.related == ["https://data.example/"]
    assert air.landing_page == [site.url("/air.html")]
    trees = store.record(record_id("web", site.url("/trees.html")))["dataset"]
    assert trees.distributions[0].download_url == ["https://data.example/arbres.geojson"]
    assert trees.distributions[0].format == f"{EU}file-type/GEOJSON"


FLAT_RDFA = """<div vocab="https://schema.org/" typeof="Dataset">
  <h1 property="name">Budget 2024</h1><p property="description">Voté en décembre.</p>
  <div property="distribution" typeof="DataDownload"><span property="encodingFormat">application/pdf</span>
    <a property="contentUrl" href="/files/budget.pdf">PDF</a></div>
  <div property="publisher" typeof="GovernmentOrganization"><span property="name">Ville</span></div>
</div>"""

GRAPH = {  # a page's JSON-LD as CMSs write it: nodes side by side, linked by @id, URLs relative to the page
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebPage", "@id": "#page", "mainEntity": {"@id": "#ds"}},
        {"@type": "Organization", "@id": "#org", "name": "Ville de Testville", "url": "/"},
        {
            "@type": "Dataset",
            "@id": "#ds",
            "name": "Parkings",
            "description": "Places libres.",
            "publisher": {"@id": "#org"},
            "distribution": [
                {"@id": "#csv"},
                {"@type": "DataDownload", "contentUrl": "../files/parkings.json", "encodingFormat": "JSON"},
            ],
        },
        {
            "@type": "DataDownload",
            "@id": "#csv",
            "contentUrl": "/files/parkings.csv",
            "encodingFormat": "text/csv",
        },
        {
            "@type": "DataCatalog",
            "name": "Catalogue",
            "dataset": {"@type": "Dataset", "name": "Écoles", "distribution": {"contentUrl": "ecoles.xlsx"}},
        },
    ],
}


def test_markup_linked_by_reference_and_relative_urls_are_read_as_the_page_means(sites, catalogue):
    """RDFa always comes flattened and JSON-LD graphs often do: a dataset's distribution or publisher is
    a reference to a node beside it; links are relative to the page. Read both, and a second crawl of
    the same pages changes nothing (RDFa's blank node labels are new at every parse)."""
    site, _ = sites
    store, backend = catalogue
    html = "text/html; charset=utf-8"
    site.add("/", page('<a href="/data/budget.html">b</a><a href="/data/parkings.html">p</a>'), html)
    site.add("/data/budget.html", page(FLAT_RDFA), html)
    site.add("/data/parkings.html", page("", jsonld(GRAPH)), html)
    [result] = harvest(config_for(site.url("/")), store, backend)
    assert result.status == "complete", result.message
    budget = store.record(record_id("web", site.url("/data/budget.html")))["dataset"]
    assert budget.distributions[0].download_url == [site.url("/files/budget.pdf")]
    assert budget.distributions[0].format == f"{EU}file-type/PDF"
    assert budget.publisher.name[0].value == "Ville" and budget.publisher.type == "Organization"
    parkings = store.record(record_id("web", site.url("/data/parkings.html")))["dataset"]
    assert [d.download_url for d in parkings.distributions] == [
        [site.url("/files/parkings.csv")],
        [site.url("/files/parkings.json")],
    ]
    assert parkings.publisher.name[0].value == "Ville de Testville"
    assert parkings.publisher.homepage == site.url("/")
    assert parkings.original_uri == site.url("/data/parkings.html") + "#ds"
    schools = store.record(record_id("web", site.url("/data/parkings.html") + "#2"))["dataset"]
    assert schools.distributions[0].access_url == [site.url("/data/ecoles.xlsx")]
    assert store.count("web") == 2 + 1
    [again] = harvest(config_for(site.url("/")), store, backend)
    assert again.status == "complete" and again.counts["updated"] == 0 and again.counts["unchanged"] == 3


def test_mapping_is_pure_and_reads_the_stored_payload():
    payload = json.dumps({"page": "https://ville.example/p", "dataset": AIR}).encode()
    mapped = mapping_for("website")(
        payload, "https://fedcat.example/datasets/x", SourceContext("w", "https://ville.example/")
    )
    assert mapped.title[0].value == "Qualité de l'air" and mapped.landing_page == ["https://ville.example/p"]


def test_caps_end_the_run_as_partial_and_withdraw_nothing(sites, catalogue):
    site, other = sites
    store, backend = catalogue
    expected = website(site, other)
    [first] = harvest(config_for(site.url("/")), store, backend)
    assert first.status == "complete", first.message
    before = store.count("web")
    # the trees page disappears, a 10 MB page and a page that drips appear: the run cannot be complete
    del site.routes["/trees.html"]
    links = '<a href="/big.html">b</a><a href="/drip.html">d</a>'
    home = site.routes["/"].body.replace(b"</body>", links.encode() + b"</body>")
    site.add("/", home, "text/html")
    site.add("/big.html", page("x" * (10 * 1024 * 1024)), "text/html")
    site.routes["/drip.html"] = Reply(
        content_type="text/html", chunks=lambda: (b"<html>" for _ in range(100)), chunk_delay=0.5
    )
    [second] = harvest(config_for(site.url("/"), max_page_bytes=1024 * 1024, page_timeout=2), store, backend)
    assert second.status == "partial"
    assert "big.html" in second.message and "drip.html" in second.message
    assert second.counts["withdrawn"] == 0
    trees = store.record(record_id("web", site.url("/trees.html")))
    assert trees is not None and trees["withdrawn_at"] is None
    assert store.count("web") == before == len(expected) - 1  # (the sitemap's page was not asked for)


def test_page_and_depth_caps_make_the_run_partial(sites, catalogue):
    site, other = sites
    store, backend = catalogue
    website(site, other)
    [capped] = harvest(config_for(site.url("/"), max_pages=3), store, backend)
    assert capped.status == "partial" and "page cap (3)" in capped.message
    [shallow] = harvest(config_for(site.url("/"), max_depth=1), store, backend)
    assert shallow.status == "partial" and "depth cap (1)" in shallow.message
    assert not site.requests_to("/loop2.html")  # two links away from the start page


def test_discover_proposes_the_portal_and_the_dcat_file_a_website_links_to(sites):
    site, portal = sites
    html = "text/html"
    portal.add("/explore/dataset/velos/", page("Opendatasoft"), html)
    portal.add(
        "/api/explore/v2.1/catalog/datasets?limit=1", '{"total_count": 0, "results": []}', "application/json"
    )
    site.add("/catalogue.ttl", "<https://x.example/d> a <http://www.w3.org/ns/dcat#Dataset> .", "text/turtle")
    site.add(
        "/",
        page(
            '<a href="/open-data.html">données</a>',
            '<link rel="alternate" type="text/turtle" href="/catalogue.ttl">',
        ),
        html,
    )
    site.add(
        "/open-data.html",
        page(f'<a href="{portal.url("/explore/dataset/velos/")}">vélos</a><a href="/about.html">x</a>'),
        html,
    )
    site.add("/about.html", page("", jsonld(dataset("Budget"))), html)
    status, out = run_cli(["discover", site.url("/"), "--format", "yaml"])
    assert status == 0, out
    entries = {(e["type"], e["url"]) for e in yaml.safe_load(out)["sources"]}
    assert entries == {
        ("opendatasoft", portal.base_url),
        ("dcat", site.url("/catalogue.ttl")),
        ("website", site.url("/")),  # its own pages carry a schema.org Dataset
    }
    # proposed, not crawled: one probe of its API (after its robots.txt)
    assert {r.path for r in portal.log} == {"/robots.txt", "/api/explore/v2.1/catalog/datasets"}
    status, out = run_cli(["discover", site.url("/"), "--format", "json"])
    evidence = {s["type"]: (s["confirmed"], s["probe"]) for s in json.loads(out)[0]["sources"]}
    assert evidence["opendatasoft"] == (True, "Opendatasoft Explore API v2.1 answered (0 datasets)")
    assert evidence["dcat"] == (True, "an RDF document using the DCAT vocabulary")


def test_discover_refuses_what_is_not_a_web_address(capsys):
    status, err = run_cli(["discover", "file:///etc/passwd"])
    assert status != 0 and "is not an http(s) address" in err


def run_cli(argv: list[str]) -> tuple[int, str]:
    """`fedcat ARGV` in its own process: (exit status, stdout and stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "fedcat", *argv], capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("link", "media_type", "expected"),
    [
        ("https://data.mel.fr/explore/dataset/velos/table/", None, ("opendatasoft", "https://data.mel.fr")),
        ("https://www.data.gouv.fr/fr/datasets/base-sirene/", None, ("udata", "https://www.data.gouv.fr")),
        (
            "https://ckan.example.org/catalog/dataset/arbres",
            None,
            ("ckan", "https://ckan.example.org/catalog"),
        ),
        (
            "https://geo.example.fr/geonetwork/srv/fre/catalog.search",
            None,
            ("csw", "https://geo.example.fr/geonetwork/srv/eng/csw"),
        ),
        (
            "https://ville.hub.arcgis.com/datasets/abc",
            None,
            ("datajson", "https://ville.hub.arcgis.com/data.json"),
        ),
        (
            "https://data.cityofchicago.org/d/ijzp-q8t2",
            None,
            ("datajson", "https://data.cityofchicago.org/data.json"),
        ),
        ("https://example.gov/data.json", None, ("datajson", "https://example.gov/data.json")),
        (
            "https://ville.fr/export/metadata",
            "application/rdf+xml",
            ("dcat", "https://ville.fr/export/metadata"),
        ),
        ("https://ville.fr/dcat/catalog.ttl", None, ("dcat", "https://ville.fr/dcat/catalog.ttl")),
        ("https://ville.fr/actualites/piscine", None, None),
        ("https://ville.fr/photo.rdf", None, None),  # an RDF file that names no catalogue
        ("file:///srv/catalog.ttl", "text/turtle", None),
    ],
)
def test_links_name_the_platform_and_url_to_harvest(link, media_type, expected):
    found = classify(link, media_type)
    assert (found["type"], found["url"]) == expected if expected else found is None


def test_a_redirect_off_the_site_is_not_followed(sites, catalogue):
    site, other = sites
    store, backend = catalogue
    other.add("/trap.html", page("", jsonld(dataset("Piège"))), "text/html")
    site.add("/", page('<a href="/go">go</a>'), "text/html")
    site.add("/go", "", "text/html", status=302, headers={"Location": other.url("/trap.html")})
    site.add("/robots.txt", "", "text/plain")
    [result] = harvest(config_for(site.url("/")), store, backend)
    assert other.log == [] and store.count("web") == 0
    assert result.status == "complete", result.message


def test_discover_bodies_crawls_each_body_website_and_attributes_what_it_finds(sites, tmp_path):
    site, portal = sites
    portal.add("/explore/dataset/velos/", page("Opendatasoft"), "text/html")
    site.add("/", page(f'<a href="{portal.url("/explore/")}">open data</a>'), "text/html")
    bodies = tmp_path / "bodies.csv"
    bodies.write_text(
        "id,name,kind,website\n"
        f"commune:59350,Lille,commune,{site.url('/')}\n"
        "commune:59009,Villeneuve-d'Ascq,commune,\n"
    )
    status, out = run_cli(["discover", "--bodies", str(bodies), "--format", "yaml"])
    assert status == 0, out
    [entry] = yaml.safe_load(out)["sources"]
    assert (entry["type"], entry["url"]) == ("opendatasoft", portal.base_url)
    assert entry["jurisdiction"] == {"level": "commune", "code": "59350"}
    status, out = run_cli(["discover", "--bodies", str(bodies)])
    assert status == 0 and "Lille (commune:59350)" in out and portal.base_url in out


def test_a_body_website_that_is_not_a_web_address_is_reported(tmp_path):
    bodies = tmp_path / "bodies.csv"
    bodies.write_text("id,name,kind,website\ncommune:59350,Lille,commune,ftp://lille.fr\n")
    status, out = run_cli(["discover", "--bodies", str(bodies)])
    assert status != 0 and "`website` must be an http(s) address" in out


def test_the_audit_tells_a_portal_not_harvested_yet_from_no_evidence(sites, tmp_path):
    site, portal = sites
    portal.add("/explore/dataset/velos/", page("Opendatasoft"), "text/html")
    site.add("/catalogue.ttl", "", "text/turtle")
    site.add(
        "/",
        page(f'<a href="{portal.url("/explore/")}">open data</a><a href="/catalogue.ttl">DCAT catalog</a>'),
        "text/html",
    )
    bodies = tmp_path / "bodies.csv"
    bodies.write_text(
        f"id,name,kind,population,website\ncommune:59350,Lille,commune,236000,{site.url('/')}\n"
        "commune:59009,Villeneuve-d'Ascq,commune,62000,\n"
    )
    config = tmp_path / "sources.yaml"
    config.write_text(
        "sources:\n  - {id: lille, name: Lille, type: dcat, url: '" + site.url("/catalogue.ttl") + "',"
        " jurisdiction: {level: commune, code: '59350'}}\n"
    )
    status, found = run_cli(["discover", "--bodies", str(bodies), "--format", "json"])
    assert status == 0, found
    discovered = tmp_path / "found.json"
    discovered.write_text(found)
    where = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    run_cli(["harvest", *where])  # the store the audit reads (its catalogue is empty)
    where += ["--bodies", str(bodies)]
    status, out = run_cli(["audit", *where, "--discovered", str(discovered), "--format", "json"])
    assert status == 0, out
    rows = {r["id"]: r for r in json.loads(out)["items"]}
    places = {(p["type"], p["url"], p["harvested"]) for p in rows["commune:59350"]["publishes_on"]}
    assert places == {("opendatasoft", portal.base_url, False), ("dcat", site.url("/catalogue.ttl"), True)}
    assert rows["commune:59009"]["publishes_on"] == []  # no evidence anywhere
    status, out = run_cli(["audit", *where, "--discovered", str(discovered)])
    assert status == 0 and "does not harvest yet" in out and portal.base_url in out


def test_saved_discoveries_say_where_each_body_publishes_in_the_api(sites, catalogue, tmp_path):
    from fastapi.testclient import TestClient
    from fedcat.api.app import create_app

    site, portal = sites
    store, backend = catalogue
    html = "text/html"
    portal.add("/explore/dataset/velos/", page("Opendatasoft"), html)
    portal.add(
        "/api/explore/v2.1/catalog/datasets?limit=1", '{"total_count": 3, "results": []}', "application/json"
    )
    # a CKAN-looking link whose API does not answer: proposed on its URL pattern only
    ckan_link = f'<a href="{site.url("/ckan/dataset/arbres")}">arbres</a>'
    site.add("/", page(f'<a href="{portal.url("/explore/")}">open data</a>{ckan_link}'), html)
    site.add("/vda/", page("Rien ici"), html)
    bodies = tmp_path / "bodies.csv"
    bodies.write_text(
        "id,name,kind,population,website\n"
        f"commune:59350,Lille,commune,236000,{site.url('/')}\n"
        f"commune:59009,Villeneuve-d'Ascq,commune,62000,{site.url('/vda/')}\n"
        "commune:59512,Roubaix,commune,98000,\n"
    )
    saved = ["discover", "--bodies", str(bodies), "--save", "--data-dir", str(tmp_path), "--format", "json"]
    status, out = run_cli(saved)
    assert status == 0, out
    config = parse_config({"settings": {"bodies": [str(bodies)]}, "sources": []})
    client = TestClient(create_app(store, backend, config))

    def audit() -> tuple[dict, dict[str, dict]]:
        answer = client.get("/api/audit")
        assert answer.status_code == 200, answer.text
        return answer.json()["summary"], {r["id"]: r for r in answer.json()["items"]}

    summary, rows = audit()
    lille = rows["commune:59350"]
    assert lille["publication"] == "not_harvested_yet" and summary["not_harvested_yet"] == 1
    places = {(p["type"], p["url"], p["harvested"], p["confirmed"]) for p in lille["publishes_on"]}
    assert places == {
        ("opendatasoft", portal.base_url, False, True),
        ("ckan", site.url("/ckan"), False, False),
    }
    ods = next(p for p in lille["publishes_on"] if p["type"] == "opendatasoft")
    assert ods["probe"] == "Opendatasoft Explore API v2.1 answered (3 datasets)"
    assert ods["found_on"] == site.url("/") and ods["found_at"][:4].isdigit()
    assert ods["entry"]["type"] == "opendatasoft" and ods["entry"]["url"] == portal.base_url
    assert ods["entry"]["jurisdiction"] == {"level": "commune", "code": "59350"}
    # looked at, nothing found / never looked at: both "no evidence", told apart by the crawl
    assert rows["commune:59009"]["publication"] == "no_evidence"
    assert rows["commune:59009"]["website_crawl"]["website"] == site.url("/vda/")
    assert rows["commune:59009"]["website_crawl"]["complete"] is True
    assert rows["commune:59512"]["publication"] == "no_evidence"
    assert rows["commune:59512"]["website_crawl"] is None
    waiting = client.get("/api/audit", params={"publication": "not_harvested_yet"}).json()
    assert [r["id"] for r in waiting["items"]] == ["commune:59350"] and waiting["summary"]["bodies"] == 1
    refused = client.get("/api/audit", params={"publication": "elsewhere"})
    assert refused.status_code == 400 and "not_harvested_yet" in refused.text

    # the site drops its portal link: a complete crawl no longer claims it (the cached report follows)
    site.add("/", page(ckan_link), html)
    status, out = run_cli(saved)
    assert status == 0, out
    _summary, rows = audit()
    assert [p["type"] for p in rows["commune:59350"]["publishes_on"]] == ["ckan"]

    # the CLI audit reads the same store
    config_file = tmp_path / "sources.yaml"
    config_file.write_text("sources: []\n")
    where = ["--config", str(config_file), "--data-dir", str(tmp_path), "--bodies", str(bodies)]
    status, out = run_cli(["audit", *where])
    assert status == 0 and "does not harvest yet" in out and site.url("/ckan") in out
    assert "pattern only" in out
    status, out = run_cli(["audit", *where, "--publication", "no_evidence", "--format", "json"])
    assert status == 0 and {r["id"] for r in json.loads(out)["items"]} == {"commune:59009", "commune:59512"}
    status, out = run_cli(["audit", *where, "--publication", "elsewhere"])
    assert status == 2 and "no publication 'elsewhere'" in out


def test_a_capped_crawl_adds_to_what_was_found_and_a_complete_one_replaces_it(catalogue):
    from fedcat.store import discovery

    store, _backend = catalogue
    site = "https://ville.example/"

    def crawl(complete: bool, *urls: str) -> list[str]:
        sources = [{"type": "ckan", "url": url, "found_on": site} for url in urls]
        discovery.save(store, "commune:59350", {"url": site, "complete": complete, "sources": sources})
        return [p["url"] for p in discovery.found_by_body(store)["commune:59350"]]

    first = crawl(True, "https://a.example", "https://b.example")
    found_at = discovery.found_by_body(store)["commune:59350"][0]["found_at"]
    assert first == ["https://a.example", "https://b.example"]
    assert crawl(False, "https://c.example") == [*first, "https://c.example"]  # cut short: nothing forgotten
    assert crawl(True, "https://a.example") == ["https://a.example"]  # a full look: what the site links to
    assert discovery.found_by_body(store)["commune:59350"][0]["found_at"] == found_at  # first found, kept
    assert discovery.crawls_by_body(store)["commune:59350"]["complete"] is True


@pytest.mark.parametrize(
    ("kind", "url", "media_type", "body", "asked", "confirmed"),
    [
        ("opendatasoft", "https://data.mel.fr", "application/json", b'{"total_count": 12, "results": []}',
         "https://data.mel.fr/api/explore/v2.1/catalog/datasets?limit=1", True),
        ("opendatasoft", "https://data.mel.fr", "text/html", b"<!doctype html><p>Accueil</p>",
         "https://data.mel.fr/api/explore/v2.1/catalog/datasets?limit=1", False),
        ("udata", "https://www.data.gouv.fr", "application/json", b'{"id": "x", "title": "data.gouv.fr"}',
         "https://www.data.gouv.fr/api/1/site/", True),
        ("ckan", "https://ckan.example.org/catalog", "application/json",
         b'{"success": true, "result": {"ckan_version": "2.10.4"}}',
         "https://ckan.example.org/catalog/api/3/action/status_show", True),
        ("ckan", "https://ckan.example.org/catalog", "application/json", b'{"success": false}',
         "https://ckan.example.org/catalog/api/3/action/status_show", False),
        ("csw", "https://geo.example.fr/geonetwork/srv/eng/csw", "application/xml",
         b'<csw:Capabilities xmlns:csw="http://www.opengis.net/cat/csw/2.0.2"/>',
         "https://geo.example.fr/geonetwork/srv/eng/csw?service=CSW&request=GetCapabilities&version=2.0.2", True),
        ("datajson", "https://example.gov/data.json", "application/json", b'{"dataset": [{}, {}]}',
         "https://example.gov/data.json", True),
        ("datajson", "https://example.gov/data.json", "application/json", b"[1, 2",
         "https://example.gov/data.json", False),
        ("dcat", "https://ville.fr/dcat/catalog.ttl", "text/turtle",
         b"<a> <http://www.w3.org/ns/dcat#dataset> <b> .", "https://ville.fr/dcat/catalog.ttl", True),
    ],
)  # fmt: skip
def test_a_proposed_portal_is_confirmed_only_by_its_platform_answer(
    kind, url, media_type, body, asked, confirmed
):
    from fedcat.harvester.discovery import probe_request, probe_says

    found = {"type": kind, "url": url}
    assert probe_request(found)[0] == asked
    assert probe_says(found, media_type, body)[0] is confirmed
    assert probe_request({"type": "website", "url": url}) is None  # its crawl confirms a website


# --- the address rule at connect time, as harvester/http.py applies it ---------------------------------------


def private_crawl(allowed: list[str], **settings) -> tuple:
    """A website source on 127.0.0.1 whose start page links to a host it allows on 127.0.0.2."""
    source = {
        "id": "web",
        "name": "Ville",
        "type": "website",
        "allowed_hosts": allowed,
        "options": FAST,
    }
    return source, {"contact": "open@example.org", **settings}


def site_linking_inside(site: PortalServer, inside: PortalServer) -> tuple[dict, dict]:
    """A public-looking site whose home page links to a page of its own and to one on 127.0.0.2 (a host
    the source allows), and the crawl source of that site."""
    html = "text/html"
    inside.add("/inside.html", page("", jsonld(dataset("Dedans"))), html)
    site.add("/robots.txt", "", "text/plain")
    site.add("/", page(f'<a href="/air.html">a</a><a href="{inside.url("/inside.html")}">i</a>'), html)
    site.add("/air.html", page("", jsonld(dataset("Air"))), html)
    source, settings = private_crawl(["127.0.0.2"])
    source["url"] = site.url("/")
    return source, settings


def test_a_website_allowing_another_private_host_never_reaches_it(catalogue):
    store, backend = catalogue
    with PortalServer() as site, PortalServer(host="127.0.0.2") as inside:
        source, settings = site_linking_inside(site, inside)
        [result] = harvest(parse_config({"settings": settings, "sources": [source]}), store, backend)
        assert inside.log == []  # not a request, robots.txt included
        assert result.status == "partial" and result.counts["withdrawn"] == 0
        assert "127.0.0.2" in result.message and "other than the source's own" in result.message
        assert store.record(record_id("web", site.url("/air.html")))["dataset"].title[0].value == "Air"
        # the operator lists the network: the same crawl reaches it
        settings["private_networks"] = ["127.0.0.2/32"]
        [listed] = harvest(parse_config({"settings": settings, "sources": [source]}), store, backend)
        assert listed.status == "complete", listed.message
        assert (
            store.record(record_id("web", inside.url("/inside.html")))["dataset"].title[0].value == "Dedans"
        )


def test_a_crawl_through_a_proxy_never_hands_it_a_private_destination(catalogue, monkeypatch):
    from forward_proxy import ForwardProxy, use_only

    store, backend = catalogue
    with ForwardProxy() as proxy, PortalServer() as site, PortalServer(host="127.0.0.2") as inside:
        use_only(proxy, monkeypatch)  # read by the crawl process's HttpProxyMiddleware
        source, settings = site_linking_inside(site, inside)
        [result] = harvest(parse_config({"settings": settings, "sources": [source]}), store, backend)
        assert site.url("/air.html") in proxy.asked  # the crawl went through the proxy
        assert proxy.asked_for("127.0.0.2") == [] and inside.log == []
        assert result.status == "partial" and "not handed to the proxy" in result.message
        assert store.record(record_id("web", site.url("/air.html"))) is not None


# The crawl runs in a process of its own, whose DNS answers come from the operating system; as in
# tests/test_http.py, made-up names under .rebind.test answer a public address to their first look-up and
# 127.0.0.1 afterwards (DNS rebinding), here through a sitecustomize module on the crawl process's path.
REBINDING_DNS = """
import socket

_real, _asked = socket.getaddrinfo, set()


def _getaddrinfo(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else str(host)
    if not name.endswith(".rebind.test"):
        return _real(host, port, *args, **kwargs)
    address = "127.0.0.1" if name in _asked else "93.184.216.34"
    _asked.add(name)
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]


def _gethostbyname(host):
    return _getaddrinfo(host, 0)[0][4][0] if str(host).endswith(".rebind.test") else _real_byname(host)


_real_byname = socket.gethostbyname
socket.getaddrinfo, socket.gethostbyname = _getaddrinfo, _gethostbyname
"""


@pytest.fixture
def rebinding(tmp_path, monkeypatch):
    folder = tmp_path / "dns"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(REBINDING_DNS)
    monkeypatch.setenv("PYTHONPATH", str(folder))


def test_a_website_whose_name_rebinds_to_loopback_is_never_crawled(sites, catalogue, rebinding):
    site, other = sites
    store, backend = catalogue
    website(site, other)
    url = f"http://portal.rebind.test:{site.httpd.server_address[1]}/"
    [result] = harvest(config_for(url), store, backend)
    assert site.log == []  # refused at connect time: not even robots.txt
    assert result.status == "partial" and "resolved to 127.0.0.1" in result.message
    # `fedcat discover` crawls the same way
    report = discover(url, "fedcat-test", probes=False, delay=0, budget=30)
    assert site.log == []
    assert not report["complete"] and any("resolved to 127.0.0.1" in r for r in report["reasons"])
