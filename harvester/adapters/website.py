"""`type: website` — a body's own website, crawled for schema.org `Dataset` markup (JSON-LD, microdata, RDFa).

The source's `url` is the start page; `options.sitemap` adds a sitemap.xml's pages; `allowed_hosts` the other
hosts the crawl may enter. Each run crawls in a process of its own (harvester/crawl.py, Scrapy); this adapter
only reads its result lines. Pages are the records: the page URL is the record id (`#2`, `#3`… for a page's
second and further datasets). The run is complete only when the crawl ended without hitting a cap and read
every page it found: otherwise it is partial and withdraws nothing.

The mapping is mappings/schemaorg.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import msgspec

from ...config import SourceOptions
from ..crawl import crawl_results
from ..http import HarvestError
from .base import Adapter, Page
from .jsonapi import json_record


class WebsiteAdapter(Adapter):
    type = "website"

    class Options(SourceOptions):
        respect_robots: Annotated[
            bool, msgspec.Meta(description="Obey the website's robots.txt (on by default for websites).")
        ] = True
        sitemap: (
            Annotated[str, msgspec.Meta(description="A sitemap.xml whose pages are crawled too.")] | None
        ) = None
        max_pages: Annotated[int, msgspec.Meta(ge=1, description="Pages crawled at most in a run.")] = 10_000
        max_depth: Annotated[
            int, msgspec.Meta(ge=0, description="Links followed at most from the start page.")
        ] = 5
        max_page_bytes: Annotated[
            int, msgspec.Meta(ge=1024, description="Size cap of one page (bytes); a bigger one is not read.")
        ] = 5 * 1024 * 1024
        page_timeout: Annotated[
            float, msgspec.Meta(gt=0, description="Seconds a page may take to download.")
        ] = 30.0
        budget: Annotated[float, msgspec.Meta(gt=0, description="Seconds a whole crawl may take.")] = 3600.0
        delay: Annotated[
            float,
            msgspec.Meta(ge=0, description="Seconds between requests to a host (AutoThrottle's start)."),
        ] = 1.0
        autothrottle: Annotated[
            bool, msgspec.Meta(description="Adapt the delay to the website's response times (AutoThrottle).")
        ] = True
        concurrency_per_host: Annotated[
            int, msgspec.Meta(ge=1, le=16, description="Requests in flight at once per host.")
        ] = 1

    def crawl_config(self) -> dict:
        options = msgspec.convert(self.source.options, self.Options)
        return {
            **msgspec.to_builtins(options),
            "url": self.source.url,
            "allowed_hosts": list(self.source.allowed_hosts),
            "private_networks": list(self.client.settings.private_networks),
            "user_agent": self.client.settings.user_agent,
        }

    def pages(self) -> Iterator[Page]:
        number, records = 1, []
        results = crawl_results(self.crawl_config())
        for result in results:
            if result.get("end"):
                end = result
                break
            page_url = result["page"]
            for position, item in enumerate(result.get("datasets") or [], 1):
                record = {"page": page_url, "dataset": item}
                srid = page_url if position == 1 else f"{page_url}#{position}"
                records.append(json_record(srid, record, page_url, number))
            if len(records) >= self.page_size:
                yield Page(
                    url=self._part(number), number=number, records=records, next_url=self._part(number + 1)
                )
                number, records = number + 1, []
        yield Page(url=self._part(number), number=number, records=records)
        if not end["complete"]:
            raise HarvestError(
                f"{self.source.url}: crawl incomplete after {end['pages']} pages, nothing withdrawn: "
                + "; ".join(end["reasons"])
            )

    def _part(self, number: int) -> str:
        return f"{self.source.url}#crawl-part={number}"
