"""Derive the flat search document of a stored record, and keep a backend in step with the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import msgspec

from ..federation import view as federation
from ..federation.areas import Areas, areas_for
from ..mappings.dates import sort_key
from ..mappings.geometry import extent
from ..mappings.model import Dataset, dataset_from_json, text_in
from ..mappings.publishers import PublisherNames
from ..store import Store, feed, gc_paused
from ..store import labels as source_labels
from ..store.federation import FederationTables
from ..store.feed import Change, latest
from ..store.reuses import Reuses
from . import derived
from .backend import SearchBackend, SearchDocument

if TYPE_CHECKING:  # the settings are read, never imported at run time: the harvester imports the indexer
    from ..harvester.sources import Settings

log = logging.getLogger("fedcat.index")


def _texts(values) -> str:
    return " ".join(t.value for t in values)


def search_document(
    fedcat_id: str,
    source_id: str,
    dataset: Dataset,
    jurisdiction: str | Iterable[str] | None = None,
    *,
    publisher_name: str | None = None,
    quality: str | None = None,
    reused: bool = False,
) -> SearchDocument:
    """All languages go into the full-text fields; facets hold controlled URIs or exact values.

    `publisher_name` is the normalised name for the facet (`indexer.derived`; default: the source's own),
    `quality` the MQA rating band, `reused` whether a portal lists a reuse of it.
    """
    publisher = dataset.publisher
    if publisher_name is None:
        publisher_name = text_in(publisher.name) if publisher else ""
    formats = {d.format for d in dataset.distributions if d.format}
    licences = (
        {dataset.licence} if dataset.licence else {d.licence for d in dataset.distributions if d.licence}
    )
    return SearchDocument(
        id=fedcat_id,
        title=_texts(dataset.title),
        description=_texts(dataset.description_text or dataset.description),
        keywords_text=_texts(dataset.keywords),
        publisher_text=" ".join(t.value for t in publisher.name) if publisher else "",
        modified=sort_key(dataset.modified or dataset.issued),
        publisher=[publisher_name] if publisher_name else [],
        theme=sorted(set(dataset.themes)),
        format=sorted(formats),
        licence=sorted(licences),
        keyword=sorted({k.value.strip().lower() for k in dataset.keywords if k.value.strip()}),
        source=[source_id],
        jurisdiction=[jurisdiction] if isinstance(jurisdiction, str) else list(jurisdiction or ()),
        language=sorted(set(dataset.language)),
        quality=[quality] if quality else [],
        has_reuses=["true" if reused else "false"],
        bbox=list(_coverage(dataset) or ()),
    )


def _coverage(dataset: Dataset) -> tuple[float, float, float, float] | None:
    """The dataset's spatial coverage: its places' dcat:bbox, else their locn:geometry, else centroids."""
    for attribute in ("bbox", "geometry", "centroid"):
        found = extent([w for place in dataset.spatial if (w := getattr(place, attribute))])
        if found:
            return found
    return None


def _documents(
    store: Store,
    names: PublisherNames,
    source_ids: dict[str, str],
    jurisdictions: Mapping[str, str | None],
    datasets: dict[str, Dataset],
    areas: Areas | None = None,
) -> list[SearchDocument]:
    """Search documents with their derived publisher name and quality (whose scores this stores)."""
    found = derived.derive(store, names, [(i, source_ids[i], d) for i, d in datasets.items()])
    reused = Reuses(store).reused(list(datasets))
    return [
        search_document(
            i,
            source_ids[i],
            d,
            areas.of(d, jurisdictions.get(source_ids[i])) if areas else jurisdictions.get(source_ids[i]),
            publisher_name=found[i].publisher,
            quality=found[i].quality.band,
            reused=i in reused,
        )
        for i, d in datasets.items()
    ]


class SearchView:
    """The search index (and the quality scores its documents carry) as a view of the change feed."""

    def __init__(
        self,
        store: Store,
        backend: SearchBackend,
        jurisdictions: dict[str, str | None],
        names: PublisherNames,
        areas: Areas | None = None,
    ) -> None:
        self.store, self.backend, self.jurisdictions, self.names = store, backend, jurisdictions, names
        self.areas = areas  # the registry's areas: each record indexed in its area and all containing it
        self.name = backend.view_name  # the cursor: each index (an Elasticsearch alias too) has its own

    def apply(self, changes: list[Change]) -> None:
        with gc_paused():
            records = self.store.current(latest(changes))
            deletes = [i for i, r in records.items() if r.withdrawn]
            datasets = {i: dataset_from_json(r.dataset) for i, r in records.items() if not r.withdrawn}
            source_ids = {i: records[i].source_id for i in datasets}
            upserts = (
                _documents(self.store, self.names, source_ids, self.jurisdictions, datasets, self.areas)
                if datasets
                else []
            )
            upserts, collapsed = _collapse(
                self.store, self.names, self.jurisdictions, upserts, list(records), self.areas
            )
            if deletes:  # withdrawn: no document, no score
                self.backend.delete(deletes)
                derived.forget(self.store, deletes)
            if collapsed:  # copies shown by their cluster's document: no document of their own, scores kept
                self.backend.delete(collapsed)
            if upserts:
                self.backend.upsert(upserts)
            self.backend.commit()


def _collapse(
    store: Store,
    names: PublisherNames,
    jurisdictions: dict[str, str | None],
    documents: list[SearchDocument],
    changed: list[str],
    areas: Areas | None = None,
) -> tuple[list[SearchDocument], list[str]]:
    """One document per cluster (`fedcat.federation`): the canonical copy's, under its id, carrying every
    copy's facet values (so facets count clusters) and the other copies' titles as searchable text.

    Returns the documents to write and the ids whose documents go (copies that are not canonical). Records
    not clustered yet (the federation view runs before each sync) keep a document of their own.
    """
    tables = FederationTables(store)
    clusters = tables.clusters_of(changed)
    if not clusters:
        return documents, []
    own = {d.id: d for d in documents}
    drop = [i for i, c in clusters.items() if c != i]
    members = tables.members(sorted(set(clusters.values())))
    missing = [m["id"] for copies in members.values() for m in copies if m["id"] not in own]
    if missing:
        found = store.datasets(missing)
        sources = {i: r["source_id"] for i, r in found.items()}
        extra = _documents(
            store, names, sources, jurisdictions, {i: r["dataset"] for i, r in found.items()}, areas
        )
        own.update((d.id, d) for d in extra)
    out = [d for d in documents if d.id not in clusters]
    for cluster_id, copies in members.items():
        docs = [own[m["id"]] for m in copies if m["id"] in own]
        if docs and docs[0].id == cluster_id:
            out.append(merge_documents(docs))
    return out, drop


def merge_documents(docs: list[SearchDocument]) -> SearchDocument:
    """The cluster's document: the canonical (first) document, facets the union of every copy's, text
    fields searching every copy's words (shown: the canonical copy's, read from the store)."""
    first = docs[0]
    if len(docs) == 1:
        return first
    facets = {
        name: sorted({v for d in docs for v in getattr(d, name)})
        for name in (
            "publisher",
            "theme",
            "format",
            "licence",
            "keyword",
            "source",
            "jurisdiction",
            "language",
        )
    }
    # every copy's words find the cluster: the other copies' distinct titles and descriptions as text
    titles = " ".join(dict.fromkeys(d.title for d in docs[1:] if d.title and d.title != first.title))
    descriptions = " ".join(
        dict.fromkeys(d.description for d in docs[1:] if d.description and d.description != first.description)
    )
    bbox = next((d.bbox for d in docs if d.bbox), [])  # the canonical copy's, else another copy's
    # a reuse of any copy belongs to the cluster
    reused = ["true"] if any("true" in d.has_reuses for d in docs) else first.has_reuses
    return msgspec.structs.replace(
        first,
        has_reuses=reused,
        keywords_text=f"{first.keywords_text} {titles}".strip(),
        description=f"{first.description} {descriptions}".strip(),
        bbox=bbox,
        **facets,
    )


def _jurisdictions(store: Store) -> dict[str, str | None]:
    return {s["id"]: s["jurisdiction"] for s in store.sources()}


def sync_index(
    store: Store,
    backend: SearchBackend,
    jurisdictions: dict[str, str | None] | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 5000,
    settings: Settings | None = None,
) -> int:
    """Bring the index up to date with the change feed; returns how many entries were read.

    The federation view catches up first: the records whose cluster changed get a `rescored` entry, so
    this same catch-up rewrites their cluster's document (one per cluster). `settings` give the registry
    files (areas), the federation's overrides and threshold.

    Safe to run at any time and after any crash: the view's cursor says what is left.
    """
    # may append `rescored` entries: the records whose publisher display changed (records indexed during
    # a harvest used the displays of the previous refresh)
    names = derived.refresh(store)
    areas = areas_for(settings.bodies) if settings and settings.bodies else None
    federation.catch_up(store, settings, areas)
    source_labels.catch_up(store)  # the labels sources give, for the facets of what is indexed next
    view = SearchView(store, backend, jurisdictions or _jurisdictions(store), names, areas)
    return feed.catch_up(store, view, batch=batch, progress=progress)


class IndexFeed:
    """Index records as a harvest writes them, before `sync_index` runs.

    The search engine then indexes a page (in its own threads, for tantivy) while the harvester fetches
    and parses the next one, instead of everything waiting for the end of the run. The contract stays the
    feed's: the view's cursor moves only once the backend has committed, so a crash or an index failure
    leaves the entries to the next `sync_index`. The feed commits every `commit_every` documents (each
    commit costs ~0.1-0.3 s, and the engine buffers what is not committed yet) and in `flush`, which then
    catches the view up, skipping the entries it indexed itself (and applying the others: withdrawals,
    other writers'). An index error is logged and stops the feed; `sync_index` does its work later.
    """

    def __init__(
        self,
        store: Store,
        backend: SearchBackend,
        commit_every: int = 10_000,
        settings: Settings | None = None,
    ) -> None:
        self.store, self.backend, self.commit_every = store, backend, commit_every
        self.names = derived.stored_names(store)  # new spellings are settled by the sync after the run
        # documents as the sync makes them: areas of the registry, one document per cluster already known
        # (new records' clusters are settled by the sync after the run, which re-indexes what they change)
        self.areas = areas_for(settings.bodies) if settings and settings.bodies else None
        self.jurisdictions = _jurisdictions(store)
        self._sent: list[int] = []  # feed positions sent to the backend, not committed yet
        self._indexed: set[int] = set()  # committed, and not yet passed by the view's cursor
        self.failed = False

    def add(
        self, source_id: str, jurisdiction: str | None, records: Iterable[tuple[str, int, Dataset]]
    ) -> None:
        """Index (fedcat id, feed position, dataset) of records the store has just written."""
        if self.failed:
            return
        records = list(records)
        jurisdictions = {**self.jurisdictions, source_id: jurisdiction}
        try:
            documents = _documents(
                self.store,
                self.names,
                {fedcat_id: source_id for fedcat_id, _, _ in records},
                jurisdictions,
                {fedcat_id: dataset for fedcat_id, _, dataset in records},
                self.areas,
            )
            documents, collapsed = _collapse(
                self.store, self.names, jurisdictions, documents, [r[0] for r in records], self.areas
            )
            if collapsed:
                self.backend.delete(collapsed)
            self.backend.upsert(documents)
        except Exception:
            log.exception("indexing during the harvest failed; the records stay pending for the next sync")
            self.failed = True
            return
        self._sent.extend(seq for _, seq, _ in records)
        if len(self._sent) >= self.commit_every:
            self.flush()

    def flush(self) -> None:
        """Commit what was sent, then catch the view up past it."""
        if self.failed or not self._sent:
            return
        try:
            self.backend.commit()
            self._indexed.update(self._sent)
            self._sent = []
            view = SearchView(self.store, self.backend, _jurisdictions(self.store), self.names, self.areas)
            feed.catch_up(self.store, view, skip=lambda change: change.seq in self._indexed)
            at = feed.cursor(self.store, view.name)
            self._indexed = {seq for seq in self._indexed if seq > at}
        except Exception:
            log.exception(
                "index commit during the harvest failed; the records stay pending for the next sync"
            )
            self.failed = True


def rebuild_index(
    store: Store,
    backend: SearchBackend,
    jurisdictions: dict[str, str | None] | None = None,
    progress: Callable[[int], None] | None = None,
    settings: Settings | None = None,
) -> int:
    """Rebuild the index from the store (after a crash, a mapping change or an engine change): the view's
    cursor goes back to the feed's start.

    Inside `backend.rebuilding()`: Elasticsearch searches keep the old generation until the new one is whole.
    """
    with backend.rebuilding():
        feed.reset(store, backend.view_name)
        return sync_index(store, backend, jurisdictions, progress, settings=settings)
