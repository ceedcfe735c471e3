"""The audit report: per registry body, obligated or not, publishing or not, and what it publishes.

How it stays fast on a large store. What the report needs of each live record (publisher, dataset IRI,
modified, licences, formats, HVD, its expected dataset families) is kept in the store's `audit_facts`
table, brought up to date at each report from the records whose `version` changed since (the first report
reads every record once; families are recognised then, in Python, `families.recognise`). The table is made
again when FACTS_VERSION or the families table changes (`audit_state`). The report then aggregates in SQL:
once by publisher (a few thousand groups, matched to bodies in Python), once by body through a temporary
table of those matches, joined with the stored quality scores, and once by (body, family) over the records
that have a family. Copies of one dataset from several sources (the same source IRI) count once. Figures
at 100,000 records: `python bench/audit.py` (docs/audit.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ..mappings.model import Text, text_in
from ..store import Store
from ..store import audit as stored_audit
from ..store import discovery as stored_discovery
from .families import families, recognise
from .match import Matcher
from .registry import Body, Registry
from .rules import STATUSES, obligation, open_formats, tables

FACTS_VERSION = 2  # bump when the facts read from a record change: every store recomputes them
AUDIT_COLUMNS = (
    "id", "name", "kind", "population", "agents", "obligated", "why", "publishing", "datasets", "last_modified",
    "open_licence_share", "open_format_share", "quality_mean", "hvd_datasets", "families", "families_missing",
    "sources", "matched_by", "publication", "not_harvested_yet",
)  # fmt: skip
# What the audit can say of where a body publishes (`publication`), from the harvested catalogues and from
# what `fedcat discover --save` found on its website:
PUBLICATION = (
    "harvested",  # datasets matched to it in the harvested catalogues
    "not_harvested_yet",  # none there, but its website links to a portal or catalogue fedcat does not harvest
    "no_evidence",  # neither (`website_crawl` says whether its website was looked at)
)
_DEPARTEMENT = re.compile(r"^(?:\d{2,3}|2[AB])$")
_JURISDICTION = re.compile(r"^[a-z]+:[^\s:]+$")
_texts = msgspec.json.Decoder(list[Text])


def refresh_facts(store: Store) -> int:
    """Bring `audit_facts` up to date with the live records; returns how many records were re-read."""
    return stored_audit.refresh_facts(store, f"{FACTS_VERSION}:{families().stamp}", recognise)


@dataclass
class Publishing:
    """What the store says each body publishes, and the publishers no body was found for."""

    # body id -> datasets, last_modified, open_licence_share, open_format_share, hvd_datasets, quality_mean,
    # families (family id -> datasets, in table order), sources, matched_by
    bodies: dict[str, dict[str, Any]]
    unmatched: list[dict[str, Any]]  # source, publisher, identifier, datasets, why; most datasets first
    records: int  # live records read
    matched: int  # of which matched to a body
    # body id -> the places its website links to (store.discovery.found_by_body), and its last crawl
    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crawls: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (source id, type, url) of every source fedcat harvests: the store's and the config's
    harvested: tuple[tuple[str, str, str], ...] = ()


def published_by_body(
    store: Store,
    registry: Registry,
    jurisdictions: dict[str, str],
    configured: Sequence[tuple[str, str, str]] = (),
) -> Publishing:
    """Match every publisher of the store to a body and aggregate what each body publishes (in SQL), with
    what `fedcat discover --save` found on the bodies' websites. `jurisdictions`: source id -> jurisdiction
    key, from the config (sources it no longer lists: the store's); `configured`: (id, type, url) of the
    config's sources (harvested, with the store's)."""
    refresh_facts(store)
    jurisdictions = {**stored_audit.source_jurisdictions(store), **jurisdictions}
    matcher = Matcher(registry)
    matches: list[Any] = []
    unmatched: list[dict[str, Any]] = []
    sources: dict[str, set[str]] = {}
    methods: dict[str, set[str]] = {}
    records = matched = 0
    for source_id, names, identifier, uri, count in stored_audit.publisher_groups(store):
        name = text_in(_texts.decode(names)).strip() if names else ""
        found = matcher.match(name, identifier, uri, jurisdictions.get(source_id))
        records += count
        if found.body is None:
            unmatched.append({"source": source_id, "publisher": name, "identifier": identifier or uri,
                              "datasets": count, "why": found.note})  # fmt: skip
            continue
        matched += count
        matches.append((source_id, names, identifier, uri, found.body))
        sources.setdefault(found.body, set()).add(source_id)
        methods.setdefault(found.body, set()).add(found.method)
    licences, formats = tables()[1], open_formats()
    stored_audit.set_matches(store, matches)
    rows = stored_audit.body_totals(store, sorted(licences), sorted(formats))
    bodies = {
        body: {
            "datasets": n,
            "last_modified": modified,
            "open_licence_share": round(open_licence / n, 4),
            "open_format_share": round(open_format / n, 4),
            "hvd_datasets": hvd,
            "quality_mean": round(score, 1) if score is not None else None,
            "families": {},
            "sources": sorted(sources[body]),
            "matched_by": sorted(methods[body]),
        }
        for body, n, modified, open_licence, open_format, hvd, score in rows
    }
    order = {family: i for i, family in enumerate(families().families)}
    for body, family, n in sorted(
        stored_audit.body_families(store),
        key=lambda row: order.get(row[1], len(order)),
    ):
        bodies[body]["families"][family] = n
    unmatched.sort(key=lambda u: (-u["datasets"], u["source"], u["publisher"]))
    harvested = {sid: (sid, kind, url) for sid, kind, url in stored_audit.source_places(store)}
    harvested.update({sid: (sid, kind, url) for sid, kind, url in configured})
    return Publishing(
        bodies,
        unmatched,
        records,
        matched,
        stored_discovery.found_by_body(store),
        stored_discovery.crawls_by_body(store),
        tuple(harvested.values()),
    )


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()
    within: tuple[str, ...] = ()  # jurisdiction keys ("departement:59"): bodies lying in any of them
    obligated_only: bool = False
    not_publishing: bool = False
    has: tuple[str, ...] = ()  # family ids: bodies with a dataset of each
    missing: tuple[str, ...] = ()  # family ids: bodies of a kind each concerns, without a dataset of it
    publication: tuple[str, ...] = ()  # PUBLICATION values: bodies found to publish so


class FilterError(ValueError):
    """A filter value the registry cannot answer; `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


def audit_filters(
    registry: Registry,
    kinds: Sequence[str] | None = None,
    departement: str | None = None,
    within: Sequence[str] | None = None,
    obligated_only: bool = False,
    not_publishing: bool = False,
    has: Sequence[str] | None = None,
    missing: Sequence[str] | None = None,
    publication: Sequence[str] | None = None,
) -> Filters:
    """Checked filters (a misspelt kind or family would otherwise silently list nothing)."""
    for value in publication or ():
        if value not in PUBLICATION:
            raise FilterError("publication", f"no publication {value!r} (one of {', '.join(PUBLICATION)})")
    table = families().families
    for parameter, ids in (("has", has), ("missing", missing)):
        for family in ids or ():
            if family not in table:
                raise FilterError(parameter, f"no family {family!r} (families: {', '.join(table)})")
    known = registry.kinds()
    for kind in kinds or ():
        if kind not in known:
            raise FilterError("kind", f"no body of kind {kind!r} in the registry (kinds: {', '.join(known)})")
    keys = list(within or ())
    for key in keys:
        if not _JURISDICTION.match(key):
            raise FilterError("within", f"expected level:code such as epci:200093201, got {key!r}")
    if departement is not None:
        code = departement.strip().upper()
        if not _DEPARTEMENT.match(code):
            raise FilterError(
                "departement", f"expected a département code such as 59, 2A or 974, got {departement!r}"
            )
        keys.append(f"departement:{code}")
        if keys[-1] not in registry.jurisdictions():
            codes = sorted(
                k.split(":", 1)[1] for k in registry.jurisdictions() if k.startswith("departement:")
            )
            raise FilterError(
                "departement",
                f"no body of the registry lies within département {code!r} "
                f"(départements: {', '.join(codes) or 'none in the registry'})",
            )
    for key in keys[: len(within or ())]:
        if key not in registry.jurisdictions():
            raise FilterError("within", f"no body of the registry lies within {key!r}")
    return Filters(
        tuple(kinds or ()),
        tuple(keys),
        obligated_only,
        not_publishing,
        tuple(has or ()),
        tuple(missing or ()),
        tuple(publication or ()),
    )


@lru_cache(maxsize=256)
def _expected_of(kind: str) -> tuple[str, ...]:
    return tuple(f.id for f in families().families.values() if kind in f.expected)


def _row(body: Body, figures: dict | None) -> dict:
    duty = obligation(body, tables()[0])
    present = figures["families"] if figures else {}
    return {
        "id": body.id,
        "name": body.name,
        "kind": body.kind,
        "population": body.population,
        "agents": body.agents,
        "obligated": duty.status,
        "why": duty.why,
        "rule": duty.rule,
        "publishing": figures is not None,
        **(figures or {"datasets": 0, "last_modified": None, "open_licence_share": None,
                       "open_format_share": None, "hvd_datasets": 0, "quality_mean": None, "families": {},
                       "sources": [], "matched_by": []}),
        # what an obligated body is expected to publish and does not
        "families_missing": [f for f in _expected_of(body.kind) if f not in present] if duty.status == "yes" else [],
    }  # fmt: skip


def body_rows(registry: Registry, published: Publishing, filters: Filters) -> list[dict]:
    """One row per body the filters keep: the obligated first, then by population (largest first)."""
    rows = []
    wanted_kinds, wanted_within = set(filters.kinds), set(filters.within)
    table = families().families
    for body in registry.bodies.values():
        if wanted_kinds and body.kind not in wanted_kinds:
            continue
        if wanted_within and not wanted_within & body.within:
            continue
        figures = published.bodies.get(body.id)
        if filters.not_publishing and figures is not None:
            continue
        present = figures["families"] if figures else {}
        if not all(f in present for f in filters.has):
            continue
        if not all(table[f].concerns(body.kind) and f not in present for f in filters.missing):
            continue
        row = _row(body, figures)
        if filters.obligated_only and row["obligated"] != "yes":
            continue
        rows.append(row)
    order = {status: i for i, status in enumerate(STATUSES)}
    unknown = -1  # bodies without a population after those with one
    rows.sort(
        key=lambda r: (
            order[r["obligated"]],
            -(unknown if r["population"] is None else r["population"]),
            r["id"],
        )
    )
    return rows


def family_coverage(rows: list[dict]) -> list[dict]:
    """Per family, among the listed obligated bodies of the kinds it concerns: how many have it."""
    coverage = []
    obligated = [r for r in rows if r["obligated"] == "yes"]
    datasets: Counter[str] = Counter()
    for r in rows:
        datasets.update(r["families"])
    for family in families().families.values():
        concerned = [r for r in obligated if family.concerns(r["kind"])]
        having = sum(1 for r in concerned if family.id in r["families"])
        coverage.append({
            "id": family.id,
            "label": family.label,
            "obligated": len(concerned),
            "having": having,
            "coverage": round(having / len(concerned), 4) if concerned else None,
            "missing": sum(1 for r in concerned if family.id in r["families_missing"]),
            "datasets": datasets[family.id],
        })  # fmt: skip
    return coverage


def summary(rows: list[dict], published: Publishing) -> dict:
    """Counts over the listed bodies: obligated (yes / unknown / no), of which publishing, and coverage
    (of bodies, and of each dataset family)."""
    counts = {status: sum(1 for r in rows if r["obligated"] == status) for status in STATUSES}
    obligated_publishing = sum(1 for r in rows if r["obligated"] == "yes" and r["publishing"])
    return {
        "bodies": len(rows),
        "obligated": counts["yes"],
        "obligation_unknown": counts["unknown"],
        "not_obligated": counts["no"],
        "obligated_publishing": obligated_publishing,
        "coverage": round(obligated_publishing / counts["yes"], 4) if counts["yes"] else None,
        "publishing": sum(1 for r in rows if r["publishing"]),
        # of the others: those whose website links to a portal or catalogue fedcat does not harvest yet
        "not_harvested_yet": sum(1 for r in rows if r.get("publication") == "not_harvested_yet"),
        "records": published.records,
        "records_matched": published.matched,
        "unmatched_publishers": len(published.unmatched),
        "families": family_coverage(rows),
    }


def with_discovered(published: Publishing, reports: list[dict]) -> Publishing:
    """`published` with the findings of `fedcat discover --bodies … --format json` output added (the
    stored ones are there already)."""
    found = {body: list(places) for body, places in published.found.items()}
    for report in reports:
        body = (report.get("body") or {}).get("id") if isinstance(report, dict) else None
        if not isinstance(body, str):
            continue
        for entry in report.get("sources") or []:
            found.setdefault(body, []).append({
                "type": entry["type"], "url": entry["url"], "website": report.get("url"),
                "found_on": entry.get("found_on"), "found_at": None, "seen_at": None,
                "confirmed": bool(entry.get("confirmed")), "probe": entry.get("probe") or "pattern only",
                "entry": {k: entry[k] for k in ("id", "name", "type", "url", "jurisdiction") if k in entry},
            })  # fmt: skip
    return replace(published, found=found)


def _host(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1].lower()


def where_it_publishes(rows: list[dict], published: Publishing) -> None:
    """Each row gains `publishes_on` (the sources it is matched through, harvested, then the catalogues,
    portals and websites its website links to, each `harvested` or not, with the date found, whether a
    probe confirmed it, and the `sources.yaml` entry proposed), `publication` (PUBLICATION) and
    `website_crawl` — so "no evidence in the harvested catalogues" is told apart from "publishes on a
    portal not harvested yet". A finding is harvested when a source has its type and URL, or (but for
    `website`s) its host and port."""
    known = {sid: (kind, url) for sid, kind, url in published.harvested}
    by_url = {(kind, url.rstrip("/")): sid for sid, kind, url in published.harvested}
    by_host = {_host(url): sid for sid, kind, url in published.harvested if kind != "website"}
    for row in rows:
        places = [
            {"type": known[sid][0], "url": known[sid][1], "source": sid, "harvested": True, "found_at": None,
             "found_on": None, "confirmed": True, "probe": "harvested", "entry": None}
            for sid in row["sources"] if sid in known
        ]  # fmt: skip
        seen = {(p["type"], p["url"].rstrip("/")) for p in places}
        for finding in published.found.get(row["id"], []):
            key = (finding["type"], finding["url"].rstrip("/"))
            if key in seen:
                continue
            seen.add(key)
            sid = by_url.get(key) or (by_host.get(_host(finding["url"])) if key[0] != "website" else None)
            places.append({
                "type": finding["type"], "url": finding["url"], "source": sid, "harvested": sid is not None,
                "found_at": finding["found_at"], "found_on": finding["found_on"],
                "confirmed": finding["confirmed"], "probe": finding["probe"],
                "entry": None if sid else finding["entry"],
            })  # fmt: skip
        row["publishes_on"] = places
        row["not_harvested_yet"] = [p["url"] for p in places if not p["harvested"]]
        row["publication"] = (
            "harvested"
            if row["publishing"]
            else "not_harvested_yet"
            if row["not_harvested_yet"]
            else "no_evidence"
        )
        row["website_crawl"] = published.crawls.get(row["id"])


def report(registry: Registry, published: Publishing, filters: Filters) -> dict:
    """The whole answer of `fedcat audit` and `/api/audit` (which pages `items`)."""
    rows = body_rows(registry, published, filters)
    where_it_publishes(rows, published)
    if filters.publication:
        rows = [r for r in rows if r["publication"] in filters.publication]
    rules = tables()[0]
    return {
        "summary": summary(rows, published),
        "rules": [
            {"id": r.id, "kinds": sorted(r.kinds) if r.kinds else None, "basis": r.basis} for r in rules
        ],
        "families": [f.describe() for f in families().families.values()],
        "registry": {
            "files": registry.files,
            "bodies": len(registry),
            "load_seconds": round(registry.load_seconds, 3),
            "problems": registry.problems,
            "skipped": dict(registry.skipped),
        },
        "items": rows,
        "unmatched": published.unmatched,
    }
