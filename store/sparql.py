"""What the SPARQL store (`indexer.sparql`) has still to write: `sparql_pending`, filled by two triggers on
`records` whenever a record's version moves (created, changed, withdrawn, back again)."""

from __future__ import annotations

import sqlite3
from typing import Any

from .core import Store
from .schema import statements

PENDING = """
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
"""

_ensured: set[str] = set()


def ensure_pending(store: Store) -> None:
    """Create the pending table and its triggers (once per process and store): only a data dir that serves
    SPARQL pays for the triggers on every record write."""
    key = str(store.path.resolve())
    if key in _ensured:
        return
    with store.write() as db:
        for statement in statements(PENDING):
            db.execute(statement)
    _ensured.add(key)


def replace_faulty_triggers(store: Store) -> None:
    """A data dir made by an earlier fedcat may hold the first, faulty triggers: replace them before writing."""
    old = store.db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name IN"
        " ('sparql_pending_insert', 'sparql_pending_update')"
    ).fetchone()
    if old:
        _ensured.discard(str(store.path.resolve()))
        ensure_pending(store)


def queue_all(store: Store) -> None:
    """Before a first load: every record is pending."""
    with store.write() as db:
        db.execute("INSERT OR REPLACE INTO sparql_pending (id, version) SELECT id, version FROM records")


def pending_batch(store: Store, limit: int) -> list[Any]:
    """Up to `limit` pending records: (id, version, live?, source id, source record id, first seen, last seen,
    dataset JSON, dataset IRI); a record gone from the store comes with NULLs."""
    return store.db.execute(
        "SELECT p.id, p.version, r.withdrawn_at IS NULL AND d.dataset IS NOT NULL, r.source_id,"
        " r.source_record_id, r.first_seen, r.last_seen, d.dataset, r.uri"
        " FROM sparql_pending p LEFT JOIN records r ON r.id = p.id"
        " LEFT JOIN record_data d ON d.id = p.id LIMIT ?",
        (limit,),
    ).fetchall()


def done(store: Store, written: list[tuple[str, int]]) -> None:
    """These (id, version)s are written: keep any entry whose version moved again meanwhile."""
    with store.write() as db:
        db.executemany("DELETE FROM sparql_pending WHERE id = ? AND version <= ?", written)


def pending_count(store: Store) -> int:
    try:
        return int(store.db.execute("SELECT COUNT(*) FROM sparql_pending").fetchone()[0])
    except sqlite3.OperationalError:  # never synced: no table yet
        return store.count()
