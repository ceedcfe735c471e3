"""Linked-data benchmark: whole-catalogue export, deep Hydra pages, SPARQL engines.

    python bench/export.py                              # 1,000,000 datasets (builds the store once)
    python bench/export.py --size 100000 --repeat 1     # a quicker run
    python bench/export.py --only sparql                # one section: build, export, pages or sparql

What it measures, every figure from this run (the machine is noisy: medians, and ratios to baselines taken
in the same run):

- build: a store of `--size` records, made from the datasets of bench/harvest.py's generated DCAT-AP
  catalogue (parsed and normalised by the real DCAT mapping, ~44 source triples each; `--distinct` of them,
  repeated under new ids and IRIs) and written with the real `Store.save_page`. Kept in `--workdir` for the
  next run;
- export: `fedcat.export.export` of the whole store as N-Triples and Turtle, each in a fresh
  `spawn` child: datasets/s and the peak RSS of all its processes (the child's `ru_maxrss` plus, with
  workers, their number times the largest worker's: an upper bound of the sum). N-Triples in one process
  and with fedcat's default workers (`--workers`), to a file and to /dev/null (N-Triples is ~14 KB a dataset: writing
  14 GB shares the CPUs with the kernel). Baseline in the same run: reading and decoding every record
  without writing anything (the floor any export pays);
- pages: `GET /catalog.ttl?page=N&page_size=M` over real HTTP (uvicorn in a child process) at page 1 and at
  a page ~90% deep, medians of `--repeat` rounds of several requests each, and the deep/first ratio;
- sparql: the same 10,000 datasets (the export's triples) loaded into a pyoxigraph `Store` and an rdflib
  `Graph`; load rate and median latency of a few typical queries on each.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE_URL = "https://catalogue.example.org"
SOURCE = "bench"


def _harvest_bench():
    """bench/harvest.py, for its catalogue generator (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fedcat_bench_harvest", HERE / "harvest.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _config(workdir: Path):
    from fedcat.harvester.sources import parse_config

    return parse_config(
        {
            "settings": {"base_url": BASE_URL},
            "sources": [{"id": SOURCE, "name": "Generated catalogue", "type": "dcat", "url": BASE_URL}],
        },
        workdir / "sources.yaml",
    )


def template_datasets(count: int) -> list[tuple[object, bytes]]:
    """`count` distinct normalised datasets with their raw payloads, from the generated catalogue."""
    from fedcat.harvester.adapters.dcat import parse_graph
    from fedcat.mappings import from_rdf
    from fedcat.mappings.values import ValueMapper
    from pyoxigraph import RdfFormat

    gen = _harvest_bench()
    out: list[tuple[object, bytes]] = []
    number = 1
    while len(out) < count:
        body = gen.page_turtle(number, count, gen.ORIGIN)
        graph = parse_graph(body, RdfFormat.TURTLE, gen.ORIGIN + "/catalog")
        for node in from_rdf.dataset_subjects(graph):
            dataset = from_rdf.dataset(graph, node, "urn:template", ValueMapper())
            out.append((dataset, graph.canonical_ntriples(graph.closure(node))))
        number += 1
    return out[:count]


def build_store(workdir: Path, size: int, distinct: int) -> Path:
    """A store of `size` live records (reused when it already holds them)."""
    import msgspec
    from fedcat.store import RunReport, Store, Upsert, payload_hash, record_id

    path = workdir / f"store-{size}" / "fedcat.db"
    if path.exists():
        existing = Store(path)
        try:
            if existing.count(live_only=False) == size:
                return path
        finally:
            existing.close()
    for leftover in path.parent.glob("fedcat.db*"):
        leftover.unlink()
    store = Store(path)
    config = _config(workdir)
    store.sync_sources(config.sources)
    run_id = store.start_run(SOURCE)
    templates = template_datasets(min(distinct, size))
    started = time.perf_counter()
    batch: list[Upsert] = []
    for i in range(size):
        template, raw = templates[i % len(templates)]
        source_record_id = f"https://opendata.example.fr/datasets/d{i}"
        fedcat_id = record_id(SOURCE, source_record_id)
        dataset = msgspec.structs.replace(
            template, uri=f"{BASE_URL}/datasets/{fedcat_id}", original_uri=source_record_id
        )
        raw_i = raw + f"# copy {i}\n".encode()
        batch.append(
            Upsert(
                fedcat_id,
                source_record_id,
                dataset,
                raw_i,
                "application/n-triples",
                payload_hash(raw_i),
                BASE_URL,
            )
        )
        if len(batch) == 5000 or i == size - 1:
            store.save_page(SOURCE, run_id, batch, [])
            batch = []
            if (i + 1) % 100_000 == 0:
                print(
                    f"  built {i + 1:,} records ({(i + 1) / (time.perf_counter() - started):,.0f}/s)",
                    flush=True,
                )
    store.finish_run(
        run_id,
        "complete",
        {"seen": size, "created": size},
        None,
        RunReport(),
    )
    store.close()
    return path


# --- export -----------------------------------------------------------------------------------------------


def _export_child(db_path: str, fmt: str, out_path: str, workers: int, queue) -> None:  # type: ignore[no-untyped-def]
    from fedcat.export import export
    from fedcat.mappings.catalog_rdf import catalog_info
    from fedcat.store.catalog import CatalogReader

    info = catalog_info(_config(Path(out_path).parent))
    started = time.perf_counter()
    if fmt == "read":  # baseline: read and decode every record, write nothing
        from fedcat.export import EXPORT_BATCH
        from fedcat.store.catalog import iter_rows

        reader = CatalogReader(db_path)
        count = sum(len(batch) for batch in iter_rows(reader, EXPORT_BATCH))
        reader.close()
    elif fmt == "nt-null":  # the same work without the file system: what the CPUs alone allow
        with open(os.devnull, "wb") as out:
            count = export(db_path, info, out, "nt", workers=workers)
    else:
        with open(out_path, "wb") as out:
            count = export(db_path, info, out, fmt, workers=workers)
    elapsed = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker
    queue.put((count, elapsed, own, workers_peak))


def run_export(db_path: Path, fmt: str, out_dir: Path, workers: int) -> tuple[int, float, float, float, int]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    out_path = out_dir / f"export.{fmt}"
    child = ctx.Process(target=_export_child, args=(str(db_path), fmt, str(out_path), workers, queue))
    child.start()
    count, elapsed, rss, workers_rss = queue.get()
    child.join()
    size = out_path.stat().st_size if out_path.exists() else 0
    if out_path.exists():
        out_path.unlink()
    return count, elapsed, rss, workers_rss, size


# --- catalogue pages ---------------------------------------------------------------------------------------


def _serve_child(db_path: str, workdir: str, ready, stop) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import socket

    import uvicorn
    from fedcat.api.app import create_app
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.store import Store

    store = Store(db_path)
    backend = EmbeddedBackend(Path(workdir) / "empty-index")  # unfiltered pages never ask the index
    app = create_app(store, backend, _config(Path(workdir)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    ready.put(sock.getsockname()[1])

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not stop.is_set():
            await asyncio.sleep(0.2)
        server.should_exit = True
        await task

    asyncio.run(serve())


def run_pages(db_path: Path, workdir: Path, size: int, repeat: int) -> None:
    import requests

    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve_child, args=(str(db_path), str(workdir), ready, stop))
    child.start()
    try:
        base = f"http://127.0.0.1:{ready.get(timeout=120)}/catalog.ttl"
        session = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                started = time.perf_counter()
                first = session.get(base, params={"page": 1, "page_size": 100}, timeout=600)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        print(
            f"pages: first request {time.perf_counter() - started:.2f} s (builds the page anchors), HTTP {first.status_code}"
        )
        for page_size in (100, 1000):
            deep = int(0.9 * size / page_size) if page_size == 100 else min(900, size // page_size)
            timings: dict[int, list[float]] = {1: [], deep: []}
            for _ in range(repeat):
                for page in (1, deep):
                    for _ in range(5):
                        started = time.perf_counter()
                        response = session.get(
                            base, params={"page": page, "page_size": page_size}, timeout=600
                        )
                        timings[page].append(time.perf_counter() - started)
                        assert response.status_code == 200, response.text[:300]
            one, far = statistics.median(timings[1]), statistics.median(timings[deep])
            print(
                f"GET /catalog.ttl page_size={page_size}: page 1 {one * 1000:,.0f} ms, page {deep:,} "
                f"{far * 1000:,.0f} ms (median of {len(timings[1])}), deep / first = {far / one:.2f}"
                f", {len(response.content) / 1e6:.1f} MB a page"
            )
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.kill()


# --- SPARQL engines -----------------------------------------------------------------------------------------

QUERIES = {
    "datasets per theme (GROUP BY)": """PREFIX dcat: <http://www.w3.org/ns/dcat#>
        SELECT ?theme (COUNT(?d) AS ?n) WHERE { ?d a dcat:Dataset ; dcat:theme ?theme } GROUP BY ?theme""",
    "keyword lookup": """PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX dct: <http://purl.org/dc/terms/>
        SELECT ?d ?title WHERE { ?d dcat:keyword "recharge"@fr ; dct:title ?title }""",
    "CSV access URLs (join, 100)": """PREFIX dcat: <http://www.w3.org/ns/dcat#> PREFIX dct: <http://purl.org/dc/terms/>
        SELECT ?d ?url WHERE { ?d dcat:distribution ?x . ?x dct:format
        <http://publications.europa.eu/resource/authority/file-type/CSV> ; dcat:accessURL ?url } LIMIT 100""",
    "one dataset (DESCRIBE-like CONSTRUCT)": """PREFIX dcat: <http://www.w3.org/ns/dcat#>
        CONSTRUCT { ?d ?p ?o } WHERE { VALUES ?d { <DATASET> } ?d ?p ?o }""",
}


def run_sparql(db_path: Path, count: int, repeat: int) -> None:
    import pyoxigraph
    import rdflib
    from fedcat.export import EXPORT_BATCH
    from fedcat.mappings.catalog_rdf import CatalogInfo, write_record
    from fedcat.mappings.rdf import Writer
    from fedcat.store.catalog import CatalogReader, iter_rows

    reader = CatalogReader(db_path)
    info = CatalogInfo(BASE_URL)
    lines: list[str] = []
    first_uri = ""
    for rows in iter_rows(reader, EXPORT_BATCH):
        for row in rows:
            first_uri = first_uri or row.dataset.uri
            w = Writer(row.dataset.uri)
            write_record(w, info, row)
            lines.extend(w.lines)
        if len(rows) and sum(1 for line in lines if "/ns/dcat#Dataset> ." in line) >= count:
            break
    data = "".join(lines).encode()
    started = time.perf_counter()
    oxigraph = pyoxigraph.Store()
    oxigraph.load(data, pyoxigraph.RdfFormat.N_TRIPLES)
    ox_load = time.perf_counter() - started
    started = time.perf_counter()
    graph = rdflib.Graph()
    graph.parse(data=data, format="nt")
    rdf_load = time.perf_counter() - started
    print(
        f"sparql: {count:,} datasets, {len(lines):,} triples; load pyoxigraph {count / ox_load:,.0f} datasets/s, "
        f"rdflib {count / rdf_load:,.0f} datasets/s"
    )
    for name, query in QUERIES.items():
        query = query.replace("DATASET", first_uri)
        times: dict[str, list[float]] = {"pyoxigraph": [], "rdflib": []}
        answers = {}
        for _ in range(repeat):
            started = time.perf_counter()
            answers["pyoxigraph"] = len(list(oxigraph.query(query)))
            times["pyoxigraph"].append(time.perf_counter() - started)
            started = time.perf_counter()
            answers["rdflib"] = len(list(graph.query(query)))
            times["rdflib"].append(time.perf_counter() - started)
        ox, rl = statistics.median(times["pyoxigraph"]), statistics.median(times["rdflib"])
        assert answers["pyoxigraph"] == answers["rdflib"], (name, answers)
        print(
            f"  {name}: pyoxigraph {ox * 1000:,.1f} ms, rdflib {rl * 1000:,.1f} ms (x{rl / ox:,.0f}), {answers['rdflib']} rows"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="export workers (default: fedcat's)")
    parser.add_argument("--sparql-size", type=int, default=10_000, help="datasets loaded in each engine")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "fedcat-bench-export")
    parser.add_argument("--only", choices=("build", "export", "pages", "sparql"), default=None)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.workers is None:
        from fedcat.export import default_workers

        args.workers = default_workers(args.size)
    started = time.perf_counter()
    db_path = build_store(args.workdir, args.size, args.distinct)
    print(f"store: {args.size:,} records in {db_path} (ready after {time.perf_counter() - started:.0f} s)")
    if args.only in (None, "export"):
        runs_of = (
            ("read", 1),
            ("nt", 1),
            ("nt", args.workers),
            ("nt-null", args.workers),
            ("ttl", args.workers),
        )
        for fmt, workers in runs_of:
            runs = [run_export(db_path, fmt, args.workdir, workers) for _ in range(args.repeat)]
            rate = statistics.median(r[0] / r[1] for r in runs)
            rss, workers_rss = max(r[2] for r in runs), max(r[3] for r in runs)
            total = rss + (workers * workers_rss if workers > 1 else 0)
            parts = (
                f" (this process {rss:,.0f} + {workers} workers x {workers_rss:,.0f})" if workers > 1 else ""
            )
            print(
                f"export {fmt:>7}, {workers} process(es): {rate:,.0f} datasets/s, peak RSS {total:,.0f} MB"
                f"{parts}, {runs[0][4] / 1e6:,.0f} MB written"
            )
    if args.only in (None, "pages"):
        run_pages(db_path, args.workdir, args.size, args.repeat)
    if args.only in (None, "sparql"):
        run_sparql(db_path, min(args.size, args.sparql_size), args.repeat * 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
