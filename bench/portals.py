"""Portal harvest benchmark: a udata-shaped and an Opendatasoft-shaped API and a CSW (ISO 19139 records, as
GeoNetwork returns them) with 50,000 datasets each, served over loopback from another process, harvested end
to end with the real code.

    python bench/portals.py                          # 50,000 datasets per portal, 3 harvests each
    python bench/portals.py --size 10000 --repeat 1  # a quick run
    python bench/portals.py --only opendatasoft
    python bench/portals.py --only-json --against ../base/.venv/bin/python   # old code vs new, alternating

What it measures, every figure from this run (the machine is noisy: medians, and ratios to a baseline
taken in the same run):

- the first harvest of an empty store: `harvest(config, store, EmbeddedBackend)` = fetch → parse → map →
  store → index, in datasets/s (target ≥ 2,000/s);
- where the time goes, measured inside the harvesting process by timing the real methods (nothing is
  replaced): waiting for responses (`HttpClient.get` on the harvesting thread; for an adapter that fetches
  the next page ahead on another thread, the time its harvesting thread still waits for it, the GETs
  themselves shown apart), the adapter's `pages()` beyond that wait (JSON parsing, record building,
  canonical payloads), the mapping, and the rest (hashing, storing, indexing); "without waiting"
  is the rate once the waiting is taken out; the process's CPU time (all its threads) beside the wall
  time, and per dataset: on a shared, noisy machine the CPU per dataset is the figure that does not depend
  on what else runs (the load average is printed with the results);
- the peak RSS of the harvesting process (a fresh `spawn` child per harvest, `ru_maxrss`; the server runs in
  another process so its CPU and memory do not count) (target ≤ 400 MB);
- baseline: fetching the same responses with a bare `requests` session and `json.loads` (ElementTree for
  the CSW), nothing else;
- with `--against PYTHON` (another checkout's venv interpreter, e.g. main's), the same harvests by that
  code, alternating with this one's, and the ratio of the medians; the CPU is split by role: the
  harvesting thread, the process's other threads (fetching ahead, tantivy's indexing), and its child
  processes (the mapping process, `RUSAGE_CHILDREN`), and the share spent after the pages (`sync_index`:
  the federation's clustering, the index's catch-up).

The Opendatasoft catalogue is past the API's 10,000 offset window, so the adapter lists one page and reads
the rest from the exports endpoint in chunks of 5,000: the path a large portal takes. Datasets are generated
deterministically from their index in the request handler (no catalogue is held in memory): ~2 KB each,
with the fields, templates, attachments and resources the real APIs return.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from processes import in_child, start_server

SEED_DATE = "2025-{m:02d}-{d:02d}T08:{mi:02d}:00+00:00"
CATEGORIES = (
    "Administration",
    "Transport et déplacements",
    "Culture et patrimoine",
    "Environnement",
    "Aménagement du territoire",
    "Services et social",
    "Sport et loisirs",
)
PUBLISHERS = ("Ville de Lille", "Métropole Européenne de Lille", "Ville de Roubaix", "Ville de Tourcoing")
WORDS = [
    "stationnement",
    "vélos",
    "arbres",
    "écoles",
    "budget",
    "élections",
    "bibliothèques",
    "piscines",
    "déchets",
    "qualité",
    "air",
    "bruit",
    "voirie",
    "parcs",
    "marchés",
    "subventions",
    "population",
    "logement",
    "transports",
    "bus",
    "métro",
    "tramway",
    "énergie",
    "eau",
]
LICENCES = ("Licence Ouverte v2.0 (Etalab)", "Open Database License (ODbL)", "CC BY 4.0")
UDATA_LICENCES = ("lov2", "odc-odbl", "cc-by", "fr-lo")
FREQUENCIES = ("daily", "weekly", "monthly", "annual", "irregular", "punctual")


def _words(i: int, n: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n))


def _date(i: int) -> str:
    return SEED_DATE.format(m=1 + i % 12, d=1 + i % 28, mi=i % 60)


def ods_dataset(i: int) -> dict:
    """Dataset number `i` of the Opendatasoft catalogue, in the Explore v2.1 shape."""
    category = CATEGORIES[i % len(CATEGORIES)]
    item = {
        "dataset_id": f"jeu-{i:06d}",
        "dataset_uid": f"da_{i:06x}",
        "attachments": [],
        "has_records": i % 17 != 0,
        "data_visible": True,
        "fields": [
            {"name": "nom", "label": "Nom", "type": "text", "description": None, "annotations": {}},
            {"name": "commune", "label": "Commune", "type": "text", "description": None, "annotations": {}},
            {"name": "valeur", "label": "Valeur", "type": "double", "description": None, "annotations": {}},
            {"name": "date", "label": "Date", "type": "date", "description": None, "annotations": {}},
        ],
        "metas": {
            "default": {
                "records_count": (i * 37) % 60_000,
                "modified": _date(i),
                "source_domain_address": None,
                "references": f"https://www.lille.fr/donnees/{i}" if i % 3 == 0 else None,
                "keyword": [WORDS[i % len(WORDS)], WORDS[(i * 5) % len(WORDS)], "lille"],
                "title": f"{_words(i, 4).capitalize()} ({i})",
                "theme": [category],
                "metadata_processed": _date(i + 1),
                "data_processed": _date(i + 2),
                "territory": ["Lille"],
                "description": f"<p>{_words(i, 30)}.</p><p>{_words(i + 1, 20)}.</p>",
                "publisher": PUBLISHERS[i % len(PUBLISHERS)],
                "language": "fr",
                "license": LICENCES[i % len(LICENCES)],
                "license_url": None,
                "metadata_languages": ["fr"],
                "attributions": None,
                "federated": False,
                "timezone": None,
            }
        },
        "features": ["analyze", "geo", "timeserie"] if i % 2 else ["analyze"],
    }
    if i % 5 == 0:
        item["attachments"].append(
            {
                "mimetype": "application/pdf",
                "url": "odsfile://notice.pdf",
                "id": "notice_pdf",
                "title": "Notice",
            }
        )
    if i % 6 == 0:
        item["metas"]["dcat"] = {
            "issued": "2019-03-01",
            "accrualperiodicity": "Annuelle",
            "temporal": "2015-2020",
            "contact_name": "Service open data",
            "contact_email": "opendata@lille.fr",
        }
    return item


def udata_dataset(i: int, base: str) -> dict:
    """Dataset number `i` of the udata catalogue, in the API v1 shape."""
    oid = f"{i:024x}"
    org = i % 40
    resources = []
    for k, (fmt, mime) in enumerate((("csv", "text/csv"), ("json", "application/json"))[: 1 + i % 2]):
        rid = f"{i:08x}-0000-4000-8000-{k:012x}"
        resources.append(
            {
                "id": rid,
                "title": f"{_words(i + k, 3)}.{fmt}",
                "description": None,
                "url": f"https://static.example.fr/resources/{oid}/{rid}.{fmt}",
                "latest": f"{base}/fr/datasets/r/{rid}",
                "format": fmt,
                "mime": mime,
                "filesize": 1000 + i * 13 % 900_000,
                "checksum": {"type": "sha1", "value": f"{i * 2654435761 % 2**160:040x}"},
                "filetype": "file",
                "type": "main",
                "created_at": _date(i),
                "last_modified": _date(i + k + 1),
                "extras": {},
                "harvest": None,
                "metrics": {"views": i % 500},
                "preview_url": None,
                "schema": {"name": None, "url": None, "version": None},
            }
        )
    return {
        "id": oid,
        "title": f"{_words(i, 4).capitalize()} ({i})",
        "acronym": None,
        "slug": f"jeu-{i}",
        "description": f"{_words(i, 30)}.\n\n{_words(i + 1, 20)}.",
        "tags": [WORDS[i % len(WORDS)], WORDS[(i * 5) % len(WORDS)], "transports" if i % 4 == 0 else "lille"],
        "license": UDATA_LICENCES[i % len(UDATA_LICENCES)],
        "frequency": FREQUENCIES[i % len(FREQUENCIES)],
        "frequency_date": None,
        "private": False,
        "archived": None,
        "deleted": None,
        "featured": False,
        "page": f"{base}/fr/datasets/jeu-{i}/",
        "uri": f"{base}/api/1/datasets/jeu-{i}/",
        "created_at": _date(i),
        "last_modified": _date(i + 3),
        "last_update": _date(i + 4),
        "organization": {
            "id": f"{org:024x}",
            "name": f"Commune {org}",
            "slug": f"commune-{org}",
            "page": f"{base}/fr/organizations/commune-{org}/",
            "uri": f"{base}/api/1/organizations/commune-{org}/",
            "logo": None,
        },
        "owner": None,
        "resources": resources,
        "contact_points": [],
        "temporal_coverage": {"start": "2015-01-01", "end": "2020-12-31"} if i % 3 == 0 else None,
        "spatial": {"zones": [f"fr:commune:59{org:03d}"], "granularity": "fr:commune", "geom": None},
        "extras": {},
        "harvest": None,
        "metrics": {"discussions": 0, "followers": i % 7, "reuses": i % 3, "views": i % 1000},
        "schema": None,
        "quality": {},
    }


# --- the server (its own process) -------------------------------------------------------------------------


CSW_NS = (
    'xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco" '
    'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink"'
)
TOPICS = ("transportation", "environment", "planningCadastre", "society", "economy", "boundaries")


def _iso_text(tag: str, value: str) -> str:
    return f"<gmd:{tag}><gco:CharacterString>{value}</gco:CharacterString></gmd:{tag}>"


def _iso_party(name: str, email: str, role: str) -> str:
    return (
        "<gmd:CI_ResponsibleParty>"
        + _iso_text("organisationName", name)
        + "<gmd:contactInfo><gmd:CI_Contact>"
        "<gmd:address><gmd:CI_Address>" + _iso_text("electronicMailAddress", email) + "</gmd:CI_Address>"
        "</gmd:address></gmd:CI_Contact></gmd:contactInfo>"
        f'<gmd:role><gmd:CI_RoleCode codeList="http://standards.iso.org/iso/19139/resources/gmxCodelists.xml'
        f'#CI_RoleCode" codeListValue="{role}"/></gmd:role></gmd:CI_ResponsibleParty>'
    )


def _iso_link(url: str, protocol: str, name: str) -> str:
    return (
        "<gmd:onLine><gmd:CI_OnlineResource><gmd:linkage><gmd:URL>"
        + url
        + "</gmd:URL></gmd:linkage>"
        + _iso_text("protocol", protocol)
        + _iso_text("name", name)
        + "</gmd:CI_OnlineResource></gmd:onLine>"
    )


def csw_record(i: int) -> str:
    """Record number `i` of the CSW catalogue: ISO 19139 as GeoNetwork returns it (full element set), with a
    publisher and a contact, keywords, a topic category, an Etalab licence, a bounding box and a period, and
    a download, a WMS and a WFS link."""
    publisher = PUBLISHERS[i % len(PUBLISHERS)]
    email = "sig@" + publisher.lower().replace(" ", "-").replace("é", "e") + ".fr"
    date = _date(i)[:10]
    west, south = 2.9 + (i % 30) / 100, 50.5 + (i % 20) / 100
    layer = f"lille:layer_{i}"
    ows = "https://geo.example.org/geoserver/ows"
    keywords = "".join(
        f"<gmd:keyword><gco:CharacterString>{w}</gco:CharacterString></gmd:keyword>"
        for w in _words(i, 5).split()
    )
    return (
        f"<gmd:MD_Metadata {CSW_NS}>"
        + _iso_text("fileIdentifier", f"fr-{i:08d}-0000-4000-8000-{i:012d}")
        + '<gmd:language><gmd:LanguageCode codeList="http://www.loc.gov/standards/iso639-2/" '
        'codeListValue="fre"/></gmd:language>'
        '<gmd:hierarchyLevel><gmd:MD_ScopeCode codeList="http://standards.iso.org/iso/19139/resources/'
        'gmxCodelists.xml#MD_ScopeCode" codeListValue="dataset"/></gmd:hierarchyLevel>'
        "<gmd:contact>" + _iso_party(publisher, email, "pointOfContact") + "</gmd:contact>"
        f"<gmd:dateStamp><gco:DateTime>{date}T10:00:00</gco:DateTime></gmd:dateStamp>"
        "<gmd:identificationInfo><gmd:MD_DataIdentification><gmd:citation><gmd:CI_Citation>"
        + _iso_text("title", f"{_words(i, 3).capitalize()} de {publisher} ({i})")
        + f"<gmd:date><gmd:CI_Date><gmd:date><gco:Date>{date}</gco:Date></gmd:date><gmd:dateType>"
        '<gmd:CI_DateTypeCode codeList="http://standards.iso.org/iso/19139/resources/gmxCodelists.xml'
        '#CI_DateTypeCode" codeListValue="revision"/></gmd:dateType></gmd:CI_Date></gmd:date>'
        "</gmd:CI_Citation></gmd:citation>"
        + _iso_text("abstract", f"Données {_words(i + 1, 12)} publiées par {publisher}. " * 3)
        + "<gmd:pointOfContact>"
        + _iso_party(publisher, email, "publisher")
        + "</gmd:pointOfContact><gmd:descriptiveKeywords><gmd:MD_Keywords>"
        + keywords
        + "</gmd:MD_Keywords></gmd:descriptiveKeywords><gmd:resourceConstraints><gmd:MD_LegalConstraints>"
        + _iso_text("otherConstraints", "Licence Ouverte v2.0 (Etalab)")
        + "</gmd:MD_LegalConstraints></gmd:resourceConstraints>"
        + _iso_text("language", "fre")
        + f"<gmd:topicCategory><gmd:MD_TopicCategoryCode>{TOPICS[i % len(TOPICS)]}</gmd:MD_TopicCategoryCode>"
        "</gmd:topicCategory><gmd:extent><gmd:EX_Extent><gmd:geographicElement><gmd:EX_GeographicBoundingBox>"
        f"<gmd:westBoundLongitude><gco:Decimal>{west:.2f}</gco:Decimal></gmd:westBoundLongitude>"
        f"<gmd:eastBoundLongitude><gco:Decimal>{west + 0.2:.2f}</gco:Decimal></gmd:eastBoundLongitude>"
        f"<gmd:southBoundLatitude><gco:Decimal>{south:.2f}</gco:Decimal></gmd:southBoundLatitude>"
        f"<gmd:northBoundLatitude><gco:Decimal>{south + 0.1:.2f}</gco:Decimal></gmd:northBoundLatitude>"
        "</gmd:EX_GeographicBoundingBox></gmd:geographicElement><gmd:temporalElement><gmd:EX_TemporalExtent>"
        f'<gmd:extent><gml:TimePeriod gml:id="t{i}"><gml:beginPosition>2020-01-01</gml:beginPosition>'
        "<gml:endPosition>2024-12-31</gml:endPosition></gml:TimePeriod></gmd:extent></gmd:EX_TemporalExtent>"
        "</gmd:temporalElement></gmd:EX_Extent></gmd:extent></gmd:MD_DataIdentification></gmd:identificationInfo>"
        "<gmd:distributionInfo><gmd:MD_Distribution><gmd:distributionFormat><gmd:MD_Format>"
        + _iso_text("name", "CSV")
        + _iso_text("version", "1.0")
        + "</gmd:MD_Format></gmd:distributionFormat><gmd:transferOptions><gmd:MD_DigitalTransferOptions>"
        + _iso_link(
            f"https://data.example.org/files/{i}.csv", "WWW:DOWNLOAD-1.0-http--download", "Export CSV"
        )
        + _iso_link(ows, "OGC:WMS", layer)
        + _iso_link(ows, "OGC:WFS", layer)
        + "</gmd:MD_DigitalTransferOptions></gmd:transferOptions></gmd:MD_Distribution></gmd:distributionInfo>"
        "</gmd:MD_Metadata>"
    )


def csw_page(start: int, count: int, size: int) -> bytes:
    """A GetRecords response holding records start..start+count-1 (1-based, as CSW counts)."""
    end = min(size, start + count - 1)
    following = end + 1 if end < size else 0
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">'
        '<csw:SearchStatus timestamp="2025-01-01T00:00:00Z"/>'
        f'<csw:SearchResults numberOfRecordsMatched="{size}" numberOfRecordsReturned="{end - start + 1}" '
        f'nextRecord="{following}" elementSet="full">'
        + "".join(csw_record(i) for i in range(start, end + 1))
        + "</csw:SearchResults></csw:GetRecordsResponse>"
    ).encode("utf-8")


def serve(size: int, ready: mp.Queue, stop: mp.Event) -> None:  # type: ignore[valid-type]
    """Serve /ods/api/explore/v2.1/…, /udata/api/1/datasets/ and /csw over `size` datasets each."""
    from fedcat.demo.portal import PortalServer, Reply, Request

    server = PortalServer()
    base = server.base_url

    def reply(body: object) -> Reply:
        return Reply(json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def ods(request: Request) -> Reply | None:
        query = {k: v[0] for k, v in request.query.items()}
        offset = int(query.get("offset", "0"))
        if request.path.endswith("/catalog/datasets"):
            limit = min(int(query.get("limit", "10")), 100)
            if offset + limit > 10_000:
                return Reply(b'{"error": "offset + limit must be lower than 10000"}', "application/json", 400)
            items = [ods_dataset(i) for i in range(offset + 1, min(size, offset + limit) + 1)]
            return reply({"total_count": size, "results": items})
        if request.path.endswith("/catalog/exports/json"):
            limit = int(query.get("limit", "-1"))
            end = size if limit < 0 else min(size, offset + limit)
            return reply([ods_dataset(i) for i in range(offset + 1, end + 1)])
        return None

    def udata(request: Request) -> Reply | None:
        if not request.path.endswith("/api/1/datasets/"):
            return None
        page = int(request.query.get("page", ["1"])[0])
        page_size = int(request.query.get("page_size", ["20"])[0])
        start = (page - 1) * page_size
        items = [udata_dataset(i, base) for i in range(start + 1, min(size, start + page_size) + 1)]
        more = start + page_size < size
        next_page = f"{base}/udata/api/1/datasets/?page={page + 1}&page_size={page_size}&sort=created"
        return reply(
            {
                "data": items,
                "page": page,
                "page_size": page_size,
                "total": size,
                "next_page": next_page if more else None,
                "previous_page": None,
            }
        )

    def csw(request: Request) -> Reply | None:
        query = {k.lower(): v[0] for k, v in request.query.items()}
        start, count = int(query.get("startposition", "1")), int(query.get("maxrecords", "10"))
        return Reply(csw_page(start, count, size), "application/xml; charset=utf-8")

    server.handle("/ods/api/explore/v2.1/", ods)
    server.handle("/udata/api/1/", udata)
    server.handle("/csw", csw)
    server.start()
    ready.put(base)
    stop.wait()
    server.stop()


# --- the harvesting process -------------------------------------------------------------------------------


def _config(base_url: str, kind: str, page_size: int):
    from fedcat.harvester.sources import parse_config

    url = {"opendatasoft": f"{base_url}/ods", "udata": f"{base_url}/udata/", "csw": f"{base_url}/csw"}[kind]
    source = {"id": "bench", "name": f"Generated {kind} portal", "type": kind, "url": url}
    return parse_config(
        {"settings": {"base_url": "http://fedcat.test", "page_size": page_size}, "sources": [source]}
    )


def harvest_child(base_url: str, kind: str, page_size: int, workdir: str, out: mp.Queue) -> None:  # type: ignore[valid-type]
    """One harvest in a fresh process, its time split by stage, its counts and its peak RSS."""
    import fedcat.harvester.run as run_module
    from fedcat.harvester.adapters import ADAPTERS
    from fedcat.harvester.adapters.jsonapi import FetchAhead
    from fedcat.harvester.http import HttpClient
    from fedcat.harvester.run import harvest
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.mappings.registry import MAPPINGS
    from fedcat.store import Store

    spent: Counter = Counter()
    real_get, adapter = HttpClient.get, ADAPTERS[kind]
    real_pages, real_map = adapter.pages, MAPPINGS[kind]

    main = threading.main_thread()

    def timed_get(self, *args, **kwargs):  # the real method, timed
        started = time.perf_counter()
        try:
            return real_get(self, *args, **kwargs)
        finally:
            # a GET on the harvesting thread blocks it; one on a thread that fetches ahead overlaps its work
            on_main = threading.current_thread() is main
            spent["wait" if on_main else "ahead"] += time.perf_counter() - started

    # adapters that fetch ahead: the harvesting thread waits only while it asks for what is not there yet
    real_ahead_get = FetchAhead.get

    def timed_ahead_get(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return real_ahead_get(self, *args, **kwargs)
        finally:
            spent["wait"] += time.perf_counter() - started

    FetchAhead.get = timed_ahead_get

    def timed_pages(self):
        pages = real_pages(self)
        while True:
            started = time.perf_counter()
            try:
                page = next(pages)
            except StopIteration:
                return
            finally:
                spent["pages"] += time.perf_counter() - started
            yield page

    def timed_map(*args):
        started = time.perf_counter()
        try:
            return real_map(*args)
        finally:
            spent["map"] += time.perf_counter() - started

    HttpClient.get, adapter.pages, MAPPINGS[kind] = timed_get, timed_pages, timed_map
    real_sync, marks = run_module.sync_index, {}

    def timed_sync(*args, **kwargs):  # what harvest() does after the pages: the views' catch-up
        marks["main"], marks["process"] = time.thread_time(), time.process_time()
        started = time.perf_counter()
        try:
            return real_sync(*args, **kwargs)
        finally:
            spent["sync"] += time.perf_counter() - started

    run_module.sync_index = timed_sync
    config = _config(base_url, kind, page_size)
    store = Store(Path(workdir) / "store.db")
    backend = EmbeddedBackend(Path(workdir) / "index")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0]
    started, main_started, process_started = time.perf_counter(), time.thread_time(), time.process_time()
    [result] = harvest(config, store, backend)
    elapsed = time.perf_counter() - started
    main_cpu, process_cpu = time.thread_time() - main_started, time.process_time() - process_started
    after = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the mapping process, joined by the run
    stored, indexed = store.count("bench"), len(backend.ids())
    backend.close()
    store.close()
    out.put(
        {
            "elapsed": elapsed,
            "cpu": (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime),
            "main_cpu": main_cpu,  # the harvesting thread
            "threads_cpu": process_cpu - main_cpu,  # fetching ahead, tantivy's indexing threads
            "children_cpu": children.ru_utime + children.ru_stime,  # the mapping process
            "sync_cpu": process_cpu - (marks.get("process", process_started + process_cpu) - process_started),
            "sync": spent["sync"],
            "load": (load + os.getloadavg()[0]) / 2,
            "children_rss_mb": children.ru_maxrss / 1024,
            "get": spent["wait"],  # the harvesting thread waiting for responses
            "ahead": spent["ahead"],  # GETs on a fetch-ahead thread, overlapping the harvesting thread's work
            "parse": spent["pages"] - spent["wait"],
            "map": spent["map"],
            "status": result.status,
            "message": result.message,
            "counts": dict(result.counts),
            "stored": stored,
            "indexed": indexed,
            "rss_mb": after.ru_maxrss / 1024,
        }
    )


def baseline_child(base_url: str, kind: str, size: int, page_size: int, out: mp.Queue) -> None:  # type: ignore[valid-type]
    """The same responses fetched with a bare requests session and json.loads (ElementTree for CSW): what the
    server allows."""
    from xml.etree.ElementTree import fromstring

    import requests

    session = requests.Session()
    started = time.perf_counter()
    datasets = 0
    if kind == "opendatasoft":
        api = f"{base_url}/ods/api/explore/v2.1/catalog"
        datasets += len(json.loads(session.get(f"{api}/datasets?limit=100&offset=0").content)["results"])
        offset = 100
        while offset < size:
            datasets += len(json.loads(session.get(f"{api}/exports/json?limit=5000&offset={offset}").content))
            offset += 5000
    elif kind == "csw":
        for start in range(1, size + 1, page_size):
            root = fromstring(
                session.get(f"{base_url}/csw?startPosition={start}&maxRecords={page_size}").content
            )
            datasets += len(root.findall(".//{http://www.isotc211.org/2005/gmd}MD_Metadata"))
    else:
        url = f"{base_url}/udata/api/1/datasets/?page=1&page_size={page_size}&sort=created"
        while url:
            body = json.loads(session.get(url).content)
            datasets += len(body["data"])
            url = body["next_page"]
    out.put({"elapsed": time.perf_counter() - started, "datasets": datasets})


def run_kind(
    base_url: str, kind: str, size: int, repeat: int, page_size: int, against: str | None = None
) -> list[dict]:
    """`repeat` harvests of this tree (and of the `against` interpreter's, alternating): one summary each."""
    trees = [None, against] if against else [None]
    runs: dict[str | None, list[dict]] = {tree: [] for tree in trees}
    problems: dict[str | None, list[str]] = {tree: [] for tree in trees}
    for _ in range(repeat):
        for tree in trees:
            with tempfile.TemporaryDirectory(prefix="fedcat-bench-") as workdir:
                run = in_child(harvest_child, base_url, kind, page_size, workdir, executable=tree)
            if run["status"] != "complete" or run["counts"].get("created") != size:
                problems[tree].append(f"{kind}: {run['status']} {run['message']} {run['counts']}")
            if run["stored"] != size or run["indexed"] != size:
                problems[tree].append(f"{kind}: stored {run['stored']}, indexed {run['indexed']} of {size}")
            runs[tree].append(run)
    baseline = statistics.median(
        in_child(baseline_child, base_url, kind, size, page_size)["elapsed"] for _ in range(repeat)
    )
    out = []
    for tree in trees:
        median = statistics.median(r["elapsed"] for r in runs[tree])

        def med(key: str, tree: str | None = tree) -> float:
            return statistics.median(r[key] for r in runs[tree])

        out.append(
            {
                "kind": kind,
                "tree": "this tree" if tree is None else tree,
                "runs": runs[tree],
                "median": median,
                "middle": min(runs[tree], key=lambda r: abs(r["elapsed"] - median)),
                "cpu_us": {  # per dataset, medians of each role
                    role: med(key) / size * 1e6
                    for role, key in (
                        ("harvesting thread", "main_cpu"),
                        ("other threads", "threads_cpu"),
                        ("mapping process", "children_cpu"),
                        ("of which after the pages", "sync_cpu"),
                    )
                },
                "load": med("load"),
                "rss": max(r["rss_mb"] for r in runs[tree]),
                "children_rss": max(r["children_rss_mb"] for r in runs[tree]),
                "baseline": baseline,
                "problems": problems[tree],
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50_000, help="datasets per portal (default 50,000)")
    parser.add_argument("--repeat", type=int, default=3, help="harvests per portal (median reported)")
    parser.add_argument("--page-size", type=int, default=100, help="listing page size asked (default 100)")
    parser.add_argument("--only", choices=("udata", "opendatasoft", "csw"), help="one portal only")
    parser.add_argument("--only-json", action="store_true", help="udata and Opendatasoft (no CSW)")
    parser.add_argument(
        "--against",
        metavar="PYTHON",
        help="another checkout's venv interpreter (e.g. main's): its harvests alternate with this tree's",
    )
    args = parser.parse_args(argv)

    from fedcat.harvester.adapters import ADAPTERS

    kinds = [k for k in ("opendatasoft", "udata", "csw") if args.only in (None, k)]
    if args.only_json:
        kinds = [k for k in kinds if k != "csw"]
    missing = [k for k in kinds if k not in ADAPTERS]
    kinds = [k for k in kinds if k in ADAPTERS]
    load = os.getloadavg()[0]
    print(
        f"fedcat portals bench: {args.size:,} datasets per portal, {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    for kind in missing:
        print(f"(no `{kind}` adapter in this tree: its half is skipped)")
    sample = {
        "opendatasoft": json.dumps(ods_dataset(7), ensure_ascii=False).encode(),
        "udata": json.dumps(udata_dataset(7, "http://127.0.0.1:1"), ensure_ascii=False).encode(),
        "csw": csw_record(7).encode(),
    }
    for kind in kinds:
        print(f"{kind}: ~{len(sample[kind]):,} bytes per dataset")
    server, stop, base_url = start_server(serve, args.size)
    try:
        results = [
            r
            for kind in kinds
            for r in run_kind(base_url, kind, args.size, args.repeat, args.page_size, args.against)
        ]
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()

    print(f"\nload average (1, 5, 15 min) after the runs: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        "| portal | code | end to end | without waiting | time split (median run) | CPU / wall | peak RSS |"
        " bare fetch + parse |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        m, n = r["middle"], args.size
        rest = m["elapsed"] - m["get"] - m["parse"] - m["map"] - m["sync"]
        runs = ", ".join(f"{x['elapsed']:.1f}" for x in r["runs"])
        cpu = m["cpu"] + m["children_cpu"]
        print(
            f"| {r['kind']} | {r['tree']} "
            f"| **{n / r['median']:,.0f} datasets/s** ({r['median']:.1f} s; runs {runs} s; load {r['load']:.1f}) "
            f"| {n / (m['elapsed'] - m['get']):,.0f} datasets/s "
            f"| waiting for responses {m['get']:.1f} s"
            + (f" (GETs fetched ahead: {m['ahead']:.1f} s)" if m["ahead"] else "")
            + f", parse {m['parse']:.1f} s, map here {m['map']:.1f} s, store+index {rest:.1f} s,"
            f" sync after the pages {m['sync']:.1f} s "
            f"| {cpu:.1f} s / {m['elapsed']:.1f} s = {cpu / n * 1e6:,.0f} µs CPU a dataset "
            f"({n / cpu:,.0f}/s per CPU-second) "
            f"| **{r['rss']:.0f} MB**"
            + (f" + mapping process {r['children_rss']:.0f} MB" if m["children_cpu"] else "")
            + f" | {n / r['baseline']:,.0f} datasets/s (end to end = {r['baseline'] / r['median']:.0%} of it) |"
        )
    print("\nCPU µs per dataset by role (medians):")
    for r in results:
        roles = r["cpu_us"]
        total = sum(v for k, v in roles.items() if not k.startswith("of which"))
        print(
            f"- {r['kind']}, {r['tree']}: "
            + " + ".join(f"{k} {v:.0f}" for k, v in roles.items() if not k.startswith("of which"))
            + f" = {total:.0f} µs ({roles['of which after the pages']:.0f} of it after the pages)"
        )
    if args.against:
        print("\nthis tree against the other (medians, same run):")
        for mine, other in zip(results[::2], results[1::2], strict=True):
            mine_cpu, other_cpu = (
                sum(v for k, v in x["cpu_us"].items() if not k.startswith("of which")) for x in (mine, other)
            )
            print(
                f"- {mine['kind']}: rate {other['median'] / mine['median']:.2f}×, "
                f"harvesting thread CPU {other['cpu_us']['harvesting thread'] / mine['cpu_us']['harvesting thread']:.2f}× less, "
                f"total CPU {other_cpu / mine_cpu:.2f}× less"
            )
    print(
        "\ntargets (Opendatasoft, udata): end to end ≥ 2,000 datasets/s, peak RSS ≤ 400 MB; CSW has none yet"
    )
    problems = [p for r in results for p in r["problems"]]
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
