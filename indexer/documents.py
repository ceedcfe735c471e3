"""Derive the flat search document of a stored record, and keep a backend in step with the store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from ..mappings.dates import sort_key
from ..mappings.model import Dataset, dataset_from_json, text_in
from ..mappings.publishers import PublisherNames
from ..store import Store, gc_paused
from . import derived
from .backend import SearchBackend, SearchDocument

log = logging.getLogger("fedcat.index")


def _texts(values) -> str:
    return " ".join(t.value for t in values)


def search_document(
    fedcat_id: str,
    source_id: str,
    dataset: Dataset,
    jurisdiction: str | None = None,
    *,
    publisher_name: str | None = None,
    quality: str | None = None,
) -> SearchDocument:
    """All languages go into the full-text fields; facets hold controlled URIs or exact values.

    `publisher_name` is the normalised name for the facet (`indexer.derived`; default: the source's own),
    `quality` the MQA rating band.
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
        description=_texts(dataset.description),
        keywords_text=_texts(dataset.keywords),
        publisher_text=" ".join(t.value for t in publisher.name) if publisher else "",
        modified=sort_key(dataset.modified or dataset.issued),
        publisher=[publisher_name] if publisher_name else [],
        theme=sorted(set(dataset.themes)),
        format=sorted(formats),
        licence=sorted(licences),
        keyword=sorted({k.value.strip().lower() for k in dataset.keywords if k.value.strip()}),
        source=[source_id],
        jurisdiction=[jurisdiction] if jurisdiction else [],
        language=sorted(set(dataset.language)),
        quality=[quality] if quality else [],
    )


def _documents(
    store: Store,
    names: PublisherNames,
    source_ids: dict[str, str],
    jurisdictions: Mapping[str, str | None],
    datasets: dict[str, Dataset],
) -> list[SearchDocument]:
    """Search documents with their derived publisher name and quality (whose scores this stores)."""
    found = derived.derive(store, names, [(i, source_ids[i], d) for i, d in datasets.items()])
    return [
        search_document(
            i,
            source_ids[i],
            d,
            jurisdictions.get(source_ids[i]),
            publisher_name=found[i].publisher,
            quality=found[i].quality.band,
        )
        for i, d in datasets.items()
    ]


def sync_index(
    store: Store,
    backend: SearchBackend,
    jurisdictions: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 5000,
) -> int:
    """Bring the index up to date with every record changed since it was last indexed; returns how many.

    Safe to run at any time and after any crash: the store's versions say what is stale.
    """
    if jurisdictions is None:
        jurisdictions = {s["id"]: s["jurisdiction"] for s in store.sources()}
    derived.mark_unscored(store)
    # may mark records for re-indexing: those whose publisher display changed (records indexed during a
    # harvest used the displays of the previous refresh)
    names = derived.refresh(store)
    done = 0
    while True:
        with gc_paused():
            pending = store.pending_index(batch)
            if not pending:
                break
            _index_batch(store, backend, pending, jurisdictions, names)
        done += len(pending)
        if progress:
            progress(len(pending))
    return done


def _index_batch(
    store: Store,
    backend: SearchBackend,
    pending: list[tuple[str, str, bytes | None, int]],
    jurisdictions: dict[str, str],
    names: PublisherNames,
) -> None:
    deletes: list[str] = []
    datasets: dict[str, Dataset] = {}
    source_ids: dict[str, str] = {}
    for fedcat_id, source_id, data, _version in pending:
        if data is None:
            deletes.append(fedcat_id)
        else:
            datasets[fedcat_id], source_ids[fedcat_id] = dataset_from_json(data), source_id
    upserts = _documents(store, names, source_ids, jurisdictions, datasets) if datasets else []
    if deletes:
        backend.delete(deletes)
        derived.forget(store, deletes)
    if upserts:
        backend.upsert(upserts)
    backend.commit()
    store.mark_indexed([(row[0], row[3]) for row in pending])


class IndexFeed:
    """Index records as a harvest writes them, before `sync_index` runs.

    The search engine then indexes a page (in its own threads, for tantivy) while the harvester fetches
    and parses the next one, instead of everything waiting for the end of the run. The contract stays
    `sync_index`'s: a record is marked indexed only once the backend has committed it, so a crash or an
    index failure leaves it pending and the next sync repairs it. The feed commits every `commit_every`
    documents (each commit costs ~0.1-0.3 s, and the engine buffers what is not committed yet) and in
    `flush`. An index error is logged and stops the feed; the records stay pending for `sync_index`.
    """

    def __init__(self, store: Store, backend: SearchBackend, commit_every: int = 10_000) -> None:
        self.store, self.backend, self.commit_every = store, backend, commit_every
        self.names = derived.stored_names(store)  # new spellings are settled by the sync after the run
        self._written: list[tuple[str, int]] = []  # (id, version) sent to the backend, not committed yet
        self.failed = False

    def add(
        self, source_id: str, jurisdiction: str | None, records: Iterable[tuple[str, int, Dataset]]
    ) -> None:
        """Index (fedcat id, version, dataset) of records the store has just written."""
        if self.failed:
            return
        records = list(records)
        try:
            self.backend.upsert(
                _documents(
                    self.store,
                    self.names,
                    {fedcat_id: source_id for fedcat_id, _, _ in records},
                    {source_id: jurisdiction},
                    {fedcat_id: dataset for fedcat_id, _, dataset in records},
                )
            )
        except Exception:
            log.exception("indexing during the harvest failed; the records stay pending for the next sync")
            self.failed = True
            return
        self._written.extend((fedcat_id, version) for fedcat_id, version, _ in records)
        if len(self._written) >= self.commit_every:
            self.flush()

    def flush(self) -> None:
        """Commit what was sent and mark it indexed."""
        if self.failed or not self._written:
            return
        try:
            self.backend.commit()
            self.store.mark_indexed(self._written)
        except Exception:
            log.exception(
                "index commit during the harvest failed; the records stay pending for the next sync"
            )
            self.failed = True
            return
        self._written = []


def rebuild_index(store: Store, backend: SearchBackend, jurisdictions: dict[str, str] | None = None) -> int:
    """Drop the index and rebuild it from the store (after a crash or an engine change)."""
    backend.clear()
    backend.commit()
    store.reset_index_marks()
    return sync_index(store, backend, jurisdictions)
