"""The federation view's tables: each live record's clustering facts and keys, its cluster, the evidence.

`fed_copies.version` is the record version the view last clustered (the change feed says what to
re-cluster). Everything the view decides (which records, which clusters) is `fedcat.federation`'s; this
module only reads and writes rows (the tables: `store.schema.FEDERATION`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from .core import chunks

# One federation link: (a, b, rule, confidence). The view's own types (`fedcat.federation`, a layer up)
# are read here by their attributes only: facts are stored as the bytes the view encodes.
Link = tuple[str, str, str, float]
FULL_RUN = "full-run"  # fed_state: a whole-store clustering wrote facts and has not written its clusters yet
_PAGE = 2000  # rows read or written at once by a whole-store clustering


class FederationTables:
    """Rows of the federation view, on the store's connection (`db`) and write transaction (`write`)."""

    def __init__(self, store: Any) -> None:
        self.store = store  # its tables: store/schema.py FEDERATION

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def live_records(self, ids: list[str]) -> list[dict[str, Any]]:
        """(id, source, version, first seen, dataset JSON) of the live ones among `ids`."""
        found = []
        for chunk in chunks(ids):
            found += self.db.execute(
                "SELECT r.id, r.source_id, r.version, r.first_seen, d.dataset"
                " FROM records r JOIN record_data d ON d.id = r.id"
                f" WHERE r.withdrawn_at IS NULL AND r.id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        return [dict(row) for row in found]

    def live_records_after(self, after: str, limit: int = _PAGE) -> list[dict[str, Any]]:
        """`live_records` of the next `limit` live records in id order after the id `after` ('': the first)."""
        return [
            dict(row)
            for row in self.db.execute(
                "SELECT r.id, r.source_id, r.version, r.first_seen, d.dataset"
                " FROM records r JOIN record_data d ON d.id = r.id"
                " WHERE r.withdrawn_at IS NULL AND r.id > ? ORDER BY r.id LIMIT ?",
                (after, limit),
            )
        ]

    def _column(self, sql: str, values: list[str]) -> list[Any]:
        """The first column of `sql` (its `{marks}`: the placeholders of `IN`), asked chunk by chunk."""
        found: list[Any] = []
        for chunk in chunks(values):
            found += [row[0] for row in self.db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)]
        return found

    def keys_of(self, ids: list[str]) -> list[str]:
        return self._column("SELECT key FROM fed_keys WHERE id IN ({marks})", ids)

    def holders_of(self, keys: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for chunk in chunks(keys):
            for key, record in self.db.execute(
                f"SELECT key, id FROM fed_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ):
                found.setdefault(key, []).append(record)
        return found

    def clustered_with(self, ids: list[str]) -> list[str]:
        return self._column(
            "SELECT m.id FROM fed_members m WHERE m.cluster IN"
            " (SELECT cluster FROM fed_members WHERE id IN ({marks}))",
            ids,
        )

    def copies(self, ids: list[str]) -> list[bytes]:
        """The stored facts of these records, as the view encoded them."""
        return self._column("SELECT facts FROM fed_copies WHERE id IN ({marks})", ids)

    def clustered_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM fed_copies").fetchone()[0])

    # --- the whole-store clustering: facts a page at a time, then blocks, then clusters, in bounded memory ---

    def stage_facts(self, copies: Sequence[tuple[str, str, Iterable[str], bytes, int]]) -> None:
        """One page of a whole-store clustering's new facts ((id, source, keys, facts, version)), kept in
        temporary tables of this connection until `write_staged_facts` (not a transaction of the store a
        page: each commit would rewrite most pages of the key index, a volume growing with the square of the
        catalogue)."""
        self.db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fed_staged_copies"
            " (id TEXT NOT NULL, source_id TEXT NOT NULL, version INTEGER NOT NULL, facts BLOB NOT NULL)"
        )
        self.db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fed_staged_keys (key TEXT NOT NULL, id TEXT NOT NULL)"
        )
        self.db.execute(
            "BEGIN"
        )  # of the temporary tables only (in autocommit: a transaction a row, 4x slower)
        try:
            self.db.executemany(
                "INSERT INTO temp.fed_staged_copies (id, source_id, version, facts) VALUES (?, ?, ?, ?)",
                [(record, source, version, facts) for record, source, _keys, facts, version in copies],
            )
            self.db.executemany(
                "INSERT INTO temp.fed_staged_keys (key, id) VALUES (?, ?)",
                [(key, c[0]) for c in copies for key in c[2]],
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def write_staged_facts(self) -> None:
        """In one transaction: the staged facts and keys replace those of their records (inserted in key
        order: each page of the index written once), the facts and keys of records no longer live go, and
        `FULL_RUN` is marked until `write_all_clusters` (a crash in between: the next run is whole again,
        never a closure over facts its clusters were not made from).

        The keys' index by record is dropped while the keys go in and built again after: a whole-store
        clustering replaces most of them, and inserting each row into an index in record order (random
        against the key order) costs ~2.5x building it once from sorted rows."""
        self.stage_facts([])  # the staging tables, when no live record was staged
        gone = "SELECT id FROM fed_copies EXCEPT SELECT id FROM records WHERE withdrawn_at IS NULL"
        by_id = self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'fed_keys_by_id'"
        ).fetchone()
        with self.store.write() as db:
            db.execute("INSERT OR REPLACE INTO fed_state (name, value) VALUES (?, 'pending')", (FULL_RUN,))
            for replaced in ("SELECT id FROM temp.fed_staged_copies", gone):
                db.execute(f"DELETE FROM fed_keys WHERE id IN ({replaced})")
                db.execute(f"DELETE FROM fed_copies WHERE id IN ({replaced})")
            db.execute(
                "INSERT INTO fed_copies (id, source_id, version, facts)"
                " SELECT id, source_id, version, facts FROM temp.fed_staged_copies ORDER BY id"
            )
            if by_id:
                db.execute("DROP INDEX fed_keys_by_id")
            db.execute(
                "INSERT OR IGNORE INTO fed_keys (key, id) SELECT key, id FROM temp.fed_staged_keys ORDER BY key, id"
            )
            if by_id:
                db.execute(by_id[0])  # the schema's own statement (store/schema.py)
        self.db.execute("DROP TABLE temp.fed_staged_copies")
        self.db.execute("DROP TABLE temp.fed_staged_keys")

    def number_copies(self) -> int:
        """Number the clustered records 0, 1, ... in id order (a temporary table of this connection: the
        clustering then holds ints, not ids); returns how many."""
        self.db.execute("DROP TABLE IF EXISTS temp.fed_numbers")
        self.db.execute(
            "CREATE TEMP TABLE fed_numbers (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source_id TEXT NOT NULL)"
        )
        self.db.execute(
            "INSERT INTO temp.fed_numbers (n, id, source_id)"
            " SELECT row_number() OVER (ORDER BY id) - 1, id, source_id FROM fed_copies ORDER BY id"
        )
        return int(self.db.execute("SELECT COUNT(*) FROM temp.fed_numbers").fetchone()[0])

    def key_blocks(self, max_block: int) -> Iterator[tuple[str, list[tuple[int, str]]]]:
        """Each key two to `max_block` records hold (a key of one says nothing, one of more is generic), in
        key order, with its holders (number, source) in number order: streamed, never all at once."""
        rows = self.db.execute(
            "SELECT k.key, o.n, o.source_id FROM fed_keys k JOIN temp.fed_numbers o ON o.id = k.id"
            " WHERE k.key IN (SELECT key FROM fed_keys GROUP BY key HAVING COUNT(*) BETWEEN 2 AND ?)"
            " ORDER BY k.key, k.id",
            (max_block,),
        )
        for key, group in groupby(rows, key=itemgetter(0)):
            yield key, [(n, source) for _key, n, source in group]

    def facts_by_number(self, numbers: list[int]) -> list[tuple[int, bytes]]:
        """(number, stored facts) of these numbered records."""
        found: list[tuple[int, bytes]] = []
        for chunk in chunks(numbers):
            found += self.db.execute(
                "SELECT o.n, c.facts FROM temp.fed_numbers o JOIN fed_copies c ON c.id = o.id"
                f" WHERE o.n IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        return found

    def numbers_of(self, ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(ids):
            found.update(
                self.db.execute(
                    f"SELECT id, n FROM temp.fed_numbers WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return found

    def _ids_of_numbers(self, numbers: Iterable[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in chunks(sorted(set(numbers))):
            found.update(
                self.db.execute(
                    f"SELECT n, id FROM temp.fed_numbers WHERE n IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return found

    def write_all_clusters(
        self,
        places: Iterable[tuple[int, int, int, bool]],
        links: Iterable[tuple[int, int, int, str, float]],
        state: dict[str, str] | None = None,
    ) -> int:
        """In one transaction, replacing all: every numbered record's place (number, its canonical copy's
        number, rank, alone in its cluster) taken a page at a time, and the evidence (canonical copy's number,
        a, b, rule, confidence); a `rescored` feed entry for each live record whose cluster or rank changed
        (as `save`); `FULL_RUN` done. Returns how many records' cluster or rank changed."""
        touched = 0
        rows = iter(places)
        with self.store.write() as db:
            for page in iter(lambda: list(islice(rows, _PAGE)), []):
                ids = self._ids_of_numbers([n for row in page for n in row[:2]])
                before: dict[str, tuple[str, int]] = {}
                for chunk in chunks([ids[row[0]] for row in page]):
                    marks = ",".join("?" * len(chunk))
                    for record, cluster, rank in db.execute(
                        f"SELECT id, cluster, rank FROM fed_members WHERE id IN ({marks})", chunk
                    ):
                        before[record] = (cluster, rank)
                moved = [
                    (ids[n], ids[canonical], rank, alone)
                    for n, canonical, rank, alone in page
                    if before.get(ids[n]) != (ids[canonical], rank)
                ]
                db.executemany(
                    "INSERT OR REPLACE INTO fed_members (id, cluster, rank) VALUES (?, ?, ?)",
                    [row[:3] for row in moved],
                )
                touched += len(moved)
                # a new record alone in its cluster is indexed as it is by its own `created` entry: no entry more
                self._rescored(db, [row[0] for row in moved if row[0] in before or not row[3]])
            gone = [
                row[0]
                for row in db.execute("SELECT id FROM fed_members EXCEPT SELECT id FROM temp.fed_numbers")
            ]
            for chunk in chunks(gone):
                db.execute(f"DELETE FROM fed_members WHERE id IN ({','.join('?' * len(chunk))})", chunk)
                self._rescored(db, chunk)
            touched += len(gone)
            db.execute("DELETE FROM fed_links")
            db.executemany(
                "INSERT INTO fed_links (cluster, a, b, rule, confidence) SELECT c.id, x.id, y.id, ?, ?"
                " FROM temp.fed_numbers c, temp.fed_numbers x, temp.fed_numbers y"
                " WHERE c.n = ? AND x.n = ? AND y.n = ?",
                ((rule, confidence, cluster, a, b) for cluster, a, b, rule, confidence in links),
            )
            db.executemany(
                "INSERT OR REPLACE INTO fed_state (name, value) VALUES (?, ?)", list((state or {}).items())
            )
            db.execute("DELETE FROM fed_state WHERE name = ?", (FULL_RUN,))
        self.db.execute("DROP TABLE IF EXISTS temp.fed_numbers")
        return touched

    @staticmethod
    def _rescored(db: sqlite3.Connection, ids: list[str]) -> None:
        """Their search documents (one per cluster) change: a `rescored` feed entry each, in this
        transaction (Store.rescore's, on this db)."""
        for chunk in chunks(sorted(ids)):
            db.execute(
                "INSERT INTO changes (id, version, kind) SELECT id, version, 'rescored' FROM records"
                f" WHERE withdrawn_at IS NULL AND id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                chunk,
            )

    def state(self, name: str) -> str | None:
        """A value the view remembers between refreshes (the overrides it applied)."""
        row = self.db.execute("SELECT value FROM fed_state WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def save(
        self,
        copies: Iterable[tuple[str, str, Iterable[str], bytes, int]],
        dropped: Iterable[str],
        clusters: list[Any],
        replaced: Iterable[str],
        state: dict[str, str] | None = None,
    ) -> list[str]:
        """In one transaction: the new facts of changed records ((id, source, keys, facts, version)), the
        records no longer
        live dropped, and the clusters of the `replaced` records rewritten. The records whose cluster or rank
        changed get a `rescored` feed entry (their search documents are one per cluster) and are returned."""
        copies, dropped, replaced = list(copies), list(dropped), list(replaced)
        touched: set[str] = set()
        # Only the rows that differ are written: a record's keys and its cluster mostly stay the same when it
        # changes, and each row written dirties pages of a large index that the commit then writes out.
        with self.store.write() as db:
            new_keys = {c[0]: set(c[2]) for c in copies}
            old_keys: dict[str, set[str]] = {}
            for chunk in chunks([*new_keys, *dropped]):
                marks = ",".join("?" * len(chunk))
                for key, record in db.execute(f"SELECT key, id FROM fed_keys WHERE id IN ({marks})", chunk):
                    old_keys.setdefault(record, set()).add(key)
                db.execute(f"DELETE FROM fed_copies WHERE id IN ({marks})", chunk)
            db.executemany(
                "DELETE FROM fed_keys WHERE key = ? AND id = ?",
                [(key, i) for i, keys in old_keys.items() for key in keys - new_keys.get(i, set())],
            )
            db.executemany(
                "INSERT INTO fed_copies (id, source_id, version, facts) VALUES (?, ?, ?, ?)",
                [(record, source, version, facts) for record, source, _keys, facts, version in copies],
            )
            db.executemany(
                "INSERT OR IGNORE INTO fed_keys (key, id) VALUES (?, ?)",
                [(key, i) for i, keys in new_keys.items() for key in keys - old_keys.get(i, set())],
            )
            before: dict[str, tuple[str, int]] = {}
            for chunk in chunks(replaced):
                marks = ",".join("?" * len(chunk))
                for row in db.execute(
                    f"SELECT id, cluster, rank FROM fed_members WHERE id IN ({marks})", chunk
                ):
                    before[row[0]] = (row[1], row[2])
                clusters_of_chunk = {c for c, _ in (before[i] for i in chunk if i in before)}
                for old in chunks(sorted(clusters_of_chunk)):
                    db.execute(f"DELETE FROM fed_links WHERE cluster IN ({','.join('?' * len(old))})", old)
            rows = [(m, c.id, rank) for c in clusters for rank, m in enumerate(c.members)]
            after = {m: (cluster, rank) for m, cluster, rank in rows}
            # a replaced record in no cluster now (dropped) loses its row; one whose place changed gets its new one
            db.executemany("DELETE FROM fed_members WHERE id = ?", [(i,) for i in before if i not in after])
            db.executemany(
                "INSERT OR REPLACE INTO fed_members (id, cluster, rank) VALUES (?, ?, ?)",
                [row for row in rows if before.get(row[0]) != (row[1], row[2])],
            )
            db.executemany(
                "INSERT INTO fed_links (cluster, a, b, rule, confidence) VALUES (?, ?, ?, ?, ?)",
                [(c.id, link.a, link.b, link.rule, link.confidence) for c in clusters for link in c.links],
            )
            db.executemany(
                "INSERT OR REPLACE INTO fed_state (name, value) VALUES (?, ?)", list((state or {}).items())
            )
            touched = {i for i in set(before) | set(after) if before.get(i) != after.get(i)}
            # a new record alone in its cluster is indexed as it is by its own `created` entry: no entry more
            alone = {c.members[0] for c in clusters if len(c.members) == 1}
            self._rescored(db, [i for i in touched if i in before or i not in alone])
        return sorted(touched)

    def canonical_id_page(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """One live id per cluster (its canonical copy's; a record not clustered yet: its own), in id order,
        `limit` of them (None: all) after the first `offset`: the datasets search lists (package_list)."""
        rows = self.db.execute(
            "SELECT r.id FROM records r WHERE r.withdrawn_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM fed_members m WHERE m.id = r.id AND m.cluster != r.id) ORDER BY r.id LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        )
        return [row[0] for row in rows]

    def other_copies_of(self, ids: list[str]) -> dict[str, list[tuple[str, str, str]]]:
        """The other live copies in each record's cluster: record -> [(id, source id, fedcat dataset IRI)],
        canonical first; one query per chunk of records (a page of search hits: one)."""
        found: dict[str, list[tuple[str, str, str]]] = {record_id: [] for record_id in ids}
        for chunk in chunks(ids):
            for mine, *copy in self.db.execute(
                "SELECT mine.id, r.id, r.source_id, r.uri FROM fed_members mine"
                " JOIN fed_members m ON m.cluster = mine.cluster AND m.id != mine.id"
                " JOIN records r ON r.id = m.id"
                f" WHERE mine.id IN ({','.join('?' * len(chunk))}) AND r.withdrawn_at IS NULL"
                " ORDER BY mine.id, m.rank",
                chunk,
            ):
                found[mine].append(tuple(copy))  # type: ignore[arg-type]
        return found

    def clusters_of(self, ids: list[str]) -> dict[str, str]:
        """record -> its cluster id, for the clustered ones among `ids`."""
        found: dict[str, str] = {}
        for chunk in chunks(ids):
            found.update(
                self.db.execute(
                    f"SELECT id, cluster FROM fed_members WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
        return found

    def cluster_of(self, record_id: str) -> tuple[str, list[dict[str, Any]], list[Link]] | None:
        """(cluster id, its members canonical first, its evidence), or None for a record not clustered."""
        row = self.db.execute("SELECT cluster FROM fed_members WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            return None
        return row[0], self.members([row[0]])[row[0]], self.links([row[0]])[row[0]]

    def members(self, clusters: list[str]) -> dict[str, list[dict[str, Any]]]:
        """cluster -> its copies (id, source, original IRI, last seen), canonical first."""
        found: dict[str, list[dict[str, Any]]] = {c: [] for c in clusters}
        for chunk in chunks(clusters):
            for row in self.db.execute(
                "SELECT m.cluster, r.id, r.source_id, r.original_uri, r.last_seen FROM fed_members m"
                f" JOIN records r ON r.id = m.id WHERE m.cluster IN ({','.join('?' * len(chunk))})"
                " ORDER BY m.cluster, m.rank",
                chunk,
            ):
                found[row[0]].append({"source": row[2], "id": row[1], "uri": row[3], "last_seen": row[4]})
        return found

    def links(self, clusters: list[str]) -> dict[str, list[Link]]:
        found: dict[str, list[Link]] = {c: [] for c in clusters}
        for chunk in chunks(clusters):
            for row in self.db.execute(
                "SELECT cluster, a, b, rule, confidence FROM fed_links"
                f" WHERE cluster IN ({','.join('?' * len(chunk))}) ORDER BY cluster, confidence DESC, a, b",
                chunk,
            ):
                found[row[0]].append((row[1], row[2], row[3], row[4]))
        return found

    def duplicate_clusters(self, source: str | None = None, limit: int = 100, offset: int = 0) -> list[str]:
        """Clusters of more than one copy (one of them from `source`, when given), largest first."""
        args: list[int | str] = [limit, offset]
        within = ""
        if source is not None:
            within = (
                " WHERE cluster IN (SELECT m.cluster FROM fed_members m JOIN records r ON r.id = m.id"
                " WHERE r.source_id = ?)"
            )
            args = [source, *args]
        return [
            row[0]
            for row in self.db.execute(
                f"SELECT cluster FROM fed_members{within} GROUP BY cluster HAVING COUNT(*) > 1"
                " ORDER BY COUNT(*) DESC, cluster LIMIT ? OFFSET ?",
                args,
            )
        ]

    def review(self, source: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Clusters of several copies with their copies and evidence, for an administrator to review."""
        ids = self.duplicate_clusters(source, limit, offset)
        members, links = self.members(ids), self.links(ids)
        return [
            {
                "id": c,
                "sources": members[c],
                "evidence": [
                    {"a": a, "b": b, "rule": rule, "confidence": confidence}
                    for a, b, rule, confidence in links[c]
                ],
            }
            for c in ids
        ]

    def source_pairs(self) -> list[dict[str, Any]]:
        """For each pair of sources: how many clusters hold a copy from both, and each one's live records."""
        rows = self.db.execute(
            "WITH s AS (SELECT DISTINCT m.cluster, r.source_id FROM fed_members m JOIN records r ON r.id = m.id)"
            " SELECT a.source_id, b.source_id, COUNT(*) FROM s a JOIN s b"
            " ON a.cluster = b.cluster AND a.source_id < b.source_id GROUP BY a.source_id, b.source_id"
            " ORDER BY COUNT(*) DESC"
        ).fetchall()
        sizes = dict(
            self.db.execute(
                "SELECT source_id, COUNT(*) FROM records WHERE withdrawn_at IS NULL GROUP BY source_id"
            ).fetchall()
        )
        return [
            {"a": a, "b": b, "shared": n, "a_records": sizes.get(a, 0), "b_records": sizes.get(b, 0)}
            for a, b, n in rows
        ]
