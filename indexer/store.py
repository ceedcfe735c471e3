"""The record store: one SQLite file (WAL), the source of truth every other view is derived from.

It holds the sources, their harvest runs (the job reports), every record ever harvested (raw payload and
its hash, the normalised DCAT-AP dataset, first/last seen, withdrawn-at) and the HTTP validators of fetched
pages. Each change bumps the record's `version`; the search index is brought up to date from the rows whose
`indexed_version` lags behind, so a crash between the store and the index is repaired by the next sync.
"""

from __future__ import annotations

import gc
import hashlib
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from ..mappings.model import Dataset, dataset_from_json, dataset_to_json
from ..redaction import redact_url

RUN_STATUSES = ("running", "complete", "partial", "failed", "interrupted")
COUNTERS = ("seen", "created", "updated", "unchanged", "withdrawn", "failed")

SCHEMA = """
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


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False
_gc_collected = 0.0  # when a pause last collected on its own (see gc_paused)
GC_MAX_PAUSE = 30.0  # seconds: overlapping pauses (runs in several threads) still collect this often


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch of work (a harvested page, an index batch).

    A page makes ~200,000 short-lived containers (its parsed graph, records, datasets); the collector would
    scan them, and everything alive with them, many times over before they are freed, which cost ~30% of a
    harvest. The batch code makes no reference cycles, so reference counting frees it all; cycles made
    elsewhere meanwhile are collected once the pause ends. Nestable and thread-safe (the collector resumes
    when the last pause ends, if it was running before the first); when pauses of several threads overlap
    without end (a pool of runs), one of them collects every GC_MAX_PAUSE seconds.
    """
    global _gc_pausers, _gc_was_enabled, _gc_collected
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
            _gc_collected = time.monotonic()
        _gc_pausers += 1
    try:
        yield
    finally:
        collect = False
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()
            elif _gc_was_enabled and time.monotonic() - _gc_collected > GC_MAX_PAUSE:
                _gc_collected, collect = time.monotonic(), True
        if collect:
            gc.collect()


# Stores made before `record_data` held raw and dataset in `records`: moved once, in one transaction.
_RECORD_COLUMNS = (
    "id, source_id, source_record_id, uri, original_uri, raw_media_type, raw_hash, fetch_url, first_seen,"
    " last_seen, first_run_id, last_run_id, withdrawn_at, version, indexed_version"
)
_SPLIT_RECORDS = f"""
ALTER TABLE records RENAME TO records_before_split;
DROP INDEX IF EXISTS records_by_run;
DROP INDEX IF EXISTS records_to_index;
{SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS records (") :]}
INSERT INTO records ({_RECORD_COLUMNS}) SELECT {_RECORD_COLUMNS} FROM records_before_split;
INSERT INTO record_data (id, raw, dataset) SELECT id, raw, dataset FROM records_before_split;
DROP TABLE records_before_split;
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def record_id(source_id: str, source_record_id: str) -> str:
    """fedcat's stable id for a record: the source id and a digest of the source's own record id."""
    digest = hashlib.blake2b(source_record_id.encode("utf-8"), digest_size=8).hexdigest()
    return f"{source_id}-{digest}"


def payload_hash(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


class Upsert(msgspec.Struct):
    """A new or changed record, ready to write."""

    id: str
    source_record_id: str
    dataset: Dataset
    raw: bytes
    raw_media_type: str
    raw_hash: str
    fetch_url: str


class RunReport(msgspec.Struct, omit_defaults=True):
    """Per-run details beyond the counters, kept as JSON (e.g. unmapped values, refused links)."""

    unmapped: dict[str, dict[str, int]] = {}
    notes: list[str] = []


class Store:
    """Thread-safe: one connection per thread, one write transaction at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        with self._write_lock:
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(records)")}
            if "raw" in columns:
                self.db.executescript(f"BEGIN IMMEDIATE; {_SPLIT_RECORDS} COMMIT;")
            self.db.executescript(SCHEMA)  # executescript manages its own transaction

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            # Records are several KB (raw payload + dataset JSON): 16 KB pages keep most of a record on one
            # page instead of an overflow chain, which halves the cost of writing a harvested page. Only
            # takes effect when the file is created (before WAL mode is set); an existing store keeps its own.
            conn.execute("PRAGMA page_size=16384")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: everything inside commits together or not at all."""
        with self._write_lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- sources -------------------------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[Any]) -> None:
        with self.write() as db:
            db.executemany(
                "INSERT INTO sources (id, name, type, url, jurisdiction) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, "
                "url = excluded.url, jurisdiction = excluded.jurisdiction",
                [
                    (s.id, s.name, s.type, redact_url(s.url), s.jurisdiction.key if s.jurisdiction else None)
                    for s in sources
                ],
            )

    def sources(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT s.*, (SELECT COUNT(*) FROM records r WHERE r.source_id = s.id AND r.withdrawn_at IS NULL) "
            "AS datasets, (SELECT MAX(id) FROM runs WHERE runs.source_id = s.id) AS last_run_id "
            "FROM sources s ORDER BY s.id"
        ).fetchall()
        return [dict(row) for row in rows]

    # --- runs ----------------------------------------------------------------------------------------

    def start_run(self, source_id: str) -> int:
        with self.write() as db:
            cursor = db.execute(
                "INSERT INTO runs (source_id, started_at, status) VALUES (?, ?, 'running')",
                (source_id, now()),
            )
            return int(cursor.lastrowid or 0)

    def finish_run(
        self, run_id: int, status: str, counts: dict[str, int], message: str | None, report: RunReport
    ) -> None:
        assert status in RUN_STATUSES
        with self.write() as db:
            db.execute(
                f"UPDATE runs SET ended_at = ?, status = ?, message = ?, report = ?, "
                f"{', '.join(f'{c} = ?' for c in ('pages', *COUNTERS))} WHERE id = ?",
                (
                    now(),
                    status,
                    message,
                    msgspec.json.encode(report).decode(),
                    *(counts.get(c, 0) for c in ("pages", *COUNTERS)),
                    run_id,
                ),
            )

    def update_progress(self, run_id: int, counts: dict[str, int]) -> None:
        with self.write() as db:
            db.execute(
                f"UPDATE runs SET {', '.join(f'{c} = ?' for c in ('pages', *COUNTERS))} WHERE id = ?",
                (*(counts.get(c, 0) for c in ("pages", *COUNTERS)), run_id),
            )

    def mark_interrupted(self) -> int:
        """Runs left `running` by a process that died: call at start-up, before any new run."""
        with self.write() as db:
            return db.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = ?, "
                "message = 'the process stopped before the run ended' WHERE status = 'running'",
                (now(),),
            ).rowcount

    def add_errors(self, run_id: int, errors: Iterable[tuple[str | None, str | None, str]]) -> None:
        with self.write() as db:
            db.executemany(
                "INSERT INTO run_errors (run_id, source_record_id, url, error) VALUES (?, ?, ?, ?)",
                [(run_id, *e) for e in errors],
            )

    def run(self, run_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        run = dict(row)
        run["report"] = msgspec.json.decode(run["report"]) if run["report"] else {}
        run["errors"] = [
            dict(e)
            for e in self.db.execute(
                "SELECT source_record_id, url, error FROM run_errors WHERE run_id = ? LIMIT 1000", (run_id,)
            )
        ]
        return run

    def runs(self, source_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        sql = (
            "SELECT * FROM runs" + (" WHERE source_id = ?" if source_id else "") + " ORDER BY id DESC LIMIT ?"
        )
        args = (source_id, limit) if source_id else (limit,)
        rows = self.db.execute(sql, args)
        return [{k: row[k] for k in row.keys() if k != "report"} for row in rows]  # noqa: SIM118 - Row iterates values

    # --- records -------------------------------------------------------------------------------------

    def known(self, source_id: str, source_record_ids: list[str]) -> dict[str, tuple[str, bool]]:
        """source record id -> (raw hash, withdrawn?) for the ids already stored."""
        found: dict[str, tuple[str, bool]] = {}
        for start in range(0, len(source_record_ids), 500):
            chunk = source_record_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for srid, raw_hash, withdrawn in self.db.execute(
                f"SELECT source_record_id, raw_hash, withdrawn_at IS NOT NULL FROM records "
                f"WHERE source_id = ? AND source_record_id IN ({marks})",
                (source_id, *chunk),
            ):
                found[srid] = (raw_hash, bool(withdrawn))
        return found

    def save_page(
        self,
        source_id: str,
        run_id: int,
        upserts: list[Upsert],
        unchanged: list[str],
        page: tuple[str, str | None, str | None, str | None, list[str]] | None = None,
    ) -> list[tuple[str, int]]:
        """Write one page in one transaction: new/changed records, the unchanged ones seen, the page cache.

        `page` is (url, etag, last_modified, next_url, source record ids) for conditional re-fetching.
        Returns (fedcat id, version) of each record written, for indexing it (`mark_indexed`).
        """
        stamp = now()
        versions: list[tuple[str, int]] = []
        with self.write() as db:
            if upserts:
                db.executemany(
                    "INSERT INTO records (id, source_id, source_record_id, uri, original_uri, raw_media_type,"
                    " raw_hash, fetch_url, first_seen, last_seen, first_run_id, last_run_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (source_id, source_record_id) DO UPDATE SET uri = excluded.uri,"
                    " original_uri = excluded.original_uri, raw_media_type = excluded.raw_media_type,"
                    " raw_hash = excluded.raw_hash, fetch_url = excluded.fetch_url, last_seen = excluded.last_seen,"
                    " last_run_id = excluded.last_run_id, withdrawn_at = NULL, version = version + 1",
                    [
                        (
                            u.id,
                            source_id,
                            u.source_record_id,
                            u.dataset.uri,
                            u.dataset.original_uri,
                            u.raw_media_type,
                            u.raw_hash,
                            u.fetch_url,
                            stamp,
                            stamp,
                            run_id,
                            run_id,
                        )
                        for u in upserts
                    ],
                )
                db.executemany(
                    "INSERT INTO record_data (id, raw, dataset) VALUES (?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, dataset = excluded.dataset",
                    [(u.id, zlib.compress(u.raw, 1), dataset_to_json(u.dataset)) for u in upserts],
                )
                ids = list(dict.fromkeys(u.id for u in upserts))
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    versions.extend(
                        db.execute(
                            f"SELECT id, version FROM records WHERE id IN ({','.join('?' * len(chunk))})",
                            chunk,
                        )
                    )
            if unchanged:
                db.executemany(
                    "UPDATE records SET last_seen = ?, last_run_id = ? WHERE source_id = ? AND source_record_id = ?",
                    [(stamp, run_id, source_id, srid) for srid in unchanged],
                )
            if page is not None:
                url, etag, last_modified, next_url, ids = page
                db.execute(
                    "INSERT OR REPLACE INTO pages (url, source_id, etag, last_modified, next_url, record_ids)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        url,
                        source_id,
                        etag,
                        last_modified,
                        next_url,
                        zlib.compress(msgspec.json.encode(ids), 1),
                    ),
                )
        return [(row[0], row[1]) for row in versions]

    def cached_page(self, url: str, source_id: str) -> dict[str, Any] | None:
        """What the source's last fetch of `url` gave (another source with the same URL has its own)."""
        row = self.db.execute(
            "SELECT * FROM pages WHERE url = ? AND source_id = ?", (url, source_id)
        ).fetchone()
        if row is None:
            return None
        page = dict(row)
        page["record_ids"] = (
            msgspec.json.decode(zlib.decompress(page["record_ids"])) if page["record_ids"] else []
        )
        return page

    def withdraw_unseen(
        self, source_id: str, run_id: int, max_share: float, force: bool = False, window_days: float = 0.0
    ) -> int:
        """Tombstone the source's live records this (complete) run did not see; refuse a mass withdrawal.

        The share counts what runs withdrew within the last `window_days` too (still withdrawn): runs each
        under the limit must not add up to a mass withdrawal. Returns the number withdrawn; raises
        MassWithdrawal when the share is over `max_share`.
        """
        since = (datetime.now(UTC) - timedelta(days=window_days)).isoformat(timespec="seconds")
        with self.write() as db:
            live = db.execute(
                "SELECT COUNT(*) FROM records WHERE source_id = ? AND withdrawn_at IS NULL", (source_id,)
            ).fetchone()[0]
            unseen = db.execute(
                "SELECT COUNT(*) FROM records WHERE source_id = ? AND withdrawn_at IS NULL AND last_run_id != ?",
                (source_id, run_id),
            ).fetchone()[0]
            recent = 0
            if unseen and window_days > 0:
                recent = db.execute(
                    "SELECT COUNT(*) FROM records WHERE source_id = ? AND withdrawn_at >= ?",
                    (source_id, since.replace("+00:00", "Z")),
                ).fetchone()[0]
            if unseen and not force and unseen + recent > max_share * (live + recent):
                raise MassWithdrawal(unseen, live, max_share, recent, window_days)
            db.execute(
                "UPDATE records SET withdrawn_at = ?, version = version + 1 "
                "WHERE source_id = ? AND withdrawn_at IS NULL AND last_run_id != ?",
                (now(), source_id, run_id),
            )
            return unseen

    def record(self, fedcat_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT r.id, source_id, source_record_id, uri, original_uri, raw_media_type, raw_hash, fetch_url,"
            " dataset, first_seen, last_seen, first_run_id, last_run_id, withdrawn_at"
            " FROM records r JOIN record_data d ON d.id = r.id WHERE r.id = ?",
            (fedcat_id,),
        ).fetchone()
        if row is None:
            return None
        record = dict(row)
        record["dataset"] = dataset_from_json(record["dataset"])
        return record

    def raw(self, fedcat_id: str) -> tuple[bytes, str] | None:
        row = self.db.execute(
            "SELECT raw, raw_media_type FROM records r JOIN record_data d ON d.id = r.id WHERE r.id = ?",
            (fedcat_id,),
        ).fetchone()
        return (zlib.decompress(row[0]), row[1]) if row else None

    def datasets(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Summaries of several records by id (for search hits), in one query."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT r.id, source_id, dataset, withdrawn_at FROM records r JOIN record_data d ON d.id = r.id"
            f" WHERE r.id IN ({marks})",
            ids,
        ).fetchall()
        return {
            row["id"]: {"source_id": row["source_id"], "dataset": dataset_from_json(row["dataset"])}
            for row in rows
        }

    def iter_records(self, *, live_only: bool = True, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every record, in id order, a batch at a time (constant memory)."""
        last = ""
        where = "AND withdrawn_at IS NULL" if live_only else ""
        while True:
            rows = self.db.execute(
                f"SELECT r.id, source_id, dataset, withdrawn_at FROM records r JOIN record_data d ON d.id = r.id"
                f" WHERE r.id > ? {where} ORDER BY r.id LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield {
                    "id": row["id"],
                    "source_id": row["source_id"],
                    "dataset": dataset_from_json(row["dataset"]),
                }
            last = rows[-1]["id"]

    def pending_index(self, batch: int = 2000) -> list[tuple[str, str, bytes | None, int]]:
        """Records whose index entry is stale: (id, source_id, dataset JSON or None if withdrawn, version)."""
        rows = self.db.execute(
            "SELECT r.id, source_id, CASE WHEN withdrawn_at IS NULL THEN dataset END, version"
            " FROM records r JOIN record_data d ON d.id = r.id WHERE indexed_version < version LIMIT ?",
            (batch,),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def mark_indexed(self, versions: list[tuple[str, int]]) -> None:
        with self.write() as db:
            db.executemany(
                "UPDATE records SET indexed_version = ? WHERE id = ?", [(v, i) for i, v in versions]
            )

    def reset_index_marks(self) -> None:
        """Before a full index rebuild: every record must be indexed again."""
        with self.write() as db:
            db.execute("UPDATE records SET indexed_version = 0")

    # --- link checks ---------------------------------------------------------------------------------

    def save_link_checks(
        self, checks: Iterable[tuple[str, str, bool, int | None, str | None, str | None]]
    ) -> None:
        """Store (url, checked_at, ok, HTTP status, method, error) results, replacing older ones."""
        with self.write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO link_checks (url, checked_at, ok, status, method, error)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(url, at, int(ok), status, method, error) for url, at, ok, status, method, error in checks],
            )

    def link_checks(self, urls: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored check of each of these URLs that was checked."""
        urls = list(dict.fromkeys(urls))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            for row in self.db.execute(
                f"SELECT * FROM link_checks WHERE url IN ({','.join('?' * len(chunk))})", chunk
            ):
                found[row["url"]] = {**dict(row), "ok": bool(row["ok"])}
        return found

    def reindex_sources(self, source_ids: Iterable[str]) -> int:
        """Mark the live records of these sources for re-indexing (their link checks changed)."""
        ids = list(source_ids)
        with self.write() as db:
            return db.execute(
                f"UPDATE records SET indexed_version = 0 WHERE withdrawn_at IS NULL"
                f" AND source_id IN ({','.join('?' * len(ids))})",
                ids,
            ).rowcount

    def live_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT id FROM records WHERE withdrawn_at IS NULL")}

    def count(self, source_id: str | None = None, *, live_only: bool = True) -> int:
        sql = "SELECT COUNT(*) FROM records WHERE 1=1"
        args: tuple[Any, ...] = ()
        if source_id:
            sql, args = sql + " AND source_id = ?", (source_id,)
        if live_only:
            sql += " AND withdrawn_at IS NULL"
        return int(self.db.execute(sql, args).fetchone()[0])


class MassWithdrawal(Exception):
    def __init__(
        self, unseen: int, live: int, max_share: float, recent: int = 0, window_days: float = 0.0
    ) -> None:
        self.unseen, self.live, self.max_share = unseen, live, max_share
        if recent:
            share = (unseen + recent) / max(live + recent, 1)
            what = (
                f"{unseen} of {live} records, after {recent} withdrawn within {window_days:g} days "
                f"({share:.0%} of the source in the window"
            )
        else:
            what = f"{unseen} of {live} records ({unseen / max(live, 1):.0%}"
        super().__init__(
            f"refused to withdraw {what}, over the {max_share:.0%} limit): the source may be broken; "
            "re-run with --force-withdraw if it is real"
        )
