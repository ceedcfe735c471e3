"""API benchmark: search latency through HTTP, end to end (uvicorn → FastAPI → tantivy → SQLite store).

    python bench/api.py                          # 100,000 datasets
    python bench/api.py --size 1000000 --workdir /tmp/fedcat-api-bench --keep

The API reads every hit from the store, so the bench fills both: N synthetic `Dataset`s (built from
bench/search.py's `generate_documents`, so the word and facet distributions are the search bench's) are
written with `Store.save_page`, then indexed with `sync_index`, as a harvest would. A uvicorn server then
runs in a child process on 127.0.0.1 and the parent times requests with one `requests.Session`
(p50/p95 over --reps requests after a warm-up), next to the same queries on the backend alone, so the
API's own share is visible. Target: p95 <= 50 ms for a common word with every facet at 1,000,000; the CKAN- and
udata-compatible searches within 1.2× of /api/datasets' p95 (timed interleaved, request by request, so that a
shared machine's load weighs on the three alike: the ratios are printed last). The compatible
APIs' whole lists (organization_list, tag_list, udata's organizations/) count one facet over every dataset.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import requests

try:
    from fedcat.harvester.sources import Config, Jurisdiction, Settings, Source
    from fedcat.indexer.backend import SearchDocument, SearchQuery
    from fedcat.indexer.documents import sync_index
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.mappings.model import Agent, Dataset, Distribution, Text, dataset_to_json
    from fedcat.store import RunReport, Store, Upsert, payload_hash, record_id
except ImportError:  # run from a checkout without `pip install -e .`
    sys.exit("fedcat is not importable: pip install -e . first")


def _search_bench():
    """bench/ is not a package: load its sibling by path."""
    spec = importlib.util.spec_from_file_location(
        "fedcat_bench_search", Path(__file__).with_name("search.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BASE_URL = "https://fedcat.example"
BATCH = 5000


def _config(sources: list[str]) -> Config:
    return Config(
        Path("bench"),
        Settings(base_url=BASE_URL),
        tuple(
            Source(
                s, f"Portail {s}", "dcat", f"https://{s}.example.org/catalog.ttl", Jurisdiction("other", s)
            )
            for s in sources
        ),
    )


def _dataset(doc: SearchDocument, fedcat_id: str) -> Dataset:
    lang = "en" if doc.language and doc.language[0].endswith("ENG") else "fr"
    return Dataset(
        uri=f"{BASE_URL}/datasets/{fedcat_id}",
        original_uri=doc.id,
        title=[Text(doc.title, lang)],
        description=[Text(doc.description, lang)],
        keywords=[Text(k, lang) for k in doc.keyword],
        themes=list(doc.theme),
        publisher=Agent(name=[Text(doc.publisher[0])]) if doc.publisher else None,
        distributions=[
            Distribution(
                format=f, licence=doc.licence[0] if doc.licence else None, access_url=[f"{doc.id}/{i}"]
            )
            for i, f in enumerate(doc.format)
        ],
        modified=doc.modified or None,
        language=list(doc.language),
        licence=doc.licence[0] if doc.licence else None,
        landing_page=[doc.id],
    )


def build(workdir: Path, size: int, seed: int) -> list[str]:
    """Fill a store and its index with `size` datasets (reused when already built); returns source ids."""
    marker = workdir / "built"
    sources = [f"portal-{i:02d}" for i in range(60)]  # generate_documents' sources
    if marker.exists() and marker.read_text() == f"{size} {seed}":
        print(f"reusing the store and index in {workdir}")
        return sources
    shutil.rmtree(workdir / "index", ignore_errors=True)
    for stale in workdir.glob("fedcat.db*"):
        stale.unlink()
    store = Store(workdir / "fedcat.db")
    store.sync_sources(_config(sources).sources)
    runs = {s: store.start_run(s) for s in sources}
    counts: dict[str, int] = defaultdict(int)
    t0 = time.perf_counter()
    batch: dict[str, list[Upsert]] = defaultdict(list)

    def flush() -> None:
        for source_id, upserts in batch.items():
            store.save_page(source_id, runs[source_id], upserts, [])
            counts[source_id] += len(upserts)
        batch.clear()

    for n, doc in enumerate(_search_bench().generate_documents(size, seed), 1):
        source_id = doc.source[0]
        fedcat_id = record_id(source_id, doc.id)
        dataset = _dataset(doc, fedcat_id)
        raw = dataset_to_json(dataset)  # stands in for the harvested payload
        batch[source_id].append(
            Upsert(fedcat_id, doc.id, dataset, raw, "application/json", payload_hash(raw), doc.id)
        )
        if n % BATCH == 0:
            flush()
    flush()
    for source_id, run_id in runs.items():
        store.finish_run(run_id, "complete", {"pages": 1, "seen": counts[source_id]}, None, RunReport())
    stored = time.perf_counter() - t0
    print(f"stored {size:,} datasets in {stored:.1f} s = {size / stored:,.0f}/s")
    t0 = time.perf_counter()
    backend = EmbeddedBackend(workdir / "index")
    indexed = sync_index(store, backend, batch=20_000)
    backend.close()  # waits for merges: the server searches the settled index
    elapsed = time.perf_counter() - t0
    print(f"indexed {indexed:,} datasets in {elapsed:.1f} s = {indexed / elapsed:,.0f}/s")
    store.close()
    marker.write_text(f"{size} {seed}")
    return sources


def serve(workdir: str, sources: list[str], ready: mp.Queue) -> None:  # type: ignore[type-arg]
    """Child process: uvicorn on a free 127.0.0.1 port, reported through `ready`."""
    import uvicorn
    from fedcat.api.app import create_app

    # answers not kept: repeated requests must time the search, not EmbeddedBackend's kept answers
    backend = EmbeddedBackend(Path(workdir) / "index", answer_cache=0)
    app = create_app(Store(Path(workdir) / "fedcat.db"), backend, _config(sources))
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP, and without it
    # Nagle + delayed ACK add ~40 ms to every response
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    ready.put(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time(call, reps: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), _percentile(samples, 0.95)


def _time_interleaved(calls: list, reps: int, warmup: int) -> list[tuple[float, float]]:
    """(p50, p95) of each call, timed in turn within each repetition: on a shared machine a load that
    comes and goes then weighs on every call alike, and their ratios stay fair."""
    for _ in range(warmup):
        for call in calls:
            call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(reps):
        for call, times in zip(calls, samples, strict=True):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(times), _percentile(times, 0.95)) for times in samples]


def probe(base: str, size: int) -> tuple[requests.Session, str, str]:
    """Wait for the server at `base`; return a session, the word nearest 10 % of the datasets (as in
    bench/search.py) and the id of one of its hits."""
    http = requests.Session()
    for _ in range(100):
        try:
            if http.get(base + "/health", timeout=5).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)

    def total(q: str) -> int:
        return http.get(base + "/api/datasets", params={"q": q, "facets": "", "page_size": 1}).json()["total"]

    common = min(("mobilité", "transport", "culture", "énergie", "santé", "finances", "voirie", "bus"),
                 key=lambda w: abs(total(w) - size / 10))  # fmt: skip
    some_id = http.get(base + "/api/datasets", params={"q": common, "facets": ""}).json()["items"][0]["id"]
    return http, common, some_id


def run(workdir: Path, size: int, reps: int, warmup: int, seed: int) -> None:
    print(f"fedcat API benchmark: {size:,} datasets, {reps} requests after {warmup} warm-up, seed {seed}")
    sources = build(workdir, size, seed)
    ctx = mp.get_context("spawn")  # a fresh interpreter: no tantivy or SQLite handles shared by fork
    ready = ctx.Queue()
    child = ctx.Process(target=serve, args=(str(workdir), sources, ready), daemon=True)
    child.start()
    try:
        port = ready.get(timeout=120)
        base = f"http://127.0.0.1:{port}"
        http, common, some_id = probe(base, size)
        csv = "http://publications.europa.eu/resource/authority/file-type/CSV"
        cases: list[tuple[str, str, dict, SearchQuery | None]] = [
            (f"q={common}, all facets", "/api/datasets", {"q": common}, SearchQuery(q=common)),
            (
                f"q={common}, all facets, format=CSV",
                "/api/datasets",
                {"q": common, "format": csv},
                SearchQuery(q=common, filters={"format": [csv]}),
            ),
            (
                f"q={common}, all facets, page_size=100",
                "/api/datasets",
                {"q": common, "page_size": 100},
                SearchQuery(q=common, page_size=100),
            ),
            (
                f"q={common}, sort=modified, no facets",
                "/api/datasets",
                {"q": common, "sort": "modified", "facets": ""},
                SearchQuery(q=common, sort="modified", facets=()),
            ),
            ("no q (every dataset), all facets", "/api/datasets", {}, SearchQuery()),
            # the compatible APIs (api/ckan.py, api/udata.py), each next to the same search on /api/datasets
            (f"q={common}, 20 items, no facets", "/api/datasets", {"q": common, "facets": ""}, None),
            (
                f"  CKAN package_search, q={common}, rows=20",
                "/api/3/action/package_search",
                {"q": common, "rows": 20},
                None,
            ),
            (
                f"  udata /api/1/datasets/, q={common}",
                "/api/1/datasets/",
                {"q": common, "page_size": 20},
                None,
            ),
            # the compatible APIs' whole lists: one facet counted over every dataset, every value
            ("CKAN organization_list (every publisher)", "/api/3/action/organization_list", {}, None),
            ("CKAN tag_list (every keyword)", "/api/3/action/tag_list", {}, None),
            ("udata /api/1/organizations/", "/api/1/organizations/", {}, None),
            ("one dataset", f"/api/datasets/{some_id}", {}, None),
            ("health (counts the store)", "/health", {}, None),
        ]
        backend = EmbeddedBackend(workdir / "index", answer_cache=0)  # read-only: no writer is ever opened
        print(
            f"\n{'request':44} {'hits':>8} {'API p50':>10} {'API p95':>10} {'backend p50':>12} {'backend p95':>12}"
        )
        for label, path, params, query in cases:
            answer = http.get(base + path, params=params)
            answer.raise_for_status()
            body = answer.json()
            result = body.get("result") if isinstance(body, dict) else None
            if isinstance(result, list):  # a CKAN list action: the values listed
                hits = len(result)
            else:
                hits = body.get("total", (result or {}).get("count")) if isinstance(body, dict) else None
            url = base + path
            api50, api95 = _time(
                lambda u=url, p=params: http.get(u, params=p).raise_for_status(), reps, warmup
            )
            shown = f"{hits:,}" if hits is not None else ""
            line = f"{label:44} {shown:>8} {api50:>7.2f} ms {api95:>7.2f} ms"
            if query is not None:
                b50, b95 = _time(lambda q=query: backend.search(q), reps, warmup)
                line += f" {b50:>9.2f} ms {b95:>9.2f} ms"
            print(line)
        # the target is a ratio: the three searches again, each repetition timing them one after the other
        compared = {
            "/api/datasets": ("/api/datasets", {"q": common, "facets": ""}),
            "CKAN package_search": ("/api/3/action/package_search", {"q": common, "rows": 20}),
            "udata /api/1/datasets/": ("/api/1/datasets/", {"q": common, "page_size": 20}),
        }
        timed = _time_interleaved(
            [
                lambda u=base + p, q=params: http.get(u, params=q).raise_for_status()
                for p, params in compared.values()
            ],
            reps,
            warmup,
        )
        print(f"\n20 items for q={common}, interleaved: p50 / p95")
        (native50, native95), *others = timed
        print(f"  /api/datasets: {native50:.2f} / {native95:.2f} ms")
        for label, (o50, o95) in zip(list(compared)[1:], others, strict=True):
            print(
                f"  {label}: {o50:.2f} / {o95:.2f} ms = p50 {o50 / native50:.2f}×, p95 {o95 / native95:.2f}×"
                " /api/datasets' (target <= 1.2×)"
            )
        backend.close()
    finally:
        child.terminate()
        child.join(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="datasets in the store and index")
    parser.add_argument(
        "--workdir", type=Path, help="where to build the store and index (default: a temp dir)"
    )
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep (and later reuse) the store and index")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-api-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(workdir, args.size, args.reps, args.warmup, args.seed)
    finally:
        if not args.keep:
            remove_built(workdir, temporary=args.workdir is None)


def remove_built(workdir: Path, temporary: bool) -> None:
    """Remove what `build` made (and the directory itself when it was a temporary one)."""
    shutil.rmtree(workdir / "index", ignore_errors=True)
    for path in workdir.glob("fedcat.db*"):
        path.unlink()
    (workdir / "built").unlink(missing_ok=True)
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
