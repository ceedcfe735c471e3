"""`type: datajson` — a DCAT-US `data.json` catalogue (Project Open Data 1.1: ArcGIS Hub, Socrata, CKAN).

The catalogue is one document, read once under the client's size cap and then parsed value by value
(`JsonStream`): a 100 MB ArcGIS Hub data.json never becomes one 1 GB tree of Python objects. Its `dataset[]`
is cut into pages of `page_size` records; DCAT-US 3.0 nested `catalog[]` and `datasetSeries[].seriesMember[]`
are read too. A conditional GET that answers 304 replays the pages of the last run without parsing.

The mapping is mappings/datajson.py.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from ...config import Source
from ...mappings.datajson import as_list, record_identifier
from ..http import HarvestError, HttpClient
from ..safety import UnsafeDocument
from .base import Adapter, Page, RawRecord
from .jsonapi import JSON, canonical_json

_WS = re.compile(r"[ \t\n\r]*")
_DELIMITERS = frozenset(",]} \t\n\r")  # what may follow a complete number or literal (not "")
_DECODER = json.JSONDecoder()
_CHUNK = 1 << 20  # characters decoded at a time


class JsonStream:
    """Read one large JSON document value by value, decoding its UTF-8 bytes a chunk at a time.

    `json.loads` on a 100 MB catalogue builds every object at once (several times the document's size);
    here only the value being read is built: `items()` yields the values of an array one by one, `members()`
    the keys of an object (the caller then reads each value with `value()` or `items()`).
    """

    def __init__(self, content: bytes, url: str, chunk: int = _CHUNK) -> None:
        self.url = url
        self._data = content
        self._read = 0
        self._chunk = chunk
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._at = 0
        self._fill()
        if self._text.startswith("\ufeff"):  # a byte-order mark some servers prepend
            self._at = 1

    def _fill(self, at_least: int = 0) -> bool:
        """Decode more of the document into the buffer; False at its end."""
        if self._read >= len(self._data):
            return False
        size = max(self._chunk, at_least)  # grows with the value being read: linear, not quadratic
        piece = self._data[self._read : self._read + size]
        self._read += len(piece)
        try:
            text = self._utf8.decode(piece, final=self._read >= len(self._data))
        except UnicodeDecodeError as exc:
            raise HarvestError(f"{self.url}: not valid JSON: not UTF-8 ({exc.reason})") from exc
        self._text = self._text[self._at :] + text
        self._at = 0
        return True

    def peek(self) -> str:
        """The next non-blank character, '' at the end of the document."""
        while True:
            blank = _WS.match(self._text, self._at)
            assert blank is not None  # a pattern of `\s*` matches anywhere
            self._at = blank.end()
            if self._at < len(self._text):
                return self._text[self._at]
            if not self._fill():
                return ""

    def _fail(self, what: str) -> HarvestError:
        return HarvestError(f"{self.url}: not valid JSON: {what} (after {self._read:,} bytes read)")

    def expect(self, chars: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            wanted = " or ".join(repr(c) for c in chars)
            raise self._fail(f"expected {wanted}, found {found[:1] or 'the end'!r}")
        self._at += 1
        return found

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self._text, self._at)
            except json.JSONDecodeError as exc:
                if self._fill(len(self._text) - self._at):
                    continue  # the value runs past the decoded part: decode more and read it again
                raise self._fail(exc.msg) from exc
            except RecursionError as exc:
                raise UnsafeDocument(f"{self.url}: JSON nested too deeply refused") from exc
            if not isinstance(obj, dict | list | str):
                after = self._text[end : end + 1]
                if after not in _DELIMITERS and self._fill():
                    continue  # a number the chunk boundary may have cut ("12" of "123", "3" of "3.5")
            self._at = end
            return obj

    def items(self) -> Iterator[Any]:
        self.expect("[")
        if self.peek() == "]":
            self._at += 1
            return
        while True:
            yield self.value()
            if self.expect(",]") == "]":
                return

    def members(self) -> Iterator[str]:
        """The keys of the object starting here; read each key's value before asking for the next key."""
        self.expect("{")
        if self.peek() == "}":
            self._at += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise self._fail("an object key that is not a string")
            self.expect(":")
            yield key
            if self.expect(",}") == "}":
                return

    def end(self) -> None:
        if self.peek():
            raise self._fail("data after the end of the document")


def is_html(content: bytes) -> bool:
    head = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


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
            records.append(RawRecord(srid, canonical_json(item), JSON, url, number, parsed=item))
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
