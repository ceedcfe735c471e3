"""`type: opendatasoft` — one Explore API v2.1 catalogue dataset (canonical JSON) → Dataset.

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
from typing import Any
from urllib.parse import quote

from . import geometry
from .context import SourceContext
from .datajson import period_from_text
from .dates import normalise_date
from .fieldmap import fieldmap
from .model import (
    Agent,
    ContactPoint,
    DataService,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Text,
)
from .normalise import format_uri, licence_uri
from .values import ValueMapper, is_iri, licence_text

API = "/api/explore/v2.1"
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


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def strings(value: Any) -> list[str]:
    return [s for v in _as_list(value) if not isinstance(v, dict | list) and (s := str(v).strip())]


def metas(item: dict, template: str) -> dict:
    templates = item.get("metas")
    found = templates.get(template) if isinstance(templates, dict) else None
    return found if isinstance(found, dict) else {}


def record_identifier(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    value = item.get("dataset_id") or item.get("dataset_uid")
    return str(value).strip() or None if isinstance(value, str | int) else None


def _lang(default: dict) -> str | None:
    """The language the metadata is written in: `metadata_languages`, else the dataset's `language`."""
    for value in strings(default.get("metadata_languages")) + strings(default.get("language")):
        if len(value) >= 2 and value[:2].isalpha():
            return value[:2].lower()
    return None


def _licence(default: dict, values: ValueMapper) -> str | None:
    label = next(iter(strings(default.get("license"))), None)
    url = next(iter(strings(default.get("license_url"))), None)
    for candidate in (label, url):
        if candidate and (found := licence_uri(candidate)):
            return found.uri
    if url and is_iri(url):
        return url  # a licence page fedcat does not know: still the licence's IRI
    return values.licence(label)  # unknown label: noted


def _themes(default: dict, values: ValueMapper, lang: str | None) -> tuple[list[str], list[Text]]:
    themes: list[str] = []
    keywords: list[Text] = []
    for theme in strings(default.get("theme")):
        found = values.themes([theme])  # notes an unknown category
        themes.extend(u for u in found if u not in themes)
        if not found:
            keywords.append(Text(theme, lang))  # an unknown category stays searchable
    return themes, keywords


def _temporal(dcat: dict, values: ValueMapper) -> list[PeriodOfTime]:
    periods = []
    start = normalise_date(next(iter(strings(dcat.get("temporal_coverage_start"))), None))
    end = normalise_date(next(iter(strings(dcat.get("temporal_coverage_end"))), None))
    if start or end:
        periods.append(PeriodOfTime(start=start, end=end))
    for text in strings(dcat.get("temporal")):
        period = period_from_text(text)
        if period:
            periods.append(period)
        else:
            values.note("temporal", text)
    return periods


def _spatial(default: dict, dcat: dict, inspire: dict) -> list[Location]:
    places = list(dict.fromkeys(strings(default.get("territory")) + strings(dcat.get("spatial"))))
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
        label = strings(inspire.get("extend_description"))
        locations.append(Location(label=[Text(label[0])] if label else [], bbox=geometry.bbox_wkt(box)))
    return locations


def _file_format(values: ValueMapper, media_type: str | None, name: str | None) -> str | None:
    """The EU file type of an attachment: its file extension, else its media type (unknown: noted)."""
    media_type = media_type if isinstance(media_type, str) else None  # a record may give anything here
    name = name if isinstance(name, str) else None
    extension = name.rsplit(".", 1)[-1] if name and "." in name[-6:] else None
    for candidate in (extension, media_type):
        if candidate and (found := format_uri(candidate)):
            return found.uri
    return values.format(media_type or extension)


def _note_unread(item: dict, values: ValueMapper) -> None:
    templates = item.get("metas")
    if not isinstance(templates, dict):
        return
    for template, fields in templates.items():
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
    default, dcat, inspire = metas(item, "default"), metas(item, "dcat"), metas(item, "inspire")
    lang = _lang(default)
    fields = fmap.apply("dataset", item, values, lang)
    dataset_id = record_identifier(item) or ""
    api = f"{root}{API}/catalog/datasets/{quote(dataset_id, safe='')}"

    themes, theme_keywords = _themes(default, values, lang)
    keywords = fields.pop("keywords", [])
    keywords += [k for k in theme_keywords if k.value not in {w.value for w in keywords}]
    licence = _licence(default, values)
    rights = "; ".join(strings(default.get("attributions"))) or None
    title = fields.get("title") or [Text(dataset_id)]

    service = DataService(
        title=[Text(f"{title[0].value} — Explore API v2.1", title[0].lang)],
        endpoint_url=[f"{api}/records"],
        endpoint_description=[f"{root}{API}/swagger.json"],
        serves_dataset=[uri],
        licence=licence,
    )
    distributions = []
    features = set(strings(item.get("features")))
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
            description = strings(file.get("description"))
            distributions.append(
                Distribution(
                    title=[Text(t, lang) for t in strings(file.get("title"))[:1]],
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
    derived_from, origin_id = _source_links(default)
    other_ids = strings(item.get("dataset_uid")) + strings(inspire.get("file_identifier")) + origin_id
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
        # a portal's own licence named only by its label ("Licence d'utilisation de la Métropole")
        licence_text=licence_text(next(iter(strings(default.get("license"))), None)) if not licence else None,
        temporal=_temporal(dcat, values),
        spatial=_spatial(default, dcat, inspire),
        landing_page=[f"{root}/explore/dataset/{quote(dataset_id, safe='')}/"],
        derived_from=derived_from,
        unmapped=values.unmapped,
        **{**fields, "title": title},
    )


def _source_links(default: dict) -> tuple[list[str], list[str]]:
    """Where the portal says the dataset comes from, and the origin's record id: the Opendatasoft domain
    it is federated from (`source_domain_address` and `source_dataset`: that portal's page of it, as
    udata's `harvest.remote_url` and `remote_id`), and the `references` link, the "source" a publisher
    gives (data.gouv.fr pages in the public catalogue's 2015 export). Not web addresses: left out."""
    links: list[str] = []
    domain = next(iter(strings(default.get("source_domain_address"))), "")
    origin = next(iter(strings(default.get("source_dataset"))), "")
    if domain and origin:
        root = domain.rstrip("/") if "://" in domain else f"https://{domain.strip('/')}"
        links.append(f"{root}/explore/dataset/{quote(origin, safe='')}/")
    links += [r for r in strings(default.get("references")) if r.lower().startswith(("http://", "https://"))]
    return list(dict.fromkeys(links)), [origin] if domain and origin else []


def portal_root(url: str) -> str:
    """The portal's root from a source URL that may already point into the API."""
    root = url.strip().rstrip("/")
    return root.split("/api/", 1)[0] if "/api/" in root + "/" else root


def map_dataset(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """One Explore v2.1 dataset (`parsed`: the object already decoded from `payload`) as fedcat's `uri`."""
    item = parsed if parsed is not None else json.loads(payload)
    return dataset_from_ods(item, uri, portal_root(source.url))
