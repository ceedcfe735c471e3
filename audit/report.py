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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec

from ..indexer.store import Store
from ..mappings.model import Text, text_in
from .families import families, recognise
from .match import Matcher
from .registry import Body, Registry
from .rules import STATUSES, obligation, open_formats, tables

FACTS = (
    """CREATE TABLE IF NOT EXISTS audit_facts (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    publisher TEXT NOT NULL,      -- the publisher's names as stored (JSON); '' when none, as below
    identifier TEXT NOT NULL,
    publisher_uri TEXT NOT NULL,
    dataset TEXT NOT NULL,        -- copies of one dataset share it: the source IRI, else the record id
    modified TEXT,
    licences TEXT NOT NULL,       -- JSON array: the dataset's licence, else its distributions'
    formats TEXT NOT NULL,        -- JSON array: its distributions' formats and media types
    hvd INTEGER NOT NULL,
    families TEXT                 -- JSON array of family ids (families.yaml); NULL when none
)""",
    "CREATE INDEX IF NOT EXISTS audit_facts_by_publisher"
    " ON audit_facts (source_id, publisher, identifier, publisher_uri)",
    "CREATE INDEX IF NOT EXISTS audit_facts_with_families ON audit_facts (id) WHERE families IS NOT NULL",
)
FACTS_VERSION = 2  # bump when the facts read from a record change: every store recomputes them
_STATE = "CREATE TABLE IF NOT EXISTS audit_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_CHANGED = (
    "SELECT r.id FROM records r LEFT JOIN audit_facts f ON f.id = r.id"
    " WHERE r.id > ? AND (CASE WHEN r.withdrawn_at IS NULL THEN f.version IS NOT r.version ELSE f.id IS NOT NULL END)"
    " ORDER BY r.id LIMIT ?"
)
_EXTRACT = """
INSERT INTO audit_facts
SELECT r.id, r.version, r.source_id,
    coalesce(json_extract(t, '$.publisher.name'), ''), coalesce(json_extract(t, '$.publisher.identifier'), ''),
    coalesce(json_extract(t, '$.publisher.uri'), ''), coalesce(r.original_uri, r.id), json_extract(t, '$.modified'),
    CASE WHEN json_extract(t, '$.licence') IS NOT NULL THEN json_array(json_extract(t, '$.licence'))
        ELSE (SELECT json_group_array(DISTINCT json_extract(value, '$.licence')) FROM json_each(t, '$.distributions')
              WHERE json_extract(value, '$.licence') IS NOT NULL) END,
    (SELECT json_group_array(DISTINCT v) FROM (
        SELECT json_extract(value, '$.format') AS v FROM json_each(t, '$.distributions')
        UNION ALL SELECT json_extract(value, '$.media_type') FROM json_each(t, '$.distributions')) WHERE v IS NOT NULL),
    coalesce(json_array_length(t, '$.hvd_categories'), 0) > 0,
    audit_families(t)
FROM records r JOIN (SELECT id, CAST(dataset AS TEXT) AS t FROM record_data) d ON d.id = r.id
WHERE r.withdrawn_at IS NULL AND r.id IN ({marks})
"""
AUDIT_COLUMNS = (
    "id", "name", "kind", "population", "agents", "obligated", "why", "publishing", "datasets", "last_modified",
    "open_licence_share", "open_format_share", "quality_mean", "hvd_datasets", "families", "families_missing",
    "sources", "matched_by",
)  # fmt: skip
_DEPARTEMENT = re.compile(r"^(?:\d{2,3}|2[AB])$")
_JURISDICTION = re.compile(r"^[a-z]+:[^\s:]+$")
BATCH = 2000  # records re-read per write transaction: a harvest running beside waits at most that long
_texts = msgspec.json.Decoder(list[Text])


def refresh_facts(store: Store) -> int:
    """Bring `audit_facts` up to date with the live records; returns how many records were re-read."""
    stamp = f"{FACTS_VERSION}:{families().stamp}"
    with store.write() as db:
        db.execute(_STATE)
        made = db.execute("SELECT value FROM audit_state WHERE key = 'facts'").fetchone()
        if made is None or made[0] != stamp:  # older facts, or another families table: made again
            db.execute("DROP TABLE IF EXISTS audit_facts")
            db.execute("INSERT OR REPLACE INTO audit_state VALUES ('facts', ?)", (stamp,))
        for statement in FACTS:
            db.execute(statement)
    done, last = 0, ""
    while True:
        with store.write() as db:
            db.create_function("audit_families", 1, recognise, deterministic=True)
            ids = [row[0] for row in db.execute(_CHANGED, (last, BATCH))]
            if not ids:
                return done
            marks = ",".join("?" * len(ids))
            db.execute(f"DELETE FROM audit_facts WHERE id IN ({marks})", ids)
            db.execute(_EXTRACT.format(marks=marks), ids)
        done, last = done + len(ids), ids[-1]


@dataclass
class Publishing:
    """What the store says each body publishes, and the publishers no body was found for."""

    # body id -> datasets, last_modified, open_licence_share, open_format_share, hvd_datasets, quality_mean,
    # families (family id -> datasets, in table order), sources, matched_by
    bodies: dict[str, dict[str, Any]]
    unmatched: list[dict[str, Any]]  # source, publisher, identifier, datasets, why; most datasets first
    records: int  # live records read
    matched: int  # of which matched to a body


def published_by_body(store: Store, registry: Registry, jurisdictions: dict[str, str]) -> Publishing:
    """Match every publisher of the store to a body and aggregate what each body publishes (in SQL).
    `jurisdictions`: source id -> jurisdiction key, from the config (sources it no longer lists: the store's)."""
    refresh_facts(store)
    db = store.db
    jurisdictions = {**dict(db.execute("SELECT id, jurisdiction FROM sources")), **jurisdictions}
    matcher = Matcher(registry)
    matches, unmatched = [], []
    sources: dict[str, set[str]] = {}
    methods: dict[str, set[str]] = {}
    records = matched = 0
    for source_id, names, identifier, uri, count in db.execute(
        "SELECT source_id, publisher, identifier, publisher_uri, count(*) FROM audit_facts GROUP BY 1, 2, 3, 4"
    ):
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
    with store.write() as db:  # a temporary table: only this connection sees it
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS audit_matches (source_id TEXT, publisher TEXT, identifier TEXT,"
            " publisher_uri TEXT, body TEXT, PRIMARY KEY (source_id, publisher, identifier, publisher_uri))"
        )
        db.execute("DELETE FROM temp.audit_matches")
        db.executemany("INSERT INTO temp.audit_matches VALUES (?, ?, ?, ?, ?)", matches)
    lic_marks, fmt_marks = ",".join("?" * len(licences)), ",".join("?" * len(formats))
    rows = db.execute(
        f"""SELECT body, count(*), max(modified), sum(open_licence), sum(open_format), sum(hvd), avg(score)
        FROM (SELECT m.body, f.dataset, max(f.modified) AS modified,
                max(json_array_length(f.licences) > 0 AND NOT EXISTS (SELECT 1 FROM json_each(f.licences)
                    WHERE value NOT IN ({lic_marks}))) AS open_licence,
                max(EXISTS (SELECT 1 FROM json_each(f.formats) WHERE value IN ({fmt_marks}))) AS open_format,
                max(f.hvd) AS hvd, avg(q.total) AS score
            FROM audit_facts f
            JOIN temp.audit_matches m ON m.source_id = f.source_id AND m.publisher = f.publisher
                AND m.identifier = f.identifier AND m.publisher_uri = f.publisher_uri
            LEFT JOIN quality q ON q.id = f.id
            GROUP BY m.body, f.dataset)
        GROUP BY body""",
        [*sorted(licences), *sorted(formats)],
    )
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
        db.execute(
            """SELECT m.body, j.value, count(DISTINCT f.dataset)
            FROM audit_facts f
            JOIN temp.audit_matches m ON m.source_id = f.source_id AND m.publisher = f.publisher
                AND m.identifier = f.identifier AND m.publisher_uri = f.publisher_uri
            JOIN json_each(f.families) j
            WHERE f.families IS NOT NULL
            GROUP BY 1, 2"""
        ),
        key=lambda row: order.get(row[1], len(order)),
    ):
        bodies[body]["families"][family] = n
    unmatched.sort(key=lambda u: (-u["datasets"], u["source"], u["publisher"]))
    return Publishing(bodies, unmatched, records, matched)


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()
    within: tuple[str, ...] = ()  # jurisdiction keys ("departement:59"): bodies lying in any of them
    obligated_only: bool = False
    not_publishing: bool = False
    has: tuple[str, ...] = ()  # family ids: bodies with a dataset of each
    missing: tuple[str, ...] = ()  # family ids: bodies of a kind each concerns, without a dataset of it


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
) -> Filters:
    """Checked filters (a misspelt kind or family would otherwise silently list nothing)."""
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
        "records": published.records,
        "records_matched": published.matched,
        "unmatched_publishers": len(published.unmatched),
        "families": family_coverage(rows),
    }


def report(registry: Registry, published: Publishing, filters: Filters) -> dict:
    """The whole answer of `fedcat audit` and `/api/audit` (which pages `items`)."""
    rows = body_rows(registry, published, filters)
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
