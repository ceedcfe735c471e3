"""Elasticsearch beside the embedded engine on the same documents, in the same run.

    .ci/elasticsearch start                                   # a local node (prints its URL)
    python bench/elasticsearch.py --url http://127.0.0.1:9200 # 100,000 documents (a few minutes)
    python bench/elasticsearch.py --size 1000000              # the issue's 1M figure (tens of minutes)

Both engines index the same generated catalogue (`bench/search.py`'s `generate_documents`, written once to
a JSON-lines file and streamed from it: memory does not grow with --size) the way fedcat does: the embedded engine with a commit every 50,000 documents,
Elasticsearch as `fedcat reindex` does (a new generation filled by bulk requests of ~20 MB, two in flight
unless --in-flight or --bulk-mb say otherwise, merged into one segment, then the alias switch), so its
rate includes fedcat's own text analysis, the JSON encoding, the HTTP requests and the final merge (printed
apart too). Beside each rate: the CPU time a document took (this
process's; for Elasticsearch the node's too, from its own stats), steadier than the wall clock when the
machine is shared. Then
each engine answers the same queries with every facet counted (`bench/search.py`'s choice: a rare word, a
common word, three words, each with and without a filter, and every document), timed through the
backend: p50 and p95 over --reps after a warm-up. Elasticsearch queries go through the Python client with
the node's default caches (the request cache is not used for searches with hits, so repeated queries do
not hit it). Totals are checked equal between engines.

The node's URL: --url, else FEDCAT_TEST_ELASTICSEARCH_URL or FEDCAT_ELASTICSEARCH_URL.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

# Run as a script, this file's folder comes first on sys.path and its name would hide the client package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

try:
    from fedcat.bench.search import _choose_queries, _load, _remove, _time_queries, generate_documents
    from fedcat.indexer.backend import SearchBackend, SearchDocument
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


def _elasticsearch(
    url: str, corpus: Path, in_flight: int, bulk_bytes: int
) -> tuple[ElasticsearchBackend, float, float, float, float]:
    backend = ElasticsearchBackend(
        url, index_prefix=PREFIX, request_cache=False, bulks_in_flight=in_flight, bulk_bytes=bulk_bytes
    )  # the engine, not kept answers
    node, cpu = _node_cpu(backend), time.process_time()
    started = time.perf_counter()
    # what `fedcat reindex` does: a new generation, merged into one segment, then the alias switch
    with backend.rebuilding():
        bulks = _fill(backend, corpus, batch=5_000, commit_every=50_000)
    seconds = time.perf_counter() - started
    node, cpu = _node_cpu(backend) - node, time.process_time() - cpu
    return backend, seconds, bulks, cpu, node


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
    parser.add_argument("--in-flight", type=int, default=2, help="bulk requests sent at once (default 2)")
    parser.add_argument("--bulk-mb", type=int, default=20, help="a bulk request's size in MB (default 20)")
    args = parser.parse_args(argv)
    if not args.url:
        sys.exit("no Elasticsearch node: pass --url (`.ci/elasticsearch start` starts one and prints it)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-bench-es-"))
    print(
        f"fedcat Elasticsearch benchmark: {args.size:,} documents, seed {args.seed}, node {args.url}; {_load()}"
    )

    corpus = workdir / f"corpus-{args.size}-{args.seed}.jsonl"
    started = time.perf_counter()
    _write_corpus(corpus, args.size, args.seed)
    print(f"generated {args.size:,} documents in {time.perf_counter() - started:.1f} s (not timed below)")
    embedded, embedded_s, embedded_cpu = _embedded(workdir / "tantivy", corpus)
    per_doc = 1e6 / args.size
    print(
        f"embedded       indexed in {embedded_s:7.1f} s = {args.size / embedded_s:9,.0f} docs/s "
        f"(CPU {embedded_cpu * per_doc:.0f} µs a document); {_load()}"
    )
    elastic, elastic_s, bulks_s, fedcat_cpu, node_cpu = _elasticsearch(
        args.url, corpus, args.in_flight, args.bulk_mb * 1_000_000
    )
    print(
        f"elasticsearch  indexed in {elastic_s:7.1f} s = {args.size / elastic_s:9,.0f} docs/s "
        f"({args.in_flight} bulks of {args.bulk_mb} MB in flight, generation {elastic.live_generation()}; "
        f"CPU a document: fedcat {fedcat_cpu * per_doc:.0f} µs, node {node_cpu * per_doc:.0f} µs); {_load()}"
    )
    print(
        f"               of which bulk requests {bulks_s:7.1f} s = {args.size / bulks_s:9,.0f} docs/s, "
        f"the final merge into one segment {elastic.merge_seconds:.1f} s"
    )
    print(f"bulk rate ratio elasticsearch / embedded: {embedded_s / elastic_s:.2f}")

    queries = _choose_queries(embedded, args.size)
    # the engines take turns rep by rep: a change of load affects both alike
    results = _time_queries(
        {"embedded": embedded.search, "elasticsearch": elastic.search},
        queries,
        args.reps,
        args.warmup,
        args.cap,
    )
    print(
        f"\nqueries, every facet counted, ms through the backend ({args.reps} reps after {args.warmup} warm-up); {_load()}"
    )
    print(
        f"{'query':44} {'hits':>9} {'emb p50':>8} {'emb p95':>8} {'es p50':>8} {'es p95':>8} {'p95 es/emb':>10}"
    )
    for label in queries:
        e, s = results["embedded"][label], results["elasticsearch"][label]
        assert e["hits"] == s["hits"], (label, e["hits"], s["hits"])
        print(
            f"{label[:44]:44} {e['hits']:9,} {e['p50']:8.1f} {e['p95']:8.1f} {s['p50']:8.1f} {s['p95']:8.1f} "
            f"{s['p95'] / e['p95']:10.2f}"
        )
    landing = queries["no words (all documents)"]
    kept = {
        "embedded": EmbeddedBackend(workdir / "tantivy"),
        "elasticsearch": ElasticsearchBackend(args.url, index_prefix=PREFIX),
    }
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
            f"landing page with the answers kept (default), {name:13}: p50 {timed['p50']:.2f} ms, p95 {timed['p95']:.2f} ms"
        )
        backend.close()
    worst = max(r["p95"] for r in results["elasticsearch"].values())
    print(f"elasticsearch worst p95: {worst:.1f} ms; totals equal to the embedded engine's on every query")
    embedded.close()
    if not args.keep:
        elastic.client.indices.delete(index=f"{PREFIX}-datasets-*")
        _remove(workdir / "tantivy")
        corpus.unlink()
        if args.workdir is None:
            workdir.rmdir()
    elastic.close()


if __name__ == "__main__":
    main()
