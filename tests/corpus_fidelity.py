"""Corpus-wide fidelity check: what each real record says against what fedcat's export says, field by field.

Every file of the shared corpus that holds datasets is split into raw records by the adapters' own readers
(the code a harvest runs), each record is mapped by `mapping_for(type)` and written by the RDF export
(`dataset_ntriples`); then, read independently of the mapping, the record's titles, licences or rights,
formats, download/access URLs, dates and geometry are looked for in the export. A value the export lacks is
"reported" when the record's run report (`unmapped`) names it, else "LOST".

    python tests/corpus_fidelity.py [--lost]    # a table per source type; --lost lists every lost value

`tests/test_corpus_fidelity.py` runs it (in its own process, `--json`) and fails on any LOST value.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, tostring

import pyoxigraph

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import CORPUS  # noqa: E402
from fedcat.mappings.context import SourceContext  # noqa: E402
from fedcat.mappings.model import Dataset  # noqa: E402
from fedcat.mappings.rdf import dataset_ntriples, repair_iri  # noqa: E402
from fedcat.mappings.registry import mapping_for  # noqa: E402

FIELDS = ("title", "licence", "format", "url", "date", "geometry")
DCT, DCAT = "http://purl.org/dc/terms/", "http://www.w3.org/ns/dcat#"
LOCN, RDF_TYPE = "http://www.w3.org/ns/locn#", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
URI = "https://fedcat.example/datasets/corpus"
# where the run report keeps a value the export could not carry, per compared field
REPORTED_UNDER = {
    "licence": ("licence", "rights"),
    "format": ("format", "media_type"),
    "url": ("distribution_url",),
    "date": ("modified", "issued", "date"),
    "geometry": ("spatial", "geometry", "bbox"),
    "title": ("title",),
}


@dataclass
class Said:
    """What a record says, read without fedcat's mapping: per field, the values (or presence markers)."""

    title: set[str] = field(default_factory=set)
    licence: bool = False
    formats: int = 0  # distributions that name a format or media type
    urls: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)  # "issued" / "modified"
    geometry: bool = False


@dataclass
class Tally:
    given: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    reported: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    records: int = 0
    unreadable: int = 0


# --- what the export says --------------------------------------------------------------------------------


@dataclass
class Exported:
    titles: set[str]
    licence: bool
    formats: int
    urls: set[str]
    dates: set[str]
    geometry: bool


def exported(dataset: Dataset) -> Exported:
    store = pyoxigraph.Store()
    store.bulk_load(dataset_ntriples(dataset).encode(), pyoxigraph.RdfFormat.N_TRIPLES)

    def objects(subject: Any, predicate: str) -> list[Any]:
        if isinstance(subject, pyoxigraph.Literal):
            return []
        return [q.object for q in store.quads_for_pattern(subject, pyoxigraph.NamedNode(predicate), None)]

    subject = pyoxigraph.NamedNode(dataset.uri)
    distributions = objects(subject, DCAT + "distribution")
    licence = bool(objects(subject, DCT + "rights") or objects(subject, DCT + "license")) or any(
        objects(d, DCT + "license") or objects(d, DCT + "rights") for d in distributions
    )
    formats = sum(1 for d in distributions if objects(d, DCT + "format") or objects(d, DCAT + "mediaType"))
    urls = {
        o.value for d in distributions for p in ("accessURL", "downloadURL") for o in objects(d, DCAT + p)
    }
    urls |= {o.value for p in ("landingPage",) for o in objects(subject, DCAT + p)}
    places = objects(subject, DCT + "spatial")
    geometry = any(objects(p, DCAT + "bbox") or objects(p, LOCN + "geometry") for p in places)
    dates = {name for name in ("issued", "modified") if objects(subject, DCT + name)}
    titles = {o.value for o in objects(subject, DCT + "title")}
    return Exported(titles, licence, formats, urls, dates, geometry)


def compare(said: Said, dataset: Dataset, tally: Tally, where: str) -> None:
    out = exported(dataset)
    unmapped = dataset.unmapped

    def check(name: str, given: bool, kept: bool, detail: str) -> None:
        if not given:
            return
        tally.given[name] += 1
        if kept:
            tally.kept[name] += 1
        elif any(unmapped.get(k) for k in REPORTED_UNDER[name]):
            tally.reported[name] += 1
        else:
            tally.lost.append(f"{where}: {name}: {detail}")

    for title in said.title:
        check("title", True, title in out.titles, repr(title))
    check("licence", said.licence, out.licence, "the source gives a licence or rights, the export none")
    check(
        "format",
        said.formats > 0,
        out.formats >= said.formats,
        f"{said.formats} distribution(s) name a format, {out.formats} in the export",
    )
    for url in said.urls:
        check("url", True, url in out.urls or repair_iri(url) in out.urls, url)
    for name in said.dates:
        check("date", True, name in out.dates, f"dct:{name}")
    check("geometry", said.geometry, out.geometry, "the source gives a bbox or geometry, the export none")


# --- the records of each source type, and what they say ---------------------------------------------------


def _texts(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value.strip()} if value.strip() else set()
    if isinstance(value, dict):
        return {t for v in value.values() for t in _texts(v)}
    if isinstance(value, list):
        return {t for v in value for t in _texts(v)}
    return set()


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://", "ftp://"))


def dcat_records() -> Iterator[tuple[str, bytes, Any, Callable[[], Said]]]:
    from fedcat.harvester.adapters.dcat import detect_format, read_page
    from fedcat.harvester.http import HarvestError

    media = {".ttl": "text/turtle", ".nt": "application/n-triples", ".rdf": "application/rdf+xml"}
    media |= {".xml": "application/rdf+xml", ".jsonld": "application/ld+json", ".json": "application/ld+json"}
    for path in sorted((CORPUS / "dcat").rglob("*")):
        if path.suffix not in media:
            continue
        content = path.read_bytes()
        try:
            page = read_page(
                content, detect_format(content, media[path.suffix], str(path)), "https://x/", "u", 1
            )
        except (HarvestError, Exception):
            yield str(path.relative_to(CORPUS)), b"", None, Said
            continue
        for record in page.records:
            yield (
                f"{path.relative_to(CORPUS)}#{record.source_record_id}",
                record.payload,
                None,
                _rdf_said(record.payload),
            )


def _rdf_said(payload: bytes) -> Callable[[], Said]:
    def read() -> Said:
        store = pyoxigraph.Store()
        for t in pyoxigraph.parse(payload, pyoxigraph.RdfFormat.N_TRIPLES, lenient=True):
            store.add(pyoxigraph.Quad(t.subject, t.predicate, t.object))

        def objects(subject: Any, predicate: str) -> list[Any]:
            if isinstance(subject, pyoxigraph.Literal):
                return []
            return [q.object for q in store.quads_for_pattern(subject, pyoxigraph.NamedNode(predicate), None)]

        def typed(cls: str) -> list[Any]:
            return [
                q.subject
                for q in store.quads_for_pattern(
                    None, pyoxigraph.NamedNode(RDF_TYPE), pyoxigraph.NamedNode(cls)
                )
            ]

        # the dataset (or dataset series) the record describes; else the stand-alone data service (whose
        # payload names the datasets it serves by their type alone)
        described = [
            s
            for s in typed(DCAT + "Dataset") + typed(DCAT + "DatasetSeries")
            if len(list(store.quads_for_pattern(s, None, None))) > 1
        ]
        [subject] = (described or typed(DCAT + "DataService"))[:1]
        said = Said(title={o.value.strip() for o in objects(subject, DCT + "title") if o.value.strip()})
        dists = objects(subject, DCAT + "distribution")
        said.licence = bool(objects(subject, DCT + "license") or objects(subject, DCT + "rights")) or any(
            objects(d, DCT + "license") or objects(d, DCT + "rights") for d in dists
        )
        said.formats = sum(1 for d in dists if objects(d, DCT + "format") or objects(d, DCAT + "mediaType"))
        said.urls = {
            o.value
            for d in dists
            for p in ("accessURL", "downloadURL")
            for o in objects(d, DCAT + p)
            if isinstance(o, pyoxigraph.NamedNode)
        }
        said.dates = {
            n for n in ("issued", "modified") if any(o.value.strip() for o in objects(subject, DCT + n))
        }
        said.geometry = any(
            objects(p, DCAT + "bbox") or objects(p, LOCN + "geometry")
            for p in objects(subject, DCT + "spatial")
        )
        return said

    return read


def datajson_records() -> Iterator[tuple[str, bytes, Any, Callable[[], Said]]]:
    from fedcat.harvester.adapters.datajson import catalogue_datasets
    from fedcat.harvester.adapters.jsonapi import JsonStream, canonical_json
    from fedcat.harvester.http import HarvestError

    for path in sorted((CORPUS / "datajson").rglob("*.json")):
        try:
            items = [item for item, _ in catalogue_datasets(JsonStream(path.read_bytes(), str(path)))]
        except HarvestError:
            continue  # not a catalogue: the harvest fails saying so (tests/test_fidelity.py)
        for position, item in enumerate(items):
            if not isinstance(item, dict) or not item.get("identifier"):
                continue  # reported by the harvest as a record without identifier
            yield f"{path.relative_to(CORPUS)}#{position}", canonical_json(item), item, _datajson_said(item)


def _datajson_said(item: dict) -> Callable[[], Said]:
    def read() -> Said:
        dists = [d for d in item.get("distribution") or () if isinstance(d, dict)]
        spatial = item.get("spatial")
        return Said(
            title=_texts(item.get("title")),
            licence=bool(item.get("license") or item.get("rights")),
            formats=sum(1 for d in dists if d.get("format") or d.get("mediaType")),
            urls={u.strip() for d in dists for k in ("downloadURL", "accessURL") if _is_url(u := d.get(k))},
            dates={
                n for n in ("issued", "modified") if isinstance(item.get(n), str) and item[n][:1].isdigit()
            },
            geometry=isinstance(spatial, dict | str) and _looks_spatial(spatial),
        )

    return read


def _looks_spatial(value: Any) -> bool:
    """A bbox, WKT or GeoJSON (a place name or a place IRI is not a geometry)."""
    from fedcat.mappings import geometry

    if isinstance(value, dict):
        return bool(value.get("type") or value.get("bbox") or value.get("geometry"))
    text = value.strip()
    return bool(geometry.parse_bbox(text) or geometry.is_wkt(text) or text[:1] in "{[")


def ckan_records() -> Iterator[tuple[str, bytes, Any, Callable[[], Said]]]:
    from fedcat.harvester.adapters.jsonapi import canonical_json
    from test_harvest_ckan import corpus_packages

    for package in corpus_packages():
        yield f"ckan#{package['id']}", canonical_json(package), package, _ckan_said(package)


def _ckan_said(package: dict) -> Callable[[], Said]:
    def read() -> Said:
        resources = [r for r in package.get("resources") or () if isinstance(r, dict)]
        extras = package.get("extras")
        extras = (
            {e.get("key"): e.get("value") for e in extras} if isinstance(extras, list) else (extras or {})
        )
        return Said(
            title=_texts(package.get("title_translated") or package.get("title")),
            licence=bool(
                package.get("license_id") or package.get("license_title") or package.get("license_url")
            ),
            formats=sum(1 for r in resources if r.get("format") or r.get("mimetype")),
            urls={r["url"].strip() for r in resources if _is_url(r.get("url"))},
            dates=set(),  # CKAN's metadata dates are always there; not a source value worth comparing
            geometry=bool(extras.get("spatial") or extras.get("spatial_bbox")),
        )

    return read


def udata_records() -> Iterator[tuple[str, bytes, Any, Callable[[], Said]]]:
    from fedcat.harvester.adapters.jsonapi import canonical_json
    from test_harvest_udata import SHAPES, api_dataset, fixture_items

    for shape in SHAPES:
        for index, raw in enumerate(fixture_items(shape)):
            item = api_dataset(raw, "https://portal.test/udata/", index)
            yield f"udata-{shape}#{item['id']}", canonical_json(item), item, _udata_said(item)


def _udata_said(item: dict) -> Callable[[], Said]:
    def read() -> Said:
        resources = [r for r in item.get("resources") or () if isinstance(r, dict)]
        spatial = item.get("spatial") if isinstance(item.get("spatial"), dict) else {}
        return Said(
            title=_texts(item.get("title")),
            licence=bool(item.get("license")),
            formats=sum(1 for r in resources if r.get("format") or r.get("mime")),
            urls={r["url"].strip() for r in resources if _is_url(r.get("url"))},
            dates=set(),
            geometry=bool(spatial.get("geom")),
        )

    return read


def ods_records() -> Iterator[tuple[str, bytes, Any, Callable[[], Said]]]:
    from fedcat.harvester.adapters.jsonapi import canonical_json
    from test_harvest_opendatasoft import corpus_datasets

    for item in corpus_datasets():
        yield f"ods#{item.get('dataset_id')}", canonical_json(item), item, _ods_said(item)


def _ods_said(item: dict) -> Callable[[], Said]:
    def read() -> Said:
        default = (item.get("metas") or {}).get("default") or {}
        return Said(
            title=_texts(default.get("title")),
            licence=bool(default.get("license") or default.get("license_url")),
            formats=0,  # the exports are fedcat's own links, not the portal's words
            urls=set(),
            dates={"modified"} if default.get("modified") else set(),
            geometry=bool(default.get("geographic_area")),
        )

    return read


def csw_records() -> Iterator[tuple[str, bytes, Any, Callable[[], Said]]]:
    from defusedxml.ElementTree import parse
    from fedcat.mappings.iso19139 import GMD, is_left_out

    for path in sorted((CORPUS / "csw").rglob("*.xml")):
        try:
            root = parse(path).getroot()
        except Exception:
            continue  # unreadable on purpose (kept as quirks): the harvest reports it
        for element in root.iter(f"{{{GMD}}}MD_Metadata"):
            if is_left_out(element):
                continue
            ident = element.findtext(
                f"{{{GMD}}}fileIdentifier/{{http://www.isotc211.org/2005/gco}}CharacterString"
            )
            if not ident:
                continue
            yield (
                f"{path.relative_to(CORPUS)}#{ident.strip()}",
                tostring(element),
                element,
                _iso_said(element),
            )


def _iso_said(element: Element) -> Callable[[], Said]:
    gmd, gco = "{http://www.isotc211.org/2005/gmd}", "{http://www.isotc211.org/2005/gco}"

    def read() -> Said:
        info = element.find(f"{gmd}identificationInfo/*")
        title = info.find(f"{gmd}citation/{gmd}CI_Citation/{gmd}title") if info is not None else None
        texts = {t.strip() for t in (title.itertext() if title is not None else ()) if t.strip()}
        constraints = [
            t.strip()
            for c in (info.iter(f"{gmd}resourceConstraints") if info is not None else ())
            for t in c.itertext()
            if t.strip()
        ]
        online = [
            r
            for options in element.iter(f"{gmd}transferOptions")
            for r in options.iter(f"{gmd}CI_OnlineResource")
            if (r.findtext(f"{gmd}function/{gmd}CI_OnLineFunctionCode") or "").lower()
            not in ("information", "search")
            and not any(
                (c.get("codeListValue") or "").lower() in ("information", "search")
                for c in r.iter(f"{gmd}CI_OnLineFunctionCode")
            )
        ]
        links = {
            (r.findtext(f"{gmd}linkage/{gmd}URL") or "").strip()
            for r in online
            if _is_url(r.findtext(f"{gmd}linkage/{gmd}URL"))
        }
        boxes = list(element.iter(f"{gmd}EX_GeographicBoundingBox"))
        return Said(
            title=texts,
            licence=bool(constraints),
            formats=0,  # ISO lists formats apart from links: compared through the links' formats elsewhere
            urls=links,
            dates=set(),
            geometry=any(b.find(f"{gmd}westBoundLongitude/{gco}Decimal") is not None for b in boxes),
        )

    return read


READERS: dict[str, Callable[[], Iterator[tuple[str, bytes, Any, Callable[[], Said]]]]] = {
    "dcat": dcat_records,
    "datajson": datajson_records,
    "ckan": ckan_records,
    "udata": udata_records,
    "opendatasoft": ods_records,
    "csw": csw_records,
}


def check_corpus() -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for source_type, records in READERS.items():
        tally = tallies[source_type] = Tally()
        mapping = mapping_for(source_type)
        source = SourceContext("corpus", "https://portal.test", {}, lambda srid: f"{URI}/{srid}")
        for where, payload, parsed, said in records():
            if not payload:
                tally.unreadable += 1
                continue
            try:
                dataset = mapping(payload, URI, source, parsed)
            except Exception as exc:  # a record that fails to map is reported by the harvest, not lost
                tally.lost.append(f"{where}: mapping failed: {type(exc).__name__}: {exc}")
                continue
            tally.records += 1
            compare(said(), dataset, tally, where)
    return tallies


def main(argv: list[str]) -> int:
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}")
        return 2
    tallies = check_corpus()
    if "--json" in argv:  # for tests/test_corpus_fidelity.py
        summary = {
            t: {"records": v.records, "given": dict(v.given), "lost": v.lost} for t, v in tallies.items()
        }
        print(json.dumps(summary))
        return 0
    print(f"{'type':<13}{'records':>8}  " + "  ".join(f"{f + ' kept/given (reported)':>28}" for f in FIELDS))
    for source_type, tally in tallies.items():
        cells = [f"{tally.kept[f]}/{tally.given[f]} ({tally.reported[f]})".rjust(28) for f in FIELDS]
        print(f"{source_type:<13}{tally.records:>8}  " + "  ".join(cells))
    lost = [line for tally in tallies.values() for line in tally.lost]
    print(f"\n{len(lost)} value(s) lost without a line in the run report")
    if "--lost" in argv:
        print("\n".join(lost))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
