"""The native facet counter (fedcat._native, built from native/) against tantivy's aggregations.

The embedded backend counts facets natively when the extension is built, else with tantivy's terms
aggregations (the Python path, kept as the fallback): both must give the same totals, counts and orders,
on a fixed data set and on generated ones, follow new commits and skip deleted documents. The whole
conformance suite (tests/test_search_backends.py) also runs both ways ("embedded", "embedded-aggregations").
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fedcat.indexer.backend import FACETS, SearchDocument, SearchQuery
from fedcat.indexer.embedded import EmbeddedBackend, FacetCounter

pytestmark = pytest.mark.skipif(
    FacetCounter is None, reason="fedcat._native is not built (pip install -e . needs cargo for it)"
)

THEME = "http://publications.europa.eu/resource/authority/data-theme/"
FORMATS = ["CSV", "JSON", "SHP", "PDF", "XLSX", "ZIP"]
WORDS = ["budget", "vélos", "transport", "air", "école", "parking"]


def documents(n: int, seed: int, prefix: str = "doc") -> list[SearchDocument]:
    """Documents with few values per facet, so that counts tie often (ties go by value)."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        words = rng.sample(WORDS, rng.randint(1, 3))
        lon, lat = rng.uniform(-10, 20), rng.uniform(40, 55)
        docs.append(
            SearchDocument(
                id=f"{prefix}-{seed}-{i:05d}",
                title=" ".join(words),
                description=rng.choice(["données ouvertes", "open data", ""]),
                modified=rng.choice(
                    ["", f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"]
                ),
                publisher=[f"Ville {rng.randint(1, 30)}"],
                theme=[THEME + t for t in rng.sample(["TRAN", "ENVI", "GOVE", "REGI"], rng.randint(0, 2))],
                format=rng.sample(FORMATS, rng.randint(0, 6)),  # up to 6: past the 4 slots
                licence=[rng.choice(["etalab", "odbl"])],
                keyword=rng.sample(WORDS + [f"k{j}" for j in range(40)], rng.randint(0, 5)),
                source=[f"portal-{rng.randint(1, 5)}"],
                jurisdiction=[f"commune:{rng.randint(1, 200)}"],
                language=rng.sample(["FRA", "ENG", "DEU"], rng.randint(0, 3)),
                quality=[rng.choice(["good", "sufficient", "bad"])],
                has_reuses=[rng.choice(["true", "false"])],
                bbox=[lon, lat, lon + 1, lat + 1] if rng.random() < 0.5 else [],
            )
        )
    return docs


QUERIES = [
    SearchQuery(),
    SearchQuery(q="budget"),
    SearchQuery(q="vélos transport"),
    SearchQuery(q="nothing-matches-this"),
    SearchQuery(filters={"format": ["CSV", "SHP"]}),
    SearchQuery(q="air", filters={"source": ["portal-2"], "theme": [THEME + "ENVI"]}),
    SearchQuery(filters={"format": ["never-indexed"]}),
    SearchQuery(modified_after="2015", modified_before="2020-06"),
    SearchQuery(bbox=(0.0, 42.0, 10.0, 50.0)),
    SearchQuery(bbox=(170.0, -10.0, -170.0, 60.0)),  # across the antimeridian: nothing here
    SearchQuery(q="parking", facet_size=3),  # small tops: ties at the cut
    SearchQuery(facets=("keyword", "jurisdiction"), facet_size=1),
]


def pair(path: Path) -> tuple[EmbeddedBackend, EmbeddedBackend]:
    """The same index counted natively and by aggregations, keeping no answer; both count on every path
    (two threads, and the slot columns for the aggregations), whatever the number of hits."""
    native = EmbeddedBackend(path, answer_cache=0)
    python = EmbeddedBackend(path, answer_cache=0, native_facets=False)
    assert native._counter is not None and python._counter is None
    for backend in (native, python):
        backend.parallel_facets_from = backend.slots_from = 0
    return native, python


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[EmbeddedBackend, EmbeddedBackend, EmbeddedBackend]]:
    """A writer and the two ways of reading, over 3 commits (3 segments at least)."""
    writer = EmbeddedBackend(tmp_path, writer_heap=50_000_000)
    for seed in range(3):
        writer.upsert(documents(300, seed))
        writer.commit()
    native, python = pair(tmp_path)
    yield writer, native, python
    for backend in (writer, native, python):
        backend.close()


def expected(docs: list[SearchDocument], facet: str, size: int) -> list[tuple[str, int]]:
    counts = Counter(v for d in docs for v in dict.fromkeys(getattr(d, facet)) if v)
    return sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:size]


def facets(result) -> dict[str, list[tuple[str, int]]]:
    return {name: [(f.value, f.count) for f in values] for name, values in result.facets.items()}


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_native_counts_equal_the_aggregations(index, query: SearchQuery) -> None:
    _writer, native, python = index
    got, reference = native.search(query), python.search(query)
    assert got == reference
    assert list(got.facets) == list(dict.fromkeys(query.facets))


def test_native_counts_are_the_documents_counts(index) -> None:
    """Not only equal to the aggregations: equal to the counts of the documents themselves."""
    _writer, native, _python = index
    docs = [d for seed in range(3) for d in documents(300, seed) if "budget" in d.title]
    result = native.search(SearchQuery(q="budget", facet_size=5))
    assert result.total == len(docs)
    assert facets(result) == {facet: expected(docs, facet, 5) for facet in FACETS}


@pytest.mark.parametrize("seed", range(5))
def test_generated_indexes_agree(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    writer = EmbeddedBackend(tmp_path, writer_heap=50_000_000)
    for batch in range(rng.randint(1, 4)):
        writer.upsert(documents(rng.randint(1, 200), seed * 10 + batch))
        writer.commit()
    native, python = pair(tmp_path)
    try:
        for _ in range(10):
            query = SearchQuery(
                q=" ".join(rng.sample(WORDS, rng.randint(0, 2))),
                filters={"format": rng.sample(FORMATS, rng.randint(0, 2))},
                facet_size=rng.choice([1, 2, 5, 50]),
                sort=rng.choice(["relevance", "modified", "-modified"]),
            )
            assert native.search(query) == python.search(query), query
    finally:
        for backend in (writer, native, python):
            backend.close()


def test_a_commit_is_counted_by_a_reader_already_open(index) -> None:
    writer, native, python = index
    before = native.search(SearchQuery(q="budget")).facets["publisher"]
    added = [
        SearchDocument(id=f"new-{i}", title="budget", publisher=["Nouvelle ville"], format=["CSV"])
        for i in range(500)
    ]
    writer.upsert(added)
    writer.commit()  # a new segment; the readers are other backends on the same directory
    after = native.search(SearchQuery(q="budget"))
    assert after.facets["publisher"][0].value == "Nouvelle ville"
    assert after.facets["publisher"][0].count == 500
    assert after.facets["publisher"][1:] == before[: len(after.facets["publisher"]) - 1]
    assert after == python.search(SearchQuery(q="budget"))


def test_deleted_documents_are_not_counted(index) -> None:
    writer, native, python = index
    query = SearchQuery(filters={"source": ["portal-1"]})
    counts = {f.value: f.count for f in native.search(query).facets["source"]}
    gone = [d.id for d in documents(300, 1) if d.source == ["portal-1"]]
    assert gone and counts == {"portal-1": counts["portal-1"]}
    writer.delete(gone)
    writer.commit()  # the segments still hold the deleted documents until a merge
    result = native.search(query)
    assert result.total == counts["portal-1"] - len(gone)
    assert [f.count for f in result.facets["source"]] == [result.total]
    assert result == python.search(query)


def test_a_malformed_query_is_a_clear_error(tmp_path: Path) -> None:
    EmbeddedBackend(tmp_path).close()
    counter = FacetCounter(str(tmp_path), list(FACETS))
    with pytest.raises(ValueError, match="unknown query node"):
        counter.count('["nonsense"]', ["format"], 10)
    with pytest.raises(ValueError, match="no field"):
        counter.count('["term", "no_such_field", 1, 1.0]', ["format"], 10)
    with pytest.raises(ValueError, match="query"):
        counter.count("{not json", ["format"], 10)
    with pytest.raises(ValueError, match="not a facet field"):
        counter.count('["all"]', ["title_fr"], 10)
    with pytest.raises(ValueError, match="no field"):
        FacetCounter(str(tmp_path), ["no_such_field"])
    with pytest.raises(OSError):
        FacetCounter(str(tmp_path / "missing"), list(FACETS))


def test_status_says_whether_facets_are_counted_natively(tmp_path: Path) -> None:
    """`fedcat status` and /health tell an administrator which counter answers (the fallback is slower)."""
    native = EmbeddedBackend(tmp_path / "native")
    fallback = EmbeddedBackend(tmp_path / "aggregations", native_facets=False)
    try:
        assert native.health()["facets"] == "native"
        assert fallback.health()["facets"] == "tantivy aggregations"
    finally:
        native.close()
        fallback.close()
