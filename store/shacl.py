"""`fedcat validate`'s stored results: whether each record's document conformed to the DCAT-AP shapes.

A result holds until the record changes: the "shacl" view of the change feed forgets the results of the
records changed since (`ShaclResults`), caught up before results are read or written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from . import feed
from .core import Store, chunks, now
from .feed import Change


class ShaclResult(NamedTuple):
    id: str
    profile: str
    conforms: bool
    source_violations: int
    fedcat_violations: int


class ShaclResults:
    """The view: a changed record's result is forgotten (a `rescored` entry changes nothing it checked)."""

    name = "shacl"

    def __init__(self, store: Store) -> None:
        self.store = store

    def apply(self, changes: list[Change]) -> None:
        ids = [c.id for c in changes if c.kind not in feed.DERIVED]
        with self.store.write() as db:
            db.executemany("DELETE FROM shacl_results WHERE id = ?", [(i,) for i in ids])


def save(store: Store, results: list[ShaclResult], as_of: int) -> int:
    """Store results of records read when the feed's head was `as_of`; returns how many.

    The view is caught up to `as_of` first, so that a record changed after it was read (a later entry)
    loses the result when the view next catches up. The records' scores are re-derived (`rescored`).
    """
    feed.catch_up(store, ShaclResults(store), until=as_of)
    stamp = now()
    with store.write() as db:
        db.executemany(
            "INSERT OR REPLACE INTO shacl_results (id, profile, conforms, source_violations,"
            " fedcat_violations, validated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.id, r.profile, int(r.conforms), r.source_violations, r.fedcat_violations, stamp)
                for r in results
            ],
        )
    feed.catch_up(store, ShaclResults(store))
    store.rescore(ids=[r.id for r in results])
    return len(results)


def conformance(store: Store, ids: Iterable[str]) -> dict[str, bool]:
    """id -> whether its last validation found no violation, for records not changed since."""
    if store.db.execute("SELECT 1 FROM shacl_results LIMIT 1").fetchone() is None:
        return {}  # nothing validated (the usual case): no need to bring the view up to date
    feed.catch_up(store, ShaclResults(store))
    ids = list(ids)
    found: dict[str, bool] = {}
    for chunk in chunks(ids):
        for fedcat_id, conforms in store.db.execute(
            f"SELECT id, conforms FROM shacl_results WHERE id IN ({','.join('?' * len(chunk))})", chunk
        ):
            found[fedcat_id] = bool(conforms)
    return found
