"""Clustering: links from shared blocking keys, union-find under forced merges and splits, the canonical copy.

Pure: `cluster()` takes the `Copy` facts of a closed set of records (every record linked to one of them is in
it: `closure()` finds that set from the changed records, so a harvest re-clusters only what it touched) and
returns their clusters. The canonical copy of a cluster, the one its search hit shows first:
1. a copy harvested from the publisher's own source (the source whose jurisdiction is the publisher's body);
2. then the most complete metadata (highest quality score);
3. then the copy fedcat saw first (oldest first-seen), then the smallest fedcat id (stable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations

import msgspec

from .keys import Copy, kind_of, url_host
from .rules import FORCED, Overrides, Rules, default_rules

_CONTRADICTING = ("iri", "landing")  # both copies name their page / IRI on one host, and not the same one


class Link(msgspec.Struct, array_like=True, frozen=True):
    """Evidence that two copies are one dataset: the rule that found it and its confidence."""

    a: str
    b: str
    rule: str
    confidence: float


class Cluster(msgspec.Struct):
    id: str  # the canonical copy's fedcat id
    members: list[str]  # canonical first, then in the same order of preference
    links: list[Link]


def canonical_order(copy: Copy) -> tuple:
    return (not copy.own, -copy.quality, copy.first_seen or "~", copy.id)


def _contradicts(a: Copy, b: Copy) -> bool:
    for kind in _CONTRADICTING:
        mine, theirs = a.kind_values(kind), b.kind_values(kind)
        if mine and theirs and not (mine & theirs):
            my_hosts = {url_host(k.split(":", 1)[1]) for k in mine}
            if my_hosts & {url_host(k.split(":", 1)[1]) for k in theirs}:
                return True
    return False


def find_links(
    copies: list[Copy], rules: Rules, generic: set[str] | frozenset[str] = frozenset()
) -> list[Link]:
    """The strongest link of each linked pair, from the blocks of shared keys (never all pairs).

    A key is evidence only when it is not generic (more holders than `rules.max_block`) and no source
    carries it twice: a page every record of a portal points to says nothing about identity.
    """
    by_kind = rules.by_kind
    blocks: dict[str, list[Copy]] = {}
    for copy in copies:
        for key in copy.keys:
            if key not in generic:
                blocks.setdefault(key, []).append(copy)
    best: dict[tuple[str, str], Link] = {}

    def offer(a: str, b: str, rule_name: str, confidence: float) -> None:
        pair = (a, b) if a < b else (b, a)
        found = best.get(pair)
        if found is None or confidence > found.confidence:
            best[pair] = Link(pair[0], pair[1], rule_name, confidence)

    for key, holders in blocks.items():
        if len(holders) < 2 or len(holders) > rules.max_block:
            continue
        if len({c.source for c in holders}) < len(holders):
            continue
        rule = by_kind.get(kind_of(key))
        if rule is None or rule.confidence < rules.threshold:
            continue
        if rule.kind != "title":
            first = min(holders, key=lambda c: c.id)
            for other in holders:
                if other is not first:
                    offer(first.id, other.id, rule.name, rule.confidence)
            continue
        for a, b in combinations(holders, 2):  # a small block (max_block) of one publisher and title
            if set(a.formats) & set(b.formats) and not _contradicts(a, b):
                offer(a.id, b.id, rule.name, rule.confidence)
    return sorted(best.values(), key=lambda link: (-link.confidence, link.a, link.b))


class _UnionFind:
    def __init__(self, ids: Iterable[str], apart: dict[str, set[str]]) -> None:
        self.parent = {i: i for i in ids}
        self.members = {i: [i] for i in self.parent}
        self.apart = {i: set(apart[i]) for i in self.parent if i in apart}

    def find(self, i: str) -> str:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: str, b: str, forced: bool = False) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if not forced:
            for x, y in ((ra, rb), (rb, ra)):
                if x in self.apart and not self.apart[x].isdisjoint(self.members[y]):
                    return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))
        if rb in self.apart:
            self.apart.setdefault(ra, set()).update(self.apart.pop(rb))
        return True


def cluster(
    copies: Iterable[Copy],
    rules: Rules | None = None,
    overrides: Overrides | None = None,
    generic: set[str] | frozenset[str] = frozenset(),
) -> list[Cluster]:
    """The clusters of `copies` (a closed set, see the module docstring), singletons included."""
    rules = rules or default_rules()
    overrides = overrides or Overrides()
    copies = list(copies)
    by_id = {c.id: c for c in copies}
    links = find_links(copies, rules, generic)
    sets = _UnionFind(by_id, overrides.forbidden())
    forced: list[Link] = []
    for group in overrides.merges:
        present = [i for i in group if i in by_id]
        for other in present[1:]:
            sets.union(present[0], other, forced=True)
            low, high = sorted((present[0], other))
            forced.append(Link(low, high, FORCED, 1.0))
    for link in links:
        sets.union(link.a, link.b)
    evidence: dict[str, list[Link]] = {}
    for link in forced + links:
        root = sets.find(link.a)
        if root == sets.find(link.b):
            evidence.setdefault(root, []).append(link)
    clusters = []
    for root, members in sets.members.items():
        ranked = sorted((by_id[m] for m in members), key=canonical_order)
        clusters.append(Cluster(ranked[0].id, [c.id for c in ranked], evidence.get(root, [])))
    return clusters


def closure(
    seeds: Iterable[str],
    keys_of: Callable[[list[str]], Iterable[str]],
    holders_of: Callable[[list[str]], dict[str, list[str]]],
    clustered_with: Callable[[list[str]], Iterable[str]],
    overrides: Overrides,
    max_block: int,
) -> tuple[set[str], set[str]]:
    """Every record whose cluster may change when `seeds` change, and the generic keys met on the way.

    Follows shared keys (`keys_of` the records -> their keys, old and new; `holders_of` keys -> records),
    the records' current clusters (`clustered_with`) and forced merges until nothing new is found. Keys with
    more than `max_block` holders are generic: not followed, and ignored by `cluster()`.
    """
    seen = set(seeds)
    frontier = list(seen)
    done: set[str] = set()
    generic: set[str] = set()
    while frontier:
        keys = set(keys_of(frontier)) - done
        done |= keys
        found = set(clustered_with(frontier)) | overrides.partners(frontier)
        for key, holders in holders_of(sorted(keys)).items():
            if len(holders) > max_block:
                generic.add(key)
            else:
                found.update(holders)
        frontier = list(found - seen)
        seen |= found
    return seen, generic
