"""`GET/POST /sparql`: a read-only SPARQL 1.1 endpoint over the data dir's pyoxigraph store.

Protocol: `query` as a GET parameter, a form field (POST `application/x-www-form-urlencoded`) or the body
(POST `application/sparql-query`), with `default-graph-uri` / `named-graph-uri`. The default graph is the
union of every record's graph unless `default-graph-uri` says otherwise. SELECT and ASK answer SPARQL
results as JSON (default), XML, CSV or TSV; CONSTRUCT and DESCRIBE answer RDF (Turtle by default, N-Triples,
RDF/XML, JSON-LD), all by Accept. Updates (the `update` parameter, `application/sparql-update`, or an update
sent as a query) are refused with 400.

Limits. Queries run in a worker process that owns the store (RocksDB lets one process open it for writing;
the worker also syncs it with the record store before each query, a bounded amount at a time, and answers
with `X-Fedcat-Sparql-Pending` when records are still waiting). A query gets `FEDCAT_SPARQL_TIMEOUT` seconds
(default 10): the worker stops reading results at the deadline, and when a single step of pyoxigraph's
evaluation runs past it (a sort or aggregate computes everything before its first row, and pyoxigraph has
no way to interrupt it) the worker process is killed and restarted, so the endpoint answers 503 on time and
no runaway query keeps a core busy. At most `FEDCAT_SPARQL_MAX_RESULTS` rows or triples (default 10,000)
are returned; a longer answer is cut and says so (`X-Fedcat-Truncated: true`). One query runs at a time.

Anonymous queries must not starve the rest of the API: they wait in a queue of their own (one thread, never
the server's shared pool), at most `FEDCAT_SPARQL_QUEUE` of them (default 4, the running one included);
beyond that a query is answered 503 with `Retry-After` at once, and one that waited past the time limit
gets 503 too. A query longer than `FEDCAT_SPARQL_MAX_QUERY` characters (default 20,000) or nested deeper
than `FEDCAT_SPARQL_MAX_DEPTH` groups and brackets (default 64: the engine parses recursively, and 3,000 deep
crashed it) is refused with 400 before anything parses it.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time.
import asyncio
import csv
import io
import json
import logging
import multiprocessing
import os
import re
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .errors import error_response

log = logging.getLogger("fedcat.api.sparql")
RESULT_OFFERS = (
    ("application/sparql-results+json", "json"),
    ("application/json", "json"),
    ("application/sparql-results+xml", "xml"),
    ("application/xml", "xml"),
    ("text/csv", "csv"),
    ("text/tab-separated-values", "tsv"),
)
RESULT_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}
GRAPH_OFFERS = (
    ("text/turtle", "ttl"),
    ("application/n-triples", "nt"),
    ("application/rdf+xml", "rdf"),
    ("application/ld+json", "jsonld"),
)
GRAPH_TYPES = {
    "ttl": "text/turtle; charset=utf-8",
    "nt": "application/n-triples; charset=utf-8",
    "rdf": "application/rdf+xml",
    "jsonld": "application/ld+json",
}
SYNC_BUDGET = 2.0  # seconds of record-store sync before a query; the rest waits for the next one
STARTUP_LIMIT = 60.0  # seconds for the worker to start, open the store and sync before a query
IDLE_CLOSE = 30.0  # the worker releases the store after this long without a query, so harvests can sync it
_UPDATE = re.compile(
    r"^(?:\s|#[^\n]*\n|(?:PREFIX\s+[^\s:]*:\s*<[^>]*>)|(?:BASE\s*<[^>]*>))*"
    r"(?:INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD|WITH)\b",
    re.IGNORECASE,
)


# Federated access. pyoxigraph fetches `SERVICE <url>` itself (any address, from the server's network) and
# `LOAD` fetches too; neither can be switched off, so such queries are refused before they reach the engine.
# The scan reads the query as the SPARQL grammar does (IRIs, strings, comments, variables and prefixed names
# are skipped, so `ex:service` or "service" in a literal is no keyword) and errs on the side of refusing.
# `FROM` / `FROM NAMED` / `default-graph-uri` only select graphs of the local store in pyoxigraph: no fetch.
_TOKENS = re.compile(
    "|".join(
        (
            r"<[^<>\"{}|^`\\\x00-\x20]*>",  # an IRI
            r'"""(?:[^"\\]|\\.|"(?!""))*"""',  # long strings
            r"'''(?:[^'\\]|\\.|'(?!''))*'''",
            r'"(?:[^"\\\n\r]|\\.)*"',  # strings
            r"'(?:[^'\\\n\r]|\\.)*'",
            r"#[^\n\r]*",  # a comment
            r"[?$]\w+",  # a variable
            r"(?:[^\W\d][\w\-.]*)?:(?:[\w\-.:%]|\\.)*",  # a prefixed name (or a blank node label)
            r"(?P<word>[A-Za-z_]\w*)",
            r"(?P<open>[{(\[])|(?P<close>[})\]])",
        )
    ),
    re.DOTALL,
)
_REMOTE_KEYWORDS = frozenset({"SERVICE", "LOAD"})
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _keywords(text: str) -> set[str]:
    return {m["word"].upper() for m in _TOKENS.finditer(text) if m["word"]}


def too_big(text: str) -> str | None:
    """Why the query is too long or too deeply nested to be parsed, or None."""
    longest = int(os.environ.get("FEDCAT_SPARQL_MAX_QUERY", "20000"))
    if len(text) > longest:
        return f"the query is {len(text):,} characters long; at most {longest:,} are accepted"
    deepest = int(os.environ.get("FEDCAT_SPARQL_MAX_DEPTH", "64"))
    depth = 0
    for token in _TOKENS.finditer(text):
        if token["open"]:
            depth += 1
            if depth > deepest:
                return f"the query nests groups or brackets more than {deepest} deep"
        elif token["close"]:
            depth -= 1
    return None


def _codepoint(match: re.Match[str]) -> str:
    value = int(match[1] or match[2], 16)
    return chr(value) if value < 0x110000 else ""


def remote_access(text: str) -> str | None:
    """Why the query would make the server fetch from the network (SERVICE, LOAD), or None."""
    # SPARQL 1.1 reads \u escapes anywhere in a query, pyoxigraph only in strings: both readings are checked
    found = (_keywords(text) | _keywords(_CODEPOINT.sub(_codepoint, text))) & _REMOTE_KEYWORDS
    if not found:
        return None
    return (
        f"{' and '.join(sorted(found))} refused: this endpoint answers from fedcat's own catalogue only and "
        "never fetches remote data (no federated queries)"
    )


def timeout() -> float:
    return float(os.environ.get("FEDCAT_SPARQL_TIMEOUT", "10"))


def queue_size() -> int:
    return max(1, int(os.environ.get("FEDCAT_SPARQL_QUEUE", "4")))


def max_results() -> int:
    return int(os.environ.get("FEDCAT_SPARQL_MAX_RESULTS", "10000"))


def is_update(text: str) -> bool:
    return bool(_UPDATE.match(text))


# --- the worker process ------------------------------------------------------------------------------------


def _term_json(term: Any) -> dict[str, str]:
    from pyoxigraph import BlankNode, Literal, NamedNode

    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        found = {"type": "literal", "value": term.value}
        if term.language:
            found["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            found["datatype"] = term.datatype.value
        return found
    return {"type": "triple", "value": str(term)}  # RDF 1.2 triple terms


def _term_xml(term: Any) -> str:
    found = _term_json(term)
    kind = {"uri": "uri", "bnode": "bnode", "triple": "literal"}.get(found["type"], "literal")
    attributes = ""
    if "xml:lang" in found:
        attributes = f" xml:lang={quoteattr(found['xml:lang'])}"
    elif "datatype" in found:
        attributes = f" datatype={quoteattr(found['datatype'])}"
    return f"<{kind}{attributes}>{escape(found['value'])}</{kind}>"


def _term_text(term: Any, tsv: bool) -> str:
    from pyoxigraph import BlankNode

    if tsv:
        return str(term)  # TSV results write terms in their Turtle form
    return f"_:{term.value}" if isinstance(term, BlankNode) else term.value


def serialize_solutions(variables: list[str], rows: list[Any], fmt: str) -> bytes:
    """SPARQL 1.1 query results (JSON, XML, CSV, TSV) of `rows` (pyoxigraph QuerySolution)."""
    if fmt == "json":
        bindings = [{v: _term_json(row[v]) for v in variables if row[v] is not None} for row in rows]
        return json.dumps(
            {"head": {"vars": variables}, "results": {"bindings": bindings}}, ensure_ascii=False
        ).encode("utf-8")
    if fmt == "xml":
        parts = ['<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>']
        parts += [f"<variable name={quoteattr(v)}/>" for v in variables]
        parts.append("</head><results>")
        for row in rows:
            parts.append("<result>")
            parts += [
                f"<binding name={quoteattr(v)}>{_term_xml(row[v])}</binding>"
                for v in variables
                if row[v] is not None
            ]
            parts.append("</result>")
        parts.append("</results></sparql>\n")
        return "".join(parts).encode("utf-8")
    out = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(variables)
        for row in rows:
            writer.writerow(["" if row[v] is None else _term_text(row[v], False) for v in variables])
    else:
        out.write("\t".join("?" + v for v in variables) + "\n")
        for row in rows:
            out.write("\t".join("" if row[v] is None else _term_text(row[v], True) for v in variables) + "\n")
    return out.getvalue().encode("utf-8")


def serialize_boolean(value: bool, fmt: str) -> bytes:
    if fmt == "xml":
        return (
            '<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head/>'
            f"<boolean>{'true' if value else 'false'}</boolean></sparql>\n"
        ).encode()
    if fmt in ("csv", "tsv"):
        return ("_askResult\n" + ("true" if value else "false") + "\n").encode()
    return json.dumps({"head": {}, "boolean": value}).encode()


def _answer(sparql: Any, request: dict[str, Any]) -> tuple[Any, ...]:
    """Run one query against the open store: ("ok", media type, body, headers) or ("error", status, text)."""
    import pyoxigraph
    from pyoxigraph import NamedNode, QueryBoolean, QuerySolutions

    from ..mappings.namespaces import PREFIXES
    from .negotiation import negotiate

    text = request["query"]
    options: dict[str, Any] = {"use_default_graph_as_union": not request["default_graphs"]}
    try:
        if request["default_graphs"]:
            options["default_graph"] = [NamedNode(g) for g in request["default_graphs"]]
        if request["named_graphs"]:
            options["named_graphs"] = [NamedNode(g) for g in request["named_graphs"]]
    except ValueError as exc:
        return ("error", 400, f"not a graph IRI: {exc}")
    try:
        results = sparql.oxigraph.query(text, **options)
    except SyntaxError as exc:
        if is_update(text):
            return ("error", 400, "this SPARQL endpoint is read-only: updates are refused")
        return ("error", 400, f"SPARQL syntax error: {exc}")
    deadline = request["deadline"]
    cap = request["max_results"]
    headers: dict[str, str] = {}
    if isinstance(results, QueryBoolean):
        fmt = negotiate(request["accept"], RESULT_OFFERS)
        if fmt is None:
            return ("error", 406, "ASK results are offered as: " + ", ".join(RESULT_TYPES.values()))
        return ("ok", RESULT_TYPES[fmt], serialize_boolean(bool(results), fmt), headers)
    rows: list[Any] = []
    truncated = False
    for item in results:
        if len(rows) == cap:
            truncated = True
            break
        rows.append(item)
        if time.monotonic() > deadline:
            del results
            return ("timeout",)
    if truncated:
        headers["X-Fedcat-Truncated"] = "true"
        headers["X-Fedcat-Max-Results"] = str(cap)
    if isinstance(results, QuerySolutions):
        fmt = negotiate(request["accept"], RESULT_OFFERS)
        if fmt is None:
            return ("error", 406, "SELECT results are offered as: " + ", ".join(RESULT_TYPES.values()))
        variables = [v.value for v in results.variables]
        del results
        return ("ok", RESULT_TYPES[fmt], serialize_solutions(variables, rows, fmt), headers)
    del results
    fmt = negotiate(request["accept"], GRAPH_OFFERS)
    if fmt is None:
        return ("error", 406, "CONSTRUCT/DESCRIBE results are offered as: " + ", ".join(GRAPH_TYPES.values()))
    from ..mappings.rdf import FORMATS

    body = pyoxigraph.serialize(
        rows, format=FORMATS[fmt], prefixes=PREFIXES if fmt in ("ttl", "rdf") else None
    )
    return ("ok", GRAPH_TYPES[fmt], body, headers)


def _worker_main(conn: Any, db_path: str) -> None:
    """The worker: owns the SPARQL store, syncs it, answers one query at a time until told to stop."""
    from ..indexer.sparql import SparqlStore, StoreBusy, pending_count
    from ..store import Store

    store = Store(db_path)
    sparql: SparqlStore | None = None
    last_used = time.monotonic()
    info = None
    while True:
        if not conn.poll(1.0):
            idle = time.monotonic() - last_used
            if sparql is not None and idle > IDLE_CLOSE:
                sparql.close()
                sparql = None
            elif sparql is not None and info is not None:
                try:
                    sparql.sync(store, info, budget=0.5)
                except Exception:
                    log.exception("SPARQL store sync failed")
            continue
        request = conn.recv()
        if request is None:
            break
        last_used = time.monotonic()
        info = request["info"]
        if sparql is None:
            try:
                sparql = SparqlStore.for_store(store)
            except StoreBusy:
                conn.send(
                    (
                        "error",
                        503,
                        "the SPARQL store is being updated by another process (a harvest); retry shortly",
                    )
                )
                continue
        headers: dict[str, str] = {}
        try:
            sparql.sync(store, info, budget=SYNC_BUDGET)
            left = pending_count(store)
            if left:
                headers["X-Fedcat-Sparql-Pending"] = str(left)
        except Exception:
            log.exception("SPARQL store sync failed; answering from the store as it is")
        conn.send(("running",))  # the time limit starts now, not while syncing
        request["deadline"] = time.monotonic() + request["timeout"]
        try:
            answer = _answer(sparql, request)
        except Exception as exc:  # an evaluation error (e.g. a type error pyoxigraph raises)
            answer = ("error", 400, f"query failed: {type(exc).__name__}: {exc}")
        if answer[0] == "ok":
            answer[3].update(headers)
        conn.send(answer)
    if sparql is not None:
        sparql.close()
    store.close()


class SparqlService:
    """The worker process and the one-query-at-a-time protocol with it (see the module docstring)."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Any = None
        # the queue: one thread of its own runs the queries in turn; `_queued` counts those waiting or running
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="fedcat-sparql")
        self._queued = 0
        self._queue_lock = threading.Lock()
        weakref.finalize(self, SparqlService._stop, self.__dict__)
        weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)

    async def answer(self, request: dict[str, Any]) -> tuple[Any, ...]:
        """Queue the query (or refuse it at once when the queue is full) and wait for its answer."""
        with self._queue_lock:
            if self._queued >= queue_size():
                return ("busy",)
            self._queued += 1
        request["queued_at"] = time.monotonic()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.run, request)
        finally:
            with self._queue_lock:
                self._queued -= 1

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a threaded server
        parent, child = context.Pipe()
        process = context.Process(target=_worker_main, args=(child, self.db_path), daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent

    @staticmethod
    def _stop(state: dict[str, Any], kill: bool = False) -> None:
        process: Any = state.get("_process")
        conn: Any = state.get("_conn")
        state["_process"] = state["_conn"] = None
        if process is None:
            return
        if not kill:
            try:
                conn.send(None)
                process.join(5)
            except (OSError, EOFError, BrokenPipeError):
                pass
        if process.is_alive():
            process.kill()
            process.join(5)
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._stop(self.__dict__)

    def run(self, request: dict[str, Any]) -> tuple[Any, ...]:
        limit = request["timeout"]
        waited = time.monotonic() - request.get("queued_at", time.monotonic())
        if waited > limit or not self._lock.acquire(timeout=limit):
            return (
                "error",
                503,
                f"the SPARQL endpoint is busy with another query; retry in a moment (limit {limit:g} s)",
            )
        try:
            if self._process is None or not self._process.is_alive():
                self._start()
            try:
                self._conn.send(request)
                # starting the worker, opening the store and its sync (SYNC_BUDGET) come before the query
                if not self._conn.poll(STARTUP_LIMIT):
                    self._stop(self.__dict__, kill=True)
                    return ("error", 503, "the SPARQL worker did not start in time; retry in a moment")
                answer = self._conn.recv()
                ready = True
                if answer[0] == "running":
                    ready = self._conn.poll(limit + 0.5)
                    answer = self._conn.recv() if ready else ("timeout",)
            except (EOFError, OSError, BrokenPipeError):
                answer = ("error", 500, "the SPARQL worker stopped unexpectedly; the next query restarts it")
                self._stop(self.__dict__, kill=True)
                return answer
            if answer[0] == "timeout":
                if not ready:
                    self._stop(self.__dict__, kill=True)  # stuck inside one evaluation step: stop it for good
                return ("error", 503, f"the query ran past the {limit:g} s time limit and was stopped")
            return answer
        finally:
            self._lock.release()


# --- the endpoint ------------------------------------------------------------------------------------------

router = APIRouter(tags=["sparql"])


def _service(request: Request) -> SparqlService:
    from .linked_data import _state

    state = _state(request)
    with state.lock:
        if state.sparql is None:
            state.sparql = SparqlService(str(state.store.path))
    return state.sparql


def _error(status: int, message: str) -> Response:
    headers = {"Retry-After": str(max(1, round(timeout())))} if status == 503 else None
    return error_response(status, message, headers=headers)


async def _execute(request: Request, query: str | None, defaults: list[str], named: list[str]) -> Response:
    from .linked_data import _state

    if not query or not query.strip():
        return _error(
            400,
            "missing `query`: send a SPARQL query as ?query=, a form field, or an application/sparql-query body",
        )
    if is_update(query):
        return _error(400, "this SPARQL endpoint is read-only: updates are refused")
    refused = too_big(query) or remote_access(query)
    if refused:
        return _error(400, refused)
    limit = timeout()
    job = {
        "query": query,
        "accept": request.headers.get("accept"),
        "default_graphs": defaults,
        "named_graphs": named,
        "timeout": limit,
        "max_results": max_results(),
        "info": _state(request).info(),
    }
    answer = await _service(request).answer(job)
    if answer[0] == "busy":
        return _error(503, f"the SPARQL endpoint is busy ({queue_size()} queries queued); retry shortly")
    if answer[0] == "ok":
        _, media_type, body, headers = answer
        return Response(body, media_type=media_type, headers={"Vary": "Accept", **headers})
    return _error(answer[1], answer[2])


_DEFAULT_GRAPH = Query(
    alias="default-graph-uri", description="A graph to use as the default graph (repeatable)."
)
_NAMED_GRAPH = Query(alias="named-graph-uri", description="A graph GRAPH clauses may use (repeatable).")


@router.get(
    "/sparql",
    summary="SPARQL 1.1 query (read-only)",
    response_class=Response,
    responses={
        400: {
            "description": "Syntax error, update, federated query (SERVICE, LOAD), too long or too deep, or no query."
        },
        503: {"description": "Time limit, or too many queries queued (see Retry-After)."},
    },
)
async def sparql_get(
    request: Request,
    query: Annotated[str | None, Query(description="The SPARQL query.")] = None,
    default_graph_uri: Annotated[list[str] | None, _DEFAULT_GRAPH] = None,
    named_graph_uri: Annotated[list[str] | None, _NAMED_GRAPH] = None,
    update: Annotated[str | None, Query(description="Refused: the endpoint is read-only.")] = None,
) -> Response:
    if update is not None:
        return _error(400, "this SPARQL endpoint is read-only: updates are refused")
    return await _execute(request, query, default_graph_uri or [], named_graph_uri or [])


@router.post(
    "/sparql",
    summary="SPARQL 1.1 query by POST (form or application/sparql-query body; read-only)",
    response_class=Response,
    responses={
        400: {
            "description": "Syntax error, update, federated query (SERVICE, LOAD), too long or too deep, or no query."
        },
        415: {"description": "Bad body type."},
        503: {"description": "Time limit, or too many queries queued (see Retry-After)."},
    },
)
async def sparql_post(
    request: Request,
    default_graph_uri: Annotated[list[str] | None, _DEFAULT_GRAPH] = None,
    named_graph_uri: Annotated[list[str] | None, _NAMED_GRAPH] = None,
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    defaults, named = default_graph_uri or [], named_graph_uri or []
    if content_type == "application/sparql-update":
        return _error(400, "this SPARQL endpoint is read-only: updates are refused")
    if content_type == "application/sparql-query":
        return await _execute(request, body.decode("utf-8", "replace"), defaults, named)
    if content_type == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if "update" in form:
            return _error(400, "this SPARQL endpoint is read-only: updates are refused")
        queries: list[str | None] = [*form.get("query", [])] or [None]
        return await _execute(
            request,
            queries[0],
            defaults + form.get("default-graph-uri", []),
            named + form.get("named-graph-uri", []),
        )
    return _error(
        415,
        "POST a query as application/x-www-form-urlencoded (query=…) or as an application/sparql-query body",
    )
