"""A large RDF page read from an on-disk store, so that its memory does not grow with its datasets.

A page is normally parsed into one in-memory `Graph` (some 12 KB a dataset: 100,000 datasets in one page took
1.27 GB). A page over `STORE_OVER` bytes is instead loaded into a pyoxigraph `Store` in a temporary
directory (removed afterwards), and its records are read back from it a part at a time, in parts of
`PART` records with their own URLs (`url#part=N`), as the JSON adapters read a large listing: each record's
closure is gathered from the store into a small `Graph` of its own, on which the very same functions as for
an in-memory page give its id, payload and mapping: same records, same hashes.

Document order matters to a few choices (which of two `dct:modified` a dataset keeps, the order of a
record's nodes under the `MAX_RECORD_NODES` cap), and a store keeps none: each triple is therefore stored in
a named graph giving its position in the document, and a node's properties are read back in that order.

The page's own safety checks (XML entities and depth, Turtle and JSON-LD nesting) run before it is loaded,
as for a page parsed in memory. A page the strict parser refuses is read the in-memory way (RDF/XML's
forgiving fallback included).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pyoxigraph
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat

from ...mappings.from_rdf import NOT_EMBEDDED, Graph
from ...mappings.namespaces import DCAT, RDF_TYPE
from .base import Page, RawRecord

STORE_OVER = 8 * 1024 * 1024  # bytes: pages up to this size are parsed in memory (faster)
PART = 1000  # records per part of a large page
LOAD_BATCH = 50_000  # quads handed to the store's bulk loader at once
_POSITION = "urn:x-fedcat:position:"
_SKIP = len(_POSITION)
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_TYPE = NamedNode(RDF_TYPE)
_DATASET, _SERVICE, _CATALOG, _SERIES = (
    NamedNode(DCAT + k) for k in ("Dataset", "DataService", "Catalog", "DatasetSeries")
)
_IN_SERIES = NamedNode(DCAT + "inSeries")


# The store keeps numbers, dates, booleans… as values, not as written ("1.0"^^xsd:decimal comes back "1"):
# a payload must keep the source's lexical form (its hash says whether the record changed), so typed
# literals are stored under a datatype the store does not know, and given back their own on reading.
_WRAPPED = "urn:x-fedcat:datatype:"
_UNWRAP = len(_WRAPPED)
_PLAIN = frozenset({XSD_STRING, RDF_LANG_STRING})


def _wrap(obj: Any) -> Any:
    if isinstance(obj, Literal) and obj.datatype.value not in _PLAIN:
        return Literal(obj.value, datatype=NamedNode(_WRAPPED + obj.datatype.value))
    return obj


def _position(quad: Quad) -> int:
    return int(quad.graph_name.value[len(_POSITION) :])  # type: ignore[union-attr]


class PageStore:
    """One page loaded into a store in a temporary directory; `close()` removes it."""

    def __init__(self, content: bytes, rdf_format: RdfFormat, base_iri: str) -> None:
        self._folder = tempfile.mkdtemp(prefix="fedcat-rdf-page-")
        try:
            self.store = pyoxigraph.Store(self._folder)
            triples = pyoxigraph.parse(content, rdf_format, base_iri=base_iri, lenient=True)
            quads = (
                Quad(t.subject, t.predicate, _wrap(t.object), NamedNode(f"{_POSITION}{n}"))
                for n, t in enumerate(triples)
            )
            # in batches: the bulk loader holds up to a million quads a thread in memory before writing
            while batch := list(itertools.islice(quads, LOAD_BATCH)):
                self.store.bulk_extend(batch)
        except BaseException:
            self.close()
            raise
        self._props: dict[Any, dict[str, list[Any]] | None] = {}

    def close(self) -> None:
        self.__dict__.pop("store", None)
        self._props = {}
        gc.collect()  # the store's files are released when the last reference to it goes
        shutil.rmtree(self._folder, ignore_errors=True)

    # --- what an in-memory Graph's `out` holds, for one node at a time ---------------------------------

    def props(self, node: Any) -> dict[str, list[Any]] | None:
        """The node's properties in document order (as `Graph.out[node]`), None when it describes nothing.
        The last few nodes are kept: a record's closure asks for the same ones again."""
        found = self._props.get(node)
        if found is not None or node in self._props:
            return found
        # (position, predicate, object), deduplicated as Graph does: each object once per predicate
        ordered = sorted(
            (int(q.graph_name.value[_SKIP:]), q.predicate.value, q.object)  # type: ignore[union-attr]
            for q in self.store.quads_for_pattern(node, None, None, None)
        )
        props: dict[str, list[Any]] = {}
        for _, predicate, obj in ordered:
            if isinstance(obj, Literal) and obj.datatype.value.startswith(_WRAPPED):
                obj = Literal(obj.value, datatype=NamedNode(obj.datatype.value[_UNWRAP:]))
            objects = props.setdefault(predicate, [])
            if obj not in objects:
                objects.append(obj)
        if len(self._props) > 4096:
            self._props.clear()
        self._props[node] = props if ordered else None
        return self._props[node]

    def first_position(self, node: Any) -> int:
        """Where the node's first statement is in the document (the order of `Graph.out`)."""
        return min((_position(q) for q in self.store.quads_for_pattern(node, None, None, None)), default=-1)

    def types(self, node: Any) -> set[str]:
        return {t.value for t in (self.props(node) or {}).get(RDF_TYPE, ())}

    def subjects(self, predicate: NamedNode, obj: Any = None) -> list[Any]:
        """Subjects with `predicate` (`obj`), each once, in the order of their first such triple."""
        first: dict[Any, int] = {}
        for quad in self.store.quads_for_pattern(None, predicate, obj, None):
            position = _position(quad)
            if quad.subject not in first or position < first[quad.subject]:
                first[quad.subject] = position
        return sorted(first, key=first.__getitem__)

    def first_object(self, predicates: tuple[NamedNode, ...], accept: Any) -> Any:
        """The first object in document order of any of `predicates` that `accept` takes, or None."""
        found = [
            (_position(q), q.object)
            for predicate in predicates
            for q in self.store.quads_for_pattern(None, predicate, None, None)
            if accept(q.object)
        ]
        return min(found, key=lambda pair: pair[0])[1] if found else None


class _StoreOut:
    """`Graph.out` answered from the store (only `get` and `in`, what `Graph.closure` uses)."""

    def __init__(self, page: PageStore) -> None:
        self.page = page

    def get(self, node: Any, default: Any = None) -> Any:
        found = self.page.props(node)
        return default if found is None else found

    def __contains__(self, node: Any) -> bool:
        return self.page.props(node) is not None


class _NotEmbedded:
    """`Graph._not_embedded()` answered from the store: IRIs typed with a class whose nodes are records."""

    def __init__(self, page: PageStore) -> None:
        self.page = page

    def __contains__(self, node: Any) -> bool:
        return isinstance(node, NamedNode) and not NOT_EMBEDDED.isdisjoint(self.page.types(node))


class _StoreGraph(Graph):
    """A Graph whose closure walks the store: the nodes one record's payload is made of."""

    def __init__(self, page: PageStore) -> None:
        super().__init__()
        self.out = _StoreOut(page)  # type: ignore[assignment]
        self._excluded = _NotEmbedded(page)  # type: ignore[assignment]

    def _not_embedded(self) -> Any:
        return self._excluded


def record_graph(page: PageStore, node: Any, kind: str) -> Graph:
    """The record's own part of the page (its closure), as a Graph: what `from_rdf` reads of it. A
    stand-alone service also gets the types of the datasets it serves, a series the dcat:inSeries statements
    of its members, in document order (its payload lists both)."""
    walker = _StoreGraph(page)
    graph = Graph()
    for member in walker.closure(node):
        for predicate, objects in (page.props(member) or {}).items():
            for obj in objects:
                graph.add(member, predicate, obj)
    if kind == "service":
        for served in graph.objects(node, DCAT + "servesDataset"):
            for kind_iri in page.types(served):
                graph.add(served, RDF_TYPE, NamedNode(kind_iri))
    elif kind == "series":
        members = [m for m in page.subjects(_IN_SERIES, node) if isinstance(m, NamedNode) and m != node]
        for member in sorted(members, key=page.first_position):
            graph.add(member, _IN_SERIES.value, node)
    return graph


def record_nodes(page: PageStore) -> Iterator[tuple[Any, str]]:
    """(node, "dataset" | "series" | "service") of the page's records, as `from_rdf.record_subjects` gives
    them: its datasets, its dataset series (not also datasets), then its stand-alone services (those a
    catalogue lists, and those no distribution names as its dcat:accessService)."""
    for node in page.subjects(_TYPE, _DATASET):
        yield node, "dataset"
    for node in page.subjects(_TYPE, _SERIES):
        if DCAT + "Dataset" not in page.types(node):
            yield node, "series"
    for node in page.subjects(_TYPE, _SERVICE):
        if DCAT + "Dataset" in page.types(node):
            continue
        listed = next(iter(page.store.quads_for_pattern(None, NamedNode(DCAT + "service"), node, None)), None)
        accessed = next(
            iter(page.store.quads_for_pattern(None, NamedNode(DCAT + "accessService"), node, None)), None
        )
        if listed is not None or accessed is None:
            yield node, "service"


def is_catalogue(page: PageStore) -> bool:
    return bool(
        page.subjects(_TYPE, _DATASET)
        or page.subjects(_TYPE, _SERIES)
        or page.subjects(_TYPE, _SERVICE)
        or page.subjects(_TYPE, _CATALOG)
    )


def read_parts(
    page: PageStore,
    url: str,
    number: int,
    *,
    record: Callable[[Graph, Any, str, int], RawRecord],
    next_predicates: tuple[str, ...],
    total_predicate: str,
) -> Iterator[Page]:
    """The page's records in parts of PART (`url`, then `url#part=2`…), numbered from `number`. The next
    link and the announced total are on every part; no part carries validators (a 304 would stand for
    the first part's records only), so a large page is always fetched whole. `record` makes a record of a
    record's graph as an in-memory page does (`dcat.rdf_record`)."""
    nxt = page.first_object(tuple(NamedNode(p) for p in next_predicates), lambda o: bool(o.value.strip()))
    next_url = nxt.value.strip() if nxt is not None else None
    counted = page.first_object((NamedNode(total_predicate),), lambda o: o.value.isdigit())
    total = int(counted.value) if counted is not None else None
    part, records = 1, list[RawRecord]()

    def emit() -> Page:
        return Page(
            url=url if part == 1 else f"{url}#part={part}",
            number=number + part - 1,
            records=records,
            next_url=next_url,
            total=total,
        )

    for node, kind in record_nodes(page):
        graph = record_graph(page, node, kind)
        records.append(record(graph, node, url, number + part - 1))
        if len(records) >= PART:
            yield emit()
            part, records = part + 1, []
    if records or part == 1:
        yield emit()


@contextlib.contextmanager
def page_store(content: bytes, rdf_format: RdfFormat, base_iri: str) -> Iterator[PageStore]:
    page = PageStore(content, rdf_format, base_iri)
    try:
        yield page
    finally:
        page.close()
