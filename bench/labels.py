"""What the labels sources give to IRIs cost: the `iri_labels` view kept from the change feed, and the facet
labels a search page asks for.

    python bench/labels.py [--records 100000] [--repeat 5]

The store: --records generated records over 20 sources, each with 3 themes: one EU data theme (labelled by
fedcat's vocabulary, so never looked up), one of 2,000 GEMET-like concepts and one of 500 AGROVOC-like ones,
these two with the labels their source gives (fr and en). Times (medians of --repeat): the first catch-up
(every record's labels read), a catch-up after 1% of the records changed, and the lookup of 100 unlabelled
facet values (a search page's facets) — against, in the same run, the baseline of one search page's store
read (`Store.datasets` of 20 ids). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedcat.mappings.model import Dataset, Text
from fedcat.store import Store, Upsert, feed, payload_hash
from fedcat.store import labels as source_labels

SOURCES = 20
GEMET = "http://www.eionet.europa.eu/gemet/concept/"
AGROVOC = "http://aims.fao.org/aos/agrovoc/c_"
TRAN = "http://publications.europa.eu/resource/authority/data-theme/TRAN"


def median_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def dataset(i: int, round_: int) -> Dataset:
    gemet, agrovoc = f"{GEMET}{i % 2000}", f"{AGROVOC}{i % 500}"
    return Dataset(
        uri=f"https://fedcat.example/datasets/{i}",
        title=[Text(f"Jeu {i} v{round_}", "fr")],
        themes=[TRAN, gemet, agrovoc],
        labels={
            gemet: [Text(f"concept {i % 2000}", "en"), Text(f"concept {i % 2000} fr", "fr")],
            agrovoc: [Text(f"agro {i % 500}", "en")],
        },
    )


def fill(store: Store, n: int, round_: int = 0) -> None:
    for start in range(0, n, 5000):
        by_source: dict[int, list[Upsert]] = {}
        for i in range(start, min(start + 5000, n)):
            if round_ and i % 100 != round_:
                continue
            raw = f"{i}-{round_}".encode()
            by_source.setdefault(i % SOURCES, []).append(
                Upsert(f"s{i % SOURCES}-{i:08d}", str(i), dataset(i, round_), raw, "application/json",
                       payload_hash(raw), "")
            )  # fmt: skip
        for source, upserts in by_source.items():
            store.save_page(f"s{source}", 1, upserts, [])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fedcat.db"
        store = Store(path)
        from types import SimpleNamespace

        store.sync_sources(
            SimpleNamespace(id=f"s{s}", name=f"s{s}", type="dcat", url="", jurisdiction=None)
            for s in range(SOURCES)
        )
        fill(store, args.records)
        started = time.perf_counter()
        source_labels.catch_up(store)
        first = time.perf_counter() - started
        rows = store.db.execute("SELECT count(*) FROM iri_labels").fetchone()[0]

        def one_percent() -> None:
            fill(store, args.records, round_=len(changed) + 1)
            changed.append(1)
            started = time.perf_counter()
            source_labels.catch_up(store)
            timings.append(time.perf_counter() - started)

        changed: list[int] = []
        timings: list[float] = []
        for _ in range(args.repeat):
            one_percent()
        facet_values = [f"{GEMET}{k}" for k in range(50)] + [f"{AGROVOC}{k}" for k in range(50)]
        lookup = median_of(args.repeat * 4, lambda: source_labels.given(store, facet_values))
        ids = [f"s{i % SOURCES}-{i:08d}" for i in range(0, 20 * 997, 997)]
        baseline = median_of(args.repeat * 4, lambda: store.datasets(ids))
        print(f"records: {args.records:,}; label rows: {rows:,}; feed head {feed.head(store):,}")
        print(
            f"first catch-up (every record's labels): {first:.2f} s ({args.records / first:,.0f} records/s)"
        )
        print(f"catch-up after 1% changed: median {statistics.median(timings) * 1000:.1f} ms")
        print(f"labels of 100 facet values: median {lookup * 1000:.2f} ms")
        print(f"baseline, one search page's store read (20 datasets): median {baseline * 1000:.2f} ms")
        print(f"ratio lookup / baseline: {lookup / baseline:.2f}")
        store.close()


if __name__ == "__main__":
    main()
