"""Reuses benchmark: what linking reuses to records costs the index and the API.

    python bench/reuses.py                                   # 100,000 datasets, 5,000 reuses
    python bench/reuses.py --workdir /tmp/fedcat-api-bench --keep   # the store bench/api.py keeps

The store is bench/api.py's (built by its `build`, reused when kept). Timed, with no reuse stored (the
baseline: most catalogues list none) and then with `--reuses` live reuses naming 3 random datasets each (as
data.gouv.fr's ~4,000 reuses do): the `has_reuses` lookup the index makes per 1,000 documents
(`Reuses.reused`, ids in feed order and at random), and the `reuses` block of a 20-item search page
(`of_records` through the clusters, then `summaries`), next to `Store.datasets` of the same page, which
every search page reads anyway. Medians and p95 over --reps calls; the reuses are removed at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

try:
    from fedcat.mappings.reuse import Reuse, ReusedDataset, reuse_to_json
    from fedcat.store import Store
    from fedcat.store.reuses import Reuses
except ImportError:  # run from a checkout without `pip install -e .`
    sys.exit("fedcat is not importable: pip install -e . first")


def _api_bench():
    """bench/ is not a package: load bench/api.py by path (its `build` fills the store)."""
    spec = importlib.util.spec_from_file_location("fedcat_bench_api", Path(__file__).with_name("api.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(call: Callable[[], object], reps: int) -> tuple[float, float]:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    ordered = sorted(samples)
    return statistics.median(samples), ordered[round(0.95 * (len(ordered) - 1))]


def _window(ids: list[str], rng: random.Random, size: int = 1000) -> list[str]:
    """`size` consecutive ids: a batch of the change feed, which lists records in the order pages wrote them."""
    start = rng.randrange(0, max(1, len(ids) - size))
    return ids[start : start + size]


def _add_reuses(store: Store, rows: list[tuple[str, str, str]], count: int, rng: random.Random) -> None:
    """`count` live reuses naming 3 random records each by their source's ids (written directly: the
    bench times the reads)."""
    with store.write() as db:
        for n in range(count):
            picked = rng.sample(rows, 3)
            reuse_id = f"{picked[0][1]}-bench-reuse-{n}"
            reuse = Reuse(title=f"Réutilisation {n}", datasets=[ReusedDataset(id=p[2]) for p in picked])
            db.execute(
                "INSERT INTO reuses (id, source_id, source_record_id, raw, raw_hash, reuse, type, first_seen,"
                " last_seen, last_run_id) VALUES (?, ?, ?, ?, '', ?, 'other', '', '', 0)",
                (reuse_id, picked[0][1], f"bench-reuse-{n}", zlib.compress(b"{}"), reuse_to_json(reuse)),
            )
            db.executemany(
                "INSERT INTO reuse_datasets (reuse_id, source_id, dataset_id) VALUES (?, ?, ?)",
                [(reuse_id, p[1], p[2]) for p in picked],
            )


def _remove_reuses(store: Store) -> None:
    with store.write() as db:
        db.execute(
            "DELETE FROM reuse_datasets WHERE reuse_id IN (SELECT id FROM reuses WHERE source_record_id LIKE 'bench-reuse-%')"
        )
        db.execute("DELETE FROM reuses WHERE source_record_id LIKE 'bench-reuse-%'")


def run(workdir: Path, size: int, reuses: int, reps: int, seed: int) -> None:
    print(f"fedcat reuses benchmark: {size:,} datasets, {reps} calls a case, seed {seed}")
    _api_bench().build(workdir, size, seed)
    store = Store(workdir / "fedcat.db")
    rng = random.Random(seed)
    rows = [tuple(r) for r in store.db.execute("SELECT id, source_id, source_record_id FROM records")]
    ids = [r[0] for r in rows]
    in_order = sorted(ids)
    table = Reuses(store)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("Store.datasets, a 20-item page (read anyway)", lambda: store.datasets(rng.sample(ids, 20))),
        (
            "reuses of a 20-item page",
            lambda: table.summaries([i for v in table.of_records(rng.sample(ids, 20)).values() for i in v]),
        ),
        ("has_reuses of 1,000 documents, feed order", lambda: table.reused(_window(in_order, rng))),
        ("has_reuses of 1,000 documents, at random", lambda: table.reused(rng.sample(ids, 1000))),
    ]
    _remove_reuses(store)
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in cases}
    try:
        for stage in ("no reuse", f"{reuses:,} reuses"):
            if stage != "no reuse":
                _add_reuses(store, rows, reuses, rng)
            for label, call in cases:
                results[label].append(_timed(call, reps))
    finally:
        _remove_reuses(store)
        store.close()
    print(f"\n{'case':46} {'no reuse p50':>13} {'p95':>9} {f'{reuses:,} reuses p50':>19} {'p95':>9}")
    for label, ((base50, base95), (with50, with95)) in results.items():
        print(f"{label:46} {base50:>10.2f} ms {base95:>6.2f} ms {with50:>16.2f} ms {with95:>6.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="datasets in the store")
    parser.add_argument("--reuses", type=int, default=5_000, help="live reuses in the second stage")
    parser.add_argument("--workdir", type=Path, help="bench/api.py's store (default: a temp dir)")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep (and later reuse) the store and index")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-reuses-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(workdir, args.size, args.reuses, args.reps, args.seed)
    finally:
        if not args.keep:
            _api_bench().remove_built(workdir, temporary=args.workdir is None)


if __name__ == "__main__":
    main()
