"""`fedcat validate`'s stored results: whether each record's document conformed to the DCAT-AP shapes, at
the record version it validated (a later change makes the result stale, and the score ignores it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .core import Store, now


class ShaclResult(NamedTuple):
    id: str
    profile: str
    conforms: bool
    source_violations: int
    fedcat_violations: int


def save(store: Store, results: list[ShaclResult]) -> int:
    """Store each result at the record's current version; returns how many."""
    stamp = now()
    ids = [r.id for r in results]
    with store.write() as db:
        versions = (
            dict(db.execute(f"SELECT id, version FROM records WHERE id IN ({','.join('?' * len(ids))})", ids))
            if ids
            else {}
        )
        db.executemany(
            "INSERT OR REPLACE INTO shacl_results (id, version, profile, conforms, source_violations,"
            " fedcat_violations, validated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (r.id, versions.get(r.id, 0), r.profile, int(r.conforms), r.source_violations,
                 r.fedcat_violations, stamp)
                for r in results
            ],
        )  # fmt: skip
        # their quality score has a DCAT-AP compliance indicator: the next index sync re-scores them
        db.executemany("UPDATE records SET indexed_version = 0 WHERE id = ?", [(i,) for i in ids])
    return len(results)


def conformance(store: Store, ids: Iterable[str]) -> dict[str, bool]:
    """id -> whether its last validation found no violation, for records not changed since (by version)."""
    ids = list(ids)
    found: dict[str, bool] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for fedcat_id, conforms in store.db.execute(
            f"SELECT s.id, s.conforms FROM shacl_results s JOIN records r ON r.id = s.id AND r.version = s.version"
            f" WHERE s.id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            found[fedcat_id] = bool(conforms)
    return found
