"""What the index derives from a record beyond its own fields: the publisher name to show and the quality score.

Both depend on more than the record: the publisher's display on the other spellings of its source
(`mappings.publishers`), the quality score on the stored link checks of its URLs (and, once `fedcat
validate` stores them, SHACL results). They are computed where search documents are built, from the same
inputs, and the score is written to the store's `quality` table in the same pass, so the `quality` facet,
`/api/quality` and `fedcat quality` always agree with the index.

Keeping them current: an input changing appends a `rescored` entry to the change feed for the records it
touches, which the search view then re-derives: `refresh` (run by every `sync_index`) for the records whose
publisher display changed, `fedcat linkcheck` for the records of the sources it checked, `fedcat validate`
for the records it validated.

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
from ..mappings.quality import Quality, dataset_urls, score
from ..store import Store
from ..store import quality as stored_quality
from ..store import shacl as stored_shacl


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
    for source_id, names, count in stored_quality.publisher_spellings(store):
        name = text_in(_texts.decode(names)).strip()
        if name:
            key = (source_id, name)
            counts[key] = counts.get(key, 0) + count
            forms.setdefault(key, []).append(names)
    return [(s, n, c) for (s, n), c in counts.items()], forms


def stored_names(store: Store) -> PublisherNames:
    """The publisher displays as last refreshed (cheap: no recount)."""
    return PublisherNames.from_mapping(stored_quality.publisher_displays(store), default_aliases())


def refresh(store: Store) -> PublisherNames:
    """Recount the spellings, re-score the records whose display changed (feed entries), save the displays.

    A record was indexed with the display of the last refresh, or (new spelling, indexed during a harvest)
    with `resolve`'s fallback: either way, `before.resolve` says what it was.
    """
    before = stored_names(store)
    counts, forms = _spellings(store)
    now = PublisherNames(counts, default_aliases())
    mapping = now.mapping()
    changed = [key for key, display in mapping.items() if before.resolve(*key) != display]
    stored_quality.save_publisher_displays(
        store,
        mapping,
        [(source_id, form) for source_id, name in changed for form in forms[(source_id, name)]],
    )
    return now


forget = stored_quality.forget
quality_groups = stored_quality.quality_groups
quality_bands = stored_quality.bands


def shacl_results(store: Store, ids: Iterable[str]) -> dict[str, bool]:
    """The DCAT-AP compliance indicator's input: id -> conforms, from `fedcat validate`'s stored results
    (only for records unchanged since they were validated; storing results marks them for re-scoring)."""
    return stored_shacl.conformance(store, ids)


def derive(
    store: Store, names: PublisherNames, records: list[tuple[str, str, Dataset]]
) -> dict[str, Derived]:
    """Publisher display and quality of (id, source id, dataset) records; writes their quality rows."""
    each = [dataset_urls(dataset) for _id, _source, dataset in records]
    checked = store.link_checks(set().union(*each))
    checks = {url: check["ok"] for url, check in checked.items()}
    shacl = shacl_results(store, [r[0] for r in records])
    out: dict[str, Derived] = {}
    scores = []
    for (fedcat_id, source_id, dataset), urls in zip(records, each, strict=True):
        publisher = names.resolve(source_id, publisher_name(dataset))
        mine = {u: checks[u] for u in urls if u in checks} if checks else None
        quality = score(dataset, link_checks=mine, shacl_conforms=shacl.get(fedcat_id))
        out[fedcat_id] = Derived(publisher, quality)
        scores.append((fedcat_id, source_id, publisher, quality))
    stored_quality.save_scores(store, scores)
    return out


def dataset_quality(store: Store, fedcat_id: str, dataset: Dataset) -> Quality:
    """One record's score with every indicator, from its stored link checks (for the dataset page)."""
    checks = {url: c["ok"] for url, c in store.link_checks(dataset_urls(dataset)).items()}
    return score(dataset, link_checks=checks, shacl_conforms=shacl_results(store, [fedcat_id]).get(fedcat_id))
