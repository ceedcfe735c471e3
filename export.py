"""The whole catalogue as one RDF file (`fedcat export`), streamed from the store in constant memory.

Records are read a range of rowids at a time (by worker processes for big catalogues, each with its own
read-only `store.catalog.CatalogReader`) and written by `mappings.catalog_rdf` as they come.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeVar

import msgspec
import pyoxigraph
from pyoxigraph import RdfFormat

from .gc_pause import gc_paused
from .mappings.catalog_rdf import (
    CatalogInfo,
    RecordRow,
    format_prefixes,
    to_format,
    write_catalog,
    write_record,
)
from .mappings.namespaces import PREFIXES
from .mappings.rdf import FORMATS, Writer
from .store.catalog import CatalogReader, Fetched, decode_rows

T = TypeVar("T")
EXPORT_BATCH = 200  # records per export chunk: ~3 MB of N-Triples, 200 decoded datasets alive at a time


def _chunk(rows: list[RecordRow], info: CatalogInfo, *, grouped: bool = False) -> bytearray:
    """The records' N-Triples, encoded a record at a time: never one string of the whole chunk (a chunk
    with one accented letter would be a 2-byte-per-character string twice the size of its bytes)."""
    out = bytearray()
    with gc_paused():  # ~90 strings a record: see gc_paused
        for row in rows:
            w = Writer(row.dataset.uri)
            write_record(w, info, row, describe_origin=False)  # the canonical copy is in the export
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


def _make(found: Fetched, info: CatalogInfo, fmt: str) -> tuple[bytes | bytearray, int]:
    """One export chunk from fetched records (and their reuses): N-Triples lines, grouped by subject for the
    other formats, and for Turtle already serialised (without the @prefix header)."""
    with gc_paused():
        rows = decode_rows(found.rows, found.reuses)
    data = _chunk(rows, info, grouped=fmt != "nt")
    return (_turtle_body(bytes(data)) if fmt == "ttl" else data), len(rows)


_worker: dict[str, Any] = {}


def _start_worker(db_path: str, info: CatalogInfo) -> None:
    _worker["reader"] = CatalogReader(db_path)
    _worker["info"] = info


def _work(low: int, high: int, fmt: str) -> tuple[bytes | bytearray, int]:
    """One export chunk in a worker process."""
    return _make(_worker["reader"].fetch_range(low, high), _worker["info"], fmt)


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
    reader = CatalogReader(db_path)
    try:
        top = reader.max_rowid()
    finally:
        reader.close()
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
            reader = CatalogReader(db_path)
            try:
                with ThreadPoolExecutor(1, thread_name_prefix="fedcat-export-read") as ahead:
                    for found in _ahead(ahead, reader.fetch_range, ranges, 1):
                        data, n = _make(found, info, chunk_format)
                        count += n
                        yield data
            finally:
                reader.close()
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
        if fmt == "jsonld":  # streamed: the context around pyoxigraph's node list (names left expanded)
            out.write(b'{"@context":' + msgspec.json.encode(PREFIXES) + b',"@graph":')
        pyoxigraph.serialize(triples, out, format=FORMATS[fmt], prefixes=format_prefixes(fmt))
        if fmt == "jsonld":
            out.write(b"}")
    return count


def _write_behind(out: IO[bytes], chunks: Iterable[bytes | bytearray]) -> None:
    """Write the chunks from a second thread, at most two behind: `write` releases the GIL while the kernel
    copies a chunk (a third of the export's time in one process), so the next chunk is made meanwhile."""
    with ThreadPoolExecutor(1, thread_name_prefix="fedcat-export-write") as writer:
        deque(_ahead(writer, out.write, ((data,) for data in chunks), 2), maxlen=0)
