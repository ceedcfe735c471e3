"""`type: datajson` — a DCAT-US `data.json` catalogue (Project Open Data 1.1: ArcGIS Hub, Socrata, CKAN).

The catalogue is one document, read once under the client's size cap and then parsed value by value
(`JsonStream`): a 100 MB ArcGIS Hub data.json never becomes one 1 GB tree of Python objects. Its `dataset[]`
is cut into pages of `page_size` records; DCAT-US 3.0 nested `catalog[]` and `datasetSeries[].seriesMember[]`
are read too. A conditional GET that answers 304 replays the pages of the last run without parsing.

Mapping choices (the plain renames are data: mappings/fieldmaps/datajson.yaml):
- record id: `identifier` (3.0: its `@id` or `notation`); a dataset without one is reported, not guessed;
- `modified` = "R/P1W" (a repeating interval) is a frequency, not a date: it becomes the accrual periodicity
  when `accrualPeriodicity` is absent; a null `modified` is simply absent;
- `publisher.subOrganizationOf` chains: the publisher is the innermost body, the chain is kept under
  `unmapped["publisher_hierarchy"]` ("Office < Agency < U.S. Government") where the run report shows it;
- `temporal` "start/end", "start/P1Y", "P1Y/end", "R/start/P1M" and plain years → PeriodOfTime;
- `spatial` "W,S,E,N" → bbox polygon, WKT or GeoJSON → geometry (+ its bbox), a URL → location URI,
  anything else → a place name;
- `theme`: EU data themes where the label is known, otherwise kept as a keyword (and noted as unmapped);
- `isPartOf` (a parent's identifier in the same catalogue) → `related`, as fedcat's URI of that parent.
"""

from __future__ import annotations

import calendar
import codecs
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from ...config import Source
from ...mappings import geometry
from ...mappings.dates import normalise_date
from ...mappings.fieldmap import fieldmap
from ...mappings.model import Agent, ContactPoint, Dataset, Distribution, Location, PeriodOfTime, Text
from ...mappings.normalise import format_uri
from ...mappings.values import ValueMapper, is_iri
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
            self._at = _WS.match(self._text, self._at).end()
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


# --- dates, periods, places ---------------------------------------------------------------------------

_DURATION = re.compile(r"^P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T[\d.,HMS]*)?$", re.I)
_YEARS = re.compile(r"^(\d{4})\s*[-–—]\s*(\d{4})$")
_REPEAT = re.compile(r"^R\d*/", re.I)
_WKT = re.compile(r"^\s*(?:MULTI)?(?:POINT|LINESTRING|POLYGON)\s*(?:Z\s*)?\(", re.I)


def _shift(iso: str, duration: str, sign: int) -> str | None:
    """`iso` (a date of any precision) moved by an ISO 8601 duration of whole days or more."""
    match = _DURATION.match(duration)
    if not match:
        return None
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    try:
        year, month, day = int(iso[:4]), int(iso[5:7] or 1) if len(iso) >= 7 else 1, 1
        day = int(iso[8:10]) if len(iso) >= 10 else 1
        total = year * 12 + month - 1 + sign * (years * 12 + months)
        year, month = divmod(total, 12)
        day = min(day, calendar.monthrange(year, month + 1)[1])  # 31 January + 1 month = 28/29 February
        shifted = date(year, month + 1, day).toordinal() + sign * (weeks * 7 + days)
        return date.fromordinal(shifted).isoformat()
    except (ValueError, OverflowError):
        return None


def period_from_text(text: str) -> PeriodOfTime | None:
    """A period from "2000-01-01/2010-12-31", "2000/P1Y", "P1Y/2010-12-31", "R/2000-01-01/P1M" (from then
    on), "2009-2012", "2008 - 2014" or a single date ("2011": that year); None when it names no date."""
    value = text.strip()
    repeating = bool(_REPEAT.match(value))
    if repeating:
        value = value.split("/", 1)[1]
    years = _YEARS.match(value)
    if years and years[1] <= years[2]:
        return PeriodOfTime(start=years[1], end=years[2])
    if "/" in value:
        first, _, second = (p.strip() for p in value.partition("/"))
        start, end = normalise_date(first), normalise_date(second)
        if repeating:
            end = None  # repeated without end: the period starts there and stays open
        elif start is None and end is not None and _DURATION.match(first):
            start = _shift(end, first, -1)
        elif end is None and start is not None and _DURATION.match(second):
            end = _shift(start, second, 1)
        return PeriodOfTime(start=start, end=end) if start or end else None
    single = normalise_date(value)
    return PeriodOfTime(start=single, end=single) if single else None


def location_from(value: Any) -> Location | None:
    """A data.json `spatial` value as a Location (see the module docstring for the shapes read)."""
    if isinstance(value, dict):
        if value.get("type"):
            return _geojson_location(value)
        found = Location(
            uri=value.get("@id") if is_iri(str(value.get("@id", ""))) else None,
            label=[Text(str(v).strip())] if (v := value.get("prefLabel") or value.get("name")) else [],
        )
        for key in ("geometry", "bbox"):
            if isinstance(value.get(key), str | dict) and (shape := location_from(value[key])):
                found.geometry, found.bbox = shape.geometry, shape.bbox
                break
        return found if found.uri or found.label or found.bbox or found.geometry else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if box := geometry.parse_bbox(text):
        return Location(bbox=geometry.bbox_wkt(box))
    if _WKT.match(text):
        box = geometry.wkt_bbox(text)
        return Location(geometry=text, bbox=geometry.bbox_wkt(box) if box else None)
    if text[0] in "{[":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return _geojson_location(parsed)
        # [[south, west], [north, east]] (lat, lon pairs: the Census TIGER entries)
        if (
            isinstance(parsed, list)
            and len(parsed) == 2
            and all(isinstance(p, list) and len(p) == 2 for p in parsed)
            and (box := geometry.valid_bbox(parsed[0][1], parsed[0][0], parsed[1][1], parsed[1][0]))
        ):
            return Location(bbox=geometry.bbox_wkt(box))
    if is_iri(text):
        return Location(uri=text)
    return Location(label=[Text(text)])


def _geojson_location(value: dict) -> Location | None:
    wkt = geometry.geojson_wkt(value)
    box = geometry.geojson_bbox(value)
    if wkt is None and box is None:
        return None
    return Location(geometry=wkt, bbox=geometry.bbox_wkt(box) if box else None)


# --- the mapping --------------------------------------------------------------------------------------


def record_identifier(item: dict) -> str | None:
    """A data.json dataset's own id: `identifier` (a 3.0 Identifier object: its `@id`, else `notation`)."""
    value = item.get("identifier")
    if isinstance(value, dict):
        value = value.get("@id") or value.get("notation")
    if value is None or isinstance(value, dict | list):
        value = item.get("@id")
    text = str(value).strip() if value is not None and not isinstance(value, dict | list) else ""
    return text or None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _publisher(value: Any, values: ValueMapper) -> Agent | None:
    if not isinstance(value, dict):
        return Agent(name=[Text(str(value).strip())]) if isinstance(value, str) and value.strip() else None
    fields = fieldmap("datajson").apply("publisher", value, values)
    chain, parent, depth = [], value.get("subOrganizationOf"), 0
    while isinstance(parent, dict) and depth < 20:  # bounded: a cyclic or absurd chain stops here
        if name := str(parent.get("name") or "").strip():
            chain.append(name)
        parent, depth = parent.get("subOrganizationOf"), depth + 1
    if chain and fields.get("name"):
        values.note("publisher_hierarchy", " < ".join([fields["name"][0].value, *chain]))
    return Agent(**fields) if fields else None


def _contacts(value: Any, values: ValueMapper) -> list[ContactPoint]:
    found = []
    for item in _as_list(value):
        if not isinstance(item, dict):
            continue
        fields = fieldmap("datajson").apply("contact", item, values)
        email = item.get("hasEmail")
        if isinstance(email, str) and email.strip().removeprefix("mailto:").strip():
            fields["email"] = email.strip().removeprefix("mailto:").strip()
        if fields:
            found.append(ContactPoint(**fields))
    return found


def _format(values: ValueMapper, label: Any, media_type: Any) -> str | None:
    """The EU file type from `format`, else from `mediaType`; an unknown label is kept (and noted)."""
    label = label.strip() if isinstance(label, str) and label.strip() else None
    media_type = media_type.strip() if isinstance(media_type, str) and media_type.strip() else None
    for candidate in (label, media_type):
        if candidate and (found := format_uri(candidate)):
            return found.uri
    return values.format(label or media_type)


def _distribution(item: dict, values: ValueMapper, lang: str | None) -> Distribution | None:
    if not isinstance(item, dict):
        return None
    fields = fieldmap("datajson").apply("distribution", item, values, lang)
    for key in ("accessURL", "downloadURL"):
        url = item.get(key)
        if isinstance(url, str) and url.strip() and not is_iri(url.strip()):
            values.note("distribution_url", url.strip())  # not a web address ("hhttps://…"): kept, noted
    if not fields.get("access_url") and fields.get("download_url"):
        fields["access_url"] = list(fields["download_url"])  # DCAT-AP requires an access URL
    media_type = item.get("mediaType")
    fields["format"] = _format(values, item.get("format"), media_type)
    fields["media_type"] = values.media_type(media_type if isinstance(media_type, str) else None)
    return Distribution(**{k: v for k, v in fields.items() if v is not None})


def _themes(item: dict, values: ValueMapper, lang: str | None) -> tuple[list[str], list[Text]]:
    themes: list[str] = []
    keywords: list[Text] = []
    for theme in _as_list(item.get("theme")):
        if isinstance(theme, dict):  # DCAT-US 3.0 Concept
            theme = theme.get("prefLabel") or theme.get("@id")
        if not isinstance(theme, str) or not theme.strip():
            continue
        found = values.themes([theme])
        themes.extend(u for u in found if u not in themes)
        if not found:
            keywords.append(Text(theme.strip(), lang))  # an unknown category stays searchable
    return themes, keywords


def dataset_from_datajson(item: dict, uri: str, sibling_uri: Callable[[str], str] | None = None) -> Dataset:
    """Map one data.json dataset to the model; `sibling_uri(identifier)` gives fedcat's URI of another
    dataset of the same catalogue (for `isPartOf`)."""
    values = ValueMapper()
    languages = [v for v in _as_list(item.get("language")) if isinstance(v, str)]
    lang = languages[0].split("-")[0].lower() if len(languages) == 1 and languages[0][:2].isalpha() else None
    fields = fieldmap("datajson").apply("dataset", item, values, lang)
    themes, theme_keywords = _themes(item, values, lang)
    keywords = fields.pop("keywords", [])
    keywords += [k for k in theme_keywords if k.value not in {w.value for w in keywords}]

    modified = item.get("modified")
    frequency = item.get("accrualPeriodicity")
    modified_date = None
    if isinstance(modified, str) and modified.strip():
        if _REPEAT.match(modified.strip()):
            # "R/P1W": updated weekly, no date; keep it as the frequency when none is given
            if not frequency:
                frequency = "R/" + modified.strip().rsplit("/", 1)[-1]
        elif not (modified_date := normalise_date(modified)):
            values.note("modified", modified.strip())
    accrual = values.frequency(frequency) if isinstance(frequency, str) else None

    temporal: list[PeriodOfTime] = []
    for value in _as_list(item.get("temporal")):
        if isinstance(value, dict):  # DCAT-US 3.0 PeriodOfTime
            period = PeriodOfTime(
                start=normalise_date(str(value.get("startDate") or "")) or None,
                end=normalise_date(str(value.get("endDate") or "")) or None,
            )
            period = period if period.start or period.end else None
        else:
            period = period_from_text(str(value)) if value else None
        if period:
            temporal.append(period)
        elif value:
            values.note("temporal", str(value) if not isinstance(value, dict) else json.dumps(value))

    spatial = [loc for value in _as_list(item.get("spatial")) if (loc := location_from(value))]

    related = []
    for parent in _as_list(item.get("isPartOf")):
        parent = parent.get("@id") if isinstance(parent, dict) else parent
        if isinstance(parent, str) and parent.strip():
            if sibling_uri is not None:
                related.append(sibling_uri(parent.strip()))
            elif is_iri(parent):
                related.append(parent.strip())

    distributions = [d for v in _as_list(item.get("distribution")) if (d := _distribution(v, values, lang))]
    licence = fields.pop("licence", None)
    for dist in distributions:
        dist.licence = dist.licence or licence
    identifier = record_identifier(item)
    other_ids = [
        str(o.get("notation") or o.get("@id"))
        for o in _as_list(item.get("otherIdentifier"))
        if isinstance(o, dict) and (o.get("notation") or o.get("@id"))
    ]
    original = item.get("@id") if isinstance(item.get("@id"), str) else None
    if original is None and identifier and is_iri(identifier):
        original = identifier
    return Dataset(
        uri=uri,
        original_uri=original,
        identifier=[identifier] if identifier else [],
        other_identifier=other_ids,
        keywords=keywords,
        themes=themes,
        publisher=_publisher(item.get("publisher"), values),
        contact_points=_contacts(item.get("contactPoint"), values),
        distributions=distributions,
        modified=modified_date,
        licence=licence,
        accrual_periodicity=accrual,
        temporal=temporal,
        spatial=spatial,
        related=related,
        unmapped=values.unmapped,
        **fields,
    )


# --- the adapter --------------------------------------------------------------------------------------


def catalogue_datasets(stream: JsonStream) -> Iterator[tuple[Any, bool]]:
    """(dataset, from a series?) for every dataset of a data.json document, in document order.

    Reads `dataset[]` one value at a time; DCAT-US 3.0 nested `catalog[]` and `datasetSeries[]` (whose
    `seriesMember`, `first` and `last` repeat the same datasets) are small and read whole.
    """
    if stream.peek() == "[":  # a bare array of datasets: some exporters drop the envelope
        yield from ((item, False) for item in stream.items())
        stream.end()
        return
    for key in stream.members():
        if key == "dataset" and stream.peek() == "[":
            yield from ((item, False) for item in stream.items())
        elif key == "dataset":  # null, or one object instead of a list
            yield from ((item, False) for item in _as_list(stream.value()))
        elif key == "catalog":
            yield from _nested(stream.value())
        elif key == "datasetSeries":
            for series in _as_list(stream.value()):
                yield from _series(series)
        else:
            stream.value()  # catalogue-level fields: not needed per dataset
    stream.end()


def _nested(catalogues: Any, depth: int = 0) -> Iterator[tuple[Any, bool]]:
    for catalogue in _as_list(catalogues):
        if not isinstance(catalogue, dict) or depth > 10:
            continue
        yield from ((item, False) for item in _as_list(catalogue.get("dataset")))
        for series in _as_list(catalogue.get("datasetSeries")):
            yield from _series(series)
        yield from _nested(catalogue.get("catalog"), depth + 1)


def _series(series: Any) -> Iterator[tuple[Any, bool]]:
    if isinstance(series, dict):
        for key in ("seriesMember", "first", "last"):
            yield from ((item, True) for item in _as_list(series.get(key)))


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
        pages, url, number = [], self.part_url(1), 1
        while url:
            cached = self.client.page_cache(url)
            if cached is None or number > 100_000:
                return None
            pages.append(Page(url=url, number=number, not_modified=True, next_url=cached.next_url))
            url, number = cached.next_url, number + 1
        return pages

    def to_dataset(self, record: RawRecord, uri: str) -> Dataset:
        item = record.parsed if record.parsed is not None else json.loads(record.payload)
        return dataset_from_datajson(item, uri, self._sibling_uri(uri))

    def _sibling_uri(self, uri: str) -> Callable[[str], str]:
        from ...indexer.store import record_id  # here: the indexer imports the harvester's modules

        base = uri.rsplit("/", 1)[0]
        return lambda identifier: f"{base}/{record_id(self.source.id, identifier)}"
