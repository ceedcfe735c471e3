"""Web pages benchmark: the search page and the dataset page through HTTP, next to the JSON API's same search.

    python bench/web.py                          # 100,000 datasets
    python bench/web.py --size 1000000 --workdir /tmp/fedcat-api-bench --keep
    python bench/web.py --size 1000000 --workdir /tmp/fedcat-api-bench --keep --baseline ../fedcat-main

The store and index are bench/api.py's (built by its `build`, reused when --workdir already holds them), and
the server is its `serve` (uvicorn in a child process on 127.0.0.1). Each case is timed from one
`requests.Session` (p50/p95 over --reps requests after a warm-up); the search page's own server time is also
read from its Server-Timing header, and the server's CPU time per request from /proc (Linux). The baseline,
measured in the same run, is the JSON API's answer to the same search (`/api/datasets`, every facet), so the
ratio is what rendering the page costs on top of it; with --baseline (another fedcat checkout with its own
.venv, e.g. a worktree of main), it is that checkout's server on the same store and index instead, the two
asked in turn request by request so that a shared machine's load weighs on both alike.
Targets: search page p95 <= 100 ms with every facet at 1,000,000 datasets; dataset page p95 <= 20 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
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
# A checkout's server, started by its own interpreter (its fedcat): bench/api.py's `serve` loaded by path.
SERVE_CHECKOUT = """
import importlib.util, sys
checkout, workdir, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
spec = importlib.util.spec_from_file_location("fedcat_bench_api", checkout + "/bench/api.py")
api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(api)
class Port:
    def put(self, port):
        print(port, flush=True)
api.serve(workdir, sources, Port())
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _cpu_ms(pid: int | None) -> float:
    """CPU time (user + system, every thread) a process has used so far, in ms; 0 where /proc is absent."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


class Server:
    """One server under test: its base URL, its process (for CPU time) and what was timed of it."""

    def __init__(self, base: str, pid: int | None) -> None:
        self.base, self.pid = base, pid
        self.samples: list[float] = []
        self.server: list[float] = []
        self.cpu = 0.0

    def get(self, http, path: str, params: dict, headers: dict) -> str:
        cpu0, t0 = _cpu_ms(self.pid), time.perf_counter()
        response = http.get(self.base + path, params=params, headers=headers)
        elapsed = (time.perf_counter() - t0) * 1000
        response.raise_for_status()
        self.samples.append(elapsed)
        self.cpu += _cpu_ms(self.pid) - cpu0
        found = SERVER_TIMING.search(response.headers.get("server-timing", ""))
        if found:
            self.server.append(float(found[1]))
        return response.text

    def summary(self) -> tuple[float, float, float, float]:
        """(page p50, page p95, server p95, CPU ms per request)"""
        reps = max(len(self.samples), 1)
        return (
            statistics.median(self.samples) if self.samples else 0.0,
            _percentile(self.samples, 0.95),
            _percentile(self.server, 0.95),
            self.cpu / reps,
        )


def _timed_in_turn(
    servers: list[Server], http, path: str, params: dict, headers: dict, reps: int, warmup: int
):
    """Each server asked `reps` times, one after the other within each repetition; says where the pages
    differ (the same store and index should give the same page)."""
    for _ in range(warmup):
        for server in servers:
            server.get(http, path, params, headers)
    for server in servers:
        server.samples, server.server, server.cpu = [], [], 0.0
    differ = False
    for _ in range(reps):
        pages = [server.get(http, path, params, headers) for server in servers]
        if len(set(pages)) > 1 and not differ:
            differ = True
            print(f"note: {path} {params}: the two checkouts' pages differ")
    return [server.summary() for server in servers]


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(workdir: Path, size: int, reps: int, warmup: int, seed: int, baseline: Path | None) -> None:
    api = _bench_api()
    print(f"fedcat web benchmark: {size:,} datasets, {reps} requests after {warmup} warm-up, seed {seed}")
    sources = api.build(workdir, size, seed)
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    child = ctx.Process(target=serve, args=(str(workdir), sources, ready), daemon=True)
    child.start()
    other = None
    try:
        this = Server(f"http://127.0.0.1:{ready.get(timeout=300)}", child.pid)
        http, common, some_id = api.probe(this.base, size)
        servers = [this]
        if baseline is not None:
            other = subprocess.Popen(
                [
                    str(baseline / ".venv" / "bin" / "python"),
                    "-c",
                    SERVE_CHECKOUT,
                    str(baseline),
                    str(workdir),
                    *sources,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert other.stdout is not None
            servers.append(Server(f"http://127.0.0.1:{other.stdout.readline().strip()}", other.pid))
            api.probe(servers[1].base, size)
        csv = "http://publications.europa.eu/resource/authority/file-type/CSV"
        # (label, page path, its query, the JSON API's same answer, its query)
        cases = [
            (f"q={common}, all facets", "/", {"q": common}, "/api/datasets", {"q": common, "page_size": 20}),
            (
                f"q={common}, format=CSV",
                "/",
                {"q": common, "format": csv},
                "/api/datasets",
                {"q": common, "format": csv, "page_size": 20},
            ),
            (
                f"q={common}, page 5",
                "/",
                {"q": common, "page": 5},
                "/api/datasets",
                {"q": common, "page": 5, "page_size": 20},
            ),
            ("no q (every dataset)", "/", {}, "/api/datasets", {"page_size": 20}),
            ("dataset page", f"/datasets/{some_id}", {}, f"/api/datasets/{some_id}", {}),
        ]
        print(f"{_load()} on {os.cpu_count()} cores; cpu = the server's CPU time per request (every thread)")
        if baseline is None:
            print(
                f"\n{'case':34} {'page p50':>10} {'page p95':>10} {'server p95':>11} {'cpu':>8} "
                f"{'JSON p50':>10} {'JSON p95':>10} {'p50 ratio':>9}"
            )
        else:
            print(
                f"\n{'case (this checkout / baseline)':34} {'page p50':>19} {'page p95':>19} {'server p95':>19} "
                f"{'cpu':>17} {'p95 ratio':>10}"
            )
        json_api = Server(this.base, child.pid)
        for label, path, params, json_path, json_params in cases:
            timed = _timed_in_turn(servers, http, path, params, HTML, reps, warmup)
            if baseline is None:
                ((page50, page95, server95, cpu),) = timed
                ((json50, json95, _, _),) = _timed_in_turn(
                    [json_api], http, json_path, json_params, {}, reps, warmup
                )
                print(
                    f"{label:34} {page50:>7.2f} ms {page95:>7.2f} ms {server95:>8.2f} ms {cpu:>5.1f} ms "
                    f"{json50:>7.2f} ms {json95:>7.2f} ms {page50 / json50:>8.2f}x"
                )
            else:
                (a50, a95, as95, acpu), (b50, b95, bs95, bcpu) = timed
                ratio = bs95 / as95 if as95 else b95 / a95  # the server's own p95, else the page's
                print(
                    f"{label:34} {a50:>7.2f} / {b50:>6.2f} ms {a95:>7.2f} / {b95:>6.2f} ms "
                    f"{as95:>7.2f} / {bs95:>6.2f} ms {acpu:>6.1f} / {bcpu:>5.1f} ms {ratio:>9.2f}x"
                )
        print(_load())
    finally:
        child.terminate()
        child.join(10)
        if other is not None:
            other.terminate()
            other.wait(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="datasets in the store and index")
    parser.add_argument("--workdir", type=Path, default=None, help="where the store and index live")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep (and later reuse) the store and index")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another fedcat checkout (with its .venv) to time against, on the same store and index",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fedcat-web-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(workdir, args.size, args.reps, args.warmup, args.seed, args.baseline)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
