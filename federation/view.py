"""The federation view: keeps the store's clusters in step with its records.

`refresh` re-clusters what changed since it last ran (records whose version differs from the one it
clustered, and withdrawn ones): the changed records' facts, then `closure()` over the stored keys and
clusters, then `cluster()` of that closed set, written in one transaction. When most of the store changed
(the first run), everything is clustered at once instead. It returns the records whose cluster or rank
changed: the indexer rebuilds their search documents (one per cluster).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..mappings.model import dataset_from_json
from ..store.federation import FederationTables
from .areas import Areas
from .cluster import closure, cluster
from .keys import Copy, copy_of, publisher_of
from .rules import Overrides, Rules, default_rules, load_overrides

_BATCH = 2000
FULL_SHARE = 0.3  # above this share of the store changed, clustering all of it is cheaper than closures


def facts(
    rows: Iterable[dict], jurisdictions: dict[str, str | None], areas: Areas | None = None
) -> list[tuple[Copy, int]]:
    """The clustering facts of stored records. With the registry's areas, the publisher is its matched
    body (one key for every spelling of it) and a copy from the source whose jurisdiction is that body is
    the publisher's own (the canonical copy's first rule)."""
    found = []
    for row in rows:
        dataset = dataset_from_json(row["dataset"])
        source_area = jurisdictions.get(row["source_id"])
        body = areas.body(dataset, source_area) if areas else None
        found.append(
            (
                copy_of(
                    row["id"],
                    row["source_id"],
                    dataset,
                    publisher=body or publisher_of(dataset),
                    quality=float(row["total"] or 0.0),
                    first_seen=row["first_seen"],
                    own=body is not None and body == source_area,
                ),
                row["version"],
            )
        )
    return found


def refresh(
    store,
    rules: Rules | None = None,
    overrides: Overrides | Path | None = None,
    areas: Areas | None = None,
) -> list[str]:
    """Re-cluster what changed; returns the records whose cluster or rank changed."""
    rules = rules or default_rules()
    if not isinstance(overrides, Overrides):
        overrides = load_overrides(overrides)
    tables = FederationTables(store)
    changed = tables.changed()
    # an edited overrides file re-clusters the records it named before and names now
    applied = json.dumps([overrides.merges, overrides.splits])
    previous = tables.state("overrides")
    if previous is not None and previous != applied:
        named = {i for groups in json.loads(previous) for group in groups for i in group}
        named |= {i for group in (*overrides.merges, *overrides.splits) for i in group}
        changed = sorted(set(changed) | (named & set(tables.clusters_of(sorted(named)))))
    if not changed and previous == applied:
        return []
    jurisdictions = {s["id"]: s["jurisdiction"] for s in store.sources()}
    new: dict[str, tuple[Copy, int]] = {}
    for start in range(0, len(changed), _BATCH):  # datasets decoded a batch at a time: only facts are kept
        batch = tables.live_records(changed[start : start + _BATCH])
        new.update((c.id, (c, v)) for c, v in facts(batch, jurisdictions, areas))
    dropped = [i for i in changed if i not in new]
    clustered = store.db.execute("SELECT COUNT(*) FROM fed_copies").fetchone()[0]
    if len(changed) > FULL_SHARE * max(clustered, 1):
        ids = set(tables.all_live_ids()) | set(dropped) | set(tables.clustered_with(dropped))
        generic: set[str] = set()
    else:
        new_holders: dict[str, set[str]] = {}
        for copy, _ in new.values():
            for key in copy.keys:
                new_holders.setdefault(key, set()).add(copy.id)
        changed_set = set(changed)

        def keys_of(batch: list[str]) -> list[str]:
            return tables.keys_of(batch) + [k for i in batch if i in new for k in new[i][0].keys]

        def holders_of(keys: list[str]) -> dict[str, list[str]]:
            old = tables.holders_of(keys)
            return {
                k: sorted({i for i in old.get(k, ()) if i not in changed_set} | new_holders.get(k, set()))
                for k in keys
            }

        ids, generic = closure(
            changed, keys_of, holders_of, tables.clustered_with, overrides, rules.max_block
        )
    kept = [i for i in ids if i not in new and i not in dropped]
    copies = [c for c, _ in new.values()] + tables.copies(kept)
    clusters = cluster(copies, rules, overrides, generic)
    return tables.save(new.values(), dropped, clusters, ids, {"overrides": applied})
