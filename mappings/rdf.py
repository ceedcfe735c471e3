"""The exact RDF form of the model (DCAT-AP 3.0), as N-Triples lines built from pyoxigraph's terms.

A record's description is written once, as N-Triples text: every term is rendered by pyoxigraph (`str` of a
`NamedNode` / `Literal`, which validates IRIs and language tags and escapes literals), and the lines are joined
by hand. Building pyoxigraph `Triple` objects in Python costs ~3 µs each, more than parsing the same text back
(`dataset_triples`) and three times the rest of the writer; the export writes these lines as they are for
N-Triples and streams them through pyoxigraph's serialisers for Turtle, RDF/XML and JSON-LD. rdflib's pretty
Turtle writer went quadratic on catalogue-sized data (see ../shared/DESIGN.md): nothing here goes through it.

What the DCAT-AP 3.0 SHACL shapes check, and this writer therefore guarantees for every value it writes:
- a controlled-vocabulary property holds an IRI typed with the class the shapes expect (`dct:license` →
  `dct:LicenseDocument`, `dct:language` → `dct:LinguisticSystem`, `dcat:theme` → `skos:Concept` with its
  label…), or, for a value no vocabulary knows, a blank node of that class labelled with the source's text;
- dates carry the XSD type of their shape, byte sizes `xsd:nonNegativeInteger`, checksums `xsd:hexBinary`;
- geometries are literals typed by their syntax (WKT, GeoJSON or GML);
- distributions get fedcat IRIs under their dataset's (`…#distribution-…`, the source's IRI kept as
  `owl:sameAs`): the same distribution harvested from two portals would otherwise merge two descriptions
  into one node with two formats, two licences…
What is left (a mandatory property the source never gave) is the source's, and `validation.shacl` reports it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

import msgspec
import pyoxigraph
from pyoxigraph import Literal, NamedNode, RdfFormat, Triple

from . import vocabularies
from .dates import xsd_type
from .geometry import geometry_syntax
from .model import (
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
from .namespaces import (
    ADMS,
    DCAT,
    DCATAP,
    DCT,
    FOAF,
    GSP,
    LOCN,
    OWL,
    PREFIXES,
    PROV,
    RDF_TYPE,
    RDFS,
    SCHEMA,
    SKOS,
    SPDX,
    VCARD,
    XSD,
)
from .reuse import Reuse, type_label
from .values import is_iri

FORMATS = {
    "ttl": RdfFormat.TURTLE,
    "nt": RdfFormat.N_TRIPLES,
    "rdf": RdfFormat.RDF_XML,
    "jsonld": RdfFormat.JSON_LD,
}
ELI = "http://data.europa.eu/eli/ontology#"


def p(iri: str) -> str:
    """An IRI known to be valid (a property or class of ours), as an N-Triples term."""
    return f"<{iri}>"


class Namespace:
    """Terms of a vocabulary as N-Triples strings: `dct.title` is "<http://purl.org/dc/terms/title>".

    The first use of a name builds its term and stores it as an ordinary attribute, so the writer's hot
    path reads plain attributes instead of concatenating IRIs per triple.
    """

    def __init__(self, base: str) -> None:
        self._base = base

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        term = f"<{self._base}{name}>"
        setattr(self, name, term)
        return term


adms, dcat, dcatap, dct, eli = (Namespace(ns) for ns in (ADMS, DCAT, DCATAP, DCT, ELI))
foaf, locn, owl, prov = (Namespace(ns) for ns in (FOAF, LOCN, OWL, PROV))
rdfs, schema, skos, spdx, vcard = (Namespace(ns) for ns in (RDFS, SCHEMA, SKOS, SPDX, VCARD))
TYPE = p(RDF_TYPE)
# Classes the DCAT-AP 3.0 shapes require of the values of each property (`sh:class`).
LINGUISTIC_SYSTEM = dct.LinguisticSystem
LICENSE_DOCUMENT = dct.LicenseDocument
MEDIA_TYPE_OR_EXTENT = dct.MediaTypeOrExtent
MEDIA_TYPE = dct.MediaType
RIGHTS_STATEMENT = dct.RightsStatement
FREQUENCY = dct.Frequency
STANDARD = dct.Standard
DOCUMENT = foaf.Document
CONCEPT = skos.Concept
LEGAL_RESOURCE = eli.LegalResource
RESOURCE = rdfs.Resource  # DCAT-AP 3.0.0 asks it of URLs (a tautology in RDFS, not without inference)
CHECKSUM_ALGORITHM = spdx.ChecksumAlgorithm
PROVENANCE_STATEMENT = dct.ProvenanceStatement
ROLE = dcat.Role
_LABEL_LANGUAGES = ("fr", "en")  # concept labels written from fedcat's vocabularies
_GEOMETRY = {"geojson": "geoJSONLiteral", "gml": "gmlLiteral", "wkt": "wktLiteral"}  # GeoSPARQL datatypes
_HEX = frozenset("0123456789abcdefABCDEF")
# What the writer makes of a dataset: bump it when that changes. The SPARQL store keeps the writer's output
# and is loaded again when it was written by another (indexer.sparql); pages and exports are written anew.
# 2: the datasets a record only links to (dct:source, dcat:hasVersion…) are no longer typed dcat:Dataset
RDF_OUTPUT = 2


# Characters RDF forbids in IRIs that real exporters still write ("?LAYER[id]=3", spaces in file names).
_IRI_FORBIDDEN = re.compile(r'[\x00-\x20<>"{}|\\^`\[\]]')


# vocabulary IRIs repeat in every record and stay cached; a record's own IRIs pass through once (65,536 of
# them held ~20 MB in every export process for no hit)
@lru_cache(maxsize=4096)
def iri(value: str) -> str | None:
    """An IRI as an N-Triples term; one the source wrote with forbidden characters is percent-encoded
    (`repair_iri`); None when it is still not an absolute IRI (callers drop or label it)."""
    try:
        return str(NamedNode(value))
    except ValueError:
        try:
            return str(NamedNode(repair_iri(value)))
        except ValueError:
            return None


def repair_iri(value: str) -> str:
    """`value` with the characters RDF forbids in IRIs percent-encoded (what `iri` writes for it)."""
    return _IRI_FORBIDDEN.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value.strip())


# N-Triples string escapes (as canonical N-Triples writes them): quote, backslash and every control character.
_ESCAPES = str.maketrans(
    {
        **{chr(c): f"\\u{c:04X}" for c in (*range(0x20), 0x7F)},
        "\b": "\\b",
        "\t": "\\t",
        "\n": "\\n",
        "\f": "\\f",
        "\r": "\\r",
        '"': '\\"',
        "\\": "\\\\",
    }
)


@lru_cache(maxsize=1024)
def _language(tag: str) -> str:
    """ "@tag" as pyoxigraph writes a valid BCP 47 tag; "" for a malformed one (the literal keeps its text)."""
    try:
        return str(Literal("", language=tag))[2:]
    except ValueError:
        return ""


_needs_escape = re.compile(r'[\x00-\x1f"\\\x7f]').search  # str.translate is slow (~1.7 µs): only when needed


def text(value: str, lang: str | None = None) -> str:
    """A literal, language-tagged when the tag is valid. Escaped here rather than through pyoxigraph's
    `Literal` (2.5 µs a literal, the writer's largest cost); `tests/test_linked_data.py` checks both agree."""
    if _needs_escape(value):
        value = value.translate(_ESCAPES)
    return f'"{value}"{_language(lang)}' if lang else f'"{value}"'


def typed(value: str, datatype: str) -> str:
    if _needs_escape(value):
        value = value.translate(_ESCAPES)
    return f'"{value}"^^<{datatype}>'


def date(value: str) -> str:
    return typed(value, xsd_type(value))


def _digest(value: str, size: int = 6) -> str:
    return hashlib.blake2b(value.encode("utf-8"), digest_size=size).hexdigest()


class Writer:
    """N-Triples lines for one resource tree; small helpers keep each class mapping a flat table.

    Blank nodes are labelled from `scope` (the dataset's IRI) and a counter: labels are unique across a
    whole export and the same record always gives the same bytes.
    """

    __slots__ = ("_bnodes", "_prefix", "lines")

    def __init__(self, scope: str) -> None:
        self.lines: list[str] = []
        self._prefix = "_:b" + _digest(scope)
        self._bnodes = 0

    def bnode(self) -> str:
        self._bnodes += 1
        return f"{self._prefix}x{self._bnodes}"

    def add(self, s: str | None, pred: str, o: str | None) -> None:
        if s is not None and o is not None:  # None: an IRI `iri()` could not make valid
            self.lines.append(f"{s} {pred} {o} .\n")

    def a(self, node: str, cls: str) -> str:
        self.lines.append(f"{node} {TYPE} {cls} .\n")
        return node

    def grouped(self) -> list[str]:
        """The lines with each subject's together (in order of first appearance): pyoxigraph's Turtle and
        JSON-LD writers merge consecutive triples of a subject into one block (N-Triples needs no grouping)."""
        by_subject: dict[str, list[str]] = {}
        for line in self.lines:
            subject = line[: line.index(" ")]
            found = by_subject.get(subject)
            if found is None:
                by_subject[subject] = [line]
            else:
                found.append(line)
        return [line for lines in by_subject.values() for line in lines]

    def texts(self, s: str, pred: str, values: Iterable[Text]) -> None:
        for t in values:
            self.lines.append(f"{s} {pred} {text(t.value, t.lang)} .\n")

    def iris(self, s: str, pred: str, values: Iterable[str | None], cls: str | None = None) -> None:
        for value in values:
            if value and (node := iri(value)) is not None:
                self.lines.append(f"{s} {pred} {node} .\n")
                if cls is not None:
                    self.lines.append(f"{node} {TYPE} {cls} .\n")

    def concepts(
        self, s: str, pred: str, values: Iterable[str | None], labels: dict[str, list[Text]] | None = None
    ) -> None:
        """skos:Concept IRIs, with the labels fedcat's vocabularies know (the shapes require one), else the
        labels the source gave them (`labels`: IRI -> texts)."""
        for value in values:
            if value and (node := iri(value)) is not None:
                self.lines.append(f"{s} {pred} {node} .\n")
                known = _concept_lines(value, node)
                self.lines.extend(known)
                if len(known) == 1 and labels and value in labels:
                    self.texts(node, skos.prefLabel, labels[value])

    def date(self, s: str, pred: str, value: str | None) -> None:
        if value:
            self.lines.append(f"{s} {pred} {date(value)} .\n")

    def node(self, uri: str | None) -> str:
        return (iri(uri) if uri else None) or self.bnode()

    def agent(self, s: str, pred: str, agent: Agent | None) -> None:
        if agent is None:
            return
        node = self.a(self.node(agent.uri), foaf.Agent)
        self.add(s, pred, node)
        self.texts(node, foaf.name, agent.name)
        self.concepts(node, dct.type, [agent.type])
        if agent.identifier:
            self.add(node, dct.identifier, text(agent.identifier))
        if agent.email:
            self.add(node, foaf.mbox, iri("mailto:" + agent.email.strip()))
        self.iris(node, foaf.homepage, [agent.homepage], DOCUMENT)

    def contact(self, s: str, contact: ContactPoint) -> None:
        node = self.a(self.node(contact.uri), vcard.Kind)
        self.add(s, dcat.contactPoint, node)
        if contact.name:
            self.add(node, vcard.fn, text(contact.name))
        if contact.email:
            self.add(node, vcard.hasEmail, iri("mailto:" + contact.email.strip()))
        self.iris(node, vcard.hasURL, [contact.url])
        if contact.phone:
            self.add(node, vcard.hasTelephone, iri("tel:" + contact.phone.replace(" ", "")))
        if contact.organization:
            self.add(node, getattr(vcard, "organization-name"), text(contact.organization))

    def period(self, s: str, period: PeriodOfTime) -> None:
        node = self.a(self.bnode(), dct.PeriodOfTime)
        self.add(s, dct.temporal, node)
        self.date(node, dcat.startDate, period.start)
        self.date(node, dcat.endDate, period.end)

    def location(self, s: str, location: Location) -> None:
        node = self.a(self.node(location.uri), dct.Location)
        self.add(s, dct.spatial, node)
        self.texts(node, skos.prefLabel, location.label)
        # literals typed by their syntax (WKT, GeoJSON or GML), as GeoDCAT-AP and the DCAT-AP 3.0.x HTML shapes
        # have them (the consolidated SHACL file wants a locn:Geometry node instead: see validation.shacl)
        for prop, value in (
            (dcat.bbox, location.bbox),
            (locn.geometry, location.geometry),
            (dcat.centroid, location.centroid),
        ):
            if value:
                self.add(node, prop, typed(value, GSP + _geometry_syntax(value)))
        # the same extent in other encodings: one more dct:Location each (the shapes allow one bbox and one
        # geometry per location), so that none the source gave is dropped
        for prop, values in ((dcat.bbox, location.other_bboxes), (locn.geometry, location.other_geometries)):
            for value in values:
                other = self.a(self.bnode(), dct.Location)
                self.add(s, dct.spatial, other)
                self.add(other, prop, typed(value, GSP + _geometry_syntax(value)))

    def controlled(self, s: str, pred: str, value: str | None, cls: str) -> None:
        """A controlled-vocabulary value: its IRI typed `cls`, or for a literal a `cls` node labelled with it."""
        if not value:
            return
        node = iri(value) if is_iri(value) else None
        if node is None:
            node = self.bnode()
            self.add(node, rdfs.label, text(value))
        self.a(node, cls)
        self.add(s, pred, node)

    def service(self, s: str, pred: str, service: DataService, dataset: Dataset) -> None:
        node = self.a(self.node(service.uri), dcat.DataService)
        self.add(s, pred, node)
        self.texts(node, dct.title, service.title)
        self.texts(node, dct.description, service.description)
        self.iris(node, dcat.endpointURL, service.endpoint_url, RESOURCE)
        self.iris(node, dcat.endpointDescription, service.endpoint_description, RESOURCE)
        # the dataset this record describes is known by fedcat's IRI (typed dcat:Dataset here)
        served = [dataset.uri if u == dataset.original_uri else u for u in service.serves_dataset]
        self.iris(node, dcat.servesDataset, served)
        self.controlled(node, dct.license, service.licence, LICENSE_DOCUMENT)
        self.controlled(node, dct.accessRights, service.access_rights, RIGHTS_STATEMENT)
        self.iris(node, dct.conformsTo, service.conforms_to, STANDARD)
        self.agent(node, dct.publisher, service.publisher)

    def distribution(
        self, s: str, dist: Distribution, node: str, dataset: Dataset, link: str = dcat.distribution
    ) -> None:
        """A distribution of the dataset `s` (`link`: dcat:distribution, or adms:sample for a sample)."""
        self.a(node, dcat.Distribution)
        self.add(s, link, node)
        if dist.uri and (original := iri(dist.uri)) is not None and original != node:
            self.add(node, owl.sameAs, original)
        self.texts(node, dct.title, dist.title)
        if dist.description:
            self.texts(node, dct.description, dist.description)
        # accessURL is mandatory: a download URL is also a URL that gives access to the distribution
        self.iris(node, dcat.accessURL, dist.access_url or dist.download_url[:1], RESOURCE)
        self.iris(node, dcat.downloadURL, dist.download_url, RESOURCE)
        self.controlled(node, dct.format, dist.format, MEDIA_TYPE_OR_EXTENT)
        self.controlled(node, dcat.mediaType, dist.media_type, MEDIA_TYPE)
        self.controlled(node, dct.license, dist.licence or dist.licence_text, LICENSE_DOCUMENT)
        if dist.rights:
            rights = self.a(self.bnode(), RIGHTS_STATEMENT)
            self.add(node, dct.rights, rights)
            self.add(rights, rdfs.label, text(dist.rights))
        if dist.byte_size is not None and dist.byte_size >= 0:
            self.add(node, dcat.byteSize, typed(str(dist.byte_size), XSD + "nonNegativeInteger"))
        if dist.checksum:
            self.checksum(node, dist.checksum.algorithm, dist.checksum.value)
        if dist.issued:
            self.date(node, dct.issued, dist.issued)
        if dist.modified:
            self.date(node, dct.modified, dist.modified)
        if dist.language:
            self.iris(node, dct.language, dist.language, LINGUISTIC_SYSTEM)
        if dist.conforms_to:
            self.iris(node, dct.conformsTo, dist.conforms_to, STANDARD)
        if dist.status:
            self.concepts(node, adms.status, [dist.status])
        for service in dist.access_service:
            self.service(node, dcat.accessService, service, dataset)
        if dist.documentation:
            self.iris(node, foaf.page, dist.documentation, DOCUMENT)
        if dist.availability:
            self.concepts(node, dcatap.availability, [dist.availability])
        if dist.compress_format:
            self.controlled(node, dcat.compressFormat, dist.compress_format, MEDIA_TYPE)
        if dist.package_format:
            self.controlled(node, dcat.packageFormat, dist.package_format, MEDIA_TYPE)
        if dist.spatial_resolution_in_meters:
            self.add(node, dcat.spatialResolutionInMeters, decimal(dist.spatial_resolution_in_meters))
        if dist.temporal_resolution:
            self.add(node, dcat.temporalResolution, typed(dist.temporal_resolution, XSD + "duration"))
        if dist.applicable_legislation:
            self.iris(node, dcatap.applicableLegislation, dist.applicable_legislation, LEGAL_RESOURCE)

    def relationship(self, s: str, relation: Relationship) -> None:
        node = self.a(self.bnode(), dcat.Relationship)
        self.add(s, dcat.qualifiedRelation, node)
        # DCAT-AP 3.0.1 wants a catalogue, dataset, series or service here (3.0.0 any resource): left
        # untyped, as the targets of dct:source (see `_write_dcat_ap_3`)
        self.iris(node, dct.relation, [relation.relation], RESOURCE)
        self.controlled(node, dcat.hadRole, relation.role, ROLE)

    def attribution(self, s: str, attribution: Attribution) -> None:
        node = self.a(self.bnode(), prov.Attribution)
        self.add(s, prov.qualifiedAttribution, node)
        self.agent(node, prov.agent, attribution.agent)
        self.controlled(node, dcat.hadRole, attribution.role, ROLE)

    def checksum(self, s: str, algorithm: str, value: str) -> None:
        value = value.strip()
        # "sha256:ab12…" and "AB12…" are common spellings of a hex digest; anything else is not xsd:hexBinary
        value = value.split(":", 1)[1] if ":" in value else value
        if not value or len(value) % 2 or not set(value) <= _HEX:
            return
        node = self.a(self.bnode(), spdx.Checksum)
        self.add(s, spdx.checksum, node)
        self.iris(node, spdx.algorithm, [algorithm], CHECKSUM_ALGORITHM)
        self.add(node, spdx.checksumValue, typed(value.lower(), XSD + "hexBinary"))


def decimal(value: str) -> str:
    """An xsd:decimal literal (values are normalised by the mappings: `dates.normalise_decimal`)."""
    return typed(value, XSD + "decimal")


def _geometry_syntax(value: str) -> str:
    return _GEOMETRY[geometry_syntax(value)]


@lru_cache(maxsize=4096)
def _concept_lines(value: str, node: str) -> tuple[str, ...]:
    lines = [f"{node} {TYPE} {CONCEPT} .\n"]
    for lang in _LABEL_LANGUAGES:
        label = _vocabulary_label(value, lang)
        if label:
            lines.append(f"{node} {skos.prefLabel} {text(label, lang)} .\n")
    return tuple(lines)


def _vocabulary_label(uri: str, lang: str) -> str | None:
    for name in vocabularies.VOCABULARIES:
        labels = vocabularies.vocabulary(name).labels.get(uri)
        if labels:
            return labels.get(lang)
    return None


def _distribution_key(dist: Distribution, position: int) -> str:
    return _digest(dist.uri) if dist.uri else str(position)


def write_dataset(w: Writer, dataset: Dataset) -> str:
    """The dataset and everything it embeds; returns its N-Triples subject (fedcat's IRI)."""
    s = iri(dataset.uri)
    if s is None:
        raise ValueError(f"the dataset IRI {dataset.uri!r} is not a valid IRI")
    if dataset.service is not None:  # a stand-alone data service: DCAT-AP's dcat:DataService
        w.a(s, dcat.DataService)
        w.iris(s, dcat.endpointURL, dataset.service.endpoint_url, RESOURCE)
        w.iris(s, dcat.endpointDescription, dataset.service.endpoint_description, RESOURCE)
        # the served datasets fedcat harvested from the same source: by fedcat's URIs (described in the
        # catalogue as dcat:Datasets); the others by the source's IRIs, untyped (see `_write_dcat_ap_3`)
        served_as = dataset.service.served_as
        w.iris(s, dcat.servesDataset, [served_as.get(u, u) for u in dataset.service.serves_dataset])
    else:
        w.a(s, dcat.Dataset)
    if (
        dataset.is_series
    ):  # still a dcat:Dataset (DCAT 3's subclass), as catalogues list it and SEMIC types it
        w.a(s, dcat.DatasetSeries)
        # the members are records of their own (typed and described there: typing them here would make this
        # record's document hold datasets it does not describe); their own records name the series by the
        # source's IRI, this one by fedcat's
        w.iris(s, dcat.seriesMember, dataset.series_members)
        for member in dataset.series_members:
            w.add(iri(member), dcat.inSeries, s)
    w.texts(s, dct.title, dataset.title)
    w.texts(s, dct.description, dataset.description)
    for identifier in dataset.identifier:
        w.add(s, dct.identifier, text(identifier))
    for identifier in dataset.other_identifier:
        node = w.a(w.bnode(), adms.Identifier)
        w.add(s, adms.identifier, node)
        w.add(node, skos.notation, text(identifier))
    if dataset.original_uri and dataset.original_uri != dataset.uri:
        original = iri(dataset.original_uri)
        if original is not None:
            w.add(s, owl.sameAs, original)
            w.add(s, prov.wasDerivedFrom, original)
        # the source's own IRI is also an identifier of the dataset (kept even when not a valid IRI)
        node = w.a(w.bnode(), adms.Identifier)
        w.add(s, adms.identifier, node)
        w.add(node, skos.notation, typed(dataset.original_uri, XSD + "anyURI"))
    w.iris(s, prov.wasDerivedFrom, dataset.derived_from)
    w.texts(s, dcat.keyword, dataset.keywords)
    w.concepts(s, dcat.theme, dataset.themes, dataset.labels)
    w.agent(s, dct.publisher, dataset.publisher)
    w.agent(s, dct.creator, dataset.creator)
    for contact in dataset.contact_points:
        w.contact(s, contact)
    for position, dist in enumerate(dataset.distributions, 1):
        # under the dataset's validated IRI, with a hex or decimal key: valid without checking again
        w.distribution(s, dist, f"{s[:-1]}#distribution-{_distribution_key(dist, position)}>", dataset)
    w.date(s, dct.issued, dataset.issued)
    w.date(s, dct.modified, dataset.modified)
    w.iris(s, dct.language, dataset.language, LINGUISTIC_SYSTEM)
    w.controlled(s, dct.accessRights, dataset.access_rights, RIGHTS_STATEMENT)
    if dataset.licence and not dataset.distributions:
        # no distribution to carry it (DCAT-AP's place for it): the dataset's own, as DCAT allows
        w.controlled(s, dct.license, dataset.licence, LICENSE_DOCUMENT)
    if dataset.rights:
        rights = w.a(w.bnode(), RIGHTS_STATEMENT)
        w.add(s, dct.rights, rights)
        w.add(rights, rdfs.label, text(dataset.rights))
    if dataset.licence_text and not any(d.licence_text for d in dataset.distributions):
        # a licence named only by text and no distribution to carry it: a rights statement of the dataset
        rights = w.a(w.bnode(), RIGHTS_STATEMENT)
        w.add(s, dct.rights, rights)
        w.add(rights, rdfs.label, text(dataset.licence_text))
    w.controlled(s, dct.accrualPeriodicity, dataset.accrual_periodicity, FREQUENCY)
    for period in dataset.temporal:
        w.period(s, period)
    for location in dataset.spatial:
        w.location(s, location)
    w.iris(s, dcat.landingPage, dataset.landing_page, DOCUMENT)
    if dataset.documentation:  # the rarer properties: no call at all when empty (the writer's hot path)
        w.iris(s, foaf.page, dataset.documentation, DOCUMENT)
    if dataset.conforms_to:
        w.iris(s, dct.conformsTo, dataset.conforms_to, STANDARD)
    if dataset.version:
        w.add(s, dcat.version, text(dataset.version))
    if dataset.type:
        w.concepts(s, dct.type, [dataset.type])
    if dataset.hvd_categories:
        w.iris(s, dcatap.hvdCategory, dataset.hvd_categories)
    if dataset.applicable_legislation:
        w.iris(s, dcatap.applicableLegislation, dataset.applicable_legislation, LEGAL_RESOURCE)
    if dataset.related:
        w.iris(s, dct.relation, dataset.related, RESOURCE)
    _write_dcat_ap_3(w, s, dataset)
    return s


def _write_dcat_ap_3(w: Writer, s: str, dataset: Dataset) -> None:
    """The rarer DCAT-AP 3.0 properties (versions, series, lineage, resolution): one test when none is given."""
    if not (
        dataset.provenance
        or dataset.version_notes
        or dataset.has_version
        or dataset.is_version_of
        or dataset.in_series
        or dataset.source
        or dataset.sample
        or dataset.is_referenced_by
        or dataset.qualified_relation
        or dataset.qualified_attribution
        or dataset.was_generated_by
        or dataset.spatial_resolution_in_meters
        or dataset.temporal_resolution
        or dataset.rights_holder
    ):
        return
    for statement in dataset.provenance:
        node = w.a(w.bnode(), PROVENANCE_STATEMENT)
        w.add(s, dct.provenance, node)
        w.add(node, rdfs.label, text(statement.value, statement.lang))
    w.texts(s, adms.versionNotes, dataset.version_notes)
    # The datasets and series these links name are not typed here: a record types what it describes, and
    # only that, so that `?d a dcat:Dataset` over the catalogue counts its datasets. A target fedcat holds
    # is typed by its own record; one it does not (Antwerp's DataTank names hundreds of ArcGIS layers with
    # dct:source) would otherwise be an untitled dcat:Dataset of the catalogue. The shapes' sh:class on
    # these properties then reports them (validation.shacl: cause "link").
    w.iris(s, dcat.hasVersion, dataset.has_version)
    w.iris(s, dct.isVersionOf, dataset.is_version_of)
    w.iris(s, dct.source, dataset.source)
    w.iris(s, dcat.inSeries, dataset.in_series)
    for position, sample in enumerate(dataset.sample, 1):
        node = f"{s[:-1]}#sample-{_distribution_key(sample, position)}>"
        w.distribution(s, sample, node, dataset, adms.sample)
    w.iris(s, dct.isReferencedBy, dataset.is_referenced_by, RESOURCE)
    for relation in dataset.qualified_relation:
        w.relationship(s, relation)
    for attribution in dataset.qualified_attribution:
        w.attribution(s, attribution)
    for activity in dataset.was_generated_by:
        node = w.a(w.node(activity.uri), prov.Activity)
        w.add(s, prov.wasGeneratedBy, node)
        w.texts(node, rdfs.label, activity.label)
    for value in dataset.spatial_resolution_in_meters:
        w.add(s, dcat.spatialResolutionInMeters, decimal(value))
    if dataset.temporal_resolution:
        w.add(s, dcat.temporalResolution, typed(dataset.temporal_resolution, XSD + "duration"))
    w.agent(s, dct.rightsHolder, dataset.rights_holder)


def write_reuses(w: Writer, subject: str | None, reuses: Iterable[Reuse]) -> None:
    """What portals list as built on the dataset: `dct:isReferencedBy` each reuse's page (on its portal,
    else the reuse itself), described as a `foaf:Document` and `schema:CreativeWork` with its title, its
    kind (`schema:genre`) and its link (`schema:url`)."""
    for reuse in reuses:
        node = iri(reuse.page or reuse.url or "")
        if node is None:
            continue
        w.add(subject, dct.isReferencedBy, node)
        w.a(node, foaf.Document)
        w.a(node, schema.CreativeWork)
        w.add(node, dct.title, text(reuse.title))
        w.add(node, schema.genre, text(type_label(reuse.type, "en"), "en"))
        w.add(node, schema.genre, text(type_label(reuse.type, "fr"), "fr"))
        w.iris(node, schema.url, [reuse.url])


def dataset_ntriples(dataset: Dataset) -> str:
    """The dataset's description as N-Triples, subject = fedcat's URI."""
    w = Writer(dataset.uri)
    write_dataset(w, dataset)
    return "".join(w.lines)


def dataset_triples(dataset: Dataset) -> list[Triple]:
    """The dataset and everything it embeds, as pyoxigraph triples."""
    return list(pyoxigraph.parse(dataset_ntriples(dataset), RdfFormat.N_TRIPLES))


def serialize(triples: Iterable[Triple], fmt: str = "ttl") -> bytes:
    """Triples in one of FORMATS ("ttl", "nt", "rdf", "jsonld"), with the DCAT-AP prefixes."""
    rdf_format = FORMATS[fmt]
    prefixes = PREFIXES if rdf_format in (RdfFormat.TURTLE, RdfFormat.RDF_XML) else None
    data = (
        pyoxigraph.serialize(triples, format=rdf_format, prefixes=prefixes) or b""
    )  # None: only with an output
    return with_context(data) if fmt == "jsonld" else data


_NAMESPACES = sorted(((ns, prefix) for prefix, ns in PREFIXES.items()), key=lambda p: -len(p[0]))
_LOCAL_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


@lru_cache(maxsize=4096)
def _compact(key: str) -> str:
    for namespace, prefix in _NAMESPACES:
        if key.startswith(namespace) and _LOCAL_NAME.match(key[len(namespace) :]):
            return f"{prefix}:{key[len(namespace) :]}"
    return key


def with_context(expanded: bytes) -> bytes:
    """pyoxigraph's expanded JSON-LD (a list of nodes, every property a full IRI) with an `@context` of the
    DCAT-AP prefixes and its property names compacted by them (`dct:title`): the same graph, readable."""
    nodes = msgspec.json.decode(expanded)
    if isinstance(nodes, dict):  # already a document with its own context
        return expanded
    graph = [{_compact(k): v for k, v in node.items()} for node in nodes]
    return msgspec.json.encode({"@context": PREFIXES, "@graph": graph})
