"""Obligation rules and the open-licence and open-format tables, as data (`obligations.yaml`).

`obligation(body, rules)` says yes, no or unknown, and why, with three-valued logic: a rule holds when all
its conditions hold, fails when one fails, and is unknown otherwise (a figure it needs is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..mappings.normalise import format_uri
from ..mappings.quality import FILE_TYPE, format_tables
from ..mappings.vocabularies import vocabulary
from .registry import Body

TABLE = Path(__file__).parent / "obligations.yaml"
STATUSES = ("yes", "unknown", "no")  # report order: the obligated first
CONDITIONS: dict[str, Any] = {
    "always": None,
    "population_at_least": "population",
    "agents_at_least": "agents",
}


@dataclass(frozen=True)
class Rule:
    id: str
    kinds: frozenset[str] | None  # None: every kind
    conditions: tuple[tuple[str, float], ...]  # (figure, at least); empty when `always`
    basis: str


class Obligation(NamedTuple):
    status: str  # yes, no or unknown
    why: str
    rule: str | None  # the rule that holds, for "yes"


def _figure(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def obligation(body: Body, rules: tuple[Rule, ...]) -> Obligation:
    return _obligation(body.kind, body.population, body.agents, rules)


@lru_cache(maxsize=65536)  # the rows of a whole registry are made again for each API page
def _obligation(
    kind: str, population: int | None, agents: float | None, rules: tuple[Rule, ...]
) -> Obligation:
    figures = {"population": population, "agents": agents}
    applicable = [r for r in rules if r.kinds is None or kind in r.kinds]
    if not applicable:
        return Obligation("unknown", f"no rule covers the kind {kind!r}", None)
    failed, missing = [], []
    for rule in applicable:
        facts, unknown, holds = [], [], True
        for figure, least in rule.conditions:
            value = figures[figure]
            if value is None:
                unknown.append(f"{figure} unknown")
            elif value >= least:
                facts.append(f"{figure} {_figure(value)} ≥ {_figure(least)}")
            else:
                holds = False
                failed.append(f"{figure} {_figure(value)} < {_figure(least)}")
        if holds and not unknown:
            return Obligation("yes", "; ".join(facts) or f"every {kind} ({rule.id})", rule.id)
        if holds:
            missing.extend(unknown)
    reasons = "; ".join(dict.fromkeys(failed + missing))
    return Obligation("unknown" if missing else "no", reasons, None)


def _rule(entry: Any, index: int) -> Rule:
    where = f"{TABLE.name} rules[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry.get("basis"):
        raise ValueError(f"{where}: each rule needs an `id` and a `basis`")
    conditions = [(CONDITIONS[k], float(v)) for k, v in entry.items() if k in CONDITIONS and k != "always"]
    unknown = set(entry) - set(CONDITIONS) - {"id", "kinds", "basis"}
    if unknown or (entry.get("always") is not True) == (not conditions):
        raise ValueError(f"{where}: expected `always: true` or conditions among {', '.join(CONDITIONS)}")
    kinds = entry.get("kinds")
    return Rule(entry["id"], frozenset(kinds) if kinds else None, tuple(conditions), str(entry["basis"]))


@cache
def tables() -> tuple[tuple[Rule, ...], frozenset[str]]:
    """(the obligation rules, the open licence URIs), checked: a broken table fails loudly at first use."""
    with TABLE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    rules = tuple(_rule(entry, i) for i, entry in enumerate(data["rules"]))
    licences = frozenset(data["open_licences"])
    unknown = sorted(u for u in licences if u not in vocabulary("licence"))
    if unknown:
        raise ValueError(f"{TABLE.name}: open_licences not in mappings/licence.yaml: {', '.join(unknown)}")
    return rules, licences


@cache
def open_formats() -> frozenset[str]:
    """The EU file-type URIs of open machine-readable formats, and the IANA media types that name them."""
    non_proprietary, machine_readable = format_tables()
    formats = non_proprietary & machine_readable
    media_types = set()
    for uri in vocabulary("media-type").labels:
        found = format_uri(uri)
        if found and found.uri.startswith(FILE_TYPE) and found.uri in formats:
            media_types.add(uri)
    return frozenset(formats | media_types)
