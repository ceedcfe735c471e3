"""The stored reuses (`store.schema.REUSES`): written page by page by a harvest run, withdrawn by the same
rule as records, linked to fedcat's records when read.

A reuse names its datasets as its source knows them (the source's dataset id, its URI). They are resolved
here, at read time, to the source's records (same source and source record id, or the record's original
URI), and through the federation clusters to every copy: a reuse of any copy belongs to the cluster. A
reuse that appears, changes or goes appends a `reused` feed entry for the records it names and their copies,
in the same transaction: their search documents (the `has_reuses` facet) and their graphs in the SPARQL store
(`dct:isReferencedBy`) follow through the change feed.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple, Protocol

from ..mappings.reuse import Reuse, reuse_from_json, reuse_to_json
from .core import MassWithdrawal, Store, chunks, now, pack_payload


class ReuseUpsert(NamedTuple):
    id: str
    source_record_id: str
    reuse: Reuse
    raw: bytes
    raw_hash: str


class ReusePage(NamedTuple):
    total: int
    items: list[dict[str, Any]]
    facets: dict[str, list[tuple[str, int]]]  # "type", "source" -> (value, count), most frequent first


# the records a set of reuses names (by the source's dataset id, or by the dataset's original URI)
_NAMED_RECORDS = """
SELECT r.id AS record, l.reuse_id AS reuse FROM reuse_datasets l
JOIN records r ON r.source_id = l.source_id AND r.source_record_id = l.dataset_id
WHERE l.reuse_id IN ({marks})
UNION
SELECT r.id, l.reuse_id FROM reuse_datasets l JOIN records r ON r.original_uri = l.dataset_uri
WHERE l.reuse_id IN ({marks})
"""
# the live reuses naming a set of records (one join with an OR: SQLite's multi-index OR reads each record
# once, a quarter faster than a UNION of the two joins)
_REUSES_OF = """
SELECT r.id, l.reuse_id FROM records r JOIN reuse_datasets l
ON (l.source_id = r.source_id AND l.dataset_id = r.source_record_id) OR l.dataset_uri = r.original_uri
JOIN reuses u ON u.id = l.reuse_id AND u.withdrawn_at IS NULL WHERE r.id IN ({marks})
"""
# which of a set of records some live reuse names (the first one found is enough)
_REUSED = """
SELECT r.id FROM records r WHERE r.id IN ({marks}) AND EXISTS (
    SELECT 1 FROM reuse_datasets l JOIN reuses u ON u.id = l.reuse_id AND u.withdrawn_at IS NULL
    WHERE (l.source_id = r.source_id AND l.dataset_id = r.source_record_id) OR l.dataset_uri = r.original_uri
)
"""
_WORD = re.compile(r"\w+", re.UNICODE)


def _rescore_named(db: sqlite3.Connection, reuse_ids: list[str]) -> None:
    """A `reused` feed entry for the live records these reuses name and every copy in their clusters (each
    copy's description lists the cluster's reuses), inside the caller's transaction."""
    for chunk in chunks(reuse_ids):
        named = f"SELECT record FROM ({_NAMED_RECORDS.format(marks=','.join('?' * len(chunk)))})"
        db.execute(
            "INSERT INTO changes (id, version, kind) SELECT id, version, 'reused' FROM records"
            f" WHERE withdrawn_at IS NULL AND (id IN ({named}) OR id IN (SELECT c.id FROM fed_members m"
            f" JOIN fed_members c ON c.cluster = m.cluster WHERE m.id IN ({named}))) ORDER BY id",
            chunk * 4,
        )


class Connected(Protocol):
    """A `Store` or a `store.catalog.CatalogReader`: something holding a connection to the store file."""

    @property
    def db(self) -> sqlite3.Connection: ...


class ReuseReads:
    """The reads of the reuses, on any connection to the store (a read-only one in an export worker)."""

    def __init__(self, store: Connected) -> None:
        self.store = store

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def listed(self, record_ids: list[str]) -> dict[str, list[Reuse]]:
        """record -> the reuses its description lists (`of_records`: its cluster's, newest first)."""
        named = self.of_records(record_ids)
        found = self.summaries(sorted({u for ids in named.values() for u in ids}))
        return {r: [found[u]["reuse"] for u in ids if u in found] for r, ids in named.items()}

    def _any(self) -> bool:
        """Is there a live reuse at all? (Most catalogues list none: their reads stop here.)"""
        return (
            self.db.execute("SELECT 1 FROM reuses WHERE withdrawn_at IS NULL LIMIT 1").fetchone() is not None
        )

    def _direct(self, record_ids: list[str]) -> dict[str, set[str]]:
        """record -> the live reuses naming it (not through its cluster)."""
        found: dict[str, set[str]] = {}
        if not self._any():
            return found
        for chunk in chunks(record_ids):
            marks = ",".join("?" * len(chunk))
            for record, reuse in self.db.execute(_REUSES_OF.format(marks=marks), chunk):
                found.setdefault(record, set()).add(reuse)
        return found

    def reused(self, record_ids: list[str]) -> set[str]:
        """The records some live reuse names (a cluster's document unites its copies')."""
        found: set[str] = set()
        if not self._any():
            return found
        for chunk in chunks(record_ids):
            found.update(
                row[0] for row in self.db.execute(_REUSED.format(marks=",".join("?" * len(chunk))), chunk)
            )
        return found

    def of_records(self, record_ids: list[str]) -> dict[str, list[str]]:
        """record -> the live reuses of it or of any copy in its federation cluster, newest first."""
        record_ids = list(dict.fromkeys(record_ids))
        if not self._any():
            return {r: [] for r in record_ids}
        cluster_of: dict[str, str] = {}
        for chunk in chunks(record_ids):
            cluster_of.update(
                self.db.execute(
                    f"SELECT id, cluster FROM fed_members WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        members: dict[str, list[str]] = {}
        clusters = sorted(set(cluster_of.values()))
        for chunk in chunks(clusters):
            for cluster, member in self.db.execute(
                f"SELECT cluster, id FROM fed_members WHERE cluster IN ({','.join('?' * len(chunk))})", chunk
            ):
                members.setdefault(cluster, []).append(member)
        copies = {r: members.get(cluster_of[r], [r]) if r in cluster_of else [r] for r in record_ids}
        direct = self._direct(sorted({m for ms in copies.values() for m in ms}))
        named = {r: set().union(*(direct.get(m, set()) for m in ms)) for r, ms in copies.items()}
        order = self._newest_first(sorted(set().union(*named.values())) if named else [])
        return {r: [u for u in order if u in named[r]] for r in record_ids}

    def _newest_first(self, ids: list[str]) -> list[str]:
        found: list[tuple[str, str]] = []
        for chunk in chunks(ids):
            found += self.db.execute(
                f"SELECT id, coalesce(modified, '') FROM reuses WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        return [i for i, _ in sorted(found, key=lambda row: (row[1], row[0]), reverse=True)]

    def summaries(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """id -> {id, source, withdrawn_at, first_seen, last_seen, reuse: Reuse}."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(ids):
            for row in self.db.execute(
                "SELECT id, source_id, source_record_id, reuse, first_seen, last_seen, withdrawn_at FROM reuses"
                f" WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                found[row[0]] = {
                    "id": row[0],
                    "source": row[1],
                    "source_record_id": row[2],
                    "reuse": reuse_from_json(row[3]),
                    "first_seen": row[4],
                    "last_seen": row[5],
                    "withdrawn_at": row[6],
                }
        return found

    def datasets_of(self, reuse_id: str) -> list[tuple[str | None, str | None, str]]:
        """(the source's dataset id, its URI, fedcat record id) of each dataset the reuse names that fedcat
        holds live, in the reuse's order."""
        rows = self.db.execute(
            "SELECT l.dataset_id, l.dataset_uri, r.id FROM reuse_datasets l JOIN records r"
            " ON (r.source_id = l.source_id AND r.source_record_id = l.dataset_id)"
            " OR r.original_uri = l.dataset_uri"
            " WHERE l.reuse_id = ? AND r.withdrawn_at IS NULL ORDER BY l.rowid",
            (reuse_id,),
        ).fetchall()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def search(
        self,
        q: str = "",
        types: Iterable[str] = (),
        sources: Iterable[str] = (),
        dataset: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> ReusePage:
        """Live reuses matching every given criterion (words: all of them, accents and case ignored),
        newest first, with their counts by type and by source."""
        where, args = ["u.withdrawn_at IS NULL"], []
        words = _WORD.findall(q or "")
        if words:
            where.append("u.id IN (SELECT id FROM reuse_text WHERE reuse_text MATCH ?)")
            args.append(" ".join(f'"{w}"' for w in words))
        if dataset is not None:
            ids = self.of_records([dataset])[dataset]
            where.append(f"u.id IN ({','.join('?' * len(ids))})" if ids else "0")
            args += ids
        facets: dict[str, list[tuple[str, int]]] = {}
        for column, name, values in (("type", "type", list(types)), ("source_id", "source", list(sources))):
            # a facet counts under the other criteria, not its own (so every choice of it stays visible)
            other = list(where)
            other_args = list(args)
            for other_column, other_values in (("type", list(types)), ("source_id", list(sources))):
                if other_column != column and other_values:
                    other.append(f"u.{other_column} IN ({','.join('?' * len(other_values))})")
                    other_args += other_values
            facets[name] = [
                (value, count)
                for value, count in self.db.execute(
                    f"SELECT u.{column}, count(*) FROM reuses u WHERE {' AND '.join(other)}"
                    f" GROUP BY u.{column} ORDER BY count(*) DESC, u.{column}",
                    other_args,
                )
            ]
            if values:
                where.append(f"u.{column} IN ({','.join('?' * len(values))})")
                args += values
        total = self.db.execute(
            f"SELECT count(*) FROM reuses u WHERE {' AND '.join(where)}", args
        ).fetchone()[0]
        ids = [
            row[0]
            for row in self.db.execute(
                f"SELECT u.id FROM reuses u WHERE {' AND '.join(where)}"
                " ORDER BY coalesce(u.modified, '') DESC, u.id LIMIT ? OFFSET ?",
                (*args, limit, offset),
            )
        ]
        found = self.summaries(ids)
        return ReusePage(int(total), [found[i] for i in ids if i in found], facets)

    def count(self, source_id: str | None = None) -> int:
        sql = "SELECT count(*) FROM reuses WHERE withdrawn_at IS NULL"
        args: tuple[str, ...] = ()
        if source_id:
            sql, args = sql + " AND source_id = ?", (source_id,)
        return int(self.db.execute(sql, args).fetchone()[0])


class Reuses(ReuseReads):
    """Reads and writes of the reuses, on the store's connection and write transaction."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.store: Store = store

    # --- the harvest's writes -----------------------------------------------------------------------

    def known(self, source_id: str, source_record_ids: list[str]) -> dict[str, tuple[str, bool]]:
        """source record id -> (raw hash, withdrawn?) for the reuses already stored."""
        found: dict[str, tuple[str, bool]] = {}
        for chunk in chunks(source_record_ids):
            for srid, raw_hash, withdrawn in self.db.execute(
                "SELECT source_record_id, raw_hash, withdrawn_at IS NOT NULL FROM reuses"
                f" WHERE source_id = ? AND source_record_id IN ({','.join('?' * len(chunk))})",
                (source_id, *chunk),
            ):
                found[srid] = (raw_hash, bool(withdrawn))
        return found

    def save(self, source_id: str, run_id: int, upserts: list[ReuseUpsert], unchanged: list[str]) -> None:
        """One page of reuses in one transaction: the new and changed ones, the unchanged ones seen."""
        stamp = now()
        ids = [u.id for u in upserts]
        with self.store.write() as db:
            if upserts:
                _rescore_named(db, ids)  # the records the reuses named before this change
                for chunk in chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM reuse_datasets WHERE reuse_id IN ({marks})", chunk)
                    db.execute(f"DELETE FROM reuse_text WHERE id IN ({marks})", chunk)
                db.executemany(
                    "INSERT INTO reuses (id, source_id, source_record_id, raw, raw_hash, reuse, type, modified,"
                    " first_seen, last_seen, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (source_id, source_record_id) DO UPDATE SET raw = excluded.raw,"
                    " raw_hash = excluded.raw_hash, reuse = excluded.reuse, type = excluded.type,"
                    " modified = excluded.modified, last_seen = excluded.last_seen,"
                    " last_run_id = excluded.last_run_id, withdrawn_at = NULL",
                    [
                        (
                            u.id,
                            source_id,
                            u.source_record_id,
                            pack_payload(u.raw),
                            u.raw_hash,
                            reuse_to_json(u.reuse),
                            u.reuse.type,
                            u.reuse.modified or u.reuse.created,
                            stamp,
                            stamp,
                            run_id,
                        )
                        for u in upserts
                    ],
                )
                db.executemany(
                    "INSERT INTO reuse_datasets (reuse_id, source_id, dataset_id, dataset_uri) VALUES (?, ?, ?, ?)",
                    [(u.id, source_id, d.id, d.uri) for u in upserts for d in u.reuse.datasets],
                )
                db.executemany(
                    "INSERT INTO reuse_text (id, title, description, tags) VALUES (?, ?, ?, ?)",
                    [
                        (u.id, u.reuse.title, u.reuse.description or "", " ".join(u.reuse.tags))
                        for u in upserts
                    ],
                )
                _rescore_named(db, ids)  # and those they name now
            if unchanged:
                db.executemany(
                    "UPDATE reuses SET last_seen = ?, last_run_id = ? WHERE source_id = ? AND source_record_id = ?",
                    [(stamp, run_id, source_id, srid) for srid in unchanged],
                )

    def withdraw_unseen(self, source_id: str, run_id: int, max_share: float, force: bool = False) -> int:
        """Tombstone the source's live reuses a complete walk of its reuses did not list (the records' rule,
        `Store.withdraw_unseen`: a mass withdrawal is refused unless forced); returns how many."""
        with self.store.write() as db:
            live = db.execute(
                "SELECT COUNT(*) FROM reuses WHERE source_id = ? AND withdrawn_at IS NULL", (source_id,)
            ).fetchone()[0]
            gone = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM reuses WHERE source_id = ? AND withdrawn_at IS NULL AND last_run_id != ?",
                    (source_id, run_id),
                )
            ]
            if gone and not force and len(gone) > max_share * live:
                raise MassWithdrawal(len(gone), live, max_share)
            for chunk in chunks(gone):
                db.execute(
                    f"UPDATE reuses SET withdrawn_at = ? WHERE id IN ({','.join('?' * len(chunk))})",
                    (now(), *chunk),
                )
            _rescore_named(db, gone)
            return len(gone)
