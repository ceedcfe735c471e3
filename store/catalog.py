"""The catalogue's reads of the store: live records as `RecordRow`s, by id, by id range, by storage order.

Used by the linked-data pages (through the server's `Store`), and by the export and SHACL validation
through a `CatalogReader` (a read-only connection of its own, safe in a worker process or beside a harvest).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from ..gc_pause import gc_paused
from ..mappings.catalog_rdf import Origin, RecordRow
from ..mappings.model import Text, dataset_from_json
from ..mappings.reuse import Reuse
from .core import chunks
from .reuses import Connected, ReuseReads

# the columns and joins of a RecordRow: with the canonical copy of the record's federation cluster when
# that is another live record (rank > 0)
_ROW_COLUMNS = (
    "r.id, r.source_id, r.source_record_id, r.first_seen, r.last_seen, d.dataset,"
    " c.id, c.uri, c.original_uri, cd.dataset"
    " FROM records r JOIN record_data d ON d.id = r.id"
    " LEFT JOIN fed_members m ON m.id = r.id AND m.rank > 0"
    " LEFT JOIN records c ON c.id = m.cluster AND c.withdrawn_at IS NULL"
    " LEFT JOIN record_data cd ON cd.id = c.id"
)
_ROW_SQL = f"SELECT {_ROW_COLUMNS}"


class CatalogReader:
    """A read-only connection to a store file (a path with spaces, "?" or "#" included)."""

    def __init__(self, path: str | Path) -> None:
        self.db = sqlite3.connect(
            Path(path).resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False
        )

    def close(self) -> None:
        self.db.close()

    def max_rowid(self) -> int:
        """The highest storage position of a record (the export's ranges go up to it)."""
        return int(self.db.execute("SELECT MAX(rowid) FROM records").fetchone()[0] or 0)

    def fetch_range(self, low: int, high: int) -> Fetched:
        """The live records with rowid in (low, high], undecoded (SQLite releases the GIL while it reads;
        `decode_rows` makes them RecordRows), with the reuses they list."""
        found = self.db.execute(
            f"{_ROW_SQL} WHERE r.rowid > ? AND r.rowid <= ? AND r.withdrawn_at IS NULL ORDER BY r.rowid",
            (low, high),
        ).fetchall()
        return Fetched(found, ReuseReads(self).listed([r[0] for r in found]))

    def data_version(self) -> int:
        """Changes whenever another connection has committed a write (SQLite's data_version)."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def live_ids(self) -> Iterator[str]:
        """Every live record's id, in id order (the withdrawn ones are few: skipped from a set)."""
        withdrawn = {r[0] for r in self.db.execute("SELECT id FROM records WHERE withdrawn_at IS NOT NULL")}
        for (record_id,) in self.db.execute("SELECT id FROM records ORDER BY id"):
            if record_id not in withdrawn:
                yield record_id


class _OriginFacts(msgspec.Struct):
    """What a copy's description says of its canonical copy (`Origin`), decoded without the rest."""

    identifier: list[str] = []
    title: list[Text] = []
    description: list[Text] = []
    service: dict[str, Any] | None = None  # a stand-alone data service's own properties


_origin_facts = msgspec.json.Decoder(_OriginFacts).decode


def _origin(row: Any) -> Origin | None:
    canonical, uri, original_uri, data = row[6:10]
    if canonical is None or data is None:
        return None
    facts = _origin_facts(data)
    return Origin(
        canonical,
        uri,
        original_uri,
        facts.identifier,
        facts.title,
        facts.description,
        is_service=facts.service is not None,
    )


class Fetched(NamedTuple):
    rows: list[Any]  # undecoded rows of _ROW_SQL
    reuses: dict[str, list[Reuse]]  # record id -> the reuses its description lists


def decode_rows(found: Iterable[Any], reuses: Mapping[str, list[Reuse]] | None = None) -> list[RecordRow]:
    listed = reuses or {}
    return [
        RecordRow(r[0], r[1], r[2], r[3], r[4], dataset_from_json(r[5]), _origin(r), listed.get(r[0], []))
        for r in found
    ]


def _with_reuses(store: Connected, found: list[Any]) -> list[RecordRow]:
    return decode_rows(found, ReuseReads(store).listed([r[0] for r in found]))


def record_rows(store: Connected, ids: list[str]) -> list[RecordRow]:
    """The live records among `ids`, in that order, with their reuses."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    found = store.db.execute(f"{_ROW_SQL} WHERE r.id IN ({marks}) AND r.withdrawn_at IS NULL", ids).fetchall()
    rows = {r.id: r for r in _with_reuses(store, found)}
    return [rows[i] for i in ids if i in rows]


def rows_from(store: Connected, start: str, limit: int, *, inclusive: bool = False) -> list[RecordRow]:
    """Live records in id order from `start` (keyset paging: an index range, however deep), with their
    reuses."""
    op = ">=" if inclusive else ">"
    found = store.db.execute(
        f"{_ROW_SQL} WHERE r.id {op} ? AND r.withdrawn_at IS NULL ORDER BY r.id LIMIT ?", (start, limit)
    ).fetchall()
    return _with_reuses(store, found)


def live_id_at(store: Connected, anchor: str, skip: int) -> str | None:
    """The id of the live record `skip` places after `anchor` in id order (None past the end)."""
    row = store.db.execute(
        "SELECT id FROM records WHERE id >= ? AND withdrawn_at IS NULL ORDER BY id LIMIT 1 OFFSET ?",
        (anchor, skip),
    ).fetchone()
    return row[0] if row else None


def iter_rows(store: Connected, batch: int) -> Iterator[list[RecordRow]]:
    """Every live record, a batch at a time (constant memory), in storage order: a record's row and its
    data were written together, so walking `records` by rowid reads both files' pages in sequence (2.5x
    faster than id order, whose digests scatter the reads)."""
    last = 0
    while True:
        with gc_paused():  # decoding a batch makes ~100,000 containers; see gc_paused
            found = store.db.execute(
                f"SELECT r.rowid, {_ROW_COLUMNS}"
                " WHERE r.rowid > ? AND r.withdrawn_at IS NULL ORDER BY r.rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not found:
                return
            last = found[-1][0]
            rows = decode_rows(r[1:] for r in found)
        yield rows


def duplicates_of(
    store: Connected, records: list[tuple[str, str | None]]
) -> dict[str, list[tuple[str, str, str]]]:
    """Other live records of the same source IRI, for each (id, source IRI): id -> [(id, source id,
    dataset IRI)]; one query per chunk of IRIs (a page of search hits: one)."""
    found: dict[str, list[tuple[str, str, str]]] = {fedcat_id: [] for fedcat_id, _uri in records}
    uris = list({uri for _id, uri in records if uri})
    if not uris:
        return found
    holders: dict[str, list[tuple[str, str, str]]] = {}
    for chunk in chunks(uris):
        for fedcat_id, source_id, uri, original_uri in store.db.execute(
            "SELECT id, source_id, uri, original_uri FROM records"
            f" WHERE original_uri IN ({','.join('?' * len(chunk))}) AND withdrawn_at IS NULL ORDER BY id",
            chunk,
        ):
            holders.setdefault(original_uri, []).append((fedcat_id, source_id, uri))
    for fedcat_id, uri in records:
        found[fedcat_id] = [r for r in holders.get(uri or "", []) if r[0] != fedcat_id]
    return found
