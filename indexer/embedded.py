"""The embedded search backend: a tantivy index in one directory, zero set-up.

Text analysis (shared with the SQLite fallback through `query_words` and `analyze_field`, so both engines
match the same documents): the simple tokenizer (split on anything not alphanumeric), lowercase, ASCII
folding ("Vélos" → "velos", "œuvre" → "oeuvre"), then a Snowball stemmer. Folding comes *before*
stemming so that "donnees" typed without accents stems like "données". Each text field is indexed twice,
French-stemmed and English-stemmed, because catalogues mix both languages and neither stemmer covers the
other ("vélos" only reduces to "velo" in English, "hôpitaux" only to "hopital" in French). A query word
matches a field when either of its stems does; every word must match some field (AND).

Facets are raw-tokenized text fields that are also fast (columnar) fields: filters are term-set queries,
counts one terms aggregation per facet over all hits. Sort keys are string fast fields holding a
fixed-width date key followed by the id, so one fast-field sort gives the date order with ties broken by
id, and the page's ids come from the sort values without reading stored documents.
"""

from __future__ import annotations

import calendar
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tantivy
from tantivy import Occur, Query

from .backend import (
    FACET_SIZE,
    FACETS,
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    SORTS,
    FacetValue,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
)

SCHEMA_VERSION = "1.1"  # bump when the schema or analysis changes (1.1: the quality facet): rebuild
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
    unknown = (set(query.filters) | set(query.facets)) - set(FACETS)
    if unknown:
        raise ValueError(f"unknown facet(s) {', '.join(sorted(unknown))}; facets are {', '.join(FACETS)}")


def top_facet_values(counts: Iterable[tuple[str, int]], size: int = FACET_SIZE) -> list[FacetValue]:
    """Most frequent first, ties by value: the same order from every backend."""
    ranked = sorted(counts, key=lambda vc: (-vc[1], vc[0]))
    return [FacetValue(value=v, count=c) for v, c in ranked[:size]]


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    for field in TEXT_FIELDS:
        for lang in LANGUAGES:
            # No positions: queries are bags of words, and positions would add a third to the index.
            sb.add_text_field(f"{field}_{lang}", tokenizer_name=_TOKENIZER_NAMES[lang], index_option="freq")
    for facet in FACETS:
        sb.add_text_field(facet, fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("modified_day", fast=True)
    sb.add_text_field("sort_new", fast=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("sort_old", fast=True, tokenizer_name="raw", index_option="basic")
    return sb.build()


# Relative cost of counting a facet (values per document × distinct values), to balance the threads.
_FACET_COST = {"keyword": 5, "publisher": 5, "jurisdiction": 3, "format": 3, "theme": 2, "language": 2}


def _split_facets(names: list[str]) -> tuple[list[str], list[str]]:
    """Two groups of about equal counting cost; the second also waits for the page's ranking."""
    groups: tuple[list[str], list[str]] = ([], [])
    loads = [0.0, 1.0]  # the foreground thread also ranks the page
    for name in sorted(names, key=lambda n: -_FACET_COST.get(n, 1)):
        side = 0 if loads[0] <= loads[1] else 1
        groups[side].append(name)
        loads[side] += _FACET_COST.get(name, 1)
    return groups


_SORT_FIELDS = {"modified": "sort_new", "-modified": "sort_old"}
_KEY_WIDTH = 14


class EmbeddedBackend(SearchBackend):
    """A tantivy index in `path` (created if missing).

    Writes go through one lazily created writer, so processes that only search never take the index's
    write lock; one writing process at a time. `commit` makes writes visible here at once and to other
    processes' readers shortly after. `close` waits for background merges and drops uncommitted writes.
    """

    name = "embedded"

    def __init__(
        self, path: Path, *, writer_heap: int = 256_000_000, writer_threads: int = 2, search_threads: int = 2
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        marker = self.path / "fedcat-schema-version"
        self._schema = _build_schema()
        if tantivy.Index.exists(str(self.path)):
            found = marker.read_text().strip() if marker.exists() else "unknown"
            if found != SCHEMA_VERSION:
                raise ValueError(
                    f"search index at {self.path} has schema version {found}, this fedcat needs "
                    f"{SCHEMA_VERSION}: delete the directory and rebuild the index from the store"
                )
            self._index = tantivy.Index.open(str(self.path))
            self._schema = self._index.schema
        else:
            self._index = tantivy.Index(self._schema, path=str(self.path), reuse=False)
            marker.write_text(SCHEMA_VERSION + "\n")
        for lang, name in _TOKENIZER_NAMES.items():
            self._index.register_tokenizer(name, ANALYZERS[lang])
        self._writer_heap = writer_heap
        self._writer_threads = writer_threads
        self._writer: tantivy.IndexWriter | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(search_threads - 1, "fedcat-facets") if search_threads > 1 else None

    # -- writes ---------------------------------------------------------------------------------------

    def _get_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=self._writer_heap, num_threads=self._writer_threads)
        return self._writer

    def _document(self, doc: SearchDocument) -> tantivy.Document:
        fields: dict[str, object] = {"id": doc.id}
        for field in TEXT_FIELDS:
            text = getattr(doc, field)
            if text:
                for lang in LANGUAGES:
                    fields[f"{field}_{lang}"] = text
        for facet in FACETS:
            values = facet_values(doc, facet)
            if values:
                fields[facet] = values
        key = date_key(doc.modified)
        if key is not None:
            fields["modified_day"] = key // 1_000_000
        fields["sort_new"], fields["sort_old"] = sort_keys(doc.id, doc.modified)
        return tantivy.Document.from_dict(fields, self._schema)

    def upsert(self, documents: Iterable[SearchDocument]) -> None:
        with self._lock:
            writer = self._get_writer()
            for doc in documents:
                # A delete only hits documents added before it, so a repeated id keeps its last version.
                writer.delete_documents_by_term("id", doc.id)
                writer.add_document(self._document(doc))

    def delete(self, ids: Iterable[str]) -> None:
        with self._lock:
            writer = self._get_writer()
            for doc_id in ids:
                writer.delete_documents_by_term("id", doc_id)

    def commit(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.commit()
            self._index.reload()

    def clear(self) -> None:
        with self._lock:
            writer = self._get_writer()
            writer.rollback()  # delete_all_documents alone would keep documents added but not committed
            writer.delete_all_documents()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()  # consumes the writer; uncommitted writes are dropped
                self._writer = None

    # -- reads ----------------------------------------------------------------------------------------

    def ids(self) -> set[str]:
        searcher = self._index.searcher()
        # The filter skips terms of deleted documents that merges have not purged yet.
        terms = searcher.terms_with_prefix("id", "", filter_query=Query.all_query())
        return {term for term, _count in terms}

    def _query(self, query: SearchQuery) -> Query:
        clauses: list[tuple[Occur, Query]] = []
        for fr, en in query_words(query.q):
            alternatives = [
                (
                    Occur.Should,
                    Query.boost_query(
                        Query.term_query(self._schema, f"{field}_{lang}", term, index_option="freq"), boost
                    ),
                )
                for field, boost in BOOSTS.items()
                for lang, term in (("fr", fr), ("en", en))
            ]
            clauses.append((Occur.Must, Query.boolean_query(alternatives)))
        for facet, values in query.filters.items():
            if values:  # an empty list constrains nothing
                accepted = Query.term_set_query(self._schema, facet, list(values))
                clauses.append((Occur.Must, Query.const_score_query(accepted, 0.0)))
        low, high = day_bounds(query)
        if low is not None or high is not None:
            dated = Query.range_query(
                self._schema, "modified_day", tantivy.FieldType.Integer, lower_bound=low, upper_bound=high
            )
            clauses.append((Occur.Must, Query.const_score_query(dated, 0.0)))
        if not clauses:
            return Query.all_query()
        return Query.boolean_query(clauses)

    def search(self, query: SearchQuery) -> SearchResult:
        check_query(query)
        tq = self._query(query)
        searcher = self._index.searcher()
        offset = (query.page - 1) * query.page_size
        sort = query.sort
        if sort == "relevance" and not query_words(query.q):
            sort = "modified"  # no words, no scores: newest first
        names = list(dict.fromkeys(query.facets))
        background, foreground = _split_facets(names) if self._pool else ([], names)
        # Counting facets dominates a common word's cost; tantivy releases the GIL, so half of them run
        # on a second core while this thread ranks the page and counts the rest.
        pending = self._pool.submit(self._facets, searcher, tq, background) if background else None
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
            total = hits.count
            ids = [key[_KEY_WIDTH:] for key, _addr in hits.hits]
        facets = self._facets(searcher, tq, foreground)
        if pending is not None:
            facets.update(pending.result())
        return SearchResult(total=total, ids=ids, facets={name: facets[name] for name in names})

    def _by_score(
        self, searcher: tantivy.Searcher, tq: Query, offset: int, size: int
    ) -> tuple[int, list[str]]:
        limit = offset + size
        result = searcher.search(tq, limit=limit, count=True)
        total, hits = result.count, result.hits
        if len(hits) <= offset:
            return total, []
        # Break score ties by id: widen the fetch until the tie group at the page's end is complete, then
        # sort the window spanned by the boundary tie groups (stored ids are cheap, ~1M reads/s).
        end_score = hits[min(limit, len(hits)) - 1][0]
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

    def _facets(self, searcher: tantivy.Searcher, tq: Query, names: list[str]) -> dict[str, list[FacetValue]]:
        """Exact top values of each facet over all hits.

        Each segment reports every value it holds (`segment_size` beyond any segment's distinct values;
        tantivy's default cut would make merged counts approximate: it reports the possible error in
        `doc_count_error_upper_bound`, which stays 0 here). The merged list is cut at `size`; when
        values tied with the FACET_SIZE-th may lie past that cut, ask again for more.
        """
        result: dict[str, list[FacetValue]] = {}
        size = FACET_SIZE * 2
        while names:
            answer = searcher.aggregate(
                tq,
                {name: {"terms": {"field": name, "size": size, "segment_size": 1 << 30}} for name in names},
            )
            retry = []
            for name in names:
                buckets = answer[name]["buckets"]
                if len(buckets) == size and buckets[-1]["doc_count"] >= buckets[FACET_SIZE - 1]["doc_count"]:
                    retry.append(name)
                else:
                    result[name] = top_facet_values((b["key"], b["doc_count"]) for b in buckets)
            names, size = retry, size * 4
        return result
