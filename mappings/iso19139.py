"""ISO 19139 metadata records (gmd:MD_Metadata, gmi:MI_Metadata) as DCAT-AP datasets, after GeoDCAT-AP.

The element paths are code; the code lists are data: roles, date types, frequencies, online functions,
protocols and hierarchy levels in `mappings/iso19139.yaml`, topic categories -> EU data themes in
`mappings/aliases/iso-topic-categories.yaml`. What the mapping reads (GeoDCAT-AP's core profile, where the
model has the property):
- title, abstract, keywords, organisation names, online resource names: language-tagged, with their
  gmd:PT_FreeText translations (locale ids resolved through gmd:locale); untagged texts take the metadata
  language (gmd:language, ISO 639-2 "fre" -> "fr");
- fileIdentifier -> adms:identifier (and the record id: else the citation's first identifier); the citation's identifiers -> dct:identifier, an
  HTTP one (or codeSpace + code) also as the dataset's original IRI;
- topic categories -> EU data themes; keywords -> dcat:keyword (an anchored keyword naming an EU data theme
  is a theme too);
- citation dates by CI_DateTypeCode -> issued / modified; edition -> version; maintenance frequency ->
  accrual periodicity; resource language -> dct:language (EU language URIs);
- responsible parties by role -> publisher, creator, contact points;
- resource constraints: the first gmd:otherConstraints / gmd:useLimitation value (anchor href first) naming
  an access right -> access rights, naming a licence -> licence (dataset and distributions); the other
  texts -> each distribution's dct:rights; no licence found: the texts are noted under unmapped["licence"];
- EX_GeographicBoundingBox -> WKT bbox, geographic identifiers -> location IRI or label, gml TimePeriod /
  TimeInstant -> temporal;
- online resources: information / search pages -> foaf:page, the others -> distributions (URL, name,
  description, format from the protocol, the URL's extension or the record's only format); OGC services
  (WMS, WFS, WCS, WMTS) get a dcat:DataService (endpoint, GetCapabilities, the OGC standard) as access service.
Values that fit no vocabulary are kept under `Dataset.unmapped` (the run report counts them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree.ElementTree import Element

import yaml
from defusedxml.ElementTree import fromstring

from . import normalise
from .context import SourceContext
from .dates import normalise_date, normalise_decimal
from .geometry import bbox_wkt, valid_bbox
from .model import Agent, ContactPoint, DataService, Dataset, Distribution, Location, PeriodOfTime, Text
from .values import ValueMapper, is_iri, is_link
from .vocabularies import Match, has_label, vocabulary

HERE = Path(__file__).parent
EU = "http://publications.europa.eu/resource/authority/"
GMD = "http://www.isotc211.org/2005/gmd"
GMI = "http://www.isotc211.org/2005/gmi"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
NS = {"gmd": GMD, "gco": "http://www.isotc211.org/2005/gco", "gmx": "http://www.isotc211.org/2005/gmx"}
RECORD_TAGS = frozenset({f"{{{GMD}}}MD_Metadata", f"{{{GMI}}}MI_Metadata"})

_IDENTIFICATION = "gmd:identificationInfo/*"
_CITATION = "gmd:citation/gmd:CI_Citation"
_PARTIES = (
    "gmd:pointOfContact/gmd:CI_ResponsibleParty",
    f"{_CITATION}/gmd:citedResponsibleParty/gmd:CI_ResponsibleParty",
)
_CONTACT = "gmd:contactInfo/gmd:CI_Contact"


@dataclass(frozen=True)
class Protocol:
    match: tuple[str, ...]
    format: str | None = None
    service: str | None = None
    standard: str | None = None
    download: bool = False


@dataclass(frozen=True)
class Tables:
    left_out_levels: frozenset[str]
    dates: dict[str, tuple[str, ...]]
    publisher: tuple[str, ...]
    creator: tuple[str, ...]
    contact_point: tuple[str, ...]
    frequencies: dict[str, str]
    documentation_functions: frozenset[str]
    protocols: tuple[Protocol, ...]
    topic_categories: dict[str, tuple[str, ...]]


def _lower(values: Any) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in values)


@cache
def tables() -> Tables:
    """mappings/iso19139.yaml and the topic category table, loaded once (codes lower-cased)."""
    with (HERE / "iso19139.yaml").open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    with (HERE / "aliases" / "iso-topic-categories.yaml").open(encoding="utf-8") as fh:
        topics = yaml.safe_load(fh)["topic_categories"]
    return Tables(
        left_out_levels=frozenset(_lower(data["left_out_levels"])),
        dates={field: _lower(types) for field, types in data["dates"].items()},
        publisher=_lower(data["publisher"]),
        creator=_lower(data["creator"]),
        contact_point=_lower(data["contact_point"]),
        frequencies={k.lower(): f"{EU}frequency/{v}" for k, v in data["frequencies"].items()},
        documentation_functions=frozenset(_lower(data["documentation_functions"])),
        protocols=tuple(
            Protocol(**{**p, "match": _lower(p["match"]), "download": bool(p.get("download"))})
            for p in data["protocols"]
        ),
        topic_categories={k.lower(): tuple(f"{EU}data-theme/{c}" for c in v) for k, v in topics.items()},
    )


@cache
def _iso639_1() -> dict[str, str]:
    """EU language URI -> its two-letter code (the language table's aliases), for language tags."""
    with (HERE / "language.yaml").open(encoding="utf-8") as fh:
        concepts = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["concepts"]
    return {
        c["uri"]: a
        for c in concepts
        for a in c.get("aliases") or ()
        if isinstance(a, str) and len(a) == 2 and a.isalpha() and a.islower()
    }


def language_tag(code: str | None) -> str | None:
    """The BCP 47 tag of an ISO 639 code or language name ("fre", "eng; CAN", "Français" -> "fr")."""
    if not code:
        return None
    match = normalise.language_uri(code.split(";")[0].strip())
    return _iso639_1().get(match.uri) if match else None


# --- reading ISO properties ------------------------------------------------------------------------------


def value(prop: Element | None) -> str | None:
    """An ISO property's value: its gco / gmx child's text (CharacterString, Anchor, Date, Decimal, URL…)
    or code (codeListValue, else the code element's text)."""
    if prop is None:
        return None
    for child in prop:
        found = child.get("codeListValue") or child.text
        if found and found.strip():
            return found.strip()
    return None


def href(prop: Element | None) -> str | None:
    """The xlink:href of a property's gmx:Anchor (an IRI for its value), if any."""
    if prop is None:
        return None
    for child in prop:
        link = (child.get(XLINK_HREF) or "").strip()
        if link:
            return link
    return None


def _values(parent: Element, path: str) -> list[str]:
    return [v for prop in parent.iterfind(path, NS) if (v := value(prop))]


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(i for i in items if i))


class Record:
    """One ISO record being mapped: its languages (for tags) and the value mapper of the dataset."""

    def __init__(self, element: Element, default_lang: str | None) -> None:
        # untagged texts are in the metadata language, else in the resource's (GeoDCAT-AP's default)
        self.lang = (
            language_tag(value(element.find("gmd:language", NS)))
            or language_tag(value(element.find(f"{_IDENTIFICATION}/gmd:language", NS)))
            or default_lang
        )
        self.locales = {
            (loc.get("id") or "").strip(): language_tag(value(loc.find("gmd:languageCode", NS)))
            for loc in element.iterfind("gmd:locale/gmd:PT_Locale", NS)
        }
        self.values = ValueMapper()

    def _locale(self, ref: str | None) -> str | None:
        ident = (ref or "").strip().removeprefix("#")
        return self.locales.get(ident) or language_tag(ident.rsplit("-", 1)[-1])

    def texts(self, prop: Element | None) -> list[Text]:
        """A free-text property with its PT_FreeText translations, each tagged with its language."""
        if prop is None:
            return []
        found: list[Text] = []
        main = value(prop)
        if main:
            found.append(Text(main, self.lang))
        for local in prop.iterfind("gmd:PT_FreeText/gmd:textGroup/gmd:LocalisedCharacterString", NS):
            if local.text and local.text.strip():
                text = Text(local.text.strip(), self._locale(local.get("locale")))
                if all((text.value, text.lang) != (t.value, t.lang) for t in found):
                    found.append(text)
        # an untagged text repeated by a tagged translation says nothing more
        tagged = {t.value for t in found if t.lang}
        return [t for t in found if t.lang or t.value not in tagged]


# --- the mapping ------------------------------------------------------------------------------------------


def file_identifier(element: Element) -> str | None:
    return value(element.find("gmd:fileIdentifier", NS))


def record_id(element: Element) -> str | None:
    """The record's id in its catalogue: its gmd:fileIdentifier, else (servers export records without one)
    the first identifier of its resource's citation, else its gmd:dataSetURI: what stays the same from one
    run to the next, as a position in the listing or a digest of the record would not."""
    found = file_identifier(element)
    if found:
        return found
    citation = element.find(f"{_IDENTIFICATION}/{_CITATION}", NS)
    identifiers = _identifiers(citation) if citation is not None else []
    return identifiers[0] if identifiers else value(element.find("gmd:dataSetURI", NS))


def hierarchy_level(element: Element) -> str:
    """The record's MD_ScopeCode, lower-case ("dataset" when absent; a URI reads as its last segment)."""
    level = value(element.find("gmd:hierarchyLevel", NS)) or "dataset"
    return level.rstrip("/").rsplit("/", 1)[-1].lower()


def is_left_out(element: Element) -> bool:
    """Whether the record is of a level the harvest leaves out (services: see mappings/iso19139.yaml)."""
    return hierarchy_level(element) in tables().left_out_levels


def dataset_from_iso(
    element: Element, uri: str, *, record_url: str | None = None, lang: str | None = None
) -> Dataset:
    """Map one gmd:MD_Metadata / gmi:MI_Metadata element to the model; `record_url` is the record's page on
    its catalogue (landing page), `lang` the language of its untagged texts when the record does not say."""
    record = Record(element, lang)
    values = record.values
    table = tables()
    info = element.find(_IDENTIFICATION, NS)
    if info is None:
        raise ValueError("the record has no gmd:identificationInfo")
    citation = info.find(_CITATION, NS)
    if citation is None:
        citation = Element("empty")
    file_id = file_identifier(element)
    level = hierarchy_level(element)
    if level != "dataset":
        values.note("hierarchy_level", level)

    identifiers = _identifiers(citation)
    original = next((i for i in identifiers if i.startswith(("http://", "https://")) and " " not in i), None)
    identifier = identifiers or _unique([file_id])
    parties = [_party(record, p) for path in _PARTIES for p in info.iterfind(path, NS)]
    licence, access_rights, rights = _constraints(record, info)
    documentation, distributions = _online(record, element, uri, licence, rights)
    labels: dict[str, list[Text]] = {}
    return Dataset(
        uri=uri,
        title=record.texts(citation.find("gmd:title", NS)),
        description=record.texts(info.find("gmd:abstract", NS)),
        original_uri=original,
        identifier=identifier,
        other_identifier=[i for i in _unique([file_id]) if i not in identifier],
        keywords=_keywords(record, info),
        themes=_themes(record, info, labels),
        labels=labels,
        publisher=_agent(parties, table.publisher),
        creator=_agent(parties, table.creator),
        contact_points=_contacts(record, element, parties),
        distributions=distributions,
        **_dates(record, citation),
        language=_unique([values.language(code.split(";")[0]) for code in _values(info, "gmd:language")]),
        licence=licence,
        access_rights=access_rights,
        accrual_periodicity=_frequency(record, info),
        temporal=_temporal(record, info),
        spatial=_spatial(record, info),
        landing_page=[record_url] if record_url else [],
        documentation=documentation,
        version=value(citation.find("gmd:edition", NS)),
        # GeoDCAT-AP: the lineage statement is the dataset's dct:provenance, a distance in metres its
        # dcat:spatialResolutionInMeters
        provenance=[t for s in element.iterfind(_LINEAGE, NS) for t in record.texts(s)],
        spatial_resolution_in_meters=_unique(
            [
                d
                for distance in info.iterfind(_DISTANCE, NS)
                if (distance.get("uom") or "").strip().lower() in _METRES
                and (d := normalise_decimal(distance.text or ""))
            ]
        ),
        unmapped=values.unmapped,
    )


_LINEAGE = "gmd:dataQualityInfo/gmd:DQ_DataQuality/gmd:lineage/gmd:LI_Lineage/gmd:statement"
_DISTANCE = "gmd:spatialResolution/gmd:MD_Resolution/gmd:distance/gco:Distance"
_METRES = frozenset({"m", "metre", "meter", "metres", "meters", "urn:ogc:def:uom:epsg::9001"})


def _identifiers(citation: Element) -> list[str]:
    """The citation's identifiers: an anchored code's IRI, else codeSpace + code when that is an IRI."""
    found = []
    for ident in citation.iterfind("gmd:identifier/*", NS):
        code_prop = ident.find("gmd:code", NS)
        code, link = value(code_prop), href(code_prop)
        space = value(ident.find("gmd:codeSpace", NS))
        if link and is_iri(link):
            found.append(link)
        elif code and space and is_iri(space) and not is_iri(code):
            found.append(space + code if space.endswith(("/", "#")) else f"{space}/{code}")
        elif code:
            found.append(code)
    return _unique(found)


def _dates(record: Record, citation: Element) -> dict[str, Any]:
    by_type: dict[str, str] = {}
    for date in citation.iterfind("gmd:date/gmd:CI_Date", NS):
        kind = (value(date.find("gmd:dateType", NS)) or "").lower()
        raw = value(date.find("gmd:date", NS))
        if not raw or kind in by_type:
            continue
        if normalised := normalise_date(raw):
            by_type[kind] = normalised
        else:
            record.values.note(f"date_{kind or 'untyped'}", raw)
    return {
        field: next((by_type[k] for k in kinds if k in by_type), None)
        for field, kinds in tables().dates.items()
    }


def _keywords(record: Record, info: Element) -> list[Text]:
    found: list[Text] = []
    for prop in info.iterfind("gmd:descriptiveKeywords/gmd:MD_Keywords/gmd:keyword", NS):
        for text in record.texts(prop):
            if all((text.value, text.lang) != (t.value, t.lang) for t in found):
                found.append(text)
    return found


# thesauri whose keyword IRIs are themes (kept as dcat:theme with the record's label) rather than places
THEME_NAMESPACES = (
    "http://inspire.ec.europa.eu/theme/",
    "https://inspire.ec.europa.eu/theme/",
    "http://www.eionet.europa.eu/gemet/",
    "https://www.eionet.europa.eu/gemet/",
    "http://aims.fao.org/aos/agrovoc/",
    "http://eurovoc.europa.eu/",
)


def _themes(record: Record, info: Element, labels: dict[str, list[Text]]) -> list[str]:
    """EU data themes (topic categories, anchored EU themes) and the IRIs of other theme thesauri; `labels`
    gets the record's labels of IRIs fedcat's vocabularies do not label."""
    themes: list[str] = []
    topics = tables().topic_categories
    for code in _values(info, "gmd:topicCategory"):
        mapped = topics.get(code.lower())
        if mapped:
            themes.extend(mapped)
        else:
            record.values.note("theme", code)
    inspire = vocabulary("inspire-theme")
    for block in info.iterfind("gmd:descriptiveKeywords/gmd:MD_Keywords", NS):
        thesaurus = " ".join(_values(block, "gmd:thesaurusName/gmd:CI_Citation/gmd:title")).lower()
        for prop in block.iterfind("gmd:keyword", NS):
            link = href(prop)
            texts = record.texts(prop)
            if link and is_iri(link):
                exact = [m.uri for m in normalise.theme_uris(link) if m.confidence == "exact"]
                if exact:  # anchored keywords of the EU data-theme vocabulary itself
                    themes.extend(exact)
                elif link.startswith(THEME_NAMESPACES):  # INSPIRE, GEMET, AGROVOC…: the IRI and its label
                    themes.append(link)
                    if texts and not has_label(link):
                        labels.setdefault(link, texts)
            elif "inspire" in thesaurus:  # "GEMET - INSPIRE themes, version 1.0" without anchors: by label
                themes.extend(m.uri for t in texts[:1] if (m := inspire.lookup(t.value)))
    return _unique(themes)


@dataclass(frozen=True)
class _Party:
    role: str
    name: list[Text]
    person: str | None
    email: str | None
    phone: str | None
    url: str | None


def _party(record: Record, element: Element) -> _Party:
    contact = element.find(_CONTACT, NS)
    if contact is None:
        contact = Element("empty")
    url = value(contact.find("gmd:onlineResource/gmd:CI_OnlineResource/gmd:linkage", NS))
    return _Party(
        role=(value(element.find("gmd:role", NS)) or "").lower(),
        name=record.texts(element.find("gmd:organisationName", NS)),
        person=value(element.find("gmd:individualName", NS)),
        email=value(contact.find("gmd:address/gmd:CI_Address/gmd:electronicMailAddress", NS)),
        phone=value(contact.find("gmd:phone/gmd:CI_Telephone/gmd:voice", NS)),
        url=url if url and is_iri(url) else None,
    )


def _agent(parties: list[_Party], roles: tuple[str, ...]) -> Agent | None:
    for role in roles:
        for party in parties:
            if party.role == role and (party.name or party.person):
                return Agent(
                    name=party.name or [Text(party.person or "")], email=party.email, homepage=party.url
                )
    return None


def _contacts(record: Record, element: Element, parties: list[_Party]) -> list[ContactPoint]:
    roles = tables().contact_point
    read = [p for p in parties if p.role in roles]
    if not read:  # GeoDCAT-AP's metadata point of contact, when the resource names none
        read = [_party(record, e) for e in element.iterfind("gmd:contact/gmd:CI_ResponsibleParty", NS)]
    found: list[ContactPoint] = []
    for party in read:
        contact = ContactPoint(
            name=party.name[0].value if party.name else party.person,
            email=party.email,
            url=party.url,
            phone=party.phone,
        )
        if contact != ContactPoint() and contact not in found:
            found.append(contact)
    return found


def _frequency(record: Record, info: Element) -> str | None:
    path = "gmd:resourceMaintenance/gmd:MD_MaintenanceInformation/gmd:maintenanceAndUpdateFrequency"
    code = value(info.find(path, NS))
    if not code:
        return None
    found = tables().frequencies.get(code.lower())
    if found is None:
        return record.values.frequency(code)  # a label or URI the vocabulary may know; noted if not
    return found


def _constraints(record: Record, info: Element) -> tuple[str | None, str | None, str | None]:
    """(licence, access rights, other conditions as one rights statement) from the resource constraints."""
    candidates: list[tuple[str | None, str]] = []  # (anchor href, text)
    for constraint in info.iterfind("gmd:resourceConstraints/*", NS):
        for name in ("gmd:otherConstraints", "gmd:useLimitation"):
            for prop in constraint.iterfind(name, NS):
                texts = record.texts(prop)
                if texts or href(prop):
                    candidates.append((href(prop), texts[0].value if texts else ""))
    access = licence = None
    rest: list[str] = []
    for link, text in candidates:
        forms = [f for f in (link, text) if f]
        if access is None and (found := _first(normalise.access_right_uri, forms)):
            access = found
        elif licence is None and (found := _first(normalise.licence_uri, forms)):
            licence = found
        elif text and not normalise.says_nothing(text):  # "None": no statement, not a condition named None
            rest.append(text)
    if licence is None:
        for text in rest:
            record.values.note("licence", text)
    return licence, access, "\n".join(_unique(rest)) or None


def _first(lookup: Callable[[str], Match | None], forms: list[str]) -> str | None:
    return next((m.uri for form in forms if (m := lookup(form))), None)


def _temporal(record: Record, info: Element) -> list[PeriodOfTime]:
    periods = []
    for extent in info.iterfind("gmd:extent/gmd:EX_Extent/gmd:temporalElement/*/gmd:extent", NS):
        for period in extent:
            name = period.tag.rsplit("}", 1)[-1]
            if name == "TimePeriod":
                start = _position(period, "begin")
                end = _position(period, "end")
            elif name == "TimeInstant":
                start = end = _position(period, "time")
            else:
                continue
            if start or end:
                periods.append(PeriodOfTime(start=start, end=end))
            elif raw := " ".join(t.strip() for t in period.itertext() if t.strip()):
                record.values.note("temporal", raw)
    return periods


def _position(period: Element, which: str) -> str | None:
    """gml:beginPosition / gml:begin/gml:TimeInstant/gml:timePosition (either GML namespace), normalised."""
    for path in (f"{{*}}{which}Position", f"{{*}}{which}/{{*}}TimeInstant/{{*}}timePosition"):
        found = period.find(path)
        if found is not None and found.text and (date := normalise_date(found.text.strip())):
            return date
    return None


def _spatial(record: Record, info: Element) -> list[Location]:
    locations = []
    for element in info.iterfind("gmd:extent/gmd:EX_Extent/gmd:geographicElement/*", NS):
        name = element.tag.rsplit("}", 1)[-1]
        if name == "EX_GeographicBoundingBox":
            sides = [
                value(element.find(f"gmd:{side}", NS))
                for side in (
                    "westBoundLongitude",
                    "southBoundLatitude",
                    "eastBoundLongitude",
                    "northBoundLatitude",
                )
            ]
            box = valid_bbox(*sides)
            if box:
                locations.append(Location(bbox=bbox_wkt(box)))
            elif any(sides):
                record.values.note("spatial", ",".join(s or "" for s in sides))
        elif name == "EX_GeographicDescription":
            code_prop = element.find("gmd:geographicIdentifier/*/gmd:code", NS)
            code, link = value(code_prop), href(code_prop)
            if link and is_iri(link):
                locations.append(Location(uri=link, label=[Text(code)] if code else []))
            elif code:
                locations.append(Location(uri=code) if is_iri(code) else Location(label=[Text(code)]))
    return locations


def _protocol(prop: Element | None) -> Protocol | None:
    forms = [f.lower() for f in (value(prop), href(prop)) if f]
    return next((p for p in tables().protocols if any(f.startswith(p.match) for f in forms)), None)


def _online(
    record: Record, element: Element, uri: str, licence: str | None, rights: str | None
) -> tuple[list[str], list[Distribution]]:
    """(documentation pages, distributions) from the record's online resources."""
    values = record.values
    distribution = "gmd:distributionInfo/gmd:MD_Distribution"
    # every declared format read once (an unknown label is noted); it goes on the distributions when the
    # record declares only one, since ISO lists formats apart from the online resources
    formats = [
        values.format(name) for name in _unique(_values(element, f"{distribution}//gmd:MD_Format/gmd:name"))
    ]
    documentation: list[str] = []
    distributions: list[Distribution] = []
    functions = tables().documentation_functions
    for resource in element.iterfind(f"{distribution}//gmd:onLine/gmd:CI_OnlineResource", NS):
        url = value(resource.find("gmd:linkage", NS))
        if not url:
            continue
        if not is_link(url):
            values.note("distribution_url", url)  # file paths, "www.…": kept in the report, not a link
            continue
        if (value(resource.find("gmd:function", NS)) or "").lower() in functions:
            documentation.append(url)
            continue
        protocol = _protocol(resource.find("gmd:protocol", NS))
        fmt = None
        if protocol and protocol.format:
            fmt = values.format(protocol.format)
        elif (match := normalise.url_format(url)) is not None:
            fmt = match
        elif len(formats) == 1:
            fmt = formats[0]
        title = record.texts(resource.find("gmd:name", NS))
        distributions.append(
            Distribution(
                title=title,
                description=record.texts(resource.find("gmd:description", NS)),
                access_url=[url],
                download_url=[url] if protocol and protocol.download else [],
                format=fmt,
                licence=licence,
                rights=rights,
                access_service=[_service(protocol, url, title, uri, licence)]
                if protocol and protocol.service
                else [],
            )
        )
    return _unique(documentation), distributions


def _service(protocol: Protocol, url: str, title: list[Text], uri: str, licence: str | None) -> DataService:
    """An OGC endpoint as the data service giving access to the distribution."""
    try:
        query = urlsplit(url).query.lower()
    except ValueError:  # "http://[x": an unclosed IPv6 bracket
        query = ""
    if "request=getcapabilities" in query:
        capabilities = [url]
    elif "request=" in query:
        capabilities = []  # a GetMap / GetFeature link: its capabilities URL is not ours to guess
    else:
        capabilities = [
            f"{url}{'&' if '?' in url else '?'}SERVICE={protocol.service}&REQUEST=GetCapabilities"
        ]
    return DataService(
        title=title or [Text(f"{protocol.service} service")],
        endpoint_url=[url],
        endpoint_description=capabilities,
        serves_dataset=[uri],
        licence=licence,
        conforms_to=[protocol.standard] if protocol.standard else [],
    )


def map_record(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """`type: csw` — one ISO 19139 record (its canonical XML; `parsed`: the element already read) as
    fedcat's `uri`. Options: `record_url` (the record's page, `{id}` replaced), `language`."""
    element = parsed if parsed is not None else fromstring(payload)
    template = source.options.get("record_url")
    file_id = file_identifier(element)
    record_url = (
        template.replace("{id}", quote(file_id or "", safe=""))
        if isinstance(template, str) and template
        else None
    )
    return dataset_from_iso(element, uri, record_url=record_url, lang=source.language)
