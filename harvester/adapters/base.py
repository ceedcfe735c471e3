"""The adapter contract: one small class per platform type.

An adapter walks its source page by page (`pages`), yielding `RawRecord`s. It knows its platform's API and
nothing of mapping, storage or indexing: the pure mapping of a raw record to a DCAT-AP `Dataset` is
`mappings.registry.mapping_for(type)`.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import msgspec

from ...config import Source, SourceOptions
from ...store import unpack_payload
from ..http import HarvestError, HttpClient

# the `reuses` option of the adapters that harvest reuses (one description: the configuration reference)
REUSES_OPTION = "Harvest the portal's reuses too (default true): udata's /api/1/reuses/, CKAN's showcases (ckanext-showcase)."


class RawRecord(msgspec.Struct):
    source_record_id: str
    payload: bytes  # what the store keeps: the record as the source gave it, in its order (N-Triples for RDF)
    media_type: str
    fetch_url: str
    page: int
    parsed: Any = None  # the adapter's parsed form, handed to the mapping in the same run; never stored
    # the change hash: over the payload's order-free form (sorted N-Triples lines, sorted JSON keys), so that
    # a source reordering a record has not changed it; None: the run hashes the payload itself (CSW's
    # normal form). Computed where the page was parsed (the DCAT parsing process included), as is
    # store.pack_payload(payload), so that the harvesting thread does not
    digest: str | None = None
    packed: bytes | None = None
    # the payload's length when only its packed form came: the parsing process leaves out the payload of
    # a record it mapped (~7 KB a DCAT record that nobody here reads), and `payload` is b"" then
    size: int | None = None

    def payload_size(self) -> int:
        return len(self.payload) if self.size is None else self.size

    def full_payload(self) -> bytes:
        """The payload, unpacked when only its packed form came (a record kept for review)."""
        if self.size is not None and self.packed is not None and not self.payload:
            return unpack_payload(self.packed)
        return self.payload


class Page(msgspec.Struct):
    url: str
    number: int
    records: list[RawRecord] = []
    next_url: str | None = None
    not_modified: bool = False  # a conditional GET said the page is as last time: its records are unchanged
    etag: str | None = None
    last_modified: str | None = None
    total: int | None = None  # the source's announced record count, for progress
    # records the source still lists that the adapter did not fetch because they did not change since the
    # last complete run (incremental harvesting): the run keeps them live, unchanged
    unchanged_ids: list[str] = []
    errors: list[tuple[str | None, str]] = []  # (source record id, error) for records that could not be read
    # what the page lists: "datasets" (records), or "reuses" (store.reuses: apps, articles… on the datasets)
    kind: str = "datasets"


class Adapter(ABC):
    type: ClassVar[str]
    # the `options` a source of this type accepts, checked when the configuration is loaded
    Options: ClassVar[builtins.type[SourceOptions]] = SourceOptions

    def __init__(
        self, source: Source, client: HttpClient, page_size: int = 1000, since: str | None = None
    ) -> None:
        self.source = source
        self.client = client
        self.page_size = int(source.options.get("page_size", page_size))
        # start of the last complete run (ISO UTC), for platforms that can list what changed since then;
        # None means harvest everything
        self.since = since
        # set by adapters that walk the source's reuses too: True once that walk listed every reuse (only
        # then may a complete run withdraw the reuses it did not list)
        self.reuses_complete = False
        self.notes: list[str] = []  # said in the run's report (a part of the source that could not be read)

    @abstractmethod
    def pages(self) -> Iterator[Page]:
        """Walk the source; raise a HarvestError when it cannot be read to the end."""


class Visited:
    """Paging loop detection: a URL seen twice in one walk stops it."""

    def __init__(self) -> None:
        self._urls: set[str] = set()

    def __contains__(self, url: str) -> bool:
        return url in self._urls

    def add(self, url: str) -> None:
        if url in self._urls:
            raise HarvestError(f"paging loop: {url} was already read in this run")
        self._urls.add(url)
