"""The SQLite FTS5 search backend: the baseline the benchmark compares against, and a fallback.

It matches exactly the documents the embedded backend matches: text is analysed in Python by the same
analyzers (`embedded.analyze_field`: fold, then French and English stems, one FTS5 column per field and
language) and queries go through the same `query_words`. FTS5's own `unicode61 remove_diacritics 2`
tokenizer then only splits the pre-analysed terms on spaces. Facets live in a (doc, facet, value) table
counted with GROUP BY over the hits; sort keys and date days are the embedded backend's.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from .backend import (
    FACET_SIZE,
    FACETS,
    FacetValue,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
    longitude_spans,
)
from .embedded import (
    BOOSTS,
    LANGUAGES,
    TEXT_FIELDS,
    analyze_field,
    check_query,
    date_key,
    day_bounds,
    facet_values,
    query_words,
    sort_keys,
    top_facet_values,
)

_COLUMNS = [f"{field}_{lang}" for field in TEXT_FIELDS for lang in LANGUAGES]
_COLUMN_LIST = ", ".join(_COLUMNS)
# FTS5's bm25 normalises by the whole row's length, not the field's, so a title match in a document with a
# long description needs a steeper title weight than tantivy's per-field BM25 to stay on top.
_WEIGHTS = ", ".join(str(BOOSTS[field] ** 1.7) for field in TEXT_FIELDS for _lang in LANGUAGES)
_PLAIN = re.compile(r"[a-z0-9]+")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    modified_day INTEGER,
    sort_new TEXT NOT NULL,
    sort_old TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_new ON docs (sort_new);
CREATE INDEX IF NOT EXISTS docs_old ON docs (sort_old);
CREATE TABLE IF NOT EXISTS facets (doc INTEGER NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS facets_by_value ON facets (facet, value, doc);
CREATE INDEX IF NOT EXISTS facets_by_doc ON facets (doc, facet, value);
-- spatial coverage: one row per longitude span (two for a box across the antimeridian)
CREATE TABLE IF NOT EXISTS boxes (doc INTEGER NOT NULL, west REAL, south REAL, east REAL, north REAL);
CREATE INDEX IF NOT EXISTS boxes_by_doc ON boxes (doc);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    {", ".join(_COLUMNS)},
    content='',
    tokenize="unicode61 remove_diacritics 2 tokenchars '_'"
);
CREATE TABLE IF NOT EXISTS fts_terms (rowid INTEGER PRIMARY KEY, {", ".join(f"{c} TEXT" for c in _COLUMNS)});
"""


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _term(token: str) -> str:
    """An analysed token as one FTS5 token: non-ASCII ones (CJK, Greek…) are hex-coded behind "_", which
    no analysed token contains, so FTS5's own tokenizer cannot split or alter them."""
    return token if _PLAIN.fullmatch(token) else "_" + token.encode().hex()


def _terms(text: str, lang: str) -> str:
    return " ".join(_term(t) for t in analyze_field(text, lang))


class SqliteFtsBackend(SearchBackend):
    """An FTS5 index in one SQLite file (WAL: readers in other processes see committed data)."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.commit()
        # Searches use their own connection: like tantivy's readers, they see committed data only.
        self._read = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()

    def upsert(self, documents: Iterable[SearchDocument]) -> None:
        with self._lock:
            cur = self._db.cursor()
            for doc in documents:
                self._remove(cur, doc.id)
                key = date_key(doc.modified)
                cur.execute(
                    "INSERT INTO docs (id, modified_day, sort_new, sort_old) VALUES (?, ?, ?, ?)",
                    (doc.id, None if key is None else key // 1_000_000, *sort_keys(doc.id, doc.modified)),
                )
                rowid = cur.lastrowid
                terms = [_terms(getattr(doc, field), lang) for field in TEXT_FIELDS for lang in LANGUAGES]
                placeholders = ", ".join("?" * (len(_COLUMNS) + 1))
                # Contentless FTS5 needs the indexed terms to delete a row: keep them beside it.
                cur.execute(
                    f"INSERT INTO fts (rowid, {_COLUMN_LIST}) VALUES ({placeholders})", (rowid, *terms)
                )
                cur.execute(f"INSERT INTO fts_terms VALUES ({placeholders})", (rowid, *terms))
                cur.executemany(
                    "INSERT INTO facets (doc, facet, value) VALUES (?, ?, ?)",
                    [(rowid, facet, value) for facet in FACETS for value in facet_values(doc, facet)],
                )
                if len(doc.bbox) == 4:
                    west, south, east, north = doc.bbox
                    cur.executemany(
                        "INSERT INTO boxes (doc, west, south, east, north) VALUES (?, ?, ?, ?, ?)",
                        [(rowid, w, south, e, north) for w, e in longitude_spans(west, east)],
                    )

    @staticmethod
    def _remove(cur: sqlite3.Cursor, doc_id: str) -> None:
        row = cur.execute("DELETE FROM docs WHERE id = ? RETURNING rowid", (doc_id,)).fetchone()
        if row is None:
            return
        terms = cur.execute("DELETE FROM fts_terms WHERE rowid = ? RETURNING *", (row[0],)).fetchone()
        if terms is not None:
            cur.execute(
                f"INSERT INTO fts (fts, rowid, {_COLUMN_LIST}) VALUES ('delete', {_marks(len(terms))})",
                terms,
            )
        cur.execute("DELETE FROM facets WHERE doc = ?", (row[0],))
        cur.execute("DELETE FROM boxes WHERE doc = ?", (row[0],))

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock:
            cur = self._db.cursor()
            for doc_id in ids:
                self._remove(cur, doc_id)

    def commit(self) -> None:
        with self._lock:
            self._db.commit()

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM docs")
            self._db.execute("DELETE FROM facets")
            self._db.execute("DELETE FROM boxes")
            self._db.execute("DELETE FROM fts_terms")
            self._db.execute("INSERT INTO fts (fts) VALUES ('delete-all')")

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._db.rollback()
            self._db.close()
            self._read.close()

    def ids(self) -> set[str]:
        with self._read_lock:
            return {row[0] for row in self._read.execute("SELECT id FROM docs")}

    def search(self, query: SearchQuery) -> SearchResult:
        check_query(query)
        words = query_words(query.q)
        where: list[str] = []
        params: list[str | int | float] = []
        if words:
            fr_cols = " ".join(f"{field}_fr" for field in TEXT_FIELDS)
            en_cols = " ".join(f"{field}_en" for field in TEXT_FIELDS)
            match = " AND ".join(
                f'({{{fr_cols}}} : "{_term(fr)}" OR {{{en_cols}}} : "{_term(en)}")' for fr, en in words
            )
            source = f"SELECT rowid, bm25(fts, {_WEIGHTS}) AS score FROM fts WHERE fts MATCH ?"
            params.append(match)
        else:
            source = "SELECT rowid, 0.0 AS score FROM docs"
        for facet, values in query.filters.items():
            if values:
                # Checked per hit through (doc, facet, value): no set of every CSV document built first.
                where.append(
                    "EXISTS (SELECT 1 FROM facets f WHERE f.doc = d.rowid AND f.facet = ? "
                    f"AND f.value IN ({_marks(len(values))}))"
                )
                params += [facet, *values]
        if query.bbox is not None:
            west, south, east, north = query.bbox
            spans = longitude_spans(west, east)
            where.append(
                "EXISTS (SELECT 1 FROM boxes b WHERE b.doc = d.rowid AND b.south <= ? AND b.north >= ? AND ("
                + " OR ".join("(b.west <= ? AND b.east >= ?)" for _ in spans)
                + "))"
            )
            params += [north, south, *(v for q_west, q_east in spans for v in (q_east, q_west))]
        low, high = day_bounds(query)
        if low is not None:
            where.append("d.modified_day >= ?")
            params.append(low)
        if high is not None:
            where.append("d.modified_day <= ?")
            params.append(high)
        sort = query.sort if (query.sort != "relevance" or words) else "modified"
        order = {"relevance": "h.score, d.id", "modified": "d.sort_new", "-modified": "d.sort_old"}[sort]
        offset = (query.page - 1) * query.page_size
        with self._read_lock:
            db = self._read
            db.execute("BEGIN")  # one snapshot for total, page and facets
            try:
                # Materialise the hits once: the MATCH runs a single time for total, page and facets.
                db.execute(
                    "CREATE TEMP TABLE hits AS SELECT h.rowid AS rowid, h.score AS score "
                    f"FROM ({source}) h JOIN docs d ON d.rowid = h.rowid "
                    f"{'WHERE ' + ' AND '.join(where) if where else ''}",
                    params,
                )
                total = db.execute("SELECT count(*) FROM temp.hits").fetchone()[0]
                page = db.execute(
                    f"SELECT d.id FROM temp.hits h JOIN docs d ON d.rowid = h.rowid ORDER BY {order} "
                    "LIMIT ? OFFSET ?",
                    (query.page_size, offset),
                )
                ids = [row[0] for row in page]
                facets = self._facets(db, query.facets, query.facet_size)
            finally:
                db.execute("ROLLBACK")  # also drops the temp table created in this transaction
        return SearchResult(total=total, ids=ids, facets=facets)

    @staticmethod
    def _facets(
        db: sqlite3.Connection, facets: Iterable[str], size: int = FACET_SIZE
    ) -> dict[str, list[FacetValue]]:
        names = list(dict.fromkeys(facets))
        if not names:
            return {}
        counts: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
        rows = db.execute(
            "SELECT facet, value, n FROM (SELECT f.facet, f.value, count(*) AS n, "
            "row_number() OVER (PARTITION BY f.facet ORDER BY count(*) DESC, f.value) AS r "
            # CROSS JOIN keeps this order: from each hit to its values, never a scan of the whole table.
            "FROM temp.hits h CROSS JOIN facets f ON f.doc = h.rowid "
            f"WHERE f.facet IN ({', '.join('?' * len(names))}) GROUP BY f.facet, f.value) WHERE r <= ?",
            (*names, size),
        )
        for facet, value, n in rows:
            counts[facet].append((value, n))
        return {name: top_facet_values(counts[name], size) for name in names}
