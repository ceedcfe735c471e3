"""What the index derives from a record beyond its own fields: the publisher name to show and the quality score.

Both depend on more than the record: the publisher's display on the other spellings of its source
(`mappings.publishers`), the quality score on the stored link checks of its URLs (and, once `fedcat
validate` stores them, SHACL results). They are computed where search documents are built, from the same
inputs, and the score is written to the store's `quality` table in the same pass, so the `quality` facet,
`/api/quality` and `fedcat quality` always agree with the index.

Keeping them current: `refresh` (run by every `sync_index`) recounts the spellings and marks
for re-indexing the records whose publisher display changed; `fedcat linkcheck` marks the records of the
sources it checked; records indexed before quality existed have no `quality` row and are marked too.

Cost (`python -m fedcat.bench.quality`, 100,000 generated records of 3 distributions, 2 cores shared with
other work, load ~8, so upper bounds): scoring 37-85 µs per dataset (4-8 s for all, paid at index time
beside building and indexing the document); the spelling recount 0.7 s per sync (2.2 s when it re-marks
merged spellings); `/api/quality` aggregates the stored rows in SQL in ~0.3 s, against ~4 s to decode and
score every record on the fly, hence the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import msgspec

from ..mappings.model import Dataset, Text, text_in
from ..mappings.publishers import PublisherNames, default_aliases
from ..mappings.quality import BAND_NAMES, DIMENSIONS, Aggregate, Quality, dataset_urls, score
from .store import Store


class Derived(NamedTuple):
    publisher: str  # "" when the dataset names no publisher
    quality: Quality


_texts = msgspec.json.Decoder(list[Text])


def publisher_name(dataset: Dataset) -> str:
    """The name a dataset's source gives its publisher (best language), before normalisation."""
    publisher = dataset.publisher
    return text_in(publisher.name).strip() if publisher else ""


def _spellings(store: Store) -> tuple[list[tuple[str, str, int]], dict[tuple[str, str], list[str]]]:
    """(source, spelling, live records) counts, and the stored JSON forms of each spelling (to find its records)."""
    counts: dict[tuple[str, str], int] = {}
    forms: dict[tuple[str, str], list[str]] = {}
    rows = store.db.execute(
        "SELECT r.source_id, json_extract(CAST(d.dataset AS TEXT), '$.publisher.name') AS names, count(*)"
        " FROM records r JOIN record_data d ON d.id = r.id WHERE r.withdrawn_at IS NULL GROUP BY 1, 2"
    )
    for source_id, names, count in rows:
        if not names:
            continue
        name = text_in(_texts.decode(names)).strip()
        if name:
            key = (source_id, name)
            counts[key] = counts.get(key, 0) + count
            forms.setdefault(key, []).append(names)
    return [(s, n, c) for (s, n), c in counts.items()], forms


def stored_names(store: Store) -> PublisherNames:
    """The publisher displays as last refreshed (cheap: no recount)."""
    rows = store.db.execute("SELECT source_id, name, display FROM publisher_names")
    return PublisherNames.from_mapping({(s, n): d for s, n, d in rows}, default_aliases())


def refresh(store: Store) -> PublisherNames:
    """Recount the spellings, mark the records whose display changed for re-indexing, save the displays.

    A record was indexed with the display of the last refresh, or (new spelling, indexed during a harvest)
    with `resolve`'s fallback: either way, `before.resolve` says what it was.
    """
    before = stored_names(store)
    counts, forms = _spellings(store)
    now = PublisherNames(counts, default_aliases())
    mapping = now.mapping()
    changed = [key for key, display in mapping.items() if before.resolve(*key) != display]
    with store.write() as db:
        if changed:  # one scan of the records, however many spellings changed
            db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS changed_names (source_id TEXT, form TEXT, PRIMARY KEY (source_id, form))"
            )
            db.execute("DELETE FROM temp.changed_names")
            db.executemany(
                "INSERT OR IGNORE INTO temp.changed_names VALUES (?, ?)",
                [(source_id, form) for source_id, name in changed for form in forms[(source_id, name)]],
            )
            db.execute(
                "UPDATE records SET indexed_version = 0 WHERE id IN (SELECT r.id FROM records r"
                " JOIN record_data d ON d.id = r.id JOIN temp.changed_names c ON c.source_id = r.source_id"
                " AND c.form = json_extract(CAST(d.dataset AS TEXT), '$.publisher.name')"
                " WHERE r.withdrawn_at IS NULL)"
            )
            db.execute("DELETE FROM temp.changed_names")
        db.execute("DELETE FROM publisher_names")
        db.executemany(
            "INSERT INTO publisher_names (source_id, name, display) VALUES (?, ?, ?)",
            [(s, n, d) for (s, n), d in mapping.items()],
        )
    return now


def mark_unscored(store: Store) -> int:
    """Mark live, indexed records without a quality row for re-indexing (records indexed before quality
    existed: their documents lack the `quality` facet too)."""
    with store.write() as db:
        return db.execute(
            "UPDATE records SET indexed_version = 0 WHERE withdrawn_at IS NULL AND indexed_version >= version"
            " AND NOT EXISTS (SELECT 1 FROM quality q WHERE q.id = records.id)"
        ).rowcount


def shacl_results(store: Store, ids: Iterable[str]) -> dict[str, bool]:
    """The DCAT-AP compliance indicator's input: id -> conforms, from `fedcat validate`'s stored results
    (only for records unchanged since they were validated; storing results marks them for re-scoring)."""
    from ..mappings.shacl import stored_conformance  # here: loading the shapes machinery costs start-up time

    return stored_conformance(store, ids)


def derive(
    store: Store, names: PublisherNames, records: list[tuple[str, str, Dataset]]
) -> dict[str, Derived]:
    """Publisher display and quality of (id, source id, dataset) records; writes their quality rows."""
    urls: set[str] = set()
    for _id, _source, dataset in records:
        urls |= dataset_urls(dataset)
    checks = {url: check["ok"] for url, check in store.link_checks(urls).items()}
    shacl = shacl_results(store, [r[0] for r in records])
    out: dict[str, Derived] = {}
    rows = []
    for fedcat_id, source_id, dataset in records:
        publisher = names.resolve(source_id, publisher_name(dataset))
        mine = {u: checks[u] for u in dataset_urls(dataset) if u in checks}
        quality = score(dataset, link_checks=mine, shacl_conforms=shacl.get(fedcat_id))
        out[fedcat_id] = Derived(publisher, quality)
        dims = [quality.dimensions[d] for d in DIMENSIONS]
        rows.append((fedcat_id, source_id, publisher or None, quality.total, quality.band, *dims))
    with store.write() as db:
        db.executemany(
            f"INSERT OR REPLACE INTO quality (id, source_id, publisher, total, band, {', '.join(DIMENSIONS)})"
            f" VALUES ({', '.join('?' * (5 + len(DIMENSIONS)))})",
            rows,
        )
    return out


def forget(store: Store, ids: list[str]) -> None:
    """Withdrawn records leave the quality reports with the index."""
    if ids:
        with store.write() as db:
            db.executemany("DELETE FROM quality WHERE id = ?", [(i,) for i in ids])


def quality_groups(
    store: Store, group_by: str | None, sources: Iterable[str] | None = None
) -> list[Aggregate]:
    """Aggregates of the stored scores of live records, largest groups first, in one SQL pass: per source
    id, publisher display ("" when none) or record id for `group_by` source, publisher or dataset; one
    group "*" of everything for None. (GROUP BY in SQLite: ~20x faster than decoding rows into Python.)"""
    key = {"source": "source_id", "publisher": "coalesce(publisher, '')", "dataset": "id", None: "'*'"}[
        group_by
    ]
    wanted = list(sources or ())
    where = f" WHERE source_id IN ({','.join('?' * len(wanted))})" if wanted else ""
    bands = ", ".join(f"sum(band = '{b}')" for b in BAND_NAMES)
    dims = ", ".join(f"avg({d})" for d in DIMENSIONS)
    rows = store.db.execute(
        f"SELECT {key} AS k, count(*) AS n, avg(total), min(total), max(total), {bands}, {dims}"
        f" FROM quality{where} GROUP BY k HAVING n > 0 ORDER BY n DESC, k",
        wanted,
    )
    found = []
    for k, n, mean, low, high, *rest in rows:
        found.append(
            Aggregate(
                key=k,
                datasets=n,
                mean=mean,
                min=low,
                max=high,
                bands=dict(zip(BAND_NAMES, rest[: len(BAND_NAMES)], strict=True)),
                dimensions=dict(zip(DIMENSIONS, rest[len(BAND_NAMES) :], strict=True)),
            )
        )
    return found


def quality_bands(store: Store, ids: list[str]) -> dict[str, str]:
    """id -> stored rating band (written at index time), for a page of search results in one query."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return dict(store.db.execute(f"SELECT id, band FROM quality WHERE id IN ({marks})", ids).fetchall())


def dataset_quality(store: Store, fedcat_id: str, dataset: Dataset) -> Quality:
    """One record's score with every indicator, from its stored link checks (for the dataset page)."""
    checks = {url: c["ok"] for url, c in store.link_checks(dataset_urls(dataset)).items()}
    return score(dataset, link_checks=checks, shacl_conforms=shacl_results(store, [fedcat_id]).get(fedcat_id))
