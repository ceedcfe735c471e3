"""The website crawler: Scrapy in a process of its own, one process per run (`python -m fedcat.harvester.crawl`).

Scrapy's Twisted reactor cannot be restarted inside a long-running process, and a crash in it must not take
the harvester down: the `website` adapter starts this module with its settings as JSON on stdin and reads one
JSON line per page carrying schema.org Datasets on stdout, then one last line saying how the crawl ended:
`{"end": true, "complete": bool, "reasons": [...], "pages": n}`. A crawl that hit a cap (pages, depth, time
budget, a page over the size cap or too slow) or could not read a page is not complete: the run is partial
and withdraws nothing.

Politeness: robots.txt obeyed, AutoThrottle, one request at a time per host, a size cap per page, the
operator's User-Agent. Untrusted links: every request (redirects included) passes fedcat's `LinkPolicy`
(http/https only, the start URL's origin or the source's `allowed_hosts`, no private address unless the start
URL is one).

The address rule of harvester/http.py holds here too, at connect time: Twisted connects to the addresses its
name resolver hands over, and `CheckedResolver` hands over none when any answer is one the source's
`AddressRule` refuses (its own pinned addresses, the operator's `private_networks`), so a name rebound to a
private address, or an allowed host on another private address, is never connected to. A request handed to
an HTTP(S) proxy (`http_proxy`/`https_proxy` in the environment) has its destination resolved and checked
first (`ProxiedDestinationMiddleware`); the proxy itself is the operator's and is let through.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urldefrag, urljoin

_SCHEMA = re.compile(r"^https?://schema\.org/")
_MARKERS = (("json-ld", b"ld+json"), ("microdata", b"itemscope"), ("rdfa", b"typeof"))
_LOC = re.compile(rb"<loc>\s*([^<\s]+)\s*</loc>")


def _join(base: str, href: str) -> str | None:
    """`href` read against the page's URL; None for a malformed one ("http://[x": an unclosed IPv6 bracket),
    which costs that link, not the page's other links."""
    try:
        return urljoin(base, href)
    except ValueError:
        return None


def _clean(value: Any) -> Any:
    """RDFa/microdata JSON-LD with full schema.org IRIs as keys and `[{"@value": x}]` lists made plain."""
    if isinstance(value, list):
        items = [_clean(v) for v in value]
        return items[0] if len(items) == 1 else items
    if not isinstance(value, dict):
        return _SCHEMA.sub("", value) if isinstance(value, str) and _SCHEMA.match(value) else value
    if set(value) <= {"@value", "@language", "@type"} and "@value" in value:
        return value["@value"]
    return {_SCHEMA.sub("", k): (_clean(v) if k != "@id" else v) for k, v in value.items()}


def _types(item: dict) -> list[str]:
    kinds = item.get("@type")
    return [
        str(k).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for k in (kinds if isinstance(kinds, list) else [kinds])
    ]


_MAX_EMBED = 6  # levels of references put in place (a Dataset → its distribution → its publisher …)


def _nodes_by_id(items: Any) -> dict[str, dict]:
    """Every described node of a syntax's result (top level and `@graph` members) by its `@id`."""
    index: dict[str, dict] = {}
    stack = list(items) if isinstance(items, list) else [items]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("@id"), str) and len(node) > 1:
                index.setdefault(node["@id"], node)
            if "@graph" in node:
                stack.append(node["@graph"])
    return index


def _embed(value: Any, index: dict[str, dict], trail: tuple[str, ...] = ()) -> Any:
    """References by `@id` alone replaced by the node they name: RDFa always comes flattened (a Dataset's
    distribution is `{"@id": "_:b1"}` beside it), and JSON-LD `@graph`s often are (`"publisher": {"@id":
    "#org"}`). A node met again on its own path stays a reference (cycles), as do references past
    _MAX_EMBED levels."""
    if isinstance(value, list):
        return [_embed(v, index, trail) for v in value]
    if not isinstance(value, dict):
        return value
    ident = value.get("@id")
    if set(value) == {"@id"} and isinstance(ident, str) and ident in index:
        if ident in trail or len(trail) >= _MAX_EMBED:
            return value
        return _embed(index[ident], index, (*trail, ident))
    inner = (*trail, ident) if isinstance(ident, str) else trail
    return {k: v if k == "@id" else _embed(v, index, inner) for k, v in value.items()}


def datasets_in(html: bytes, url: str) -> list[dict]:
    """The schema.org Datasets of a page (JSON-LD, microdata, RDFa), as plain JSON-LD objects."""
    if b"Dataset" not in html:  # every syntax names the type: skip the costly parse on other pages
        return []
    import extruct  # imported here: the adapter module must not need it

    # only the syntaxes the page uses: RDFa's parser alone costs more than the rest of a page's crawl
    syntaxes = [name for name, marker in _MARKERS if marker in html]
    if not syntaxes:
        return []
    try:
        found = extruct.extract(html, base_url=url, syntaxes=syntaxes, uniform=True)
    except Exception:  # a page broken beyond what the parsers accept holds no dataset we can read
        return []
    datasets: dict[str, dict] = {}  # by @id (or content, when it has none): one record a dataset

    def walk(item: Any, index: dict[str, dict], catalogue: Any = None, depth: int = 0) -> None:
        if isinstance(item, list):
            for each in item:
                walk(each, index, catalogue, depth)
            return
        if not isinstance(item, dict) or depth > 5:
            return
        item = _clean(_embed(item, index))
        if not isinstance(item, dict):
            return
        kinds = _types(item)
        if "@graph" in item:
            walk(item["@graph"], index, catalogue, depth + 1)
        if "DataCatalog" in kinds:
            about = {"name": item.get("name"), "url": item.get("url") or url}
            walk(item.get("dataset"), index, about, depth + 1)
        if "Dataset" in kinds:
            if catalogue and "includedInDataCatalog" not in item:
                item["includedInDataCatalog"] = catalogue
            ident = item.get("@id")
            key = ident if isinstance(ident, str) else json.dumps(item, sort_keys=True, default=str)
            known = datasets.setdefault(key, item)
            if known is not item and "includedInDataCatalog" in item:  # met again inside its catalogue
                known.setdefault("includedInDataCatalog", item["includedInDataCatalog"])

    for syntax in ("json-ld", "microdata", "rdfa"):
        results = found.get(syntax) or []
        walk(results, _nodes_by_id(results))
    return [_without_blank_ids(d) for d in datasets.values()]


def _without_blank_ids(value: Any) -> Any:
    """Blank node labels dropped: the RDFa parser draws new ones on every parse, and a record whose payload
    changed with them would read as updated on every crawl."""
    if isinstance(value, list):
        return [_without_blank_ids(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k: _without_blank_ids(v)
        for k, v in value.items()
        if not (k == "@id" and isinstance(v, str) and v.startswith("_:"))
    }


def crawl_results(config: dict) -> Iterator[dict]:
    """Crawl in a process of its own: yields its result lines, the last one the end line
    (`{"end": true, ...}`); a process that ends without it (a crash) is a HarvestError with its last words."""
    from .http import HarvestError

    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "fedcat.harvester.crawl"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(config).encode())
            process.stdin.close()
            for line in process.stdout:
                try:
                    result = json.loads(line)
                except ValueError:
                    continue  # not a result line
                yield result
                if result.get("end"):
                    return
            process.wait()
            errors.seek(0)
            tail = errors.read()[-600:].decode("utf-8", "replace").strip().splitlines()
            raise HarvestError(
                f"{config['url']}: the crawl process ended without a result (exit {process.returncode}): "
                + (tail[-1] if tail else "no message")
            )
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


# the small caps of `fedcat discover`: a body's website is looked at, not harvested
DISCOVERY_CAPS = {"max_pages": 200, "max_depth": 2, "max_page_bytes": 2 * 1024 * 1024, "page_timeout": 20.0}


def probe(found: dict[str, Any], user_agent: str, private_networks: tuple[str, ...] = ()) -> tuple[bool, str]:
    """(confirmed, why) for a proposed source: one request to its platform's API (discovery.probe_request)
    under the crawl's untrusted-input rules; "pattern only" when it did not answer as that platform."""
    from .discovery import probe_request, probe_says
    from .http import HarvestError, HttpClient, HttpSettings, LinkPolicy

    asked = probe_request(found)
    if asked is None:
        return False, "pattern only"
    target, accept = asked
    # one small, quick request, never retried, robots.txt obeyed
    settings = HttpSettings(
        connect_timeout=5.0, read_timeout=10.0, max_bytes=1024 * 1024, retries=0, max_redirects=3,
        run_budget=20.0, user_agent=user_agent, respect_robots=True, private_networks=private_networks,
    )  # fmt: skip
    client = HttpClient(LinkPolicy(target), settings)
    try:
        answer = client.get(target, accept=accept)
    except HarvestError as exc:
        return False, f"pattern only: the probe failed ({str(exc)[:200]})"
    except Exception as exc:  # a malformed address or network oddity: a failed probe, never a traceback
        return False, f"pattern only: the probe failed ({type(exc).__name__})"
    finally:
        client.close()
    confirmed, why = probe_says(found, answer.media_type, answer.content)
    return confirmed, why if confirmed else f"pattern only: {why}"


def discover(
    url: str, user_agent: str, probes: bool = True, private_networks: tuple[str, ...] = (), **options: Any
) -> dict[str, Any]:
    """What one website links to: `{"url", "sources": [entries], "dataset_pages": n, "complete", "reasons"}`;
    each source once, with the first page it was found on (`found_on`), and whether one request to its
    platform's API confirmed it (`confirmed`, `probe`: why). The crawl and the probes reach private
    addresses as a source's requests do: the website's own, and the operator's `private_networks`."""
    from .discovery import source_entry
    from .http import LinkPolicy

    private_ok = LinkPolicy(url).private_allowed

    config = {
        "mode": "discover",
        "url": url,
        "user_agent": user_agent,
        "budget": 300.0,
        "delay": 0.5,
        "private_networks": list(private_networks),
        **DISCOVERY_CAPS,
        **options,
    }
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    dataset_pages, end = 0, {}
    for result in crawl_results(config):
        if result.get("end"):
            end = result
            break
        for found in result["found"]:
            key = (found["type"], found["url"])
            if not private_ok and LinkPolicy(found["url"]).private_allowed:
                continue  # a public website's link to a private address is no source to propose
            if key not in sources:
                sources[key] = {**source_entry(found), "found_on": result["page"]}
        dataset_pages += bool(result["schema_datasets"])
    for found in sources.values():
        found["confirmed"], found["probe"] = (
            probe(found, user_agent, private_networks) if probes else (False, "pattern only")
        )
    if dataset_pages:  # the website itself carries schema.org Datasets: it is a `website` source
        entry = source_entry({"type": "website", "url": url})
        sources[("website", url)] = {
            **entry,
            "found_on": url,
            "dataset_pages": dataset_pages,
            "confirmed": True,
            "probe": f"schema.org Datasets on {dataset_pages} page(s)",
        }
    return {
        "url": url,
        "sources": list(sources.values()),
        "dataset_pages": dataset_pages,
        "complete": bool(end.get("complete")),
        "reasons": end.get("reasons", []),
    }


def crawl(config: dict, out: Any) -> None:
    import scrapy
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError

    from .discovery import classify
    from .http import LinkPolicy, UnsafeLink, private_networks

    discovering = config.get("mode") == "discover"
    policy = LinkPolicy(config["url"], frozenset(config.get("allowed_hosts") or ()))
    rule = policy.address_rule(private_networks(config.get("private_networks") or ()))
    max_pages, max_depth = int(config["max_pages"]), int(config["max_depth"])
    state: dict[str, Any] = {"reasons": [], "pages": 0, "refused": 0}

    def incomplete(reason: str) -> None:
        if reason not in state["reasons"] and len(state["reasons"]) < 20:
            state["reasons"].append(reason)

    PolicyMiddleware.policy, PolicyMiddleware.state = policy, state
    CheckedResolver.rule, CheckedResolver.refused = rule, staticmethod(incomplete)
    CheckedResolver.proxies = _proxy_hosts()
    ProxiedDestinationMiddleware.rule = rule

    class Website(scrapy.Spider):
        name = "website"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # 8-byte fingerprints, not the URLs: a few dozen bytes per page however long its address
            # (a collision, one in 2**64 per pair, would skip one page)
            self.seen: set[int] = set()

        def _request(self, url: str, depth: int) -> Any:
            url = urldefrag(url)[0]
            fingerprint = int.from_bytes(
                hashlib.blake2b(url.encode("utf-8", "replace"), digest_size=8).digest(), "big"
            )
            if fingerprint in self.seen:
                return None
            try:
                policy.check(url)
            except UnsafeLink:
                return None  # off-site, private or not http(s): not this source's, not a loss
            if depth > max_depth:
                incomplete(f"depth cap ({max_depth}) reached")
                return None
            if len(self.seen) >= max_pages:
                incomplete(f"page cap ({max_pages}) reached")
                return None
            self.seen.add(fingerprint)
            return scrapy.Request(url, callback=self.parse, errback=self.failed, meta={"page_depth": depth})

        async def start(self) -> Any:
            for request in self.start_requests():
                yield request

        def start_requests(self) -> Any:
            if first := self._request(config["url"], 0):
                yield first
            if config.get("sitemap"):
                yield scrapy.Request(config["sitemap"], callback=self.sitemap, errback=self.failed)

        def sitemap(self, response: Any) -> Any:
            # read with a pattern, not an XML parser: no entity or DTD is ever expanded
            index = b"<sitemapindex" in response.body[:4096]
            for match in _LOC.finditer(response.body):
                loc = _join(response.url, match[1].decode("utf-8", "replace").replace("&amp;", "&"))
                if loc is None:
                    continue
                if index:  # a sitemap of sitemaps: each one read as the first (the page cap still holds)
                    if request := self._request(loc, 1):
                        yield request.replace(callback=self.sitemap)
                elif request := self._request(loc, 1):
                    yield request

        def parse(self, response: Any) -> Any:
            state["pages"] += 1
            kind = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
            if "html" not in kind and not response.body.lstrip()[:15].lower().startswith(b"<!doctype html"):
                return
            found = datasets_in(response.body, response.url)
            if discovering:
                links = [
                    (url, None)
                    for a in response.css("a::attr(href)").getall()
                    if (url := _join(response.url, a.strip()))
                ]
                for alternate in response.xpath("//link[contains(@rel, 'alternate')]"):
                    href, kind = alternate.attrib.get("href"), alternate.attrib.get("type")
                    if href and (url := _join(response.url, href.strip())):
                        links.append((url, kind))
                sources = [s for url, kind in links if (s := classify(url, kind))]
                if sources or found:
                    result = {"page": response.url, "found": sources, "schema_datasets": len(found)}
                    out.write(json.dumps(result) + "\n")
                    out.flush()
            elif found:
                out.write(json.dumps({"page": response.url, "datasets": found}, default=str) + "\n")
                out.flush()
            depth = response.meta.get("page_depth", 0) + 1
            for href in response.css("a::attr(href)").getall():
                if (url := _join(response.url, href.strip())) and (request := self._request(url, depth)):
                    yield request

        def failed(self, failure: Any) -> None:
            if failure.check(IgnoreRequest) and not failure.check(HttpError):
                return  # robots.txt or the link policy said no: nothing to read there
            if failure.check(HttpError) and failure.value.response.status in (404, 410):
                return  # a dead link: the page does not exist
            url = failure.request.url if getattr(failure, "request", None) else "?"
            incomplete(f"{url}: {failure.getErrorMessage()[:200] or failure.type.__name__}")

    def closed(spider: Any, reason: str) -> None:
        if reason != "finished":
            incomplete(f"crawl stopped: {reason}")

    process = CrawlerProcess(
        settings={
            "USER_AGENT": config["user_agent"],
            "ROBOTSTXT_OBEY": bool(config.get("respect_robots", True)),
            "AUTOTHROTTLE_ENABLED": bool(config.get("autothrottle", True)),
            "AUTOTHROTTLE_START_DELAY": float(config.get("delay", 1.0)),
            "DOWNLOAD_DELAY": float(config.get("delay", 1.0)),
            "CONCURRENT_REQUESTS": max(16, int(config.get("concurrency_per_host", 1))),
            "CONCURRENT_REQUESTS_PER_DOMAIN": int(config.get("concurrency_per_host", 1)),
            "DOWNLOAD_MAXSIZE": int(config["max_page_bytes"]),
            "DOWNLOAD_WARNSIZE": 0,
            "DOWNLOAD_TIMEOUT": float(config["page_timeout"]),
            "CLOSESPIDER_TIMEOUT": float(config["budget"]),
            "RETRY_TIMES": 1,
            # the plain epoll reactor: asyncio's adds a task per callback (the crawl ran at half the rate)
            "TWISTED_REACTOR": "twisted.internet.epollreactor.EPollReactor"
            if sys.platform == "linux"
            else None,
            "DEPTH_LIMIT": 0,  # depth is the spider's own cap, so that reaching it is known
            "REDIRECT_MAX_TIMES": 5,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "ERROR",
            "DOWNLOADER_MIDDLEWARES": {
                "fedcat.harvester.crawl.PolicyMiddleware": 50,
                # after HttpProxyMiddleware (750), which says whether the request goes through a proxy
                "fedcat.harvester.crawl.ProxiedDestinationMiddleware": 760,
            },
            "TWISTED_DNS_RESOLVER": "fedcat.harvester.crawl.CheckedResolver",
            "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
            "LOG_INSTALL_ROOT_HANDLER": True,
        },
    )
    crawler = process.create_crawler(Website)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler)
    process.start()
    out.write(
        json.dumps(
            {
                "end": True,
                "complete": not state["reasons"],
                "reasons": state["reasons"],
                "pages": state["pages"],
                "refused": state["refused"],
            }
        )
        + "\n"
    )
    out.flush()


class PolicyMiddleware:
    """Every request, redirects and robots.txt included, passes the crawl's link policy before it leaves."""

    policy: Any = None
    state: ClassVar[dict[str, Any]] = {}

    def process_request(self, request: Any, spider: Any = None) -> None:
        from scrapy.exceptions import IgnoreRequest

        from .http import UnsafeLink

        try:
            self.policy.check(request.url)
        except UnsafeLink as exc:
            self.state["refused"] = self.state.get("refused", 0) + 1
            raise IgnoreRequest(str(exc)) from None


def _proxy_hosts() -> frozenset[str]:
    """The hosts of the proxies the environment configures (what Scrapy's HttpProxyMiddleware reads)."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies

    hosts = set()
    for kind, url in getproxies().items():
        if kind != "no" and (host := urlsplit(url if "://" in url else f"http://{url}").hostname):
            hosts.add(host.lower())
    return frozenset(hosts)


class CheckedResolver:
    """The crawl's name resolver (Scrapy's TWISTED_DNS_RESOLVER): the reactor's own resolver, whose answers
    are handed over only when the source's address rule lets every one of them through. Twisted then connects
    to exactly those addresses (HostnameEndpoint, and connectTCP through `reactor.resolve`), so a refused host
    is never connected to; the refusal is a reason the crawl is incomplete. Literal addresses pass here too.
    No cache: each connection resolves and checks afresh. The proxies' hosts are the operator's and pass."""

    rule: Any = None  # set by crawl(): the source's AddressRule
    refused: Any = None  # set by crawl(): a staticmethod called with the reason of a refusal
    proxies: frozenset[str] = frozenset()

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.original = reactor.nameResolver

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> CheckedResolver:
        return cls(reactor)

    def install_on_reactor(self) -> None:
        from twisted.internet.interfaces import IHostnameResolver
        from zope.interface import directlyProvides  # type: ignore[import-untyped]

        directlyProvides(self, IHostnameResolver)
        self.reactor.installNameResolver(self)

    def resolveHostName(
        self,
        receiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        if hostName.lower() in self.proxies:
            checked = receiver
        else:
            checked = _CheckedReceiver(receiver, hostName, self.rule, self.refused)
        return self.original.resolveHostName(checked, hostName, portNumber, addressTypes, transportSemantics)


class _CheckedReceiver:
    """Holds a resolution's answers until it completes, then hands over all of them or none."""

    def __init__(self, receiver: Any, host: str, rule: Any, refused: Any) -> None:
        from twisted.internet.interfaces import IResolutionReceiver
        from zope.interface import directlyProvides  # type: ignore[import-untyped]

        directlyProvides(self, IResolutionReceiver)
        self.receiver, self.host, self.rule, self.refused = receiver, host, rule, refused
        self.addresses: list[Any] = []

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        try:
            for address in self.addresses:
                why = self.rule.refusal(self.host, address.host)
                if why:
                    if self.refused is not None:
                        self.refused(f"refused {self.host}: it resolved to {address.host}, {why}")
                    return
            for address in self.addresses:
                self.receiver.addressResolved(address)
        finally:  # always: a resolution never completed leaves its request waiting for its timeout
            self.receiver.resolutionComplete()


class ProxiedDestinationMiddleware:
    """A request Scrapy hands to a proxy is connected to the proxy, not its destination: the destination is
    resolved and checked against the source's address rule first (as harvester/http.py does for requests)."""

    rule: Any = None

    async def process_request(self, request: Any, spider: Any = None) -> None:
        if not request.meta.get("proxy"):
            return
        from urllib.parse import urlsplit

        from scrapy.exceptions import IgnoreRequest
        from twisted.internet.threads import deferToThread

        from .http import _resolve

        host = urlsplit(request.url).hostname or ""
        for address in await deferToThread(_resolve, host):
            why = self.rule.refusal(host, str(address))
            if why:
                reason = f"refused {host}: it resolved to {address}, {why} (not handed to the proxy)"
                if CheckedResolver.refused is not None:
                    CheckedResolver.refused(reason)
                raise IgnoreRequest(reason)


def main() -> None:
    config = json.load(sys.stdin)
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed must not mix with the result lines
    crawl(config, out)


if __name__ == "__main__":
    # run as a module: crawl from the package's own copy, whose PolicyMiddleware Scrapy loads by name
    from fedcat.harvester.crawl import main as package_main

    package_main()
