"""Change-feed and re-map benchmark on the bench store (issue 11).

    python bench/feed.py                          # 100,000 generated DCAT-AP datasets
    python bench/feed.py --size 20000 --repeat 1  # a quick run
    python bench/feed.py --workdir /tmp/feedbench # keep (and reuse) the harvested store

The store is made by harvesting bench/harvest.py's generated catalogue over loopback (the real code, in a
fresh process; reused from --workdir when it holds the size). Then, each in a fresh process, medians of
--repeat runs:

- `fedcat remap`'s work (`harvester.mapping.remap`) over every record: with today's mapping version (each
  payload mapped again and compared, nothing written) and with another one (every record's mapping version
  written), in records/s; the baseline, in the same run, is reading and decompressing the same payloads
  in the same batches (the store's floor);
- each view catching up from the start of the feed (a rebuild): the search index (embedded, a fresh index
  with its quality scores), the SPARQL store (a fresh pyoxigraph store), the audit facts, the SHACL
  results; in feed entries/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harvest import _config, harvest_child, serve
from processes import in_child, start_server

TARGET = 5000  # records/s re-mapped, issue 11


def build(workdir: Path, size: int) -> None:
    from fedcat.store import Store

    if (workdir / "store.db").exists():
        store = Store(workdir / "store.db")
        try:
            if store.count() == size:
                return
        finally:
            store.close()
        for leftover in workdir.iterdir():
            if leftover.is_file():
                leftover.unlink()
    server, stop, base_url = start_server(serve, size)
    try:
        result = in_child(harvest_child, base_url, str(workdir), False, None, None)
    finally:
        stop.set()
        server.join(timeout=10)
    print(f"harvested {result['stored']:,} datasets into the bench store in {result['elapsed']:.0f} s")


def remap_child(workdir: str, stale: bool, out) -> None:  # type: ignore[no-untyped-def]
    from fedcat.harvester.mapping import remap
    from fedcat.mappings import version
    from fedcat.store import Store

    store = Store(Path(workdir) / "store.db")
    config = _config("http://127.0.0.1:1")
    if stale:  # another mapping version: every record's version gets written
        version.MAPPING_CODE = int(time.time())
        version.mapping_version.cache_clear()
    started = time.perf_counter()
    [report] = remap(store, config.settings, config.sources).values()
    elapsed = time.perf_counter() - started
    store.close()
    out.put({"elapsed": elapsed, "read": report.read, "changed": report.changed, "stamped": report.stamped})


def read_child(workdir: str, out) -> None:  # type: ignore[no-untyped-def]
    """The floor: the same payloads read and decompressed, in the same batches, nothing mapped."""
    from fedcat.harvester.mapping import BATCH
    from fedcat.store import Store

    store = Store(Path(workdir) / "store.db")
    started, after, read = time.perf_counter(), 0, 0
    while True:
        rows, after = store.payloads("bench", after, BATCH)
        if not rows:
            break
        read += len(rows)
    out.put({"elapsed": time.perf_counter() - started, "read": read})


def view_child(workdir: str, view: str, out) -> None:  # type: ignore[no-untyped-def]
    from fedcat.audit.families import recognise
    from fedcat.indexer.documents import SearchView
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.indexer.sparql import SparqlStore, catalog_info_from_store
    from fedcat.mappings.publishers import PublisherNames, default_aliases
    from fedcat.store import Store, feed
    from fedcat.store.audit import AuditFacts
    from fedcat.store.shacl import ShaclResults

    store = Store(Path(workdir) / "store.db")
    with tempfile.TemporaryDirectory(prefix="fedcat-bench-view-") as scratch:
        started = time.perf_counter()
        if view == "search":
            backend = EmbeddedBackend(Path(scratch) / "index")
            names = PublisherNames.from_mapping({}, default_aliases())
            target = SearchView(store, backend, {"bench": "country:FR"}, names)
            done = _rebuild(store, feed, target, batch=5000)
            backend.close()
        elif view == "sparql":
            sparql = SparqlStore.open(Path(scratch) / "sparql")
            started = time.perf_counter()
            done = sparql.sync(store, catalog_info_from_store(store, "http://fedcat.test"))
            sparql.close()
        elif view == "audit":
            done = _rebuild(store, feed, AuditFacts(store, recognise), batch=2000)
        else:
            done = _rebuild(store, feed, ShaclResults(store), batch=2000)
        elapsed = time.perf_counter() - started
    store.close()
    out.put({"elapsed": elapsed, "entries": done})


def _rebuild(store, feed, view, batch: int) -> int:  # type: ignore[no-untyped-def]
    """Catch a view up from the feed's start under a cursor name of its own (the store's are left as they
    are); the cursor is dropped afterwards."""
    view.name = f"bench-{view.name}"
    feed.reset(store, view.name)
    done = feed.catch_up(store, view, batch=batch)
    with store.write() as db:
        db.execute("DELETE FROM cursors WHERE view = ?", (view.name,))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the harvested store there")
    parser.add_argument(
        "--views", default="search,sparql,audit,shacl", help="views to rebuild (comma-separated, or '')"
    )
    args = parser.parse_args(argv)
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-bench-feed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        build(workdir, args.size)
        floor, current, stale = [], [], []
        for _ in range(args.repeat):  # interleaved: the machine's drift hits all three alike
            floor.append(in_child(read_child, str(workdir)))
            current.append(in_child(remap_child, str(workdir), False))
            stale.append(in_child(remap_child, str(workdir), True))
        base = statistics.median(r["read"] / r["elapsed"] for r in floor)
        print(f"\nre-map of {args.size:,} records, medians of {args.repeat}:")
        print(f"  baseline: read and decompress the payloads   {base:10,.0f} records/s")
        for name, runs in (
            ("today's mapping version (no write)", current),
            ("another version (versions written)", stale),
        ):
            rate = statistics.median(r["read"] / r["elapsed"] for r in runs)
            changed = max(r["changed"] for r in runs)
            verdict = "meets" if rate >= TARGET else "below"
            print(
                f"  remap, {name:37} {rate:10,.0f} records/s  ({rate / base:.2f}x the baseline,"
                f" {verdict} the {TARGET:,}/s target; {changed} changed)"
            )
        views = [v for v in args.views.split(",") if v]
        if views:
            print(
                f"\nviews catching up from the feed's start ({args.size:,} records), medians of {args.repeat}:"
            )
        for view in views:
            runs = [in_child(view_child, str(workdir), view) for _ in range(args.repeat)]
            rate = statistics.median(r["entries"] / r["elapsed"] for r in runs)
            seconds = statistics.median(r["elapsed"] for r in runs)
            print(f"  {view:8} {rate:10,.0f} entries/s  ({seconds:.1f} s)")
    finally:
        if not keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
