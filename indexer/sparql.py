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
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import NamedNode, RdfFormat

from ..mappings.catalog_rdf import CatalogInfo, RecordRow, SourceInfo, write_catalog, write_record
from ..mappings.model import dataset_from_json
from ..mappings.rdf import Writer
from .store import Store, gc_paused

log = logging.getLogger("fedcat.sparql")
SPARQL_DIR = "sparql"
SYNC_BATCH = 1000
BULK_FROM = 200  # records in a batch from which the bulk loader is used
_STATE_GRAPH = "urn:fedcat:sparql"  # the store's own state, in a graph of its own
_STATE_NODE = NamedNode(_STATE_GRAPH)
_SYNCED, _FILLING = "urn:fedcat:synced", "urn:fedcat:filling"


def _marker(predicate: str) -> str:
    return f"<{_STATE_GRAPH}> <{predicate}> <{_STATE_GRAPH}> <{_STATE_GRAPH}> .\n"


# Created on the record store by `ensure_schema` (fedcat's store owns its tables; these are the linked-data
# views' additions, all IF NOT EXISTS, so any process may run them first).
LINKED_DATA_SCHEMA = """
CREATE TABLE IF NOT EXISTS sparql_pending (id TEXT PRIMARY KEY, version INTEGER NOT NULL);
-- An upsert, not INSERT OR REPLACE: a trigger's OR clause gives way to the conflict mode of the statement
-- that fires it (the record upsert's ABORT), so a record changing twice before a sync failed its page.
-- The first triggers had that fault: they are replaced by these.
DROP TRIGGER IF EXISTS sparql_pending_insert;
DROP TRIGGER IF EXISTS sparql_pending_update;
CREATE TRIGGER IF NOT EXISTS sparql_pending_on_insert AFTER INSERT ON records BEGIN
    INSERT INTO sparql_pending (id, version) VALUES (new.id, new.version)
    ON CONFLICT (id) DO UPDATE SET version = excluded.version;
END;
CREATE TRIGGER IF NOT EXISTS sparql_pending_on_update AFTER UPDATE OF version ON records BEGIN
    INSERT INTO sparql_pending (id, version) VALUES (new.id, new.version)
    ON CONFLICT (id) DO UPDATE SET version = excluded.version;
END;
-- the same dataset harvested from several sources keeps the source's IRI: its duplicates, by index
CREATE INDEX IF NOT EXISTS records_by_original_uri ON records (original_uri) WHERE original_uri IS NOT NULL;
"""


class StoreBusy(Exception):
    """Another process holds the SPARQL store (RocksDB allows one writer)."""


_ensured: set[str] = set()


def ensure_schema(store: Store) -> None:
    """Create the pending table, its triggers and the duplicates index (once per process and store)."""
    key = str(store.path.resolve())
    if key in _ensured:
        return
    # its own connection: executescript commits whatever transaction the store's thread connection holds
    db = sqlite3.connect(store.path, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=60000")
        db.executescript(f"BEGIN IMMEDIATE;{LINKED_DATA_SCHEMA}COMMIT;")  # old triggers never left dropped
    finally:
        db.close()
    _ensured.add(key)


def replace_faulty_triggers(store: Store) -> None:
    """A data dir made by an earlier fedcat may hold the first, faulty triggers: replace them before writing."""
    old = store.db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name IN"
        " ('sparql_pending_insert', 'sparql_pending_update')"
    ).fetchone()
    if old:
        _ensured.discard(str(store.path.resolve()))
        ensure_schema(store)


def catalog_info_from_store(store: Store, base_url: str, config: Any | None = None) -> CatalogInfo:
    from ..mappings.catalog_rdf import catalog_info

    rows = [dict(r) for r in store.db.execute("SELECT id, name, url, type FROM sources")]
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
        return int(store.db.execute("SELECT COUNT(*) FROM sparql_pending").fetchone()[0])

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
            with store.write() as db:
                db.execute(
                    "INSERT OR REPLACE INTO sparql_pending (id, version) SELECT id, version FROM records"
                )
            self.oxigraph.load(_marker(_FILLING), RdfFormat.N_QUADS)
            state = "filling"
        started, done = time.monotonic(), 0
        while True:
            with gc_paused():
                rows = store.db.execute(
                    "SELECT p.id, p.version, r.withdrawn_at IS NULL AND d.dataset IS NOT NULL, r.source_id,"
                    " r.source_record_id, r.first_seen, r.last_seen, d.dataset, r.uri"
                    " FROM sparql_pending p LEFT JOIN records r ON r.id = p.id"
                    " LEFT JOIN record_data d ON d.id = p.id LIMIT ?",
                    (SYNC_BATCH,),
                ).fetchall()
                if not rows:
                    break
                self._write(rows, info, replace=state == "synced")
            with store.write() as db:
                db.executemany(
                    "DELETE FROM sparql_pending WHERE id = ? AND version <= ?", [r[:2] for r in rows]
                )
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


def pending_count(store: Store) -> int:
    try:
        return int(store.db.execute("SELECT COUNT(*) FROM sparql_pending").fetchone()[0])
    except sqlite3.OperationalError:  # never synced: no table yet
        return store.count()
