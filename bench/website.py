"""`type: website`: pages/s crawled on loopback, schema.org extraction and the store included, end to end.

A generated site of list pages and dataset pages (one JSON-LD Dataset each) is served on 127.0.0.1. Printed:
the crawl with politeness lifted (no delay, no AutoThrottle, 8 requests per host) against the baseline of
the same pages fetched one by one with requests in the same run (no extraction, no store), then the default
politeness (1 s delay, AutoThrottle, 1 request per host) on a few pages; peak RSS of the crawl process.
Target: >= 200 pages/s with extraction, politeness lifted.

    python bench/website.py [--pages 2000] [--repeat 3]

The end-to-end figure includes the harvest's mapping, storing and indexing; the crawl-only figure reads the
crawl process's result lines (fetch, robots.txt, link policy, extraction) and nothing more.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from fedcat.demo.portal import PortalServer
from fedcat.harvester.crawl import crawl_results
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import parse_config
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store

PER_LIST = 50
LIFTED = {"delay": 0, "autothrottle": False, "concurrency_per_host": 8}
CAPS = {"max_pages": 100_000, "max_depth": 5, "max_page_bytes": 5 << 20, "page_timeout": 30, "budget": 3600}


def serve_site(site: PortalServer, pages: int) -> list[str]:
    lists = (pages + PER_LIST - 1) // PER_LIST
    html = "text/html; charset=utf-8"
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.add(
        "/",
        "<html><body>" + "".join(f'<a href="/list/{n}">{n}</a>' for n in range(lists)) + "</body></html>",
        html,
    )
    urls = []
    for n in range(lists):
        items = range(n * PER_LIST, min(pages, (n + 1) * PER_LIST))
        site.add(
            f"/list/{n}",
            "<html><body>" + "".join(f'<a href="/d/{i}">{i}</a>' for i in items) + "</body></html>",
            html,
        )
        for i in items:
            item = {
                "@context": "https://schema.org",
                "@type": "Dataset",
                "name": f"Jeu de données {i}",
                "description": "Données ouvertes de la ville. " * 20,
                "keywords": "mobilité, transport, vélo",
                "license": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
                "publisher": {"@type": "Organization", "name": "Ville"},
                "distribution": [
                    {
                        "@type": "DataDownload",
                        "encodingFormat": "text/csv",
                        "contentUrl": f"https://data.example/{i}.csv",
                    }
                ],
            }
            body = f'<html><head><script type="application/ld+json">{json.dumps(item)}</script></head><body><a href="/">home</a>{"<p>texte</p>" * 200}</body></html>'
            urls.append(site.add(f"/d/{i}", body, html))
    return urls


def crawl(url: str, options: dict) -> tuple[float, int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        store, backend = Store(Path(tmp) / "f.db"), EmbeddedBackend(Path(tmp) / "index")
        config = parse_config(
            {"sources": [{"id": "web", "name": "web", "type": "website", "url": url, "options": options}]}
        )
        started = time.perf_counter()
        [result] = harvest(config, store, backend)
        elapsed = time.perf_counter() - started
        count = store.count("web")
        backend.close()
        store.close()
    return elapsed, count, result.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with PortalServer() as site:
        urls = serve_site(site, args.pages)
        fetched = len(urls) + (len(urls) + PER_LIST - 1) // PER_LIST + 1
        baseline, lifted, crawl_only = [], [], []
        for _ in range(args.repeat):
            with requests.Session() as session:
                started = time.perf_counter()
                for url in urls:
                    session.get(url).raise_for_status()
                baseline.append(len(urls) / (time.perf_counter() - started))
            elapsed, count, status = crawl(
                site.url("/"),
                {"delay": 0, "autothrottle": False, "concurrency_per_host": 8, "max_pages": 100_000},
            )
            assert count == args.pages and status == "complete", (count, status)
            lifted.append(fetched / elapsed)
            started = time.perf_counter()
            lines = sum(
                1
                for r in crawl_results({**LIFTED, **CAPS, "url": site.url("/"), "user_agent": "bench"})
                if not r.get("end")
            )
            assert lines == args.pages, lines
            crawl_only.append(fetched / (time.perf_counter() - started))
        base, rate = statistics.median(baseline), statistics.median(lifted)
        print(
            f"baseline: requests, one by one, no extraction   {base:8.0f} pages/s (median of {args.repeat})"
        )
        only = statistics.median(crawl_only)
        print(f"crawl lifted (8/host, no delay), end to end: {rate:6.0f} pages/s  ratio {rate / base:.2f}")
        print(
            f"crawl lifted, crawl process alone:           {only:6.0f} pages/s  ratio {only / base:.2f} (target >= 200)"
        )
    with PortalServer() as small:
        serve_site(small, 8)
        elapsed, count, status = crawl(small.url("/"), {})
        print(
            f"crawl, default politeness (1 s, AutoThrottle, 1/host): {(8 + 2) / elapsed:.2f} pages/s ({status}, {count} datasets)"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak RSS of a crawl process: {peak:.0f} MB; of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
