"""What the quality score costs: scoring, the publisher recount, and `/api/quality` stored vs on the fly.

    python bench/quality.py [--records 100000]

Builds a store of generated records (3 distributions each, 40 sources, ~2,000 publisher spellings), scores
them the way the indexer does (`indexer.derived.derive`, which also writes the `quality` rows), then times
the alternatives for the `/api/quality` aggregate. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from fedcat.api.quality import report
from fedcat.indexer import derived
from fedcat.mappings.model import Agent, ContactPoint, Dataset, Distribution, Text
from fedcat.mappings.quality import aggregate, dataset_urls, score
from fedcat.store import Store, Upsert, payload_hash

FT = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "http://www.iana.org/assignments/media-types/"


def dataset(i: int) -> Dataset:
    town = f"Commune {i % 500}"
    name = ("Ville de " + town, "Mairie de " + town, town.upper(), town)[(i // 40) % 4]  # 4 per source
    return Dataset(
        uri=f"https://fedcat.example/datasets/{i}",
        title=[Text(f"Jeu de données {i}", "fr")],
        keywords=[Text("mobilité", "fr")] if i % 3 else [],
        themes=["http://publications.europa.eu/resource/authority/data-theme/TRAN"],
        publisher=Agent(name=[Text(name)]),
        contact_points=[ContactPoint(email="a@b.example")] if i % 2 else [],
        licence="http://publications.europa.eu/resource/authority/licence/ETALAB_2_0",
        modified="2024-01-01",
        distributions=[
            Distribution(
                access_url=[f"https://files.example/{i}/{n}"],
                download_url=[f"https://files.example/{i}/{n}.{fmt.lower()}"],
                format=FT + fmt,
                media_type=IANA + mt,
            )
            for n, (fmt, mt) in enumerate(
                (("CSV", "text/csv"), ("JSON", "application/json"), ("PDF", "application/pdf"))
            )
        ],
    )


def timed(label: str, fn, per: int | None = None):
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    extra = f" ({elapsed / per * 1e6:.1f} µs each)" if per else ""
    print(f"{label:<58} {elapsed:8.3f} s{extra}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    n = parser.parse_args().records
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "fedcat.db")
        datasets = [dataset(i) for i in range(n)]
        for start in range(0, n, 5000):
            chunk = range(start, min(start + 5000, n))
            upserts = [
                Upsert(
                    f"s{i % 40}-{i:08d}",
                    str(i),
                    datasets[i],
                    b"{}",
                    "application/json",
                    payload_hash(b"{}"),
                    "",
                )
                for i in chunk
            ]
            for source in {i % 40 for i in chunk}:
                store.save_page(f"s{source}", 1, [u for u in upserts if u.id.startswith(f"s{source}-")], [])
        print(f"{n} records, {sum(len(d.distributions) for d in datasets)} distributions")
        timed("score() alone, no link checks", lambda: [score(d) for d in datasets], n)
        checks = {u: True for d in datasets[: n // 2] for u in dataset_urls(d)}
        timed(
            "score() alone, half the URLs checked",
            lambda: [score(d, link_checks=checks) for d in datasets],
            n,
        )
        names = timed(
            "publisher recount, first time (marks merged spellings)", lambda: derived.refresh(store)
        )
        timed("publisher recount, nothing changed (every sync)", lambda: derived.refresh(store))
        records = [(f"s{i % 40}-{i:08d}", f"s{i % 40}", d) for i, d in enumerate(datasets)]
        timed(
            "derive(): link-check lookup + score + quality rows, by 5,000",
            lambda: [derived.derive(store, names, records[s : s + 5000]) for s in range(0, n, 5000)],
            n,
        )
        timed("/api/quality by source, from the quality table", lambda: report(store, "source", None, {}))
        timed(
            "/api/quality by publisher, from the quality table", lambda: report(store, "publisher", None, {})
        )

        def on_the_fly():
            rows = ((r["source_id"], score(r["dataset"])) for r in store.iter_records())
            return aggregate((s, q.total, q.dimensions) for s, q in rows)

        timed("/api/quality by source, decoding and scoring every record", on_the_fly)
        store.close()


if __name__ == "__main__":
    main()
