"""`type: dcat` — a DCAT catalogue as Turtle, RDF/XML, JSON-LD or N-Triples, optionally Hydra-paged.

Each page is parsed on its own with pyoxigraph (streaming, ~20× faster than rdflib here: see bench/harvest.py)
and split into one record per `dcat:Dataset` and per stand-alone `dcat:DataService`: its description plus every
node it leads to that the page describes (distributions, publisher, contact point…), kept as N-Triples in the
page's order (`from_rdf.record_payload`: a re-map reads the values in the order the harvest did) and hashed in
their sorted form (a page that lists the same description in another order is not a change).

A large source (thousands of records still to come) gets a parsing process of its own (`PageWorker`): it
parses page n+1, maps its datasets and hashes and packs (compresses) their payloads while this process
stores and indexes page n, so a harvest uses two cores; what crosses the pipe is msgpack. Pages are
fetched here (the HTTP client, its politeness and its page cache stay in one place), one page ahead of
the one being stored; a failure fetching ahead is raised only once the page before is stored.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Generator, Iterator
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
import pyoxigraph
from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat

from ...config import SourceOptions
from ...mappings import from_rdf
from ...mappings.context import SourceContext
from ...mappings.from_rdf import Graph
from ...mappings.model import dataset_to_json
from ...mappings.namespaces import DCAT, DCT, HYDRA
from ...store import pack_payload, payload_hash
from ..encoding import UTF16_BOMS, as_utf8, legacy_as_utf8
from ..http import HarvestError, resolve
from ..jsonld import ContextLoader
from ..safety import check_json_depth, check_turtle_depth, check_xml
from ..workers import WorkerProcess, pack, serve_jobs
from . import rdfstore
from .base import Adapter, Page, RawRecord, Visited

log = logging.getLogger("fedcat.harvest")

ACCEPT = (
    "text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.9, application/n-triples;q=0.9, "
    "application/xml;q=0.5, */*;q=0.1"
)
FORMATS_BY_MEDIA_TYPE = {
    "text/turtle": RdfFormat.TURTLE,
    "application/x-turtle": RdfFormat.TURTLE,
    "text/n3": RdfFormat.N3,
    "application/n-triples": RdfFormat.N_TRIPLES,
    "application/rdf+xml": RdfFormat.RDF_XML,
    "application/ld+json": RdfFormat.JSON_LD,
    "application/trig": RdfFormat.TRIG,
    "application/n-quads": RdfFormat.N_QUADS,
}
NEXT_PAGE = (HYDRA + "next", HYDRA + "nextPage")
TOTAL = (HYDRA + "totalItems",)
NTRIPLES = "application/n-triples"
IRI_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '<>"{}|\\^`')  # escape spaces
WORKER_MIN_REMAINING = 5_000  # announced records still to come for a source to get a parsing process
WORKER_AFTER_PAGES = 3  # without an announced total: from this page on
REPLY_RECORDS = 200  # records per message from the parsing process


def detect_format(content: bytes, media_type: str, url: str) -> RdfFormat:
    """Trust a specific RDF Content-Type; otherwise sniff the first bytes (servers often say text/plain)."""
    head = as_utf8(
        content[:2048].decode("utf-16", "ignore").encode() if content[:2] in UTF16_BOMS else content[:2048]
    )
    head = head.lstrip(b" \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise HarvestError(f"{url}: got an HTML page, not RDF (Content-Type {media_type or 'none'})")
    if media_type in FORMATS_BY_MEDIA_TYPE:
        return FORMATS_BY_MEDIA_TYPE[media_type]
    if head.startswith(b"<?xml") or head.startswith(b"<rdf:rdf") or b"<rdf:rdf" in head:
        return RdfFormat.RDF_XML
    if head.startswith((b"{", b"[")):
        return RdfFormat.JSON_LD
    return RdfFormat.TURTLE  # N-Triples is a subset of Turtle


def check_page(content: bytes, rdf_format: RdfFormat, base_iri: str) -> None:
    """Untrusted pages: entities and nesting are bounded before any parser sees them."""
    if rdf_format == RdfFormat.RDF_XML:
        check_xml(content, base_iri, what="RDF/XML")
    elif rdf_format == RdfFormat.JSON_LD:
        check_json_depth(content, url=base_iri)
    elif rdf_format in (RdfFormat.TURTLE, RdfFormat.TRIG, RdfFormat.N3):
        check_turtle_depth(content, url=base_iri)


def parse_graph(content: bytes, rdf_format: RdfFormat, base_iri: str) -> Graph:
    content = as_utf8(content, xml=rdf_format == RdfFormat.RDF_XML)
    check_page(content, rdf_format, base_iri)
    try:
        return Graph(pyoxigraph.parse(content, rdf_format, base_iri=base_iri, lenient=True))
    except (SyntaxError, ValueError) as exc:
        if rdf_format != RdfFormat.RDF_XML and (legacy := legacy_as_utf8(content)) is not None:
            # Turtle, N-Triples and JSON-LD are UTF-8 by definition; a page saved as Windows-1252 still
            # says what it means (its accented letters read as that code page)
            log.info("%s: not UTF-8, read as Windows-1252", base_iri)
            try:
                return Graph(pyoxigraph.parse(legacy, rdf_format, base_iri=base_iri, lenient=True))
            except (SyntaxError, ValueError):
                pass
        if rdf_format == RdfFormat.RDF_XML:
            # rdflib's RDF/XML reader forgives what real exporters get wrong (text inside rdf:resource
            # elements, GeoNetwork): slower, so only when the strict parser refused the page
            try:
                return _rdflib_graph(content, base_iri)
            except Exception:
                pass
        raise HarvestError(f"{base_iri}: not valid {rdf_format.name}: {exc}") from exc


def _rdflib_graph(content: bytes, base_iri: str) -> Graph:
    import rdflib

    def term(node: rdflib.term.Node) -> NamedNode | BlankNode | Literal:
        if isinstance(node, rdflib.URIRef):
            return NamedNode(quote(str(node), safe=IRI_SAFE))
        if isinstance(node, rdflib.BNode):
            return BlankNode(str(node))
        assert isinstance(node, rdflib.Literal), node  # a parsed graph holds IRIs, blank nodes and literals
        if node.language:
            return Literal(str(node), language=node.language)
        return Literal(str(node), datatype=NamedNode(str(node.datatype)) if node.datatype else None)

    # rdflib warns of every IRI it finds odd ("does not look like a valid URI"): the page is the source's,
    # the run report is where its faults go, not the console
    quiet = logging.getLogger("rdflib.term")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        parsed = rdflib.Graph().parse(data=content, format="xml", publicID=base_iri)
    finally:
        quiet.setLevel(level)
    graph = Graph()
    # rdflib's graph is a set: in its order the same page mapped to themes and distributions in another
    # order at each run. Sorted, a page maps the same way every time (blank nodes keep their parse labels)
    for s, p, o in sorted(parsed, key=lambda t: (str(t[0]), str(t[1]), str(t[2]))):
        graph.add(term(s), str(p), term(o))
    return graph


def record_id(graph: Graph, node: NamedNode | BlankNode | Literal) -> str:
    """The source's id for a dataset: its IRI; for a blank node its dct:identifier or content digest."""
    if isinstance(node, NamedNode):
        return node.value
    identifier = from_rdf.literal(graph, node, DCT + "identifier")
    if identifier:
        return f"identifier:{identifier}"
    # no stable handle: the digest of its description (a change at the source reads as a new record)
    digest = hashlib.blake2b(graph.canonical_ntriples(graph.closure(node)), digest_size=12).hexdigest()
    return f"digest:{digest}"


def rdf_record(graph: Graph, node: Any, url: str, number: int) -> RawRecord:
    """One record of a parsed page (or part of one): its payload in the page's order, hashed in its
    canonical (sorted) form, and its parsed form for the mapping."""
    payload, canonical = from_rdf.record_payload(graph, node)
    return RawRecord(
        source_record_id=record_id(graph, node),
        payload=payload,
        media_type=NTRIPLES,
        fetch_url=url,
        page=number,
        parsed=(graph, node),
        digest=payload_hash(canonical),
    )


def next_link(graph: Graph) -> str | None:
    for props in graph.out.values():
        for predicate in NEXT_PAGE:
            for obj in props.get(predicate, ()):
                if obj.value.strip():
                    return obj.value.strip()
    return None


def total_items(graph: Graph) -> int | None:
    for props in graph.out.values():
        for obj in props.get(TOTAL[0], ()):
            if obj.value.isdigit():
                return int(obj.value)
    return None


def read_page(
    content: bytes,
    rdf_format: RdfFormat,
    base_iri: str,
    url: str,
    number: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Page:
    """Parse one page and split it into records (their parsed form kept for the mapping)."""
    graph = parse_graph(content, rdf_format, base_iri)
    if number == 1:
        _check_is_catalogue(graph, url)
    records = [rdf_record(graph, node, url, number) for node in from_rdf.record_subjects(graph)]
    return Page(
        url=url,
        number=number,
        records=records,
        next_url=next_link(graph),
        etag=etag,
        last_modified=last_modified,
        total=total_items(graph),
    )


def _check_is_catalogue(graph: Graph, url: str) -> None:
    """A first page with no dcat:Dataset, dcat:DataService or dcat:Catalog is not a catalogue: a failed
    run saying so, rather than a complete run of 0 datasets and no message."""
    if next(from_rdf.record_subjects(graph), None) is not None or graph.subjects_of_type(DCAT + "Catalog"):
        return
    raise HarvestError(NOT_A_CATALOGUE.format(url=url))


NOT_A_CATALOGUE = (
    "{url}: no dcat:Catalog, dcat:Dataset or dcat:DataService found: this is not a DCAT catalogue"
)


def read_large_page(
    content: bytes, rdf_format: RdfFormat, base_iri: str, url: str, number: int
) -> Iterator[Page]:
    """A page over `rdfstore.STORE_OVER` bytes, parsed into a table on disk and read in parts
    (harvester/adapters/rdfstore.py): same records and payloads as `read_page`, in memory that does not grow
    with the page's datasets. A page the strict parser refuses is read by `read_page` (and its fallback)."""
    content = as_utf8(content, xml=rdf_format == RdfFormat.RDF_XML)
    check_page(content, rdf_format, base_iri)
    try:
        page = rdfstore.PageStore(
            content, rdf_format, base_iri, next_predicates=NEXT_PAGE, total_predicate=TOTAL[0]
        )
    except (SyntaxError, ValueError) as exc:
        log.info("%s: not read from a table (%s); parsed in memory", url, exc)
        yield read_page(content, rdf_format, base_iri, url, number)
        return
    except (OSError, sqlite3.Error) as exc:
        raise HarvestError(f"{url}: could not write the page to a temporary table: {exc}") from exc
    del content  # the table holds it now
    try:
        if number == 1 and not rdfstore.is_catalogue(page):
            raise HarvestError(NOT_A_CATALOGUE.format(url=url))
        yield from rdfstore.read_parts(page, url, number, record=rdf_record)
    finally:
        page.close()


def _read_and_map(content: bytes, media_type: str, base_iri: str) -> tuple[Any, ...]:
    """In the parsing process: the page's next link, total and its records as
    [record id, payload, payload size, payload hash, packed payload, dataset JSON].

    Everything the harvesting thread would otherwise compute per record is done here, once: the mapping
    (with an empty URI: the harvest sets fedcat's), the payload's hash and its stored (packed) form. The
    payload itself goes only with a dataset that failed to map, sent without its JSON so that the run maps
    it again in its own process and reports the very same error; the others' is b"" (their packed form
    holds it: a seventh of the bytes to send, decode and hold).
    """
    rdf_format = RdfFormat.from_media_type(media_type)
    if rdf_format is None:  # the adapter sends only the RDF media types it recognised
        raise HarvestError(f"not an RDF media type: {media_type}")
    page = read_page(content, rdf_format, base_iri, base_iri, 0)
    records = []
    source = SourceContext("", base_iri)
    for record in page.records:
        payload = record.payload
        try:
            mapped: bytes | None = dataset_to_json(from_rdf.map_record(payload, "", source, record.parsed))
        except Exception:
            mapped = None
        records.append(
            (
                record.source_record_id,
                b"" if mapped is not None else payload,
                len(payload),
                record.digest,
                pack_payload(payload),
                mapped,
            )
        )
    return page.next_url, page.total, records


# Messages between the two processes (harvester.workers): a job is [content, media type, base IRI]; replies
# are [kind, value] with kind "records" (a slice of a page's records), "done" ([next link, total]),
# "harvest_error" or "failed" (a message).


def _serve_page(conn: Any, job: Any) -> None:
    """In the parsing process: one page in, its records out."""
    try:
        next_url, total, records = _read_and_map(*job)
    except HarvestError as exc:
        conn.send_bytes(pack(("harvest_error", str(exc))))
        return
    except Exception as exc:  # this process reads the page again and raises it there
        conn.send_bytes(pack(("failed", f"{type(exc).__name__}: {exc}")))
        return
    # in slices: neither process holds a whole page's encoded reply (~10 MB) beside its records
    for start in range(0, len(records), REPLY_RECORDS):
        chunk = pack(("records", records[start : start + REPLY_RECORDS]))
        conn.send_bytes(chunk)
        del chunk
    del records
    conn.send_bytes(pack(("done", (next_url, total))))


def _serve_pages(conn: Any) -> None:
    serve_jobs(conn, _serve_page)


class PageWorker(WorkerProcess):
    """A child process that parses pages and maps their datasets (see the module docstring)."""

    name = "fedcat-dcat-parser"

    def __init__(self) -> None:
        super().__init__(_serve_pages)

    def submit(self, content: bytes, rdf_format: RdfFormat, base_iri: str) -> None:
        self.send(pack((content, rdf_format.media_type, base_iri)))

    def page(self) -> tuple[str, Any]:
        """("ok", (next link, total, records)), or ("harvest_error" | "failed", message)."""
        records: list[Any] = []
        while True:
            status, value = self.receive()
            if status == "records":
                records.extend(value)
                continue
            self.done()
            return ("ok", (*value, records)) if status == "done" else (status, value)


class _Job:
    """A fetched page on its way to becoming a `Page`: ready (304), failed, or to parse here or there."""

    def __init__(
        self,
        *,
        page: Page | None = None,
        error: Exception | None = None,
        content: bytes = b"",
        rdf_format: RdfFormat | None = None,
        base_iri: str = "",
        url: str = "",
        number: int = 0,
        headers: Any = None,
        worker: PageWorker | None = None,
    ) -> None:
        self.page, self.error, self.worker = page, error, worker
        self.content, self.rdf_format, self.base_iri = content, rdf_format, base_iri
        self.url, self.number, self.headers = url, number, headers
        if worker is not None:
            try:
                worker.submit(content, rdf_format, base_iri)  # type: ignore[arg-type]
            except OSError:  # the process is gone: parse here
                worker.broken = True
                self.worker = None

    def pages(self) -> Generator[Page]:
        """The page, or the parts of a large one (each a page of the run)."""
        if self.page is None and self.error is None and len(self.content) > rdfstore.STORE_OVER:
            assert self.rdf_format is not None
            parts = read_large_page(self.content, self.rdf_format, self.base_iri, self.url, self.number)
            self.content = b""  # held by `parts` only, until the page is in its table
            yield from parts
            return
        yield self.result()

    def result(self) -> Page:
        if self.error is not None:
            raise self.error
        if self.page is not None:
            return self.page
        etag = self.headers.get("ETag") if self.headers is not None else None
        last_modified = self.headers.get("Last-Modified") if self.headers is not None else None
        assert self.rdf_format is not None
        if self.worker is not None:
            try:
                status, value = self.worker.page()
            except (EOFError, OSError):
                self.worker.broken = True
                status, value = "failed", "the parsing process stopped"
            if status == "harvest_error":
                raise HarvestError(value)
            if status == "ok":
                next_url, total, mapped = value
                records = [
                    RawRecord(
                        srid,
                        payload,
                        NTRIPLES,
                        self.url,
                        self.number,
                        dataset_json,
                        digest,
                        packed,
                        None if payload else size,
                    )
                    for srid, payload, size, digest, packed, dataset_json in mapped
                ]
                return Page(
                    url=self.url,
                    number=self.number,
                    records=records,
                    next_url=next_url,
                    etag=etag,
                    last_modified=last_modified,
                    total=total,
                )
            log.warning("%s: parsing process failed (%s); parsing here", self.url, value)
        return read_page(
            self.content, self.rdf_format, self.base_iri, self.url, self.number, etag, last_modified
        )


class DcatAdapter(Adapter):
    type = "dcat"

    class Options(SourceOptions):
        parse_worker: (
            Annotated[
                bool,
                msgspec.Meta(
                    description="Parse pages in a worker process: always (true), never (false); unset: when many pages remain."
                ),
            ]
            | None
        ) = None

    def pages(self) -> Iterator[Page]:
        self._contexts = ContextLoader(self._fetch_context)
        visited = Visited()
        worker: PageWorker | None = None
        tried = False  # one parsing process per walk: one that broke is not replaced
        try:
            job: _Job | None = self._fetch(self.source.url, 1, visited, None)
            while job is not None:
                parts = job.pages()  # a generator: closed below, which removes a large page's store
                try:
                    page = next(parts)
                    for following in parts:  # a large page's parts: all but the last one yielded here
                        yield page
                        page = following
                finally:
                    parts.close()
                job = None  # the page's content is not needed any more
                if worker is None and not tried and self._wants_worker(page):
                    worker, tried = self._start_worker(), True
                if worker is not None and worker.broken:
                    worker.close()
                    worker = None
                ahead = self._fetch_next(page, visited, worker)  # parsed while `page` is stored
                yield page
                page = None  # type: ignore[assignment]  # freed before the next one is built
                job = ahead
        finally:
            if worker is not None:
                worker.close()

    def _fetch(self, url: str, number: int, visited: Visited, worker: PageWorker | None) -> _Job:
        visited.add(url)
        response = self.client.get(url, accept=ACCEPT, conditional=True)
        if response.not_modified and response.cached is not None:
            return _Job(
                page=Page(url=url, number=number, not_modified=True, next_url=response.cached.next_url)
            )
        rdf_format = detect_format(response.content, response.media_type, url)
        content = response.content
        if rdf_format == RdfFormat.JSON_LD:  # remote @context URLs: loaded here, the parser reads none
            content = self._contexts.inline(content, response.url)
        if len(content) > rdfstore.STORE_OVER:
            worker = None  # read from a store here, in parts (the parsing process would hold it whole)
        return _Job(
            content=content,
            rdf_format=rdf_format,
            base_iri=response.url,
            url=url,
            number=number,
            headers=response.headers,
            worker=worker,
        )

    def _fetch_context(self, url: str) -> bytes:
        """A remote JSON-LD context, through the source's client (its origin rule, caps and politeness)."""
        return self.client.get(url, accept="application/ld+json, application/json;q=0.9").content

    def _fetch_next(self, page: Page, visited: Visited, worker: PageWorker | None) -> _Job | None:
        """Fetch the page after `page`; an error is kept for when that page is asked for (no loss)."""
        try:
            url = self._next(page.next_url, page.url)
            return self._fetch(url, page.number + 1, visited, worker) if url else None
        except Exception as exc:
            return _Job(error=exc)

    def _wants_worker(self, page: Page) -> bool:
        forced = self.source.options.get("parse_worker")
        if page.next_url is None or forced is False:
            return False
        if forced:
            return True
        if page.total is not None and page.records:
            return page.total - page.number * len(page.records) >= WORKER_MIN_REMAINING
        return page.number >= WORKER_AFTER_PAGES

    def _start_worker(self) -> PageWorker | None:
        return PageWorker.start(self.source.id)  # None when other runs use the spare cores: parse here

    def _next(self, next_url: str | None, current: str) -> str | None:
        """Resolve and vet the next link: the same page again means the walk is over."""
        if not next_url:
            return None
        resolved = resolve(current, next_url)
        if resolved == current:
            return None
        self.client.policy.check(resolved)
        return resolved
