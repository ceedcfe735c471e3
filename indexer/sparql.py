"""The SPARQL store: a pyoxigraph (RocksDB) store in the data dir, kept in step with the record store.

Layout: one named graph per record, named by the dataset's fedcat IRI and holding exactly what the
dataset's document and the export say of it (the dataset, its catalogue records, its catalogues'
membership links); the catalogues' own descriptions in the graph named by the root catalogue's IRI. Queries
see the union of all graphs as their default graph, so `SELECT * { ?d a dcat:Dataset }` just works, and
`GRAPH ?g { … }` tells which record a triple comes from. Replacing a changed record is dropping its graph
and loading the new one.

What changed is known from the record store's change feed (`store.feed`): the SPARQL store is one of its
views, with its own cursor; `sync` catches up from it in batches, dropping a changed record's graph and
loading its new one. A store that was never synced (or was deleted, or was written by another version of
the RDF writer: `mappings.rdf.RDF_OUTPUT`) is filled by catching up from the
feed's start (it holds every record). Everything here is idempotent: a crash between writing graphs and
moving the cursor only means those records are written again.

The store is created by its first use (a server's first SPARQL query); from then on every harvest syncs it
after indexing. One process at a time may open it (RocksDB's lock): when a running server's SPARQL worker
(`api.sparql`) holds it, the harvest leaves the sync to the worker, which syncs before each query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import NamedNode, RdfFormat

from ..mappings.catalog_rdf import CatalogInfo, RecordRow, SourceInfo, write_catalog, write_record
from ..mappings.model import dataset_from_json
from ..mappings.rdf import RDF_OUTPUT, Writer
from ..store import Store, feed, gc_paused
from ..store import sparql as stored_sparql
from ..store.core import StoredRecord
from ..store.feed import Change
from ..store.reuses import ReuseReads

log = logging.getLogger("fedcat.sparql")
SPARQL_DIR = "sparql"
SYNC_BATCH = 1000
BULK_FROM = 200  # records in a batch from which the bulk loader is used
_STATE_GRAPH = "urn:fedcat:sparql"  # the store's own state, in a graph of its own
_STATE_NODE = NamedNode(_STATE_GRAPH)
# the state markers name the writer's output version: a store written by another is loaded again (its
# graphs hold what that writer made of each record), as a store that was never loaded
_SYNCED, _FILLING = f"urn:fedcat:synced:{RDF_OUTPUT}", f"urn:fedcat:filling:{RDF_OUTPUT}"


def _marker(predicate: str) -> str:
    return f"<{_STATE_GRAPH}> <{predicate}> <{_STATE_GRAPH}> <{_STATE_GRAPH}> .\n"


class StoreBusy(Exception):
    """Another process holds the SPARQL store (RocksDB allows one writer)."""


def catalog_info_from_store(store: Store, base_url: str, config: Any | None = None) -> CatalogInfo:
    from ..mappings.catalog_rdf import catalog_info

    rows = store.source_descriptions()
    if config is not None:
        return catalog_info(config, rows)
    return CatalogInfo(base_url, {r["id"]: SourceInfo(r["id"], r["name"], r["url"], r["type"]) for r in rows})


class SparqlStore:
    """The pyoxigraph store of a data dir. Open it with `open` (raises StoreBusy when locked)."""

    def __init__(self, store: pyoxigraph.Store, path: Path) -> None:
        self.oxigraph, self.path = store, path
        self._catalog: CatalogInfo | None = None  # the catalogue graph as last written by this object

    @classmethod
    def open(cls, path: Path) -> SparqlStore:
        try:
            return cls(pyoxigraph.Store(str(path)), path)
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise StoreBusy(f"{path} is open in another process") from exc
            raise

    @classmethod
    def for_store(cls, store: Store) -> SparqlStore:
        return cls.open(store.path.parent / SPARQL_DIR)

    def close(self) -> None:
        """Flush and release the store (pyoxigraph closes it when the object goes)."""
        self.oxigraph.flush()
        del self.oxigraph

    def state(self) -> str | None:
        """ "synced" once a first load has completed, "filling" during it (it may take several syncs),
        None for a store that was never loaded (or loaded with another writer's output)."""
        found = {q.predicate.value for q in self.oxigraph.quads_for_pattern(None, None, None, _STATE_NODE)}
        return "synced" if _SYNCED in found else "filling" if _FILLING in found else None

    def pending(self, store: Store) -> int:
        return stored_sparql.pending_count(store)

    def sync(
        self,
        store: Store,
        info: CatalogInfo,
        *,
        budget: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Apply the change feed's entries since the last sync (every record, the first time); returns how
        many entries were read. With `budget` (seconds), stops after the batch that crosses it (a server
        answering queries meanwhile)."""
        state = self.state()
        if state is None:
            # the first load: from the feed's start, over as many syncs as it takes (a server loads a big
            # catalogue in slices between queries); a half-made store is started again
            self.oxigraph.clear()
            feed.reset(store, stored_sparql.VIEW)
            self.oxigraph.load(_marker(_FILLING), RdfFormat.N_QUADS)
            state = "filling"
        view = _SparqlView(self, store, info, filling=state == "filling")
        done = feed.catch_up(store, view, batch=SYNC_BATCH, budget=budget, progress=progress)
        caught_up = not feed.changes_after(store, feed.cursor(store, stored_sparql.VIEW), 1)
        if done or state == "filling" or info != self._catalog:  # an idle server's syncs write nothing
            self._write_catalog(info)
            self._catalog = info
            if state == "filling" and caught_up:
                self.oxigraph.remove(
                    pyoxigraph.Quad(_STATE_NODE, NamedNode(_FILLING), _STATE_NODE, _STATE_NODE)
                )
                self.oxigraph.load(_marker(_SYNCED), RdfFormat.N_QUADS)
            self.oxigraph.flush()
        return done

    def _write(self, store: Store, records: list[tuple[StoredRecord, bool]], info: CatalogInfo) -> None:
        """Write the graphs of (record, replace?): a record's graph is named by its dataset IRI and replaced
        whole; a first load skips the removal of graphs that cannot exist yet."""
        quads: list[str] = []
        reuses = ReuseReads(store).listed([record.id for record, _ in records if not record.withdrawn])
        for record, replace in records:
            if replace:
                self.oxigraph.remove_graph(NamedNode(record.uri))
            if not record.withdrawn:
                row = RecordRow(
                    record.id,
                    record.source_id,
                    record.source_record_id,
                    record.first_seen,
                    record.last_seen,
                    dataset_from_json(record.dataset),
                    reuses=reuses.get(record.id, []),
                )
                w = Writer(row.dataset.uri)
                write_record(w, info, row)
                name = f" <{row.dataset.uri}> .\n"
                quads.extend(line[:-3] + name for line in w.lines)
        if quads:
            data = "".join(quads).encode("utf-8", "replace")
            # a transactional load costs ~3 ms a record here (RocksDB's write-ahead log), the bulk loader
            # ~1 ms (it writes sorted files directly): bulk for batches, a transaction for a few records.
            # Not atomic, but this process is the store's only user and a crash leaves the cursor behind.
            if len(records) >= BULK_FROM:
                self.oxigraph.bulk_load(data, RdfFormat.N_QUADS)
            else:
                self.oxigraph.load(data, RdfFormat.N_QUADS)

    def _write_catalog(self, info: CatalogInfo) -> None:
        graph = NamedNode(info.iri)
        self.oxigraph.remove_graph(graph)
        w = Writer(info.iri)
        write_catalog(w, info)
        name = f" <{info.iri}> .\n"
        self.oxigraph.load("".join(line[:-3] + name for line in w.lines).encode("utf-8"), RdfFormat.N_QUADS)


class _SparqlView:
    """The SPARQL store as a view of the change feed (`rescored` entries change nothing it holds; `reused`
    ones change the record's `dct:isReferencedBy` links)."""

    name = stored_sparql.VIEW

    def __init__(self, sparql: SparqlStore, store: Store, info: CatalogInfo, *, filling: bool) -> None:
        self.sparql, self.store, self.info, self.filling = sparql, store, info, filling

    def apply(self, changes: list[Change]) -> None:
        wanted = {c.id: c for c in changes if c.kind != "rescored"}
        with gc_paused():
            records = self.store.current(wanted)
            # while filling, a record's first entry ("created") finds no graph to replace
            self.sparql._write(
                self.store,
                [(r, not self.filling or wanted[i].kind != "created") for i, r in records.items()],
                self.info,
            )


def sync_sparql(store: Store, config: Any) -> int | None:
    """Bring the data dir's SPARQL store up to date after a harvest; None when there is none yet or a server
    holds it (its SPARQL worker then syncs before answering). Never raises: the harvest has succeeded.

    The store is created by its first use (the server's first SPARQL query loads every record, in the
    background of the queries): creating one costs ~0.25 s of disk work and the full load ~1 ms a record,
    which a data dir that never serves SPARQL (a test's, a batch export's) should not pay on every harvest.
    """
    if not (store.path.parent / SPARQL_DIR).is_dir():
        return None
    try:
        sparql = SparqlStore.for_store(store)
    except StoreBusy:
        log.info("SPARQL store busy (a server holds it): it syncs itself before its next query")
        return None
    except Exception:
        log.exception("SPARQL store could not be opened; the next harvest or query retries")
        return None
    try:
        info = catalog_info_from_store(store, config.settings.base_url, config)
        return sparql.sync(store, info)
    except Exception:
        log.exception("SPARQL store sync failed; the next harvest or query retries")
        return None
    finally:
        sparql.close()


pending_count = stored_sparql.pending_count
