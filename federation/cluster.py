"""Clustering: links from shared blocking keys, union-find under forced merges and splits, the canonical copy.

Pure: `cluster()` takes the `Copy` facts of a closed set of records (every record linked to one of them is in
it: `closure()` finds that set from the changed records, so a harvest re-clusters only what it touched) and
returns their clusters. The canonical copy of a cluster, the one its search hit shows first:
1. a copy harvested from the publisher's own source (the source whose jurisdiction is the publisher's body);
2. then the most complete metadata (highest quality score);
3. then the copy fedcat saw first (oldest first-seen), then the smallest fedcat id (stable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import combinations

import msgspec

from .keys import Copy, kind_of, url_host
from .rules import FORCED, Overrides, Rules, default_rules

_CONTRADICTING = ("iri", "landing")  # both copies name their page / IRI on one host, and not the same one
_NUMBER = re.compile(r"\d+")


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


@lru_cache(maxsize=65536)
def _numbers(title: str) -> tuple[str, ...]:
    return tuple(_NUMBER.findall(title))


@lru_cache(maxsize=65536)  # the same titles recur across publishers ("Budget primitif 2024")
def title_similarity(a: str, b: str) -> float:
    """How near two titles' significant words (`keys.title_words`) are, from 0 to 1: difflib's ratio of
    matching characters (2 x matches / total length), or 0 when their numbers differ ("Budget 2022" is not
    "Budget 2023", however alike). Cheap on titles, and only ever computed within a block."""
    if not a or not b or _numbers(a) != _numbers(b):
        return 0.0
    return 1.0 if a == b else SequenceMatcher(None, a, b).ratio()


def _unambiguous(candidates: dict[tuple[str, str], float], by_id: dict[str, Copy]) -> list[tuple[str, str]]:
    """The title pairs where each copy is the other's one best match in the other's source: a title two
    records of a source share names neither."""
    best: dict[tuple[str, str], list] = {}  # (copy, other source) -> [similarity, partners at it]
    for (a, b), similarity in candidates.items():
        for mine, theirs in ((a, b), (b, a)):
            slot = best.setdefault((mine, by_id[theirs].source), [0.0, []])
            if similarity > slot[0]:
                slot[0], slot[1] = similarity, [theirs]
            elif similarity == slot[0]:
                slot[1].append(theirs)
    return [
        (a, b)
        for a, b in candidates
        if best[(a, by_id[b].source)][1] == [b] and best[(b, by_id[a].source)][1] == [a]
    ]


def find_links(
    copies: list[Copy], rules: Rules, generic: set[str] | frozenset[str] = frozenset()
) -> list[Link]:
    """The strongest link of each linked pair, from the blocks of shared keys (never all pairs).

    A key is evidence only when it is not generic (more holders than `rules.max_block`) and no source
    carries it twice: a page every record of a portal points to says nothing about identity. The
    last-resort title keys are candidates only: a pair of copies of two sources in one block links when
    their titles are near-identical (`title_similarity` at least `rules.title_similarity`), their
    distributions overlap, nothing contradicts it, and each is the other's one best match in its source.
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

    titles: dict[tuple[str, str], float] = {}
    for key, holders in blocks.items():
        if len(holders) < 2 or len(holders) > rules.max_block:
            continue
        rule = by_kind.get(kind_of(key))
        if rule is None or rule.confidence < rules.threshold:
            continue
        if rule.kind == "title":  # a small block (max_block) of one publisher and nearly one title
            for a, b in combinations(holders, 2):
                if a.source == b.source or _numbers(a.title) != _numbers(b.title):
                    continue
                pair = (a.id, b.id) if a.id < b.id else (b.id, a.id)
                if pair in titles:
                    continue
                similarity = title_similarity(a.title, b.title)
                if (
                    similarity >= rules.title_similarity
                    and set(a.formats) & set(b.formats)
                    and not _contradicts(a, b)
                ):
                    titles[pair] = similarity
            continue
        if len({c.source for c in holders}) < len(holders):
            continue
        first = min(holders, key=lambda c: c.id)
        for other in holders:
            if other is not first:
                offer(first.id, other.id, rule.name, rule.confidence)
    if titles:
        rule = by_kind["title"]
        by_id = {c.id: c for c in copies}
        for low, high in _unambiguous(titles, by_id):
            offer(low, high, rule.name, rule.confidence)
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
