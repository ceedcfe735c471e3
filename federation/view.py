"""The federation view: keeps the store's clusters in step with its records, as a view of the change feed.

`catch_up` applies the feed's entries since the view's cursor: the changed records' facts, then `closure()`
over the stored keys and clusters, then `cluster()` of that closed set, written in one transaction with a
`rescored` feed entry for every record whose cluster or rank changed (so the search index, which catches up
next, rewrites their cluster's one document). When most of the store changed (the first run, other rules),
the whole store is clustered instead (`cluster_store`), in memory that does not grow with the catalogue:
facts written a page at a time, key blocks streamed from the store, union-find over record numbers. Both use
the one block loop (`cluster.links_in_blocks`), so they make the same clusters. Applying a batch twice writes
the same clusters: crash-safe as every view.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator

import msgspec

from ..mappings.quality import completeness
from ..store import feed, gc_paused
from ..store.federation import FULL_RUN, FederationTables
from ..store.feed import Change
from .areas import Areas
from .cluster import (
    canonical_order,
    closure,
    cluster,
    evidence,
    link_sets,
    links_in_blocks,
    override_numbers,
)
from .keys import FACTS_VERSION, Copy, copy_of, described, publisher_of
from .rules import Overrides, Rules, default_rules, load_overrides

_BATCH = 2000
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Copy).decode
_FEED_BATCH = 50_000  # feed entries per closure: a whole-store run (`cluster_store`) does not list them
FULL_SHARE = 0.3  # above this share of the store changed, clustering all of it is cheaper than closures


def facts(
    rows: Iterable[dict], jurisdictions: dict[str, str | None], areas: Areas | None = None
) -> list[tuple[Copy, int]]:
    """The clustering facts of stored records. With the registry's areas, the publisher is its matched
    body (one key for every spelling of it) and a copy from the source whose jurisdiction is that body is
    the publisher's own (the canonical copy's first rule)."""
    found = []
    for row in rows:
        dataset = described(row["dataset"])  # the fields the facts read, not a whole Dataset
        source_area = jurisdictions.get(row["source_id"])
        body = areas.body(dataset, source_area) if areas else None
        found.append(
            (
                copy_of(
                    row["id"],
                    row["source_id"],
                    dataset,
                    publisher=body or publisher_of(dataset),
                    quality=completeness(dataset),  # the score's total before link checks and SHACL
                    first_seen=row["first_seen"],
                    own=body is not None and body == source_area,
                ),
                row["version"],
            )
        )
    return found


class FederationView:
    """The clusters as a view of the store's change feed (`store.feed`): each batch of changed records
    (created, updated, remapped, withdrawn) is re-clustered with everything linked to it. `rescored`
    entries are skipped: they change derived values, not what identifies a record."""

    name = "federation"

    def __init__(self, store, rules: Rules, overrides: Overrides, areas: Areas | None = None) -> None:
        self.store, self.rules, self.overrides, self.areas = store, rules, overrides, areas
        self.applied = {
            "overrides": json.dumps([overrides.merges, overrides.splits]),
            "rules": json.dumps([FACTS_VERSION, repr(rules)]),
        }

    def apply(self, changes: list[Change]) -> None:
        # any entry but a derived one (a later `rescored` of the same record does not hide its `created`)
        ids = list(dict.fromkeys(c.id for c in changes if c.kind not in feed.DERIVED))
        if ids:
            recluster(self.store, ids, self.rules, self.overrides, self.areas, self.applied)

    def apply_rules(self) -> None:
        """Other rules or settings (a threshold, the title similarity) or facts of another form
        (`keys.FACTS_VERSION`) than the stored clusters were made with re-cluster every record."""
        tables = FederationTables(self.store)
        previous = tables.state("rules")
        if previous == self.applied["rules"]:
            return
        if previous is None and not self.store.db.execute("SELECT 1 FROM fed_copies LIMIT 1").fetchone():
            return  # nothing clustered yet: the feed brings every record
        cluster_store(self.store, self.rules, self.overrides, self.areas, self.applied)

    def apply_overrides(self) -> None:
        """An edited overrides file re-clusters the records it named before and names now."""
        tables = FederationTables(self.store)
        previous = tables.state("overrides")
        if previous is None or previous == self.applied["overrides"]:
            return
        named = {i for groups in json.loads(previous) for group in groups for i in group}
        named |= {i for group in (*self.overrides.merges, *self.overrides.splits) for i in group}
        ids = sorted(named & set(tables.clusters_of(sorted(named))))
        recluster(self.store, ids, self.rules, self.overrides, self.areas, self.applied)


def catch_up(store, settings=None, areas: Areas | None = None) -> int:
    """Bring the clusters up to date (settings: `settings.federation` and the registry's areas); returns
    how many feed entries were read. The first run reads every record at once: clustering them together
    costs less than a closure per batch."""
    federation = getattr(settings, "federation", None)  # config.Federation (read, not imported: a layer up)
    rules = default_rules().with_threshold(
        getattr(federation, "threshold", None), getattr(federation, "title_similarity", None)
    )
    view = FederationView(store, rules, load_overrides(getattr(federation, "overrides", None)), areas)
    view.apply_rules()
    view.apply_overrides()
    tables = FederationTables(store)
    pending = feed.behind(store, view.name, derived=False)
    if pending > FULL_SHARE * max(tables.clustered_count(), 1) or tables.state(FULL_RUN) is not None:
        # most of the store changed (the first run): cluster all of it from the store, not from the
        # feed's entries (whose list alone grows with the catalogue), then move past them
        entries, at = feed.behind(store, view.name), feed.head(store)
        cluster_store(store, rules, view.overrides, areas, view.applied)
        feed.advance(store, view.name, at)
        feed.skip_derived(store, view.name)  # the `rescored` entries it wrote, one per record in a cluster
        return entries + feed.catch_up(store, view, batch=_FEED_BATCH)
    return feed.catch_up(store, view, batch=_FEED_BATCH)


def recluster(
    store,
    changed: list[str],
    rules: Rules,
    overrides: Overrides,
    areas: Areas | None = None,
    applied: dict[str, str] | None = None,
) -> int:
    """Re-cluster these records and every record linked to them; returns how many records' cluster or rank
    changed (the store gives each a `rescored` feed entry, for the search index). When most of the store
    changed, or a whole-store clustering did not finish, the whole store is clustered (`cluster_store`)."""
    tables = FederationTables(store)
    if not changed:
        return 0
    if len(changed) > FULL_SHARE * max(tables.clustered_count(), 1) or tables.state(FULL_RUN) is not None:
        return cluster_store(store, rules, overrides, areas, applied, changed)
    jurisdictions = {s["id"]: s["jurisdiction"] for s in store.sources()}
    new: dict[str, tuple[Copy, int]] = {}
    for start in range(0, len(changed), _BATCH):  # datasets decoded a batch at a time: only facts are kept
        batch = tables.live_records(changed[start : start + _BATCH])
        with gc_paused():
            new.update((c.id, (c, v)) for c, v in facts(batch, jurisdictions, areas))
    dropped = [i for i in changed if i not in new]
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

    ids, generic = closure(changed, keys_of, holders_of, tables.clustered_with, overrides, rules.max_block)
    kept = [i for i in ids if i not in new and i not in dropped]
    copies = [c for c, _ in new.values()] + [_decode(facts) for facts in tables.copies(kept)]
    clusters = cluster(copies, rules, overrides, generic)
    return len(
        tables.save(
            [(c.id, c.source, c.keys, _encode(c), version) for c, version in new.values()],
            dropped,
            clusters,
            ids,
            applied,
        )
    )


def cluster_store(
    store,
    rules: Rules,
    overrides: Overrides,
    areas: Areas | None = None,
    applied: dict[str, str] | None = None,
    changed: list[str] | None = None,
) -> int:
    """Cluster every record of the store, in memory that does not grow with it: the new facts of the
    `changed` records (None: of every live record) written a page at a time, then links from the key
    blocks streamed from the store (full facts decoded only for the holders of title blocks), union-find
    over the records' numbers, the canonical copies from the facts of the records in clusters of several,
    and every record's place written a page at a time. Returns how many records' cluster or rank changed.

    Crash-safe: the facts go first, in one transaction, under a `FULL_RUN` mark that only the clusters'
    transaction clears; a run that finds the mark clusters the whole store again."""
    tables = FederationTables(store)
    jurisdictions = {s["id"]: s["jurisdiction"] for s in store.sources()}
    pages: Iterator[list[dict]]
    if changed is None:
        pages = _pages_after(tables)
    else:
        pages = (
            tables.live_records(changed[start : start + _BATCH]) for start in range(0, len(changed), _BATCH)
        )
    for rows in pages:
        with gc_paused():  # a page of decoded datasets, no cycles: see gc_paused
            staged = [(c.id, c.source, c.keys, _encode(c), v) for c, v in facts(rows, jurisdictions, areas)]
        tables.stage_facts(staged)
    tables.write_staged_facts()
    count = tables.number_copies()

    def facts_of(numbers: list[int]) -> dict[int, Copy]:
        return {n: _decode(stored) for n, stored in tables.facts_by_number(numbers)}

    links = links_in_blocks(tables.key_blocks(rules.max_block), rules, facts_of)
    merges, apart = override_numbers(overrides, tables.numbers_of)
    sets, forced = link_sets(count, links, merges, apart)
    canonical = array("q", range(count))  # each record's cluster, as its canonical copy's number
    rank = array("q", [0]) * count
    waiting: list[list[int]] = []
    for members in [*sets.groups().values(), []]:  # the facts of a few thousand members at a time
        waiting.append(members)
        if sum(map(len, waiting)) < _BATCH and members:
            continue
        found = facts_of([n for group in waiting for n in group])
        for group in waiting:
            ranked = sorted(group, key=lambda n: canonical_order(found[n]))
            for place, n in enumerate(ranked):
                canonical[n], rank[n] = ranked[0], place
        waiting.clear()
    return tables.write_all_clusters(
        ((n, canonical[n], rank[n], sets.size[sets.find(n)] == 1) for n in range(count)),
        (
            (canonical[a], a, b, rule, confidence)
            for _root, a, b, rule, confidence in evidence(sets, forced, links, rules)
        ),
        applied,
    )


def _pages_after(tables: FederationTables) -> Iterator[list[dict]]:
    """Every live record, a page at a time in id order."""
    after = ""
    while rows := tables.live_records_after(after, _BATCH):
        yield rows
        after = rows[-1]["id"]
