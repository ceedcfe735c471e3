"""Link checks: are the distributions' access and download URLs reachable? (MQA accessibility points.)

Each URL gets a HEAD request; when the answer is an HTTP error (some servers refuse HEAD: 403, 404, 405,
501), a GET for the first byte only (`Range: bytes=0-0`, body never read) decides. Reachable = the last
answer, after following redirects, was 2xx or 3xx. A timeout or a connection error is not retried with
GET: the server did not answer at all. Results go to the store's `link_checks` table (one row per URL,
shared by every record that lists it) and the quality score reads them at the next index sync.

Politeness: one shared rate limit for the whole check (`rate` requests per second, all hosts together),
at most one request at a time per host, the harvest's User-Agent, short timeouts, and URLs checked
recently (`max_age`) are skipped. Targets must be http(s) and, unless allowed, public addresses: links
come from harvested metadata and must not make fedcat probe its own network.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import requests

from ..mappings.quality import dataset_urls
from ..store import Store, now
from .http import (
    REDIRECT_STATUSES,
    HttpClient,
    HttpSettings,
    LinkPolicy,
    UnsafeLink,
    _resolve,
    network_problem,
)


@dataclass(frozen=True)
class LinkResult:
    url: str
    ok: bool
    status: int | None  # the last HTTP status, None when the server never answered
    method: str | None  # the request that decided: HEAD or GET
    error: str | None = None
    checked_at: str = field(default_factory=now)

    def row(self) -> tuple[str, str, bool, int | None, str | None, str | None]:
        return (self.url, self.checked_at, self.ok, self.status, self.method, self.error)


class RateLimiter:
    """At most `rate` starts per second across threads (evenly spaced, no bursts)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, sleep=time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"the link-check rate must be positive, got {rate}")
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        with self._lock:
            start = max(self._clock(), self._next)
            self._next = start + self.interval
        delay = start - self._clock()
        if delay > 0:
            self._sleep(delay)


class LinkChecker:
    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        rate: float = 5.0,
        concurrency: int = 4,
        timeout: float = 10.0,
        allow_private: bool = False,
    ) -> None:
        self.settings = settings or HttpSettings()
        # the harvest's client: same User-Agent and session defaults; its link policy is not used (the
        # links lead anywhere): `_target` refuses what it can tell early, and the client's connections
        # refuse private addresses at connect time, on the address they connect to
        self.client = HttpClient(
            policy=LinkPolicy("http://localhost/"), settings=self.settings, private_allowed=allow_private
        )
        self.limiter = RateLimiter(rate)
        self.concurrency = max(1, concurrency)
        self.timeout = (min(self.settings.connect_timeout, timeout), timeout)
        self._host_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _target(self, url: str) -> str | None:
        """Why a URL may not be requested, or None."""
        try:
            parts = urlsplit(url)
        except ValueError:  # "http://[x": an unclosed IPv6 bracket
            return "not a valid URL"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "not an http(s) URL"
        rule = self.client.address_rule  # what the connections will allow, told before any request
        if any(rule.refusal(parts.hostname, str(address)) for address in _resolve(parts.hostname)):
            return "private, loopback or link-local address"
        return None

    def _host_lock(self, url: str) -> threading.Lock:
        host = (urlsplit(url).hostname or "").lower()
        with self._locks_lock:
            return self._host_locks.setdefault(host, threading.Lock())

    def _request(self, method: str, url: str) -> int:
        """The final status of one request, redirects followed by hand (each hop must pass `_target`;
        `check` has checked the first)."""
        headers = {"Range": "bytes=0-0"} if method == "GET" else {}
        for hop in range(self.settings.max_redirects + 1):
            refused = self._target(url) if hop else None
            if refused:
                raise requests.exceptions.InvalidURL(f"refused {url}: {refused}")
            self.limiter.wait()
            with (
                self._host_lock(url),
                self.client.session.request(
                    method, url, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True
                ) as response,
            ):  # closing without reading: never download the file
                status = response.status_code
                location = response.headers.get("Location")
            if status not in REDIRECT_STATUSES or not location:
                return status
            try:
                url = urljoin(url, location)
            except ValueError:  # a Location no client can follow: the server answered all the same
                return status
        return status  # still redirecting: the server answers, count it as reachable (3xx)

    def check(self, url: str) -> LinkResult:
        refused = self._target(url)
        if refused:
            return LinkResult(url, False, None, None, refused)
        method, status = "HEAD", None
        try:
            status = self._request("HEAD", url)
            if status >= 400:
                method, status = "GET", self._request("GET", url)
        except requests.Timeout:
            return LinkResult(url, False, status, method, "timeout")
        except UnsafeLink:  # resolved to a private address when connecting
            return LinkResult(url, False, status, method, "private, loopback or link-local address")
        except requests.RequestException as exc:
            return LinkResult(url, False, status, method, network_problem(exc, url))
        return LinkResult(
            url, 200 <= status < 400, status, method, None if status < 400 else f"HTTP {status}"
        )

    def check_all(self, urls: Iterable[str]) -> Iterator[LinkResult]:
        """Results in the order of `urls`; the rate limit holds across the worker threads."""
        with ThreadPoolExecutor(self.concurrency, "fedcat-linkcheck") as pool:
            yield from pool.map(self.check, urls)

    def close(self) -> None:
        self.client.close()


@dataclass
class LinkCheckReport:
    counts: Counter = field(default_factory=Counter)  # urls, checked, ok, failed, skipped (recent)
    statuses: Counter = field(default_factory=Counter)  # "200", "404", "timeout"…
    sources: list[str] = field(default_factory=list)


def linkcheck(
    store: Store,
    source_ids: Iterable[str],
    *,
    settings: HttpSettings | None = None,
    rate: float = 5.0,
    concurrency: int = 4,
    timeout: float = 10.0,
    max_age: timedelta | None = timedelta(days=7),
    allow_private: Callable[[str], bool] = lambda source_id: False,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 200,
) -> LinkCheckReport:
    """Check the URLs of the live records of these sources and store the results.

    Appends a `rescored` feed entry for the sources' records, so that the next `sync_index` scores them
    with the new results. `allow_private(source_id)` says whether that source's links may point at private addresses
    (a source that is itself on a private network).
    """
    wanted = set(source_ids)
    report = LinkCheckReport(sources=sorted(wanted))
    private_ok: dict[str, bool] = {}  # url -> may be private (one source listing it that allows it is enough)
    for record in store.iter_records():
        source_id = record["source_id"]
        if source_id in wanted:
            allowed = allow_private(source_id)
            for url in dataset_urls(record["dataset"]):
                private_ok[url] = private_ok.get(url, False) or allowed
    cutoff = None
    if max_age is not None:
        cutoff = (datetime.now(UTC) - max_age).isoformat(timespec="seconds").replace("+00:00", "Z")
    known = store.link_checks(private_ok)
    todo = sorted(
        u for u in private_ok if cutoff is None or u not in known or known[u]["checked_at"] < cutoff
    )
    report.counts["urls"] = len(private_ok)
    report.counts["skipped"] = len(private_ok) - len(todo)
    done = report.counts["skipped"]
    for allowed in (False, True):
        urls = [u for u in todo if private_ok[u] == allowed]
        if not urls:
            continue
        checker = LinkChecker(
            settings, rate=rate, concurrency=concurrency, timeout=timeout, allow_private=allowed
        )
        try:
            pending: list[LinkResult] = []
            for result in checker.check_all(urls):
                pending.append(result)
                report.counts["checked"] += 1
                report.counts["ok" if result.ok else "failed"] += 1
                report.statuses[str(result.status) if result.status else (result.error or "error")] += 1
                done += 1
                if len(pending) >= batch:
                    store.save_link_checks(r.row() for r in pending)
                    pending = []
                if progress:
                    progress(done, len(private_ok))
            store.save_link_checks(r.row() for r in pending)
        finally:
            checker.close()
    # re-score every record listing a checked URL: other sources may share them (a national portal
    # re-publishing a city's files), and their stored scores must follow what their pages show
    checked = set(todo)
    touched = set(by_source_with_urls(store, checked)) | wanted if checked else wanted
    if touched:
        store.rescore(sources=touched)
    return report


def by_source_with_urls(store: Store, urls: set[str]) -> Iterator[str]:
    """The sources having a live record that lists one of these URLs."""
    seen: set[str] = set()
    for record in store.iter_records():
        source_id = record["source_id"]
        if source_id not in seen and not urls.isdisjoint(dataset_urls(record["dataset"])):
            seen.add(source_id)
            yield source_id
