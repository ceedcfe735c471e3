"""Read DCAT / DCAT-AP RDF into the model: the DCAT field map.

Works on pyoxigraph terms grouped by subject (`Graph`), which is ~3× faster than rdflib's `g.value` and
streams page by page. Used by the DCAT adapter and by any platform that exposes DCAT (CSW GeoDCAT output,
Opendatasoft's DCAT exports).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import pyoxigraph
import yaml
from pyoxigraph import BlankNode, Literal, NamedNode, RdfFormat, Triple

from . import geometry, normalise, vocabularies
from .context import SourceContext
from .dates import normalise_date, normalise_decimal, normalise_duration
from .model import (
    Activity,
    Agent,
    Attribution,
    Checksum,
    ContactPoint,
    DataService,
    Dataset,
    Distribution,
    Location,
    PeriodOfTime,
    Relationship,
    Text,
    dataset_from_json,
)
from .namespaces import (
    ADMS,
    DCAT,
    DCATAP,
    DCT,
    FOAF,
    LOCN,
    OWL,
    PROV,
    RDF,
    RDF_TYPE,
    RDFS,
    SCHEMA,
    SKOS,
    SPDX,
    VCARD,
)
from .values import ValueMapper, licence_text

Node = NamedNode | BlankNode | Literal
TIME = "http://www.w3.org/2006/time#"
DATASET_TYPE = NamedNode(DCAT + "Dataset")
NOT_EMBEDDED = frozenset({DCAT + "Dataset", DCAT + "Catalog", DCAT + "DatasetSeries", DCAT + "CatalogRecord"})
MAX_RECORD_NODES = 500  # a record embeds at most this many described nodes (guards against huge closures)
_SHORT = 8  # object lists up to this long are deduplicated by scanning them
_NO_PROPS: dict[str, list[Node]] = {}


class Graph:
    """Triples grouped by subject: subject -> predicate IRI -> objects, in document order."""

    __slots__ = ("_big", "_excluded", "out")

    def __init__(self, triples: Iterable[Triple] = ()) -> None:
        self.out: dict[Node, dict[str, list[Node]]] = {}
        self._big: dict[int, set[Node]] = {}  # id(objects list) -> its set, for long lists (dedup in O(1))
        self._excluded: set[Node] | None = None  # subjects typed dcat:Dataset, Catalog… (see `closure`)
        # `add` inlined: this loop runs once per parsed triple (a page is ~50,000 of them)
        out = self.out
        last: Node | None = None
        props: dict[str, list[Node]] = _NO_PROPS
        for t in triples:
            # pyoxigraph types a subject or object as possibly an RDF 1.2 triple term; the parsers
            # fedcat runs produce none
            subject: Node = t.subject  # type: ignore[assignment]
            # a document mostly gives a subject's triples one after the other: comparing with the last
            # subject costs half a dict lookup (pyoxigraph terms do not keep their hash)
            if subject != last:
                props = out.get(subject)  # type: ignore[assignment]
                if props is None:
                    props = out[subject] = {}
                last = subject
            predicate = t.predicate.value
            obj: Node = t.object  # type: ignore[assignment]
            objs = props.get(predicate)
            if objs is None:
                props[predicate] = [obj]
            elif len(objs) < _SHORT:
                if obj not in objs:
                    objs.append(obj)
            else:
                self._add_long(objs, obj)

    def add(self, subject: Node, predicate: str, obj: Node) -> None:
        self._excluded = None
        props = self.out.get(subject)
        if props is None:
            props = self.out[subject] = {}
        objs = props.get(predicate)
        if objs is None:
            props[predicate] = [obj]
        elif len(objs) < _SHORT:
            if obj not in objs:
                objs.append(obj)
        else:
            self._add_long(objs, obj)

    def _add_long(self, objs: list[Node], obj: Node) -> None:
        """Append unless present, for lists long enough that a linear scan would cost (a catalogue's
        dcat:dataset list holds a whole page: scanning it per triple is quadratic)."""
        seen = self._big.get(id(objs))
        if seen is None:
            seen = self._big[id(objs)] = set(objs)
        if obj not in seen:
            seen.add(obj)
            objs.append(obj)

    def objects(self, subject: Node, predicate: str) -> list[Node]:
        props = self.out.get(subject)
        return props.get(predicate, []) if props else []

    def first(self, subject: Node, *predicates: str) -> Node | None:
        props = self.out.get(subject)
        if props:
            for predicate in predicates:
                objs = props.get(predicate)
                if objs:
                    return objs[0]
        return None

    def subjects_of_type(self, type_iri: str) -> list[Node]:
        target = NamedNode(type_iri)
        return [s for s, props in self.out.items() if target in props.get(RDF_TYPE, ())]

    def types(self, subject: Node) -> set[str]:
        return {t.value for t in self.objects(subject, RDF_TYPE) if isinstance(t, NamedNode)}

    # --- one record's own part of the graph ----------------------------------------------------------

    def _not_embedded(self) -> set[Node]:
        """The IRI subjects typed with a NOT_EMBEDDED class (computed once per graph)."""
        if self._excluded is None:
            self._excluded = {
                s
                for s, props in self.out.items()
                if isinstance(s, NamedNode)
                and any(isinstance(t, NamedNode) and t.value in NOT_EMBEDDED for t in props.get(RDF_TYPE, ()))
            }
        return self._excluded

    def closure(self, root: Node) -> list[Node]:
        """The root and every node it leads to that this document describes, other datasets excluded."""
        out = self.out
        excluded = self._not_embedded()
        nodes, queue, seen = [root], [root], {root}
        while queue and len(nodes) < MAX_RECORD_NODES:
            for objs in out.get(queue.pop(), _NO_PROPS).values():
                for obj in objs:
                    # per object of a record: `type() is` (pyoxigraph's classes are final), and first the
                    # test that drops most IRIs (themes, licences, formats: described elsewhere), as each
                    # test hashes the term again
                    if type(obj) is Literal or obj not in out or obj in seen:
                        continue
                    seen.add(obj)
                    if obj in excluded:
                        continue
                    nodes.append(obj)
                    queue.append(obj)
        return nodes

    def ntriples(self, nodes: list[Node]) -> list[str]:
        """The nodes' triples as N-Triples lines in document order (node by node, each node's properties
        and values as the document gives them), blank nodes named by a digest of their content.

        Parsers name blank nodes at random; a digest of the description names them the same way every
        time, so that the same description always gives the same set of lines. Two blank nodes of a
        property that say the same thing (twins: a page giving one location twice) are then one node:
        they are made one in this graph too, so that what is mapped from the page is what is mapped from
        these lines."""
        out = self.out
        labels: dict[Node, str] = {}
        lines: list[str] = []
        append = lines.append
        for s in nodes:
            props = out.get(s)
            if not props:
                continue
            head = _bnode_label(out, labels, s) if type(s) is BlankNode else str(s)
            for p, objs in props.items():
                if len(objs) > 1 and (kept := _without_twins(out, labels, objs)) is not None:
                    objs[:] = kept  # in place: the graph's own list
                start = head + " <" + p + "> "
                for o in objs:
                    # str(), not an f-string: format() of a pyoxigraph term costs half as much again
                    append(
                        start + (_bnode_label(out, labels, o) if type(o) is BlankNode else str(o)) + " .\n"
                    )
        return lines

    def canonical_ntriples(self, nodes: list[Node]) -> bytes:
        """The nodes' triples as sorted N-Triples: the same bytes for the same description in any order."""
        lines = self.ntriples(nodes)
        lines.sort()
        return "".join(lines).encode("utf-8")


def _bnode_label(out: dict[Node, dict[str, list[Node]]], labels: dict[Node, str], node: BlankNode) -> str:
    """A blank node's canonical label: a digest of its sorted description (nested blank nodes first).

    Depth first with a stack of its own, not recursion: a source's blank nodes may nest thousands deep.
    A node met again while its own description is being read is a cycle, named "_:cycle" there (still
    deterministic). A module function rather than a closure: a closure would be a reference cycle keeping
    the page's whole graph alive until the cyclic garbage collector runs.
    """
    label = labels.get(node)
    if label is not None:
        return label
    props = out.get(node, _NO_PROPS)
    if not any(type(o) is BlankNode for objs in props.values() for o in objs):
        # the common case (a contact point, a period): no nested blank node, no stack to keep
        parts = [p + " " + str(o) for p, objs in props.items() for o in objs]
        parts.sort()
        label = labels[node] = "_:b" + hashlib.blake2b("".join(parts).encode(), digest_size=8).hexdigest()
        return label
    labels[node] = "_:cycle"
    # frames: [node, its (predicate, object) pairs still to read, its parts so far, the predicate waiting
    # for the label of the nested node being read]
    stack: list[list[Any]] = [[node, _pairs(out, node), [], ""]]
    while True:
        frame = stack[-1]
        pairs, parts = frame[1], frame[2]
        for predicate, obj in pairs:
            if not isinstance(obj, BlankNode):
                parts.append(f"{predicate} {obj}")
                continue
            nested = labels.get(obj)
            if nested is None:
                labels[obj] = "_:cycle"
                frame[3] = predicate
                stack.append([obj, _pairs(out, obj), [], ""])
                break
            parts.append(f"{predicate} {nested}")
        else:
            stack.pop()
            label = labels[frame[0]] = (
                "_:b" + hashlib.blake2b("".join(sorted(parts)).encode(), digest_size=8).hexdigest()
            )
            if not stack:
                return label
            parent = stack[-1]
            parent[2].append(f"{parent[3]} {label}")


def _without_twins(
    out: dict[Node, dict[str, list[Node]]], labels: dict[Node, str], objs: list[Node]
) -> list[Node] | None:
    """The objects without the blank nodes that say what an earlier one says; None when there are none."""
    kept: list[Node] = []
    named: set[str] = set()
    for o in objs:
        if isinstance(o, BlankNode):
            label = _bnode_label(out, labels, o)
            if label in named:
                continue
            named.add(label)
        kept.append(o)
    return kept if len(kept) < len(objs) else None


def _pairs(out: dict[Node, dict[str, list[Node]]], node: Node) -> Iterator[tuple[str, Node]]:
    return ((p, o) for p, objs in out.get(node, _NO_PROPS).items() for o in objs)


# --- value helpers -----------------------------------------------------------------------------------
# The public helpers take (graph, subject, predicates…). The mapping itself works on a subject's property
# dict (`_props`) with the underscored twins: one dict lookup per subject instead of one per property, and
# predicate IRIs built once below rather than per call.

_TITLE, _DESCRIPTION, _LICENSE = DCT + "title", DCT + "description", DCT + "license"
_ISSUED, _MODIFIED, _IDENTIFIER = DCT + "issued", DCT + "modified", DCT + "identifier"
_LANGUAGE, _CONFORMS_TO, _ACCESS_RIGHTS = DCT + "language", DCT + "conformsTo", DCT + "accessRights"
_LABELS = (SKOS + "prefLabel", RDFS + "label", DCT + "title", RDF + "value")
_AGENT_NAMES = (FOAF + "name", SKOS + "prefLabel", RDFS + "label", VCARD + "fn", VCARD + "organization-name")
_AGENT_EMAILS = (FOAF + "mbox", VCARD + "hasEmail")
_HOMEPAGES = (FOAF + "homepage", FOAF + "workplaceHomepage")
_CONTACT_NAMES = (VCARD + "fn", VCARD + "organization-name", FOAF + "name")
_CONTACT_EMAILS = (VCARD + "hasEmail", VCARD + "email")
_CONTACT_URLS = (VCARD + "hasURL", VCARD + "url")
_TIME_INSTANTS = (TIME + "inXSDDateTimeStamp", TIME + "inXSDDateTime", TIME + "inXSDDate")
_STARTS, _ENDS = (DCAT + "startDate", SCHEMA + "startDate"), (DCAT + "endDate", SCHEMA + "endDate")
_LOCATION_LABELS = (SKOS + "prefLabel", RDFS + "label", LOCN + "geographicName")
_VERSIONS = (DCAT + "version", OWL + "versionInfo", ADMS + "version")
_BYTE_SIZE, _MEDIA_TYPE, _FORMAT = DCAT + "byteSize", DCAT + "mediaType", DCT + "format"
_ACCESS_URL, _DOWNLOAD_URL = DCAT + "accessURL", DCAT + "downloadURL"
_FORMAT_DEFINITIONS = (RDFS + "isDefinedBy", _IDENTIFIER, RDF + "value")
_SPATIAL_RESOLUTION, _TEMPORAL_RESOLUTION = DCAT + "spatialResolutionInMeters", DCAT + "temporalResolution"
_HAD_ROLE, _IN_SERIES = DCAT + "hadRole", DCAT + "inSeries"
_SERIES_TYPE = NamedNode(DCAT + "DatasetSeries")
_PREDICATE_ALIASES_FILE = vocabularies.TABLES / "aliases" / "predicates.yaml"


def _load_predicate_aliases() -> dict[str, str]:
    with _PREDICATE_ALIASES_FILE.open(encoding="utf-8") as fh:
        return {str(k): str(v) for k, v in (yaml.safe_load(fh) or {}).get("predicates", {}).items()}


# a misused predicate -> the DCAT-AP predicate it means (data: mappings/aliases/predicates.yaml)
PREDICATE_ALIASES = _load_predicate_aliases()


def _with_aliases(props: dict[str, list[Node]]) -> dict[str, list[Node]]:
    """A subject's properties with the objects of misused predicates (dct:mediaType…) added after those of
    the DCAT-AP predicates they stand for: a single-valued property still reads the DCAT-AP one first."""
    if props.keys().isdisjoint(PREDICATE_ALIASES):  # the common case: one set test, no copy
        return props
    merged = dict(props)
    for alias, meant in PREDICATE_ALIASES.items():
        if objs := props.get(alias):
            given = merged.get(meant, [])
            merged[meant] = given + [o for o in objs if o not in given]
    return merged


def _props(graph: Graph, node: Node) -> dict[str, list[Node]]:
    return graph.out.get(node, _NO_PROPS)


def _texts(props: dict[str, list[Node]], predicates: Iterable[str]) -> list[Text]:
    found: list[Text] = []
    for predicate in predicates:
        objs = props.get(predicate)
        if objs:
            for obj in objs:
                if isinstance(obj, Literal):
                    value = obj.value.strip()
                    if value:
                        found.append(Text(value, obj.language))
            if found:
                return found
    return found


def _literal(props: dict[str, list[Node]], predicates: Iterable[str]) -> str | None:
    for predicate in predicates:
        objs = props.get(predicate)
        if objs:
            node = objs[0]
            return None if isinstance(node, BlankNode) else (node.value.strip() or None)
    return None


def _iris(props: dict[str, list[Node]], predicate: str) -> list[str]:
    values: list[str] = []
    for obj in props.get(predicate, ()):
        if isinstance(obj, NamedNode):
            values.append(obj.value.strip())
        elif isinstance(obj, Literal) and (value := obj.value.strip()):
            values.append(value)
    return values


def _iri(props: dict[str, list[Node]], predicates: Iterable[str]) -> str | None:
    for predicate in predicates:
        for obj in props.get(predicate, ()):
            if isinstance(obj, NamedNode):
                return obj.value.strip()
            if isinstance(obj, Literal) and (value := obj.value.strip()):
                return value
    return None


def _date(props: dict[str, list[Node]], predicates: Iterable[str]) -> str | None:
    for predicate in predicates:
        if (objs := props.get(predicate)) and (found := _date1(objs)):
            return found
    return None


def _texts1(objs: list[Node]) -> list[Text]:
    """`_texts` of one predicate's objects."""
    found: list[Text] = []
    for obj in objs:
        if isinstance(obj, Literal):
            value = obj.value.strip()
            if value:
                found.append(Text(value, obj.language))
    return found


def _literal1(objs: list[Node]) -> str | None:
    node = objs[0]
    return None if isinstance(node, BlankNode) else (node.value.strip() or None)


def _iris1(objs: list[Node]) -> list[str]:
    values: list[str] = []
    for obj in objs:
        if isinstance(obj, NamedNode):
            values.append(obj.value.strip())
        elif isinstance(obj, Literal) and (value := obj.value.strip()):
            values.append(value)
    return values


def _iri1(objs: list[Node]) -> str | None:
    for obj in objs:
        if isinstance(obj, NamedNode):
            return obj.value.strip()
        if isinstance(obj, Literal) and (value := obj.value.strip()):
            return value
    return None


def _date1(objs: list[Node]) -> str | None:
    """The first of the values that is a date (an empty literal before the real one is common)."""
    for obj in objs:
        if isinstance(obj, Literal) and (value := obj.value.strip()) and (found := normalise_date(value)):
            return found
    return None


def _first(props: dict[str, list[Node]], predicate: str) -> Node | None:
    objs = props.get(predicate)
    return objs[0] if objs else None


def texts(graph: Graph, subject: Node, *predicates: str) -> list[Text]:
    return _texts(_props(graph, subject), predicates)


def literal(graph: Graph, subject: Node, *predicates: str) -> str | None:
    return _literal(_props(graph, subject), predicates)


def iris(graph: Graph, subject: Node, predicate: str) -> list[str]:
    """IRIs (and IRI-like literals, which some portals publish where an IRI is expected)."""
    return _iris(_props(graph, subject), predicate)


def iri(graph: Graph, subject: Node, *predicates: str) -> str | None:
    return _iri(_props(graph, subject), predicates)


def date(graph: Graph, subject: Node, *predicates: str) -> str | None:
    return _date(_props(graph, subject), predicates)


def label_of(graph: Graph, node: Node) -> str | None:
    """A node's own label, or its IRI/literal value."""
    if isinstance(node, Literal):
        return node.value.strip() or None
    found = _texts(_props(graph, node), _LABELS)
    if found:
        return found[0].value
    return node.value if isinstance(node, NamedNode) else None


def _statement(graph: Graph, node: Node) -> str | None:
    """A dct:RightsStatement's text: its label, else its dct:description (GeoNetwork's GeoDCAT-AP output)."""
    if not isinstance(node, Literal) and (found := _texts(_props(graph, node), (_DESCRIPTION,))):
        return label_of(graph, node) if _texts(_props(graph, node), _LABELS) else found[0].value
    return label_of(graph, node)


def node_iri(node: Node | None) -> str | None:
    return node.value if isinstance(node, NamedNode) else None


# --- classes -----------------------------------------------------------------------------------------


def agent(graph: Graph, node: Node | None) -> Agent | None:
    if node is None:
        return None
    if isinstance(node, Literal):
        return Agent(name=[Text(node.value.strip(), node.language)]) if node.value.strip() else None
    props = _props(graph, node)
    email = _literal(props, _AGENT_EMAILS)
    return Agent(
        uri=node_iri(node),
        name=_texts(props, _AGENT_NAMES),
        type=_iri(props, (DCT + "type",)),
        identifier=_literal(props, (_IDENTIFIER,)),
        email=email.removeprefix("mailto:") if email else None,
        homepage=_iri(props, _HOMEPAGES),
    )


def contact_point(graph: Graph, node: Node) -> ContactPoint | None:
    if isinstance(node, Literal):
        return ContactPoint(name=node.value.strip()) if node.value.strip() else None
    props = _props(graph, node)
    email = _literal(props, _CONTACT_EMAILS)
    phone_node = _first(props, VCARD + "hasTelephone")
    phone = None
    if phone_node is not None:
        phone = (
            literal(graph, phone_node, VCARD + "hasValue") if not isinstance(phone_node, Literal) else None
        )
        phone = phone or phone_node.value
    return ContactPoint(
        uri=node_iri(node),
        name=_literal(props, _CONTACT_NAMES),
        email=email.removeprefix("mailto:") if email else None,
        url=_iri(props, _CONTACT_URLS),
        phone=phone.removeprefix("tel:") if phone else None,
    )


def period(graph: Graph, node: Node) -> PeriodOfTime | None:
    props = _props(graph, node)
    start = _date(props, _STARTS)
    end = _date(props, _ENDS)
    if start is None and (begin := _first(props, TIME + "hasBeginning")) is not None:
        start = date(graph, begin, *_TIME_INSTANTS)
    if end is None and (finish := _first(props, TIME + "hasEnd")) is not None:
        end = date(graph, finish, *_TIME_INSTANTS)
    return PeriodOfTime(start=start, end=end) if start or end else None


def location(graph: Graph, node: Node) -> Location | None:
    if isinstance(node, Literal):
        return Location(label=[Text(node.value.strip(), node.language)]) if node.value.strip() else None
    props = _props(graph, node)
    bbox, other_bboxes = _encodings(graph, props.get(DCAT + "bbox", ()))
    shape, other_shapes = _encodings(graph, props.get(LOCN + "geometry", ()))
    found = Location(
        uri=node_iri(node),
        label=_texts(props, _LOCATION_LABELS),
        bbox=bbox,
        geometry=shape,
        centroid=_literal(props, (DCAT + "centroid",)),
        other_bboxes=other_bboxes,
        other_geometries=other_shapes,
    )
    return None if found == Location() else found  # a blank dct:Location saying nothing is no coverage


def _statements(graph: Graph, objs: Iterable[Node]) -> list[Text]:
    """dct:provenance: literals, or dct:ProvenanceStatement nodes by their label (else description, else
    their IRI)."""
    found: list[Text] = []
    for obj in objs:
        if isinstance(obj, Literal):
            texts = _texts1([obj])
        else:
            props = _props(graph, obj)
            texts = _texts(props, _LABELS) or _texts(props, (_DESCRIPTION,))
            if not texts and isinstance(obj, NamedNode):
                texts = [Text(obj.value)]
        found.extend(t for t in texts if t not in found)
    return found


def _relationships(graph: Graph, objs: Iterable[Node]) -> list[Relationship]:
    """dcat:qualifiedRelation: each dcat:Relationship's related resource and role."""
    found = []
    for obj in objs:
        props = _props(graph, obj)
        if relation := _iri(props, (DCT + "relation",)):
            found.append(Relationship(relation=relation, role=_iri(props, (_HAD_ROLE,))))
    return found


def _attributions(graph: Graph, objs: Iterable[Node]) -> list[Attribution]:
    """prov:qualifiedAttribution: each prov:Attribution's agent and role."""
    found = []
    for obj in objs:
        props = _props(graph, obj)
        if (agent_node := _first(props, PROV + "agent")) and (who := agent(graph, agent_node)):
            found.append(Attribution(agent=who, role=_iri(props, (_HAD_ROLE,))))
    return found


def _activities(graph: Graph, objs: Iterable[Node]) -> list[Activity]:
    """prov:wasGeneratedBy: each prov:Activity's IRI and label."""
    found = []
    for obj in objs:
        if isinstance(obj, Literal):
            activity = Activity(label=_texts1([obj]))
        else:
            activity = Activity(uri=node_iri(obj), label=_texts(_props(graph, obj), _LABELS))
        if activity != Activity():
            found.append(activity)
    return found


def _decimals(objs: Iterable[Node]) -> list[str]:
    """Non-negative xsd:decimal values in their lexical form; what is not a number is left out."""
    found = []
    for obj in objs:
        if isinstance(obj, Literal) and (value := normalise_decimal(obj.value)) and value not in found:
            found.append(value)
    return found


def _samples(graph: Graph, objs: Iterable[Node], values: ValueMapper) -> list[Distribution]:
    """adms:sample: distributions; one given as a literal is its link (an IRI) or its description."""
    found = []
    for obj in objs:
        if not isinstance(obj, Literal):
            found.append(distribution(graph, obj, values))
        elif value := obj.value.strip():
            is_link = value.startswith(("http://", "https://"))
            found.append(
                Distribution(access_url=[value])
                if is_link
                else Distribution(description=[Text(value, obj.language)])
            )
    return found


def _encodings(graph: Graph, objs: Iterable[Node]) -> tuple[str | None, list[str]]:
    """Every literal of one extent (WKT, GML, GeoJSON; also inside a locn:Geometry node): the WKT one first,
    which search filters read, then the others, all kept whatever their order in the document."""
    found: list[str] = []
    for obj in objs:
        if isinstance(obj, Literal):
            literals = [obj]
        else:  # a locn:Geometry node carrying its encodings
            literals = [o for objs in _props(graph, obj).values() for o in objs if isinstance(o, Literal)]
        for literal_node in literals:
            value = literal_node.value.strip()
            if value and value not in found:
                found.append(value)
    if not found:
        return None, []
    primary = next((v for v in found if geometry.is_wkt(v)), found[0])
    return primary, [v for v in found if v != primary]


def data_service(graph: Graph, node: Node, values: ValueMapper) -> DataService:
    props = _props(graph, node)
    return DataService(
        uri=node_iri(node),
        title=_texts(props, (_TITLE,)),
        description=_texts(props, (_DESCRIPTION,)),
        endpoint_url=_iris(props, DCAT + "endpointURL"),
        endpoint_description=_iris(props, DCAT + "endpointDescription"),
        serves_dataset=_iris(props, DCAT + "servesDataset"),
        licence=values.licence(_iri(props, (_LICENSE,))),
        access_rights=values.access_rights(_iri(props, (_ACCESS_RIGHTS,))),
        conforms_to=_iris(props, _CONFORMS_TO),
    )


def _described(graph: Graph, node: Node, known: Any) -> dict[str, list[Node]] | None:
    """The page's description of a value node that is no IRI of the vocabulary (`known` tells), else None.
    Some national profiles name each value with an IRI of their own and describe it beside the record:
    datos.gob.es's distribution format `<…/resource/1/format> a dct:IMT; rdfs:label "XLS"; rdf:value
    "application/vnd.ms-excel"` — the IRI alone means nothing to anyone else."""
    if isinstance(node, Literal) or (isinstance(node, NamedNode) and known(node.value)):
        return None
    return _props(graph, node) or None


def _format_value(graph: Graph, node: Node | None) -> str | None:
    """dct:format / dcat:mediaType as an IRI, a literal, or a node described by what defines it
    (`rdfs:isDefinedBy` an IANA or EU IRI), its `dct:identifier` ("text/csv") or its rdf:value / label."""
    if node is None:
        return None
    if (props := _described(graph, node, normalise.format_uri)) is not None:
        return _iri(props, _FORMAT_DEFINITIONS) or label_of(graph, node)
    return None if isinstance(node, BlankNode) else (node.value.strip() or None)


# time:DurationDescription's parts as ISO 8601 (the frequency table reads "P1Y", "PT1H")
_DURATION_PARTS = (
    ("years", "P", "Y"), ("months", "P", "M"), ("weeks", "P", "W"), ("days", "P", "D"),
    ("hours", "PT", "H"), ("minutes", "PT", "M"), ("seconds", "PT", "S"),
)  # fmt: skip


def _frequency_value(graph: Graph, objs: list[Node]) -> str | None:
    """dct:accrualPeriodicity as an IRI or a literal, or a dct:Frequency node the page describes: its label,
    or its rdf:value a time:DurationDescription (`time:years 1.0`, datos.gob.es) read as "P1Y"."""
    node = objs[0]
    props = _described(graph, node, normalise.frequency_uri)
    if props is None:
        return _iri1(objs)
    for value in props.get(RDF + "value", ()):
        parts = _props(graph, value) if not isinstance(value, Literal) else {}
        for name, prefix, unit in _DURATION_PARTS:
            amount = _literal1(o) if (o := parts.get(TIME + name)) else None
            with contextlib.suppress(ValueError):
                if amount and float(amount) > 0 and float(amount).is_integer():
                    return f"{prefix}{int(float(amount))}{unit}"
        if isinstance(value, Literal | NamedNode) and value.value.strip():
            return value.value.strip()
    return label_of(graph, node) if isinstance(node, NamedNode) or _texts(props, _LABELS) else None


def _licence_value(graph: Graph, node: Node | None) -> str | None:
    """dct:license as an IRI, a literal, or a dct:LicenseDocument node known only by its label (GeoDCAT-AP)."""
    if node is None:
        return None
    return node_iri(node) or label_of(graph, node)


def distribution(graph: Graph, node: Node, values: ValueMapper) -> Distribution:
    # Most properties are absent from most distributions: each is looked up once, and a helper is called
    # only for those present (this runs for every distribution of every harvested dataset).
    get = _with_aliases(_props(graph, node)).get
    checksum = None
    if checksum_objs := get(SPDX + "checksum"):
        checksum_node = checksum_objs[0]
        value = literal(graph, checksum_node, SPDX + "checksumValue")
        algorithm = iri(graph, checksum_node, SPDX + "algorithm")
        if value and algorithm:
            checksum = Checksum(algorithm=algorithm, value=value)
    size = _literal1(o) if (o := get(_BYTE_SIZE)) else None
    media_type = _format_value(graph, o[0]) if (o := get(_MEDIA_TYPE)) else None
    raw_format = (_format_value(graph, o[0]) if (o := get(_FORMAT)) else None) or media_type
    given_licence = _licence_value(graph, o[0]) if (o := get(_LICENSE)) else None
    return Distribution(
        uri=node_iri(node),
        title=_texts1(o) if (o := get(_TITLE)) else [],
        description=_texts1(o) if (o := get(_DESCRIPTION)) else [],
        access_url=_iris1(o) if (o := get(_ACCESS_URL)) else [],
        download_url=_iris1(o) if (o := get(_DOWNLOAD_URL)) else [],
        format=values.format(raw_format),
        media_type=values.media_type(media_type),
        licence=values.licence(given_licence) if given_licence else None,
        licence_text=licence_text(given_licence),
        rights=_statement(graph, o[0]) if (o := get(DCT + "rights")) else None,
        byte_size=int(float(size)) if size and size.replace(".", "", 1).isdigit() else None,
        checksum=checksum,
        issued=_date1(o) if (o := get(_ISSUED)) else None,
        modified=_date1(o) if (o := get(_MODIFIED)) else None,
        language=[u for v in _iris1(o) if (u := values.language(v))] if (o := get(_LANGUAGE)) else [],
        conforms_to=_iris1(o) if (o := get(_CONFORMS_TO)) else [],
        status=_iri1(o) if (o := get(ADMS + "status")) else None,
        access_service=[data_service(graph, s, values) for s in o]
        if (o := get(DCAT + "accessService"))
        else [],
        documentation=_iris1(o) if (o := get(FOAF + "page")) else [],
        availability=_iri1(o) if (o := get(DCATAP + "availability")) else None,
        compress_format=values.media_type(_format_value(graph, o[0]))
        if (o := get(DCAT + "compressFormat"))
        else None,
        package_format=_packaging(graph, o[0], values) if (o := get(DCAT + "packageFormat")) else None,
        spatial_resolution_in_meters=next(iter(_decimals(o)), None)
        if (o := get(_SPATIAL_RESOLUTION))
        else None,
        temporal_resolution=normalise_duration(_literal1(o)) if (o := get(_TEMPORAL_RESOLUTION)) else None,
        applicable_legislation=_iris1(o) if (o := get(DCATAP + "applicableLegislation")) else [],
    )


def _packaging(graph: Graph, node: Node, values: ValueMapper) -> str | None:
    """dcat:packageFormat: an IANA media type when it names one, else the source's IRI (ckanext-dcat writes EU
    file types there)."""
    given = _format_value(graph, node)
    return values.media_type(given) or (
        given if given and given.startswith(("http://", "https://")) else None
    )


def _keywords(props: dict[str, list[Node]]) -> list[Text]:
    found: list[Text] = []
    seen: set[tuple[str, str | None]] = set()
    for text in _texts(props, (DCAT + "keyword",)):
        # some portals (Opendatasoft's early DCAT) put every keyword in one comma-joined literal
        parts = [p.strip() for p in text.value.split(",")] if "," in text.value else [text.value]
        for part in parts:
            if part and (part, text.lang) not in seen:
                seen.add((part, text.lang))
                found.append(Text(part, text.lang))
    return found


def dataset(graph: Graph, node: Node, uri: str, values: ValueMapper | None = None) -> Dataset:
    """Map one dcat:Dataset description to the model; `uri` is the fedcat URI it gets. A stand-alone
    dcat:DataService is read the same way, its endpoints and served datasets in `service`."""
    values = values or ValueMapper()
    props = _with_aliases(_props(graph, node))
    get = props.get  # as in `distribution`: one lookup per property, helpers only for those present
    distributions = [distribution(graph, d, values) for d in o] if (o := get(DCAT + "distribution")) else []
    licence_node = o[0] if (o := get(_LICENSE)) else None
    given_licence = _licence_value(graph, licence_node)
    licence = values.licence(given_licence) if given_licence else None
    if licence is None:
        licences = {d.licence for d in distributions if d.licence}
        licence = licences.pop() if len(licences) == 1 else None
    themes, labels = _themes(graph, get(DCAT + "theme", ()), values)
    # a licence of the source's own (ArcGIS Hub's per-dataset license.json…): the name it gives it
    if (
        licence is not None
        and isinstance(licence_node, NamedNode)
        and licence == node_iri(licence_node)
        and not vocabularies.has_label(licence)
        and (texts := _texts(_props(graph, licence_node), _LABELS))
    ):
        labels[licence] = texts
    is_series = _SERIES_TYPE in props.get(RDF_TYPE, ())
    other_ids = []
    for adms_id in get(ADMS + "identifier", ()):
        notation = literal(graph, adms_id, SKOS + "notation") if not isinstance(adms_id, Literal) else None
        other_ids.append(notation or adms_id.value)
    return Dataset(
        uri=uri,
        original_uri=node_iri(node),
        title=_texts1(o) if (o := get(_TITLE)) else [],
        description=_texts1(o) if (o := get(_DESCRIPTION)) else [],
        identifier=_iris1(o) if (o := get(_IDENTIFIER)) else [],
        other_identifier=other_ids,
        keywords=_keywords(props),
        themes=themes,
        publisher=agent(graph, o[0]) if (o := get(DCT + "publisher")) else None,
        creator=agent(graph, o[0]) if (o := get(DCT + "creator")) else None,
        contact_points=[c for n in get(DCAT + "contactPoint", ()) if (c := contact_point(graph, n))],
        distributions=distributions,
        issued=_date1(o) if (o := get(_ISSUED)) else None,
        modified=_date1(o) if (o := get(_MODIFIED)) else None,
        language=[u for v in _iris1(o) if (u := values.language(v))] if (o := get(_LANGUAGE)) else [],
        licence=licence,
        licence_text=licence_text(given_licence),
        rights=_statement(graph, o[0]) if (o := get(DCT + "rights")) else None,
        access_rights=values.access_rights(_iri1(o)) if (o := get(_ACCESS_RIGHTS)) else None,
        accrual_periodicity=values.frequency(_frequency_value(graph, o))
        if (o := get(DCT + "accrualPeriodicity"))
        else None,
        temporal=[p for n in get(DCT + "temporal", ()) if (p := period(graph, n))],
        spatial=[s for n in get(DCT + "spatial", ()) if (s := location(graph, n))],
        landing_page=_iris1(o) if (o := get(DCAT + "landingPage")) else [],
        documentation=_iris1(o) if (o := get(FOAF + "page")) else [],
        conforms_to=_iris1(o) if (o := get(_CONFORMS_TO)) else [],
        version=_literal(props, _VERSIONS),
        type=_iri1(o) if (o := get(DCT + "type")) else None,
        hvd_categories=_iris1(o) if (o := get(DCATAP + "hvdCategory")) else [],
        applicable_legislation=_iris1(o) if (o := get(DCATAP + "applicableLegislation")) else [],
        related=_iris1(o) if (o := get(DCT + "relation")) else [],
        provenance=_statements(graph, o) if (o := get(DCT + "provenance")) else [],
        version_notes=_texts1(o) if (o := get(ADMS + "versionNotes")) else [],
        has_version=_iris1(o) if (o := get(DCAT + "hasVersion")) else [],
        is_version_of=_iris1(o) if (o := get(DCT + "isVersionOf")) else [],
        in_series=[n.value for n in o if isinstance(n, NamedNode)] if (o := get(_IN_SERIES)) else [],
        source=_iris1(o) if (o := get(DCT + "source")) else [],
        sample=_samples(graph, o, values) if (o := get(ADMS + "sample")) else [],
        is_referenced_by=_iris1(o) if (o := get(DCT + "isReferencedBy")) else [],
        qualified_relation=_relationships(graph, o) if (o := get(DCAT + "qualifiedRelation")) else [],
        qualified_attribution=_attributions(graph, o) if (o := get(PROV + "qualifiedAttribution")) else [],
        was_generated_by=_activities(graph, o) if (o := get(PROV + "wasGeneratedBy")) else [],
        spatial_resolution_in_meters=_decimals(o) if (o := get(_SPATIAL_RESOLUTION)) else [],
        temporal_resolution=normalise_duration(_literal1(o)) if (o := get(_TEMPORAL_RESOLUTION)) else None,
        rights_holder=agent(graph, o[0]) if (o := get(DCT + "rightsHolder")) else None,
        series_members=_members(graph, node) if is_series else [],
        is_series=is_series,
        labels=labels,
        unmapped=values.unmapped,
        service=_endpoints(graph, props, node) if _is_service(graph, node) else None,
    )


def _members(graph: Graph, series: Node) -> list[str]:
    """The IRIs of the datasets the document says are in `series` (dcat:inSeries), in document order."""
    return [
        s.value
        for s, props in graph.out.items()
        if isinstance(s, NamedNode) and s != series and series in props.get(_IN_SERIES, ())
    ]


def _endpoints(graph: Graph, props: dict[str, list[Node]], node: Node) -> DataService:
    """A stand-alone data service's own properties (the others are read as a dataset's). The datasets it
    serves that the document describes are records of the same source: `served_as` names them by their
    own IRI until `with_served_records` gives fedcat's."""
    described = {
        n.value: n.value
        for n in props.get(DCAT + "servesDataset", ())
        if isinstance(n, NamedNode) and DCAT + "Dataset" in graph.types(n)
    }
    return DataService(
        uri=node_iri(node),
        endpoint_url=_iris(props, DCAT + "endpointURL"),
        endpoint_description=_iris(props, DCAT + "endpointDescription"),
        serves_dataset=_iris(props, DCAT + "servesDataset"),
        served_as=described,
    )


def with_served_records(mapped: Dataset, source: SourceContext) -> Dataset:
    """A service's served datasets of the same source linked by fedcat's URIs of their records; so are a
    series' members (its payload holds them: they are datasets of the same document). A dataset's own
    `in_series` keeps the source's IRIs: its payload cannot tell whether the series is a record of the same
    source or one described elsewhere (the series' record links its members to itself, and is owl:sameAs
    that IRI)."""
    if source.record_uri is None:
        return mapped
    if mapped.service is not None and mapped.service.served_as:
        mapped.service.served_as = {iri: source.record_uri(iri) for iri in mapped.service.served_as}
    if mapped.series_members:
        mapped.series_members = [source.record_uri(iri) for iri in mapped.series_members]
    return mapped


def _themes(
    graph: Graph, nodes: Iterable[Node], values: ValueMapper
) -> tuple[list[str], dict[str, list[Text]]]:
    """dcat:theme: every IRI kept (an EU data theme, INSPIRE, GEMET, AGROVOC…), with the labels the document
    gives it when no vocabulary of fedcat's knows it; a label naming an EU data theme adds that theme too.
    A theme given only by a label (literal or blank node) maps through the EU vocabulary, else is noted."""
    themes: list[str] = []
    labels: dict[str, list[Text]] = {}
    for node in nodes:
        if isinstance(node, NamedNode):
            uri = node.value.strip()
            themes.extend(u for u in values.themes([uri]) if u not in themes)
            texts = _texts(_props(graph, node), _LABELS)
            if texts and uri in themes and not vocabularies.has_label(uri):
                labels[uri] = texts
            for text in texts[:1]:
                themes.extend(m.uri for m in normalise.theme_uris(text.value) if m.uri not in themes)
        else:
            themes.extend(u for u in values.themes([label_of(graph, node) or ""]) if u not in themes)
    return themes, labels


def dataset_subjects(graph: Graph) -> Iterator[Node]:
    return iter(graph.subjects_of_type(DCAT + "Dataset"))


def _is_service(graph: Graph, node: Node) -> bool:
    types = graph.types(node)
    return DCAT + "DataService" in types and DCAT + "Dataset" not in types


def service_subjects(graph: Graph) -> list[Node]:
    """The stand-alone dcat:DataServices: those a catalogue lists (dcat:service), and those no
    distribution names as its dcat:accessService (those are kept within the datasets that name them)."""
    services = [s for s in graph.subjects_of_type(DCAT + "DataService") if _is_service(graph, s)]
    if not services:
        return []
    access: set[Node] = set()
    listed: set[Node] = set()
    for props in graph.out.values():
        access.update(props.get(DCAT + "accessService", ()))
        listed.update(props.get(DCAT + "service", ()))
    return [s for s in services if s in listed or s not in access]


def series_subjects(graph: Graph) -> list[Node]:
    """The dcat:DatasetSeries not also typed dcat:Dataset (those are datasets already)."""
    return [
        s for s in graph.subjects_of_type(DCAT + "DatasetSeries") if DCAT + "Dataset" not in graph.types(s)
    ]


def record_subjects(graph: Graph) -> Iterator[Node]:
    """What a DCAT document's records are: its datasets, its dataset series, then its stand-alone data
    services."""
    yield from dataset_subjects(graph)
    yield from series_subjects(graph)
    yield from service_subjects(graph)


class RecordPayload(NamedTuple):
    """A record's stored payload, and the form its change hash is computed over."""

    # the record's triples in the page's order: a re-map reads its values in the order the harvest's
    # mapping read them from the page (the publisher's order of distributions, titles, keywords)
    payload: bytes
    # the same lines sorted: the same bytes for the same description in whatever order a page gives it,
    # so that a reordered page is not a change. It is also what fedcat stored as the payload before
    # payloads kept the page's order: the hash of a record stored then is the hash it gets now
    canonical: bytes


def record_payload(graph: Graph, node: Node) -> RecordPayload:
    """A record's payload: its closure as N-Triples; for a stand-alone service, also the type of each
    dataset it serves that the document describes (what tells its mapping, on a re-map, that they are
    records of the same source)."""
    lines = graph.ntriples(graph.closure(node))
    extra = ""
    if _is_service(graph, node):
        served = sorted(
            n.value
            for n in graph.objects(node, DCAT + "servesDataset")
            if isinstance(n, NamedNode) and DCAT + "Dataset" in graph.types(n)
        )
        extra = "".join(f"<{iri}> <{RDF_TYPE}> <{DCAT}Dataset> .\n" for iri in served)
    elif isinstance(node, NamedNode) and DCAT + "DatasetSeries" in graph.types(node):
        # a series' members say so themselves (dcat:inSeries), outside its closure: their statements, so
        # that a re-map still lists them
        extra = "".join(f"<{iri}> <{_IN_SERIES}> {node} .\n" for iri in _members(graph, node))
    payload = ("".join(lines) + extra).encode("utf-8")
    lines.sort()  # the extra lines after the sorted ones, as payloads were stored before
    return RecordPayload(payload, ("".join(lines) + extra).encode("utf-8"))


def _root(graph: Graph) -> Node | None:
    """The node a stored record's payload describes: the dataset or service every other node it describes
    hangs from (a dataset's payload embeds the service its distribution names; a service's names the
    datasets it serves)."""
    candidates = list(record_subjects(graph))
    excluded = graph._not_embedded()
    described = {s for s in graph.out if s not in excluded}
    for node in candidates:
        if described <= set(graph.closure(node)):
            return node
    return candidates[0] if candidates else None


def map_record(payload: bytes, uri: str, source: SourceContext, parsed: Any = None) -> Dataset:
    """`type: dcat` — one dataset's N-Triples (its closure, `record_payload`) as fedcat's `uri`.

    `parsed` is what the harvest already holds: the page's `(Graph, node)`, or the dataset this very
    function produced in the adapter's parsing process (its JSON, mapped with an empty URI).
    """
    if isinstance(parsed, bytes):
        mapped = dataset_from_json(parsed)
        mapped.uri = uri
        return with_served_records(mapped, source)
    if parsed is not None:
        graph, node = parsed
    else:  # re-mapping from the stored payload
        graph = Graph(pyoxigraph.parse(payload, RdfFormat.N_TRIPLES, lenient=True))
        node = _root(graph)
        if node is None:
            raise ValueError("the stored payload holds no dcat:Dataset or dcat:DataService")
    return with_served_records(dataset(graph, node, uri, ValueMapper()), source)
