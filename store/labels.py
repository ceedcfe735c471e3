"""The labels sources give to the IRIs they use (a dataset's `labels`: themes of GEMET, AGROVOC, a
national thesaurus…, licences), kept per record as a view of the change feed, so that a facet value no
vocabulary of fedcat labels shows the label its sources give instead of its code.

`given(store, iris)` answers, per IRI and language, the label most records give (ties: the shortest, then
the first in order), for the few dozen facet values of a search page: one indexed query.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import feed
from .core import Store, chunks
from .feed import Change

# Text is stored array-like: [value] or [value, lang]
_EXTRACT = """
INSERT INTO iri_labels (iri, lang, label, id)
SELECT l.key, coalesce(json_extract(t.value, '$[1]'), ''), json_extract(t.value, '$[0]'), r.id
FROM records r JOIN record_data d ON d.id = r.id, json_each(CAST(d.dataset AS TEXT), '$.labels') l,
    json_each(l.value) t
WHERE r.withdrawn_at IS NULL AND r.id IN ({marks}) AND json_extract(t.value, '$[0]') IS NOT NULL
"""


class SourceLabels:
    """`iri_labels` follows the records: a changed record's labels read again, a withdrawn one's dropped."""

    name = "labels"

    def __init__(self, store: Store) -> None:
        self.store = store

    def apply(self, changes: list[Change]) -> None:
        ids = sorted({c.id for c in changes if c.kind not in feed.DERIVED})
        with self.store.write() as db:
            for chunk in chunks(ids):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM iri_labels WHERE id IN ({marks})", chunk)
                db.execute(_EXTRACT.format(marks=marks), chunk)


def catch_up(store: Store) -> int:
    """Bring `iri_labels` up to date with the change feed; returns how many entries were read."""
    return feed.catch_up(store, SourceLabels(store))


def given(store: Store, iris: Iterable[str]) -> dict[str, dict[str, str]]:
    """IRI -> {language ('' when none given): the label most of its records give}."""
    best: dict[tuple[str, str], tuple[int, int, str]] = {}  # (iri, lang) -> (-records, length, label)
    for chunk in chunks(sorted(set(iris))):
        rows = store.db.execute(
            f"SELECT iri, lang, label, count(*) FROM iri_labels WHERE iri IN ({','.join('?' * len(chunk))})"
            " GROUP BY iri, lang, label",  # in the covering index's order: no sort
            chunk,
        )
        for iri, lang, label, n in rows:
            rank = (-n, len(label), label)
            if (iri, lang) not in best or rank < best[iri, lang]:
                best[iri, lang] = rank
    found: dict[str, dict[str, str]] = {}
    for (iri, lang), (_n, _length, label) in sorted(best.items()):
        found.setdefault(iri, {})[lang] = label
    return found
