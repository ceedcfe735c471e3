"""The SPARQL store: a pyoxigraph (RocksDB) store in the data dir, kept in step with the record store.

Layout: one named graph per record, named by the dataset's fedcat IRI and holding exactly what the
dataset's document and the export say of it (the dataset, its catalogue records, its catalogues'
membership links); the catalogues' own descriptions in the graph named by the root catalogue's IRI. Queries
see the union of all graphs as their default graph, so `SELECT * { ?d a dcat:Dataset }` just works, and
`GRAPH ?g { … }` tells which record a triple comes from. Replacing a changed record is dropping its graph
and loading the new one.

What changed is known from the record store itself: two triggers on `records` (created here, with the
`sparql_pending` table) note every record whose `version` moves (created, changed, withdrawn, back again);
`sync` works through that list in batches and deletes each entry once its graph is written, keeping any
entry whose version moved again meanwhile. A store that was never synced (or was deleted) is filled from
every record. Everything here is idempotent: a crash between writing graphs and clearing their entries only
means those records are written again.

The store is created by its first use (a server's first SPARQL query); from then on every harvest syncs it
after indexing. One process at a time may open it (RocksDB's lock): when a running server's SPARQL worker
(`api.sparql`) holds it, the harvest leaves the sync to the worker, which syncs before each query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import NamedNode, RdfFormat

from ..mappings.catalog_rdf import CatalogInfo, RecordRow, SourceInfo, write_catalog, write_record
from ..mappings.model import dataset_from_json
from ..mappings.rdf import Writer
from ..store import Store, gc_paused
from ..store import sparql as stored_sparql

log = logging.getLogger("fedcat.sparql")
SPARQL_DIR = "sparql"
SYNC_BATCH = 1000
BULK_FROM = 200  # records in a batch from which the bulk loader is used
_STATE_GRAPH = "urn:fedcat:sparql"  # the store's own state, in a graph of its own
_STATE_NODE = NamedNode(_STATE_GRAPH)
_SYNCED, _FILLING = "urn:fedcat:synced", "urn:fedcat:filling"


def _marker(predicate: str) -> str:
    return f"<{_STATE_GRAPH}> <{predicate}> <{_STATE_GRAPH}> <{_STATE_GRAPH}> .\n"


class StoreBusy(Exception):
    """Another process holds the SPARQL store (RocksDB allows one writer)."""


def ensure_schema(store: Store) -> None:
    """Create the pending table and its triggers (once per process and store)."""
    stored_sparql.ensure_pending(store)


replace_faulty_triggers = stored_sparql.replace_faulty_triggers


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
        None for a store that was never loaded."""
        found = {q.predicate.value for q in self.oxigraph.quads_for_pattern(None, None, None, _STATE_NODE)}
        return "synced" if _SYNCED in found else "filling" if _FILLING in found else None

    def synced_once(self) -> bool:
        return self.state() == "synced"

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
        """Write every pending record's graph (all records, the first time); returns how many.

        With `budget` (seconds), stops after the batch that crosses it (a server answering queries meanwhile).
        """
        ensure_schema(store)
        state = self.state()
        if state is None:
            # the first load: every record is queued, then loaded over as many syncs as it takes (a server
            # loads a big catalogue in slices between queries); a half-made store is started again
            self.oxigraph.clear()
            stored_sparql.queue_all(store)
            self.oxigraph.load(_marker(_FILLING), RdfFormat.N_QUADS)
            state = "filling"
        started, done = time.monotonic(), 0
        while True:
            with gc_paused():
                rows = stored_sparql.pending_batch(store, SYNC_BATCH)
                if not rows:
                    break
                self._write(rows, info, replace=state == "synced")
            stored_sparql.done(store, [(r[0], r[1]) for r in rows])
            done += len(rows)
            if progress:
                progress(len(rows))
            if budget is not None and time.monotonic() - started > budget:
                return done
        if done or state == "filling" or info != self._catalog:  # an idle server's syncs write nothing
            self._write_catalog(info)
            self._catalog = info
            if state == "filling":
                self.oxigraph.remove(
                    pyoxigraph.Quad(_STATE_NODE, NamedNode(_FILLING), _STATE_NODE, _STATE_NODE)
                )
                self.oxigraph.load(_marker(_SYNCED), RdfFormat.N_QUADS)
            self.oxigraph.flush()
        return done

    def _write(self, rows: list[Any], info: CatalogInfo, *, replace: bool) -> None:
        quads: list[str] = []
        for fedcat_id, _version, live, source_id, srid, first_seen, last_seen, data, uri in rows:
            if uri and replace:  # a record's graph is named by its dataset IRI; replaced whole
                self.oxigraph.remove_graph(NamedNode(uri))
            if live:
                row = RecordRow(fedcat_id, source_id, srid, first_seen, last_seen, dataset_from_json(data))
                w = Writer(row.dataset.uri)
                write_record(w, info, row)
                name = f" <{row.dataset.uri}> .\n"
                quads.extend(line[:-3] + name for line in w.lines)
        if quads:
            data = "".join(quads).encode("utf-8", "replace")
            # a transactional load costs ~3 ms a record here (RocksDB's write-ahead log), the bulk loader
            # ~1 ms (it writes sorted files directly): bulk for batches, a transaction for a few records.
            # Not atomic, but this process is the store's only user and a crash leaves the entries pending.
            if len(rows) >= BULK_FROM:
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
