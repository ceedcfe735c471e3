"""The exact RDF form of the model (DCAT-AP 3.0), written with pyoxigraph.

pyoxigraph serialises ~1M triples/s and streams; rdflib's pretty Turtle writer went quadratic on catalogue-
sized data here (see ../shared/DESIGN.md), so nothing on the output path goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyoxigraph
from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat, Triple

from .dates import xsd_type
from .model import Agent, ContactPoint, DataService, Dataset, Distribution, Location, PeriodOfTime, Text
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
    RDF_TYPE,
    RDFS,
    SKOS,
    SPDX,
    VCARD,
    XSD,
)
from .values import is_iri

Subject = NamedNode | BlankNode
TYPE = NamedNode(RDF_TYPE)
FORMATS = {
    "ttl": RdfFormat.TURTLE,
    "nt": RdfFormat.N_TRIPLES,
    "rdf": RdfFormat.RDF_XML,
    "jsonld": RdfFormat.JSON_LD,
}


def _iri(value: str) -> NamedNode | None:
    try:
        return NamedNode(value)
    except ValueError:
        return None  # not a valid IRI: callers fall back to a literal or drop it (noted in `unmapped`)


class _Writer:
    """Accumulates triples for one resource tree; small helpers keep each class mapping a flat table."""

    def __init__(self) -> None:
        self.triples: list[Triple] = []

    def add(self, s: Subject, p: str, o: NamedNode | BlankNode | Literal | None) -> None:
        if o is not None:
            self.triples.append(Triple(s, NamedNode(p), o))

    def typed(self, node: Subject, cls: str) -> Subject:
        self.add(node, RDF_TYPE, NamedNode(cls))
        return node

    def texts(self, s: Subject, p: str, values: Iterable[Text]) -> None:
        for t in values:
            self.add(s, p, Literal(t.value, language=t.lang) if t.lang else Literal(t.value))

    def iris(self, s: Subject, p: str, values: Iterable[str | None]) -> None:
        for value in values:
            if value:
                self.add(s, p, _iri(value))

    def date(self, s: Subject, p: str, value: str | None) -> None:
        if value:
            self.add(s, p, Literal(value, datatype=NamedNode(xsd_type(value))))

    def node(self, uri: str | None) -> Subject:
        return (_iri(uri) if uri else None) or BlankNode()

    def agent(self, s: Subject, p: str, agent: Agent | None) -> None:
        if agent is None:
            return
        node = self.typed(self.node(agent.uri), FOAF + "Agent")
        self.add(s, p, node)
        self.texts(node, FOAF + "name", agent.name)
        self.iris(node, DCT + "type", [agent.type])
        if agent.identifier:
            self.add(node, DCT + "identifier", Literal(agent.identifier))
        if agent.email:
            self.add(node, FOAF + "mbox", _iri("mailto:" + agent.email))
        self.iris(node, FOAF + "homepage", [agent.homepage])

    def contact(self, s: Subject, contact: ContactPoint) -> None:
        node = self.typed(self.node(contact.uri), VCARD + "Kind")
        self.add(s, DCAT + "contactPoint", node)
        if contact.name:
            self.add(node, VCARD + "fn", Literal(contact.name))
        if contact.email:
            self.add(node, VCARD + "hasEmail", _iri("mailto:" + contact.email))
        self.iris(node, VCARD + "hasURL", [contact.url])
        if contact.phone:
            self.add(node, VCARD + "hasTelephone", _iri("tel:" + contact.phone.replace(" ", "")))

    def period(self, s: Subject, period: PeriodOfTime) -> None:
        node = self.typed(BlankNode(), DCT + "PeriodOfTime")
        self.add(s, DCT + "temporal", node)
        self.date(node, DCAT + "startDate", period.start)
        self.date(node, DCAT + "endDate", period.end)

    def location(self, s: Subject, location: Location) -> None:
        node = self.typed(self.node(location.uri), DCT + "Location")
        self.add(s, DCT + "spatial", node)
        self.texts(node, SKOS + "prefLabel", location.label)
        for prop, value in (
            (DCAT + "bbox", location.bbox),
            (LOCN + "geometry", location.geometry),
            (DCAT + "centroid", location.centroid),
        ):
            if value:
                self.add(node, prop, Literal(value, datatype=NamedNode(GSP + "wktLiteral")))

    def controlled(self, s: Subject, p: str, value: str | None, cls: str) -> None:
        """A controlled-vocabulary value: its IRI, or for a literal a typed node labelled with it."""
        if not value:
            return
        node = _iri(value) if is_iri(value) else None
        if node is None:
            node = self.typed(BlankNode(), cls)
            self.add(node, RDFS + "label", Literal(value))
        self.add(s, p, node)

    def licence(self, s: Subject, value: str | None) -> None:
        self.controlled(s, DCT + "license", value, DCT + "LicenseDocument")

    def service(self, s: Subject, p: str, service: DataService) -> None:
        node = self.typed(self.node(service.uri), DCAT + "DataService")
        self.add(s, p, node)
        self.texts(node, DCT + "title", service.title)
        self.texts(node, DCT + "description", service.description)
        self.iris(node, DCAT + "endpointURL", service.endpoint_url)
        self.iris(node, DCAT + "endpointDescription", service.endpoint_description)
        self.iris(node, DCAT + "servesDataset", service.serves_dataset)
        self.licence(node, service.licence)
        self.controlled(node, DCT + "accessRights", service.access_rights, DCT + "RightsStatement")
        self.iris(node, DCT + "conformsTo", service.conforms_to)
        self.agent(node, DCT + "publisher", service.publisher)

    def distribution(self, s: Subject, dist: Distribution) -> None:
        node = self.typed(self.node(dist.uri), DCAT + "Distribution")
        self.add(s, DCAT + "distribution", node)
        self.texts(node, DCT + "title", dist.title)
        self.texts(node, DCT + "description", dist.description)
        self.iris(
            node, DCAT + "accessURL", dist.access_url or dist.download_url[:1]
        )  # accessURL is mandatory
        self.iris(node, DCAT + "downloadURL", dist.download_url)
        self.controlled(node, DCT + "format", dist.format, DCT + "MediaTypeOrExtent")
        self.controlled(node, DCAT + "mediaType", dist.media_type, DCT + "MediaType")
        self.licence(node, dist.licence)
        if dist.rights:
            rights = self.typed(BlankNode(), DCT + "RightsStatement")
            self.add(node, DCT + "rights", rights)
            self.add(rights, RDFS + "label", Literal(dist.rights))
        if dist.byte_size is not None:
            self.add(
                node,
                DCAT + "byteSize",
                Literal(str(dist.byte_size), datatype=NamedNode(XSD + "nonNegativeInteger")),
            )
        if dist.checksum:
            checksum = self.typed(BlankNode(), SPDX + "Checksum")
            self.add(node, SPDX + "checksum", checksum)
            self.iris(checksum, SPDX + "algorithm", [dist.checksum.algorithm])
            self.add(
                checksum,
                SPDX + "checksumValue",
                Literal(dist.checksum.value, datatype=NamedNode(XSD + "hexBinary")),
            )
        self.date(node, DCT + "issued", dist.issued)
        self.date(node, DCT + "modified", dist.modified)
        self.iris(node, DCT + "language", dist.language)
        self.iris(node, DCT + "conformsTo", dist.conforms_to)
        self.iris(node, ADMS + "status", [dist.status])
        for service in dist.access_service:
            self.service(node, DCAT + "accessService", service)


def dataset_triples(dataset: Dataset) -> list[Triple]:
    """The dataset and everything it embeds, subject = fedcat's URI."""
    w = _Writer()
    s = w.typed(NamedNode(dataset.uri), DCAT + "Dataset")
    w.texts(s, DCT + "title", dataset.title)
    w.texts(s, DCT + "description", dataset.description)
    for identifier in dataset.identifier:
        w.add(s, DCT + "identifier", Literal(identifier))
    for identifier in dataset.other_identifier:
        node = w.typed(BlankNode(), ADMS + "Identifier")
        w.add(s, ADMS + "identifier", node)
        w.add(node, SKOS + "notation", Literal(identifier))
    if dataset.original_uri and dataset.original_uri != dataset.uri:
        w.iris(s, OWL + "sameAs", [dataset.original_uri])
    w.texts(s, DCAT + "keyword", dataset.keywords)
    w.iris(s, DCAT + "theme", dataset.themes)
    w.agent(s, DCT + "publisher", dataset.publisher)
    w.agent(s, DCT + "creator", dataset.creator)
    for contact in dataset.contact_points:
        w.contact(s, contact)
    for dist in dataset.distributions:
        w.distribution(s, dist)
    w.date(s, DCT + "issued", dataset.issued)
    w.date(s, DCT + "modified", dataset.modified)
    w.iris(s, DCT + "language", dataset.language)
    w.controlled(s, DCT + "accessRights", dataset.access_rights, DCT + "RightsStatement")
    w.controlled(s, DCT + "accrualPeriodicity", dataset.accrual_periodicity, DCT + "Frequency")
    for period in dataset.temporal:
        w.period(s, period)
    for location in dataset.spatial:
        w.location(s, location)
    w.iris(s, DCAT + "landingPage", dataset.landing_page)
    w.iris(s, FOAF + "page", dataset.documentation)
    w.iris(s, DCT + "conformsTo", dataset.conforms_to)
    if dataset.version:
        w.add(s, DCAT + "version", Literal(dataset.version))
    w.iris(s, DCT + "type", [dataset.type])
    w.iris(s, DCATAP + "hvdCategory", dataset.hvd_categories)
    w.iris(s, DCATAP + "applicableLegislation", dataset.applicable_legislation)
    w.iris(s, DCT + "relation", dataset.related)
    return w.triples


def serialize(triples: Iterable[Triple], fmt: str = "ttl") -> bytes:
    """Triples in one of FORMATS ("ttl", "nt", "rdf", "jsonld"), with the DCAT-AP prefixes."""
    rdf_format = FORMATS[fmt]
    prefixes = PREFIXES if rdf_format in (RdfFormat.TURTLE, RdfFormat.RDF_XML) else None
    return pyoxigraph.serialize(triples, format=rdf_format, prefixes=prefixes)


def iter_ntriples(triples: Iterable[Triple]) -> Iterator[str]:
    for t in triples:
        yield f"{t.subject} {t.predicate} {t.object} .\n"
