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

Mapping choices (the plain renames are data: mappings/fieldmaps/opendatasoft.yaml):
- record id `dataset_id` (`dataset_uid` when absent); identifier = dataset_id, other identifiers = uid and
  the INSPIRE file identifier; landing page = the portal's `/explore/dataset/{id}/` page;
- themes: the portal's categories (Lille's, Opendatasoft's defaults in French and English) map to EU data
  themes through mappings/aliases/data-theme.yaml; an unknown category stays a keyword and is noted;
- licence: `license` label, else `license_url`; `attributions` become the distributions' rights statement;
- distributions: the standard exports a dataset with records allows (CSV, JSON, Excel; GeoJSON and Shapefile
  for `geo` datasets, Shapefile only up to 50,000 records as the platform exports no more), each served by
  the dataset's Explore API (a DataService: endpoint `/records`, description the portal's OpenAPI), plus
  one distribution per attachment and alternative export;
- `metas.dcat` temporal text ("2011", "2009-2012") or `temporal_coverage_start/end` → PeriodOfTime;
  `territory` and `dcat.spatial` → place names; the INSPIRE bounding box → bbox polygon.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import msgspec

from ...config import Source, SourceOptions
from ...mappings import geometry
from ...mappings.dates import normalise_date
from ...mappings.fieldmap import fieldmap
from ...mappings.model import (
    Agent,
    ContactPoint,
    DataService,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Text,
)
from ...mappings.normalise import format_uri, licence_uri
from ...mappings.values import ValueMapper, is_iri
from ...mappings.vocabularies import fold
from ..http import HarvestError, HttpClient
from .base import Adapter, Page, RawRecord
from .datajson import JsonStream, is_html, period_from_text
from .jsonapi import JSON, FetchAhead, canonical_json, fetch_json

API = "/api/explore/v2.1"
WINDOW = 10_000  # the datasets endpoint refuses offset + limit beyond this
MAX_LIMIT = 100  # the datasets endpoint's largest page
EXPORT_CHUNK = 5000  # datasets per exports request (option `export_chunk`; 0: the whole catalogue at once)
EXPORT_PAGE = 1000  # datasets per page handed to the run while reading an export
SHAPEFILE_LIMIT = 50_000  # records; Opendatasoft exports no Shapefile beyond (udata-ods test-shp-limit)
# (export format in the URL, label for the file-type table, IANA media type)
TABLE_EXPORTS = (
    ("csv", "CSV", "text/csv"),
    ("json", "JSON", "application/json"),
    ("xlsx", "XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
)
GEO_EXPORTS = (("geojson", "GeoJSON", "application/geo+json"),)
SHAPEFILE = ("shp", "SHP", "application/zip")
# keys of the optional templates that the field map or the code below read; any other is noted
READ_KEYS = {
    "dcat": {
        "issued",
        "created",
        "accrualperiodicity",
        "relation",
        "conforms_to",
        "creator",
        "contact_name",
        "contact_email",
        "spatial",
        "temporal",
        "temporal_coverage_start",
        "temporal_coverage_end",
    },
    "dcat_ap": {"hvd_category", "applicable_legislation"},
    "inspire": {
        "file_identifier",
        "contact_individual_name",
        "contact_email",
        "extend_description",
        "extend_bounding_box_westbound_longitude",
        "extend_bounding_box_eastbound_longitude",
        "extend_bounding_box_southbound_latitude",
        "extend_bounding_box_northbound_latitude",
    },
}


def portal_root(url: str) -> str:
    """The portal's root from a source URL that may already point into the API."""
    root = url.strip().rstrip("/")
    return root.split("/api/", 1)[0] if "/api/" in root + "/" else root


def odsql_string(value: str) -> str:
    """An ODSQL string literal: double quotes, backslash-escaped quotes and backslashes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _strings(value: Any) -> list[str]:
    return [s for v in _as_list(value) if not isinstance(v, dict | list) and (s := str(v).strip())]


def _metas(item: dict, template: str) -> dict:
    metas = item.get("metas")
    found = metas.get(template) if isinstance(metas, dict) else None
    return found if isinstance(found, dict) else {}


# --- the mapping --------------------------------------------------------------------------------------


def record_identifier(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    value = item.get("dataset_id") or item.get("dataset_uid")
    return str(value).strip() or None if isinstance(value, str | int) else None


def _lang(default: dict) -> str | None:
    """The language the metadata is written in: `metadata_languages`, else the dataset's `language`."""
    for value in _strings(default.get("metadata_languages")) + _strings(default.get("language")):
        if len(value) >= 2 and value[:2].isalpha():
            return value[:2].lower()
    return None


def _licence(default: dict, values: ValueMapper) -> str | None:
    label = next(iter(_strings(default.get("license"))), None)
    url = next(iter(_strings(default.get("license_url"))), None)
    for candidate in (label, url):
        if candidate and (found := licence_uri(candidate)):
            return found.uri
    if url and is_iri(url):
        return url  # a licence page fedcat does not know: still the licence's IRI
    return values.licence(label)  # unknown label: noted


def _themes(default: dict, values: ValueMapper, lang: str | None) -> tuple[list[str], list[Text]]:
    themes: list[str] = []
    keywords: list[Text] = []
    for theme in _strings(default.get("theme")):
        found = values.themes([theme])  # notes an unknown category
        themes.extend(u for u in found if u not in themes)
        if not found:
            keywords.append(Text(theme, lang))  # an unknown category stays searchable
    return themes, keywords


def _temporal(dcat: dict, values: ValueMapper) -> list[PeriodOfTime]:
    periods = []
    start = normalise_date(next(iter(_strings(dcat.get("temporal_coverage_start"))), None))
    end = normalise_date(next(iter(_strings(dcat.get("temporal_coverage_end"))), None))
    if start or end:
        periods.append(PeriodOfTime(start=start, end=end))
    for text in _strings(dcat.get("temporal")):
        period = period_from_text(text)
        if period:
            periods.append(period)
        else:
            values.note("temporal", text)
    return periods


def _spatial(default: dict, dcat: dict, inspire: dict) -> list[Location]:
    places = list(dict.fromkeys(_strings(default.get("territory")) + _strings(dcat.get("spatial"))))
    locations = [Location(label=[Text(place)]) for place in places]
    area = default.get("geographic_area")
    if isinstance(area, dict) and (wkt := geometry.geojson_wkt(area)):
        box = geometry.geojson_bbox(area)
        locations.append(Location(geometry=wkt, bbox=geometry.bbox_wkt(box) if box else None))
    box = geometry.valid_bbox(
        inspire.get("extend_bounding_box_westbound_longitude"),
        inspire.get("extend_bounding_box_southbound_latitude"),
        inspire.get("extend_bounding_box_eastbound_longitude"),
        inspire.get("extend_bounding_box_northbound_latitude"),
    )
    if box:
        label = _strings(inspire.get("extend_description"))
        locations.append(Location(label=[Text(label[0])] if label else [], bbox=geometry.bbox_wkt(box)))
    return locations


def _file_format(values: ValueMapper, media_type: str | None, name: str | None) -> str | None:
    """The EU file type of an attachment: its file extension, else its media type (unknown: noted)."""
    extension = name.rsplit(".", 1)[-1] if name and "." in name[-6:] else None
    for candidate in (extension, media_type):
        if candidate and (found := format_uri(candidate)):
            return found.uri
    return values.format(media_type or extension)


def _note_unread(item: dict, values: ValueMapper) -> None:
    metas = item.get("metas")
    if not isinstance(metas, dict):
        return
    for template, fields in metas.items():
        if template == "default" or not isinstance(fields, dict):
            continue
        known = READ_KEYS.get(template, set())
        for key, value in fields.items():
            if key not in known and value not in (None, "", [], {}):
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                values.note(f"metas.{template}.{key}", text[:200])


def dataset_from_ods(item: dict, uri: str, root: str) -> Dataset:
    """Map one Explore v2.1 dataset of the portal at `root` to the model."""
    values = ValueMapper()
    fmap = fieldmap("opendatasoft")
    default, dcat, inspire = _metas(item, "default"), _metas(item, "dcat"), _metas(item, "inspire")
    lang = _lang(default)
    fields = fmap.apply("dataset", item, values, lang)
    dataset_id = record_identifier(item) or ""
    api = f"{root}{API}/catalog/datasets/{quote(dataset_id, safe='')}"

    themes, theme_keywords = _themes(default, values, lang)
    keywords = [
        Text(part, k.lang)
        for k in fields.pop("keywords", [])
        for part in (k.value.split(",") if isinstance(default.get("keyword"), str) else [k.value])
        if part.strip()
    ]
    keywords += [k for k in theme_keywords if k.value not in {w.value for w in keywords}]
    licence = _licence(default, values)
    rights = "; ".join(_strings(default.get("attributions"))) or None
    title = fields.get("title") or [Text(dataset_id)]

    service = DataService(
        title=[Text(f"{title[0].value} — Explore API v2.1", title[0].lang)],
        endpoint_url=[f"{api}/records"],
        endpoint_description=[f"{root}{API}/swagger.json"],
        serves_dataset=[uri],
        licence=licence,
    )
    distributions = []
    features = set(_strings(item.get("features")))
    records_count = default.get("records_count")
    has_records = item.get("has_records")
    if has_records is None:
        has_records = isinstance(records_count, int) and records_count > 0
    if has_records:
        exports = list(TABLE_EXPORTS)
        if "geo" in features:
            exports += GEO_EXPORTS
            if not isinstance(records_count, int) or records_count <= SHAPEFILE_LIMIT:
                exports.append(SHAPEFILE)
        for code, label, media_type in exports:
            url = f"{api}/exports/{code}"
            distributions.append(
                Distribution(
                    title=[Text(f"Export {label}")],
                    access_url=[url],
                    download_url=[url],
                    format=values.format(label),
                    media_type=values.media_type(media_type),
                    licence=licence,
                    rights=rights,
                    access_service=[service],
                )
            )
    for kind, files in (("attachments", item.get("attachments")), ("alternative_exports", None)):
        files = item.get(kind) if files is None else files
        for file in _as_list(files):
            if not isinstance(file, dict) or not file.get("id"):
                continue
            url = f"{api}/{kind}/{quote(str(file['id']), safe='')}"
            name = str(file.get("url") or file.get("title") or "")
            description = _strings(file.get("description"))
            distributions.append(
                Distribution(
                    title=[Text(t, lang) for t in _strings(file.get("title"))[:1]],
                    description=[Text(description[0], lang)] if description else [],
                    access_url=[url],
                    download_url=[url],
                    format=_file_format(values, file.get("mimetype"), name),
                    media_type=values.media_type(file.get("mimetype")),
                    licence=licence,
                    rights=rights,
                )
            )

    publisher = fmap.apply("publisher", item, values)
    creator = fmap.apply("creator", item, values)
    contact = fmap.apply("contact", item, values)
    if contact.get("email"):
        contact["email"] = contact["email"].removeprefix("mailto:")
    other_ids = _strings(item.get("dataset_uid")) + _strings(inspire.get("file_identifier"))
    _note_unread(item, values)
    return Dataset(
        uri=uri,
        identifier=[dataset_id] if dataset_id else [],
        other_identifier=[i for i in other_ids if i != dataset_id],
        keywords=keywords,
        themes=themes,
        publisher=Agent(**publisher) if publisher else None,
        creator=Agent(**creator) if creator else None,
        contact_points=[ContactPoint(**contact)] if contact else [],
        distributions=distributions,
        licence=licence,
        temporal=_temporal(dcat, values),
        spatial=_spatial(default, dcat, inspire),
        landing_page=[f"{root}/explore/dataset/{quote(dataset_id, safe='')}/"],
        unmapped=values.unmapped,
        **{**fields, "title": title},
    )


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
        return fetch_json(self.client, url)[1]

    def _walk(self, ahead: FetchAhead) -> Iterator[Page]:
        listed: set[str] = set()  # every distinct dataset id the portal listed, before the publisher check
        offset, number, totals = 0, 0, []
        while True:
            url = self.list_url(offset)
            number += 1
            document = ahead.get(url, self._listing)
            if not isinstance(document, dict) or not isinstance(document.get("results"), list):
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
            yield self._page(url, number, results, listed, total)
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
        items: list[Any],
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
                publisher = _strings(_metas(item, "default").get("publisher"))
                if not publisher or fold(publisher[0]) != wanted:
                    continue  # the portal ignored the publisher filter: keep only that publisher
            records.append(RawRecord(srid, canonical_json(item), JSON, fetch_url or url, number, parsed=item))
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

    def to_dataset(self, record: RawRecord, uri: str) -> Dataset:
        item = record.parsed if record.parsed is not None else json.loads(record.payload)
        return dataset_from_ods(item, uri, self.root)
