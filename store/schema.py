"""Every table of the store, in one place, and the migrations that bring an older data dir up to date.

The schema's version is SQLite's `PRAGMA user_version`. `SCHEMA` is the current one: a new store is made
from it directly. A store written by an earlier release is brought up to date by `MIGRATIONS`, one step
per version, all in one write transaction at open (two processes opening an old store at once upgrade it
once; a crash mid-upgrade leaves it as it was). Version 0 is the release before this module, whose
tables each module made on first use (`_V1` is their DDL, frozen). A store from a newer fedcat is refused
rather than damaged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

# What `fedcat audit` reads of each live record (audit.report); made again when its stamp changes.
AUDIT_STATE = "CREATE TABLE IF NOT EXISTS audit_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
AUDIT_FACTS = """
CREATE TABLE IF NOT EXISTS audit_facts (
    id TEXT PRIMARY KEY,
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

# The federation view (fedcat.federation, store/federation.py): each live record's clustering facts and
# blocking keys, its cluster and rank (0: canonical), the evidence linking a cluster's copies, and what the
# view remembers between refreshes (the overrides it applied).
FEDERATION = """
CREATE TABLE IF NOT EXISTS fed_copies (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    facts BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS fed_keys (
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (key, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fed_keys_by_id ON fed_keys (id);
CREATE TABLE IF NOT EXISTS fed_members (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL,
    rank INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fed_members_by_cluster ON fed_members (cluster, rank);
CREATE TABLE IF NOT EXISTS fed_links (
    cluster TEXT NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    rule TEXT NOT NULL,
    confidence REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fed_links_by_cluster ON fed_links (cluster);
CREATE TABLE IF NOT EXISTS fed_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# What `fedcat discover --save` found on the bodies' websites (store/discovery.py): one row per crawl of a
# website (for a body, or '' when crawled on its own), and one per catalogue, portal or website it links to,
# with the `sources.yaml` entry proposed and whether a probe of the platform's API confirmed it.
DISCOVERIES = """
CREATE TABLE IF NOT EXISTS discovery_crawls (
    body TEXT NOT NULL,
    website TEXT NOT NULL,
    crawled_at TEXT NOT NULL,
    complete INTEGER NOT NULL,
    reasons TEXT NOT NULL,        -- JSON array: why the crawl stopped early
    PRIMARY KEY (body, website)
);
CREATE TABLE IF NOT EXISTS discoveries (
    body TEXT NOT NULL,
    website TEXT NOT NULL,
    type TEXT NOT NULL,
    url TEXT NOT NULL,
    found_on TEXT NOT NULL,
    found_at TEXT NOT NULL,       -- the first crawl that found it
    seen_at TEXT NOT NULL,        -- the last one
    confirmed INTEGER NOT NULL,   -- 1: a probe of the platform's API answered as that platform; 0: pattern only
    probe TEXT NOT NULL,          -- what the probe said
    entry TEXT NOT NULL,          -- the sources.yaml entry proposed (JSON)
    PRIMARY KEY (body, type, url)
);
"""

# The labels sources give to the IRIs their records use (store/labels.py), per record: facet labels for
# IRIs no vocabulary of fedcat labels.
IRI_LABELS = """
CREATE TABLE IF NOT EXISTS iri_labels (
    iri TEXT NOT NULL,
    lang TEXT NOT NULL,           -- '' when the source gives none
    label TEXT NOT NULL,
    id TEXT NOT NULL              -- the record giving it
);
-- covering the facet-label lookup's GROUP BY (no temporary sort: 10x faster than an index on iri alone)
CREATE INDEX IF NOT EXISTS iri_labels_by_label ON iri_labels (iri, lang, label);
CREATE INDEX IF NOT EXISTS iri_labels_by_record ON iri_labels (id);
"""

# Reuses (store/reuses.py): what portals list as built on their datasets, kept like records (hash, first and
# last seen, tombstoned when a complete run no longer lists them); `reuse_datasets` names each reuse's
# datasets as its source knows them (resolved to fedcat's records when read, so a dataset harvested after
# its reuse is linked too); `reuse_text` is their full text.
REUSES = """
CREATE TABLE IF NOT EXISTS reuses (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL,
    source_record_id TEXT NOT NULL,
    raw BLOB NOT NULL,
    raw_hash TEXT NOT NULL,
    reuse BLOB NOT NULL,          -- mappings.reuse.Reuse as JSON
    type TEXT NOT NULL,
    modified TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_run_id INTEGER NOT NULL,
    withdrawn_at TEXT,
    UNIQUE (source_id, source_record_id)
);
CREATE INDEX IF NOT EXISTS reuses_live ON reuses (source_id) WHERE withdrawn_at IS NULL;
CREATE TABLE IF NOT EXISTS reuse_datasets (
    reuse_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    dataset_id TEXT,
    dataset_uri TEXT
);
CREATE INDEX IF NOT EXISTS reuse_datasets_by_reuse ON reuse_datasets (reuse_id);
CREATE INDEX IF NOT EXISTS reuse_datasets_by_id ON reuse_datasets (source_id, dataset_id);
CREATE INDEX IF NOT EXISTS reuse_datasets_by_uri ON reuse_datasets (dataset_uri);
CREATE VIRTUAL TABLE IF NOT EXISTS reuse_text USING fts5(
    id UNINDEXED, title, description, tags, tokenize = 'unicode61 remove_diacritics 2'
);
"""

SCHEMA = (
    """
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
    mapping_version TEXT,  -- mappings.version of the mapping that made its dataset (NULL: an older release's)
    UNIQUE (source_id, source_record_id)
);
CREATE INDEX IF NOT EXISTS records_by_run ON records (source_id, last_run_id);
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
-- The same dataset harvested from several sources keeps the source's IRI: its duplicates, by this index.
CREATE INDEX IF NOT EXISTS records_by_original_uri ON records (original_uri) WHERE original_uri IS NOT NULL;
-- The change feed (store.feed): one entry per change to a record, written with the change; each derived
-- view's cursor is the last entry it applied.
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (view TEXT PRIMARY KEY, seq INTEGER NOT NULL);
-- `fedcat validate`'s result of each record (the quality score's DCAT-AP compliance indicator); the
-- "shacl" view forgets a record's result when the record changes.
CREATE TABLE IF NOT EXISTS shacl_results (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    conforms INTEGER NOT NULL,
    source_violations INTEGER NOT NULL,
    fedcat_violations INTEGER NOT NULL,
    validated_at TEXT NOT NULL
);
"""
    + AUDIT_STATE
    + AUDIT_FACTS
    + FEDERATION
    + DISCOVERIES
    + IRI_LABELS
    + REUSES
)

# --- what the previous release may have left: its modules made these on first use -------------------------

_V1_OTHERS = """
CREATE TABLE IF NOT EXISTS audit_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shacl_results (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    profile TEXT NOT NULL,
    conforms INTEGER NOT NULL,
    source_violations INTEGER NOT NULL,
    fedcat_violations INTEGER NOT NULL,
    validated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_original_uri ON records (original_uri) WHERE original_uri IS NOT NULL;
"""


# Stores made before `record_data` held raw and dataset in `records`: moved once, into today's `records`
# (whose index marks they then lack: every record is indexed again).
_RECORD_COLUMNS = (
    "id, source_id, source_record_id, uri, original_uri, raw_media_type, raw_hash, fetch_url, first_seen,"
    " last_seen, first_run_id, last_run_id, withdrawn_at, version"
)
_SPLIT_RECORDS = f"""
ALTER TABLE records RENAME TO records_before_split;
DROP INDEX IF EXISTS records_by_run;
DROP INDEX IF EXISTS records_to_index;
DROP INDEX IF EXISTS records_live;
DROP INDEX IF EXISTS records_by_original_uri;
{SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS records (") : SCHEMA.index("CREATE TABLE IF NOT EXISTS pages")]}
INSERT INTO records ({_RECORD_COLUMNS}) SELECT {_RECORD_COLUMNS} FROM records_before_split;
INSERT INTO record_data (id, raw, dataset) SELECT id, raw, dataset FROM records_before_split;
DROP TABLE records_before_split;
"""

# The five ways views tracked changes before the feed: gone in version 2.
_V1_TRACKING = """
DROP TRIGGER IF EXISTS sparql_pending_insert;
DROP TRIGGER IF EXISTS sparql_pending_update;
DROP TRIGGER IF EXISTS sparql_pending_on_insert;
DROP TRIGGER IF EXISTS sparql_pending_on_update;
DROP TABLE IF EXISTS sparql_pending;
DROP INDEX IF EXISTS records_to_index;
DROP TABLE IF EXISTS audit_facts;
DELETE FROM audit_state WHERE key = 'facts';
ALTER TABLE shacl_results DROP COLUMN version;
"""
VIEWS_BEFORE_THE_FEED = ("search", "sparql", "audit", "shacl")


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script (a trigger's body included), for running them inside a transaction
    (`executescript` would commit the one it runs in)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""


def _run(db: sqlite3.Connection, script: str) -> None:
    for statement in statements(script):
        db.execute(statement)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def _to_1(db: sqlite3.Connection) -> None:
    """The previous release's store: raw and dataset out of `records` (very old stores), then every table
    its modules made on first use."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    if "raw" in columns:
        _run(db, _SPLIT_RECORDS)
    _run(db, SCHEMA[: SCHEMA.index("-- The change feed")] + _V1_OTHERS)


def _to_2(db: sqlite3.Connection) -> None:
    """The change feed replaces the views' own change tracking. The feed starts with one entry per record
    and every view's cursor after them (the views were up to date with the store), followed by an entry for
    each record some view had still to apply: not indexed, pending for SPARQL, never scored, or with a
    SHACL result of an older version (forgotten here). The audit facts are made again from the feed."""
    _run(db, SCHEMA)  # the feed's tables (the others exist: IF NOT EXISTS)
    db.execute(
        "INSERT INTO changes (id, version, kind) SELECT id, version,"
        " CASE WHEN withdrawn_at IS NULL THEN 'created' ELSE 'withdrawn' END FROM records ORDER BY rowid"
    )
    db.executemany(
        "INSERT OR REPLACE INTO cursors (view, seq) SELECT ?, coalesce(max(seq), 0) FROM changes",
        [(view,) for view in VIEWS_BEFORE_THE_FEED if view != "audit"],
    )
    marked = "indexed_version" in {row[1] for row in db.execute("PRAGMA table_info(records)")}
    stale = [
        "SELECT id FROM records WHERE indexed_version < version" if marked else "SELECT id FROM records",
        "SELECT id FROM records r WHERE withdrawn_at IS NULL AND NOT EXISTS (SELECT 1 FROM quality q WHERE q.id = r.id)",
    ]
    if _has_table(db, "sparql_pending"):
        stale.append("SELECT id FROM sparql_pending")
    db.execute(
        f"INSERT INTO changes (id, version, kind) SELECT id, version, 'updated' FROM records"
        f" WHERE id IN ({' UNION '.join(stale)}) ORDER BY id"
    )
    db.execute(
        "DELETE FROM shacl_results WHERE NOT EXISTS"
        " (SELECT 1 FROM records r WHERE r.id = shacl_results.id AND r.version = shacl_results.version)"
    )
    _run(db, _V1_TRACKING)
    if marked:
        db.execute("ALTER TABLE records DROP COLUMN indexed_version")
    _run(db, SCHEMA)  # audit_facts again, in its new form


def _to_3(db: sqlite3.Connection) -> None:
    """Each record's mapping version: unknown (NULL) for what an earlier release mapped."""
    if "mapping_version" not in {row[1] for row in db.execute("PRAGMA table_info(records)")}:
        db.execute("ALTER TABLE records ADD COLUMN mapping_version TEXT")


def _to_4(db: sqlite3.Connection) -> None:
    """The federation view's tables (its cursor starts at 0: it clusters every record once)."""
    _run(db, FEDERATION)


def _to_5(db: sqlite3.Connection) -> None:
    """What `fedcat discover --save` finds: none yet."""
    _run(db, DISCOVERIES)


def _to_6(db: sqlite3.Connection) -> None:
    """The labels sources give to IRIs (its cursor starts at 0: every record's labels are read once)."""
    _run(db, IRI_LABELS)


def _to_7(db: sqlite3.Connection) -> None:
    """The reuses' tables (filled by the next harvest of each source that lists reuses)."""
    _run(db, REUSES)


def _to_8(db: sqlite3.Connection) -> None:
    """The source labels' index covers their lookup."""
    db.execute("DROP INDEX IF EXISTS iri_labels_by_iri")
    _run(db, IRI_LABELS)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _to_1,
    _to_2,
    _to_3,
    _to_4,
    _to_5,
    _to_6,
    _to_7,
    _to_8,
]  # MIGRATIONS[n]: n -> n + 1
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
        if found == 0 and not _has_table(db, "records"):
            _run(db, SCHEMA)  # a new store
        else:
            for step in MIGRATIONS[found:]:
                step(db)
        if found != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return found
