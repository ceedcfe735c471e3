"""The catalogue around the datasets: `dcat:Catalog`, `dcat:CatalogRecord`s, sources, Hydra paging, export.

Shapes of what fedcat publishes (every IRI under the configured `base_url`):
- `{base}/catalog` is the `dcat:Catalog` of everything; each source is a `dcat:Catalog` too,
  `{base}/sources/{id}`, linked from the root with `dcat:catalog`;
- `{base}/datasets/{id}` is the dataset (`mappings.rdf`), `…#record` fedcat's `dcat:CatalogRecord` of it
  (`foaf:primaryTopic`, first seen as `dct:issued`, last confirmed at the source as `dct:modified`) and
  `…#source-record` the record as the source catalogue holds it (its record id as `dct:identifier`), which
  fedcat's record points to with `dct:source`; the dataset itself is `prov:wasDerivedFrom` the source's IRI;
- catalogue pages carry a `hydra:PartialCollectionView` (first / previous / next / last) and the collection's
  `hydra:totalItems`.

Everything is written as N-Triples lines (see `mappings.rdf`); `export` streams a whole store in constant
memory: records are read a range of rowids at a time (by worker processes for big catalogues) and written
as they come.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import msgspec
import pyoxigraph
from pyoxigraph import RdfFormat

from ..indexer.store import gc_paused
from .model import Dataset, dataset_from_json
from .namespaces import DCAT, DCT, FOAF, HYDRA, PREFIXES, XSD
from .rdf import DOCUMENT, FORMATS, Namespace, Writer, foaf, iri, p, prov, text, typed, write_dataset

CATALOG, CATALOG_RECORD = p(DCAT + "Catalog"), p(DCAT + "CatalogRecord")
_DATASET, _RECORD, _CATALOG = p(DCAT + "dataset"), p(DCAT + "record"), p(DCAT + "catalog")
_TITLE, _DESCRIPTION, _PUBLISHER = p(DCT + "title"), p(DCT + "description"), p(DCT + "publisher")
_IDENTIFIER, _ISSUED, _MODIFIED = p(DCT + "identifier"), p(DCT + "issued"), p(DCT + "modified")
_PRIMARY_TOPIC, _SOURCE = p(FOAF + "primaryTopic"), p(DCT + "source")
hydra = Namespace(HYDRA)
T = TypeVar("T")
EXPORT_BATCH = 200  # records per export chunk: ~3 MB of N-Triples, 200 decoded datasets alive at a time


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
        s["id"]: SourceInfo(s["id"], s.get("name") or s["id"], s.get("url") or "", s.get("type") or "")
        for s in stored_sources
    }
    sources.update({s.id: SourceInfo(s.id, s.name, s.url, s.type) for s in config.sources})
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


class RecordRow(msgspec.Struct):
    """One live record as the catalogue needs it."""

    id: str
    source_id: str
    source_record_id: str
    first_seen: str
    last_seen: str
    dataset: Dataset


_ROW_SQL = (
    "SELECT r.id, r.source_id, r.source_record_id, r.first_seen, r.last_seen, d.dataset"
    " FROM records r JOIN record_data d ON d.id = r.id"
)


def read_only(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to a store file (a path with spaces, "?" or "#" included)."""
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)


def _rows(cursor: Iterable[Any]) -> list[RecordRow]:
    return [RecordRow(r[0], r[1], r[2], r[3], r[4], dataset_from_json(r[5])) for r in cursor]


def record_rows(db: sqlite3.Connection, ids: list[str]) -> list[RecordRow]:
    """The live records among `ids`, in that order."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    found = {
        r.id: r
        for r in _rows(db.execute(f"{_ROW_SQL} WHERE r.id IN ({marks}) AND r.withdrawn_at IS NULL", ids))
    }
    return [found[i] for i in ids if i in found]


def rows_from(db: sqlite3.Connection, start: str, limit: int, *, inclusive: bool = False) -> list[RecordRow]:
    """Live records in id order from `start` (keyset paging: an index range, however deep)."""
    op = ">=" if inclusive else ">"
    return _rows(
        db.execute(
            f"{_ROW_SQL} WHERE r.id {op} ? AND r.withdrawn_at IS NULL ORDER BY r.id LIMIT ?", (start, limit)
        )
    )


def iter_rows(db: sqlite3.Connection, batch: int = EXPORT_BATCH) -> Iterator[list[RecordRow]]:
    """Every live record, a batch at a time (constant memory), in storage order: a record's row and its
    data were written together, so walking `records` by rowid reads both files' pages in sequence (2.5x
    faster than id order, whose digests scatter the reads)."""
    last = 0
    while True:
        with gc_paused():  # decoding a batch makes ~100,000 containers; see gc_paused
            found = db.execute(
                "SELECT r.rowid, r.id, r.source_id, r.source_record_id, r.first_seen, r.last_seen, d.dataset"
                " FROM records r JOIN record_data d ON d.id = r.id"
                " WHERE r.rowid > ? AND r.withdrawn_at IS NULL ORDER BY r.rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not found:
                return
            last = found[-1][0]
            rows = _rows(r[1:] for r in found)
        yield rows


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


def write_record(w: Writer, info: CatalogInfo, row: RecordRow) -> str:
    """The dataset, fedcat's catalogue record of it and the source's, and the catalogues' dcat:dataset /
    dcat:record links to them."""
    d = write_dataset(w, row.dataset)
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
    w.add(c, _DATASET, d)
    w.add(c, _RECORD, record)
    w.add(s, _DATASET, d)
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
    return pyoxigraph.serialize(  # type: ignore[return-value]  # bytes when given no output
        pyoxigraph.parse(ntriples, RdfFormat.N_TRIPLES), format=FORMATS[fmt], prefixes=_prefixes(fmt)
    )


def _prefixes(fmt: str) -> dict[str, str] | None:
    return PREFIXES if fmt in ("ttl", "rdf") else None


def _chunk(rows: list[RecordRow], info: CatalogInfo, *, grouped: bool = False) -> bytearray:
    """The records' N-Triples, encoded a record at a time: never one string of the whole chunk (a chunk
    with one accented letter would be a 2-byte-per-character string twice the size of its bytes)."""
    out = bytearray()
    with gc_paused():  # ~90 strings a record: see gc_paused
        for row in rows:
            w = Writer(row.dataset.uri)
            write_record(w, info, row)
            out += _encoded("".join(w.grouped() if grouped else w.lines))
    return out


def _encoded(ntriples: str) -> bytes:
    # a lone surrogate (from a JSON "\\ud800" escape) has no UTF-8 form: it becomes "?" rather than a crash
    return ntriples.encode("utf-8", "replace")


def _turtle_body(ntriples: bytes) -> bytes:
    """A chunk as Turtle without the @prefix header (written once, at the top of the file)."""
    data = pyoxigraph.serialize(
        pyoxigraph.parse(ntriples, RdfFormat.N_TRIPLES), format=RdfFormat.TURTLE, prefixes=PREFIXES
    )
    assert data is not None  # bytes when given no output
    head = data.split(b"\n", len(PREFIXES))
    assert all(line.startswith(b"@prefix") for line in head[:-1]), "pyoxigraph's Turtle header changed"
    return head[-1]


def _fetch(db: sqlite3.Connection, low: int, high: int) -> list[Any]:
    """The live records with rowid in (low, high], undecoded (SQLite releases the GIL while it reads)."""
    return db.execute(
        f"{_ROW_SQL} WHERE r.rowid > ? AND r.rowid <= ? AND r.withdrawn_at IS NULL ORDER BY r.rowid",
        (low, high),
    ).fetchall()


def _make(found: list[Any], info: CatalogInfo, fmt: str) -> tuple[bytes | bytearray, int]:
    """One export chunk from fetched records: N-Triples lines, grouped by subject for the other formats,
    and for Turtle already serialised (without the @prefix header)."""
    with gc_paused():
        rows = _rows(found)
    data = _chunk(rows, info, grouped=fmt != "nt")
    return (_turtle_body(bytes(data)) if fmt == "ttl" else data), len(rows)


_worker: dict[str, Any] = {}


def _start_worker(db_path: str, info: CatalogInfo) -> None:
    _worker["db"] = read_only(db_path)
    _worker["info"] = info


def _work(low: int, high: int, fmt: str) -> tuple[bytes | bytearray, int]:
    """One export chunk in a worker process."""
    return _make(_fetch(_worker["db"], low, high), _worker["info"], fmt)


def _ahead(
    executor: Executor, fn: Callable[..., T], items: Iterable[tuple[Any, ...]], depth: int
) -> Iterator[T]:
    """`fn(*item)` for each item, run by `executor` at most `depth` items ahead of the caller; results in order."""
    pending: deque[Future[T]] = deque()
    for item in items:
        pending.append(executor.submit(fn, *item))
        if len(pending) > depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def default_workers(records: int) -> int:
    """Export worker processes for a store of about `records` records: one a core, at most 3 (each ~55 MB;
    on 2 cores 1M datasets go out at ~12,000/s in ~175 MB, against ~10,300/s in 60 MB in one process: see
    bench/export.py); none for a small catalogue, where starting them (~1 s each) costs more than they save."""
    return min(3, os.cpu_count() or 1) if records >= 40 * EXPORT_BATCH else 1


def export(
    db_path: str | Path, info: CatalogInfo, out: IO[bytes], fmt: str = "nt", *, workers: int | None = None
) -> int:
    """Write the whole catalogue to `out` in constant memory; returns the number of datasets.

    Records are read in storage (rowid) order, EXPORT_BATCH at a time: a record's row and its data were
    written together, so this reads both tables' pages in sequence (2.5x faster than id order, whose digests
    scatter the reads). The writer is pure Python (~65 µs a record), so with `workers` > 1 worker processes
    read and write ranges while this process writes their chunks in order, at most two per worker in
    flight; in one process a thread reads the next range meanwhile. Either way a thread writes `out`
    (`_write_behind`). N-Triples and Turtle chunks are written as they come (Turtle chunks share one
    @prefix header); RDF/XML and JSON-LD are one document each, so their chunks are streamed through a
    single pyoxigraph serialiser here.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    db_path = str(db_path)
    db = read_only(db_path)
    try:
        top = db.execute("SELECT MAX(rowid) FROM records").fetchone()[0] or 0
    finally:
        db.close()
    ranges = [(low, low + EXPORT_BATCH) for low in range(0, top, EXPORT_BATCH)]
    if workers is None:
        workers = default_workers(top)
    chunk_format = fmt if fmt in ("nt", "ttl") else "grouped"  # RDF/XML, JSON-LD: serialised here
    count = 0
    header = Writer(info.iri)
    write_catalog(header, info)

    def chunks() -> Iterator[bytes | bytearray]:
        nonlocal count
        yield _encoded("".join(header.grouped()))
        if workers <= 1:
            # this thread makes the chunks; a second one reads the next range meanwhile
            db = read_only(db_path)
            try:
                with ThreadPoolExecutor(1, thread_name_prefix="fedcat-export-read") as reader:
                    for found in _ahead(reader, partial(_fetch, db), ranges, 1):
                        data, n = _make(found, info, chunk_format)
                        count += n
                        yield data
            finally:
                db.close()
            return
        context = multiprocessing.get_context("spawn")  # a fork of a threaded server would be unsafe
        with ProcessPoolExecutor(
            workers, context, initializer=_start_worker, initargs=(db_path, info)
        ) as pool:
            for data, n in _ahead(
                pool, _work, ((low, high, chunk_format) for low, high in ranges), 2 * workers
            ):
                count += n
                yield data

    if fmt == "nt":
        _write_behind(out, chunks())
    elif fmt == "ttl":
        stream = chunks()
        out.write(to_format(next(stream).decode("utf-8"), "ttl"))  # the catalogues, with the header
        _write_behind(out, stream)
    else:
        triples = (t for data in chunks() for t in pyoxigraph.parse(bytes(data), RdfFormat.N_TRIPLES))
        pyoxigraph.serialize(triples, out, format=FORMATS[fmt], prefixes=_prefixes(fmt))
    return count


def _write_behind(out: IO[bytes], chunks: Iterable[bytes | bytearray]) -> None:
    """Write the chunks from a second thread, at most two behind: `write` releases the GIL while the kernel
    copies a chunk (a third of the export's time in one process), so the next chunk is made meanwhile."""
    with ThreadPoolExecutor(1, thread_name_prefix="fedcat-export-write") as writer:
        deque(_ahead(writer, out.write, ((data,) for data in chunks), 2), maxlen=0)
