"""Harvesting OGC CSW 2.0.2 catalogues (ISO 19139 records) over real HTTP on 127.0.0.1: the corpus' GetRecords
pages (GeoNetwork serving Geo-IDE records in three pages, the IGN Géoplateforme, Australian GeoNetworks, an
INSPIRE catalogue) served by a local GetRecords endpoint that answers by startPosition, listings of our own for
the counters servers get wrong, faults on a page, re-harvests, and the export checked against the official
DCAT-AP shapes.

Expected values are read from the XML here with plain ElementTree, not through the adapter's mapping.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import ConfigError, parse_config
from fedcat.indexer.documents import sync_index
from fedcat.mappings import normalise
from fedcat.store import Store, record_id

CSW_CORPUS = CORPUS / "csw"
GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
GMI = "http://www.isotc211.org/2005/gmi"
CSW = "http://www.opengis.net/cat/csw/2.0.2"
NS = {"gmd": GMD, "gco": GCO, "gmx": "http://www.isotc211.org/2005/gmx", "csw": CSW}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
EU = "http://publications.europa.eu/resource/authority/"
GEONETWORK_PAGES = {start: f"udata-csw/geonetwork-iso19139-page-{start}.xml" for start in (1, 3, 5)}
# every GetRecords page of ISO 19139 records in the corpus (the env and tern pages start with a blank line)
CORPUS_PAGES = [
    *GEONETWORK_PAGES.values(),
    "udata-csw/geoide-iso19139-single-dataset.xml",
    "udata-csw/geoplateforme-iso19139-IGNF_RPG.xml",
    "owslib/inspire-getrecords-response.xml",
    "magda/aurin-response.xml",
    "magda/aurin-license-response.xml",
    "magda/csw1.xml",
    "magda/env.xml",
    "magda/tern.xml",
    "magda/qspatial-response.xml",
    "magda/no-record.xml",
    "magda/aodn/ds-aodn-0D709B10-2A07-43D8-86AB-DD4C207CC946.xml",
    "magda/aodn/ds-aodn-c317b0fe-02e8-4ff9-96c9-563fd58e82ac-old.xml",
]


def need(relative: str) -> Path:
    path = CSW_CORPUS / relative
    if not path.is_file():
        pytest.skip(f"the recorded CSW corpus is not available (expected {path})")
    return path


def config_for(url: str, source_id: str = "csw", http: dict | None = None, **options: Any):
    source = {"id": source_id, "name": source_id, "type": "csw", "url": url}
    if options:
        source["options"] = options
    return parse_config({"settings": {"http": {"retries": 0, **(http or {})}}, "sources": [source]})


def query(request: Request) -> dict[str, str]:
    return {k.lower(): v[0] for k, v in request.query.items()}


def starts(portal: PortalServer, path: str = "/csw") -> list[int]:
    return [int(query(r)["startposition"]) for r in portal.requests_to(path)]


def stored(store: Store, source_id: str, identifier: str):
    record = store.record(record_id(source_id, identifier))
    assert record is not None, f"{identifier} was not stored"
    return record["dataset"]


# --- our own GetRecords responses, in the shapes the corpus shows -------------------------------------------


def iso_record(
    ident: str | None,
    title: str,
    *,
    level: str = "dataset",
    bbox: tuple[str, str, str, str] = ("2.97", "50.57", "3.2", "50.7"),
    date: str = "2024-03-01",
    url: str | None = None,
) -> str:
    """A GeoNetwork-style ISO 19139 record (a publisher, an Etalab licence, a bbox, one CSV download)."""
    file_id = f"<gmd:fileIdentifier><gco:CharacterString>{ident}</gco:CharacterString></gmd:fileIdentifier>"
    west, south, east, north = bbox
    url = url or f"https://data.example.org/files/{ident}.csv"
    return f"""
    <gmd:MD_Metadata xmlns:gmd="{GMD}" xmlns:gco="{GCO}">
      {file_id if ident else ""}
      <gmd:language><gmd:LanguageCode codeListValue="fre">fre</gmd:LanguageCode></gmd:language>
      <gmd:hierarchyLevel><gmd:MD_ScopeCode codeListValue="{level}">{level}</gmd:MD_ScopeCode></gmd:hierarchyLevel>
      <gmd:identificationInfo><gmd:MD_DataIdentification>
        <gmd:citation><gmd:CI_Citation>
          <gmd:title><gco:CharacterString>{title}</gco:CharacterString></gmd:title>
          <gmd:date><gmd:CI_Date><gmd:date><gco:Date>{date}</gco:Date></gmd:date>
            <gmd:dateType><gmd:CI_DateTypeCode codeListValue="revision">revision</gmd:CI_DateTypeCode></gmd:dateType>
          </gmd:CI_Date></gmd:date>
        </gmd:CI_Citation></gmd:citation>
        <gmd:abstract><gco:CharacterString>Jeu de données {title}</gco:CharacterString></gmd:abstract>
        <gmd:pointOfContact><gmd:CI_ResponsibleParty>
          <gmd:organisationName><gco:CharacterString>Ville de Lille</gco:CharacterString></gmd:organisationName>
          <gmd:role><gmd:CI_RoleCode codeListValue="publisher">publisher</gmd:CI_RoleCode></gmd:role>
        </gmd:CI_ResponsibleParty></gmd:pointOfContact>
        <gmd:resourceConstraints><gmd:MD_LegalConstraints>
          <gmd:otherConstraints><gco:CharacterString>Licence Ouverte v2.0</gco:CharacterString></gmd:otherConstraints>
        </gmd:MD_LegalConstraints></gmd:resourceConstraints>
        <gmd:extent><gmd:EX_Extent><gmd:geographicElement><gmd:EX_GeographicBoundingBox>
          <gmd:westBoundLongitude><gco:Decimal>{west}</gco:Decimal></gmd:westBoundLongitude>
          <gmd:eastBoundLongitude><gco:Decimal>{east}</gco:Decimal></gmd:eastBoundLongitude>
          <gmd:southBoundLatitude><gco:Decimal>{south}</gco:Decimal></gmd:southBoundLatitude>
          <gmd:northBoundLatitude><gco:Decimal>{north}</gco:Decimal></gmd:northBoundLatitude>
        </gmd:EX_GeographicBoundingBox></gmd:geographicElement></gmd:EX_Extent></gmd:extent>
      </gmd:MD_DataIdentification></gmd:identificationInfo>
      <gmd:distributionInfo><gmd:MD_Distribution>
        <gmd:distributionFormat><gmd:MD_Format><gmd:name><gco:CharacterString>CSV</gco:CharacterString></gmd:name>
        </gmd:MD_Format></gmd:distributionFormat>
        <gmd:transferOptions><gmd:MD_DigitalTransferOptions><gmd:onLine><gmd:CI_OnlineResource>
          <gmd:linkage><gmd:URL>{url}</gmd:URL></gmd:linkage>
          <gmd:protocol><gco:CharacterString>WWW:DOWNLOAD-1.0-http--download</gco:CharacterString></gmd:protocol>
        </gmd:CI_OnlineResource></gmd:onLine></gmd:MD_DigitalTransferOptions></gmd:transferOptions>
      </gmd:MD_Distribution></gmd:distributionInfo>
    </gmd:MD_Metadata>"""


def envelope(records: list[str], matched: int | None, returned: int | None, following: int) -> bytes:
    counters = f'numberOfRecordsReturned="{returned}" nextRecord="{following}" elementSet="full"'
    if matched is not None:
        counters = f'numberOfRecordsMatched="{matched}" ' + counters
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<csw:GetRecordsResponse xmlns:csw="{CSW}">'
        f'<csw:SearchStatus timestamp="2024-03-19T08:13:39Z"/><csw:SearchResults {counters}>'
        + "".join(records)
        + "</csw:SearchResults></csw:GetRecordsResponse>"
    ).encode("utf-8")


Counters = dict[str, Any]


class Listing:
    """A GetRecords endpoint over `records` paging honestly by startPosition / maxRecords, unless told: `cap`
    returns fewer than asked, `counters(start, counters)` rewrites a page's counters, `pages` overrides the
    answer to some starts, `ignore_start` answers the first page to every request."""

    def __init__(self, records: list[str], cap: int | None = None) -> None:
        self.records, self.cap = records, cap
        self.counters: Callable[[int, Counters], Counters] | None = None
        self.pages: dict[int, Reply] = {}
        self.ignore_start = False

    def __call__(self, request: Request) -> Reply:
        params = query(request)
        start = 1 if self.ignore_start else int(params["startposition"])
        if start in self.pages:
            return self.pages[start]
        size = min(int(params["maxrecords"]), self.cap or 10**6)
        page = self.records[start - 1 : start - 1 + size]
        end = start + len(page)
        counters = {"matched": len(self.records), "returned": len(page), "following": end}
        if end > len(self.records):
            counters["following"] = 0
        if self.counters:
            counters = self.counters(start, counters)
        return Reply(envelope(page, **counters), "application/xml")


def listing(portal: PortalServer, count: int = 7, **kwargs: Any) -> tuple[Listing, str]:
    server = Listing([iso_record(f"rec-{i}", f"Jeu {i}") for i in range(1, count + 1)], **kwargs)
    return server, portal.handle("/csw", server)


# --- reading the recorded XML independently -----------------------------------------------------------------


def text_of(prop: ET.Element | None) -> str | None:
    if prop is None:
        return None
    for child in prop:
        if child.text and child.text.strip():
            return child.text.strip()
    return None


def dataset_records(path: Path) -> list[ET.Element]:
    """The ISO 19139 dataset records of a recorded page (services and other schemas are not datasets)."""
    root = ET.fromstring(path.read_bytes().lstrip())
    records = []
    for element in root.iterfind("csw:SearchResults/*", NS):
        if element.tag not in (f"{{{GMD}}}MD_Metadata", f"{{{GMI}}}MI_Metadata"):
            continue
        level = element.find("gmd:hierarchyLevel/gmd:MD_ScopeCode", NS)
        if level is not None and (level.get("codeListValue") or level.text or "").strip() == "service":
            continue
        if text_of(element.find("gmd:fileIdentifier", NS)):
            records.append(element)
    return records


def online_urls(element: ET.Element) -> list[str]:
    """The distribution URLs GeoDCAT-AP gives: every http(s) online resource but information / search pages."""
    urls = []
    for resource in element.iterfind(
        "gmd:distributionInfo/gmd:MD_Distribution//gmd:onLine/gmd:CI_OnlineResource", NS
    ):
        url = text_of(resource.find("gmd:linkage", NS))
        function = resource.find("gmd:function/gmd:CI_OnLineFunctionCode", NS)
        if function is not None and function.get("codeListValue") in ("information", "search"):
            continue
        if url and url.startswith(("http://", "https://")):
            urls.append(url)
    return urls


def boxes(element: ET.Element) -> list[tuple[float, ...]]:
    found = []
    for box in element.iterfind(".//gmd:EX_GeographicBoundingBox", NS):
        sides = ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
        values = [text_of(box.find(f"gmd:{side}", NS)) for side in sides]
        if all(values) and float(values[1]) <= float(values[3]):
            found.append(tuple(float(v) for v in values))
    return found


def wkt_box(wkt: str) -> tuple[float, ...]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?", wkt)]
    return (numbers[0], numbers[1], numbers[4], numbers[5])  # W S, E S, E N


def parties(element: ET.Element) -> list[tuple[str, str]]:
    """(role, name) of the resource's responsible parties."""
    info = element.find("gmd:identificationInfo/*", NS)
    found = []
    cited = "gmd:citation/gmd:CI_Citation/gmd:citedResponsibleParty/gmd:CI_ResponsibleParty"
    for path in ("gmd:pointOfContact/gmd:CI_ResponsibleParty", cited):
        for party in info.iterfind(path, NS):
            role = party.find("gmd:role/gmd:CI_RoleCode", NS)
            name = text_of(party.find("gmd:organisationName", NS)) or text_of(
                party.find("gmd:individualName", NS)
            )
            if name:
                found.append(((role.get("codeListValue") or "") if role is not None else "", name))
    return found


# --- the corpus -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", CORPUS_PAGES)
def test_recorded_page_arrives_mapped(relative, portal, catalogue):
    """Every dataset record of a recorded page is stored once, with the title, distribution URLs, bounding
    boxes and publisher its XML gives; services are left out; a page that announces more than it holds
    makes the run partial."""
    store, backend = catalogue
    path = need(relative)
    server = Listing([])
    server.pages[1] = Reply(path.read_bytes(), "application/xml")  # later starts: an empty page
    [result] = harvest(config_for(portal.handle("/csw", server)), store, backend)
    expected = dataset_records(path)
    results = ET.fromstring(path.read_bytes().lstrip()).find("csw:SearchResults", NS)
    matched = results.get("numberOfRecordsMatched")
    announced_more = matched is not None and int(matched) > len(results)
    assert result.status == ("partial" if announced_more else "complete"), result.message
    assert result.counts["withdrawn"] == 0
    assert store.count("csw") == len(expected)
    for element in expected:
        dataset = stored(store, "csw", text_of(element.find("gmd:fileIdentifier", NS)))
        title = element.find("gmd:identificationInfo/*/gmd:citation/gmd:CI_Citation/gmd:title", NS)
        assert dataset.title[0].value == text_of(title)
        assert [d.access_url[0] for d in dataset.distributions] == online_urls(element)
        assert sorted(wkt_box(loc.bbox) for loc in dataset.spatial if loc.bbox) == sorted(boxes(element))
        named = parties(element)
        if named:
            publishers = [name for role, name in named if role == "publisher"]
            assert dataset.publisher.name[0].value in (publishers or [name for _, name in named])


def test_geonetwork_walk_reads_every_record_once(portal, catalogue):
    """GeoNetwork's three pages of two (nextRecord 3, 5, 0) are read in order, each record exactly once,
    with GetRecords asked as every CSW 2.0.2 server accepts it."""
    store, backend = catalogue
    server = Listing([])
    for start, relative in GEONETWORK_PAGES.items():
        server.pages[start] = Reply(need(relative).read_bytes(), "application/xml")
    template = "https://www.geo2france.fr/geonetwork/srv/fre/catalog.search#/metadata/{id}"
    url = portal.handle("/geonetwork/srv/fre/csw", server)
    [result] = harvest(config_for(url, page_size=2, record_url=template), store, backend)
    assert result.status == "complete", result.message
    assert (result.counts["pages"], result.counts["seen"], result.counts["created"]) == (3, 6, 6)
    requests = portal.requests_to("/geonetwork/srv/fre/csw")
    assert [int(query(r)["startposition"]) for r in requests] == [1, 3, 5]
    asked = query(requests[0])
    assert {k: asked[k] for k in ("service", "version", "request", "outputschema", "maxrecords")} == {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecords",
        "outputschema": GMD,
        "maxrecords": "2",
    }
    identifiers = [
        text_of(e.find("gmd:fileIdentifier", NS))
        for p in GEONETWORK_PAGES.values()
        for e in dataset_records(need(p))
    ]
    assert len(set(identifiers)) == 6 and store.count("csw") == 6
    for identifier in identifiers:
        dataset = stored(store, "csw", identifier)
        assert dataset.landing_page == [template.replace("{id}", identifier)]
        assert identifier in dataset.identifier + dataset.other_identifier
        raw, media_type = store.raw(record_id("csw", identifier))
        assert media_type == "application/xml"
        assert text_of(ET.fromstring(raw).find("gmd:fileIdentifier", NS)) == identifier  # canonical XML


def test_licences_access_rights_services_and_extents(portal, catalogue):
    """The Géoplateforme's RPG: INSPIRE "no limitations" anchor -> PUBLIC, the Etalab licence on the dataset
    and every distribution, WMS / WFS links as data services, bounding boxes and the temporal extent."""
    store, backend = catalogue
    path = need("udata-csw/geoplateforme-iso19139-IGNF_RPG.xml")
    server = Listing([])
    server.pages[1] = Reply(path.read_bytes(), "application/xml")
    harvest(config_for(portal.handle("/csw", server)), store, backend)
    [element] = dataset_records(path)
    dataset = stored(store, "csw", text_of(element.find("gmd:fileIdentifier", NS)))
    legal = element.findall(".//gmd:resourceConstraints/gmd:MD_LegalConstraints", NS)

    def anchors(kind: str) -> list[str]:
        return [
            anchor.get(XLINK_HREF)
            for block in legal
            if block.find(f"gmd:{kind}", NS) is not None
            for anchor in block.iterfind("gmd:otherConstraints/gmx:Anchor", NS)
        ]

    assert any(h.endswith("LimitationsOnPublicAccess/noLimitations") for h in anchors("accessConstraints"))
    assert dataset.access_rights == EU + "access-right/PUBLIC"
    [licence_link] = anchors("useConstraints")
    expected_licence = normalise.licence_uri(licence_link).uri
    assert dataset.licence == expected_licence == EU + "licence/ETALAB_2_0"
    assert {d.licence for d in dataset.distributions} == {expected_licence}
    by_url = {d.access_url[0]: d for d in dataset.distributions}
    services = 0
    for resource in element.iterfind(".//gmd:onLine/gmd:CI_OnlineResource", NS):
        protocol = text_of(resource.find("gmd:protocol", NS)) or ""
        kind = next((k for k in ("WMS", "WFS") if protocol.startswith(f"OGC:{k}")), None)
        if kind is None:
            continue
        url = text_of(resource.find("gmd:linkage", NS))
        distribution = by_url[url]
        assert distribution.format == EU + f"file-type/{kind}_SRVC"
        [service] = distribution.access_service
        assert service.endpoint_url == [url] and service.serves_dataset == [dataset.uri]
        assert service.conforms_to == [f"http://www.opengis.net/def/serviceType/ogc/{kind.lower()}"]
        services += 1
    assert services > 0
    period = element.find(".//gmd:temporalElement//{*}TimePeriod", NS)
    begin, end = (period.find(f"{{*}}{p}Position").text.strip()[:10] for p in ("begin", "end"))
    assert [(p.start, p.end) for p in dataset.temporal] == [(begin, end)]
    assert dataset.themes[0] == EU + "data-theme/AGRI"  # topic category "farming"
    # the record's INSPIRE theme keywords (gmx:Anchor) are kept as theme IRIs too, labelled by fedcat's table
    inspire = [t for t in dataset.themes if t.startswith("http://inspire.ec.europa.eu/theme/")]
    assert len(inspire) >= 2
    # ... and bring the EU themes they fall under (land cover: environment; cadastral parcels: regions)
    assert {EU + "data-theme/ENVI", EU + "data-theme/REGI"} <= set(dataset.themes)
    assert dataset.unmapped["hierarchy_level"] == ["series"]  # kept: the model has no dataset series


def test_free_text_translations_and_mi_metadata(portal, catalogue):
    """An ISO 19115-2 gmi:MI_Metadata record with gmd:PT_FreeText translations: each text keeps the language
    its locale names; the untagged text takes the metadata language."""
    store, backend = catalogue
    record = need("owslib/iso_mi.xml").read_bytes().split(b"?>", 1)[-1].decode("utf-8")
    element = ET.fromstring(record)
    server = Listing([])
    server.pages[1] = Reply(envelope([record], 1, 1, 0), "application/xml")
    [result] = harvest(config_for(portal.handle("/csw", server)), store, backend)
    assert result.status == "complete", result.message
    dataset = stored(store, "csw", text_of(element.find("gmd:fileIdentifier", NS)))
    tags = {"en": "en", "fr": "fr", "eng": "en", "fre": "fr"}  # ISO 639 code -> BCP 47 tag
    locales = {
        loc.get("id"): tags[loc.find("gmd:languageCode/gmd:LanguageCode", NS).get("codeListValue")]
        for loc in element.iterfind("gmd:locale/gmd:PT_Locale", NS)
    }
    language = element.find("gmd:language/gmd:LanguageCode", NS).get("codeListValue")
    title = element.find("gmd:identificationInfo/*/gmd:citation/gmd:CI_Citation/gmd:title", NS)
    expected = {(text_of(title), tags[language])} | {
        # this record's references ("#fr") miss its locale's id ("locale-fr"): the reference names the language
        (t.text.strip(), locales.get(t.get("locale").lstrip("#")) or tags[t.get("locale").lstrip("#")])
        for t in title.iterfind("gmd:PT_FreeText/gmd:textGroup/gmd:LocalisedCharacterString", NS)
    }
    assert {(t.value, t.lang) for t in dataset.title} == expected
    assert len({t.lang for t in dataset.title}) > 1


def test_our_record_is_mapped_as_it_reads(portal, catalogue):
    store, backend = catalogue
    _, url = listing(portal, count=1)
    harvest(config_for(url), store, backend)
    dataset = stored(store, "csw", "rec-1")
    assert [(t.value, t.lang) for t in dataset.title] == [("Jeu 1", "fr")]
    assert dataset.publisher.name[0].value == "Ville de Lille"
    assert dataset.licence == EU + "licence/ETALAB_2_0"
    assert dataset.modified == "2024-03-01" and dataset.issued is None
    assert dataset.spatial[0].bbox == "POLYGON((2.97 50.57, 3.2 50.57, 3.2 50.7, 2.97 50.7, 2.97 50.57))"
    [csv] = dataset.distributions
    assert csv.access_url == csv.download_url == ["https://data.example.org/files/rec-1.csv"]
    assert csv.format == EU + "file-type/CSV"


# --- paging: counters servers get wrong -------------------------------------------------------------------


def _set(key: str, value: Any, at: int | None = None) -> Callable[[int, Counters], Counters]:
    return lambda start, c: {**c, key: value(c) if callable(value) else value} if at in (None, start) else c


PAGING = {
    # name: (cap, counters, listing ignores startPosition, status, message, stored, starts)
    "fewer than asked": (2, None, False, "complete", None, 7, [1, 3, 5, 7]),
    "nextRecord past matched at the end": (
        None,
        _set("following", lambda c: c["following"] or c["matched"] + 1),
        False,
        "complete",
        None,
        7,
        [1, 4, 7],
    ),
    "nextRecord skipping ahead": (None, _set("following", 6, at=1), False, "complete", None, 7, [1, 4, 7]),
    "nextRecord 0 before the end": (
        None,
        _set("following", 0, at=4),
        False,
        "partial",
        "6 of the 7",
        6,
        [1, 4],
    ),
    "nextRecord going back": (None, _set("following", 1, at=4), False, "partial", "paging loop", 6, [1, 4]),
    "startPosition ignored": (None, None, True, "partial", "paging loop", 3, [1, 4]),
    "matched changing": (
        None,
        _set("matched", 8, at=4),
        False,
        "partial",
        "changed during the run",
        7,
        [1, 4, 7],
    ),
}


@pytest.mark.parametrize("case", PAGING)
def test_inconsistent_counters(case, portal, catalogue):
    """Each record is read once, no position is skipped, and a walk that cannot be trusted to have read
    everything is partial: after a complete run, it withdraws nothing."""
    store, backend = catalogue
    cap, counters, ignore_start, status, message, read, expected_starts = PAGING[case]
    server, url = listing(portal, cap=cap)
    [walk] = harvest(config_for(url, page_size=3), store, backend)
    assert walk.status == "complete" and store.count("csw") == 7
    server.counters, server.ignore_start = counters, ignore_start
    portal.log.clear()
    [result] = harvest(config_for(url, page_size=3), store, backend)
    assert result.status == status, result.message
    if message:
        assert message in result.message
    assert starts(portal) == expected_starts
    assert result.counts["seen"] == read and result.counts["withdrawn"] == 0
    assert store.count("csw") == 7


def test_records_the_server_drops_make_the_walk_partial(portal, catalogue):
    """A server that counts records it could not convert (numberOfRecordsReturned 3, two sent) is followed
    by its own count, and the walk never completes on its word."""
    store, backend = catalogue
    server, url = listing(portal)
    harvest(config_for(url, page_size=3), store, backend)
    page = server.records[3:6]
    server.pages[4] = Reply(envelope(page[:2], 7, 3, 7), "application/xml")
    portal.log.clear()
    [result] = harvest(config_for(url, page_size=3), store, backend)
    assert result.status == "partial" and "6 of the 7" in result.message
    assert starts(portal) == [1, 4, 7] and result.counts["withdrawn"] == 0 and store.count("csw") == 7


def test_inspire_next_record_ahead_of_the_page_is_not_followed(portal, catalogue):
    """The INSPIRE page says nextRecord 85 after two records from startPosition 1: the walk asks for 3 next,
    and a server answering that with the same page is a loop."""
    store, backend = catalogue
    path = need("owslib/inspire-getrecords-response.xml")
    server = Listing([])
    server.ignore_start = True
    server.pages[1] = Reply(path.read_bytes(), "application/xml")
    [result] = harvest(config_for(portal.handle("/csw", server), page_size=2), store, backend)
    assert starts(portal) == [1, 3]
    assert result.status == "partial" and "paging loop" in result.message


# --- faults -----------------------------------------------------------------------------------------------

BOMB = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    f'<csw:GetRecordsResponse xmlns:csw="{CSW}"><csw:SearchResults>&b;</csw:SearchResults></csw:GetRecordsResponse>'
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    f'<csw:GetRecordsResponse xmlns:csw="{CSW}"><csw:SearchResults>&x;</csw:SearchResults></csw:GetRecordsResponse>'
)
EXCEPTION = (
    '<?xml version="1.0"?><ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0">'
    '<ows:Exception exceptionCode="NoApplicableCode"><ows:ExceptionText>Lucene index is being rebuilt'
    "</ows:ExceptionText></ows:Exception></ows:ExceptionReport>"
)
FAULTS = {
    "HTTP 500": (lambda: Reply(b"oops", status=500), "HTTP 500"),
    "truncated XML": (
        lambda: Reply(envelope([iso_record("x", "X")], 7, 1, 0)[:900], "application/xml"),
        "not well-formed",
    ),
    "entity bomb": (lambda: Reply(BOMB.encode(), "application/xml"), "entity bomb"),
    "external entity": (lambda: Reply(XXE.encode(), "application/xml"), "XXE"),
    "exception report": (
        lambda: Reply(EXCEPTION.encode(), "application/xml"),
        "Lucene index is being rebuilt",
    ),
    "HTML page": (
        lambda: Reply(b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html"),
        "HTML page",
    ),
    "not UTF-8 (corpus)": (
        lambda: Reply(need("gsa-waf-iso/decode_error.xml").read_bytes(), "application/xml"),
        "not well-formed",
    ),
    "cut short (corpus)": (
        lambda: Reply(need("ckanext-spatial/gemini2.1_error_bad_xml.xml").read_bytes(), "application/xml"),
        "not well-formed",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failing_page_keeps_what_was_read_and_withdraws_nothing(fault, portal, catalogue):
    store, backend = catalogue
    reply, reason = FAULTS[fault]
    server, url = listing(portal)
    [first] = harvest(config_for(url, page_size=3), store, backend)
    assert first.status == "complete" and store.count("csw") == 7
    server.pages[4] = reply()
    [result] = harvest(config_for(url, page_size=3), store, backend)
    assert result.status == "partial" and reason in result.message
    assert result.counts["withdrawn"] == 0 and result.counts["unchanged"] == 3
    assert store.count("csw") == 7


@pytest.mark.parametrize("fault", ["HTTP 500", "entity bomb", "exception report"])
def test_a_failing_first_page_fails_the_run(fault, portal, catalogue):
    store, backend = catalogue
    reply, reason = FAULTS[fault]
    server, url = listing(portal)
    server.pages[1] = reply()
    [result] = harvest(config_for(url), store, backend)
    assert result.status == "failed" and reason in result.message and store.count() == 0


def test_bad_records_do_not_stop_the_page(portal, catalogue):
    """A record without fileIdentifier, a Dublin Core csw:Record and a record with nothing to map are
    reported; a service record is left out; odd values (a bbox that is not one, a date that is not one) are
    kept as unmapped; the others are stored."""
    store, backend = catalogue
    dublin_core = f'<csw:Record xmlns:csw="{CSW}" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>DC</dc:title></csw:Record>'
    records = [
        iso_record("good-1", "Bon"),
        iso_record(None, "Sans identifiant"),
        dublin_core,
        iso_record("wms-1", "Service WMS", level="service"),
        iso_record("odd-1", "Bizarre", bbox=("abc", "50", "3", "49"), date="sometime"),
        f'<gmd:MD_Metadata xmlns:gmd="{GMD}" xmlns:gco="{GCO}"><gmd:fileIdentifier>'
        "<gco:CharacterString>empty-1</gco:CharacterString></gmd:fileIdentifier></gmd:MD_Metadata>",
    ]
    server = Listing(records)
    [result] = harvest(config_for(portal.handle("/csw", server)), store, backend)
    assert result.status == "complete", result.message
    assert result.counts["created"] == 2 and result.counts["failed"] == 3
    errors = " ".join(e["error"] for e in store.run(result.run_id)["errors"])
    assert "without gmd:fileIdentifier" in errors and "csw/2.0.2}Record record is not ISO 19139" in errors
    assert "no gmd:identificationInfo" in errors  # a record that cannot be mapped fails alone
    assert store.record(record_id("csw", "wms-1")) is None
    odd = stored(store, "csw", "odd-1")
    assert odd.spatial == [] and odd.unmapped["spatial"] == ["abc,50,3,49"]
    assert odd.modified is None and odd.unmapped["date_revision"] == ["sometime"]
    assert store.run(result.run_id)["report"]["unmapped"]["date_revision"] == {"sometime": 1}


# --- re-harvests and options ------------------------------------------------------------------------------


def test_unchanged_reharvest_renormalises_nothing(portal, catalogue):
    """The same records, even re-indented and with other namespace prefixes, hash the same (one normal form
    of the XML): nothing is mapped or indexed again; one edited title updates exactly one record."""
    store, backend = catalogue
    server = Listing([])
    bodies = {start: need(relative).read_bytes() for start, relative in GEONETWORK_PAGES.items()}
    for start, body in bodies.items():
        server.pages[start] = Reply(body, "application/xml")
    config = config_for(portal.handle("/csw", server), page_size=2)
    [first] = harvest(config, store, backend)
    assert first.counts["created"] == 6
    [again] = harvest(config, store, backend)
    assert (again.counts["created"], again.counts["updated"], again.counts["unchanged"]) == (0, 0, 6)
    assert sync_index(store, backend) == 0
    for start, body in bodies.items():  # no indentation, other prefixes: as another server would write it
        rewritten = re.sub(rb">\s+<", b"><", body)
        for prefix, other in ((b"gmd", b"iso"), (b"gco", b"co")):
            rewritten = re.sub(rb"(</?|xmlns:|\s)" + prefix + rb"(?=[:=])", rb"\1" + other, rewritten)
        server.pages[start] = Reply(rewritten, "application/xml")
    [rewritten_run] = harvest(config, store, backend)
    assert (rewritten_run.counts["updated"], rewritten_run.counts["unchanged"]) == (0, 6)
    [element] = dataset_records(need(GEONETWORK_PAGES[3]))[:1]
    title = text_of(element.find("gmd:identificationInfo/*/gmd:citation/gmd:CI_Citation/gmd:title", NS))
    server.pages[3] = Reply(bodies[3].replace(title.encode(), b"Titre corrig\xc3\xa9", 1), "application/xml")
    [edited] = harvest(config, store, backend)
    assert (edited.counts["updated"], edited.counts["unchanged"]) == (1, 5)
    assert (
        stored(store, "csw", text_of(element.find("gmd:fileIdentifier", NS))).title[0].value
        == "Titre corrigé"
    )


def test_constraint_and_endpoint_parameters(portal, catalogue):
    """options.constraint goes out as CQL text; the endpoint's own query parameters are kept, the GetRecords
    ones fedcat sets replace any the configured URL holds."""
    store, backend = catalogue
    listing(portal, count=2)
    url = portal.url("/csw?portal=metropole&SERVICE=CSW&request=GetCapabilities")
    [result] = harvest(config_for(url, constraint="OrganisationName = 'Ville de Lille'"), store, backend)
    assert result.status == "complete", result.message
    [request] = portal.requests_to("/csw")
    assert request.query["portal"] == ["metropole"] and request.query["request"] == ["GetRecords"]
    assert "SERVICE" not in request.query
    asked = query(request)
    assert asked["constraint"] == "OrganisationName = 'Ville de Lille'"
    assert (asked["constraintlanguage"], asked["constraint_language_version"]) == ("CQL_TEXT", "1.1.0")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"record_url": "https://example.org/metadata/"}, "record_url"), ({"constraint": ""}, "constraint")],
)
def test_bad_options_fail_clearly(options, message, portal):
    """Checked when the configuration is read: a configuration error naming the source and the option."""
    _, url = listing(portal)
    with pytest.raises(ConfigError) as error:
        config_for(url, **options)
    [problem] = error.value.problems
    assert problem.startswith("source `csw`: ") and f"options.{message}:" in problem
    assert portal.requests_to("/csw") == []


# --- the export against the official shapes -----------------------------------------------------------------


def test_export_has_no_violation_caused_by_fedcat(portal, tmp_path):
    """Every recorded dataset, exported as DCAT-AP 3.0.1, breaks no shape through fedcat's own doing."""
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.indexer.sparql import catalog_info_from_store
    from fedcat.validation import shacl

    shapes_dir = CORPUS / "shapes" / "dcat-ap-3.0.1"
    if not shapes_dir.is_dir():
        pytest.skip(f"the official shapes are absent ({shapes_dir})")
    sources = []
    for number, relative in enumerate(CORPUS_PAGES):
        server = Listing([])
        server.pages[1] = Reply(need(relative).read_bytes(), "application/xml")
        url = portal.handle(f"/c{number}/csw", server)
        sources.append({"id": f"c{number}", "name": relative, "type": "csw", "url": url})
    config = parse_config({"settings": {"base_url": "https://fedcat.example"}, "sources": sources})
    store, backend = Store(tmp_path / "fedcat.db"), EmbeddedBackend(tmp_path / "index")
    harvest(config, store, backend)
    assert store.count() > 0
    shapes = shacl.load_shapes(shacl.shape_files("dcat-ap-3.0.1", [shapes_dir]))
    report = shacl.validate_store(
        store.path, catalog_info_from_store(store, "https://fedcat.example", config), shapes
    )
    assert report.datasets == store.count()
    assert report.violations("fedcat") == [], [f.rule + " " + f.focus for f in report.violations("fedcat")][
        :10
    ]
    backend.close()
    store.close()
