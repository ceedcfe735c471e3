"""Every table of the store, in one place, and the migrations that bring an older data dir up to date.

The schema's version is SQLite's `PRAGMA user_version`: 0 is a store made by a release before this module
(its tables made by whichever module used them first), SCHEMA_VERSION the one this code writes. `migrate`
runs at each open, in one write transaction, so two processes opening an old store at once upgrade it once;
a store from a newer fedcat is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

CORE = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    jurisdiction TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    pages INTEGER NOT NULL DEFAULT 0,
    seen INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    report TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_source ON runs (source_id, id);
CREATE TABLE IF NOT EXISTS run_errors (
    run_id INTEGER NOT NULL,
    source_record_id TEXT,
    url TEXT,
    error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_errors_by_run ON run_errors (run_id);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    original_uri TEXT,
    raw_media_type TEXT NOT NULL,
    raw_hash TEXT NOT NULL,
    fetch_url TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    first_run_id INTEGER NOT NULL,
    last_run_id INTEGER NOT NULL,
    withdrawn_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    indexed_version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (source_id, source_record_id)
);
CREATE INDEX IF NOT EXISTS records_by_run ON records (source_id, last_run_id);
CREATE INDEX IF NOT EXISTS records_to_index ON records (id) WHERE indexed_version < version;
CREATE INDEX IF NOT EXISTS records_live ON records (source_id) WHERE withdrawn_at IS NULL;
-- The record's content, apart from its small, often-updated state: marking a record seen or indexed then
-- rewrites a ~200-byte row, not its several-KB payload (12x cheaper per record).
CREATE TABLE IF NOT EXISTS record_data (
    id TEXT PRIMARY KEY REFERENCES records (id),
    raw BLOB NOT NULL,
    dataset BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    next_url TEXT,
    record_ids BLOB
);
-- Link checks of distribution URLs (`fedcat linkcheck`), read by the quality score's accessibility points.
CREATE TABLE IF NOT EXISTS link_checks (
    url TEXT PRIMARY KEY,
    checked_at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    status INTEGER,
    method TEXT,
    error TEXT
);
-- Derived at index time (indexer.derived), rebuilt with the index: each live record's quality score and
-- the publisher name the index shows; publisher_names remembers which display each spelling got.
CREATE TABLE IF NOT EXISTS quality (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    publisher TEXT,
    total REAL NOT NULL,
    band TEXT NOT NULL,
    findability REAL NOT NULL,
    accessibility REAL NOT NULL,
    interoperability REAL NOT NULL,
    reusability REAL NOT NULL,
    contextuality REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS publisher_names (
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    display TEXT NOT NULL,
    PRIMARY KEY (source_id, name)
);
"""

# What `fedcat audit` reads of each live record (audit.report); made again when its stamp changes.
AUDIT_STATE = "CREATE TABLE IF NOT EXISTS audit_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
AUDIT_FACTS = """
CREATE TABLE IF NOT EXISTS audit_facts (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    publisher TEXT NOT NULL,      -- the publisher's names as stored (JSON); '' when none, as below
    identifier TEXT NOT NULL,
    publisher_uri TEXT NOT NULL,
    dataset TEXT NOT NULL,        -- copies of one dataset share it: the source IRI, else the record id
    modified TEXT,
    licences TEXT NOT NULL,       -- JSON array: the dataset's licence, else its distributions'
    formats TEXT NOT NULL,        -- JSON array: its distributions' formats and media types
    hvd INTEGER NOT NULL,
    families TEXT                 -- JSON array of family ids (families.yaml); NULL when none
);
CREATE INDEX IF NOT EXISTS audit_facts_by_publisher ON audit_facts (source_id, publisher, identifier, publisher_uri);
CREATE INDEX IF NOT EXISTS audit_facts_with_families ON audit_facts (id) WHERE families IS NOT NULL;
"""

# `fedcat validate`'s stored results, read by the quality score's DCAT-AP compliance indicator.
SHACL_RESULTS = """
CREATE TABLE IF NOT EXISTS shacl_results (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    profile TEXT NOT NULL,
    conforms INTEGER NOT NULL,
    source_violations INTEGER NOT NULL,
    fedcat_violations INTEGER NOT NULL,
    validated_at TEXT NOT NULL
);
"""

# The linked-data views: the same dataset harvested from several sources keeps the source's IRI, and its
# duplicates are found by this index.
LINKED_DATA = """
CREATE INDEX IF NOT EXISTS records_by_original_uri ON records (original_uri) WHERE original_uri IS NOT NULL;
"""

# Stores made before `record_data` held raw and dataset in `records`: moved once, in one transaction.
_RECORD_COLUMNS = (
    "id, source_id, source_record_id, uri, original_uri, raw_media_type, raw_hash, fetch_url, first_seen,"
    " last_seen, first_run_id, last_run_id, withdrawn_at, version, indexed_version"
)
_SPLIT_RECORDS = f"""
ALTER TABLE records RENAME TO records_before_split;
DROP INDEX IF EXISTS records_by_run;
DROP INDEX IF EXISTS records_to_index;
{CORE[CORE.index("CREATE TABLE IF NOT EXISTS records (") :]}
INSERT INTO records ({_RECORD_COLUMNS}) SELECT {_RECORD_COLUMNS} FROM records_before_split;
INSERT INTO record_data (id, raw, dataset) SELECT id, raw, dataset FROM records_before_split;
DROP TABLE records_before_split;
"""


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script (a trigger's body included), for running them inside a transaction
    (`executescript` would commit the one it runs in)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""


def _to_1(db: sqlite3.Connection) -> None:
    """From the previous release's store: raw and dataset out of `records` (very old stores), then every
    table the modules used to create on first use."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    if "raw" in columns:
        for statement in statements(_SPLIT_RECORDS):
            db.execute(statement)
    for script in (CORE, AUDIT_STATE + ";", SHACL_RESULTS, LINKED_DATA):
        for statement in statements(script):
            db.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_to_1]  # MIGRATIONS[n] goes from n to n + 1
SCHEMA_VERSION = len(MIGRATIONS)


class NewerStore(Exception):
    """The data dir was written by a newer fedcat: this one would not know its tables."""


def migrate(db: sqlite3.Connection) -> int:
    """Bring the store to SCHEMA_VERSION in one transaction; returns the version it had."""
    db.execute("BEGIN IMMEDIATE")
    try:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise NewerStore(
                f"the store is at schema version {found}, this fedcat knows up to {SCHEMA_VERSION}: "
                "upgrade fedcat, or use another data dir"
            )
        for step in MIGRATIONS[found:]:
            step(db)
        if found != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return found
