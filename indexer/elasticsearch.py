"""The Elasticsearch search backend: one index behind an alias, shared by any number of API replicas.

Same answers as the embedded engine. Text is analysed on fedcat's side by the embedded engine's own
analyzers (`embedded.analyze_field`: split, lowercase, ASCII folding, French and English Snowball stems,
one field per text field and language) and sent as space-separated terms that Elasticsearch's core
`whitespace` analyzer only splits. Queries are the embedded engine's too: `query_words` gives each word's
(French, English) stems and each becomes a `term` query on the fields of its language, boosted as there,
every word required. So both engines match exactly the same documents, with the same stems, and no user
input ever reaches a query parser (not even `simple_query_string`'s). This also makes fedcat independent
of the node's analysis plugins: the integration-test distribution (`.ci/elasticsearch`) ships no
`analysis-common` module (no `asciifolding`, no `french` analyzer) and no spatial module (no `geo_shape`).

Facets are `keyword` fields counted by `terms` aggregations over all hits. The index has one shard, so
the counts are exact, ordered by count then value like `top_facet_values`. A search is one `_msearch`:
the hits in one part, the facet counts in `FACET_PARTS` parts without hits, which the node runs at once
(one per search thread) and whose answers its shard request cache keeps by default until the next
refresh. Date orders sort on the embedded engine's date key (`embedded.date_key`), undated documents
last, and every order (relevance too) breaks ties by id, so pages never overlap or skip; the page's ids
are read from the sort values.
Scores are Lucene's BM25 over the same per-field terms and boosts as tantivy's BM25; the two engines'
scores agree closely but not to the last bit, so the relevance order of nearly equal hits may differ.

Generations: the documents live in a concrete index `<prefix>-datasets-<mapping version>-<time>` reached
through the alias `<prefix>-datasets`. The mapping version is a hash of the settings and mappings below:
changing them in code makes `fedcat reindex` (or the harvesting process at start) build a new generation
from the store, merge it into one segment, switch the alias to it in one atomic request and drop the old
one; searches go through the alias and see either the whole old generation or the whole new one.

Writes are buffered and sent as bulk requests of at most `bulk_bytes`, two in flight (a document's
writes in order); `commit` sends the rest and refreshes, which is what makes writes visible (the index's own refresh is off), as in the embedded
engine. A 429 or 503 (the node is busy) is retried with exponential backoff; a node that cannot be
reached raises `SearchUnavailable`, which the API turns into a 503 and the harvest into "stays pending".
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

from .backend import (
    FACETS,
    MAX_RESULT_WINDOW,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    box_fields,
    longitude_spans,
)
from .embedded import (
    BOOSTS,
    LANGUAGES,
    TEXT_FIELDS,
    analyze_field,
    check_query,
    date_key,
    day_bounds,
    query_words,
    top_facet_values,
)
from .embedded import SCHEMA_VERSION as ANALYSIS_VERSION

log = logging.getLogger("fedcat.index")

_TEXT = {"type": "text", "analyzer": "whitespace", "index_options": "freqs"}
# Facet values longer than this are not counted (a value of over 32 KB would make the whole document fail).
# Facet fields load their value ordinals at refresh rather than at the first search that counts them.
_KEYWORD = {"type": "keyword", "ignore_above": 8191, "eager_global_ordinals": True}
MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    # The store is the source of truth; the index only answers ids. Without `_source` the node still
    # keeps each document's JSON as `_recovery_source` (for operation-based recovery of a replica): as
    # large as `_source` would be, until a merge after the shard's retention lease (renewed every 30 s)
    # has passed the document. So a generation's final merge drops it for all but the documents of the
    # last ~30 s of its build (measured: 20,000 documents merged 40 s after their last bulk, 1.8 MB
    # instead of 5.0 MB); keeping `_source` instead would keep those bytes for good.
    "_source": {"enabled": False},
    "properties": {
        # Only sorted on (every order's tie-break, `ids`), never searched: doc values without an inverted
        # index, which for a unique value per document was a dictionary as large as `_id`'s.
        "id": {"type": "keyword", "index": False},
        **{f"{field}_{lang}": _TEXT for field in TEXT_FIELDS for lang in LANGUAGES},
        **{facet: _KEYWORD for facet in FACETS},
        # YYYYMMDDHHMMSS (embedded.date_key): the date orders and the date-range filter
        "modified_key": {"type": "long"},
        # Spatial coverage as the embedded engine holds it (this distribution has no geo_shape): the box's
        # latitudes and one or two longitude spans (two across the antimeridian).
        # Only range-filtered (points), never sorted or counted: no doc values.
        **{
            name: {"type": "double", "doc_values": False}
            for name in ("south", "north", "west", "east", "west2", "east2")
        },
        # No cluster key: copies of one dataset are collapsed into one document before any engine sees
        # them (`indexer.documents.merge_documents`), so there is nothing left to collapse here.
    },
}
SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,  # exact facet counts and one BM25 statistics; ample up to several million
    "refresh_interval": "-1",  # writes become visible at `commit`, as with the embedded engine
    "max_result_window": MAX_RESULT_WINDOW,
}
# The analyzers' version too: indexed terms made by other analyzers would no longer match the queries'.
MAPPING_VERSION = hashlib.sha256(
    msgspec.json.encode(
        {"settings": SETTINGS, "mappings": MAPPINGS, "analysis": ANALYSIS_VERSION}, order="sorted"
    )
).hexdigest()[:10]

# A generation being built is merged into one segment at its end (`_switch`): merges before that would
# only rewrite documents that the final merge rewrites again, so the build lets segments pile up (the
# flushes of the node's indexing buffer, a few dozen for millions of documents) instead of the default 10
# per tier; the default policy is back once it is live.
BUILD_SEGMENTS_PER_TIER = 100
# Segments a built generation is merged into before it goes live (None: no final merge, the segments
# its build left). bench/elasticsearch.py --final-segments weighs the merge's time against the queries'.
FINAL_SEGMENTS: int | None = 1
MERGE_TIMEOUT = 3600.0  # seconds a generation's final merge may take (minutes for millions of documents)
# A bulk request's body: ~12,000 catalogue documents, within the node's 100 MB request limit. Against
# 5 MB: a median 14 % faster over six alternating pairs of 100k-document runs (4 of 6 faster) at a load
# average of 8 to 17 on 2 cores, so a small gain at best (bench/elasticsearch.py --bulk-mb).
BULK_BYTES = 20_000_000
# Bulks sent at once: the node indexes each on a write thread of its own (one per core), while fedcat
# prepares the next; a document's writes still reach the node in order (see `_flush`).
BULKS_IN_FLIGHT = 2
# Seconds a bulk request may take: a node busy with merges or a loaded machine can take well over the
# client's 30 s default for a 20 MB bulk (seen at a load average of 15 on 2 cores), and a bulk given up
# on is indexed anyway and sent again.
BULK_TIMEOUT = 600.0
# A bulk's answer without what fedcat never reads (index name, version, sequence numbers, shard counts).
_BULK_ANSWER = "errors,items.*._id,items.*.status,items.*.error"
RETRY_STATUSES = (429, 503)  # the node is busy or starting: back off and retry
RETRIES = 6  # 0.5 + 1 + 2 + 4 + 8 + 16 s of backoff at most
# The embedded engine's orders: by date, ties by id ascending, undated documents last in both directions.
_ORDERS: dict[str, list[Any]] = {
    "modified": [{"modified_key": {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
    "-modified": [{"modified_key": {"order": "asc", "missing": "_last"}}, {"id": "asc"}],
    "relevance": ["_score", {"id": "asc"}],
}
# Facet counting requests beside the hits' in each search, run at once by the node (bench/elasticsearch.py).
FACET_PARTS = 2
# What counting a facet costs, about: the values a catalogue document has in it (a facet not listed: 1).
# The parts are balanced by it, so that neither waits for the other.
FACET_WEIGHTS = {"keyword": 4, "format": 2, "publisher": 1.5, "jurisdiction": 1.5}


def facet_parts(names: list[str], parts: int = FACET_PARTS) -> list[list[str]]:
    """The facets dealt into at most `parts` groups of about equal weight, heaviest first (each to the
    lightest group so far)."""
    groups: list[list[str]] = [[] for _ in range(parts)]
    weights = [0.0] * parts
    for name in sorted(names, key=lambda n: -FACET_WEIGHTS.get(n, 1)):
        lightest = weights.index(min(weights))
        groups[lightest].append(name)
        weights[lightest] += FACET_WEIGHTS.get(name, 1)
    return [group for group in groups if group]


# An `_msearch`'s answer: each part's total, its hits' sort values, its facets' buckets, or its error.
_MSEARCH_ANSWER = (
    "responses.hits.total.value,responses.hits.hits.sort,responses.aggregations.*.buckets,"
    "responses.error,responses.status"
)
_MAX_ID_BYTES = 512  # Elasticsearch's limit on `_id`

_encode = msgspec.json.Encoder().encode
T = TypeVar("T")


def _doc_key(doc_id: str) -> str:
    """The `_id` of a document: its fedcat id, or a digest of it when longer than Elasticsearch allows."""
    if len(doc_id.encode()) <= _MAX_ID_BYTES:
        return doc_id
    return "sha256:" + hashlib.sha256(doc_id.encode()).hexdigest()


def _answers(response: Any) -> list[dict[str, Any]]:
    """The answers of an `_msearch`, in order; the first part that failed is raised as the client raises
    a failed search (NotFoundError for a missing index, ApiError with the status otherwise)."""
    from elasticsearch import ApiError
    from elasticsearch.exceptions import HTTP_EXCEPTIONS

    answers: list[dict[str, Any]] = response.body["responses"]
    for answer in answers:
        if "error" in answer:
            status = answer.get("status", 500)
            error = HTTP_EXCEPTIONS.get(status, ApiError)
            reason = (
                answer["error"].get("reason", "") if isinstance(answer["error"], dict) else answer["error"]
            )
            raise error(str(reason), dataclasses.replace(response.meta, status=status), answer)
    return answers


def _missing_index(item: dict[str, Any]) -> bool:
    """A bulk item refused because its index (or the alias) does not exist."""
    error = next(iter(item.values())).get("error")
    return isinstance(error, dict) and error.get("type") == "index_not_found_exception"


class TermCache:
    """`analyze_field` of a text for both languages, as space-separated terms, word by word from a cache.

    Exactly the analyzers' output: the tokenizer splits on every non-alphanumeric character, whitespace
    included, so the terms of a text are the terms of its whitespace-separated chunks, in order. Catalogue
    vocabulary is small and skewed, so nearly every chunk is a dictionary hit: ~15 µs a document instead
    of ~200 µs through the analyzers (a bound on the bulk rate, bench/elasticsearch.py). The cache is
    emptied when it reaches `limit` chunks, so its memory stays bounded whatever the catalogue's size.
    """

    def __init__(self, limit: int = 100_000) -> None:  # ~30 MB at most
        self.limit = limit
        self._fr: dict[str, str] = {}  # chunk -> its French terms ("" when it has none)
        self._en: dict[str, str] = {}

    def __call__(self, text: str) -> tuple[str, str]:
        words = text.split()
        try:  # two C-level passes when every chunk is known (empty entries only add spaces)
            return " ".join(map(self._fr.__getitem__, words)), " ".join(map(self._en.__getitem__, words))
        except KeyError:
            pass
        if len(self._fr) + len(words) > self.limit:
            self._fr.clear()
            self._en.clear()
        for word in words:
            if word not in self._fr:
                self._fr[word] = " ".join(analyze_field(word, "fr"))
                self._en[word] = " ".join(analyze_field(word, "en"))
        return " ".join(map(self._fr.__getitem__, words)), " ".join(map(self._en.__getitem__, words))


_terms = TermCache()


def es_document(doc: SearchDocument, terms: Callable[[str], tuple[str, str]] = _terms) -> dict[str, Any]:
    """The indexed form of a search document (pre-analysed text, facet values, sort keys)."""
    fields: dict[str, Any] = {"id": doc.id}
    for field in TEXT_FIELDS:
        text = getattr(doc, field)
        if text:
            for lang, analysed in zip(LANGUAGES, terms(text), strict=True):
                if analysed:
                    fields[f"{field}_{lang}"] = analysed
    for facet in FACETS:
        values = getattr(doc, facet)
        if values:  # a repeated value counts once anyway (terms aggregations count documents)
            fields[facet] = values if "" not in values else [v for v in values if v]
    key = date_key(doc.modified)
    if key is not None:
        fields["modified_key"] = key
    fields.update(box_fields(doc.bbox))
    return fields


def es_query(query: SearchQuery) -> dict[str, Any]:
    """The query part of a search: every word (any of its stems, in any text field), then the filters."""
    must: list[dict[str, Any]] = []
    for fr, en in query_words(query.q):
        must.append(
            {
                "bool": {
                    "should": [
                        {"term": {f"{field}_{lang}": {"value": term, "boost": boost}}}
                        for field, boost in BOOSTS.items()
                        for lang, term in (("fr", fr), ("en", en))
                    ]
                }
            }
        )
    filters: list[dict[str, Any]] = [
        {"terms": {facet: values}} for facet, values in query.filters.items() if values
    ]
    low, high = day_bounds(query)  # inclusive days YYYYMMDD
    if low is not None or high is not None:
        bounds = {"gte": low * 1_000_000} if low is not None else {}
        if high is not None:
            bounds["lte"] = high * 1_000_000 + 999_999
        filters.append({"range": {"modified_key": bounds}})
    if query.bbox is not None:  # intersects: latitudes overlap and a longitude span of each overlaps
        west, south, east, north = query.bbox
        filters.append({"range": {"south": {"lte": north}}})
        filters.append({"range": {"north": {"gte": south}}})
        filters.append(
            {
                "bool": {
                    "should": [
                        {
                            "bool": {
                                "filter": [{"range": {w: {"lte": q_east}}}, {"range": {e: {"gte": q_west}}}]
                            }
                        }
                        for q_west, q_east in longitude_spans(west, east)
                        for w, e in (("west", "east"), ("west2", "east2"))
                    ]
                }
            }
        )
    if not must and not filters:
        return {"match_all": {}}
    return {"bool": {"must": must, "filter": filters}}


class ElasticsearchBackend(SearchBackend):
    """The documents of `<index_prefix>-datasets` on the node at `url`.

    Opening never fails on a node that is down (an API replica starts and answers 503 until the node is
    back); the alias and its first generation are made on the first write or search that reaches it.
    `outdated` tells that the live generation was made by another mapping version (rebuild it).
    """

    name = "elasticsearch"
    remote = True

    def __init__(
        self,
        url: str,
        *,
        index_prefix: str = "fedcat",
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_certs: str | None = None,
        replicas: int = 0,
        bulk_bytes: int = BULK_BYTES,
        bulks_in_flight: int = BULKS_IN_FLIGHT,
        final_segments: int | None = FINAL_SEGMENTS,
        request_timeout: float = 30.0,
        backoff: float = 0.5,
        request_cache: bool | None = True,
    ) -> None:
        from elasticsearch import Elasticsearch  # the `elasticsearch` extra: only needed by this backend

        self.url = url
        parts = urlsplit(url)  # credentials written into the URL never reach a message or a log
        self.shown_url = urlunsplit(
            parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
        )
        self.alias = f"{index_prefix}-datasets"
        self.prefix = f"{self.alias}-"
        self.view_name = f"search:elasticsearch:{self.alias}"  # its own cursor in the change feed
        auth: dict[str, Any] = {}
        if api_key:
            auth["api_key"] = api_key
        elif username:
            auth["basic_auth"] = (username, password or "")
        if ca_certs:
            auth["ca_certs"] = ca_certs
        # The client's own retries would resend to the one node; backoff on 429/503 is ours (below).
        self.client = Elasticsearch(url, request_timeout=request_timeout, max_retries=0, **auth)
        self._bulk_client = self.client.options(request_timeout=BULK_TIMEOUT)
        self.replicas = replicas
        self.bulk_bytes = bulk_bytes
        self.bulks_in_flight = max(1, bulks_in_flight)
        self.final_segments = final_segments
        self.backoff = backoff
        # The node's shard request cache keeps answers until the next refresh. True: every part of a
        # search (hits too), so a repeated search, the landing page's above all, is read, not recounted,
        # like the embedded engine's kept answers; None: the node's default, the facet counts only (the
        # parts without hits); False: nothing (benchmarks of the engine itself).
        self.request_cache = request_cache
        self._buffer = bytearray()
        self._buffer_keys: set[str] = set()  # the `_id`s the buffer writes
        self._sender: ThreadPoolExecutor | None = None  # the threads sending bulks, made on first use
        self._in_flight: list[tuple[Future[None], set[str]]] = []  # oldest first, with their `_id`s
        self._building: str | None = None  # the generation a rebuild writes, not yet behind the alias
        self._ready = False  # the alias is known to exist
        self._switch_at_commit = False  # `clear` was called: the next commit switches generations
        self.merge_seconds = 0.0  # how long the last generation's final merge took (benchmarks print it)

    # -- node access ----------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T], retries: int = RETRIES) -> T:
        """Run a client call; busy node: back off and retry; unreachable or failing node, or credentials
        refused: SearchUnavailable (a 404 is the caller's to handle)."""
        from elasticsearch import ApiError, TransportError

        delay = self.backoff
        for attempt in range(retries + 1):
            try:
                return call()
            except ApiError as exc:
                if exc.meta.status in (401, 403):
                    raise SearchUnavailable(
                        f"Elasticsearch at {self.shown_url} refused fedcat's credentials during {what} "
                        f"({exc.meta.status}): check settings.search"
                    ) from None
                if exc.meta.status in RETRY_STATUSES and attempt < retries:
                    log.info(
                        "Elasticsearch busy (%s) during %s; retrying in %.1f s", exc.meta.status, what, delay
                    )
                    time.sleep(delay)
                    delay *= 2
                    continue
                if exc.meta.status >= 500 or exc.meta.status in RETRY_STATUSES:
                    raise SearchUnavailable(
                        f"Elasticsearch at {self.shown_url} failed during {what}: {exc.message}"
                    ) from None
                raise
            except TransportError as exc:  # connection refused, timeout, TLS
                raise SearchUnavailable(
                    f"Elasticsearch at {self.shown_url} cannot be reached ({type(exc).__name__}) during {what}"
                ) from None
        raise AssertionError("unreachable")

    def _ensure_alias(self) -> None:
        """Make the first generation and the alias if there is none yet."""
        if self._ready:
            return
        if not self._call("alias lookup", lambda: bool(self.client.indices.exists_alias(name=self.alias))):
            self._create_generation(with_alias=True)
        self._ready = True

    def _create_generation(self, *, with_alias: bool = False) -> str:
        """A new empty generation (with the alias: the first one, made in the same request)."""
        index = f"{self.prefix}{MAPPING_VERSION}-{time.time_ns() // 1_000_000}"
        settings = {**SETTINGS, "number_of_replicas": self.replicas}
        if not with_alias:  # a generation being built: nothing is lost by a crash before the switch, so
            # no fsync per bulk and no copy to replicas; `_switch` restores both before it goes live
            settings["translog"] = {"durability": "async"}
            settings["number_of_replicas"] = 0
            settings["merge"] = {"policy": {"segments_per_tier": BUILD_SEGMENTS_PER_TIER}}
        mappings = {**MAPPINGS, "_meta": {"fedcat_mapping": MAPPING_VERSION}}
        aliases: dict[str, dict[str, Any]] | None = {self.alias: {}} if with_alias else None
        self._call(
            "index creation",
            lambda: self.client.indices.create(
                index=index, settings=settings, mappings=mappings, aliases=aliases
            ),
        )
        return index

    def live_generation(self) -> str | None:
        """The concrete index behind the alias (None when there is none yet)."""
        from elasticsearch import NotFoundError

        try:
            found = self._call("alias lookup", lambda: self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            return None
        names = sorted(found.body)
        return names[0] if names else None

    @property
    def outdated(self) -> bool:
        """The live generation was made with other settings or mappings than this fedcat's."""
        index = self.live_generation()
        return index is not None and not index.startswith(f"{self.prefix}{MAPPING_VERSION}-")

    def health(self) -> dict[str, Any]:
        """The node's cluster health and the live generation, for /health and `fedcat status`."""
        try:
            status = self._call(
                "health", lambda: self.client.options(request_timeout=5).cluster.health()
            ).body["status"]
            generation = self.live_generation()
        except SearchUnavailable as exc:
            return {"backend": self.name, "status": "unavailable", "error": str(exc)}
        return {
            "backend": self.name,
            "status": status,
            "url": self.shown_url,
            "alias": self.alias,
            "generation": generation,
            "outdated": generation is not None
            and not generation.startswith(f"{self.prefix}{MAPPING_VERSION}-"),
        }

    # -- writes ---------------------------------------------------------------------------------------

    def _target(self) -> str:
        return self._building or self.alias

    def upsert(self, documents: Iterable[SearchDocument]) -> None:
        for doc in documents:
            key = _doc_key(doc.id)
            self._buffer_keys.add(key)
            self._buffer += _encode({"index": {"_id": key}})
            self._buffer += b"\n"
            self._buffer += _encode(es_document(doc))
            self._buffer += b"\n"
            if len(self._buffer) >= self.bulk_bytes:
                self._flush()

    def delete(self, ids: Iterable[str]) -> None:
        for doc_id in ids:
            key = _doc_key(doc_id)
            self._buffer_keys.add(key)
            self._buffer += _encode({"delete": {"_id": key}})
            self._buffer += b"\n"
            if len(self._buffer) >= self.bulk_bytes:
                self._flush()

    def _flush(self) -> None:
        """Hand the buffer to a sending thread, so the next documents are prepared while the node indexes
        these; at most `bulks_in_flight` at once. Bulks in flight together are indexed in any order, so
        one that writes an `_id` a bulk in flight writes too waits for it: a document's writes (an upsert
        then its delete, say) reach the node in the order they were made."""
        if not self._buffer:
            return
        self._ensure_alias()
        body, index, keys = bytes(self._buffer), self._target(), self._buffer_keys
        self._buffer.clear()
        self._buffer_keys = set()
        if any(not keys.isdisjoint(sent) for _, sent in self._in_flight):
            self._wait()
        self._wait(keep=self.bulks_in_flight - 1)
        if self._sender is None:
            self._sender = ThreadPoolExecutor(self.bulks_in_flight, "fedcat-es-bulk")
        self._in_flight.append((self._sender.submit(self._bulk, body, index), keys))

    def _wait(self, *, errors: bool = True, keep: int = 0) -> None:
        """Wait for the bulks in flight, oldest first, until `keep` are left; a failure is raised here
        (or dropped, with errors=False)."""
        while len(self._in_flight) > keep:
            pending, _ = self._in_flight.pop(0)
            try:
                pending.result()
            except Exception:
                if errors:
                    raise

    def _send(self) -> None:
        """Send everything buffered and wait until the node has it."""
        self._flush()
        self._wait()

    def _discard(self) -> None:
        """Forget unsent writes (those in flight finish; their errors no longer matter)."""
        self._buffer.clear()
        self._buffer_keys = set()
        self._wait(errors=False)

    def _bulk(self, body: bytes, index: str) -> None:
        """One bulk request; items refused because the node is busy are resent with backoff."""
        delay = self.backoff
        for attempt in range(RETRIES + 1):
            answer = self._call(
                "bulk indexing",
                functools.partial(
                    self._bulk_client.bulk,
                    operations=body,  # type: ignore[arg-type]  # NDJSON bytes, sent as they are
                    index=index,
                    filter_path=_BULK_ANSWER,
                    # Writes through the alias never auto-create an index of that name (with dynamic
                    # mappings and a replica) when the alias is gone, e.g. its index deleted by hand.
                    require_alias=index == self.alias,
                ),
            )
            if not answer.body.get("errors"):
                break
            if any(_missing_index(item) for item in answer.body["items"]):
                self._ready = False  # the next write makes a new generation and the alias again
                raise SearchUnavailable(
                    f"Elasticsearch at {self.shown_url} has no index {index} (removed by hand?): the "
                    "writes stay pending and go to a new one"
                )
            lines = body.split(b"\n")
            retry = bytearray()
            line = 0
            for item in answer.body["items"]:
                action, result = next(iter(item.items()))
                width = 1 if action == "delete" else 2
                status = result.get("status", 200)
                if status in RETRY_STATUSES:
                    retry += b"\n".join(lines[line : line + width]) + b"\n"
                elif status >= 300 and not (action == "delete" and status == 404):
                    # One bad document never stops the others; say which and why.
                    log.error("Elasticsearch refused document %s: %s", result.get("_id"), result.get("error"))
                line += width
            if not retry:
                break
            if attempt == RETRIES:
                raise SearchUnavailable(f"Elasticsearch at {self.shown_url} stayed busy during bulk indexing")
            time.sleep(delay)
            delay *= 2
            body = bytes(retry)

    def commit(self) -> None:
        self._send()
        self._ensure_alias()
        if self._building is None:
            self._call("refresh", lambda: self.client.indices.refresh(index=self.alias))
        elif self._switch_at_commit:  # after `clear`: the (re)filled generation replaces the live one
            self._switch_at_commit = False
            self._switch()
        # else a rebuild is writing its generation: it becomes visible when the rebuild ends

    def clear(self) -> None:
        """Start an empty generation; searches keep the current one until `commit` switches to it."""
        self._discard()
        if self._building is not None:
            self._drop(self._building)
        self._building = self._create_generation()
        self._switch_at_commit = True

    def _drop(self, index: str) -> None:
        self._call("index deletion", lambda: self.client.indices.delete(index=index, ignore_unavailable=True))

    def _switch(self) -> None:
        """Put the alias on the built generation in one request, then drop the others."""
        built = self._building
        assert built is not None
        # One segment: a generation is read far more than written, and counting facets and matching
        # over one segment costs about half what it does over several (bench/elasticsearch.py); the
        # feed's later updates make small segments that the default merge policy handles again.
        started = time.perf_counter()
        if self.final_segments is not None:
            self._call(
                "force merge",
                lambda: self.client.options(request_timeout=MERGE_TIMEOUT).indices.forcemerge(
                    index=built, max_num_segments=self.final_segments
                ),
            )
        self.merge_seconds = time.perf_counter() - started
        log.info(
            "generation %s merged into %s segment(s) in %.1f s",
            built,
            self.final_segments,
            self.merge_seconds,
        )
        self._call("refresh", lambda: self.client.indices.refresh(index=built))
        # Live, every acknowledged write is on disk (the store marks it indexed on that word), on the
        # replicas asked for, and merged by the default policy.
        live_settings = {
            "index.translog.durability": "request",
            "index.number_of_replicas": self.replicas,
            "index.merge.policy.segments_per_tier": None,
        }
        self._call("settings", lambda: self.client.indices.put_settings(index=built, settings=live_settings))
        old = self.live_generation()
        actions: list[dict[str, Any]] = [{"add": {"index": built, "alias": self.alias}}]
        if old is not None:
            actions.insert(0, {"remove": {"index": old, "alias": self.alias}})
        self._call("alias switch", lambda: self.client.indices.update_aliases(actions=actions))
        self._building = None
        self._ready = True
        if old is not None and old != built:
            self._drop(old)

    @contextmanager
    def rebuilding(self) -> Iterator[None]:
        """Writes go to a new generation while searches use the live one; on success the alias moves to
        the new generation in one request and the old one is dropped; on failure the new one is dropped."""
        self._discard()
        self._ensure_alias()
        self._drop_orphans()
        self._building = self._create_generation()
        self._switch_at_commit = False
        try:
            yield
            self._send()
            self._switch()
        except BaseException:
            building, self._building = self._building, None
            self._discard()
            if building is not None:
                try:
                    self._drop(building)
                except SearchUnavailable:
                    log.warning(
                        "could not drop the half-built generation %s; the next rebuild will", building
                    )
            raise

    def _drop_orphans(self) -> None:
        """Generations no alias points to: left by a rebuild that died."""
        found = self._call(
            "index listing", lambda: self.client.indices.get(index=f"{self.prefix}*", allow_no_indices=True)
        )
        live = self.live_generation()
        for index in found.body:
            if index != live:
                log.info("dropping the orphaned generation %s", index)
                self._drop(index)

    # -- reads ----------------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        check_query(query)
        self._ensure_alias()
        sort = query.sort
        words = query_words(query.q)
        if sort == "relevance" and not words:
            sort = "modified"  # no words, no scores: newest first
        names = list(dict.fromkeys(query.facets))
        matching = es_query(query)
        hits_part: dict[str, Any] = {
            "query": matching,
            "from": (query.page - 1) * query.page_size,
            "size": query.page_size,
            "sort": _ORDERS[sort],
            "track_total_hits": True,
            "stored_fields": "_none_",  # the ids come from the sort values: nothing to fetch
        }
        # The facets are counted apart from the hits, in FACET_PARTS requests without hits: the node runs
        # the parts of one `_msearch` at once, one a search thread (one a core), and keeps the answer of a
        # request without hits in its shard request cache by default, until the next refresh.
        parts = [hits_part] + [
            {
                "query": matching,
                "size": 0,
                "track_total_hits": False,
                "aggs": {name: {"terms": {"field": name, "size": query.facet_size}} for name in group},
            }
            for group in facet_parts(names)
        ]
        header = {} if self.request_cache is None else {"request_cache": self.request_cache}
        searches: list[dict[str, Any]] = [line for part in parts for line in (header, part)]
        from elasticsearch import NotFoundError

        def run() -> list[dict[str, Any]]:  # a searcher waits 1.5 s at most for a busy node, then gets a 503
            return self._call(
                "search",
                lambda: _answers(
                    self.client.msearch(index=self.alias, searches=searches, filter_path=_MSEARCH_ANSWER)
                ),
                retries=2,
            )

        try:
            answers = run()
        except NotFoundError:  # the alias was removed under us (by hand): start an empty generation
            self._ready = False
            self._ensure_alias()
            answers = run()
        hits = answers[0]["hits"]
        ids = [hit["sort"][-1] for hit in hits.get("hits", ())]  # every order ends with the id
        buckets = {
            name: agg["buckets"]
            for answer in answers[1:]
            for name, agg in answer.get("aggregations", {}).items()
        }
        facets = {
            name: top_facet_values(
                ((b["key"], b["doc_count"]) for b in buckets.get(name, ())), query.facet_size
            )
            for name in names
        }
        return SearchResult(total=hits["total"]["value"], ids=ids, facets=facets)

    def ids(self) -> set[str]:
        """Every indexed id, read in id order with `search_after` (no depth limit, constant memory a page)."""
        self._ensure_alias()
        found: set[str] = set()
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"match_all": {}},
                "size": MAX_RESULT_WINDOW,
                "sort": [{"id": "asc"}],
                "_source": False,
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            hits = self._call(
                "id listing", functools.partial(self.client.search, index=self.alias, **body)
            ).body
            page = hits["hits"]["hits"]
            found.update(hit["sort"][0] for hit in page)
            if len(page) < MAX_RESULT_WINDOW:
                return found
            after = page[-1]["sort"]

    def close(self) -> None:
        self._discard()  # uncommitted writes are dropped, as in the embedded engine
        if self._sender is not None:
            self._sender.shutdown()
        self.client.close()
