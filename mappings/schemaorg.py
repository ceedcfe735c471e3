"""`type: website` — one schema.org `Dataset` found on a web page (JSON-LD, microdata or RDFa) → Dataset.

The payload is `{"page": the page URL, "dataset": the Dataset as JSON-LD}` (microdata and RDFa are turned
into the same JSON-LD shape by the crawler). Mapping choices:
- `name`/`description` → title/description, in the item's `inLanguage` when it names one language;
- `keywords`: a comma-separated string, a list, or `DefinedTerm`s (their `name`);
- `license`: a URL or a `CreativeWork` (its `url`, else its `name`) → the licence of every distribution;
- `publisher`/`creator`: an `Organization`/`Person` (name, url, email) or a plain name;
- `temporalCoverage` "2010/2020", "2011", "2010-01-01/..": as data.json's `temporal`;
- `spatialCoverage`: a `Place` (name, `geo` `GeoShape` box "S W N E" or `GeoCoordinates`) or a name;
- `distribution` `DataDownload`: `contentUrl` → download and access URL, `encodingFormat` → format and media
  type, `contentSize` noted when it is not a number of bytes;
- `includedInDataCatalog`: the catalogue's URL is related; the page is the landing page.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from . import geometry
from .context import SourceContext
from .datajson import location_from, period_from_text
from .dates import normalise_date
from .model import Agent, Dataset, Distribution, Location, Text
from .normalise import format_uri
from .values import ValueMapper, as_list, is_iri, resolve_link

_SIZE = re.compile(r"^\s*(\d+)\s*(?:b|bytes?)?\s*$", re.I)


def _text(value: Any) -> str | None:
    """A plain string from a literal, a JSON-LD value object or a one-item list."""
    if isinstance(value, list):
        value = next((v for v in value if _text(v)), None)
    if isinstance(value, dict):
        value = value.get("@value") or value.get("name") or value.get("@id")
    if isinstance(value, str | int | float) and str(value).strip():
        return str(value).strip()
    return None


def _url(value: Any, base: str | None = None) -> str | None:
    """An absolute URL; a relative one (`/files/a.csv`, `../a.csv`, `#ds`: JSON-LD in a page is read
    against the page's address) resolved against `base`, the page."""
    if isinstance(value, dict):
        value = value.get("url") or value.get("@id") or value.get("contentUrl")
    text = _text(value)
    if text and base and not is_iri(text):
        text = resolve_link(text, base, bare=True) or text
    return text if text and is_iri(text) else None


def _texts(value: Any, lang: str | None) -> list[Text]:
    found: list[Text] = []
    for item in as_list(value):
        item_lang = lang
        if isinstance(item, dict) and isinstance(item.get("@language"), str):
            item_lang = item["@language"].split("-")[0].lower()
        if (text := _text(item)) and text not in {t.value for t in found}:
            found.append(Text(text, item_lang))
    return found


def _keywords(value: Any, lang: str | None) -> list[Text]:
    words: list[str] = []
    for item in as_list(value):
        parts = item.split(",") if isinstance(item, str) else [_text(item) or ""]
        words.extend(w.strip() for w in parts if w.strip() and w.strip() not in words)
    return [Text(w, lang) for w in words]


# schema.org's Organization subtypes (GovernmentOrganization, NGO, Corporation…) are organisations too
_AGENT_KINDS = {"Person": "Person", "NGO": "Organization", "Corporation": "Organization"}


def _agent(value: Any, base: str | None = None) -> Agent | None:
    value = value[0] if isinstance(value, list) and value else value
    if isinstance(value, str) and value.strip():
        return Agent(uri=value.strip()) if is_iri(value.strip()) else Agent(name=[Text(value.strip())])
    if not isinstance(value, dict):
        return None
    kind = str(value.get("@type") or "").rsplit("/", 1)[-1]
    name, url = _text(value.get("name")), _url(value.get("url"), base)
    uri = value.get("@id") if isinstance(value.get("@id"), str) and is_iri(value["@id"]) else None
    email = _text(value.get("email"))
    agent = Agent(
        uri=uri,
        name=[Text(name)] if name else [],
        type=_AGENT_KINDS.get(kind, "Organization" if kind.endswith("Organization") else None),
        email=email.removeprefix("mailto:") if email else None,
        homepage=url,
    )
    return agent if agent.uri or agent.name or agent.homepage else None


def _location(value: Any) -> Location | None:
    if not isinstance(value, dict):
        return location_from(value)
    name = _text(value.get("name"))
    geo = value.get("geo")
    geo = geo[0] if isinstance(geo, list) and geo else geo
    found = Location(label=[Text(name)] if name else [])
    if isinstance(value.get("@id"), str) and is_iri(value["@id"]):
        found.uri = value["@id"]
    if isinstance(geo, dict):
        box = _text(geo.get("box"))
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", box)] if box else []
        if len(numbers) == 4:  # schema.org's box: "south west north east"
            south, west, north, east = numbers
            if valid := geometry.valid_bbox(west, south, east, north):
                found.bbox = geometry.bbox_wkt(valid)
        latitude, longitude = _text(geo.get("latitude")), _text(geo.get("longitude"))
        if latitude and longitude and not found.bbox:
            with contextlib.suppress(ValueError):
                found.centroid = f"POINT({float(longitude)} {float(latitude)})"
    return found if found.uri or found.label or found.bbox or found.centroid else None


def _distribution(item: Any, values: ValueMapper, lang: str | None, base: str) -> Distribution | None:
    if not isinstance(item, dict):
        return None
    content = _url(item.get("contentUrl"), base)
    url = content or _url(item.get("url"), base)
    fmt = _text(item.get("encodingFormat") or item.get("fileFormat"))
    dist = Distribution(
        title=_texts(item.get("name"), lang),
        description=_texts(item.get("description"), lang),
        access_url=[url] if url else [],
        download_url=[content] if content else [],
        format=(found.uri if fmt and (found := format_uri(fmt)) else values.format(fmt)),
        media_type=values.media_type(fmt) if fmt and "/" in fmt else None,
    )
    size = _text(item.get("contentSize"))
    if size and (match := _SIZE.match(size)):
        dist.byte_size = int(match[1])
    elif size:
        values.note("contentSize", size)
    modified = normalise_date(_text(item.get("dateModified")) or "")
    dist.modified = modified or None
    return dist if dist.access_url or dist.title else None


def dataset_from_schemaorg(item: dict, page: str, uri: str) -> Dataset:
    """Map one schema.org Dataset (JSON-LD) found on `page` to the model, as fedcat's `uri`."""
    values = ValueMapper()
    languages = [_text(v) for v in as_list(item.get("inLanguage"))]
    lang = languages[0].split("-")[0].lower() if len(languages) == 1 and languages[0] else None
    licence_value = item.get("license")
    licence_label = _url(licence_value) or _text(licence_value)
    licence = values.licence(licence_label)
    distributions = [
        d for v in as_list(item.get("distribution")) if (d := _distribution(v, values, lang, page))
    ]
    for dist in distributions:
        dist.licence = licence
    temporal = []
    for value in as_list(item.get("temporalCoverage")):
        text = _text(value)
        if text and (period := period_from_text(text)):
            temporal.append(period)
        elif text:
            values.note("temporalCoverage", text)
    spatial = [loc for value in as_list(item.get("spatialCoverage")) if (loc := _location(value))]
    related = [u for c in as_list(item.get("includedInDataCatalog")) if (u := _url(c, page))]
    identifiers = [t for v in as_list(item.get("identifier")) if (t := _text(v))]
    original = _url(item.get("@id"), page) if isinstance(item.get("@id"), str) else None
    landing = [page]
    if (own := _url(item.get("url"), page)) and own != page:
        landing.append(own)
    return Dataset(
        uri=uri,
        original_uri=original,
        title=_texts(item.get("name"), lang),
        description=_texts(item.get("description"), lang),
        identifier=identifiers,
        keywords=_keywords(item.get("keywords"), lang),
        publisher=_agent(item.get("publisher"), page),
        creator=_agent(item.get("creator"), page),
        distributions=distributions,
        issued=normalise_date(_text(item.get("datePublished")) or "") or None,
        modified=normalise_date(_text(item.get("dateModified")) or "") or None,
        language=[u for v in languages if v and (u := values.language(v))],
        licence=licence,
        temporal=temporal,
        spatial=spatial,
        landing_page=landing,
        version=_text(item.get("version")),
        related=related,
        unmapped=values.unmapped,
    )


def map_dataset(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """One schema.org Dataset found on a page (`parsed`: the payload already decoded)."""
    record = parsed if parsed is not None else json.loads(payload)
    return dataset_from_schemaorg(record["dataset"], record["page"], uri)
