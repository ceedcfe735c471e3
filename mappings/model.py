"""The target model: DCAT-AP 3.0 classes as typed structs.

Every adapter maps its platform's records to these objects; the store keeps them as JSON (msgspec, which
encodes and validates them in microseconds) and `mappings.rdf` writes their exact RDF form.

Conventions that keep the mapping loss-free:
- free-text properties are lists of `Text` so that each language version keeps its tag;
- controlled-vocabulary properties hold URIs; a value that could not be mapped stays in `unmapped`
  (property -> original values), never silently dropped;
- dates are ISO 8601 strings whose shape gives their XSD type ("2019" gYear, "2019-03" gYearMonth,
  "2019-03-04" date, with a time dateTime); see `mappings.normalise.normalise_date`.
"""

from __future__ import annotations

import msgspec


class Text(msgspec.Struct, array_like=True, omit_defaults=True):
    """A literal with an optional language tag (encoded compactly as ["value", "lang"])."""

    value: str
    lang: str | None = None


class Agent(msgspec.Struct, omit_defaults=True):
    uri: str | None = None
    name: list[Text] = []
    type: str | None = None
    identifier: str | None = None
    email: str | None = None
    homepage: str | None = None


class ContactPoint(msgspec.Struct, omit_defaults=True):
    uri: str | None = None
    name: str | None = None
    email: str | None = None
    url: str | None = None
    phone: str | None = None
    organization: str | None = None  # the contact's affiliation (vcard:organization-name)


class PeriodOfTime(msgspec.Struct, omit_defaults=True):
    start: str | None = None
    end: str | None = None


class Location(msgspec.Struct, omit_defaults=True):
    uri: str | None = None
    label: list[Text] = []
    bbox: str | None = None  # WKT polygon, as DCAT-AP's dcat:bbox (gsp:wktLiteral)
    geometry: str | None = None
    centroid: str | None = None
    # the same extent in the other encodings the source gave (GML or GeoJSON beside WKT…): all published
    other_bboxes: list[str] = []
    other_geometries: list[str] = []


class Checksum(msgspec.Struct, omit_defaults=True):
    algorithm: str
    value: str


class DataService(msgspec.Struct, omit_defaults=True):
    uri: str | None = None
    title: list[Text] = []
    description: list[Text] = []
    endpoint_url: list[str] = []
    endpoint_description: list[str] = []
    serves_dataset: list[str] = []
    # a stand-alone service's served datasets that its source also describes (records of the same source):
    # the source's IRI -> fedcat's URI of that record, which the export links to
    served_as: dict[str, str] = {}
    licence: str | None = None
    access_rights: str | None = None
    conforms_to: list[str] = []
    publisher: Agent | None = None


class Distribution(msgspec.Struct, omit_defaults=True):
    uri: str | None = None
    title: list[Text] = []
    description: list[Text] = []
    access_url: list[str] = []
    download_url: list[str] = []
    format: str | None = None  # EU file-type URI when known, else the source's literal
    media_type: str | None = None  # IANA media-type URI
    licence: str | None = None
    # the source's licence as text when it names no licence fedcat knows and no IRI (published as a
    # dct:LicenseDocument with that label)
    licence_text: str | None = None
    rights: str | None = None
    byte_size: int | None = None
    checksum: Checksum | None = None
    issued: str | None = None
    modified: str | None = None
    language: list[str] = []
    conforms_to: list[str] = []
    status: str | None = None
    access_service: list[DataService] = []


class Dataset(msgspec.Struct, omit_defaults=True):
    """A DCAT-AP 3.0 `dcat:Dataset` as fedcat holds it.

    `uri` is fedcat's stable URI; `original_uri` the subject the source used (None for blank nodes and
    platforms without URIs).
    """

    uri: str
    title: list[Text] = []
    description: list[Text] = []
    # the description as plain text (Markdown links) when the source wrote HTML: what search and pages read
    description_text: list[Text] = []
    original_uri: str | None = None
    identifier: list[str] = []
    other_identifier: list[str] = []
    keywords: list[Text] = []
    themes: list[str] = []
    publisher: Agent | None = None
    creator: Agent | None = None
    contact_points: list[ContactPoint] = []
    distributions: list[Distribution] = []
    issued: str | None = None
    modified: str | None = None
    language: list[str] = []
    licence: str | None = None  # the licence of its distributions when they agree; for search facets
    licence_text: str | None = None  # an unknown licence named only by text (see Distribution)
    rights: str | None = None  # a rights statement the source makes of the dataset itself (dct:rights)
    access_rights: str | None = None
    accrual_periodicity: str | None = None
    temporal: list[PeriodOfTime] = []
    spatial: list[Location] = []
    landing_page: list[str] = []
    documentation: list[str] = []
    # pages or IRIs of the dataset this record was copied from, as its portal says (Opendatasoft's source
    # domain and references): written as prov:wasDerivedFrom, and harvest provenance for federation
    derived_from: list[str] = []
    conforms_to: list[str] = []
    version: str | None = None
    type: str | None = None
    hvd_categories: list[str] = []
    applicable_legislation: list[str] = []
    related: list[str] = []
    # labels the source itself gives to the IRIs it uses (themes, licences…), per IRI
    labels: dict[str, list[Text]] = {}
    # set when the record is a stand-alone dcat:DataService (an API, a WMS…) rather than a dataset: its
    # endpoints and the datasets it serves; the fields above describe it as they would a dataset
    service: DataService | None = None
    unmapped: dict[str, list[str]] = {}


class Catalogue(msgspec.Struct, omit_defaults=True):
    uri: str
    title: list[Text] = []
    description: list[Text] = []
    publisher: Agent | None = None
    homepage: str | None = None
    language: list[str] = []
    licence: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Dataset)


def dataset_to_json(dataset: Dataset) -> bytes:
    return _encoder.encode(dataset)


def dataset_from_json(data: bytes | str) -> Dataset:
    return _decoder.decode(data)


def text_in(texts: list[Text], preferred: tuple[str, ...] = ("fr", "en")) -> str:
    """The best single string of a multilingual value: a preferred language first, then untagged, then any."""
    if not texts:
        return ""
    by_lang: dict[str | None, str] = {}
    for t in texts:  # the first value of each language (a source's order), not the last
        by_lang.setdefault(t.lang, t.value)
    for lang in preferred:
        if lang in by_lang:
            return by_lang[lang]
    return by_lang.get(None) or texts[0].value
