"""Fault injection: a local portal that fails in the ways public portals do, over real HTTP on 127.0.0.1.

Each scenario harvests a healthy catalogue once, breaks the portal, harvests again and checks three things:
the run's status, an error message that says what happened, and that no record was lost or wrongly withdrawn
(the live records and the search index are exactly those of the healthy run). Timeouts, retries and budgets
are set short through the settings so that the whole matrix runs in seconds.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

import pytest
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.adapters import ADAPTERS
from fedcat.harvester.adapters.dcat import DcatAdapter
from fedcat.harvester.run import RunResult, harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.mappings import from_rdf
from fedcat.mappings.registry import MAPPINGS
from fedcat.store import Store

FAST = {"connect_timeout": 1, "read_timeout": 0.5, "retries": 1, "backoff": 0.01, "run_budget": 8}
PAGES = 5  # the city catalogue: 14 datasets, 3 a page
MB = 1024 * 1024


def run(store, backend, *sources: dict, full: bool = False, **http) -> RunResult:
    config = parse_config({"settings": {"http": {**FAST, **http}}, "sources": list(sources)})
    [result] = harvest(config, store, backend, full=full)
    return result


# --- the portals ---------------------------------------------------------------------------------------


class City:
    """A DCAT (Turtle, Hydra-paged) catalogue of 14 datasets in 5 pages: /ville/catalog.ttl?page=N."""

    def __init__(self, portal: PortalServer, source_type: str = "dcat") -> None:
        self.portal = portal
        self.base = portal.url("/ville")
        self.datasets = city_datasets(self.base)
        self.pages = hydra_pages(self.datasets, self.base + "/catalog.ttl?page=%d", 3)
        assert len(self.pages) == PAGES
        for number, body in self.pages.items():
            portal.add(f"/ville/catalog.ttl?page={number}", body)
        self.source = {"id": "ville", "name": "Ville", "type": source_type, "url": self.page_url(1)}

    def page_url(self, number: int) -> str:
        return f"{self.base}/catalog.ttl?page={number}"

    def path(self, number: int) -> str:
        return f"/ville/catalog.ttl?page={number}"

    def fault(self, number: int, reply: Reply) -> None:
        self.portal.routes[self.path(number)] = reply

    def requested(self, number: int) -> int:
        return sum(
            1
            for r in self.portal.log
            if r.path == "/ville/catalog.ttl" and r.query.get("page") == [str(number)]
        )


class Udata:
    """A udata /api/1/datasets/ listing of 12 small datasets, 4 a page, with per-page faults."""

    def __init__(self, portal: PortalServer, count: int = 12) -> None:
        self.portal = portal
        self.root = portal.url("/udata")
        self.items = [
            {
                "id": f"ds{i:03d}",
                "title": f"Jeu de données {i}",
                "description": f"Description du jeu {i}",
                "resources": [],
                "tags": [],
            }
            for i in range(count)
        ]
        self.faults: dict[int, Reply] = {}
        self.next_links: dict[int, str] = {}
        portal.handle("/udata/api/1/datasets/", self)
        self.source = {
            "id": "udata",
            "name": "udata",
            "type": "udata",
            "url": self.root,
            "options": {"page_size": 4},
        }

    def __call__(self, request: Request) -> Reply:
        page, size = int(request.query["page"][0]), int(request.query["page_size"][0])
        if page in self.faults:
            return self.faults[page]
        chunk = self.items[(page - 1) * size : page * size]
        more = page * size < len(self.items)
        body = {
            "data": chunk,
            "page": page,
            "page_size": size,
            "total": len(self.items),
            "next_page": f"{self.root}/api/1/datasets/?{urlencode({'page': page + 1, 'page_size': size})}"
            if more
            else None,
        }
        if page in self.next_links:
            body["next_page"] = self.next_links[page]
        return Reply(json.dumps(body).encode(), "application/json")


@dataclass
class Healthy:
    """What the healthy run left: the live ids, and the index holds exactly them."""

    store: Store
    backend: EmbeddedBackend
    source_id: str
    ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ids = self.store.live_ids()
        assert self.ids and self.backend.ids() == self.ids

    def check_nothing_lost(self, result: RunResult) -> None:
        assert result.counts["withdrawn"] == 0
        assert self.store.live_ids() == self.ids, "a record was lost or withdrawn"
        assert self.backend.ids() == self.ids, "the index no longer matches the store"


def healthy_city(portal, catalogue, source_type: str = "dcat") -> tuple[City, Healthy]:
    store, backend = catalogue
    city = City(portal, source_type)
    first = run(store, backend, city.source)
    assert first.status == "complete", first.message
    assert store.count("ville") == len(city.datasets)
    return city, Healthy(store, backend, "ville")


def healthy_udata(portal, catalogue) -> tuple[Udata, Healthy]:
    store, backend = catalogue
    udata = Udata(portal)
    first = run(store, backend, udata.source)
    assert first.status == "complete", first.message
    assert store.count("udata") == len(udata.items)
    return udata, Healthy(store, backend, "udata")


# --- the matrix: one broken page of the DCAT catalogue -----------------------------------------------------


def truncated_turtle(body: bytes) -> bytes:
    """The page cut in the middle of a statement (a cut between statements would be valid Turtle)."""
    cut = body.index(b"<http", len(body) // 2) + 10
    return body[:cut]


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'rdf:about="http://x/a"><rdf:value>&lol9;</rdf:value></rdf:Description></rdf:RDF>'
)
XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'rdf:about="http://x/a"><rdf:value>&xxe;</rdf:value></rdf:Description></rdf:RDF>'
)


@cache
def gzip_bomb(decoded: int = 256 * MB) -> bytes:
    """`decoded` bytes of zeros, gzip-compressed (~1/1000 of the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MB)
    return b"".join(compressor.compress(zeros) for _ in range(decoded // MB)) + compressor.flush()


def bomb_reply() -> Reply:
    bomb = gzip_bomb()  # compressed here, not while the client waits for the answer
    return Reply(
        content_type="text/turtle", headers={"Content-Encoding": "gzip"}, chunks=lambda: iter([bomb])
    )


def endless(chunk: bytes, total: int) -> Callable[[], Iterator[bytes]]:
    return lambda: (chunk for _ in range(total // len(chunk)))


@dataclass(frozen=True)
class Fault:
    page: int
    reply: Callable[[City], Reply]
    status: str
    message: str
    http: dict[str, Any] = field(default_factory=dict)
    full: bool = False  # no conditional GET (a body as before would get a 304)


DCAT_FAULTS = {
    "http-500-on-page-3-of-5": Fault(3, lambda c: Reply(b"oops", status=500), "partial", "HTTP 500"),
    "timeout": Fault(2, lambda c: Reply(c.pages[2], "text/turtle", delay=1.5), "partial", "timed out"),
    "connection-reset-mid-body": Fault(
        2,
        lambda c: Reply(c.pages[2], "text/turtle", reset_after=len(c.pages[2]) // 2),
        "partial",
        "connection broken after",
    ),
    "truncated-turtle": Fault(
        4, lambda c: Reply(truncated_turtle(c.pages[4]), "text/turtle"), "partial", "not valid Turtle"
    ),
    "html-error-page-with-200": Fault(
        2,
        lambda c: Reply(b"<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>", "text/html"),
        "partial",
        "got an HTML page, not RDF",
    ),
    "wrong-content-type": Fault(  # Turtle announced as RDF/XML: parsed as what it claims, and refused
        2, lambda c: Reply(c.pages[2], "application/rdf+xml"), "partial", "not well-formed XML", full=True
    ),
    "429-beyond-the-budget": Fault(  # Retry-After longer than the run may last: give up now, say why
        2,
        lambda c: Reply(b"slow down", status=429, headers={"Retry-After": "3600"}),
        "partial",
        "time budget ran out while waiting to retry",
    ),
    "redirect-loop": Fault(
        2,
        lambda c: Reply(b"", status=302, headers={"Location": c.path(2)}),
        "partial",
        "more than 5 redirects",
    ),
    "1-gb-body-without-length": Fault(
        2,
        lambda c: Reply(content_type="text/turtle", chunks=endless(b"#" * MB, 1024 * MB)),
        "partial",
        "body over the 2097152-byte cap",
        {"max_bytes": 2 * MB},
    ),
    "1-gb-announced": Fault(
        2,
        lambda c: Reply(
            raw=True,
            chunks=lambda: iter(
                [b"HTTP/1.1 200 OK\r\nContent-Type: text/turtle\r\nContent-Length: 1073741824\r\n\r\n# start"]
            ),
        ),
        "partial",
        "1073741824 bytes announced, over the 2097152 cap",
        {"max_bytes": 2 * MB},
    ),
    "gzip-bomb": Fault(
        2,
        lambda c: bomb_reply(),
        "partial",
        "body over the 2097152-byte cap",
        {"max_bytes": 2 * MB},
    ),
    "xml-bomb": Fault(2, lambda c: Reply(BILLION_LAUGHS, "application/rdf+xml"), "partial", "entity bomb"),
    "xxe": Fault(2, lambda c: Reply(XXE, "application/rdf+xml"), "partial", "XXE"),
    "500-on-the-first-page": Fault(1, lambda c: Reply(b"down", status=503), "failed", "HTTP 503"),
}


@pytest.mark.parametrize("name", list(DCAT_FAULTS))
def test_dcat_fault_matrix(portal, catalogue, name):
    fault = DCAT_FAULTS[name]
    city, healthy = healthy_city(portal, catalogue)
    city.fault(fault.page, fault.reply(city))
    started = time.monotonic()
    result = run(*catalogue, city.source, full=fault.full, **fault.http)
    assert result.status == fault.status, result.message
    assert fault.message in (result.message or "")
    assert city.page_url(fault.page) in result.message  # which page
    assert result.counts["pages"] == fault.page - 1  # every page before the broken one was read
    healthy.check_nothing_lost(result)
    run_row = catalogue[0].run(result.run_id)
    assert run_row["status"] == fault.status and run_row["message"] == result.message
    assert time.monotonic() - started < 15


def test_wrong_but_harmless_content_type_is_sniffed(portal, catalogue):
    """Turtle served as text/plain (common): read by its content; the run completes."""
    city, healthy = healthy_city(portal, catalogue)
    for number, body in city.pages.items():
        city.fault(number, Reply(body, "text/plain"))
    result = run(*catalogue, city.source, full=True)
    assert result.status == "complete", result.message
    assert result.counts["unchanged"] == len(city.datasets)
    healthy.check_nothing_lost(result)


def test_429_with_retry_after_is_waited_for(portal, catalogue):
    city, healthy = healthy_city(portal, catalogue)
    asked: list[float] = []
    body = city.pages[2]
    portal.routes.pop(city.path(2))

    def limited(request: Request) -> Reply | None:
        if request.query.get("page") != ["2"]:
            return None
        asked.append(time.monotonic())
        if len(asked) == 1:
            return Reply(b"too many requests", status=429, headers={"Retry-After": "1"})
        return Reply(body, "text/turtle")

    portal.handle("/ville/catalog.ttl", limited)
    result = run(*catalogue, city.source, full=True, backoff=5)
    assert result.status == "complete", result.message
    assert len(asked) == 2
    # Retry-After: 1 s, with jitter (0.5-1.5x), not the 5 s backoff
    assert 0.45 <= asked[1] - asked[0] <= 2.0
    healthy.check_nothing_lost(result)


@pytest.mark.parametrize("where", ["body", "headers"])
def test_slow_drip_cannot_outlast_the_run_budget(portal, catalogue, where):
    """A byte a second never trips the read timeout; the run's budget still ends the run on time."""
    city, healthy = healthy_city(portal, catalogue)
    if where == "body":
        drip = Reply(content_type="text/turtle", chunks=endless(b"#", 10**6), chunk_delay=1.0)
    else:
        head = [b"HTTP/1.1 200 OK\r\n", b"X-Drip: "]
        drip = Reply(raw=True, chunks=lambda: iter(head + [b"a"] * 10**6), chunk_delay=1.0)
    city.fault(2, drip)
    started = time.monotonic()
    result = run(*catalogue, city.source, read_timeout=5, run_budget=2.5)
    elapsed = time.monotonic() - started
    assert result.status == "partial", result.message
    assert "time budget ran out" in result.message
    assert elapsed < 2.5 + 2.0, f"the drip held the run {elapsed:.1f} s"
    healthy.check_nothing_lost(result)


# --- JSON portals: invalid JSON, next links, a catalogue that empties --------------------------------------


def test_invalid_json_on_a_later_page(portal, catalogue):
    udata, healthy = healthy_udata(portal, catalogue)
    udata.faults[2] = Reply(b'{"data": [{"id": "ds004", "title": ', "application/json")
    result = run(*catalogue, udata.source)
    assert result.status == "partial"
    assert "not valid JSON" in result.message and "page=2" in result.message
    assert result.counts["pages"] == 1
    healthy.check_nothing_lost(result)


@pytest.mark.parametrize(
    "target",
    [
        "http://portal.example.org/api/1/datasets/?page=2&page_size=4",
        "http://169.254.169.254/latest/meta-data/?page=2",
        "http://[fd00::1]/api/1/datasets/?page=2",
    ],
)
def test_next_link_leaving_the_origin_is_not_followed(portal, catalogue, target):
    udata, healthy = healthy_udata(portal, catalogue)
    before = len(portal.log)
    udata.next_links[1] = target
    result = run(*catalogue, udata.source)
    assert result.status == "partial"
    assert f"refused {target!r}: it leaves the source's origin" in result.message
    assert len(portal.log) == before + 1  # page 1 only; nothing was asked of the other address
    healthy.check_nothing_lost(result)


def test_portal_suddenly_empty_is_a_refused_mass_withdrawal(portal, catalogue):
    udata, healthy = healthy_udata(portal, catalogue)
    udata.items.clear()
    result = run(*catalogue, udata.source)
    assert result.status == "partial"
    assert "refused to withdraw 12 of 12 records" in result.message
    healthy.check_nothing_lost(result)


# --- a dataset whose mapping raises ---------------------------------------------------------------------


class RaisingDcat(DcatAdapter):
    """Test-only: the DCAT adapter under a type whose mapping raises for one dataset (the tree cadastre)."""

    type = "dcat-raising"


def raising_mapping(payload, uri, source, parsed=None):
    dataset = from_rdf.map_record(payload, uri, source, parsed)
    if any("Arbres" in t.value for t in dataset.title):
        raise ValueError("mapping failed on purpose")
    return dataset


@pytest.fixture
def raising_adapter(monkeypatch):
    monkeypatch.setitem(ADAPTERS, RaisingDcat.type, RaisingDcat)
    monkeypatch.setitem(MAPPINGS, RaisingDcat.type, raising_mapping)


def test_a_dataset_whose_mapping_raises_is_reported_and_the_rest_stored(portal, catalogue, raising_adapter):
    store, backend = catalogue
    city = City(portal, "dcat-raising")
    result = run(store, backend, city.source)
    assert result.status == "complete", result.message
    assert (result.counts["failed"], result.counts["created"]) == (1, len(city.datasets) - 1)
    [error] = store.run(result.run_id)["errors"]
    assert error["error"] == "ValueError: mapping failed on purpose"
    assert error["source_record_id"].startswith(city.base) and error["url"].startswith(city.page_url(1)[:-1])
    assert store.count("ville") == len(city.datasets) - 1


def test_a_stored_dataset_whose_new_version_fails_to_map_stays_live(portal, catalogue, raising_adapter):
    city, healthy = healthy_city(portal, catalogue)
    # the tree cadastre changes at the source, and its new version cannot be mapped
    for number, body in city.pages.items():
        if b"Arbres" in body:
            city.fault(number, Reply(body.replace(b"Arbres", b"Arbres (mis \\u00e0 jour)"), "text/turtle"))
    result = run(*catalogue, {**city.source, "type": "dcat-raising"})
    assert result.status == "complete", result.message
    assert (result.counts["failed"], result.counts["withdrawn"]) == (1, 0)
    healthy.check_nothing_lost(result)


def test_robots_txt_disallowing_the_catalogue(portal, catalogue):
    """A source that asks for robots.txt to be obeyed, whose portal now disallows the catalogue."""
    city, healthy = healthy_city(portal, catalogue)
    portal.add("/robots.txt", "User-agent: *\nDisallow: /ville/\n", "text/plain")
    result = run(*catalogue, {**city.source, "options": {"respect_robots": True}})
    assert result.status == "failed"
    assert result.message == f"{city.page_url(1)}: disallowed for fedcat by {portal.base_url}/robots.txt"
    healthy.check_nothing_lost(result)
