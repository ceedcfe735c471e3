"""Elasticsearch beside the embedded engine on the same documents, in the same run.

    .ci/elasticsearch start                                   # a local node (prints its URL)
    python bench/elasticsearch.py --url http://127.0.0.1:9200 # 100,000 documents (a few minutes)
    python bench/elasticsearch.py --size 1000000              # the issue's 1M figure (tens of minutes)
    python bench/elasticsearch.py --baseline ../base/indexer/elasticsearch.py   # old code beside, same run
    python bench/elasticsearch.py --index-only --rounds 3 ...  # only the builds (no embedded engine, no queries)
    python bench/elasticsearch.py --baseline-url http://127.0.0.1:9201 ...  # old builds on another node
    python bench/elasticsearch.py --final-segments 0 --baseline ...  # no final merge: its time vs the queries'

Both engines index the same generated catalogue (`bench/search.py`'s `generate_documents`, written once to
a JSON-lines file and streamed from it: memory does not grow with --size) the way fedcat does: the embedded
engine with a commit every 50,000 documents, Elasticsearch as `fedcat reindex` does (a new generation
filled by bulk requests of ~20 MB, two in flight unless --in-flight or --bulk-mb say otherwise, merged into
one segment, then the alias switch), so its rate includes fedcat's own text analysis, the JSON encoding,
the HTTP requests and the final merge (printed apart too). Beside each rate: the CPU time a document took
(this process's; for Elasticsearch the node's too, from its own stats), steadier than the wall clock when
the machine is shared, and the rate the two cores would give at that CPU cost (2 cores / CPU a document).

With --baseline, another checkout's `indexer/elasticsearch.py` (the old code) builds a generation of its
own from the same file, the two taking turns (--rounds), and answers the same queries in the same turns.

Then each engine answers the same queries with every facet counted (`bench/search.py`'s choice: a rare
word, a common word, three words, each with and without a filter, and every document), timed through the
backend: p50 and p95 over --reps after a warm-up, the variants taking turns query by query. Elasticsearch
is timed twice: without the node's shard request cache (`es nocache`: what a query never asked before
costs, the engine's own figure beside the embedded engine's, which keeps no answers either), and with the
node's default caches (`es default`: the facet counts, asked without hits, are cached until the next
refresh, so the repetitions of one query read them; this measures repeated queries, the hits part is
computed every time). The old code's single request has hits, which the node does not cache by default, so
its one figure is both. Totals are checked equal between engines.

The node's URL: --url, else FEDCAT_TEST_ELASTICSEARCH_URL or FEDCAT_ELASTICSEARCH_URL.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

# Run as a script, this file's folder comes first on sys.path and its name would hide the client package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

try:
    from fedcat.bench.search import _choose_queries, _load, _remove, _time_queries, generate_documents
    from fedcat.indexer.backend import SearchBackend, SearchDocument, SearchQuery
    from fedcat.indexer.elasticsearch import ElasticsearchBackend
    from fedcat.indexer.embedded import EmbeddedBackend
except ImportError as exc:  # run from a checkout without `pip install -e '.[elasticsearch]'`
    sys.exit(f"fedcat with its elasticsearch extra is not importable ({exc}): pip install -e '.[test]' first")

PREFIX = "fedcat-bench"


def _write_corpus(path: Path, size: int, seed: int) -> None:
    """The generated documents as JSON lines, once, so that generating them is timed in neither engine."""
    encode = msgspec.json.Encoder().encode
    with path.open("wb") as out:
        for doc in generate_documents(size, seed):
            out.write(encode(doc) + b"\n")


def _read_corpus(path: Path) -> Iterator[SearchDocument]:
    decode = msgspec.json.Decoder(SearchDocument).decode
    with path.open("rb") as lines:
        for line in lines:
            yield decode(line)


def _fill(backend: SearchBackend, corpus: Path, batch: int, commit_every: int) -> float:
    """Index the corpus file's documents in batches; returns the seconds taken (commits included)."""
    docs = _read_corpus(corpus)
    started = time.perf_counter()
    done = 0
    while chunk := list(itertools.islice(docs, batch)):
        backend.upsert(chunk)
        done += len(chunk)
        if done % commit_every < batch:
            backend.commit()
    backend.commit()
    return time.perf_counter() - started


def _node_cpu(backend: ElasticsearchBackend) -> float:
    """CPU seconds the node's process has used (all its threads): on a shared machine, the wall clock
    measures the neighbours too, the CPU time mostly the work."""
    nodes = backend.client.nodes.stats(metric="process").body["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000


def _embedded(path: Path, corpus: Path) -> tuple[EmbeddedBackend, float, float]:
    _remove(path)
    backend = EmbeddedBackend(path, answer_cache=0)  # the engine, not the kept answers
    cpu = time.process_time()
    seconds = _fill(backend, corpus, batch=5_000, commit_every=50_000)
    backend.close()  # waits for merges: the searches below run on the settled index
    return EmbeddedBackend(path, answer_cache=0), seconds, time.process_time() - cpu


def _baseline_backend(path: Path) -> Any:
    """The ElasticsearchBackend class of another checkout's `indexer/elasticsearch.py`, loaded beside this
    one's in the `fedcat.indexer` package (its relative imports read this checkout's modules)."""
    spec = importlib.util.spec_from_file_location("fedcat.indexer._baseline_elasticsearch", path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ElasticsearchBackend


def _elasticsearch(
    backend_class: Callable[..., Any],
    prefix: str,
    url: str,
    corpus: Path,
    in_flight: int,
    bulk_bytes: int,
    options: dict[str, Any],
) -> tuple[Any, float, float, float, float]:
    backend = backend_class(  # the engine, not kept answers; a loaded machine's slow bulks are waited for
        url,
        index_prefix=prefix,
        request_cache=False,
        bulks_in_flight=in_flight,
        bulk_bytes=bulk_bytes,
        request_timeout=600,
        **options,
    )
    node, cpu = _node_cpu(backend), time.process_time()
    started = time.perf_counter()
    # what `fedcat reindex` does: a new generation, merged into one segment, then the alias switch
    with backend.rebuilding():
        bulks = _fill(backend, corpus, batch=5_000, commit_every=50_000)
    seconds = time.perf_counter() - started
    node, cpu = _node_cpu(backend) - node, time.process_time() - cpu
    return backend, seconds, bulks, cpu, node


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        default=os.environ.get("FEDCAT_TEST_ELASTICSEARCH_URL") or os.environ.get("FEDCAT_ELASTICSEARCH_URL"),
    )
    parser.add_argument(
        "--size", type=int, default=100_000, help="documents (1000000 for the issue's figure)"
    )
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cap", type=float, default=30.0, help="seconds at most per query series")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the embedded index goes (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep both indexes afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the corpus, embedded index and generations a --keep run left (only queries are timed)",
    )
    parser.add_argument("--in-flight", type=int, default=2, help="bulk requests sent at once (default 2)")
    parser.add_argument("--bulk-mb", type=int, default=20, help="a bulk request's size in MB (default 20)")
    parser.add_argument(
        "--baseline", type=Path, help="the old code's indexer/elasticsearch.py, timed beside in the same run"
    )
    parser.add_argument(
        "--baseline-url",
        help="the node the old code builds on (default --url): another node's settings beside, same run",
    )
    parser.add_argument(
        "--final-segments",
        type=int,
        help="segments this code's generations are merged into (0: no final merge; default FINAL_SEGMENTS)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="generations built per code, taking turns")
    parser.add_argument(
        "--index-only",
        action="store_true",
        help="time only the Elasticsearch builds (no embedded engine, no queries)",
    )
    parser.add_argument("--prefix", default=PREFIX, help=f"index prefix (default {PREFIX})")
    args = parser.parse_args(argv)
    if not args.url:
        sys.exit("no Elasticsearch node: pass --url (`.ci/elasticsearch start` starts one and prints it)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-bench-es-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"fedcat Elasticsearch benchmark: {args.size:,} documents, seed {args.seed}, node {args.url}; {_load()}"
    )

    corpus = workdir / f"corpus-{args.size}-{args.seed}.jsonl"
    tantivy = workdir / f"tantivy-{args.size}-{args.seed}"
    if not (args.reuse and corpus.exists()):
        started = time.perf_counter()
        _write_corpus(corpus, args.size, args.seed)
        print(f"generated {args.size:,} documents in {time.perf_counter() - started:.1f} s (not timed below)")
    per_doc = 1e6 / args.size
    if args.index_only:
        embedded, embedded_s = None, 0.0
    elif args.reuse and tantivy.exists():
        embedded = EmbeddedBackend(tantivy, answer_cache=0)
        embedded_s = 0.0
        print(f"embedded       reused from {tantivy} (indexing rate not measured in this run)")
    else:
        embedded, embedded_s, embedded_cpu = _embedded(tantivy, corpus)
        print(
            f"embedded       indexed in {embedded_s:7.1f} s = {args.size / embedded_s:9,.0f} docs/s "
            f"(CPU {embedded_cpu * per_doc:.0f} µs a document); {_load()}"
        )

    codes: dict[str, tuple[Callable[..., Any], str, str]] = {
        "new": (ElasticsearchBackend, args.prefix, args.url)
    }
    if args.baseline or args.baseline_url:
        old_class = _baseline_backend(args.baseline) if args.baseline else ElasticsearchBackend
        codes["old"] = (old_class, args.prefix + "-old", args.baseline_url or args.url)
    built: dict[str, Any] = {}
    new_options: dict[str, Any] = {}
    if args.final_segments is not None:  # 0: no final merge
        new_options["final_segments"] = args.final_segments or None
    runs: dict[str, list[tuple[float, float, float, float, float]]] = {name: [] for name in codes}
    for name, (backend_class, prefix, url) in codes.items():
        if args.reuse:  # a generation of --size documents a --keep run left: searched, not rebuilt
            kept = backend_class(url, index_prefix=prefix, request_cache=False)
            if kept.live_generation() and kept.search(SearchQuery(facets=())).total == args.size:
                built[name] = kept
                print(f"es {name:3} reused generation {kept.live_generation()} (indexing not measured)")
            else:
                kept.close()
    for turn in range(0 if len(built) == len(codes) else args.rounds):
        for name in list(codes) if turn % 2 == 0 else list(codes)[::-1]:
            backend_class, prefix, url = codes[name]
            if name in built:
                built[name].close()
            backend, seconds, bulks, cpu, node = _elasticsearch(
                backend_class,
                prefix,
                url,
                corpus,
                args.in_flight,
                args.bulk_mb * 1_000_000,
                new_options if name == "new" else {},
            )
            built[name] = backend
            runs[name].append((seconds, bulks, backend.merge_seconds, cpu * per_doc, node * per_doc))
            print(
                f"es {name:3} build {turn + 1}: {seconds:6.1f} s = {args.size / seconds:7,.0f} docs/s (bulks "
                f"{bulks:.1f} s, final merge {backend.merge_seconds:.1f} s; CPU a document: fedcat "
                f"{cpu * per_doc:.0f} µs, node {node * per_doc:.0f} µs); {_load()}"
            )
    if any(runs.values()):
        print(
            f"\nindexing, medians over {args.rounds} build(s) each ({args.in_flight} bulks of {args.bulk_mb} MB "
            "in flight); '2-core rate' = 2 s of CPU / (fedcat + node CPU a document), what an idle machine allows"
        )
        if embedded_s:
            print(f"  embedded  {args.size / embedded_s:9,.0f} docs/s")
        for name, figures in runs.items():
            if not figures:
                continue
            seconds, bulks, merge, fedcat, node = (_median([f[i] for f in figures]) for i in range(5))
            print(
                f"  es {name:4}   {args.size / seconds:9,.0f} docs/s (bulks {bulks:.1f} s, merge {merge:.1f} s); "
                f"CPU a document fedcat {fedcat:.0f} µs + node {node:.0f} µs; 2-core rate "
                f"{2e6 / (fedcat + node):,.0f} docs/s"
            )
    if not args.index_only:
        queries = _choose_queries(embedded, args.size)
        default_caches = ElasticsearchBackend(args.url, index_prefix=args.prefix, request_cache=None)
        variants = {
            "embedded": embedded.search,
            "es nocache": built["new"].search,
            "es default": default_caches.search,
        }
        if "old" in built:
            variants["old es"] = built["old"].search
        # the variants take turns rep by rep: a change of load affects them alike
        results = _time_queries(variants, queries, args.reps, args.warmup, args.cap)
        print(
            f"\nqueries, every facet counted, ms through the backend ({args.reps} reps after {args.warmup} "
            f"warm-up), p50/p95; {_load()}"
        )
        print(f"{'query':40} {'hits':>9} " + " ".join(f"{name:>17}" for name in variants))
        for label in queries:
            row = [results[name][label] for name in variants]
            for timed in row[1:]:
                assert timed["hits"] == row[0]["hits"], (label, timed["hits"], row[0]["hits"])
            print(
                f"{label[:40]:40} {row[0]['hits']:9,} "
                + " ".join(f"{t['p50']:8.1f}{t['p95']:9.1f}" for t in row)
            )
        for name in variants:
            worst = max(r["p95"] for r in results[name].values())
            print(f"worst p95 {name:11}: {worst:7.1f} ms")
        print("totals equal to the embedded engine's on every query")

        landing = queries["no words (all documents)"]
        kept: dict[str, Any] = {
            "embedded": EmbeddedBackend(tantivy),
            "es new": ElasticsearchBackend(args.url, index_prefix=args.prefix),
        }
        if "old" in built:
            old_class, old_prefix, old_url = codes["old"]
            kept["es old"] = old_class(old_url, index_prefix=old_prefix)
        # fedcat's defaults: broad answers kept until the index changes
        landings = _time_queries(
            {name: backend.search for name, backend in kept.items()},
            {"landing": landing},
            args.reps,
            args.warmup,
            args.cap,
        )
        for name, backend in kept.items():
            timed = landings[name]["landing"]
            print(
                f"landing page with the answers kept (default), {name:9}: p50 {timed['p50']:.2f} ms, p95 {timed['p95']:.2f} ms"
            )
            backend.close()
        embedded.close()
        default_caches.close()
    for name, backend in built.items():
        if not args.keep:
            backend.client.indices.delete(index=f"{codes[name][1]}-datasets-*")
        backend.close()
    if not args.keep:
        if not args.index_only:
            _remove(tantivy)
        corpus.unlink()
        if args.workdir is None:
            workdir.rmdir()


if __name__ == "__main__":
    main()
