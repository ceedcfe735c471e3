"""Upgrade in place (issue 11): a data dir written by the previous release opens, and is brought up to date.

The previous release made its tables in several modules (the store, the SPARQL triggers, the audit facts,
the SHACL results) and tracked changes five ways. `PREVIOUS_RELEASE` is their DDL, frozen here as that
release wrote it (a clean checkout has no history to run the old code from). The data dir is real: a
portal on 127.0.0.1 is harvested (index and SPARQL store as fedcat writes them, a format this change keeps),
then its store is written again in the previous release's schema, with what that release left pending:
a record changed after it was indexed (stale in the index, pending for SPARQL by the old trigger), a
record indexed before quality scores existed, a SHACL result of an older version and a current one.
"""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import msgspec
import pytest
import yaml
from fedcat.audit.report import refresh_facts
from fedcat.catalogue import Catalogue
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.sparql import SparqlStore, catalog_info_from_store
from fedcat.mappings.model import Text, dataset_from_json, dataset_to_json, text_in
from fedcat.store import SCHEMA_VERSION, NewerStore, Store, feed, unpack_payload
from fedcat.store.quality import quality_groups
from fedcat.store.shacl import conformance

BASE_URL = "https://fedcat.example"
PREVIOUS_RELEASE = """
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
CREATE TABLE IF NOT EXISTS sparql_pending (id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS sparql_pending_insert AFTER INSERT ON records BEGIN
    INSERT OR REPLACE INTO sparql_pending (id, version) VALUES (new.id, new.version);
END;
CREATE TRIGGER IF NOT EXISTS sparql_pending_update AFTER UPDATE OF version ON records BEGIN
    INSERT OR REPLACE INTO sparql_pending (id, version) VALUES (new.id, new.version);
END;
CREATE INDEX IF NOT EXISTS records_by_original_uri ON records (original_uri) WHERE original_uri IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_facts (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    publisher TEXT NOT NULL,
    identifier TEXT NOT NULL,
    publisher_uri TEXT NOT NULL,
    dataset TEXT NOT NULL,
    modified TEXT,
    licences TEXT NOT NULL,
    formats TEXT NOT NULL,
    hvd INTEGER NOT NULL,
    families TEXT
);
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
RECORD_COLUMNS = (
    "id, source_id, source_record_id, uri, original_uri, raw_media_type, raw_hash, fetch_url, first_seen,"
    " last_seen, first_run_id, last_run_id, withdrawn_at, version"
)
COPIED = {  # table -> columns the previous release had, copied from the harvested store
    "sources": "id, name, type, url, jurisdiction",
    "runs": "id, source_id, started_at, ended_at, status, pages, seen, created, updated, unchanged, withdrawn,"
    " failed, message, report",
    "record_data": "id, raw, dataset",
    "pages": "url, source_id, etag, last_modified, next_url, record_ids",
    "quality": "id, source_id, publisher, total, band, findability, accessibility, interoperability,"
    " reusability, contextuality",
    "publisher_names": "source_id, name, display",
}


def write_previous_release(current: Path, old: Path, changed: str, unscored: str, validated: str) -> None:
    """The store of `current` written again as the previous release would have left it."""
    db = sqlite3.connect(old, isolation_level=None)
    try:
        db.executescript(PREVIOUS_RELEASE)
        db.execute("ATTACH DATABASE ? AS current", (str(current),))
        db.execute("BEGIN")
        db.execute(
            f"INSERT INTO records ({RECORD_COLUMNS}, indexed_version)"
            f" SELECT {RECORD_COLUMNS}, version FROM current.records"
        )  # every record indexed (the triggers queue them all for SPARQL, as that release did)
        for table, columns in COPIED.items():
            db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM current.{table}")
        db.execute("DELETE FROM sparql_pending")  # the SPARQL store was synced
        # its payloads were zlib streams (zstd since)
        db.executemany(
            "UPDATE record_data SET raw = ? WHERE id = ?",
            [
                (zlib.compress(unpack_payload(raw), 1), i)
                for i, raw in db.execute("SELECT id, raw FROM record_data").fetchall()
            ],
        )
        # a record changed after it was indexed: its index entry and SPARQL graph are stale
        [data] = db.execute("SELECT dataset FROM record_data WHERE id = ?", (changed,)).fetchone()
        dataset = msgspec.structs.replace(dataset_from_json(data), title=[Text("Titre changé hier", "fr")])
        db.execute("UPDATE record_data SET dataset = ? WHERE id = ?", (dataset_to_json(dataset), changed))
        db.execute("UPDATE records SET version = version + 1 WHERE id = ?", (changed,))
        db.execute("DELETE FROM quality WHERE id = ?", (unscored,))  # indexed before quality scores existed
        db.executemany(
            "INSERT INTO shacl_results VALUES (?, 1, 'dcat-ap-3.0.1', 1, 0, 0, '2026-01-01T00:00:00Z')",
            [(changed,), (validated,)],  # the changed record's result is of its older version
        )
        db.execute("COMMIT")
        db.execute("DETACH DATABASE current")
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    finally:
        db.close()


def test_a_data_dir_of_the_previous_release_opens_upgraded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "sources.yaml"
    with PortalServer() as portal:
        base = portal.url("/ville")
        datasets = city_datasets(base)
        for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", 5).items():
            portal.add(f"/ville/catalog.ttl?page={number}", body)
        source = {"id": "ville", "name": "Ville", "type": "dcat", "url": base + "/catalog.ttl?page=1"}
        config.write_text(yaml.safe_dump({"settings": {"base_url": BASE_URL}, "sources": [source]}))
        catalogue = Catalogue.open(config, data)
        try:
            [run] = harvest(catalogue.config, catalogue.store, catalogue.backend)
            assert run.status == "complete"
            store = catalogue.store
            SparqlStore.for_store(store).close()  # a data dir that serves SPARQL
            sparql = SparqlStore.for_store(store)
            sparql.sync(store, catalog_info_from_store(store, BASE_URL, catalogue.config))
            sparql.close()
            live = store.live_ids()
            changed, unscored, validated, *_ = sorted(live)
        finally:
            catalogue.close()
        (data / "fedcat.db").rename(tmp_path / "harvested.db")
        for leftover in data.glob("fedcat.db-*"):
            leftover.unlink()
        write_previous_release(tmp_path / "harvested.db", data / "fedcat.db", changed, unscored, validated)

        catalogue = Catalogue.open(config, data)  # upgraded in place, then the index catches up
        try:
            store = catalogue.store
            schema = {(row[0], row[1]) for row in store.db.execute("SELECT type, name FROM sqlite_master")}
            assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert ("table", "sparql_pending") not in schema and not {n for t, n in schema if t == "trigger"}
            columns = {row[1] for row in store.db.execute("PRAGMA table_info(records)")}
            assert "indexed_version" not in columns and "mapping_version" in columns
            # nothing lost, payloads of either compression read alike
            assert store.live_ids() == live
            raw = store.raw(changed)
            assert raw is not None and raw[0].startswith(b"<") and raw[0].endswith(b" .\n")
            # the search index took the change the previous release had not indexed yet
            hits = catalogue.backend.search(SearchQuery(q="changé hier")).ids
            assert hits == [changed]
            assert catalogue.backend.ids() == live
            # the record without a quality score has one
            assert {g.key for g in quality_groups(store, "dataset")} == live
            # the SPARQL store (synced by the previous release) takes the change too
            sparql = SparqlStore.for_store(store)
            try:
                sparql.sync(store, catalog_info_from_store(store, BASE_URL, catalogue.config))
                titles = {
                    row["g"].value: row["t"].value
                    for row in sparql.oxigraph.query(
                        "SELECT ?g ?t { GRAPH ?g { ?d a <http://www.w3.org/ns/dcat#Dataset> ;"
                        " <http://purl.org/dc/terms/title> ?t FILTER (lang(?t) = 'fr') } }"
                    )
                }
            finally:
                sparql.close()
            current = store.current(live)
            assert titles == {r.uri: text_in(dataset_from_json(r.dataset).title) for r in current.values()}
            assert titles[current[changed].uri] == "Titre changé hier"
            # the older version's SHACL result is gone, the current one kept
            assert conformance(store, [changed, validated]) == {validated: True}
            # the audit facts are made from the feed
            refresh_facts(store)
            assert {row[0] for row in store.db.execute("SELECT id FROM audit_facts")} == live
            assert all(feed.cursor(store, view) == feed.head(store) for view in ("search", "sparql", "audit"))
            # the next harvest re-maps the records of the previous release's mappings from their payloads:
            # the record changed in the store gets its source's title back; the others say the same
            with catalogue.harvesting():
                [run] = harvest(catalogue.config, catalogue.store, catalogue.backend)
            assert run.status == "complete" and run.counts["unchanged"] == len(live)
            assert catalogue.backend.search(SearchQuery(q="changé hier")).total == 0
            assert store.run(run.run_id)["report"]["notes"] == [
                f"re-mapped {len(live)} records of an older mapping version: 1 changed, 0 failed"
            ]
        finally:
            catalogue.close()


def test_a_store_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fedcat.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(NewerStore, match="upgrade fedcat"):
        Store(path)


def test_a_store_of_schema_4_gains_the_discovery_tables(tmp_path: Path) -> None:
    from fedcat.store import discovery

    path = tmp_path / "fedcat.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE discoveries; DROP TABLE discovery_crawls; PRAGMA user_version = 4;")
    db.close()
    store = Store(path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        found = {"type": "ckan", "url": "https://ckan.example/", "found_on": "https://ville.example/"}
        discovery.save(store, "commune:59350", {"url": "https://ville.example/", "complete": True,
                                                "sources": [found]})  # fmt: skip
        assert [p["url"] for p in discovery.found_by_body(store)["commune:59350"]] == [
            "https://ckan.example/"
        ]
    finally:
        store.close()
