"""Derive the flat search document of a stored record, and keep a backend in step with the store."""

from __future__ import annotations

from collections.abc import Callable

from ..mappings.dates import sort_key
from ..mappings.model import Dataset, dataset_from_json, text_in
from .backend import SearchBackend, SearchDocument
from .store import Store, gc_paused


def _texts(values) -> str:
    return " ".join(t.value for t in values)


def search_document(
    fedcat_id: str, source_id: str, dataset: Dataset, jurisdiction: str | None = None
) -> SearchDocument:
    """All languages go into the full-text fields; facets hold controlled URIs or exact values."""
    publisher = dataset.publisher
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
    )


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
    done = 0
    while True:
        with gc_paused():
            pending = store.pending_index(batch)
            if not pending:
                break
            _index_batch(store, backend, pending, jurisdictions)
        done += len(pending)
        if progress:
            progress(len(pending))
    return done


def _index_batch(
    store: Store,
    backend: SearchBackend,
    pending: list[tuple[str, str, bytes | None, int]],
    jurisdictions: dict[str, str],
) -> None:
    upserts, deletes = [], []
    for fedcat_id, source_id, data, _version in pending:
        if data is None:
            deletes.append(fedcat_id)
        else:
            upserts.append(
                search_document(fedcat_id, source_id, dataset_from_json(data), jurisdictions.get(source_id))
            )
    if deletes:
        backend.delete(deletes)
    if upserts:
        backend.upsert(upserts)
    backend.commit()
    store.mark_indexed([(row[0], row[3]) for row in pending])


def rebuild_index(store: Store, backend: SearchBackend, jurisdictions: dict[str, str] | None = None) -> int:
    """Drop the index and rebuild it from the store (after a crash or an engine change)."""
    backend.clear()
    backend.commit()
    store.reset_index_marks()
    return sync_index(store, backend, jurisdictions)
