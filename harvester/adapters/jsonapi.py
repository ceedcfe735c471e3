"""What every JSON portal adapter shares: fetching a JSON page safely and the canonical record payload."""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import msgspec

from ...store import payload_hash
from ..encoding import legacy_as_utf8
from ..http import HarvestError, HttpClient, Response
from ..safety import UnsafeDocument, check_json_depth
from .base import RawRecord

log = logging.getLogger("fedcat.harvest")

JSON = "application/json"
# A listing page larger than this is not parsed into one tree: its record array is read one record at a
# time (`LazyArray`) and handed on in parts of PART records (100,000 datasets in one page took 1.27 GB).
STREAM_OVER = 8 * 1024 * 1024
PART = 1000

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
        # UTF-8, or the UTF-16/32 a BOM or the pattern of zero bytes says (json's own detection)
        self._encoding = json.detect_encoding(content[:4]).removesuffix("-sig")
        self._decoder = codecs.getincrementaldecoder(self._encoding)()
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
        final = self._read >= len(self._data)
        try:
            text = self._decoder.decode(piece, final=final)
        except UnicodeDecodeError as exc:
            if self._encoding != "utf-8":
                raise HarvestError(
                    f"{self.url}: not valid JSON: not {self._encoding} ({exc.reason})"
                ) from exc
            # not UTF-8: a Windows-1252 export (what came before was ASCII, the same in both)
            log.info("%s: not UTF-8, read as Windows-1252", self.url)
            pending = self._decoder.getstate()[0]
            self._encoding = "cp1252"
            self._decoder = codecs.getincrementaldecoder("cp1252")(errors="replace")
            text = self._decoder.decode(pending + piece, final=final)
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


def fetch_json(
    client: HttpClient, url: str, *, conditional: bool = False, records_at: tuple[str, ...] = ()
) -> tuple[Response, Any]:
    """GET a JSON document: an HTML error page or invalid JSON is a HarvestError naming the URL.

    `records_at` names the path of the document's record array (("result", "results") for CKAN): in a
    document over STREAM_OVER bytes that array is a `LazyArray`, read one record at a time.
    """
    response = client.get(url, accept="application/json", conditional=conditional)
    if response.not_modified:
        return response, None
    head = response.content[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise HarvestError(
            f"{url}: got an HTML page, not JSON (Content-Type {response.media_type or 'none'})"
        )
    check_json_depth(response.content, url=url)
    if records_at and len(response.content) > STREAM_OVER:
        return response, _envelope(JsonStream(response.content, url), records_at, records_at)
    try:
        return response, json.loads(response.content)
    except UnicodeDecodeError as exc:
        # JSON is UTF-8 (UTF-16/32 and a BOM are read by json itself); a Windows-1252 export still means
        # its accented letters
        legacy = legacy_as_utf8(response.content)
        try:
            return response, json.loads(legacy or b"")
        except ValueError:
            raise HarvestError(f"{url}: not valid JSON: {exc}") from exc
    except ValueError as exc:
        raise HarvestError(f"{url}: not valid JSON: {exc}") from exc


class LazyArray(Sequence[Any]):
    """The record array of a large JSON document, parsed again from the document's bytes at each walk:
    one record alive at a time. Its length is counted when the document is first read."""

    def __init__(self, content: bytes, url: str, path: tuple[str, ...], count: int) -> None:
        self.content, self.url, self.path, self.length = content, url, path, count

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        stream = JsonStream(self.content, self.url)
        for key in self.path:
            for member in stream.members():
                if member == key:
                    break
                stream.value()
        yield from stream.items()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):  # no adapter slices it: that builds every record
            return list(self)[index]
        position = index + self.length if index < 0 else index
        for number, item in enumerate(self):  # a walk, one record alive at a time
            if number == position:
                return item
        raise IndexError(index)


def _envelope(stream: JsonStream, path: tuple[str, ...], full: tuple[str, ...]) -> Any:
    """The object at the stream's position, its `path` array left unread: a LazyArray stands for it."""
    if stream.peek() != "{":
        return stream.value()
    found: dict[str, Any] = {}
    for key in stream.members():
        opening = stream.peek()
        if key == path[0] and len(path) == 1 and opening == "[":
            found[key] = LazyArray(stream._data, stream.url, full, sum(1 for _ in stream.items()))
        elif key == path[0] and len(path) > 1 and opening == "{":
            found[key] = _envelope(stream, path[1:], full)
        else:
            found[key] = stream.value()
    if path == full:
        stream.end()
    return found


def in_parts(url: str, items: Sequence[Any]) -> Iterator[tuple[str, Sequence[Any]]]:
    """A listing page's records in parts of at most PART, each with its own URL (`url#part=N` after the
    first): a large page is mapped and stored part by part, each part a page of the run."""
    if len(items) <= PART:
        yield url, items
        return
    batch: list[Any] = []
    part = 1
    for item in items:
        batch.append(item)
        if len(batch) >= PART:
            yield (url if part == 1 else f"{url}#part={part}"), batch
            batch, part = [], part + 1
    if batch:
        yield f"{url}#part={part}", batch


_sorted_json = msgspec.json.Encoder(order="sorted").encode


def canonical_json(record: Any) -> bytes:
    """A JSON record with its keys sorted: the same bytes whatever order the source gives them in, which
    is what its change hash is computed over. They are the bytes fedcat stored as the payload before
    payloads kept the source's order (`json.dumps(sort_keys=True)`, five times slower), so the hash of a
    record stored then is the hash it gets now; except where a number has an exponent or is not a number
    (1e16 was written 1e+16, NaN is null here): such a record is normalised again once."""
    return _sorted_json(record)


_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins the pairs: any one left is alone


def _valid_unicode(value: Any) -> Any:
    """`value` with each lone surrogate in its texts and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    return value


def json_record(record_id: str, record: Any, fetch_url: str, page: int) -> RawRecord:
    """A JSON platform's record as the run takes it: its payload in the source's key order (a re-map reads
    a dict of languages or extras in the order the harvest's mapping did), hashed in its canonical form,
    and its parsed form for the mapping."""
    try:
        payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # "\ud83d" with no low half: an escaped emoji cut in two by a source that truncates texts in UTF-16.
        # json accepts it, UTF-8 (the store, the index, every answer) cannot hold it: U+FFFD, as a decoder
        # does for any byte it cannot read. Only a record that holds one pays for the walk.
        record, record_id = _valid_unicode(record), _valid_unicode(record_id)
        payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return RawRecord(
        record_id, payload, JSON, fetch_url, page, parsed=record, digest=payload_hash(canonical_json(record))
    )


class FetchAhead:
    """The next request of the walk, sent while the run maps and stores the current page.

    Still one request at a time to the portal (politeness unchanged), but the portal's response time,
    often longer than fedcat's work on a page of 100 datasets, overlaps that work instead of adding to it.
    A response fetched ahead and then not needed (the walk ended or changed course) is dropped.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedcat-fetch-ahead")
        self._pending: dict[str, Future] = {}

    def prefetch(self, url: str, fetch: Callable[[str], Any]) -> None:
        if url not in self._pending:
            self._pending[url] = self._pool.submit(fetch, url)

    def get(self, url: str, fetch: Callable[[str], Any]) -> Any:
        future = self._pending.pop(url, None) or self._pool.submit(fetch, url)
        for other in self._pending.values():  # asked for something else: what was fetched ahead is stale
            other.cancel()
        self._pending.clear()
        return future.result()

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
