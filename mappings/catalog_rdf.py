"""The catalogue around the datasets: `dcat:Catalog`, `dcat:CatalogRecord`s, sources, Hydra paging, export.

Shapes of what fedcat publishes (every IRI under the configured `base_url`):
- `{base}/catalog` is the `dcat:Catalog` of everything; each source is a `dcat:Catalog` too,
  `{base}/sources/{id}`, linked from the root with `dcat:catalog`;
- `{base}/datasets/{id}` is the dataset (`mappings.rdf`), `…#record` fedcat's `dcat:CatalogRecord` of it
  (`foaf:primaryTopic`, first seen as `dct:issued`, last confirmed at the source as `dct:modified`) and
  `…#source-record` the record as the source catalogue holds it (its record id as `dct:identifier`), which
  fedcat's record points to with `dct:source`; the dataset itself is `prov:wasDerivedFrom` the source's IRI;
- a copy of a federation cluster that is not its canonical copy (`fedcat.federation`) points to the canonical
  one (a `dcat:Dataset` of this catalogue) with `dct:source` (DCAT-AP 3.0: "a related Dataset from which the
  described Dataset is derived") and `owl:sameAs`, and carries the canonical's identifiers (its
  `dct:identifier` values and source IRI) as `adms:identifier`, as the DCAT-AP guidelines ask of a
  harvested copy. `prov:wasDerivedFrom` stays the copy's own source IRI: what fedcat's description was
  made from;
- catalogue pages carry a `hydra:PartialCollectionView` (first / previous / next / last) and the collection's
  `hydra:totalItems`.

Everything is written as N-Triples lines (see `mappings.rdf`), from records given to it (`RecordRow`, read
by `store.catalog`): nothing here reads the store (`export` streams a whole store).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pyoxigraph
from pyoxigraph import RdfFormat

from ..redaction import redact_url
from .model import Dataset, Text
from .namespaces import DCAT, DCT, FOAF, HYDRA, PREFIXES, XSD
from .rdf import (
    DOCUMENT,
    FORMATS,
    Namespace,
    Writer,
    adms,
    dcat,
    dct,
    foaf,
    iri,
    owl,
    p,
    prov,
    skos,
    text,
    typed,
    with_context,
    write_dataset,
    write_reuses,
)
from .reuse import Reuse

CATALOG, CATALOG_RECORD = p(DCAT + "Catalog"), p(DCAT + "CatalogRecord")
_DATASET, _RECORD, _CATALOG = p(DCAT + "dataset"), p(DCAT + "record"), p(DCAT + "catalog")
_SERVICE = p(DCAT + "service")
_TITLE, _DESCRIPTION, _PUBLISHER = p(DCT + "title"), p(DCT + "description"), p(DCT + "publisher")
_IDENTIFIER, _ISSUED, _MODIFIED = p(DCT + "identifier"), p(DCT + "issued"), p(DCT + "modified")
_PRIMARY_TOPIC, _SOURCE = p(FOAF + "primaryTopic"), p(DCT + "source")
hydra = Namespace(HYDRA)


@dataclass(frozen=True)
class SourceInfo:
    id: str
    name: str
    url: str
    type: str = ""


@dataclass(frozen=True)
class CatalogInfo:
    """What fedcat says of itself and of its sources (from the config; the store for removed sources)."""

    base_url: str
    sources: dict[str, SourceInfo] = field(default_factory=dict)
    title: str = ""
    description: str = ""
    publisher: str = ""

    @property
    def iri(self) -> str:
        return f"{self.base_url}/catalog"

    def source_iri(self, source_id: str) -> str:
        return f"{self.base_url}/sources/{source_id}"

    def source(self, source_id: str) -> SourceInfo:
        return self.sources.get(source_id) or SourceInfo(source_id, source_id, "")


def catalog_info(config: Any, stored_sources: Iterable[dict[str, Any]] = ()) -> CatalogInfo:
    """CatalogInfo from a `harvester.sources.Config`, plus sources only the store still knows."""
    base = config.settings.base_url.rstrip("/")
    host = urlsplit(base).netloc or base
    sources = {
        s["id"]: SourceInfo(
            s["id"], s.get("name") or s["id"], redact_url(s.get("url") or ""), s.get("type") or ""
        )
        for s in stored_sources
    }
    # a source URL's credentials are fedcat's to fetch with, never to publish
    sources.update({s.id: SourceInfo(s.id, s.name, redact_url(s.url), s.type) for s in config.sources})
    said = config.settings.catalogue  # what the operator wrote in settings.catalogue, else from the host
    return CatalogInfo(
        base_url=base,
        sources=sources,
        title=said.get("title") or f"fedcat catalogue ({host})",
        description=said.get("description")
        or f"Open datasets harvested by fedcat from {len(sources)} portals and catalogues, "
        "normalised to DCAT-AP 3.0.",
        publisher=said.get("publisher") or host,
    )


class Origin(msgspec.Struct, frozen=True):
    """The canonical copy of the federation cluster of a record that is not canonical: what the record's
    description links to. Title and description make it a valid `dcat:Dataset` in a document without it."""

    id: str  # fedcat's id of the canonical copy
    uri: str  # and its IRI
    original_uri: str | None = None
    identifier: list[str] = []
    title: list[Text] = []
    description: list[Text] = []
    is_service: bool = False  # a stand-alone dcat:DataService, not a dcat:Dataset


class RecordRow(msgspec.Struct):
    """One live record as the catalogue needs it."""

    id: str
    source_id: str
    source_record_id: str
    first_seen: str
    last_seen: str
    dataset: Dataset
    origin: Origin | None = None  # its cluster's canonical copy, when that is another record
    reuses: list[Reuse] = []  # what portals list as built on it or on a copy in its cluster, newest first


# --- triples ---------------------------------------------------------------------------------------------


def _literal_or_none(value: str | None) -> str | None:
    return text(value) if value else None


def write_catalog(w: Writer, info: CatalogInfo, source_ids: Iterable[str] | None = None) -> str:
    """The root dcat:Catalog with its publisher, and the source catalogues it holds (all when None)."""
    c = iri(info.iri)
    assert c is not None, info.iri
    w.a(c, CATALOG)
    w.add(c, _TITLE, _literal_or_none(info.title or "fedcat"))
    w.add(c, _DESCRIPTION, _literal_or_none(info.description or "Datasets harvested by fedcat."))
    publisher = w.a(iri(info.iri + "#publisher") or w.bnode(), foaf.Agent)
    w.add(c, _PUBLISHER, publisher)
    w.add(publisher, foaf.name, text(info.publisher or info.base_url))
    w.iris(c, foaf.homepage, [info.base_url + "/"], DOCUMENT)
    for source_id in sorted(info.sources) if source_ids is None else source_ids:
        w.add(c, _CATALOG, write_source_catalog(w, info, source_id))
    return c


def write_source_catalog(w: Writer, info: CatalogInfo, source_id: str) -> str:
    """A source as the dcat:Catalog fedcat harvests: its name, and where fedcat reads it."""
    source = info.source(source_id)
    s = iri(info.source_iri(source_id))
    assert s is not None, source_id
    w.a(s, CATALOG)
    w.add(s, _TITLE, text(source.name))
    where = f" from {source.url}" if source.url else ""
    w.add(s, _DESCRIPTION, text(f"The catalogue fedcat harvests{where}: {source.name}.", "en"))
    # the source's operator: the shapes require a publisher, and the source is named after it
    publisher = w.a(iri(info.source_iri(source_id) + "#publisher") or w.bnode(), foaf.Agent)
    w.add(s, _PUBLISHER, publisher)
    w.add(publisher, foaf.name, text(source.name))
    if source.url:
        w.add(s, prov.wasDerivedFrom, iri(source.url))
    return s


def _timestamp(value: str) -> str:
    return typed(value, XSD + "dateTime")


def write_origin(w: Writer, d: str, dataset: Dataset, origin: Origin, *, describe: bool = True) -> None:
    """A copy's links to its cluster's canonical copy (see the module docstring). `describe`: with the
    canonical's title and description, which the shapes require of a `dcat:Dataset` (an export, which
    describes the canonical copy in full, leaves them out)."""
    o = iri(origin.uri)
    if o is None or o == d:
        return
    # a record fedcat holds: typed as its own record types it (the class DCAT-AP requires of dct:source's
    # value, for a dataset), never as what it is not
    w.a(o, dcat.DataService if origin.is_service else dcat.Dataset)
    if describe:
        w.texts(o, dct.title, origin.title)
        w.texts(o, dct.description, origin.description)
    w.add(d, dct.source, o)
    w.add(d, owl.sameAs, o)
    own = {*dataset.identifier, *dataset.other_identifier}
    for identifier in origin.identifier:
        if identifier not in own:
            node = w.a(w.bnode(), adms.Identifier)
            w.add(d, adms.identifier, node)
            w.add(node, skos.notation, text(identifier))
    if origin.original_uri and origin.original_uri not in (dataset.original_uri, *own):
        node = w.a(w.bnode(), adms.Identifier)
        w.add(d, adms.identifier, node)
        w.add(node, skos.notation, typed(origin.original_uri, XSD + "anyURI"))


def write_record(w: Writer, info: CatalogInfo, row: RecordRow, *, describe_origin: bool = True) -> str:
    """The dataset (or data service), fedcat's catalogue record of it and the source's, the catalogues'
    dcat:dataset (dcat:service) / dcat:record links to them, its links to its cluster's canonical copy
    (`write_origin`) and to its reuses (`write_reuses`)."""
    d = write_dataset(w, row.dataset)
    if row.origin is not None:
        write_origin(w, d, row.dataset, row.origin, describe=describe_origin)
    if row.reuses:
        write_reuses(w, d, row.reuses)
    record = w.a(d[:-1] + "#record>", CATALOG_RECORD)  # under the dataset's IRI, checked by write_dataset
    w.add(record, _PRIMARY_TOPIC, d)
    w.add(record, _IDENTIFIER, text(row.id))
    w.add(record, _ISSUED, _timestamp(row.first_seen))
    w.add(record, _MODIFIED, _timestamp(row.last_seen))
    source_record = w.a(d[:-1] + "#source-record>", CATALOG_RECORD)
    w.add(record, _SOURCE, source_record)
    w.add(source_record, _PRIMARY_TOPIC, d)
    w.add(source_record, _IDENTIFIER, text(row.source_record_id))
    w.add(source_record, _MODIFIED, _timestamp(row.last_seen))  # as last read from the source
    c, s = iri(info.iri), iri(info.source_iri(row.source_id))
    listed = _SERVICE if row.dataset.service is not None else _DATASET  # a catalogue lists services apart
    w.add(c, listed, d)
    w.add(c, _RECORD, record)
    w.add(s, listed, d)
    w.add(s, _RECORD, source_record)
    return d


@dataclass(frozen=True)
class HydraView:
    """A page of a (possibly filtered) catalogue: the links are absolute URLs clients can GET."""

    collection: str  # the collection's IRI: the catalogue, or the filtered slice's URL
    view: str  # this page's URL
    total: int
    first: str | None = None
    previous: str | None = None
    next: str | None = None
    last: str | None = None
    note: str | None = None


def write_hydra(w: Writer, page: HydraView) -> None:
    collection, view = iri(page.collection), iri(page.view)
    if collection is None or view is None:
        return
    w.a(collection, hydra.Collection)
    w.add(collection, hydra.totalItems, typed(str(page.total), XSD + "integer"))
    w.add(collection, hydra.view, view)
    w.a(view, hydra.PartialCollectionView)
    for name, url in (
        ("first", page.first),
        ("previous", page.previous),
        ("next", page.next),
        ("last", page.last),
    ):
        if url:
            w.add(view, getattr(hydra, name), iri(url))
    if page.note:
        w.add(view, hydra.description, text(page.note, "en"))


# --- serialisation ---------------------------------------------------------------------------------------


def to_format(ntriples: str, fmt: str) -> bytes:
    """N-Triples text as `fmt` ("ttl", "nt", "rdf", "jsonld"), through pyoxigraph's serialisers."""
    if fmt == "nt":
        return ntriples.encode("utf-8")
    data = (
        pyoxigraph.serialize(
            pyoxigraph.parse(ntriples, RdfFormat.N_TRIPLES),
            format=FORMATS[fmt],
            prefixes=format_prefixes(fmt),
        )
        or b""
    )  # None: only with an output
    return with_context(data) if fmt == "jsonld" else data


def format_prefixes(fmt: str) -> dict[str, str] | None:
    return PREFIXES if fmt in ("ttl", "rdf") else None
