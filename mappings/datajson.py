"""`type: datajson` — one DCAT-US `data.json` dataset (Project Open Data 1.1 or DCAT-US 3.0) → Dataset.

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
- `isPartOf` (a parent's identifier in the same catalogue) → `related`, as fedcat's URI of that parent, beside
  DCAT-US 3.0's `relation`.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from . import geometry
from .context import SourceContext
from .dates import normalise_date
from .fieldmap import fieldmap
from .model import (
    Activity,
    Agent,
    Attribution,
    ContactPoint,
    DataService,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Relationship,
    Text,
)
from .normalise import format_uri
from .values import ValueMapper, absolute_links, as_list, is_iri

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
    for item in as_list(value):
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


def _distribution(item: dict, values: ValueMapper, lang: str | None, base: str) -> Distribution | None:
    if not isinstance(item, dict):
        return None
    item = absolute_links(item, ("accessURL", "downloadURL"), base, values)
    fields = fieldmap("datajson").apply("distribution", item, values, lang)
    if not fields.get("access_url") and fields.get("download_url"):
        fields["access_url"] = list(fields["download_url"])  # DCAT-AP requires an access URL
    media_type = item.get("mediaType")
    fields["format"] = _format(values, item.get("format"), media_type)
    fields["media_type"] = values.media_type(media_type if isinstance(media_type, str) else None)
    return Distribution(**{k: v for k, v in fields.items() if v is not None})


def _themes(item: dict, values: ValueMapper, lang: str | None) -> tuple[list[str], list[Text]]:
    themes: list[str] = []
    keywords: list[Text] = []
    for theme in as_list(item.get("theme")):
        if isinstance(theme, dict):  # DCAT-US 3.0 Concept
            theme = theme.get("prefLabel") or theme.get("@id")
        if not isinstance(theme, str) or not theme.strip():
            continue
        found = values.themes([theme])
        themes.extend(u for u in found if u not in themes)
        if not found:
            keywords.append(Text(theme.strip(), lang))  # an unknown category stays searchable
    return themes, keywords


def dataset_from_datajson(
    item: dict, uri: str, sibling_uri: Callable[[str], str] | None = None, base: str = ""
) -> Dataset:
    """Map one data.json dataset to the model; `sibling_uri(identifier)` gives fedcat's URI of another
    dataset of the same catalogue (for `isPartOf`); `base` the data.json's own URL, which the distributions'
    relative links are read against."""
    values = ValueMapper()
    languages = [v for v in as_list(item.get("language")) if isinstance(v, str)]
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
    for value in as_list(item.get("temporal")):
        if isinstance(value, dict):  # DCAT-US 3.0 PeriodOfTime
            given = PeriodOfTime(
                start=normalise_date(str(value.get("startDate") or "")) or None,
                end=normalise_date(str(value.get("endDate") or "")) or None,
            )
            period = given if given.start or given.end else None
        else:
            period = period_from_text(str(value)) if value else None
        if period:
            temporal.append(period)
        elif value:
            values.note("temporal", str(value) if not isinstance(value, dict) else json.dumps(value))

    spatial = [loc for value in as_list(item.get("spatial")) if (loc := location_from(value))]

    related = fields.pop("related", [])  # DCAT-US 3.0 `relation`
    for parent in as_list(item.get("isPartOf")):
        parent = parent.get("@id") if isinstance(parent, dict) else parent
        if isinstance(parent, str) and parent.strip():
            if sibling_uri is not None:
                related.append(sibling_uri(parent.strip()))
            elif is_iri(parent):
                related.append(parent.strip())

    distributions = [
        d for v in as_list(item.get("distribution")) if (d := _distribution(v, values, lang, base))
    ]
    licence = fields.pop("licence", None)
    for dist in distributions:
        dist.licence = dist.licence or licence
    identifier = record_identifier(item)
    other_ids = [
        str(o.get("notation") or o.get("@id"))
        for o in as_list(item.get("otherIdentifier"))
        if isinstance(o, dict) and (o.get("notation") or o.get("@id"))
    ]
    original = item.get("@id") if isinstance(item.get("@id"), str) else None
    if original is None and identifier and is_iri(identifier):
        original = identifier
    service = (
        _service(item, sibling_uri) if str(item.get("@type") or "").lower().endswith("dataservice") else None
    )
    return Dataset(
        service=service,
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
        sample=[
            d
            for v in as_list(item.get("sample"))
            if isinstance(v, dict) and (d := _distribution(v, values, lang, base))
        ],
        qualified_relation=[
            Relationship(relation=relation, role=_role(r.get("hadRole")))
            for r in as_list(item.get("qualifiedRelation"))
            if isinstance(r, dict) and (relation := _link(r.get("relation")))
        ],
        qualified_attribution=[
            Attribution(agent=who, role=_role(a.get("hadRole")))
            for a in as_list(item.get("qualifiedAttribution"))
            if isinstance(a, dict) and (who := _publisher(a.get("agent"), values))
        ],
        was_generated_by=[
            Activity(
                uri=_link(a.get("@id")),
                label=[Text(a["label"].strip(), lang)] if _has_text(a.get("label")) else [],
            )
            for a in as_list(item.get("wasGeneratedBy"))
            if isinstance(a, dict) and (_link(a.get("@id")) or _has_text(a.get("label")))
        ],
        rights_holder=_publisher(next(iter(as_list(item.get("rightsHolder"))), None), values),
        creator=_publisher(next(iter(as_list(item.get("creator"))), None), values),
        unmapped=values.unmapped,
        **fields,
    )


def _link(value: Any) -> str | None:
    """An IRI given as a string or as an object's `@id`."""
    value = value.get("@id") if isinstance(value, dict) else value
    return value.strip() if isinstance(value, str) and is_iri(value.strip()) else None


def _role(value: Any) -> str | None:
    """dcat:hadRole: an IRI, else the role's name ("Data Steward")."""
    return _link(value) or (value.strip() if _has_text(value) else None)


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _service(item: dict, sibling_uri: Callable[[str], str] | None) -> DataService:
    """A DCAT-US 3.0 DataService's endpoints and the datasets it serves: those given with an identifier are
    records of the same catalogue (linked by fedcat's URIs), the others kept by their `@id`."""
    served, served_as = [], {}
    for dataset in as_list(item.get("servesDataset")):
        key = (record_identifier(dataset) if isinstance(dataset, dict) else None) or (
            dataset if isinstance(dataset, str) else None
        )
        if not key:
            continue
        given = (dataset.get("@id") if isinstance(dataset, dict) else None) or key
        served.append(given)
        if isinstance(dataset, dict) and sibling_uri is not None:
            served_as[given] = sibling_uri(key)

    def links(name: str) -> list[str]:
        return [v.strip() for v in as_list(item.get(name)) if isinstance(v, str) and is_iri(v.strip())]

    return DataService(
        uri=item.get("@id") if isinstance(item.get("@id"), str) else None,
        endpoint_url=links("endpointURL"),
        endpoint_description=links("endpointDescription"),
        serves_dataset=served,
        served_as=served_as,
    )


def map_dataset(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """One data.json dataset (`parsed`: the object already decoded from `payload`) as fedcat's `uri`."""
    item = parsed if parsed is not None else json.loads(payload)
    return dataset_from_datajson(item, uri, source.record_uri, source.url)
