"""`type: csw` — an OGC CSW 2.0.2 catalogue (GeoNetwork, pycsw, deegree…) read as ISO 19139 records.

The source `url` is the CSW endpoint. The adapter pages with GetRecords in KVP (HTTP GET: what every CSW
2.0.2 server must accept, and what GeoNetwork and pycsw answer alike):
`service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record&outputSchema=<gmd>&elementSetName=full&
resultType=results&startPosition=N&maxRecords=M`, plus `constraint` (CQL text) when `options.constraint` says.
One raw record per gmd:MD_Metadata (or gmi:MI_Metadata), keyed by its gmd:fileIdentifier (else its citation's
identifier: `record_id`); the payload is the element in one normal form (`canonical`), so that a record re-served with other indentation, attribute order,
prefixes or namespace declarations hashes the same and is not normalised again. A CSW cannot be asked what
changed since a date in a way every server honours, so every run reads every page; the hashes keep unchanged
records from being mapped again. Service records are left out (mappings/iso19139.yaml); the mapping itself is
mappings/iso19139.py (`options.language`: the language of untagged texts when a record does not say).

Paging follows `csw:SearchResults/@nextRecord`, which servers get wrong in every way, so:
- nextRecord 0, absent, or past numberOfRecordsMatched ends the walk;
- it never skips positions the page did not cover: the next start is at most this start plus the records
  the page returned (or said it returned), so "nextRecord=85" after two records reads from 3;
- a nextRecord that does not move forward, or a page holding only records already read, is a loop: the run
  stops there, partial;
- a walk that ends having read fewer records than announced, or whose announced count changed, is partial
  (a server that returns fewer than asked is followed page by page; one that drops records it cannot
  convert to ISO 19139 never completes: nothing is withdrawn on its word).
Responses are untrusted: XML with a DTD declaring entities is refused (`check_xml`), the rest is parsed by
defusedxml. Whitespace before the XML declaration (some servers emit a blank line first) is tolerated; an
ows:ExceptionReport (often with HTTP 200) is a HarvestError carrying the server's message.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.etree.ElementTree import Element, ParseError

import msgspec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from ...config import Source, SourceOptions, UntaggedLanguage
from ...mappings.iso19139 import GMD, RECORD_TAGS, is_left_out, record_id
from ..http import HarvestError, HttpClient
from ..safety import UnsafeDocument, check_xml
from .base import Adapter, Page, RawRecord
from .jsonapi import FetchAhead, is_html
from .udata import incomplete

CSW = "http://www.opengis.net/cat/csw/2.0.2"
OWS = "http://www.opengis.net/ows"
XML = "application/xml"
MAX_PAGE_SIZE = 100  # full ISO records are 10-100 KB each: 1,000 a page would be tens of MB
# the KVP parameters fedcat sets; a configured URL holding them (a pasted GetCapabilities link) loses them
OWN_PARAMS = frozenset(
    {
        "service",
        "version",
        "request",
        "typenames",
        "outputschema",
        "elementsetname",
        "resulttype",
        "startposition",
        "maxrecords",
        "constraintlanguage",
        "constraint_language_version",
        "constraint",
    }
)


class SearchResults(NamedTuple):
    matched: int | None
    returned: int | None
    next_record: int | None
    records: list[Element]
    # the namespaces declared on each element that declares some (records need them for their payload)
    declarations: dict[Element, list[tuple[str, str]]]
    ancestors: list[tuple[str, str]]  # the namespaces declared above the records (on the response)


def next_start(start: int, results: SearchResults) -> tuple[int | None, str | None]:
    """(where the walk goes on, or None at its end; why it stops as a loop, if it does) after a page that
    began at `start`."""
    count = len(results.records)
    following = results.next_record
    if count == 0 or not following or (results.matched is not None and following > results.matched):
        return None, None
    if following <= start:
        return None, f"paging loop: nextRecord {following} after startPosition {start}"
    return min(following, start + max(count, results.returned or 0)), None


class CswAdapter(Adapter):
    type = "csw"

    class Options(SourceOptions):
        constraint: (
            Annotated[
                str,
                msgspec.Meta(pattern=r"\S", description="A CQL text filter, e.g. `AnyText LIKE '%eau%'`."),
            ]
            | None
        ) = None
        record_url: (
            Annotated[
                str,
                msgspec.Meta(
                    pattern=r"^https?://.*\{id\}",
                    description="The record's page at the source: an http(s) URL template with `{id}`.",
                ),
            ]
            | None
        ) = None
        language: UntaggedLanguage | None = None

    def __init__(
        self, source: Source, client: HttpClient, page_size: int = 1000, since: str | None = None
    ) -> None:
        super().__init__(source, client, min(page_size, MAX_PAGE_SIZE), since)
        self.page_size = max(1, self.page_size)
        options = source.options
        self.constraint = options.get("constraint")
        self.record_url = options.get("record_url")
        self.language = options.get("language")

    def pages(self) -> Iterator[Page]:
        self._check_options()
        start, number, unidentified = 1, 0, 0
        seen: set[str] = set()  # distinct records read: a server re-sending some does not make up for others
        totals: list[int] = []
        ahead = FetchAhead()  # the next page is requested while the run maps and stores this one
        url = self.page_url(start)
        try:
            while True:
                number += 1
                results = ahead.get(url, self._search)
                if results.matched is not None:
                    totals.append(results.matched)
                page = Page(url=url, number=number, total=results.matched)
                ids = self._records(page, results)
                if ids and ids <= seen:  # a server that ignores startPosition would be walked forever
                    raise HarvestError(f"paging loop: {url} holds only records already read in this run")
                seen |= ids
                unidentified += len(results.records) - len(ids)
                following, loop = next_start(start, results)
                if following is not None:
                    start, url = following, self.page_url(following)
                    ahead.prefetch(url, self._search)
                yield page
                if loop:
                    raise HarvestError(f"{page.url}: {loop}")
                if following is None:
                    break
        finally:
            ahead.close()
        # raised after the last page: everything readable was read, nothing is withdrawn
        if problem := incomplete(totals, len(seen) + unidentified):
            raise HarvestError(f"{page.url}: {problem}")

    def _check_options(self) -> None:
        if self.constraint is not None and not (isinstance(self.constraint, str) and self.constraint.strip()):
            raise HarvestError("options.constraint must be a CQL text filter, e.g. \"AnyText LIKE '%eau%'\"")
        template = self.record_url
        if template is not None and not (
            isinstance(template, str) and template.startswith(("http://", "https://")) and "{id}" in template
        ):
            raise HarvestError(
                "options.record_url must be an http(s) URL template with {id}, e.g. "
                "https://example.org/geonetwork/srv/fre/catalog.search#/metadata/{id}"
            )

    def page_url(self, start: int) -> str:
        parts = urlsplit(self.source.url)
        kept = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in OWN_PARAMS
        ]
        params = [
            ("service", "CSW"),
            ("version", "2.0.2"),
            ("request", "GetRecords"),
            ("typeNames", "csw:Record"),
            ("outputSchema", GMD),
            ("elementSetName", "full"),
            ("resultType", "results"),
            ("startPosition", str(start)),
            ("maxRecords", str(self.page_size)),
        ]
        if self.constraint:
            params += [
                ("constraintLanguage", "CQL_TEXT"),
                ("constraint_language_version", "1.1.0"),
                ("constraint", self.constraint.strip()),
            ]
        return urlunsplit(parts._replace(query=urlencode(kept + params)))

    def _search(self, url: str) -> SearchResults:
        response = self.client.get(url, accept="application/xml")
        return search_results(response.content, url)

    def _records(self, page: Page, results: SearchResults) -> set[str]:
        ids: set[str] = set()
        for element in results.records:
            name = element.tag.rsplit("}", 1)[-1]
            if element.tag not in RECORD_TAGS:  # csw:Record, ISO 19115-3 mdb:MD_Metadata, DCAT…
                page.errors.append((None, f"{page.url}: a {element.tag} record is not ISO 19139: left out"))
                continue
            srid = record_id(element)
            if is_left_out(element):  # a service: not a dataset, with or without an identifier
                ids.update([srid] if srid else [])
                continue
            if not srid:
                page.errors.append(
                    (
                        None,
                        f"{page.url}: a {name} without an identifier (gmd:fileIdentifier, citation) was left out",
                    )
                )
                continue
            ids.add(srid)
            page.records.append(
                RawRecord(
                    srid,
                    canonical(element, results.ancestors, results.declarations),
                    XML,
                    page.url,
                    page.number,
                    parsed=element,
                )
            )
        return ids


def search_results(content: bytes, url: str) -> SearchResults:
    """Parse a GetRecords response: its counters, its records and the namespaces their payload needs."""
    content = content.lstrip(b"\xef\xbb\xbf \t\r\n")  # a BOM or blank line before the XML declaration
    if is_html(content):
        raise HarvestError(f"{url}: got an HTML page, not a CSW response")
    check_xml(content, url)
    declarations: dict[Element, list[tuple[str, str]]] = {}
    declared: list[tuple[str, str]] = []
    path: list[Element] = []
    root: Element | None = None
    results: Element | None = None
    records: list[Element] = []
    try:
        for event, item in iterparse(io.BytesIO(content), events=("start-ns", "start", "end")):
            if event == "start-ns":
                declared.append(item)
            elif event == "start":
                if declared:
                    declarations[item], declared = declared, []
                path.append(item)
                if len(path) == 1:
                    root = item
                elif len(path) == 2 and item.tag == f"{{{CSW}}}SearchResults":
                    results = item
                elif len(path) == 3 and path[1] is results:
                    records.append(item)
            else:
                path.pop()
    except DefusedXmlException as exc:
        raise UnsafeDocument(f"{url}: XML refused: {exc}") from exc
    except ParseError as exc:
        raise HarvestError(f"{url}: not well-formed XML: {exc}") from exc
    if root is not None and root.tag == f"{{{OWS}}}ExceptionReport":
        messages = [" ".join(t.split()) for t in root.itertext() if t.strip()]
        raise HarvestError(f"{url}: the CSW server answered an exception: {'; '.join(messages)[:500]}")
    if root is None or results is None:
        raise HarvestError(f"{url}: not a CSW GetRecords response (no csw:SearchResults)")
    return SearchResults(
        _count(results.get("numberOfRecordsMatched")),
        _count(results.get("numberOfRecordsReturned")),
        _count(results.get("nextRecord")),
        records,
        declarations,
        [*declarations.get(root, []), *declarations.get(results, [])],
    )


def _count(text: Any) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


# Conventional prefixes: a record's payload uses them whatever its server chose (GeoNetwork sometimes makes
# gmd the default namespace), so that the same record is the same bytes from any server or version.
PREFIXES = {
    GMD: "gmd",
    "http://www.isotc211.org/2005/gco": "gco",
    "http://www.isotc211.org/2005/gmx": "gmx",
    "http://www.isotc211.org/2005/gmi": "gmi",
    "http://www.isotc211.org/2005/gts": "gts",
    "http://www.isotc211.org/2005/srv": "srv",
    "http://www.opengis.net/gml": "gml",
    "http://www.opengis.net/gml/3.2": "gml",
    "http://www.w3.org/1999/xlink": "xlink",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
_ATTRIBUTE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}
)


def canonical(
    element: Element, ancestors: list[tuple[str, str]], declarations: dict[Element, list[tuple[str, str]]]
) -> bytes:
    """The record in one normal form, so that a record re-served with other indentation, attribute order,
    prefixes or namespace declarations gives the same bytes: every namespace it uses or declares is
    declared once on its root, sorted, under a conventional prefix (else the one its server gave it);
    attributes sorted; whitespace around text, comments and processing instructions dropped; C14N's
    escaping. (The standard library's C14N 2.0 writer keeps the server's prefixes and ran at half the speed.)"""
    given: dict[str, str] = {}  # namespace -> the prefix the record (else the response) binds it to
    bound: dict[str, str] = {}  # the other way round, to read the QName of an xsi:type
    used: set[str] = set()
    names_seen: set[str] = set()  # tags and attribute names: a record repeats a few dozen ~100 times
    for node in element.iter():
        if declarations and node in declarations:
            for prefix, uri in declarations[node]:
                given.setdefault(uri, prefix)
                bound.setdefault(prefix, uri)
                used.add(uri)  # declared in the record: kept, attribute values may name it
        names_seen.add(node.tag)
        if node.attrib:
            names_seen.update(node.attrib)
    used.update(name[1 : name.index("}")] for name in names_seen if name[:1] == "{")
    for prefix, uri in ancestors:
        given.setdefault(uri, prefix)
        bound.setdefault(prefix, uri)
    prefixes: dict[str, str] = {}
    for uri in sorted(used):
        prefix = PREFIXES.get(uri) or given.get(uri) or "ns"
        if prefix in prefixes.values():  # two namespaces, one prefix (gml and gml 3.2): number the second
            prefix = next(
                f"{prefix}{n}" for n in range(1, len(used) + 2) if f"{prefix}{n}" not in prefixes.values()
            )
        prefixes[uri] = prefix
    names: dict[str, str] = {}

    def qname(name: str) -> str:
        found = names.get(name)
        if found is None:
            if name[:1] == "{":
                uri, local = name[1:].split("}", 1)
                found = f"{prefixes[uri]}:{local}"
            else:
                found = name
            names[name] = found
        return found

    out: list[str] = []

    def write(node: Element, declared: str = "") -> None:
        name = names.get(node.tag) or qname(node.tag)
        attrib = node.attrib
        if not attrib:  # most ISO elements: no attribute to rename, sort or escape
            out.append(f"<{name}{declared}>")
        else:
            if XSI_TYPE in attrib:  # a QName in a value: its prefix follows the element names'
                prefix, _, local = attrib[XSI_TYPE].rpartition(":")
                if bound.get(prefix) in prefixes:
                    attrib = {**attrib, XSI_TYPE: f"{prefixes[bound[prefix]]}:{local}"}
            attributes = "".join(
                f' {key}="{value.translate(_ATTRIBUTE)}"'
                for key, value in sorted((qname(k), v) for k, v in attrib.items())
            )
            out.append(f"<{name}{declared}{attributes}>")
        if node.text and (text := node.text.strip()):
            out.append(text.translate(_TEXT))
        for child in node:
            write(child)
            if child.tail and (tail := child.tail.strip()):
                out.append(tail.translate(_TEXT))
        out.append(f"</{name}>")

    write(
        element,
        "".join(
            f' xmlns:{p}="{u.translate(_ATTRIBUTE)}"' for u, p in sorted(prefixes.items(), key=lambda i: i[1])
        ),
    )
    return "".join(out).encode("utf-8")
