"""What the HTTP conventions (api/conventions.py: HEAD, ETag/Last-Modified/304, Cache-Control, gzip, CORS)
cost and save per request, against the same API without them, in the same run.

    python bench/conventions.py                  # 20,000 datasets (bench/api.py's generated store)
    python bench/conventions.py --size 100000 --workdir /tmp/fedcat-api-bench

Two uvicorn servers in child processes read one store and index: `with` is the API as shipped, `without`
the same app with the conventions' middleware removed. Requests alternate between them (so load on the
machine hits both alike) through one `requests` session each (which asks for gzip, as browsers do); the
table gives the median latency of each, their ratio, and the bytes on the wire. The last row is the
revalidation a client with the ETag makes: a 304 without the body.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests


def _api_bench():
    """bench/ is not a package: load bench/api.py (store builder, config) by path."""
    spec = importlib.util.spec_from_file_location("fedcat_bench_api", Path(__file__).with_name("api.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def serve(workdir: str, sources: list[str], conventions: bool, ready: mp.Queue) -> None:  # type: ignore[type-arg]
    import uvicorn
    from fedcat.api.app import create_app
    from fedcat.indexer.embedded import EmbeddedBackend
    from fedcat.store import Store

    backend = EmbeddedBackend(Path(workdir) / "index", answer_cache=0)
    app = create_app(Store(Path(workdir) / "fedcat.db"), backend, _api_bench()._config(sources))
    if not conventions:  # the stack is built on the first request: remove them before it
        app.user_middleware = [
            m for m in app.user_middleware if "conventions" not in repr(m) and "GZip" not in repr(m)
        ]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    ready.put(sock.getsockname()[1])
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


def run(workdir: Path, size: int, reps: int, seed: int) -> None:
    api = _api_bench()
    print(f"HTTP conventions benchmark: {size:,} datasets, {reps} requests a case and a server, seed {seed}")
    sources = api.build(workdir, size, seed)
    ctx = mp.get_context("spawn")
    servers, bases = [], {}
    try:
        for variant in ("with", "without"):
            ready = ctx.Queue()
            child = ctx.Process(
                target=serve, args=(str(workdir), sources, variant == "with", ready), daemon=True
            )
            child.start()
            servers.append(child)
            bases[variant] = f"http://127.0.0.1:{ready.get(timeout=120)}"
        sessions = {variant: requests.Session() for variant in bases}
        for variant, base in bases.items():
            for _ in range(200):
                try:
                    if sessions[variant].get(base + "/health", timeout=5).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
        some_id = (
            sessions["with"]
            .get(bases["with"] + "/api/datasets", params={"facets": ""})
            .json()["items"][0]["id"]
        )
        cases = [
            ("search q=transport, all facets", "/api/datasets", {"q": "transport"}, {}),
            ("search, page_size=100, no facets", "/api/datasets", {"page_size": 100, "facets": ""}, {}),
            ("one dataset (JSON)", f"/api/datasets/{some_id}", {}, {}),
            ("one dataset (Turtle)", f"/datasets/{some_id}.ttl", {}, {}),
            ("catalogue page (Turtle, 100)", "/catalog.ttl", {"page_size": 100}, {}),
        ]
        print(
            f"\n{'request':34} {'with p50':>10} {'without p50':>12} {'ratio':>6} {'bytes with':>11} {'without':>9}"
        )
        for label, path, params, headers in cases:
            samples: dict[str, list[float]] = {v: [] for v in bases}
            sizes = {}
            for n in range(reps + 5):
                for variant in bases:
                    t0 = time.perf_counter()
                    answer = sessions[variant].get(
                        bases[variant] + path, params=params, headers=headers, stream=True
                    )
                    wire = len(b"".join(answer.raw.stream(65536, decode_content=False)))
                    elapsed = (time.perf_counter() - t0) * 1000
                    answer.raise_for_status()
                    sizes[variant] = wire
                    if n >= 5:  # warm-up
                        samples[variant].append(elapsed)
            w, wo = statistics.median(samples["with"]), statistics.median(samples["without"])
            print(
                f"{label:34} {w:>7.2f} ms {wo:>9.2f} ms {w / wo:>6.2f} {sizes['with']:>11,} {sizes['without']:>9,}"
            )
        # a client that kept the ETag revalidates: 304, no body
        url = bases["with"] + "/api/datasets"
        etag = sessions["with"].get(url, params={"q": "transport"}).headers["etag"]
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            answer = sessions["with"].get(url, params={"q": "transport"}, headers={"If-None-Match": etag})
            times.append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 304
        print(
            f"{'search revalidated (304)':34} {statistics.median(times):>7.2f} ms {'':>12} {'':>6} {len(answer.content):>11,}"
        )
    finally:
        for child in servers:
            child.terminate()
            child.join(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None, help="kept between runs (default: temporary)")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args.workdir, args.size, args.reps, args.seed)
        return
    with tempfile.TemporaryDirectory(prefix="fedcat-conventions-bench-") as workdir:
        run(Path(workdir), args.size, args.reps, args.seed)


if __name__ == "__main__":
    sys.exit(main())
