"""Clustering: links from shared blocking keys, union-find under forced merges and splits, the canonical copy.

Pure: `cluster()` takes the `Copy` facts of a closed set of records (every record linked to one of them is in
it: `closure()` finds that set from the changed records, so a harvest re-clusters only what it touched) and
returns their clusters. Its parts work on record numbers (each record's place in fedcat id order, so ints
sort as ids do) and blocks of keys, so the whole-store clustering (`view.cluster_store`) runs the same ones
over blocks streamed from the store: `links_in_blocks`, `link_sets`, `evidence`. The canonical copy of a cluster, the one its search hit shows first:
1. a copy harvested from the publisher's own source (the source whose jurisdiction is the publisher's body);
2. then the most complete metadata (highest quality score);
3. then the copy fedcat saw first (oldest first-seen), then the smallest fedcat id (stable).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import combinations

import msgspec

from .keys import Copy, kind_of, url_host
from .rules import FORCED, Overrides, Rule, Rules, default_rules

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


Holder = tuple[int, str]  # a copy in a block: its number (its place in fedcat id order) and its source
_FACTS_AT_ONCE = 2000  # title-block holders whose facts are asked for at once (the store decodes them)
_PAIR = 32  # a pair of numbers (a < b) as one int: a << 32 | b (up to 4 billion copies)
_LOW = (1 << _PAIR) - 1


def by_strength(rules: Rules) -> list[Rule]:
    """The rules that can link (confidence at least the threshold), strongest first: a link's rank is its
    rule's place here (equal confidences: the order of rules.yaml)."""
    usable = [rule for rule in rules.rules if rule.confidence >= rules.threshold]
    return sorted(usable, key=lambda rule: -rule.confidence)


def _unambiguous(candidates: dict[int, tuple[float, str, str]]) -> list[int]:
    """The title pairs where each copy is the other's one best match in the other's source: a title two
    records of a source share names neither. `candidates`: pair -> (similarity, a's source, b's source)."""
    best: dict[tuple[int, str], list] = {}  # (copy, other source) -> [similarity, partners at it]
    for pair, (similarity, source_a, source_b) in candidates.items():
        a, b = pair >> _PAIR, pair & _LOW
        for mine, theirs, their_source in ((a, b, source_b), (b, a, source_a)):
            slot = best.setdefault((mine, their_source), [0.0, []])
            if similarity > slot[0]:
                slot[0], slot[1] = similarity, [theirs]
            elif similarity == slot[0]:
                slot[1].append(theirs)
    return [
        pair
        for pair, (_, source_a, source_b) in candidates.items()
        if best[(pair >> _PAIR, source_b)][1] == [pair & _LOW]
        and best[(pair & _LOW, source_a)][1] == [pair >> _PAIR]
    ]


def links_in_blocks(
    blocks: Iterable[tuple[str, list[Holder]]], rules: Rules, facts_of: Callable[[list[int]], dict[int, Copy]]
) -> list[int]:
    """The strongest link of each linked pair, from blocks of shared keys (never all pairs): (rank of its
    rule in `by_strength`, a, b) with a < b, strongest first, then by pair, each packed in one int
    (`each_link` unpacks them). The one block loop of both the
    whole-store clustering (blocks streamed from the store) and a closure's (blocks made in memory).

    `blocks`: each key with its holders in number order (generic keys left out). `facts_of` gives the full
    facts of the holders of title blocks only, a few thousand at a time: nothing else needs more than a
    holder's number and source. A key is evidence only when it is not generic (more holders than
    `rules.max_block`) and no source carries it twice: a page every record of a portal points to says
    nothing about identity. The last-resort title keys are candidates only: a pair of copies of two sources
    in one block links when their titles are near-identical (`title_similarity` at least
    `rules.title_similarity`), their distributions overlap, nothing contradicts it, and each is the other's
    one best match in its source.
    """
    strength = by_strength(rules)
    rank_of = {rule.kind: rank for rank, rule in enumerate(strength)}
    offers: list[int] = []  # pair << 8 | rank: the strongest of each pair is found by sorting
    titles: dict[int, tuple[float, str, str]] = {}
    waiting: list[list[int]] = []  # title blocks whose holders' facts are not read yet

    def compare_titles() -> None:
        facts = facts_of(sorted({n for block in waiting for n in block}))
        for block in waiting:
            for a, b in combinations(block, 2):
                copy_a, copy_b = facts[a], facts[b]
                if copy_a.source == copy_b.source or _numbers(copy_a.title) != _numbers(copy_b.title):
                    continue
                pair = a << _PAIR | b
                if pair in titles:
                    continue
                similarity = title_similarity(copy_a.title, copy_b.title)
                if (
                    similarity >= rules.title_similarity
                    and set(copy_a.formats) & set(copy_b.formats)
                    and not _contradicts(copy_a, copy_b)
                ):
                    titles[pair] = (similarity, copy_a.source, copy_b.source)
        waiting.clear()

    waiting_holders = 0
    for key, holders in blocks:
        if len(holders) < 2 or len(holders) > rules.max_block:
            continue
        rank = rank_of.get(kind_of(key))
        if rank is None:
            continue
        if strength[rank].kind == "title":  # a small block (max_block) of one publisher and nearly one title
            waiting.append([n for n, _ in holders])
            waiting_holders += len(holders)
            if waiting_holders >= _FACTS_AT_ONCE:
                compare_titles()
                waiting_holders = 0
            continue
        if len({source for _, source in holders}) < len(holders):
            continue
        first = holders[0][0]
        offers.extend((first << _PAIR | n) << 8 | rank for n, _ in holders[1:])
    if waiting:
        compare_titles()
    if titles:
        rank = rank_of["title"]
        offers.extend(pair << 8 | rank for pair in _unambiguous(titles))
    offers.sort()
    links: list[int] = []
    last = -1
    for offer in offers:  # sorted by pair, then rank: the first of each pair is its strongest
        pair = offer >> 8
        if pair != last:
            links.append((offer & 0xFF) << (2 * _PAIR) | pair)
            last = pair
    del offers
    links.sort()
    return links


def each_link(links: list[int]) -> Iterator[tuple[int, int, int]]:
    """(rank, a, b) of each link `links_in_blocks` found, in its order (one int each: a few bytes a link)."""
    for link in links:
        yield link >> (2 * _PAIR), link >> _PAIR & _LOW, link & _LOW


class LinkedSets:
    """Union-find over copy numbers: forced merges first, then links strongest first, none joining two
    copies a forced split keeps apart."""

    def __init__(self, count: int, apart: dict[int, set[int]]) -> None:
        self.parent = array("q", range(count))
        self.size = array("q", [1]) * count
        self.apart = {
            n: set(others) for n, others in apart.items()
        }  # root -> the copies none of its may join

    def find(self, n: int) -> int:
        parent = self.parent
        root = n
        while parent[root] != root:
            root = parent[root]
        while parent[n] != root:
            parent[n], n = root, parent[n]
        return root

    def union(self, a: int, b: int, forced: bool = False) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if not forced:
            for x, y in ((ra, rb), (rb, ra)):
                if x in self.apart and any(self.find(other) == y for other in self.apart[x]):
                    return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        if rb in self.apart:
            self.apart.setdefault(ra, set()).update(self.apart.pop(rb))
        return True

    def groups(self) -> dict[int, list[int]]:
        """root -> its copies in number order, for the sets of more than one copy."""
        found: dict[int, list[int]] = {}
        for n in range(len(self.parent)):
            root = self.find(n)
            if self.size[root] > 1:
                found.setdefault(root, []).append(n)
        return found


def link_sets(
    count: int, links: list[int], merges: list[list[int]], apart: dict[int, set[int]]
) -> tuple[LinkedSets, list[tuple[int, int]]]:
    """The sets `links` make under forced merges (each group: the numbers of its copies present) and splits
    (`apart`: copy -> copies it must not share a set with); and the forced links (a, b), a < b."""
    sets = LinkedSets(count, apart)
    forced: list[tuple[int, int]] = []
    for group in merges:
        for other in group[1:]:
            sets.union(group[0], other, forced=True)
            forced.append((min(group[0], other), max(group[0], other)))
    for _, a, b in each_link(links):
        sets.union(a, b)
    return sets, forced


def evidence(
    sets: LinkedSets, forced: list[tuple[int, int]], links: list[int], rules: Rules
) -> Iterator[tuple[int, int, int, str, float]]:
    """(root, a, b, rule, confidence) of each link inside one set: forced ones, then the others, strongest first."""
    for a, b in forced:
        if (root := sets.find(a)) == sets.find(b):
            yield root, a, b, FORCED, 1.0
    strength = by_strength(rules)
    for rank, a, b in each_link(links):
        if (root := sets.find(a)) == sets.find(b):
            yield root, a, b, strength[rank].name, strength[rank].confidence


def override_numbers(
    overrides: Overrides, number: Callable[[list[str]], dict[str, int]]
) -> tuple[list[list[int]], dict[int, set[int]]]:
    """The forced merges (each group's present copies, in its order) and splits as copy numbers (`number`:
    fedcat ids -> the numbers of those present)."""
    named = sorted({i for group in (*overrides.merges, *overrides.splits) for i in group})
    numbers = number(named) if named else {}
    merges = [[numbers[i] for i in group if i in numbers] for group in overrides.merges]
    apart = {
        numbers[i]: {numbers[j] for j in others if j in numbers}
        for i, others in overrides.forbidden().items()
        if i in numbers
    }
    return merges, apart


def cluster(
    copies: Iterable[Copy],
    rules: Rules | None = None,
    overrides: Overrides | None = None,
    generic: set[str] | frozenset[str] = frozenset(),
) -> list[Cluster]:
    """The clusters of `copies` (a closed set, see the module docstring), singletons included."""
    rules = rules or default_rules()
    overrides = overrides or Overrides()
    ordered = sorted({c.id: c for c in copies}.values(), key=lambda c: c.id)
    blocks: dict[str, list[Holder]] = {}
    for n, copy in enumerate(ordered):
        for key in copy.keys:
            if key not in generic:
                blocks.setdefault(key, []).append((n, copy.source))
    links = links_in_blocks(blocks.items(), rules, lambda numbers: {n: ordered[n] for n in numbers})
    position = {c.id: n for n, c in enumerate(ordered)}
    merges, apart = override_numbers(overrides, lambda ids: {i: position[i] for i in ids if i in position})
    sets, forced = link_sets(len(ordered), links, merges, apart)
    found: dict[int, list[Link]] = {}
    for root, a, b, rule, confidence in evidence(sets, forced, links, rules):
        found.setdefault(root, []).append(Link(ordered[a].id, ordered[b].id, rule, confidence))
    groups = sets.groups()
    clusters = []
    for n, copy in enumerate(ordered):
        root = sets.find(n)
        if root not in groups:
            clusters.append(Cluster(copy.id, [copy.id], []))
        elif groups[root][0] == n:  # once per set
            ranked = sorted((ordered[m] for m in groups[root]), key=canonical_order)
            clusters.append(Cluster(ranked[0].id, [c.id for c in ranked], found.get(root, [])))
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
