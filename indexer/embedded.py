"""The embedded search backend: a tantivy index in one directory, zero set-up.

Text analysis (shared with the SQLite fallback through `query_words` and `analyze_field`, so both engines
match the same documents): the simple tokenizer (split on anything not alphanumeric), lowercase, ASCII
folding ("Vélos" → "velos", "œuvre" → "oeuvre"), then a Snowball stemmer. Folding comes *before*
stemming so that "donnees" typed without accents stems like "données". Each text field is indexed twice,
French-stemmed and English-stemmed, because catalogues mix both languages and neither stemmer covers the
other ("vélos" only reduces to "velo" in English, "hôpitaux" only to "hopital" in French). A query word
matches a field when either of its stems does; every word must match some field (AND).

Facets are multi-valued integer fields holding value ids (see `EmbeddedBackend`): filters are term
queries, counts exact over all hits. The native counter (`fedcat._native`, built from native/ when cargo
is there) counts every facet in one pass over the hits, on the second core while this thread finds the
page; without it, tantivy's terms aggregations count them, and facets of a small vocabulary are also
copied into single-valued columns ("slots") that every document fills, so that counting them takes the
aggregations' fastest path (see `SLOTS`). Queries are built as data (`Spec`), so both count the same
documents. Sort keys are string fast fields
holding a fixed-width date key followed by the id, so one fast-field sort gives the date order with ties
broken by id, and the page's ids come from the sort values without reading stored documents. Relevance
ties are broken by id too, by reading the ids of the tied hits around the page.
"""

from __future__ import annotations

import calendar
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import msgspec
import tantivy
from tantivy import Occur, Query

try:  # the facet counter built from native/ (a Rust extension, optional: see `EmbeddedBackend`)
    from .._native import FacetCounter
except ImportError:  # installed without cargo: tantivy's aggregations count the facets
    FacetCounter = None  # type: ignore[assignment,misc]

from .backend import (
    FACET_SIZE,
    FACETS,
    MAX_FACET_SIZE,
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    SORTS,
    FacetValue,
    IndexOutdated,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
    box_fields,
    longitude_spans,
)

SCHEMA_VERSION = "3"  # bump when the schema or analysis changes: an old index must be rebuilt
LAYOUT_VERSION = "2"  # bump when only this index's fields change (Elasticsearch's index is not concerned)
TEXT_FIELDS = ("title", "description", "keywords_text", "publisher_text")
# Title matches outrank description-only ones; keywords and publisher sit between.
BOOSTS = {"title": 4.0, "keywords_text": 2.0, "publisher_text": 1.5, "description": 1.0}
LANGUAGES = ("fr", "en")
MAX_QUERY_WORDS = 32  # bounds the cost of a pasted paragraph
MAX_TOKEN_CHARS = 64  # longer tokens (hashes, URLs run together) are dropped at index and query time

# Dropped from queries (not from the index) when the query has other words: "qualité de l'air" must find
# "Air quality / qualité air" too. Elided articles ("l'", "d'") come out of the tokenizer as one letter.
_STOPWORDS_EN = "a an and are as at be by for from in is it of on or the to with"
_STOPWORDS_FR = "au aux c ce ces d dans de des du en et j l la le les m n ou par pour qu s sur t un une"
STOPWORDS = frozenset(f"{_STOPWORDS_EN} {_STOPWORDS_FR}".split())

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?)?)?")
_NO_DATE = "9" * 14  # sorts after every real key in both directions: undated documents come last


_encode = msgspec.json.Encoder().encode
_decode_result = msgspec.json.Decoder(SearchResult).decode
_decode_facets = msgspec.json.Decoder(dict[str, list[FacetValue]]).decode


def _analyzer(stemmer: str | None) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stemmer:
        builder = builder.filter(tantivy.Filter.stemmer(stemmer))
    return builder.build()


_FOLD = _analyzer(None)
ANALYZERS = {"fr": _analyzer("french"), "en": _analyzer("english")}
_TOKENIZER_NAMES = {lang: f"fedcat_{lang}" for lang in LANGUAGES}


def analyze_field(text: str, lang: str) -> list[str]:
    """The index terms of a text for one language (what a backend stores for that field)."""
    return ANALYZERS[lang].analyze(text) if text else []


def query_words(q: str) -> list[tuple[str, str]]:
    """The words a query requires, as (French stem, English stem) pairs; [] means "match everything".

    Every character is accepted: punctuation and operators are separators, so no input can fail to parse.
    """
    folded = _FOLD.analyze(q)
    if not folded:
        return []
    stems = [ANALYZERS[lang].analyze(q) for lang in LANGUAGES]
    if any(len(s) != len(folded) for s in stems):  # stemmers map token to token; be safe if not
        stems = [[(ANALYZERS[lang].analyze(w) or [w])[0] for w in folded] for lang in LANGUAGES]
    words = list(zip(folded, *stems, strict=True))
    content = [w for w in words if w[0] not in STOPWORDS]
    seen: dict[tuple[str, str], None] = {}
    for _, fr, en in content or words:
        seen.setdefault((fr, en), None)
    return list(seen)[:MAX_QUERY_WORDS]


def date_key(modified: str) -> int | None:
    """YYYYMMDDHHMMSS of a "YYYY[-MM[-DD[THH:MM[:SS]]]]…" date (start of the period), None if undated."""
    match = _DATE.match(modified or "")
    if not match:
        return None
    y, m, d, hh, mm, ss = (int(g) if g else 0 for g in match.groups())
    return ((((y * 100 + (m or 1)) * 100 + (d or 1)) * 100 + hh) * 100 + mm) * 100 + ss


def sort_keys(doc_id: str, modified: str) -> tuple[str, str]:
    """(newest-first key, oldest-first key): ascending string order of each gives that date order, ties by
    id ascending, undated documents last."""
    key = date_key(modified)
    if key is None:
        return _NO_DATE + doc_id, _NO_DATE + doc_id
    return f"{99_999_999_999_999 - key:014d}{doc_id}", f"{key:014d}{doc_id}"


def day_bounds(query: SearchQuery) -> tuple[int | None, int | None]:
    """Inclusive YYYYMMDD bounds of the query's date range; a partial date covers its whole period
    ("2020" as modified_before includes 2020-12-31)."""
    return _day(query.modified_after, "modified_after", end=False), _day(
        query.modified_before, "modified_before", end=True
    )


def _day(value: str | None, name: str, *, end: bool) -> int | None:
    if value is None or value == "":
        return None
    match = _DATE.match(value)
    if not match or not (1 <= int(match[2] or 1) <= 12):
        raise ValueError(f"{name} must be a date YYYY[-MM[-DD]], got {value!r}")
    y, m, d = int(match[1]), match[2], match[3]
    if end:
        m_i = int(m) if m else 12
        d_i = int(d) if d else calendar.monthrange(y, m_i)[1]
    else:
        m_i, d_i = int(m or 1), int(d or 1)
    return (y * 100 + m_i) * 100 + d_i


def facet_values(doc: SearchDocument, facet: str) -> list[str]:
    """A document's distinct non-empty values of a facet (so each document counts once per value)."""
    return list(dict.fromkeys(v for v in getattr(doc, facet) if v))


def check_query(query: SearchQuery) -> None:
    """Reject what no backend should answer, with a message the API can return as a 400."""
    if query.sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {query.sort!r}")
    if query.page < 1 or query.page_size < 1:
        raise ValueError("page and page_size start at 1")
    if query.page_size > MAX_PAGE_SIZE:
        raise ValueError(f"page_size may not exceed {MAX_PAGE_SIZE}, got {query.page_size}")
    if query.page * query.page_size > MAX_RESULT_WINDOW:
        raise ValueError(
            f"page * page_size may not exceed {MAX_RESULT_WINDOW} (got {query.page * query.page_size}): "
            "narrow the search, or use the catalogue export for deep paging"
        )
    if query.bbox is not None:
        west, south, east, north = query.bbox
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
            raise ValueError(
                "bbox must be minlon,minlat,maxlon,maxlat in degrees (longitudes -180..180, latitudes "
                f"-90..90, minlat <= maxlat; minlon > maxlon crosses the antimeridian), got {list(query.bbox)}"
            )
    if not 1 <= query.facet_size <= MAX_FACET_SIZE:
        raise ValueError(f"facet_size must be 1 to {MAX_FACET_SIZE}, got {query.facet_size}")
    unknown = (set(query.filters) | set(query.facets)) - set(FACETS)
    if unknown:
        raise ValueError(f"unknown facet(s) {', '.join(sorted(unknown))}; facets are {', '.join(FACETS)}")


def top_facet_values(counts: Iterable[tuple[str, int]], size: int = FACET_SIZE) -> list[FacetValue]:
    """Most frequent first, ties by value: the same order from every backend."""
    ranked = sorted(counts, key=lambda vc: (-vc[1], vc[0]))
    return [FacetValue(value=v, count=c) for v, c in ranked[:size]]


# Facets whose values come from a small vocabulary (EU themes, file types, languages, licences, the
# federation's sources, quality bands, whether reused), counted from single-valued columns: a document's first values go
# to `facet_1`..`facet_n` (0, an id no value has, where it has fewer), any further ones to `facet_more`.
# tantivy counts a column every document fills ~4x faster than a multi-valued or sparse one (bench/search.py
# at 1M: format, theme and language were 40 % of the counting), and with few distinct values each slot's
# every count comes back, so the sums are exact. Large vocabularies (publishers, keywords, places) stay in
# one multi-valued column: per slot, tantivy would merge each segment's thousands of values again.
SLOTS = {"format": 4, "theme": 3, "language": 2, "licence": 1, "source": 1, "quality": 1, "has_reuses": 1}
NO_VALUE = 0  # the slot of a document with fewer values; dictionary ids start at 1
_SLOT_COLUMNS = {facet: [f"{facet}_{i}" for i in range(1, n + 1)] for facet, n in SLOTS.items()}
_EMPTY_SLOTS = {column: NO_VALUE for columns in _SLOT_COLUMNS.values() for column in columns}
_ALL_BUCKETS = 10_000  # buckets asked of a slot: more than a small vocabulary has (checked, else asked again)


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for field in TEXT_FIELDS:
        for lang in LANGUAGES:
            # No positions: queries are bags of words, and positions would add a third to the index.
            sb.add_text_field(f"{field}_{lang}", tokenizer_name=_TOKENIZER_NAMES[lang], index_option="freq")
    for facet in FACETS:
        sb.add_unsigned_field(facet, indexed=True, fast=True)  # value ids, see EmbeddedBackend
    for facet, columns in _SLOT_COLUMNS.items():
        for column in [*columns, f"{facet}_more"]:
            sb.add_unsigned_field(column, fast=True)
    # Dictionary entries: one document per facet value, "facet\x1fvalue" <-> id, never deleted.
    sb.add_text_field("dict_value", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("dict_id", stored=True, indexed=True, fast=True)
    sb.add_integer_field("modified_day", fast=True)
    # spatial coverage: a box as its latitudes and one or two longitude spans (two across the antimeridian)
    for name in ("south", "north", "west", "east", "west2", "east2"):
        sb.add_float_field(name, indexed=True, fast=True)
    sb.add_text_field("sort_new", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("sort_old", fast=True, tokenizer_name="raw", index_option="basic")
    return sb.build()


# Relative cost of counting a facet, in tenths of a millisecond of one core over ~88,000 hits of 1,000,000
# generated documents (bench/search.py; facets of SLOTS counted from their slots): a multi-valued column
# costs ~3x a filled single-valued one per document, then ~11 ns a value; many distinct values add their
# per-segment merge. The page's own search (top documents and count, with its Python around it) weighs
# about `_SEARCH_COST`.
_FACET_COST = {
    "keyword": 59, "publisher": 22, "jurisdiction": 19, "format": 14, "theme": 10, "source": 9, "language": 8,
}  # fmt: skip
_OTHER_FACET_COST = 5
_SEARCH_COST = 25


def _split_facets(names: list[str]) -> tuple[list[str], list[str]]:
    """(counted on the second core, counted on the calling thread after the page's search): two loads of
    about equal cost, the calling thread's starting with the search it runs meanwhile."""
    groups: tuple[list[str], list[str]] = ([], [])
    loads = [0, _SEARCH_COST]
    for name in sorted(names, key=lambda n: -_FACET_COST.get(n, _OTHER_FACET_COST)):
        side = 0 if loads[0] <= loads[1] else 1
        groups[side].append(name)
        loads[side] += _FACET_COST.get(name, _OTHER_FACET_COST)
    return groups


# A query as data (see `EmbeddedBackend._spec`): ["all"], ["none"], ["exists", field],
# ["term", field, text | value id, boost], ["range", field, "i64" | "f64", low | None, high | None] (inclusive),
# ["must", [...]], ["should", [...]], ["filter", spec] (a constant score of 0: it selects, never ranks).
Spec = list

# Every dataset document (dictionary entries have no sort key): the query of "no words, no filter".
_DATASETS: Spec = ["exists", "sort_new"]
_RANGE_TYPES = {"i64": tantivy.FieldType.Integer, "f64": tantivy.FieldType.Float}


def to_query(schema: tantivy.Schema, spec: Spec) -> Query:
    """The tantivy query of a spec."""
    kind = spec[0]
    if kind == "term":
        _, field, value, boost = spec
        if isinstance(value, str):  # a text field: frequencies (no positions are indexed)
            term = Query.term_query(schema, field, value, index_option="freq")
        else:
            term = Query.term_query(schema, field, value)
        return term if boost == 1.0 else Query.boost_query(term, boost)
    if kind in ("must", "should"):
        occur = Occur.Must if kind == "must" else Occur.Should
        return Query.boolean_query([(occur, to_query(schema, part)) for part in spec[1]])
    if kind == "filter":
        return Query.const_score_query(to_query(schema, spec[1]), 0.0)
    if kind == "range":
        _, field, kind_of, low, high = spec
        return Query.range_query(schema, field, _RANGE_TYPES[kind_of], lower_bound=low, upper_bound=high)
    if kind == "exists":
        return Query.exists_query(spec[1])
    if kind == "all":
        return Query.all_query()
    if kind == "none":
        return Query.empty_query()
    raise ValueError(f"unknown query node {kind!r}")


def _bbox_spec(box: tuple[float, float, float, float]) -> Spec:
    """Documents whose box intersects `box`: latitudes overlap, and one of its longitude spans overlaps one
    of the box's."""
    west, south, east, north = box
    spans: list[Spec] = [
        ["must", [["range", w, "f64", None, q_east], ["range", e, "f64", q_west, None]]]
        for q_west, q_east in longitude_spans(west, east)
        for w, e in (("west", "east"), ("west2", "east2"))
    ]
    return [
        "must",
        [["range", "south", "f64", None, north], ["range", "north", "f64", south, None], ["should", spans]],
    ]


_SORT_FIELDS = {"modified": "sort_new", "-modified": "sort_old"}
_KEY_WIDTH = 14
_TIE_MARGIN = 100  # hits fetched past a page ranked by score, to see the page's last tie group whole


class EmbeddedBackend(SearchBackend):
    """A tantivy index in `path` (created if missing).

    Writes go through one lazily created writer, so processes that only search never take the index's
    write lock; one writing process at a time. `commit` makes writes visible here at once and to other
    processes' readers shortly after. `close` waits for background merges and drops uncommitted writes.

    Facet values are stored as integer ids. Counting string fast fields makes tantivy look up the text
    of every distinct value of every segment (~0.3 µs each): with thousands of publishers and keywords
    over several segments that lookup cost more than the counting. Ids are counted and merged as plain
    integers; only the values shown are named, from a cache. The id of each value lives in a dictionary
    document of the same index, committed with the first dataset using it, never deleted or reused,
    so an id seen by any reader of any process always names the same value.

    `writer_heap` (bytes, shared by the `writer_threads` indexing threads) bounds indexing memory; one
    indexing thread is the default: a 100k harvest ran as fast with one (1,533 vs 1,557 datasets/s, the
    harvest itself keeps the other core busy) and peaked ~40 MB lower (bench/harvest.py);
    `search_threads=1` counts every facet on the calling thread.

    `native_facets` counts facets with `fedcat._native` when it is built (`FacetCounter` is None when not):
    the extension is optional so that fedcat installs where no Rust toolchain is, and the aggregations
    stay the reference the tests compare it with. `native_facets=False` always uses the aggregations.

    Answers of `cache_from` hits or more (the landing page's every-document query counts all facets over
    the whole index: ~100 ms at 1M) are kept, with their facet counts on their own (another page or order of
    the same search counts no facet again: it only finds its page), `answer_cache` entries in all,
    until the index changes: every
    search compares the index's meta.json (rewritten by each commit, of any process) with the one it last
    saw, and on a change reloads the searcher and drops the answers. A commit in another process is
    therefore seen by the next search, without tantivy's reload delay. Benchmarks of the engine pass
    `answer_cache=0`.
    """

    name = "embedded"
    parallel_facets_from = 20_000  # estimated hits (`_hits_estimate`) from which two threads count
    # ... and from which facets of SLOTS are counted from their slots: on few hits the fixed cost of
    # one column (per segment) outweighs the faster counting, so their multi-valued column is counted
    slots_from = 5_000
    cache_from = 5_000  # hits from which an answer is kept until the index changes (~5 ms to count)

    def __init__(
        self,
        path: Path,
        *,
        writer_heap: int = 256_000_000,
        writer_threads: int = 1,
        search_threads: int = 2,
        answer_cache: int = 64,
        native_facets: bool = True,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        marker = self.path / "fedcat-schema-version"
        version = (
            f"{SCHEMA_VERSION}.{LAYOUT_VERSION} {','.join(FACETS)}"  # a new facet is a new field: rebuild
        )
        self._schema = _build_schema()
        if tantivy.Index.exists(str(self.path)):
            found = marker.read_text().strip() if marker.exists() else "unknown"
            if found != version:
                raise IndexOutdated(
                    self.path,
                    f"search index at {self.path} has schema {found!r}, this fedcat needs {version!r}: "
                    "rebuild it from the store (`fedcat reindex`)",
                )
            self._index = tantivy.Index.open(str(self.path))
            self._schema = self._index.schema
        else:
            self._index = tantivy.Index(self._schema, path=str(self.path), reuse=False)
            marker.write_text(version + "\n")
        for lang, name in _TOKENIZER_NAMES.items():
            self._index.register_tokenizer(name, ANALYZERS[lang])
        self._writer_heap = writer_heap
        self._writer_threads = writer_threads
        self._writer: tantivy.IndexWriter | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(search_threads - 1, "fedcat-facets") if search_threads > 1 else None
        self._ids: dict[str, int] = {}  # "facet\x1fvalue" -> id, committed entries (a cache in readers)
        self._values: dict[int, str] = {}  # id -> "facet\x1fvalue", committed entries
        self._pending: dict[str, int] = {}  # entries added since the last commit (writer only)
        self._next_id: int | None = None  # the next free id, known once the writer has loaded the dictionary
        self._committed_next_id: int | None = None  # the same at the last commit (to roll back to)
        self._answer_cache = answer_cache
        self._answers: OrderedDict[bytes, bytes] = OrderedDict()  # encoded query -> encoded SearchResult
        self._answers_of: tuple[int, int, int] | None = None  # the meta.json the answers were made from
        self._answers_lock = threading.Lock()
        self.cache_hits = 0
        # the native counter when built and wanted
        self._counter = (
            FacetCounter(str(self.path), list(FACETS)) if native_facets and FacetCounter is not None else None
        )
        self._seen: tuple[int, int, int] | None = None  # the commit this process's searchers last saw

    def health(self) -> dict[str, object]:
        """`facets` says how facets are counted: a missing native counter answers the same, only slower
        on large indexes, so an administrator learns it here rather than from a slow landing page."""
        if self._counter is not None:
            facets = "native"
        elif FacetCounter is None:
            facets = "tantivy aggregations (fedcat._native is not built: reinstall where cargo is)"
        else:
            facets = "tantivy aggregations"
        return {"backend": self.name, "status": "ok", "facets": facets}

    # -- writes ---------------------------------------------------------------------------------------

    def _get_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=self._writer_heap, num_threads=self._writer_threads)
            # Holding the write lock, load the whole dictionary: new values get the next free ids.
            self._index.reload()
            searcher = self._index.searcher()
            entries = Query.exists_query("dict_id")
            count = searcher.search(entries, limit=1, count=True).count  # type: ignore[attr-defined]  # the stubs lack it
            next_id = NO_VALUE + 1
            for _score, address in searcher.search(entries, limit=max(count, 1)).hits:
                entry = searcher.doc(address)
                self._remember(entry["dict_value"][0], entry["dict_id"][0])
                next_id = max(next_id, entry["dict_id"][0] + 1)
            self._next_id = self._committed_next_id = next_id
        return self._writer

    def _remember(self, key: str, value_id: int) -> None:
        self._ids[key] = value_id
        self._values[value_id] = key

    def _new_value_id(self, writer: tantivy.IndexWriter, key: str) -> int:
        value_id = self._pending.get(key)
        if value_id is None:
            assert self._next_id is not None
            value_id = self._pending[key] = self._next_id
            self._next_id += 1
            entry = {"dict_value": key, "dict_id": value_id, **_EMPTY_SLOTS}  # keeps every slot filled
            writer.add_document(tantivy.Document.from_dict(entry, self._schema))
        return value_id

    def _document(self, writer: tantivy.IndexWriter, doc: SearchDocument) -> tantivy.Document:
        fields: dict[str, object] = {"id": doc.id}
        for field in TEXT_FIELDS:
            text = getattr(doc, field)
            if text:
                for lang in LANGUAGES:
                    fields[f"{field}_{lang}"] = text
        known = self._ids
        fields.update(_EMPTY_SLOTS)
        for facet in FACETS:
            values = getattr(doc, facet)
            if values:
                ids = []
                for value in dict.fromkeys(values):  # each document counts once per value
                    if value:
                        key = f"{facet}\x1f{value}"
                        value_id = known.get(key)
                        ids.append(self._new_value_id(writer, key) if value_id is None else value_id)
                if ids:
                    fields[facet] = ids
                    columns = _SLOT_COLUMNS.get(facet)
                    if columns:
                        fields.update(zip(columns, ids, strict=False))
                        if len(ids) > len(columns):
                            fields[f"{facet}_more"] = ids[len(columns) :]
        day = date_key(doc.modified)
        if day is not None:
            fields["modified_day"] = day // 1_000_000
        fields["sort_new"], fields["sort_old"] = sort_keys(doc.id, doc.modified)
        fields.update(box_fields(doc.bbox))
        return tantivy.Document.from_dict(fields, self._schema)

    def upsert(self, documents: Iterable[SearchDocument]) -> None:
        # a repeated id keeps its last version; the older versions of them all go with one delete (a delete
        # only hits documents added before it), not one per document (~5 µs each on this thread)
        latest = {doc.id: doc for doc in documents}
        if not latest:
            return
        with self._lock:
            writer = self._get_writer()
            writer.delete_documents_by_query(Query.term_set_query(self._schema, "id", list(latest)))
            for doc in latest.values():
                writer.add_document(self._document(writer, doc))

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock:
            writer = self._get_writer()
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)

    def commit(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.commit()
                for key, value_id in self._pending.items():
                    self._remember(key, value_id)
                self._pending.clear()
                self._committed_next_id = self._next_id
            self._index.reload()

    def clear(self) -> None:
        with self._lock:
            writer = self._get_writer()
            # Drop uncommitted additions too (and the dictionary entries they made), then every dataset;
            # the dictionary stays, so ids are never reused.
            writer.rollback()
            self._pending.clear()
            self._next_id = self._committed_next_id
            writer.delete_documents_by_query(to_query(self._schema, _DATASETS))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()  # consumes the writer; uncommitted writes are dropped
                self._writer = None
                self._pending.clear()

    # -- reads ----------------------------------------------------------------------------------------

    def ids(self) -> set[str]:
        searcher = self._index.searcher()
        # The filter skips terms of deleted documents that merges have not purged yet.
        terms = searcher.terms_with_prefix("id", "", filter_query=Query.all_query())
        return {term for term, _count in terms}

    def _lookup(self, searcher: tantivy.Searcher, facet: str, values: Iterable[str]) -> list[int]:
        """Ids of facet values; values never indexed have none (and are not cached: they may come)."""
        keys = [f"{facet}\x1f{value}" for value in values]
        missing = [key for key in keys if key not in self._ids]
        if missing:
            found = searcher.search(
                Query.term_set_query(self._schema, "dict_value", missing), limit=len(missing)
            )
            for _score, address in found.hits:
                entry = searcher.doc(address)
                self._remember(entry["dict_value"][0], entry["dict_id"][0])
        return [self._ids[key] for key in keys if key in self._ids]

    def _names(self, searcher: tantivy.Searcher, ids: Iterable[int]) -> None:
        """Make sure the values of these ids are cached (they never change)."""
        missing = list({value_id for value_id in ids if value_id not in self._values})
        if missing:
            found = searcher.search(
                Query.term_set_query(self._schema, "dict_id", missing), limit=len(missing)
            )
            for _score, address in found.hits:
                entry = searcher.doc(address)
                self._remember(entry["dict_value"][0], entry["dict_id"][0])

    def _spec(self, searcher: tantivy.Searcher, query: SearchQuery, words: list[tuple[str, str]]) -> Spec:
        """The query as a tree of lists (`to_query` makes it a tantivy query; the native counter reads it
        as JSON), so that both ways of counting facets count the same documents."""
        clauses: list[Spec] = []
        for fr, en in words:
            alternatives: list[Spec] = [
                ["term", f"{field}_{lang}", term, boost]
                for field, boost in BOOSTS.items()
                for lang, term in (("fr", fr), ("en", en))
            ]
            clauses.append(["should", alternatives])
        for facet, values in query.filters.items():
            if values:  # an empty list constrains nothing
                # Term queries walk postings lazily alongside the words; a term-set query would first
                # fill a bitset of every document holding any of the values (~60 % of them for "CSV").
                terms: list[Spec] = [["term", facet, i, 1.0] for i in self._lookup(searcher, facet, values)]
                accepted = ["none"] if not terms else terms[0] if len(terms) == 1 else ["should", terms]
                clauses.append(["filter", accepted])
        low, high = day_bounds(query)
        if low is not None or high is not None:
            clauses.append(["filter", ["range", "modified_day", "i64", low, high]])
        if query.bbox is not None:
            clauses.append(["filter", _bbox_spec(query.bbox)])
        if not clauses:
            return _DATASETS
        return ["must", clauses]

    def search(self, query: SearchQuery) -> SearchResult:
        check_query(query)
        if not self._answer_cache:
            return self._search(query)
        key = _encode(query)
        # the facets do not depend on the page or its order: page 2, or the other sort, reuses them
        facets_key = b"facets " + _encode(
            msgspec.structs.replace(query, page=1, page_size=1, sort="relevance")
        )
        with self._answers_lock:
            generation = self._generation()
            if generation != self._answers_of:
                self._index.reload()
                self._answers.clear()
                self._answers_of = generation
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
                self.cache_hits += 1
                return _decode_result(found)  # a copy: callers may change what they get
            facets = self._answers.get(facets_key) if query.facets else None
            if facets is not None:
                self._answers.move_to_end(facets_key)
                self.cache_hits += 1
        if facets is not None:
            result = self._search(msgspec.structs.replace(query, facets=()))
            result.facets = _decode_facets(facets)
            return result
        result = self._search(query)
        if result.total >= self.cache_from:
            with self._answers_lock:
                if generation == self._answers_of:  # not made from an index that changed meanwhile
                    self._keep(key, _encode(result))
                    if query.facets:
                        self._keep(facets_key, _encode(result.facets))
        return result

    def _keep(self, key: bytes, answer: bytes) -> None:
        self._answers[key] = answer
        if len(self._answers) > self._answer_cache:
            self._answers.popitem(last=False)

    def _generation(self) -> tuple[int, int, int] | None:
        """Which commit the index is at: tantivy replaces meta.json (a new inode) at each commit."""
        try:
            meta = os.stat(self.path / "meta.json")
        except FileNotFoundError:
            return None
        return meta.st_ino, meta.st_mtime_ns, meta.st_size

    def _search(self, query: SearchQuery) -> SearchResult:
        self._follow()
        counter = self._counter
        searcher = self._index.searcher()
        words = query_words(query.q)
        spec = self._spec(searcher, query, words)
        tq = to_query(self._schema, spec)
        names = list(dict.fromkeys(query.facets))
        estimate = self._hits_estimate(searcher, words)
        if counter is not None and names:
            counting: Future[dict[str, list[FacetValue]]] | None = None
            if self._pool is not None and estimate >= self.parallel_facets_from:
                # the facets are counted on the second core while this thread finds the page
                counting = self._pool.submit(self._count, counter, searcher, spec, names, query.facet_size)
            total, ids = self._page(searcher, tq, query, words)
            facets = (
                counting.result()
                if counting is not None
                else self._count(counter, searcher, spec, names, query.facet_size)
            )
            return SearchResult(total=total, ids=ids, facets=facets)
        here, aggregating = names, None
        slots = self._slotted(searcher, names) if estimate >= self.slots_from else None
        if self._pool is not None and len(names) > 1 and estimate >= self.parallel_facets_from:
            # Counting facets over many hits dominates, and tantivy releases the GIL: part of them is counted
            # on the second core while this thread finds the page, then counts the rest. Below the threshold
            # the hand-over costs more than it saves.
            background, here = _split_facets(names)
            aggregating = self._pool.submit(self._facets, searcher, tq, background, query.facet_size, slots)
        total, ids = self._page(searcher, tq, query, words)
        facets = self._facets(searcher, tq, here, query.facet_size, slots)
        if aggregating is not None:
            facets.update(aggregating.result())
        return SearchResult(total=total, ids=ids, facets={name: facets[name] for name in names})

    def _follow(self) -> None:
        """Let this process's searcher and the native counter see the index's latest commit together, so the
        page and its facet counts come from the same documents (tantivy-py's own reader follows commits
        of other processes only after a delay, the counter's not by itself)."""
        generation = self._generation()
        if generation != self._seen:
            self._index.reload()
            if self._counter is not None:
                self._counter.reload()
            self._seen = generation

    def _count(
        self,
        counter: FacetCounter,
        searcher: tantivy.Searcher,
        spec: Spec,
        names: list[str],
        wanted: int,
    ) -> dict[str, list[FacetValue]]:
        """Exact top `wanted` values of each facet over all hits, counted natively in one pass over the
        hits, the GIL released meanwhile. The counter returns every value counted as often as the
        `wanted`-th, so that ties are ranked here by their names."""
        _hits, counted = counter.count(_encode(spec).decode(), names, wanted)
        self._names(searcher, (value_id for pairs in counted for value_id, _count in pairs))
        values = self._values
        result = {}
        for name, pairs in zip(names, counted, strict=True):
            prefix = len(name) + 1
            result[name] = top_facet_values(((values[i][prefix:], c) for i, c in pairs), wanted)
        return result

    def _page(
        self, searcher: tantivy.Searcher, tq: Query, query: SearchQuery, words: list[tuple[str, str]]
    ) -> tuple[int, list[str]]:
        """The hit count and the ids of the query's page."""
        offset = (query.page - 1) * query.page_size
        sort = query.sort
        if sort == "relevance" and not words:
            sort = "modified"  # no words, no scores: newest first
        if sort == "relevance":
            total, ids = self._by_score(searcher, tq, offset, query.page_size)
        else:
            hits = searcher.search(
                tq,
                limit=query.page_size,
                offset=offset,
                count=True,
                order_by_field=_SORT_FIELDS[sort],
                order=tantivy.Order.Asc,
            )
            total = hits.count  # type: ignore[attr-defined]  # the stubs lack it
            ids = [key[_KEY_WIDTH:] for key, _addr in hits.hits]
        return total, ids

    def _slotted(self, searcher: tantivy.Searcher, names: list[str]) -> dict[str, list[str]]:
        """The columns to count for each facet of SLOTS among `names`: its slots, and its `_more` column
        when a document holds more values than its slots. Most indexes have none in most facets: an empty
        column asked of every hit still costs ~0.13 ms per 100,000 hits (the seven of them: 15-20 % of
        counting the slots, bench/search.py at 1M), and knowing it empty costs ~0.01 ms."""
        columns = {}
        for name in names:
            if name in SLOTS:
                more = f"{name}_more"
                found = searcher.search(Query.exists_query(more), limit=1, count=True)
                overflowing = found.count  # type: ignore[attr-defined]  # the stubs lack it
                columns[name] = [*_SLOT_COLUMNS[name], more] if overflowing else _SLOT_COLUMNS[name]
        return columns

    def _hits_estimate(self, searcher: tantivy.Searcher, words: list[tuple[str, str]]) -> int:
        """About how many documents the query matches, known before running it: for each word the
        document frequency of its most frequent term, the least over the words (filters are ignored).
        A sum over a word's terms would bound it, but counts a document once per field and language that
        holds the word: the thresholds below would then send queries of a few thousand hits to the second
        thread, whose hand-over costs more than it saves there."""
        if not words:
            return searcher.num_docs
        return min(
            max(
                searcher.doc_freq(f"{field}_{lang}", term)
                for field in TEXT_FIELDS
                for lang, term in (("fr", fr), ("en", en))
            )
            for fr, en in words
        )

    def _by_score(
        self, searcher: tantivy.Searcher, tq: Query, offset: int, size: int
    ) -> tuple[int, list[str]]:
        limit = offset + size
        # Hits past the page are fetched too: the page's last score is often shared by the next hits, and
        # fetching them later runs the whole search again (it doubled the cost of a common word at 1M);
        # a top list of 100 more costs next to nothing beside scoring every hit.
        result = searcher.search(tq, limit=limit + _TIE_MARGIN, count=True)
        total, hits = result.count, result.hits  # type: ignore[attr-defined]  # the stubs lack it
        if len(hits) <= offset:
            return total, []
        # Break score ties by id: widen the fetch until the tie group at the page's end is complete, then
        # sort the window spanned by the boundary tie groups (stored ids are cheap, ~1M reads/s).
        end_score = hits[min(limit, len(hits)) - 1][0]
        limit = len(hits)
        while len(hits) < total and hits[-1][0] == end_score:
            limit *= 2
            hits = searcher.search(tq, limit=limit, count=False).hits
        start_score = hits[offset][0]
        lo = offset
        while lo > 0 and hits[lo - 1][0] == start_score:
            lo -= 1
        hi = min(offset + size, len(hits))
        while hi < len(hits) and hits[hi][0] == end_score:
            hi += 1
        window = sorted(
            ((-score, searcher.doc(addr)["id"][0]) for score, addr in hits[lo:hi]),
        )
        return total, [doc_id for _score, doc_id in window[offset - lo : offset - lo + size]]

    def _facets(
        self,
        searcher: tantivy.Searcher,
        tq: Query,
        names: list[str],
        wanted: int = FACET_SIZE,
        slots: dict[str, list[str]] | None = None,
    ) -> dict[str, list[FacetValue]]:
        """Exact top `wanted` values of each facet over all hits, in one aggregation (the query runs once).

        With `slots` (facet -> its columns, `_slotted`), a facet of SLOTS sums the counts of its columns,
        each asked for all its values (id NO_VALUE is no value). Each other facet asks each segment for
        every value it holds (`segment_size` beyond any segment's distinct values; tantivy's default cut
        would make merged counts approximate: it reports the possible error in
        `doc_count_error_upper_bound`, which stays 0 here). Its merged list is cut at `size`; when values
        tied with the `wanted`-th may lie past that cut, it is asked again for more, as is a slot whose
        values reach `_ALL_BUCKETS`.
        """
        result: dict[str, list[FacetValue]] = {}
        size, all_buckets = wanted * 2, _ALL_BUCKETS
        while names:
            request: dict[str, dict] = {}
            for name in names:
                if slots and name in slots:
                    for column in slots[name]:
                        request[column] = {
                            "terms": {"field": column, "size": all_buckets, "segment_size": 1 << 30}
                        }
                else:
                    request[name] = {"terms": {"field": name, "size": size, "segment_size": 1 << 30}}
            answer = searcher.aggregate(tq, request)
            retry = []
            for name in names:
                if slots and name in slots:
                    columns = [answer[column]["buckets"] for column in slots[name]]
                    if any(len(buckets) == all_buckets for buckets in columns):
                        retry.append(name)
                        continue
                    summed: dict[int, int] = {}
                    for buckets in columns:
                        for b in buckets:
                            summed[b["key"]] = summed.get(b["key"], 0) + b["doc_count"]
                    summed.pop(NO_VALUE, None)
                    counted = list(summed.items())
                else:
                    buckets = answer[name]["buckets"]
                    if len(buckets) == size and buckets[-1]["doc_count"] >= buckets[wanted - 1]["doc_count"]:
                        retry.append(name)
                        continue
                    counted = [(b["key"], b["doc_count"]) for b in buckets]
                self._names(searcher, (value_id for value_id, _count in counted))
                prefix = len(name) + 1
                result[name] = top_facet_values(((self._values[i][prefix:], c) for i, c in counted), wanted)
            names, size, all_buckets = retry, size * 4, all_buckets * 4
        return result
