"""Concurrency benchmark: 200 sources on one local portal with 50 ms of latency a page, harvested one after
the other (the baseline) and with fedcat's default limits, in the same run.

    python bench/concurrency.py                         # 200 sources, 3 pages each, 50 ms a page, 3 repeats
    python bench/concurrency.py --sources 50 --repeat 1 # a quick run
    python bench/concurrency.py --clients               # also: raw page fetching, requests+threads vs httpx async

The portal is one process serving every source; its sources sit on `--hosts` loopback addresses
(127.0.0.1, 127.0.0.2, …, one listener each, as public portals sit on different hosts). Every source is the
demo city catalogue (14 DCAT datasets) under its own path, Hydra-paged 5 a page (3 pages). The portal
answers each page after `--latency` seconds and counts the requests in flight, per host and in all: the
figures say whether the per-host limit held and how much concurrency was used.

Each harvest is the real one, `harvest(config, store, backend)` into a fresh store and embedded index:
fetch, parse, map, store, index, and the final index sync. The baseline sets `max_concurrency: 1` (sources
one after the other, as before issue 4); the other run keeps the default settings (`max_concurrency` 16,
`max_per_host` 2). The machine is noisy: medians over `--repeat` runs, the two modes alternating.

`--clients` fetches the same pages without harvesting them, at the same concurrency (16 in flight, 2 a
host): fedcat's HttpClient (requests) on a thread pool against httpx's AsyncClient on asyncio. It is the
measurement behind keeping requests and threads (see the module docstring of harvester.http).

Measured here (2 cores, other jobs running; 3 repeats, medians):

| portal | sequential | default limits | speed-up | max in flight per host / in all |
|---|---|---|---|---|
| 200 sources on 50 hosts | 49.0 s | 4.35 s | 11.3x | 1 / 16 |
| 200 sources on 8 hosts (the per-host limit binds) | 46.9 s | 5.40 s | 8.7x | 2 / 16 |

Raw fetching of the 600 pages, 16 in flight, 2 a host: requests + threads 2.88 s (208 pages/s), httpx async
3.01 s (200 pages/s): the client is not what limits a harvest. A page harvested sequentially costs ~80 ms:
the 50 ms of latency, parsing, mapping and storing, and one index commit per source (~40 ms), which the
concurrent harvest makes every 5 s instead (harvester.pool.SharedFeed). With the portal in the harvesting
process its serving threads took the harvester's GIL: 4.5x; hence the portal's own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer, Reply, Request
from fedcat.harvester.http import HostLimits, HttpClient, HttpSettings, LinkPolicy
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import Settings, parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store

PAGE_SIZE = 5


class Portal:
    """One portal on several loopback hosts: pages answered after a delay, requests in flight counted.

    It runs in a process of its own (`serve`), so that serving does not take the harvester's CPU or GIL;
    `/_stats` on its first host gives the counts, `/_reset` clears them.
    """

    def __init__(self, hosts: int, latency: float, sources: int) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.active: Counter[str] = Counter()
        self.max_per_host: Counter[str] = Counter()
        self.active_all = self.max_all = 0
        self.servers = [PortalServer(host=f"127.0.0.{n + 1}").start() for n in range(hosts)]
        self.urls = []
        self.pages: dict[str, dict[int, bytes]] = {}
        for index in range(sources):
            server = self.servers[index % len(self.servers)]
            base = server.url(f"/s{index:03d}")
            self.pages[f"/s{index:03d}"] = hydra_pages(
                city_datasets(base), base + "/catalog.ttl?page=%d", PAGE_SIZE
            )
            self.urls.extend(base + f"/catalog.ttl?page={n}" for n in self.pages[f"/s{index:03d}"])
        for server in self.servers:
            server.handle("/s", self._answer(server.httpd.server_address[0]))
        self.servers[0].handle(
            "/_stats", lambda r: Reply(json.dumps(self.stats()).encode(), "application/json")
        )
        self.servers[0].handle("/_reset", lambda r: self.reset() or Reply(b"{}", "application/json"))

    def _answer(self, host: str):
        def answer(request: Request) -> Reply:
            with self.lock:
                self.active[host] += 1
                self.active_all += 1
                self.max_per_host[host] = max(self.max_per_host[host], self.active[host])
                self.max_all = max(self.max_all, self.active_all)
            try:
                time.sleep(self.latency)
                pages = self.pages[request.path.rsplit("/", 1)[0]]
                return Reply(pages[int(request.query["page"][0])], "text/turtle")
            finally:
                with self.lock:
                    self.active[host] -= 1
                    self.active_all -= 1

        return answer

    def stats(self) -> dict:
        with self.lock:
            return {"max_per_host": max(self.max_per_host.values(), default=0), "max_all": self.max_all}

    def reset(self) -> None:
        with self.lock:
            self.max_per_host.clear()
            self.max_all = 0


def serve(hosts: int, latency: float, sources: int, conn) -> None:
    """The portal process: start, send the page URLs, serve until told to stop."""
    portal = Portal(hosts, latency, sources)
    conn.send(portal.urls)
    conn.recv()
    for server in portal.servers:
        server.stop()


def portal_stats(urls: list[str], path: str = "/_stats") -> dict:
    return requests.get(urls[0].split("/s", 1)[0] + path, timeout=10).json()


def harvest_all(urls: list[str], settings: dict) -> tuple[float, int]:
    """One harvest of every source into a fresh store and index: (seconds, records stored)."""
    sources = [
        {"id": f"s{i:03d}", "name": f"source {i}", "type": "dcat", "url": url} for i, url in enumerate(urls)
    ]
    config = parse_config({"settings": settings, "sources": sources})
    with tempfile.TemporaryDirectory(prefix="fedcat-bench-concurrency-") as directory:
        store = Store(Path(directory) / "fedcat.db")
        backend = EmbeddedBackend(Path(directory) / "index")
        try:
            started = time.perf_counter()
            results = harvest(config, store, backend)
            seconds = time.perf_counter() - started
            bad = [r for r in results if r.status != "complete"]
            if bad:
                sys.exit(f"{len(bad)} sources did not complete, e.g. {bad[0].source_id}: {bad[0].message}")
            if backend.ids() != store.live_ids():
                sys.exit("the index does not match the store")
            return seconds, store.count()
        finally:
            backend.close()
            store.close()


def fetch_with_requests(urls: list[str], workers: int, per_host: int) -> float:
    limits = HostLimits(per_host, workers)
    clients = threading.local()

    def fetch(url: str) -> int:
        origin = url.split("/s", 1)[0]
        if getattr(clients, "origin", None) != origin:  # one client per source, as in a harvest
            clients.client = HttpClient(LinkPolicy(origin + "/"), HttpSettings(), limits=limits)
            clients.origin = origin
        return len(clients.client.get(url).content)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        assert all(pool.map(fetch, urls))
    return time.perf_counter() - started


def fetch_with_httpx(urls: list[str], workers: int, per_host: int) -> float:
    import httpx

    async def main() -> None:
        everyone = asyncio.Semaphore(workers)
        hosts: dict[str, asyncio.Semaphore] = {}
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=workers)) as client:

            async def fetch(url: str) -> int:
                host = hosts.setdefault(urlsplit(url).hostname or "", asyncio.Semaphore(per_host))
                async with host, everyone:
                    return len((await client.get(url)).content)

            assert all(await asyncio.gather(*(fetch(url) for url in urls)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses the sources spread over")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each page is answered")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", action="store_true", help="also compare raw fetching: requests vs httpx")
    args = parser.parse_args()

    defaults = Settings()
    modes = {
        "sequential (max_concurrency 1)": {"max_concurrency": 1},
        f"default limits ({defaults.max_concurrency} in all, {defaults.max_per_host} a host)": {},
    }
    context = mp.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(args.hosts, args.latency, args.sources, theirs), daemon=True)
    server.start()
    try:
        every_page = ours.recv()
        urls = [url for url in every_page if url.endswith("?page=1")]
        pages = len(every_page)
        print(
            f"{args.sources} sources on {args.hosts} loopback hosts (a portal in another process), {pages} pages "
            f"({pages // args.sources} a source, {PAGE_SIZE} datasets a page), {args.latency * 1000:.0f} ms a page; "
            f"{args.repeat} repeats, medians"
        )
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        seen: dict[str, tuple[int, int, int]] = {}
        for _ in range(args.repeat):
            for mode, settings in modes.items():
                portal_stats(urls, "/_reset")
                seconds, records = harvest_all(urls, settings)
                times[mode].append(seconds)
                stats = portal_stats(urls)
                seen[mode] = (stats["max_per_host"], stats["max_all"], records)
        baseline = statistics.median(times[next(iter(modes))])
        print(
            f"{'mode':<44} {'wall s':>8} {'pages/s':>8} {'speed-up':>9} {'max/host':>9} {'max all':>8} {'records':>8}"
        )
        for mode in modes:
            median = statistics.median(times[mode])
            per_host, overall, records = seen[mode]
            print(
                f"{mode:<44} {median:8.2f} {pages / median:8.1f} {baseline / median:8.1f}x "
                f"{per_host:9d} {overall:8d} {records:8d}"
            )
        speedup = baseline / statistics.median(times[list(modes)[1]])
        per_host = seen[list(modes)[1]][0]
        print(
            f"target >= 8x at the default limits: {'met' if speedup >= 8 else 'NOT met'} ({speedup:.1f}x); "
            f"per-host limit {defaults.max_per_host}: {'held' if per_host <= defaults.max_per_host else 'EXCEEDED'} "
            f"(at most {per_host} requests in flight to one host, counted at the portal)"
        )
        if args.clients:
            print(f"\nraw fetching of the {len(every_page)} pages, {defaults.max_concurrency} in flight, "
                  f"{defaults.max_per_host} a host (medians):")  # fmt: skip
            for name, fetch in (("requests + threads (HttpClient)", fetch_with_requests),
                                ("httpx AsyncClient + asyncio", fetch_with_httpx)):  # fmt: skip
                runs = [
                    fetch(every_page, defaults.max_concurrency, defaults.max_per_host)
                    for _ in range(args.repeat)
                ]
                median = statistics.median(runs)
                print(f"  {name:<34} {median:6.2f} s  {len(every_page) / median:7.1f} pages/s")
    finally:
        ours.send("stop")
        server.join(10)


if __name__ == "__main__":
    main()
