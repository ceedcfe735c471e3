"""The evidence rules (`rules.yaml`, data) and the editable overrides file of forced merges and splits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import yaml

RULES = Path(__file__).with_name("rules.yaml")
KINDS = ("iri", "identifier", "provenance", "landing", "download", "title")
FORCED = "forced-merge"


class RulesError(ValueError):
    """A rules or overrides file that cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    confidence: float
    says: str = ""


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    threshold: float
    max_block: int
    title_similarity: float = 0.9  # the last-resort rule's least similarity of two titles (cluster.py)

    @property
    def by_kind(self) -> dict[str, Rule]:
        return {rule.kind: rule for rule in self.rules}

    def with_threshold(self, threshold: float | None, title_similarity: float | None = None) -> Rules:
        """These rules with the settings' link threshold and title similarity, when given."""
        for name, value in (("threshold", threshold), ("title_similarity", title_similarity)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise RulesError(f"federation {name} must be between 0 and 1, got {value!r}")
        return replace(
            self,
            threshold=self.threshold if threshold is None else threshold,
            title_similarity=self.title_similarity if title_similarity is None else title_similarity,
        )


def load_rules(path: Path = RULES) -> Rules:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    rules = []
    for entry in data.get("rules") or []:
        kind = entry.get("key")
        if kind not in KINDS:
            raise RulesError(
                f"{path.name}: rule {entry.get('name')!r}: key must be one of {KINDS}, got {kind!r}"
            )
        rules.append(Rule(str(entry["name"]), kind, float(entry["confidence"]), str(entry.get("says", ""))))
    return Rules(
        tuple(rules),
        float(data.get("threshold", 0.8)),
        int(data.get("max_block", 25)),
        float(data.get("title_similarity", 0.9)),
    )


@cache
def default_rules() -> Rules:
    return load_rules()


@dataclass(frozen=True)
class Overrides:
    """Forced merges (each group one cluster) and splits (each listed record in a cluster of its own from
    the others listed with it), by fedcat id. An administrator edits them after reviewing duplicates."""

    merges: tuple[tuple[str, ...], ...] = ()
    splits: tuple[tuple[str, ...], ...] = ()
    _partners: dict[str, set[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for group in self.merges:
            for record in group:
                self._partners.setdefault(record, set()).update(group)

    def partners(self, ids: Iterable[str]) -> set[str]:
        """The records forced into one cluster with any of `ids`."""
        found: set[str] = set()
        for record in ids:
            found |= self._partners.get(record, set())
        return found

    def forbidden(self) -> dict[str, set[str]]:
        """record -> the records it must not share a cluster with."""
        apart: dict[str, set[str]] = {}
        for group in self.splits:
            for record in group:
                apart.setdefault(record, set()).update(r for r in group if r != record)
        return apart


def load_overrides(path: Path | None) -> Overrides:
    """The overrides file (YAML: `merge:` and `split:`, each a list of lists of fedcat ids); none: empty."""
    if path is None or not Path(path).exists():
        return Overrides()
    try:
        with Path(path).open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"federation overrides {Path(path).name}: {exc}") from exc
    if not isinstance(data, dict):
        raise RulesError(f"federation overrides {Path(path).name}: expected a mapping with merge: and split:")
    groups: dict[str, list[tuple[str, ...]]] = {}
    for section in ("merge", "split"):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise RulesError(f"federation overrides: {section}: expected a list of lists of record ids")
        groups[section] = []
        for n, entry in enumerate(entries, 1):
            if not isinstance(entry, list) or len(entry) < 2 or not all(isinstance(i, str) for i in entry):
                raise RulesError(
                    f"federation overrides: {section} entry {n}: expected a list of at least two record ids"
                )
            groups[section].append(tuple(entry))
    return Overrides(tuple(groups["merge"]), tuple(groups["split"]))
