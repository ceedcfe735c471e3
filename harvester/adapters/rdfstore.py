"""A large RDF page read from a table on disk, so that its memory does not grow with its datasets.

A page is normally parsed into one in-memory `Graph` (some 12 KB a dataset: 100,000 datasets in one page took
1.27 GB). A page over `STORE_OVER` bytes is instead streamed by the parser (one triple at a time, no graph)
into a table of a private temporary SQLite database — one row per triple, its position in the document as
the row id, indexed by subject — and its records are read back from it a part at a time, in parts of `PART`
records with their own URLs (`url#part=N`), as the JSON adapters read a large listing: each record's closure
is gathered by subject from the table into a small `Graph` of its own, on which the very same functions as
for an in-memory page give its id, payload and mapping: same records, same hashes. A record whose triples
are scattered across the file is gathered whole (the index groups a subject's rows wherever they are), and
in document order (which of two `dct:modified` a dataset keeps, the order of a record's nodes under the
`MAX_RECORD_NODES` cap).

The database is SQLite's own kind of temporary file: unlinked as soon as it is opened, so that nothing is
left on disk even when the process is killed; it lives in SQLite's temporary directory (`SQLITE_TMPDIR`,
`TMPDIR`, /var/tmp…); a small page's table may never leave SQLite's cache. That cache is bounded (`CACHE_KB`),
so are the parser's buffer and the nodes kept (`CACHED_NODES`): besides the page's own bytes, held until it
is parsed, what a part holds is the only memory that grows, with `PART`. (An earlier version loaded the page into an on-disk RocksDB
store: its memory still grew ~7.5 KB a dataset during the load, its directory stayed behind a kill, and
reading was 3–4× slower than pages of 1,000.)

The page's own safety checks (XML entities and depth, Turtle and JSON-LD nesting) run before it is parsed,
as for a page parsed in memory. A page the strict parser refuses is read the in-memory way (RDF/XML's
forgiving fallback included).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pyoxigraph
from pyoxigraph import BaseDirection, BlankNode, Literal, NamedNode, RdfFormat

from ...mappings.from_rdf import NOT_EMBEDDED, Graph
from ...mappings.namespaces import DCAT, RDF_TYPE
from .base import Page, RawRecord

STORE_OVER = 8 * 1024 * 1024  # bytes: pages up to this size are parsed in memory (faster)
PART = 1000  # records per part of a large page
CACHE_KB = 16 * 1024  # the database's page cache (and its index sorter's memory): beyond it, disk
CACHED_NODES = 4096  # nodes whose properties are kept (an LRU: the shared ones stay)
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

# An object is stored as its kind, its value (an IRI, a blank node's id, a literal's lexical form, kept as
# written: its hash says whether the record changed) and a literal's language or datatype.
IRI, BNODE, LANG, TYPED = range(4)
_DIRECTIONS = {"ltr": BaseDirection.LTR, "rtl": BaseDirection.RTL}
_DATASET, _SERVICE, _CATALOG, _SERIES = (
    DCAT + k for k in ("Dataset", "DataService", "Catalog", "DatasetSeries")
)
_IN_SERIES, _LISTS_SERVICE, _ACCESS_SERVICE = DCAT + "inSeries", DCAT + "service", DCAT + "accessService"


def _sql(text: str) -> str:
    """An IRI as an SQL string literal (the few fedcat itself names, written into queries so that the
    partial index below is used)."""
    return "'" + text.replace("'", "''") + "'"


def _link_predicates(next_predicates: tuple[str, ...], total_predicate: str) -> str:
    """The partial index's condition: `p = 'a' OR p = 'b'…` (not `p IN (…)`: SQLite uses a partial index
    for a query whose condition has one of the index's OR-terms, and sees no more than that)."""
    return " OR ".join(
        f"p = {_sql(p)}"
        for p in (RDF_TYPE, _IN_SERIES, _LISTS_SERVICE, _ACCESS_SERVICE, *next_predicates, total_predicate)
    )


def _key(node: Any) -> str:
    """A subject's key in the table: its N-Triples form (an IRI and a blank node never share one)."""
    return str(node)


def _node(key: str) -> Any:
    try:
        return NamedNode(key[1:-1]) if key.startswith("<") else BlankNode(key[2:])
    except ValueError:
        return _lenient(IRI, key[1:-1], None)


def _lenient(kind: int, value: str, extra: str | None) -> Any:
    """A term the lenient parser gave that the terms' own constructors refuse (an IRI with a space or a
    tab, a malformed language tag…): made again by the lenient parser, from its N-Triples form."""
    if kind == IRI:
        text = f"<{value}>"
    elif kind == BNODE:
        text = f"_:{value}"
    else:
        text = (
            '"'
            + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
            + '"'
        )
        if kind == LANG:
            text += f"@{extra}"
        elif extra is not None:
            text += f"^^<{extra}>"
    [triple] = pyoxigraph.parse(f"<x:s> <x:p> {text} .", RdfFormat.N_TRIPLES, lenient=True)
    return triple.object


def _rows(triples: Iterator[Any]) -> Iterator[tuple[str, str, int, str, str | None]]:
    """The table's rows: (subject key, predicate, object kind, value, language or datatype)."""
    for t in triples:  # once per triple of the page: kept lean
        obj = t.object
        kind = type(obj)
        if kind is NamedNode:
            yield str(t.subject), t.predicate.value, IRI, obj.value, None
        elif kind is BlankNode:
            yield str(t.subject), t.predicate.value, BNODE, obj.value, None
        elif kind is Literal:
            language = obj.language
            if language:
                if obj.direction:  # RDF 1.2's base direction after the tag, as Turtle writes it
                    language = f"{language}--{obj.direction}"  # ("--" is in no language tag)
                yield str(t.subject), t.predicate.value, LANG, obj.value, language
            else:
                datatype = obj.datatype.value
                extra = None if datatype == XSD_STRING else datatype
                yield str(t.subject), t.predicate.value, TYPED, obj.value, extra
        else:  # an RDF 1.2 triple term: none of DCAT's, read the in-memory way
            raise ValueError("an RDF 1.2 triple term")


class PageStore:
    """One page parsed into a temporary table; `close()` removes it (so does the end of the process)."""

    def __init__(
        self,
        content: bytes,
        rdf_format: RdfFormat,
        base_iri: str,
        *,
        next_predicates: tuple[str, ...] = (),
        total_predicate: str = "",
    ) -> None:
        self.next_predicates, self.total_predicate = next_predicates, total_predicate
        self._links = _link_predicates(next_predicates, total_predicate)
        # "": a private temporary database, unlinked at once (check_same_thread: a run may resume the
        # adapter's generator from another thread than the one that opened it; never two at once)
        self.db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        try:
            # no journal, no sync, no locks: nobody else reads it and a crash only loses a scratch table;
            # the cache bounded, the sorts on disk
            for pragma in (
                "journal_mode=OFF",
                "synchronous=OFF",
                "locking_mode=EXCLUSIVE",
                f"cache_size=-{CACHE_KB}",
                "temp_store=FILE",
            ):
                self.db.execute(f"PRAGMA {pragma}")
            self.db.execute(
                "CREATE TABLE t (s TEXT NOT NULL, p TEXT NOT NULL, k INTEGER NOT NULL, o TEXT NOT NULL, x TEXT)"
            )
            triples = pyoxigraph.parse(content, rdf_format, base_iri=base_iri, lenient=True)
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", _rows(triples))
            self.db.execute("COMMIT")
            # built once the rows are in (a sort, in bounded memory); a subject's rows in document order
            self.db.execute("CREATE INDEX t_subject ON t (s)")
            # the few statements that say what the records are and how they link, by object
            self.db.execute(f"CREATE INDEX t_link ON t (p, o, k) WHERE {self._links}")
        except BaseException:
            self.close()
            raise
        # the nodes read last, kept: a record's closure asks for the same ones again, and many records
        # share a few (a publisher described again in every dataset's block is read once, not each time)
        self.props = functools.lru_cache(maxsize=CACHED_NODES)(self._read_props)
        self._datatypes: dict[str, NamedNode] = {}

    def close(self) -> None:
        with contextlib.suppress(AttributeError):  # not made when the page failed to parse
            self.props.cache_clear()
        self.db.close()

    # --- what an in-memory Graph's `out` holds, for one node at a time ---------------------------------

    def _read_props(self, node: Any) -> dict[str, list[Any]] | None:
        """The node's properties in document order (as `Graph.out[node]`), None when it describes nothing
        (`props`, the same with the last `CACHED_NODES` kept)."""
        props: dict[str, list[Any]] = {}
        datatypes = self._datatypes
        for predicate, kind, value, extra in self.db.execute(
            "SELECT p, k, o, x FROM t WHERE s = ? ORDER BY rowid", (_key(node),)
        ):
            try:
                if kind == IRI:
                    obj: Any = NamedNode(value)
                elif kind == BNODE:
                    obj = BlankNode(value)
                elif kind == LANG:
                    language, _, direction = extra.partition("--")
                    obj = Literal(value, language=language, direction=_DIRECTIONS.get(direction))
                elif extra is None:
                    obj = Literal(value)
                else:
                    datatype = datatypes.get(extra)
                    if datatype is None:
                        datatype = datatypes[extra] = NamedNode(extra)
                    obj = Literal(value, datatype=datatype)
            except ValueError:
                obj = _lenient(kind, value, extra)
            objects = props.get(predicate)
            if objects is None:
                props[predicate] = [obj]
            elif obj not in objects:  # each object once per predicate, as Graph keeps them
                objects.append(obj)
        return props or None

    def first_position(self, node: Any) -> int:
        """Where the node's first statement is in the document (the order of `Graph.out`)."""
        [(position,)] = self.db.execute("SELECT min(rowid) FROM t WHERE s = ?", (_key(node),))
        return -1 if position is None else position

    def types(self, node: Any) -> set[str]:
        return {t.value for t in (self.props(node) or {}).get(RDF_TYPE, ())}

    def typed(self, class_iri: str) -> Iterator[Any]:
        """The subjects typed `class_iri`, each once, in the order of their first statement (as
        `Graph.subjects_of_type`), read from the database as they are asked for."""
        cursor = self.db.execute(
            "SELECT s FROM t AS a WHERE p = " + _sql(RDF_TYPE) + " AND o = ? AND k = ? GROUP BY s "
            "ORDER BY (SELECT min(rowid) FROM t AS b WHERE b.s = a.s)",
            (class_iri, IRI),
        )
        return (_node(key) for (key,) in cursor)

    def is_object_of(self, predicate: str, node: Any) -> bool:
        kind = IRI if isinstance(node, NamedNode) else BNODE
        found = self.db.execute(
            f"SELECT 1 FROM t WHERE p = {_sql(predicate)} AND o = ? AND k = ? LIMIT 1", (node.value, kind)
        )
        return found.fetchone() is not None

    def members(self, series: Any) -> list[Any]:
        """The IRI subjects that say they are in `series` (dcat:inSeries), in the order of `Graph.out`."""
        members = {
            key
            for (key,) in self.db.execute(
                f"SELECT s FROM t WHERE p = {_sql(_IN_SERIES)} AND o = ? AND k = ?",
                (series.value, IRI if isinstance(series, NamedNode) else BNODE),
            )
            if key.startswith("<")
        }
        members.discard(_key(series))
        return sorted((_node(key) for key in members), key=self.first_position)

    def first_object(self, predicates: tuple[str, ...], accept: Callable[[Any], bool]) -> Any:
        """The first object any of `predicates` has that `accept` takes, as `dcat.next_link` finds it in a
        Graph: the first subject in document order having one, its predicates in the order given."""
        found = []
        for rank, predicate in enumerate(predicates):
            for key, position, value in self.db.execute(
                f"SELECT s, rowid, o FROM t WHERE p = {_sql(predicate)}"
            ):
                if accept(value):
                    found.append((self.first_position(_node(key)), rank, position, value))
        return min(found)[3] if found else None


class _StoreOut:
    """`Graph.out` answered from the table (only `get` and `in`, what `Graph.closure` uses)."""

    def __init__(self, page: PageStore) -> None:
        self.page = page

    def get(self, node: Any, default: Any = None) -> Any:
        found = self.page.props(node)
        return default if found is None else found

    def __contains__(self, node: Any) -> bool:
        return self.page.props(node) is not None


class _NotEmbedded:
    """`Graph._not_embedded()` answered from the table: IRIs typed with a class whose nodes are records."""

    def __init__(self, page: PageStore) -> None:
        self.page = page

    def __contains__(self, node: Any) -> bool:
        return isinstance(node, NamedNode) and not NOT_EMBEDDED.isdisjoint(self.page.types(node))


class _StoreGraph(Graph):
    """A Graph whose closure walks the table: the nodes one record's payload is made of."""

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
        # copies: the node's cached properties stay as read (a service's graph adds types below)
        graph.out[member] = {p: list(objects) for p, objects in (page.props(member) or {}).items()}
    if kind == "service":
        for served in graph.objects(node, DCAT + "servesDataset"):
            for kind_iri in page.types(served):
                graph.add(served, RDF_TYPE, NamedNode(kind_iri))
    elif kind == "series":
        for member in page.members(node):
            graph.add(member, _IN_SERIES, node)
    return graph


def record_nodes(page: PageStore) -> Iterator[tuple[Any, str]]:
    """(node, "dataset" | "series" | "service") of the page's records, as `from_rdf.record_subjects` gives
    them: its datasets, its dataset series (not also datasets), then its stand-alone services (those a
    catalogue lists, and those no distribution names as its dcat:accessService)."""
    for node in page.typed(_DATASET):
        yield node, "dataset"
    for node in page.typed(_SERIES):
        if _DATASET not in page.types(node):
            yield node, "series"
    for node in page.typed(_SERVICE):
        if _DATASET in page.types(node):
            continue
        if page.is_object_of(_LISTS_SERVICE, node) or not page.is_object_of(_ACCESS_SERVICE, node):
            yield node, "service"


def is_catalogue(page: PageStore) -> bool:
    return any(next(page.typed(k), None) is not None for k in (_DATASET, _SERIES, _SERVICE, _CATALOG))


def read_parts(
    page: PageStore, url: str, number: int, *, record: Callable[[Graph, Any, str, int], RawRecord]
) -> Iterator[Page]:
    """The page's records in parts of PART (`url`, then `url#part=2`…), numbered from `number`. The next
    link and the announced total are on every part; no part carries validators (a 304 would stand for
    the first part's records only), so a large page is always fetched whole. `record` makes a record of a
    record's graph as an in-memory page does (`dcat.rdf_record`)."""
    nxt = page.first_object(page.next_predicates, lambda v: bool(v.strip()))
    next_url = nxt.strip() if nxt is not None else None
    counted = page.first_object((page.total_predicate,), str.isdigit)
    total = int(counted) if counted is not None else None
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
