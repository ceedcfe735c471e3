"""`type: opendatasoft` — an Opendatasoft portal's catalogue through the Explore API v2.1.

The source `url` is the portal root (`https://opendata.lillemetropole.fr`). The catalogue is listed with
`/api/explore/v2.1/catalog/datasets?limit=L&offset=O` (at most 100 a page, ordered by `dataset_id` so that
an edit during the walk does not move datasets between pages). The platform refuses `offset + limit` over
10,000: a catalogue larger than that is read from `/api/explore/v2.1/catalog/exports/json` (a JSON array,
no window), in chunks of 5,000 datasets (`limit`/`offset`, each chunk overlapping the previous one by one
dataset to detect a catalogue moving under the walk), each under the client's size cap and parsed one
dataset at a time: a 50,000-dataset export is never one 200 MB body, nor a tree of Python objects.

Options: `publisher: "Ville de Lille"` keeps one publisher (sent as ODSQL `publisher="…"`, and checked on
each dataset in case the portal ignores it), `where: <ODSQL>` any other filter, `page_size`, `order_by`,
`export_chunk` (0: the whole export in one request, one consistent snapshot if the portal's offsets misbehave).

No loss: a walk whose total changed on the way, or that listed fewer distinct datasets than announced,
ends with a HarvestError after its last page, so the run is partial and withdraws nothing.

The mapping is mappings/opendatasoft.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import msgspec

from ...config import Source, SourceOptions
from ...mappings.opendatasoft import API, metas, portal_root, record_identifier, strings
from ...mappings.vocabularies import fold
from ..http import HarvestError, HttpClient
from .base import Adapter, Page, RawRecord
from .jsonapi import FetchAhead, JsonStream, LazyArray, fetch_json, in_parts, is_html, json_record

WINDOW = 10_000  # the datasets endpoint refuses offset + limit beyond this
MAX_LIMIT = 100  # the datasets endpoint's largest page
EXPORT_CHUNK = 5000  # datasets per exports request (option `export_chunk`; 0: the whole catalogue at once)
EXPORT_PAGE = 1000  # datasets per page handed to the run while reading an export


def odsql_string(value: str) -> str:
    """An ODSQL string literal: double quotes, backslash-escaped quotes and backslashes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the adapter --------------------------------------------------------------------------------------


class OpendatasoftAdapter(Adapter):
    type = "opendatasoft"

    class Options(SourceOptions):
        publisher: (
            Annotated[
                str,
                msgspec.Meta(
                    min_length=1, description="Harvest only this publisher's datasets, e.g. `Ville de Lille`."
                ),
            ]
            | None
        ) = None
        where: Annotated[str, msgspec.Meta(description="An ODSQL filter on the catalogue.")] | None = None
        order_by: (
            Annotated[str, msgspec.Meta(description="ODSQL ordering of the walk (default `dataset_id`).")]
            | None
        ) = None
        export_chunk: (
            Annotated[
                int,
                msgspec.Meta(
                    description="Datasets per export request past the 10,000 window (0: one request)."
                ),
            ]
            | None
        ) = None

    def __init__(
        self, source: Source, client: HttpClient, page_size: int = 1000, since: str | None = None
    ) -> None:
        super().__init__(source, client, page_size, since)
        self.root = portal_root(source.url)
        self.page_size = max(1, min(self.page_size, MAX_LIMIT))
        publisher = source.options.get("publisher")
        self.publisher = str(publisher).strip() if publisher else None
        self.order_by = str(source.options.get("order_by", "dataset_id") or "")
        where = str(source.options.get("where") or "").strip()
        if self.publisher:
            by_publisher = f"publisher={odsql_string(self.publisher)}"
            where = f"({where}) AND {by_publisher}" if where else by_publisher
        self.where = where

    def _query(self, **params: Any) -> str:
        if self.where:
            params["where"] = self.where
        if self.order_by:
            params["order_by"] = self.order_by
        return urlencode(params, quote_via=quote)

    def list_url(self, offset: int) -> str:
        return f"{self.root}{API}/catalog/datasets?" + self._query(limit=self.page_size, offset=offset)

    def export_url(self, offset: int = 0, limit: int = -1) -> str:
        params = {"limit": limit, "offset": offset} if limit >= 0 else {}
        query = self._query(**params)
        return f"{self.root}{API}/catalog/exports/json" + (f"?{query}" if query else "")

    def pages(self) -> Iterator[Page]:
        ahead = FetchAhead()
        try:
            yield from self._walk(ahead)
        finally:
            ahead.close()

    def _listing(self, url: str) -> Any:
        return fetch_json(self.client, url, records_at=("results",))[1]

    def _walk(self, ahead: FetchAhead) -> Iterator[Page]:
        listed: set[str] = set()  # every distinct dataset id the portal listed, before the publisher check
        offset, number, totals = 0, 0, []
        while True:
            url = self.list_url(offset)
            number += 1
            document = ahead.get(url, self._listing)
            if not isinstance(document, dict) or not isinstance(document.get("results"), list | LazyArray):
                raise HarvestError(f"{url}: not an Explore v2.1 datasets listing (no `results` list)")
            results = document["results"]
            total = document.get("total_count")
            total = total if isinstance(total, int) and total >= 0 else None
            if total is not None:
                totals.append(total)
            offset += len(results)
            done = not results or (total is not None and offset >= total)
            export = not done and (
                offset + self.page_size > WINDOW or (number == 1 and total is not None and total > WINDOW)
            )
            # same order on both endpoints: the export goes on from here, checked against the last
            # dataset listed; in the portal's own order it must start over
            ordered = bool(self.order_by)
            start, last = (offset, record_identifier(results[-1])) if ordered and results else (0, None)
            if export:
                self._export_ahead(ahead, total, start, last is not None)
            elif not done:
                ahead.prefetch(self.list_url(offset), self._listing)
            for part_url, part in in_parts(url, results):  # a page of many datasets: in parts
                number += part_url != url
                yield self._page(part_url, number, part, listed, total, url)
            if done:
                break
            if export:
                yield from self._export(ahead, number, listed, total, start, last)
                break
        if len(set(totals)) > 1:
            raise HarvestError(
                f"{self.root}: the catalogue changed during the walk (total_count {totals[0]} → {totals[-1]}): "
                "datasets may have moved between pages, so this run withdraws nothing"
            )
        if totals and len(listed) < totals[-1]:
            raise HarvestError(
                f"{self.root}: the portal announced {totals[-1]} datasets but listed {len(listed)} distinct ones"
            )

    def _page(
        self,
        url: str,
        number: int,
        items: Sequence[Any],
        listed: set[str],
        total: int | None,
        fetch_url: str = "",
    ) -> Page:
        records: list[RawRecord] = []
        errors: list[tuple[str | None, str]] = []
        wanted = fold(self.publisher) if self.publisher else None
        for position, item in enumerate(items, 1):
            srid = record_identifier(item)
            if srid is None:
                errors.append((None, f"{url}: item #{position} is not a dataset with a dataset_id"))
                continue
            if srid in listed:
                continue  # listed on an earlier page too (the catalogue moved under the walk)
            listed.add(srid)
            if wanted is not None:
                publisher = strings(metas(item, "default").get("publisher"))
                if not publisher or fold(publisher[0]) != wanted:
                    continue  # the portal ignored the publisher filter: keep only that publisher
            records.append(json_record(srid, item, fetch_url or url, number))
        return Page(url=url, number=number, records=records, errors=errors, total=total)

    def _export_chunk(self, url: str) -> Any:
        return self.client.get(url, accept="application/json")

    def _export_urls(self, offset: int, continued: bool) -> tuple[int, str]:
        """The chunk size and the URL of the export request at `offset` (one dataset earlier when it
        continues a walk, to check that one against the last dataset already read)."""
        chunk = int(self.source.options.get("export_chunk", EXPORT_CHUNK))
        if chunk <= 0:
            return chunk, self.export_url()
        overlap = 1 if continued else 0
        return chunk, self.export_url(offset - overlap, chunk + overlap)

    def _export_ahead(self, ahead: FetchAhead, total: int | None, offset: int, continued: bool) -> None:
        chunk, url = self._export_urls(offset, continued)
        if chunk <= 0 or total is None or offset < total:
            ahead.prefetch(url, self._export_chunk)

    def _export(
        self,
        ahead: FetchAhead,
        number: int,
        listed: set[str],
        total: int | None,
        offset: int,
        previous_last: str | None,
    ) -> Iterator[Page]:
        """The catalogue from the exports endpoint (no offset window), in requests of `export_chunk`.

        Each request after the first starts one dataset early: that dataset must be the last one of the
        previous request, else the catalogue moved between requests (a dataset may have been skipped) and
        the run ends partial. A chunk is parsed one dataset at a time and handed on in pages of 1,000, so
        memory stays bounded by one chunk's bytes (two with the next one fetched ahead).
        """
        chunk, _ = self._export_urls(offset, previous_last is not None)
        if chunk <= 0:  # the whole catalogue, one snapshot: datasets already listed are skipped by id
            offset, previous_last = 0, None
        moved = False
        while True:
            overlap = 1 if previous_last is not None else 0
            _, url = self._export_urls(offset, previous_last is not None)
            response = ahead.get(url, self._export_chunk)
            if is_html(response.content):
                raise HarvestError(
                    f"{url}: got an HTML page, not JSON (Content-Type {response.media_type or 'none'})"
                )
            stream = JsonStream(response.content, url)
            del response  # the stream holds the bytes it still has to read
            if chunk > 0 and total is not None and offset + chunk < total:
                self._export_ahead(ahead, total, offset + chunk, True)  # the next chunk, likely needed
            count, new, batch, first, last = 0, 0, [], None, None
            for item in stream.items():
                count += 1
                srid = record_identifier(item)
                first = srid if count == 1 else first
                last = srid
                new += srid is not None and srid not in listed
                batch.append(item)
                if len(batch) >= EXPORT_PAGE:
                    number += 1
                    yield self._page(f"{url}#page={number}", number, batch, listed, total, url)
                    batch = []
            stream.end()
            number += 1
            yield self._page(f"{url}#page={number}", number, batch, listed, total, url)
            if overlap and first != previous_last:
                moved = True
            if chunk <= 0 or count != chunk + overlap:
                break  # a short chunk ends the catalogue; a longer one means the portal sent it all
            if not new:
                raise HarvestError(
                    f"{url}: the exports endpoint repeats datasets already read (offset ignored?)"
                )
            previous_last, offset = last, offset + chunk
        if moved:
            raise HarvestError(
                f"{self.root}: the catalogue changed while it was exported in chunks: datasets may have moved "
                "between requests, so this run withdraws nothing"
            )
