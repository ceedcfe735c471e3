"""Web pages benchmark: the search page and the dataset page through HTTP, next to the JSON API's same search.

    python bench/web.py                          # 100,000 datasets
    python bench/web.py --size 1000000 --workdir /tmp/fedcat-api-bench --keep

The store and index are bench/api.py's (built by its `build`, reused when --workdir already holds them), and
the server is its `serve` (uvicorn in a child process on 127.0.0.1). Each case is timed from one
`requests.Session` (p50/p95 over --reps requests after a warm-up); the search page's own server time is also
read from its Server-Timing header. The baseline, measured in the same run, is the JSON API's answer to the
same search (`/api/datasets`, every facet), so the ratio is what rendering the page costs on top of it.
Targets: search page p95 <= 100 ms with every facet at 1,000,000 datasets; dataset page p95 <= 20 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _bench_api():
    """bench/ is not a package: load its sibling by path."""
    spec = importlib.util.spec_from_file_location("fedcat_bench_api", Path(__file__).with_name("api.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(workdir: str, sources: list[str], ready) -> None:
    """Child process: bench/api.py's server (a spawned child must find its target in this module)."""
    _bench_api().serve(workdir, sources, ready)


HTML = {"Accept": "text/html", "Accept-Language": "fr"}
SERVER_TIMING = re.compile(r"page;dur=([\d.]+)")


def _time(call, reps: int, warmup: int) -> tuple[float, float, list[float]]:
    """(p50, p95, server times) of `call`, which returns the response."""
    for _ in range(warmup):
        call()
    samples, server = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        found = SERVER_TIMING.search(response.headers.get("server-timing", ""))
        if found:
            server.append(float(found[1]))
    ordered = sorted(samples)
    return (
        statistics.median(samples),
        ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        server,
    )


def run(workdir: Path, size: int, reps: int, warmup: int, seed: int) -> None:
    api = _bench_api()
    print(f"fedcat web benchmark: {size:,} datasets, {reps} requests after {warmup} warm-up, seed {seed}")
    sources = api.build(workdir, size, seed)
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    child = ctx.Process(target=serve, args=(str(workdir), sources, ready), daemon=True)
    child.start()
    try:
        base = f"http://127.0.0.1:{ready.get(timeout=120)}"
        http, common, some_id = api.probe(base, size)
        csv = "http://publications.europa.eu/resource/authority/file-type/CSV"
        cases = [
            (f"q={common}, all facets", {"q": common}),
            (f"q={common}, format=CSV", {"q": common, "format": csv}),
            (f"q={common}, page 5", {"q": common, "page": 5}),
            ("no q (every dataset)", {}),
        ]
        print(
            f"\n{'case':34} {'page p50':>10} {'page p95':>10} {'server p95':>11} {'JSON p50':>10} {'JSON p95':>10} {'p50 ratio':>9}"
        )
        for label, params in cases:
            page50, page95, server = _time(
                lambda p=params: http.get(base + "/", params=p, headers=HTML), reps, warmup
            )
            json_params = {**params, "page_size": 20}
            json50, json95, _ = _time(
                lambda p=json_params: http.get(base + "/api/datasets", params=p), reps, warmup
            )
            server95 = (
                sorted(server)[min(len(server) - 1, round(0.95 * (len(server) - 1)))] if server else 0.0
            )
            print(
                f"{label:34} {page50:>7.2f} ms {page95:>7.2f} ms {server95:>8.2f} ms {json50:>7.2f} ms "
                f"{json95:>7.2f} ms {page50 / json50:>8.2f}x"
            )
        page50, page95, _ = _time(lambda: http.get(f"{base}/datasets/{some_id}", headers=HTML), reps, warmup)
        json50, json95, _ = _time(lambda: http.get(f"{base}/api/datasets/{some_id}"), reps, warmup)
        print(
            f"{'dataset page':34} {page50:>7.2f} ms {page95:>7.2f} ms {'':>11} {json50:>7.2f} ms "
            f"{json95:>7.2f} ms {page50 / json50:>8.2f}x"
        )
    finally:
        child.terminate()
        child.join(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="datasets in the store and index")
    parser.add_argument("--workdir", type=Path, default=None, help="where the store and index live")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep (and later reuse) the store and index")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-web-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(workdir, args.size, args.reps, args.warmup, args.seed)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
