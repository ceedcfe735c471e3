"""The audit's reads and writes: `audit_facts` (what the report needs of each live record, kept up to date
from the records' versions) and the aggregates per body over it (see `audit.report`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import feed
from .core import Store
from .feed import Change
from .schema import AUDIT_FACTS, AUDIT_STATE, statements

_EXTRACT = """
INSERT INTO audit_facts
SELECT r.id, r.source_id,
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
BATCH = 2000  # records re-read per write transaction: a harvest running beside waits at most that long


class AuditFacts:
    """`audit_facts` as a view of the change feed: a changed record's facts are read again (in SQL, but
    for its families, recognised in Python by `recognise`), a withdrawn record's dropped."""

    name = "audit"

    def __init__(self, store: Store, recognise: Callable[[str], str | None]) -> None:
        self.store, self.recognise, self.records = store, recognise, 0

    def apply(self, changes: list[Change]) -> None:
        ids = sorted({c.id for c in changes if c.kind not in feed.DERIVED})
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        with self.store.write() as db:
            db.create_function("audit_families", 1, self.recognise, deterministic=True)
            db.execute(f"DELETE FROM audit_facts WHERE id IN ({marks})", ids)
            self.records += db.execute(_EXTRACT.format(marks=marks), ids).rowcount


def refresh_facts(store: Store, stamp: str, recognise: Callable[[str], str | None]) -> int:
    """Bring `audit_facts` up to date with the change feed; returns how many live records were read again.
    `stamp` names what the facts are made with (made again from every record when it changes);
    `recognise` gives a record's dataset JSON its expected families (a JSON array, or None)."""
    with store.write() as db:
        for statement in statements(AUDIT_STATE):
            db.execute(statement)
        made = db.execute("SELECT value FROM audit_state WHERE key = 'facts'").fetchone()
        if made is None or made[0] != stamp:  # older facts, or another families table: made again
            db.execute("DROP TABLE IF EXISTS audit_facts")
            for statement in statements(AUDIT_FACTS):
                db.execute(statement)
            db.execute("INSERT OR REPLACE INTO audit_state VALUES ('facts', ?)", (stamp,))
            db.execute("INSERT OR REPLACE INTO cursors (view, seq) VALUES (?, 0)", (AuditFacts.name,))
    view = AuditFacts(store, recognise)
    feed.catch_up(store, view, batch=BATCH)
    return view.records


def source_jurisdictions(store: Store) -> dict[str, str]:
    return {source_id: j for source_id, j in store.db.execute("SELECT id, jurisdiction FROM sources")}


def source_places(store: Store) -> list[tuple[str, str, str]]:
    """(id, type, url) of every source the store has harvested."""
    return [tuple(row) for row in store.db.execute("SELECT id, type, url FROM sources")]


def publisher_groups(store: Store) -> Iterator[tuple[str, str, str, str, int]]:
    """(source id, publisher names as stored JSON, identifier, publisher URI, live records) per publisher."""
    yield from store.db.execute(
        "SELECT source_id, publisher, identifier, publisher_uri, count(*) FROM audit_facts GROUP BY 1, 2, 3, 4"
    )


def set_matches(store: Store, matches: Sequence[tuple[str, str, str, str, str]]) -> None:
    """The body each publisher group was matched to, for the aggregates below (a temporary table: only
    this thread's connection sees it)."""
    with store.write() as db:
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS audit_matches (source_id TEXT, publisher TEXT, identifier TEXT,"
            " publisher_uri TEXT, body TEXT, PRIMARY KEY (source_id, publisher, identifier, publisher_uri))"
        )
        db.execute("DELETE FROM temp.audit_matches")
        db.executemany("INSERT INTO temp.audit_matches VALUES (?, ?, ?, ?, ?)", matches)


def body_totals(store: Store, open_licences: Sequence[str], open_formats: Sequence[str]) -> list[Any]:
    """Per matched body (copies of one dataset counted once): (body, datasets, last modified, with an open
    licence, with an open format, HVD, mean quality score)."""
    lic_marks, fmt_marks = ",".join("?" * len(open_licences)), ",".join("?" * len(open_formats))
    return store.db.execute(
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
        [*open_licences, *open_formats],
    ).fetchall()


def body_families(store: Store) -> list[tuple[str, str, int]]:
    """(body, family id, datasets) for the matched bodies' records that have a family."""
    return store.db.execute(
        """SELECT m.body, j.value, count(DISTINCT f.dataset)
        FROM audit_facts f
        JOIN temp.audit_matches m ON m.source_id = f.source_id AND m.publisher = f.publisher
            AND m.identifier = f.identifier AND m.publisher_uri = f.publisher_uri
        JOIN json_each(f.families) j
        WHERE f.families IS NOT NULL
        GROUP BY 1, 2"""
    ).fetchall()
