"""The federation view's tables: each live record's clustering facts and keys, its cluster, the evidence.

`fed_copies.version` is the record version the view last clustered (the change feed says what to
re-cluster). Everything the view decides (which records, which clusters) is `fedcat.federation`'s; this
module only reads and writes rows (the tables: `store.schema.FEDERATION`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .core import chunks

# One federation link: (a, b, rule, confidence). The view's own types (`fedcat.federation`, a layer up)
# are read here by their attributes only: facts are stored as the bytes the view encodes.
Link = tuple[str, str, str, float]


class FederationTables:
    """Rows of the federation view, on the store's connection (`db`) and write transaction (`write`)."""

    def __init__(self, store: Any) -> None:
        self.store = store  # its tables: store/schema.py FEDERATION

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def live_records(self, ids: list[str]) -> list[dict[str, Any]]:
        """(id, source, version, first seen, dataset JSON, quality total) of the live ones among `ids`."""
        found = []
        for chunk in chunks(ids):
            found += self.db.execute(
                "SELECT r.id, r.source_id, r.version, r.first_seen, d.dataset, q.total"
                " FROM records r JOIN record_data d ON d.id = r.id LEFT JOIN quality q ON q.id = r.id"
                f" WHERE r.withdrawn_at IS NULL AND r.id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        return [dict(row) for row in found]

    def all_live_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM records WHERE withdrawn_at IS NULL")]

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
        with self.store.write() as db:
            for chunk in chunks([c[0] for c in copies] + dropped):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM fed_keys WHERE id IN ({marks})", chunk)
                db.execute(f"DELETE FROM fed_copies WHERE id IN ({marks})", chunk)
            db.executemany(
                "INSERT INTO fed_copies (id, source_id, version, facts) VALUES (?, ?, ?, ?)",
                [(record, source, version, facts) for record, source, _keys, facts, version in copies],
            )
            db.executemany(
                "INSERT OR IGNORE INTO fed_keys (key, id) VALUES (?, ?)",
                [(key, c[0]) for c in copies for key in c[2]],
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
                db.execute(f"DELETE FROM fed_members WHERE id IN ({marks})", chunk)
            rows = [(m, c.id, rank) for c in clusters for rank, m in enumerate(c.members)]
            db.executemany("INSERT INTO fed_members (id, cluster, rank) VALUES (?, ?, ?)", rows)
            db.executemany(
                "INSERT INTO fed_links (cluster, a, b, rule, confidence) VALUES (?, ?, ?, ?, ?)",
                [(c.id, link.a, link.b, link.rule, link.confidence) for c in clusters for link in c.links],
            )
            db.executemany(
                "INSERT OR REPLACE INTO fed_state (name, value) VALUES (?, ?)", list((state or {}).items())
            )
            after = {m: (cluster, rank) for m, cluster, rank in rows}
            touched = {i for i in set(before) | set(after) if before.get(i) != after.get(i)}
            # a new record alone in its cluster is indexed as it is by its own `created` entry: no entry more
            alone = {c.members[0] for c in clusters if len(c.members) == 1}
            entries = sorted(i for i in touched if i in before or i not in alone)
            for chunk in chunks(entries):  # their search documents (one per cluster) change:
                db.execute(  # a `rescored` feed entry, in this transaction (Store.rescore's, on this db)
                    "INSERT INTO changes (id, version, kind) SELECT id, version, 'rescored' FROM records"
                    f" WHERE withdrawn_at IS NULL AND id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                    chunk,
                )
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
