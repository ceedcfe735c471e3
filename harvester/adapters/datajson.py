"""`type: datajson` — a DCAT-US `data.json` catalogue (Project Open Data 1.1: ArcGIS Hub, Socrata, CKAN).

The catalogue is one document, read once under the client's size cap and then parsed value by value
(`jsonapi.JsonStream`): a 100 MB ArcGIS Hub data.json never becomes one 1 GB tree of Python objects. Its `dataset[]`
is cut into pages of `page_size` records; DCAT-US 3.0 nested `catalog[]` and `datasetSeries[].seriesMember[]`
are read too. A conditional GET that answers 304 replays the pages of the last run without parsing.

The mapping is mappings/datajson.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...config import Source
from ...mappings.datajson import record_identifier
from ...mappings.values import as_list
from ..http import HarvestError, HttpClient
from .base import Adapter, Page, RawRecord
from .jsonapi import JsonStream, is_html, json_record

# --- the adapter --------------------------------------------------------------------------------------


def catalogue_datasets(stream: JsonStream) -> Iterator[tuple[Any, bool]]:
    """(dataset, repeated on purpose?) for every dataset of a data.json document, in document order.

    Reads `dataset[]` one value at a time; DCAT-US 3.0 nested `catalog[]`, `datasetSeries[]` (whose
    `seriesMember`, `first` and `last` repeat the same datasets) and `service[]` (each service a record, then
    its `servesDataset[]`) are small and read whole. A document that is one bare Dataset object is that one dataset; a document with none of these
    is a HarvestError saying what it is not (a run of 0 datasets and no message would look complete).
    """
    if stream.peek() == "[":  # a bare array of datasets: some exporters drop the envelope
        yield from ((item, False) for item in stream.items())
        stream.end()
        return
    found_container = False
    top: dict[str, Any] = {}
    for key in stream.members():
        if key == "dataset" and stream.peek() == "[":
            found_container = True
            yield from ((item, False) for item in stream.items())
        elif key == "dataset":  # null, or one object instead of a list
            found_container = True
            yield from ((item, False) for item in as_list(stream.value()))
        elif key == "catalog":
            found_container = True
            yield from _nested(stream.value())
        elif key == "datasetSeries":
            found_container = True
            for series in as_list(stream.value()):
                yield from _series(series)
        elif key == "service":
            found_container = True
            yield from _served(stream.value())
        else:
            top[key] = stream.value()  # catalogue-level fields (or the fields of one bare dataset)
    stream.end()
    if found_container:
        return
    if _is_dataset(top):
        yield top, False
        return
    keys = ", ".join(sorted(top)[:8]) or "none"
    raise HarvestError(
        f"{stream.url}: no `dataset` array, `catalog` or `service` found, nor one Dataset object: this is not a "
        f"DCAT-US data.json catalogue (top-level keys: {keys})"
    )


def _is_dataset(value: dict[str, Any]) -> bool:
    kind = str(value.get("@type") or "").lower()
    if kind:
        return kind.endswith("dataset")
    return bool(value.get("title")) and (value.get("identifier") is not None or value.get("@id") is not None)


def _served(services: Any) -> Iterator[tuple[Any, bool]]:
    """DCAT-US 3.0 data services, each a record of its own, then the datasets it serves (they may repeat
    datasets listed in `dataset[]`)."""
    for service in as_list(services):
        if isinstance(service, dict):
            yield service, False
            yield from (
                (item, True) for item in as_list(service.get("servesDataset")) if isinstance(item, dict)
            )


def _nested(catalogues: Any, depth: int = 0) -> Iterator[tuple[Any, bool]]:
    for catalogue in as_list(catalogues):
        if not isinstance(catalogue, dict) or depth > 10:
            continue
        yield from ((item, False) for item in as_list(catalogue.get("dataset")))
        for series in as_list(catalogue.get("datasetSeries")):
            yield from _series(series)
        yield from _served(catalogue.get("service"))
        yield from _nested(catalogue.get("catalog"), depth + 1)


def _series(series: Any) -> Iterator[tuple[Any, bool]]:
    if isinstance(series, dict):
        for key in ("seriesMember", "first", "last"):
            yield from ((item, True) for item in as_list(series.get(key)))


class DataJsonAdapter(Adapter):
    type = "datajson"

    def __init__(
        self, source: Source, client: HttpClient, page_size: int = 1000, since: str | None = None
    ) -> None:
        super().__init__(source, client, page_size, since)
        self.page_size = max(1, self.page_size)

    def part_url(self, number: int) -> str:
        """Each page of the one document gets its own URL, so the run's page cache keeps each page's ids."""
        return self.source.url if number == 1 else f"{self.source.url}#page={number}"

    def pages(self) -> Iterator[Page]:
        url = self.source.url
        response = self.client.get(url, accept="application/json", conditional=True)
        if response.not_modified:
            replay = self._replay()
            if replay is not None:
                yield from replay
                return
            # the cached pages are incomplete: read the document again rather than trust part of it
            response = self.client.get(url, accept="application/json")
        if is_html(response.content):
            raise HarvestError(
                f"{url}: got an HTML page, not JSON (Content-Type {response.media_type or 'none'})"
            )
        etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        stream = JsonStream(response.content, url)
        del response  # the stream holds the bytes it still has to read
        seen: set[str] = set()
        records: list[RawRecord] = []
        errors: list[tuple[str | None, str]] = []
        number, position = 1, 0
        for item, in_series in catalogue_datasets(stream):
            position += 1
            if not isinstance(item, dict):
                errors.append((None, f"dataset #{position} is not a JSON object"))
                continue
            srid = record_identifier(item)
            if srid is None:
                title = item.get("title")
                errors.append((None, f"dataset #{position} ({title!r}) has no identifier: not harvested"))
                continue
            if srid in seen:
                if not in_series:  # a series repeats its members on purpose
                    errors.append(
                        (srid, f"identifier repeated at dataset #{position}: the first one is kept")
                    )
                continue
            seen.add(srid)
            records.append(json_record(srid, item, url, number))
            if len(records) >= self.page_size:
                yield self._page(number, records, errors, etag, last_modified, more=True)
                number, records, errors = number + 1, [], []
        yield self._page(number, records, errors, etag, last_modified, more=False)

    def _page(
        self,
        number: int,
        records: list[RawRecord],
        errors: list[tuple[str | None, str]],
        etag: str | None,
        last_modified: str | None,
        more: bool,
    ) -> Page:
        return Page(
            url=self.part_url(number),
            number=number,
            records=records,
            errors=errors,
            next_url=self.part_url(number + 1) if more else None,
            etag=etag,
            last_modified=last_modified,
        )

    def _replay(self) -> list[Page] | None:
        """The pages of the last run, unchanged (the document answered 304), or None if any is missing."""
        pages: list[Page] = []
        url: str | None = self.part_url(1)
        number = 1
        while url:
            cached = self.client.page_cache(url)
            if cached is None or number > 100_000:
                return None
            pages.append(Page(url=url, number=number, not_modified=True, next_url=cached.next_url))
            url, number = cached.next_url, number + 1
        return pages
