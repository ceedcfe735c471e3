"""The record store: one SQLite file (WAL), the source of truth every other view is derived from.

It holds the sources, their harvest runs (the job reports), every record ever harvested (raw payload and
its hash, the normalised DCAT-AP dataset, first/last seen, withdrawn-at) and the HTTP validators of fetched
pages. Each change bumps the record's `version` and appends an entry to the change feed in the same
transaction (`store.feed`): every derived view catches up from there.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import threading
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from ..mappings.model import Dataset, dataset_from_json, dataset_to_json
from ..redaction import redact_url
from .schema import migrate

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

RUN_STATUSES = ("running", "complete", "partial", "failed", "interrupted")
COUNTERS = ("seen", "created", "updated", "unchanged", "withdrawn", "failed")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def record_id(source_id: str, source_record_id: str) -> str:
    """fedcat's stable id for a record: the source id and a digest of the source's own record id."""
    digest = hashlib.blake2b(source_record_id.encode("utf-8"), digest_size=8).hexdigest()
    return f"{source_id}-{digest}"


def payload_hash(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


_compressors = threading.local()  # a zstd compressor per thread (one is not to be shared between threads)


def pack_payload(payload: bytes) -> bytes:
    """A raw payload as `record_data.raw` keeps it: zstd level 1, a fifth of the size of a DCAT record's
    N-Triples (leaving it uncompressed would write five times the bytes). Measured on the corpus's records
    (1,730 records of ~6 KB): level 1 ~14 µs CPU a record for a ratio of 4.96,
    level 3 ~18 µs for 5.03 (on the synthetic 7 KB DCAT records ~14 against ~21 µs, the same ratio); zlib
    level 1 took ~45 µs. The DCAT parsing process packs its records itself, off the harvesting thread
    (`Upsert.packed`).

    Each thread keeps its compressor: `zstd.compress` made one per call, a third of that time for the same
    bytes (one whole frame per payload, its size in the header)."""
    compressor = getattr(_compressors, "zstd", None)
    if compressor is None:
        compressor = _compressors.zstd = zstd.ZstdCompressor(level=1)
    try:
        return compressor.compress(payload, mode=zstd.ZstdCompressor.FLUSH_FRAME)
    except BaseException:
        _compressors.zstd = None  # a frame left half written must not start the next payload's
        raise


_ZSTD_FRAME = b"\x28\xb5\x2f\xfd"  # the magic number every zstd frame starts with; zlib streams start 0x78


def unpack_payload(packed: bytes) -> bytes:
    """A stored raw payload: zstd, or zlib as stores before zstd wrote them (both stay readable)."""
    return zstd.decompress(packed) if packed[:4] == _ZSTD_FRAME else zlib.decompress(packed)


_CHUNK = 500  # values bound in one `IN (...)`: under SQLite's limit on a statement's parameters


def chunks(values: list[Any]) -> Iterator[list[Any]]:
    """`values` in slices short enough to bind in one statement."""
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _versions(db: sqlite3.Connection, ids: list[str]) -> list[tuple[str, int]]:
    """(id, version) of these records, in the order the store finds them."""
    found: list[tuple[str, int]] = []
    for chunk in chunks(ids):
        found.extend(
            db.execute(f"SELECT id, version FROM records WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        )
    return found


def _append_changes(db: sqlite3.Connection, entries: list[tuple[str, int, str]]) -> list[tuple[str, int]]:
    """Append (id, version, kind) entries to the change feed, in order, inside the caller's write
    transaction; returns (id, position). The write lock makes the positions consecutive."""
    if not entries:
        return []
    db.executemany("INSERT INTO changes (id, version, kind) VALUES (?, ?, ?)", entries)
    last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
    first = last - len(entries) + 1
    return [(fedcat_id, first + n) for n, (fedcat_id, _version, _kind) in enumerate(entries)]


class StoredRecord(NamedTuple):
    """A record as the change feed's views read it (the dataset left as stored JSON: decoded by the views
    that need it)."""

    id: str
    source_id: str
    source_record_id: str
    uri: str
    first_seen: str
    last_seen: str
    version: int
    withdrawn: bool
    dataset: bytes


class Upsert(msgspec.Struct):
    """A new or changed record, ready to write."""

    id: str
    source_record_id: str
    dataset: Dataset
    raw: bytes
    raw_media_type: str
    raw_hash: str
    fetch_url: str
    mapping_version: str | None = None  # mappings.version.mapping_version() of what made `dataset`
    packed: bytes | None = None  # pack_payload(raw) when the harvest already has it
    dataset_json: bytes | None = None  # dataset_to_json(dataset) when the harvest already has it


class StoredPayload(NamedTuple):
    """A live record's payload and dataset as stored, for re-mapping it."""

    id: str
    source_record_id: str
    raw: bytes  # decompressed
    dataset: bytes  # the stored dataset JSON
    mapping_version: str | None


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
            migrate(self.db)

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

    def source_descriptions(self) -> list[dict[str, Any]]:
        """Every stored source's id, name, url and type (the catalogue describes removed sources too)."""
        return [dict(r) for r in self.db.execute("SELECT id, name, url, type FROM sources")]

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

    def runs_by_status(self) -> list[tuple[str, str, int]]:
        """(source id, status, runs) over the runs kept."""
        return [
            tuple(r)
            for r in self.db.execute(  # type: ignore[misc]
                "SELECT source_id, status, COUNT(*) FROM runs GROUP BY source_id, status"
            )
        ]

    def outcome_sums(self) -> list[tuple[str, dict[str, int]]]:
        """Per source, each counter but `seen` summed over the runs kept."""
        counters = [c for c in COUNTERS if c != "seen"]
        sums = ", ".join(f"SUM({c})" for c in counters)
        return [
            (source_id, {c: v or 0 for c, v in zip(counters, values, strict=True)})
            for source_id, *values in self.db.execute(
                f"SELECT source_id, {sums} FROM runs GROUP BY source_id"
            )
        ]

    def last_runs(self) -> list[tuple[str, str, str]]:
        """(source id, started at, status) of each source's last run."""
        return [
            tuple(r)
            for r in self.db.execute(  # type: ignore[misc]
                "SELECT source_id, started_at, status FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY source_id)"
            )
        ]

    def last_complete_runs(self) -> list[tuple[str, str]]:
        """(source id, ended at) of each source's last complete run."""
        return [
            tuple(r)
            for r in self.db.execute(  # type: ignore[misc]
                "SELECT source_id, MAX(ended_at) FROM runs WHERE status = 'complete' GROUP BY source_id"
            )
        ]

    def runs_stamp(self) -> tuple[int | None, int]:
        """(last run id, runs ended): changes whenever a run starts or ends."""
        last, ended = self.db.execute("SELECT max(id), count(ended_at) FROM runs").fetchone()
        return last, ended

    # --- records -------------------------------------------------------------------------------------

    def known(self, source_id: str, source_record_ids: list[str]) -> dict[str, tuple[str, bool]]:
        """source record id -> (raw hash, withdrawn?) for the ids already stored."""
        found: dict[str, tuple[str, bool]] = {}
        for chunk in chunks(source_record_ids):
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
        Returns (fedcat id, feed position) of each record written: its change feed entry (`store.feed`).
        """
        stamp = now()
        written: list[tuple[str, int]] = []
        with self.write() as db:
            if upserts:
                db.executemany(
                    "INSERT INTO records (id, source_id, source_record_id, uri, original_uri, raw_media_type,"
                    " raw_hash, fetch_url, first_seen, last_seen, first_run_id, last_run_id, mapping_version)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (source_id, source_record_id) DO UPDATE SET uri = excluded.uri,"
                    " original_uri = excluded.original_uri, raw_media_type = excluded.raw_media_type,"
                    " raw_hash = excluded.raw_hash, fetch_url = excluded.fetch_url, last_seen = excluded.last_seen,"
                    " last_run_id = excluded.last_run_id, withdrawn_at = NULL, version = version + 1,"
                    " mapping_version = excluded.mapping_version",
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
                            u.mapping_version,
                        )
                        for u in upserts
                    ],
                )
                db.executemany(
                    "INSERT INTO record_data (id, raw, dataset) VALUES (?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, dataset = excluded.dataset",
                    [
                        (u.id, u.packed or pack_payload(u.raw), u.dataset_json or dataset_to_json(u.dataset))
                        for u in upserts
                    ],
                )
                versions = _versions(db, list(dict.fromkeys(u.id for u in upserts)))
                written = _append_changes(
                    db, [(i, v, "created" if v == 1 else "updated") for i, v in versions]
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
        return written

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
            gone = [
                row[0]
                for row in db.execute(
                    "UPDATE records SET withdrawn_at = ?, version = version + 1 "
                    "WHERE source_id = ? AND withdrawn_at IS NULL AND last_run_id != ? RETURNING id",
                    (now(), source_id, run_id),
                )
            ]
            gone.sort()
            for chunk in chunks(gone):
                db.execute(
                    "INSERT INTO changes (id, version, kind) SELECT id, version, 'withdrawn' FROM records"
                    f" WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                    chunk,
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
        return (unpack_payload(row[0]), row[1]) if row else None

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

    # --- re-mapping (`fedcat remap`) ------------------------------------------------------------------

    def payloads(
        self, source_id: str, after: int, limit: int, *, not_version: str | None = None
    ) -> tuple[list[StoredPayload], int]:
        """Up to `limit` live records of a source after storage position `after` (storage order reads the
        records' rows and data in sequence), with another mapping version than `not_version` if given;
        returns them and the position to go on from (the same `after` once there are no more)."""
        stale = " AND (r.mapping_version IS NULL OR r.mapping_version != ?)" if not_version else ""
        rows = self.db.execute(
            "SELECT r.rowid, r.id, r.source_record_id, d.raw, d.dataset, r.mapping_version"
            " FROM records r JOIN record_data d ON d.id = r.id"
            f" WHERE r.source_id = ? AND r.rowid > ? AND r.withdrawn_at IS NULL{stale} ORDER BY r.rowid LIMIT ?",
            (source_id, after, *((not_version,) if not_version else ()), limit),
        ).fetchall()
        found = [StoredPayload(r[1], r[2], unpack_payload(r[3]), r[4], r[5]) for r in rows]
        return found, (rows[-1][0] if rows else after)

    def has_stale_mappings(self, source_id: str, version: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM records WHERE source_id = ? AND withdrawn_at IS NULL"
                " AND (mapping_version IS NULL OR mapping_version != ?) LIMIT 1",
                (source_id, version),
            ).fetchone()
            is not None
        )

    def save_remapped(
        self, changed: list[tuple[str, Dataset, bytes]], stamped: list[str], version: str
    ) -> list[tuple[str, int]]:
        """Write re-mapped records in one transaction: (id, dataset, its JSON) whose dataset changed (a
        `remapped` feed entry each), and the ids of those that came out the same: only their mapping
        version is written. Returns (id, feed position) of the changed ones."""
        written: list[tuple[str, int]] = []
        with self.write() as db:
            if changed:
                db.executemany(
                    "UPDATE records SET uri = ?, original_uri = ?, version = version + 1, mapping_version = ?"
                    " WHERE id = ?",
                    [(d.uri, d.original_uri, version, i) for i, d, _ in changed],
                )
                db.executemany(
                    "UPDATE record_data SET dataset = ? WHERE id = ?", [(j, i) for i, _, j in changed]
                )
                versions = _versions(db, [i for i, _, _ in changed])
                written = _append_changes(db, [(i, v, "remapped") for i, v in versions])
            if stamped:
                db.executemany(
                    "UPDATE records SET mapping_version = ? WHERE id = ?", [(version, i) for i in stamped]
                )
        return written

    def current(self, ids: Iterable[str]) -> dict[str, StoredRecord]:
        """The current state of these records (the change feed's views read it), by id; ids not stored
        are left out."""
        ids = list(dict.fromkeys(ids))
        found: dict[str, StoredRecord] = {}
        for chunk in chunks(ids):
            for row in self.db.execute(
                "SELECT r.id, source_id, source_record_id, uri, first_seen, last_seen, version,"
                " withdrawn_at IS NOT NULL, dataset FROM records r JOIN record_data d ON d.id = r.id"
                f" WHERE r.id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                found[row[0]] = StoredRecord(
                    row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8]
                )
        return found

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
        if urls and self.db.execute("SELECT 1 FROM link_checks LIMIT 1").fetchone() is None:
            return found  # nothing checked yet (every first harvest): no lookup of a page's ~2,000 URLs
        for chunk in chunks(urls):
            for row in self.db.execute(
                f"SELECT * FROM link_checks WHERE url IN ({','.join('?' * len(chunk))})", chunk
            ):
                found[row["url"]] = {**dict(row), "ok": bool(row["ok"])}
        return found

    def rescore(self, *, ids: Iterable[str] = (), sources: Iterable[str] = ()) -> int:
        """A `rescored` feed entry for these live records (by id, or all of these sources'): an input of
        their derived values changed (link checks, SHACL results, publisher displays), not the records."""
        ids, sources = list(dict.fromkeys(ids)), list(dict.fromkeys(sources))
        added = 0
        with self.write() as db:
            for chunk in chunks(ids):
                added += db.execute(
                    "INSERT INTO changes (id, version, kind) SELECT id, version, 'rescored' FROM records"
                    f" WHERE withdrawn_at IS NULL AND id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                    chunk,
                ).rowcount
            if sources:
                added += db.execute(
                    "INSERT INTO changes (id, version, kind) SELECT id, version, 'rescored' FROM records"
                    f" WHERE withdrawn_at IS NULL AND source_id IN ({','.join('?' * len(sources))}) ORDER BY id",
                    sources,
                ).rowcount
        return added

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
