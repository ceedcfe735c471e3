"""Conformance suite of the search backends: every backend must pass it, and all must agree.

Expected values are computed here, in plain Python, from the documents themselves (which documents a
filter or date range keeps, facet counts over all hits), never from a backend.

The backends: embedded (tantivy), sqlite (FTS5) and elasticsearch, on the node whose URL is in
FEDCAT_TEST_ELASTICSEARCH_URL (`.ci/elasticsearch start` prints it; `.ci/run` sets it). Without it the
Elasticsearch cases are skipped and say why. Each Elasticsearch case has indices of its own, dropped when
the module ends.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fedcat.indexer.backend import (
    FACET_SIZE,
    FACETS,
    MAX_FACET_SIZE,
    MAX_PAGE_SIZE,
    MAX_RESULT_WINDOW,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResult,
)
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.indexer.sqlite_fts import SqliteFtsBackend

ES_URL = os.environ.get("FEDCAT_TEST_ELASTICSEARCH_URL", "")
# The node is shared (other test runs, other checkouts): this run's indices only, dropped at its end.
ES_PREFIX = f"fedcat-test-{os.getpid()}-"


def elasticsearch_url() -> str:
    """The test node's URL, or skip: `.ci/elasticsearch start` prints it (`.ci/run` exports it)."""
    if not ES_URL:
        pytest.skip(
            "no Elasticsearch node: set FEDCAT_TEST_ELASTICSEARCH_URL (`.ci/elasticsearch start` prints it)"
        )
    pytest.importorskip("elasticsearch", reason="the `elasticsearch` client is not installed")
    return ES_URL


def elasticsearch_backend(tmp: Path) -> SearchBackend:
    """An Elasticsearch backend with an index of its own per test directory (reopened by the same one)."""
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    prefix = ES_PREFIX + hashlib.sha1(str(tmp).encode()).hexdigest()[:12]
    return ElasticsearchBackend(elasticsearch_url(), index_prefix=prefix)


BACKENDS: dict[str, Callable[[Path], SearchBackend]] = {
    "embedded": lambda tmp: EmbeddedBackend(tmp / "tantivy", writer_heap=50_000_000, writer_threads=1),
    # the same engine counting facets with tantivy's aggregations (the fallback without fedcat._native)
    "embedded-aggregations": lambda tmp: EmbeddedBackend(
        tmp / "tantivy", writer_heap=50_000_000, writer_threads=1, native_facets=False
    ),
    "sqlite": lambda tmp: SqliteFtsBackend(tmp / "fts.db"),
    "elasticsearch": elasticsearch_backend,
}


@pytest.fixture(scope="module", autouse=True)
def _drop_test_indices() -> Iterator[None]:
    """The test indices go when the module ends (the node outlives the tests)."""
    yield
    if ES_URL:
        from elasticsearch import Elasticsearch

        with Elasticsearch(ES_URL) as client:
            for index in client.indices.get(index=ES_PREFIX + "*", allow_no_indices=True).body:
                client.indices.delete(index=index, ignore_unavailable=True)


THEME = "http://publications.europa.eu/resource/authority/data-theme/"
CSV, JSON, SHP = (
    f"http://publications.europa.eu/resource/authority/file-type/{f}" for f in ("CSV", "JSON", "SHP")
)
ETALAB = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
ODBL = "http://opendatacommons.org/licenses/odbl/1-0/"


def doc(doc_id: str, title: str, **fields) -> SearchDocument:
    return SearchDocument(id=doc_id, title=title, **fields)


# Hand-written documents for the text-analysis cases: each names what it is there to catch.
HANDPICKED = [
    doc("velos", "Vélos en libre-service", description="Stations et disponibilité en temps réel.",
        publisher=["Ville de Paris"], theme=[THEME + "TRAN"], format=[CSV, JSON], modified="2024-03-01"),
    doc("air", "Qualité de l'air", description="Mesures horaires des polluants : NO2, ozone, particules.",
        publisher=["Atmo Auvergne-Rhône-Alpes"], theme=[THEME + "ENVI"], format=[CSV], modified="2023-11-20"),
    doc("air-en", "Air quality / qualité air", description="Hourly pollutant measurements.",
        publisher=["Greater London Authority"], theme=[THEME + "ENVI"], format=[JSON], modified="2022-05-04"),
    doc("stops", "Bus and tram stops", description="GTFS stops of the urban network.",
        publisher=["Transport for London"], theme=[THEME + "TRAN"], format=[CSV], modified="2021-01-15"),
    doc("bus-only", "Bus timetables", description="Weekly timetables, all lines.",
        publisher=["Transport for London"], theme=[THEME + "TRAN"], format=[CSV], modified="2021-01-15"),
    doc("parking", "Stationnement payant", description="Zones et tarifs du stationnement sur voirie.",
        publisher=["Ville de Lyon"], theme=[THEME + "TRAN"], format=[SHP], modified="2020-07-01T08:30:00Z"),
    doc("hopitaux", "Hôpitaux et centres de santé", description="Établissements de santé géolocalisés.",
        publisher=["ARS Occitanie"], theme=[THEME + "HEAL"], format=[CSV], modified=""),
    doc("donnees", "Catalogue des données ouvertes", description="Liste des jeux publiés par la métropole.",
        publisher=["Métropole de Lyon"], theme=[THEME + "GOVE"], format=[JSON], modified="2019"),
    # Same word, once in the title and once only deep in a description: the title match ranks first.
    doc("cadastre-title", "Cadastre", description="Parcelles et sections de la commune, mises à jour chaque année.",
        publisher=["DGFiP"], theme=[THEME + "REGI"], format=[SHP], modified="2018-02-02"),
    doc("cadastre-desc", "Parcelles agricoles", description="Îlots déclarés, rapprochés du cadastre.",
        publisher=["DGFiP"], theme=[THEME + "AGRI"], format=[SHP], modified="2018-02-02"),
]  # fmt: skip

SUBJECTS = [
    ("Vélos en libre-service", "TRAN", ["vélo", "mobilité"]),
    ("Bike sharing stations", "TRAN", ["bike", "mobility"]),
    ("Qualité de l'air", "ENVI", ["pollution", "air"]),
    ("Air quality measurements", "ENVI", ["pollution", "air"]),
    ("Arrêts de bus et de tramway", "TRAN", ["transport", "bus"]),
    ("Bus and tram stops", "TRAN", ["transport", "bus"]),
    ("Budget primitif", "GOVE", ["budget", "finances"]),
    ("Résultats des élections municipales", "GOVE", ["élections"]),
    ("Arbres d'alignement", "ENVI", ["arbres", "nature"]),
    ("Bornes de recharge électrique", "ENER", ["énergie", "irve"]),
    ("Défibrillateurs", "HEAL", ["santé"]),
    ("Équipements sportifs", "EDUC", ["sport"]),
]
PLACES = ["Paris", "Lyon", "Marseille", "Nantes", "Lille", "Rennes", "Besançon", "Nîmes", "Orléans", "Évry"]
PUBLISHER_KINDS = ["Ville de {}", "Métropole de {}", "Département {}"]
FORMATS = [CSV, JSON, SHP, "http://publications.europa.eu/resource/authority/file-type/XLSX"]
LANGS = ["http://publications.europa.eu/resource/authority/language/" + c for c in ("FRA", "ENG")]


def generated(n: int, seed: int = 7) -> Iterator[SearchDocument]:
    """Realistic mixed-language documents; `keyword` has ~90 values so facets get truncated at 50."""
    rng = random.Random(seed)
    tail = [f"mot{i:02d}" for i in range(80)]
    for i in range(n):
        subject, theme, keywords = rng.choice(SUBJECTS)
        place = rng.choice(PLACES)
        year = rng.randint(2015, 2024)
        title = rng.choice([f"{subject} - {place}", f"{subject} {year}", f"{subject} ({place})"])
        kw = sorted(set(keywords) | set(rng.sample(tail, rng.randint(0, 3))))
        modified = rng.choice(["", f"{year}", f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"])
        if rng.random() < 0.2:  # many documents share a date: ties must be broken by id
            modified = "2020-06-15"
        yield SearchDocument(
            id=f"gen-{rng.randint(0, 10**6):06d}-{i:04d}",
            title=title,
            description=f"Données {subject.lower()} pour {place}, mises à jour en {year}. Open data.",
            keywords_text=" ".join(kw),
            publisher_text=rng.choice(PUBLISHER_KINDS).format(place),
            modified=modified,
            publisher=[rng.choice(PUBLISHER_KINDS).format(place)],
            theme=[THEME + theme] + ([THEME + "REGI"] if rng.random() < 0.2 else []),
            format=sorted(set(rng.sample(FORMATS, rng.randint(1, 3)))),
            licence=[rng.choice([ETALAB, ODBL])],
            keyword=kw,
            source=[f"portal-{rng.randint(1, 6)}"],
            jurisdiction=[f"commune:{place.lower()}"],
            language=rng.sample(LANGS, rng.randint(1, 2)),
            has_reuses=["true" if i % 7 == 0 else "false"],  # a portal lists reuses of one in seven
        )


CORPUS = HANDPICKED + list(generated(400))
BY_ID = {d.id: d for d in CORPUS}


@pytest.fixture(scope="module", params=list(BACKENDS))
def corpus(request, tmp_path_factory) -> Iterator[SearchBackend]:
    """A read-only backend holding CORPUS, indexed in three batches with commits between."""
    backend = BACKENDS[request.param](tmp_path_factory.mktemp(request.param))
    if isinstance(backend, EmbeddedBackend):
        backend.parallel_facets_from = 0  # here facets are counted on two threads (elsewhere on one)
        backend.slots_from = 0  # and from the single-valued slot columns (elsewhere from the multi-valued)
        backend.cache_from = 0  # and every answer is kept: repeated queries are answered from the cache
    for start in range(0, len(CORPUS), 150):
        backend.upsert(CORPUS[start : start + 150])
        backend.commit()
    yield backend
    backend.close()


@pytest.fixture(params=list(BACKENDS))
def empty(request, tmp_path) -> Iterator[SearchBackend]:
    backend = BACKENDS[request.param](tmp_path)
    if isinstance(backend, EmbeddedBackend):
        backend.cache_from = 0  # every answer kept: each write test checks a commit drops them
    yield backend
    backend.close()


def all_ids(backend: SearchBackend, **query) -> list[str]:
    """Every hit, in order, by paging through with the largest page."""
    ids: list[str] = []
    page = 1
    while True:
        result = backend.search(SearchQuery(page=page, page_size=MAX_PAGE_SIZE, facets=(), **query))
        ids += result.ids
        if len(result.ids) < MAX_PAGE_SIZE:
            assert len(ids) == result.total
            return ids
        page += 1


def expected_facets(ids: list[str], size: int = FACET_SIZE) -> dict[str, list[tuple[str, int]]]:
    """Facet counts over the hits, most frequent first, ties by value, `size` values at most."""
    out = {}
    for facet in FACETS:
        counts = Counter(v for i in ids for v in set(getattr(BY_ID[i], facet)))
        out[facet] = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:size]
    return out


def facets_of(result) -> dict[str, list[tuple[str, int]]]:
    return {name: [(f.value, f.count) for f in values] for name, values in result.facets.items()}


# -- text analysis ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "must_find"),
    [
        ("velo", "velos"),  # accent-insensitive, and singular finds plural
        ("VÉLOS", "velos"),  # case-insensitive
        ("donnee", "donnees"),  # "données" without accents, singular
        ("DONNEES", "donnees"),
        ("stationnements", "parking"),  # French stemming: plural finds singular
        ("hôpital", "hopitaux"),  # French stemming: -al / -aux
        ("hopital", "hopitaux"),
        ("stop", "stops"),  # English stemming
        ("measurement", "air-en"),
        ("libre service", "velos"),  # hyphenated words are separate words
        ("Qualité de l'air", "air-en"),  # stop words and elisions are not required
    ],
)
def test_folding_and_stemming_find_the_document(corpus: SearchBackend, q: str, must_find: str) -> None:
    assert must_find in all_ids(corpus, q=q)


def test_every_word_must_match(corpus: SearchBackend) -> None:
    both = set(all_ids(corpus, q="bus tram"))
    assert "stops" in both
    assert "bus-only" not in both  # "bus" alone is not enough
    assert both == set(all_ids(corpus, q="bus")) & set(all_ids(corpus, q="tram"))


def test_title_match_ranks_above_description_match(corpus: SearchBackend) -> None:
    ids = corpus.search(SearchQuery(q="cadastre")).ids
    assert ids.index("cadastre-title") < ids.index("cadastre-desc")


def test_unknown_word_finds_nothing(corpus: SearchBackend) -> None:
    result = corpus.search(SearchQuery(q="xylophone"))
    assert result.total == 0 and result.ids == []
    assert all(values == [] for values in result.facets.values())


ODD_QUERIES = [
    '"', '"unbalanced quote', "'", "a:b", "title:velo", "(velo", "velo)", "-", "-velo", "*", "velo*", "?",
    "AND", "OR NOT", "velo AND", "+", "^2", "velo~1", "{a b}", "[1 TO 5]", "\\", "%", "_", "NEAR(a b)",
    "'; DROP TABLE docs; --", "\x00", "🚲 vélo", "北京", "\t\n", "   ", "a" * 300, " ".join(["velo"] * 100),
]  # fmt: skip


@pytest.mark.parametrize("q", ODD_QUERIES)
def test_odd_query_strings_never_raise(corpus: SearchBackend, q: str) -> None:
    for sort in ("relevance", "-modified"):
        result = corpus.search(SearchQuery(q=q, sort=sort, filters={"theme": [THEME + "TRAN"]}))
        assert len(result.ids) == min(20, result.total)
    assert corpus.search(SearchQuery()).total == len(CORPUS)  # nothing was dropped or altered


def test_punctuation_is_a_separator_not_an_operator(corpus: SearchBackend) -> None:
    plain = all_ids(corpus, q="velo")
    assert plain
    for q in ('"velo', "velo*", "(velo)", "title:velo", "-velo", "velo!?"):
        title_word = set(all_ids(corpus, q="title")) if "title" in q else None
        got = all_ids(corpus, q=q)
        if title_word is None:
            assert got == plain, q
        else:
            assert set(got) == set(plain) & title_word, q


def test_query_of_only_punctuation_matches_everything(corpus: SearchBackend) -> None:
    assert corpus.search(SearchQuery(q="*")).total == len(CORPUS)


# -- facets and filters -------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["", "velo", "bus", "qualite air", "donnees", "xylophone"])
def test_facet_counts_are_exact_over_all_hits(corpus: SearchBackend, q: str) -> None:
    hits = all_ids(corpus, q=q)
    result = corpus.search(SearchQuery(q=q, page_size=5))
    assert result.total == len(hits)
    assert facets_of(result) == expected_facets(hits)


def test_long_facets_are_cut_at_facet_size_most_frequent_first(corpus: SearchBackend) -> None:
    keywords = corpus.search(SearchQuery()).facets["keyword"]
    assert len({v for d in CORPUS for v in d.keyword}) > FACET_SIZE
    assert len(keywords) == FACET_SIZE
    assert [(f.value, f.count) for f in keywords] == expected_facets(list(BY_ID))["keyword"]


@pytest.mark.parametrize("size", [7, MAX_FACET_SIZE])
def test_facet_size_asks_for_fewer_or_every_value(corpus: SearchBackend, size: int) -> None:
    """What the CKAN- and udata-compatible lists (organization_list, tag_list) ask for: every value."""
    result = corpus.search(SearchQuery(facet_size=size, facets=("keyword", "publisher")))
    hits = all_ids(corpus)
    expected = expected_facets(hits, size)
    assert facets_of(result) == {"keyword": expected["keyword"], "publisher": expected["publisher"]}
    if size == MAX_FACET_SIZE:  # past the default cut
        assert len(expected["keyword"]) > FACET_SIZE


@pytest.mark.parametrize("size", [0, MAX_FACET_SIZE + 1])
def test_facet_size_out_of_bounds_is_a_value_error(corpus: SearchBackend, size: int) -> None:
    with pytest.raises(ValueError, match="facet_size"):
        corpus.search(SearchQuery(facet_size=size))


def test_only_requested_facets_are_counted(corpus: SearchBackend) -> None:
    assert set(corpus.search(SearchQuery(facets=("theme", "format"))).facets) == {"theme", "format"}
    assert corpus.search(SearchQuery(facets=())).facets == {}


def matching(filters: dict[str, list[str]]) -> set[str]:
    return {d.id for d in CORPUS if all(set(getattr(d, f)) & set(vs) for f, vs in filters.items())}


@pytest.mark.parametrize(
    "filters",
    [
        {"theme": [THEME + "TRAN"]},
        {"theme": [THEME + "TRAN", THEME + "ENVI"]},  # OR within a facet
        {"theme": [THEME + "TRAN"], "format": [CSV]},  # AND across facets
        {"theme": [THEME + "TRAN", THEME + "REGI"], "format": [JSON, SHP], "licence": [ODBL]},
        {"publisher": ["Transport for London"]},
        {"keyword": ["mot07"], "language": [LANGS[1]]},
        {"source": ["no-such-source"]},
        {"has_reuses": ["true"]},
        {"has_reuses": ["false"], "theme": [THEME + "TRAN"]},
    ],
)
def test_filters_or_within_and_across_facets(corpus: SearchBackend, filters: dict[str, list[str]]) -> None:
    expected = matching(filters)
    got = all_ids(corpus, filters=filters)
    assert set(got) == expected and len(got) == len(expected)
    result = corpus.search(SearchQuery(filters=filters))
    assert facets_of(result) == expected_facets(got)


def test_filters_combine_with_words(corpus: SearchBackend) -> None:
    filters = {"theme": [THEME + "ENVI"]}
    got = set(all_ids(corpus, q="air", filters=filters))
    assert got == set(all_ids(corpus, q="air")) & matching(filters)
    assert "air" in got and "velos" not in got


def day(d: SearchDocument) -> str | None:
    """The day a document's date starts on, as the backends read it ("2019" is 2019-01-01)."""
    if not d.modified:
        return None
    return (d.modified + "-01-01"[len(d.modified) - 4 :])[:10] if len(d.modified) < 10 else d.modified[:10]


@pytest.mark.parametrize(
    ("after", "before"),
    [
        ("2021-01-15", None),  # inclusive lower bound
        (None, "2021-01-15"),  # inclusive upper bound
        ("2020-06-15", "2020-06-15"),
        ("2018-02-02", "2022-05-04"),
        ("2030-01-01", None),
    ],
)
def test_date_range_is_inclusive_and_drops_undated(corpus: SearchBackend, after, before) -> None:
    expected = {
        d.id
        for d in CORPUS
        if day(d) is not None and (after is None or day(d) >= after) and (before is None or day(d) <= before)
    }
    got = all_ids(corpus, modified_after=after, modified_before=before)
    assert set(got) == expected and len(got) == len(expected)
    assert "hopitaux" not in got  # undated


def test_partial_dates_cover_their_whole_period(corpus: SearchBackend) -> None:
    in_2021 = set(all_ids(corpus, modified_after="2021", modified_before="2021"))
    assert in_2021 == {d.id for d in CORPUS if (day(d) or "").startswith("2021")}
    assert "stops" in in_2021


def test_bad_date_is_a_value_error(corpus: SearchBackend) -> None:
    with pytest.raises(ValueError, match="modified_after"):
        corpus.search(SearchQuery(modified_after="yesterday"))


# -- sorting and paging -----------------------------------------------------------------------------


def by_date(newest_first: bool) -> list[str]:
    """Dated documents by date (ties by id ascending in both directions), then undated ones by id."""
    dated = sorted((d for d in CORPUS if d.modified), key=lambda d: d.id)
    dated.sort(key=lambda d: _date_sort(d.modified), reverse=newest_first)  # stable: ties keep id order
    return [d.id for d in dated] + sorted(d.id for d in CORPUS if not d.modified)


def _date_sort(modified: str) -> str:
    """YYYY-MM-DDTHH:MM:SS of the start of the period, for comparing."""
    base = (modified + "-01-01"[len(modified) - 4 :])[:10] if len(modified) < 10 else modified[:10]
    return base + (modified[10:19] if len(modified) > 10 else "T00:00:00")


def test_sort_modified_is_newest_first_ties_by_id_undated_last(corpus: SearchBackend) -> None:
    assert all_ids(corpus, sort="modified") == by_date(newest_first=True)


def test_sort_minus_modified_is_oldest_first_ties_by_id_undated_last(corpus: SearchBackend) -> None:
    assert all_ids(corpus, sort="-modified") == by_date(newest_first=False)


def test_relevance_without_words_is_newest_first(corpus: SearchBackend) -> None:
    assert all_ids(corpus) == by_date(newest_first=True)
    filtered = all_ids(corpus, filters={"theme": [THEME + "TRAN"]})
    assert filtered == [i for i in by_date(newest_first=True) if i in matching({"theme": [THEME + "TRAN"]})]


def test_sorted_text_search_keeps_the_date_order(corpus: SearchBackend) -> None:
    hits = set(all_ids(corpus, q="velo"))
    assert all_ids(corpus, q="velo", sort="modified") == [i for i in by_date(True) if i in hits]


def test_relevance_ties_are_broken_by_id(empty: SearchBackend) -> None:
    twins = [doc(f"twin-{c}", "Prénoms des nouveau-nés", description="Fichier annuel.") for c in "dbeac"]
    empty.upsert([*twins, doc("other", "Prénoms", description="Liste des prénoms déclarés à l'état civil.")])
    empty.commit()
    ids = all_ids(empty, q="prenoms nouveau")
    assert ids == sorted(t.id for t in twins)
    paged = [empty.search(SearchQuery(q="prenoms nouveau", page=p, page_size=2)).ids for p in (1, 2, 3)]
    assert paged == [ids[0:2], ids[2:4], ids[4:5]]


@pytest.mark.parametrize("sort", ["relevance", "modified", "-modified"])
@pytest.mark.parametrize("q", ["", "bus", "donnees"])
def test_pages_are_disjoint_and_cover_every_hit(corpus: SearchBackend, sort: str, q: str) -> None:
    whole = all_ids(corpus, q=q, sort=sort)
    pages, page = [], 1
    while ids := corpus.search(SearchQuery(q=q, sort=sort, page=page, page_size=7)).ids:
        pages.append(ids)
        page += 1
    flat = [i for p in pages for i in p]
    assert len(flat) == len(set(flat))  # disjoint
    assert flat == whole  # the same order whatever the page size
    assert all(len(p) == 7 for p in pages[:-1])


def test_depth_and_size_caps_are_value_errors(corpus: SearchBackend) -> None:
    last_page = MAX_RESULT_WINDOW // 100
    corpus.search(SearchQuery(page=last_page, page_size=100))  # exactly at the cap: allowed
    with pytest.raises(ValueError, match=str(MAX_RESULT_WINDOW)):
        corpus.search(SearchQuery(page=last_page + 1, page_size=100))
    with pytest.raises(ValueError, match="page_size"):
        corpus.search(SearchQuery(page_size=MAX_PAGE_SIZE + 1))
    with pytest.raises(ValueError):
        corpus.search(SearchQuery(page=0))
    with pytest.raises(ValueError, match="sort"):
        corpus.search(SearchQuery(sort="title"))
    with pytest.raises(ValueError, match="facet"):
        corpus.search(SearchQuery(filters={"colour": ["red"]}))


def test_page_past_the_last_hit_is_empty(corpus: SearchBackend) -> None:
    result = corpus.search(SearchQuery(q="velo", page=50, page_size=100))
    assert result.ids == [] and result.total == len(all_ids(corpus, q="velo"))


# The deepest page: MAX_RESULT_WINDOW is reachable with from/size on every engine, exactly as deep on each;
# past it a ValueError says so (the API answers 400 naming the unfiltered /catalog, paged without a limit).
DEEP = [
    doc(f"deep{i:05d}", f"Relevé {i % 13}", description="Relevé horaire" if i % 3 else "Relevé quotidien",
        publisher=[f"Commune {i % 41}"], modified="" if i % 17 == 0 else f"20{10 + i % 13}-{1 + i % 12:02d}-01")
    for i in range(MAX_RESULT_WINDOW + 37)
]  # fmt: skip


@pytest.fixture(scope="module", params=list(BACKENDS))
def deep(request, tmp_path_factory) -> Iterator[SearchBackend]:
    """A backend holding DEEP: more documents than the deepest page reaches."""
    backend = BACKENDS[request.param](tmp_path_factory.mktemp(f"deep-{request.param}"))
    for start in range(0, len(DEEP), 5000):
        backend.upsert(DEEP[start : start + 5000])
    backend.commit()
    yield backend
    backend.close()


def deep_by_date(newest_first: bool, keep: Callable[[SearchDocument], bool] = lambda d: True) -> list[str]:
    dated = sorted((d for d in DEEP if d.modified and keep(d)), key=lambda d: d.id)
    dated.sort(key=lambda d: d.modified, reverse=newest_first)  # stable: ties keep id order
    return [d.id for d in dated] + sorted(d.id for d in DEEP if not d.modified and keep(d))


@pytest.mark.parametrize(("q", "sort"), [("", "relevance"), ("", "-modified"), ("releve", "modified")])
def test_the_page_at_the_depth_cap_is_exact_and_the_next_one_refused(
    deep: SearchBackend, q: str, sort: str
) -> None:
    last = MAX_RESULT_WINDOW // MAX_PAGE_SIZE
    result = deep.search(SearchQuery(q=q, sort=sort, page=last, page_size=MAX_PAGE_SIZE))
    assert result.total == len(DEEP)  # exact past 10,000 hits, not "10,000 or more"
    expected = deep_by_date(newest_first=sort != "-modified")
    assert result.ids == expected[MAX_RESULT_WINDOW - MAX_PAGE_SIZE : MAX_RESULT_WINDOW]
    publishers = Counter(v for d in DEEP for v in d.publisher)
    assert facets_of(result)["publisher"] == sorted(publishers.items(), key=lambda vc: (-vc[1], vc[0]))
    with pytest.raises(ValueError, match=str(MAX_RESULT_WINDOW)):
        deep.search(SearchQuery(q=q, sort=sort, page=last + 1, page_size=MAX_PAGE_SIZE))


def test_a_filter_reaches_past_the_cap_of_the_unfiltered_order(deep: SearchBackend) -> None:
    """Narrowing, the way the 400 past the cap advises, brings deep hits within reach."""
    keep = {"Commune 3"}
    ids = all_ids(deep, sort="modified", filters={"publisher": sorted(keep)})
    expected = deep_by_date(True, lambda d: bool(keep & set(d.publisher)))
    assert ids == expected and expected[-1] in deep_by_date(True)[MAX_RESULT_WINDOW:]


# -- federated copies ----------------------------------------------------------------------------------


def test_federated_copies_are_one_hit_per_cluster(tmp_path: Path, request) -> None:
    """The federation's collapsed documents, through the store's own sync, on every engine alike: three
    copies of one dataset from three sources are one hit, counted once in each source's facet value and
    found by any copy's words; the other dataset of the same title stays apart."""
    from fedcat.indexer.documents import sync_index
    from fedcat.store import Store, record_id
    from test_federation import COPIES, OTHER, _config, _write

    answers = {}
    for name, make in BACKENDS.items():
        if name == "elasticsearch" and not ES_URL:
            continue
        store, backend = Store(tmp_path / f"{name}.db"), make(tmp_path / name)
        store.sync_sources(_config().sources)
        for source, (sid, dataset) in COPIES.items():
            _write(store, source, [(sid, dataset)])
        _write(store, "region", [OTHER])
        sync_index(store, backend)
        found = backend.search(SearchQuery(q="comptages velo"))
        answers[name] = (
            found.total,
            found.ids,
            facets_of(found)["source"],
            backend.search(SearchQuery(q="lille")).ids,  # every copy names Lille: still one hit
            sorted(backend.ids()),
        )
        backend.close()
        store.close()
    roubaix = record_id("region", OTHER[0])
    total, ids, sources, by_copy_words, indexed = answers["embedded"]
    (canonical,) = set(ids) - {roubaix}  # the cluster's one hit, under its canonical copy's id
    assert total == 2 and roubaix in ids
    assert canonical in {record_id(source, sid) for source, (sid, _) in COPIES.items()}
    assert sources == [("eu", 1), ("mel", 1), ("national", 1), ("region", 1)]
    assert by_copy_words == [canonical]
    assert indexed == sorted([canonical, roubaix])  # the other copies have no document of their own
    assert all(answer == answers["embedded"] for answer in answers.values()), answers
    if not ES_URL:
        pytest.skip(
            "compared embedded and sqlite only: no Elasticsearch node (FEDCAT_TEST_ELASTICSEARCH_URL)"
        )


# -- writes -----------------------------------------------------------------------------------------


def test_empty_index_answers(empty: SearchBackend) -> None:
    for query in (
        SearchQuery(),
        SearchQuery(q="velo"),
        SearchQuery(sort="-modified", filters={"theme": ["x"]}),
    ):
        result = empty.search(query)
        assert (result.total, result.ids) == (0, [])
        assert result.facets == {name: [] for name in query.facets}
    assert empty.ids() == set()


def test_writes_are_visible_after_commit_only(empty: SearchBackend) -> None:
    empty.upsert(HANDPICKED)
    assert empty.search(SearchQuery()).total == 0
    empty.commit()
    assert empty.search(SearchQuery()).total == len(HANDPICKED)
    assert empty.ids() == {d.id for d in HANDPICKED}


def test_a_commit_elsewhere_is_seen_by_the_next_search(tmp_path: Path) -> None:
    """Kept answers (the landing page's) last until the index changes, whoever commits the change: here
    another backend on the same directory, as a harvest in another process."""
    writer, reader = EmbeddedBackend(tmp_path), EmbeddedBackend(tmp_path)
    reader.cache_from = 0
    try:
        writer.upsert(HANDPICKED)
        writer.commit()
        landing = SearchQuery()
        first = reader.search(landing)
        assert first.total == len(HANDPICKED)
        assert reader.search(landing) == first
        assert reader.cache_hits == 1
        writer.upsert([doc("new", "Nouveau jeu de données", publisher=["Commune nouvelle"])])
        writer.commit()
        after = reader.search(landing)  # at once: no wait for tantivy's own reload
        assert after.total == len(HANDPICKED) + 1
        assert dict(facets_of(after)["publisher"])["Commune nouvelle"] == 1
        assert reader.cache_hits == 1
    finally:
        writer.close()
        reader.close()


def test_another_page_of_a_kept_search_reuses_its_facet_counts(tmp_path: Path) -> None:
    """Paging or re-sorting a kept search counts its facets once: the other pages find their hits only,
    and answer as an index that keeps nothing does; a commit elsewhere makes them count again."""
    writer, reader = EmbeddedBackend(tmp_path), EmbeddedBackend(tmp_path)
    reader.cache_from = 0

    def counted(query: SearchQuery) -> SearchResult:  # the reference: an index opened now, keeping nothing
        fresh = EmbeddedBackend(tmp_path, answer_cache=0)
        try:
            return fresh.search(query)
        finally:
            fresh.close()

    try:
        writer.upsert(HANDPICKED)
        writer.commit()
        first = SearchQuery(page_size=2)
        assert reader.search(first) == counted(first)
        for other in (
            SearchQuery(page_size=2, page=2),
            SearchQuery(page_size=3, sort="-modified"),
            SearchQuery(page_size=2, page=3, sort="modified"),
        ):
            kept = reader.search(other)
            assert kept == counted(other)
            assert kept.ids and kept.ids != reader.search(first).ids
        assert reader.cache_hits == 3 + 3  # three facet counts reused, then three whole answers
        writer.upsert([doc("new", "Nouveau jeu de données", publisher=["Commune nouvelle"])])
        writer.commit()
        after = reader.search(SearchQuery(page_size=2, page=2))
        assert dict(facets_of(after)["publisher"])["Commune nouvelle"] == 1
        assert after == counted(SearchQuery(page_size=2, page=2))
    finally:
        writer.close()
        reader.close()


def test_upsert_replaces_by_id(empty: SearchBackend) -> None:
    empty.upsert(HANDPICKED)
    empty.commit()
    renamed = doc(
        "velos", "Trottinettes en libre-service", publisher=["Ville de Lyon"], modified="2024-05-01"
    )
    empty.upsert([renamed])
    empty.commit()
    assert empty.search(SearchQuery()).total == len(HANDPICKED)  # replaced, not added
    assert "velos" not in all_ids(empty, q="velo")
    assert all_ids(empty, q="trottinettes") == ["velos"]
    publishers = dict(facets_of(empty.search(SearchQuery()))["publisher"])
    assert "Ville de Paris" not in publishers  # the old version's facet values are gone
    # the same id twice in one batch: the last version wins
    empty.upsert([doc("dup", "Première version"), doc("dup", "Seconde version")])
    empty.commit()
    assert all_ids(empty, q="version") == ["dup"]
    assert all_ids(empty, q="premiere") == []


def test_delete_and_ids(empty: SearchBackend) -> None:
    empty.upsert(HANDPICKED)
    empty.commit()
    empty.delete(["velos", "air", "no-such-id"])
    empty.commit()
    assert empty.ids() == {d.id for d in HANDPICKED} - {"velos", "air"}
    assert all_ids(empty, q="velo") == []
    assert empty.search(SearchQuery()).total == len(HANDPICKED) - 2


def test_clear_removes_everything(empty: SearchBackend) -> None:
    empty.upsert(HANDPICKED)
    empty.commit()
    # not committed yet: cleared too, with the new facet value it brought
    empty.upsert([doc("pending", "Ajouté avant le vidage", publisher=["Éphémère"])])
    empty.clear()
    assert empty.ids() == {d.id for d in HANDPICKED}  # readers keep the old index until the commit
    empty.commit()
    assert empty.ids() == set()
    assert empty.search(SearchQuery(q="velo")).total == 0
    empty.upsert([*HANDPICKED[:2], doc("again", "Ajouté après le vidage", publisher=["Éphémère"])])
    empty.commit()  # the index stays usable after a clear, and the dropped value can come back
    assert empty.ids() == {"velos", "air", "again"}
    publishers = facets_of(empty.search(SearchQuery()))["publisher"]
    assert publishers == [("Atmo Auvergne-Rhône-Alpes", 1), ("Ville de Paris", 1), ("Éphémère", 1)]
    assert all_ids(empty, filters={"publisher": ["Éphémère"]}) == ["again"]


@pytest.mark.parametrize("name", list(BACKENDS))
def test_index_persists_across_reopen(tmp_path: Path, name: str) -> None:
    backend = BACKENDS[name](tmp_path)
    backend.upsert(HANDPICKED)
    backend.commit()
    backend.close()
    reopened = BACKENDS[name](tmp_path)
    try:
        assert reopened.ids() == {d.id for d in HANDPICKED}
        assert all_ids(reopened, q="velo") == ["velos"]
        assert facets_of(reopened.search(SearchQuery())) == expected_facets([d.id for d in HANDPICKED])
        # a reopened writer adds new facet values beside the known ones
        added = doc("bornes", "Bornes de recharge", publisher=["Ville de Paris", "Enedis"], format=[CSV])
        reopened.upsert([added])
        reopened.commit()
        publishers = facets_of(reopened.search(SearchQuery()))["publisher"]
        assert ("Ville de Paris", 2) in publishers and ("Enedis", 1) in publishers
        assert all_ids(reopened, filters={"publisher": ["Enedis"]}) == ["bornes"]
    finally:
        reopened.close()


# -- parity -----------------------------------------------------------------------------------------

PARITY_QUERIES = [
    *(SearchQuery(q=q) for q in ["velo", "donnees", "stationnements", "hopital", "bus tram", "measurement"]),
    *(SearchQuery(q=q) for q in ODD_QUERIES),
    *(SearchQuery(filters={"theme": [THEME + t for t in themes]}) for themes in (["TRAN"], ["ENVI", "REGI"])),
    SearchQuery(),
    SearchQuery(q="velo"),
    SearchQuery(q="air quality"),
    SearchQuery(q="bus", filters={"format": [CSV, JSON]}),
    SearchQuery(q="donnees", filters={"theme": [THEME + "TRAN"], "licence": [ODBL]}),
    SearchQuery(modified_after="2018", modified_before="2021-06"),
    SearchQuery(q="elections", sort="-modified"),
    SearchQuery(q='"budget primitif', filters={"keyword": ["budget", "mot03"]}),
]


def _filled(make: Callable[[Path], SearchBackend], tmp: Path) -> SearchBackend:
    backend = make(tmp)
    backend.upsert(CORPUS)
    backend.commit()
    return backend


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[SearchBackend]:
    """The embedded engine holding CORPUS: every other backend must answer as it does."""
    backend = _filled(BACKENDS["embedded"], tmp_path_factory.mktemp("parity-embedded"))
    yield backend
    backend.close()


@pytest.fixture(scope="module", params=[name for name in BACKENDS if name != "embedded"])
def other(request, tmp_path_factory) -> Iterator[SearchBackend]:
    backend = _filled(BACKENDS[request.param], tmp_path_factory.mktemp(f"parity-{request.param}"))
    yield backend
    backend.close()


@pytest.mark.parametrize("query", PARITY_QUERIES, ids=lambda q: repr(q.q[:20]) if q.q else "no words")
def test_backends_agree_on_totals_facets_and_date_order(
    reference: SearchBackend, other: SearchBackend, query
) -> None:
    expected, got = reference.search(query), other.search(query)
    assert got.total == expected.total
    assert facets_of(got) == facets_of(expected)
    if query.sort != "relevance" or not query.q or other.name in ("elasticsearch", "embedded"):
        assert got.ids == expected.ids  # Lucene's BM25 over the same terms: the same relevance order here
    else:  # FTS5 ranks by its own bm25 (whole-row lengths): the same hits, another order
        assert set(all_ids(other, q=query.q, filters=query.filters)) == set(
            all_ids(reference, q=query.q, filters=query.filters)
        )


def skewed(n: int, seed: int = 11) -> list[SearchDocument]:
    """Hundreds of keyword and publisher values with Zipf-like counts and many ties, so that the
    embedded backend's segments each hold more values than its first facet pass reads."""
    rng = random.Random(seed)
    keywords = [f"thème {i:03d}" for i in range(400)]
    publishers = [f"Commune n°{i:03d}" for i in range(250)]
    weights = [1 / (rank + 1) for rank in range(400)]
    return [
        SearchDocument(
            id=f"skew-{i:05d}",
            title=rng.choice(["Budget", "Budget primitif", "Vélos", "Qualité de l'air"]),
            keyword=sorted(set(rng.choices(keywords, weights=weights, k=3))),
            publisher=[rng.choice(publishers)],
            format=[rng.choice([CSV, JSON])],
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("name", list(BACKENDS))
def test_facet_counts_stay_exact_across_many_segments_and_values(tmp_path: Path, name: str) -> None:
    docs = skewed(3000)
    by_id = {d.id: d for d in docs}
    backend = BACKENDS[name](tmp_path)
    for start in range(0, len(docs), 600):  # one segment per commit (before merges)
        backend.upsert(docs[start : start + 600])
        backend.commit()
    try:
        for query in (SearchQuery(), SearchQuery(q="budget"), SearchQuery(filters={"format": [CSV]})):
            result = backend.search(query)
            hits = all_ids(backend, q=query.q, filters=query.filters)
            for facet in ("keyword", "publisher"):
                counts = Counter(v for i in hits for v in getattr(by_id[i], facet))
                expected = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:FACET_SIZE]
                assert [(f.value, f.count) for f in result.facets[facet]] == expected, (query, facet)
    finally:
        backend.close()


def crowded(n: int, seed: int = 13) -> list[SearchDocument]:
    """Documents of federation clusters, holding the union of their copies' values: more formats, themes,
    languages, licences, sources and quality bands than the embedded backend keeps in its single-valued
    columns, beside documents with one value or none."""
    rng = random.Random(seed)
    file_type = "http://publications.europa.eu/resource/authority/file-type/"
    vocabularies = {
        "format": [file_type + f for f in ("CSV", "JSON", "SHP", "XLSX", "PDF", "ZIP", "XML", "KML")],
        "theme": [THEME + t for t in ("TRAN", "ENVI", "GOVE", "ENER", "HEAL", "EDUC", "REGI")],
        "language": ["http://publications.europa.eu/resource/authority/language/" + c
                     for c in ("FRA", "ENG", "DEU", "ITA", "SPA")],
        "licence": [f"https://licences.example.org/{i}" for i in range(5)],
        "source": [f"portal-{i}" for i in range(6)],
        "quality": ["excellent", "good", "sufficient", "bad"],
    }  # fmt: skip
    return [
        SearchDocument(
            id=f"crowd-{i:04d}",
            title=rng.choice(["Budget", "Vélos"]),
            **{
                facet: rng.sample(values, rng.choice([0, 1, 1, len(values) - 1]))
                for facet, values in vocabularies.items()
            },
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("name", list(BACKENDS))
def test_facets_of_many_values_per_document_count_each_value(tmp_path: Path, name: str) -> None:
    docs = crowded(600)
    by_id = {d.id: d for d in docs}
    backend = BACKENDS[name](tmp_path)
    if isinstance(backend, EmbeddedBackend):
        backend.parallel_facets_from = backend.slots_from = 0  # both threads, the slot columns
    for start in range(0, len(docs), 200):
        backend.upsert(docs[start : start + 200])
        backend.commit()
    try:
        for query in (SearchQuery(), SearchQuery(q="budget"), SearchQuery(filters={"source": ["portal-2"]})):
            result = backend.search(query)
            hits = all_ids(backend, q=query.q, filters=query.filters)
            assert len(hits) > 100
            for facet in ("format", "theme", "language", "licence", "source", "quality"):
                counts = Counter(v for i in hits for v in getattr(by_id[i], facet))
                expected = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:FACET_SIZE]
                assert [(f.value, f.count) for f in result.facets[facet]] == expected, (query, facet)
    finally:
        backend.close()


def test_parity_queries_mostly_have_hits(reference: SearchBackend) -> None:
    with_hits = [q for q in PARITY_QUERIES if reference.search(q).total > 0]
    assert len(with_hits) > len(PARITY_QUERIES) * 0.6  # agreement on empty results would prove little


def test_an_index_of_another_schema_is_refused_not_misread(tmp_path: Path) -> None:
    EmbeddedBackend(tmp_path).close()
    (tmp_path / "fedcat-schema-version").write_text("1 publisher,theme\n")
    with pytest.raises(ValueError, match="rebuild"):
        EmbeddedBackend(tmp_path)


def test_elasticsearch_terms_are_the_embedded_analyzers_terms() -> None:
    """The Elasticsearch backend analyses text word by word from a cache: the same terms as the
    analyzers on the whole text, for every field of every document and the odd strings, even when the
    cache is emptied along the way (limit 50)."""
    from fedcat.indexer.elasticsearch import TermCache
    from fedcat.indexer.embedded import analyze_field

    terms = TermCache(limit=50)
    texts = [getattr(d, f) for d in CORPUS for f in ("title", "description", "keywords_text")] + ODD_QUERIES
    texts += ["l'½ œuvre\u00a0Ærø — vélos\u2003hôpitaux", "x" * 80 + " court"]  # odd spaces, long tokens
    for text in texts:
        fr, en = terms(text)
        assert fr.split() == analyze_field(text, "fr"), text
        assert en.split() == analyze_field(text, "en"), text
