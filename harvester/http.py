"""The one polite HTTP client every adapter uses.

requests underneath (one pooled session per run): connect/read timeouts, a total time budget per run, a
response size cap, retries with exponential backoff and jitter on 429/5xx/connection errors honouring
Retry-After, conditional GET with stored validators, redirects followed by hand so that every hop passes the
source's link policy (same origin, http/https only, no private addresses unless the source itself is one).
"""

from __future__ import annotations

import ipaddress
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests

from .. import __version__

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class HarvestError(Exception):
    """A fetch or parse failure that stops the current source (the run becomes partial or failed)."""


class UnsafeLink(HarvestError):
    """A link fedcat refuses to follow (another origin, a private address, a non-HTTP scheme)."""


class FetchError(HarvestError):
    """The server could not give a usable response after retries."""


class TooLarge(FetchError):
    """The response exceeded the size cap."""


class BudgetExceeded(FetchError):
    """The run's total time budget ran out."""


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_bytes: int = 200 * 1024 * 1024
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_retry_after: float = 120.0
    max_redirects: int = 5
    run_budget: float = 6 * 3600.0  # seconds for a whole source run
    user_agent: str = f"fedcat/{__version__} (+https://github.com/fedcat/fedcat)"


def _is_private(host: str) -> bool:
    """True for loopback, private, link-local and other non-public addresses (literal or resolved)."""
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False  # unresolvable: the fetch itself will fail with a clear error
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    return any(not a.is_global for a in addresses)


@dataclass(frozen=True)
class LinkPolicy:
    """Which URLs a source may lead fedcat to: its own origin, plus hosts it explicitly allows."""

    source_url: str
    allowed_hosts: frozenset[str] = frozenset()

    def check(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeLink(f"refused {url!r}: only http and https links are followed")
        origin = urlsplit(self.source_url)
        host = (parts.hostname or "").lower()
        same_origin = (parts.scheme, host, parts.port) == (origin.scheme, origin.hostname, origin.port)
        if not same_origin and host not in self.allowed_hosts:
            raise UnsafeLink(
                f"refused {url!r}: it leaves the source's origin {origin.scheme}://{origin.netloc} "
                "(list the host in the source's allowed_hosts to follow it)"
            )
        if not same_origin and _is_private(host) and not _is_private(origin.hostname or ""):
            raise UnsafeLink(f"refused {url!r}: private, loopback or link-local address")
        return url


@dataclass
class CachedPage:
    """What fedcat remembers of a page it processed: validators for conditional GET, and its next link."""

    etag: str | None = None
    last_modified: str | None = None
    next_url: str | None = None


@dataclass
class Response:
    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes
    cached: CachedPage | None = None  # set on 304 Not Modified: the page as last processed

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass
class HttpClient:
    """One per source run. `page_cache` gives what was stored of a URL's last fetch (conditional GET)."""

    policy: LinkPolicy
    settings: HttpSettings = field(default_factory=HttpSettings)
    page_cache: Callable[[str], CachedPage | None] = lambda url: None
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.settings.run_budget
        self.session.headers["User-Agent"] = self.settings.user_agent
        self.session.headers["Accept-Encoding"] = "gzip, deflate"
        self.requests = 0

    def get(self, url: str, *, accept: str = "*/*", conditional: bool = False) -> Response:
        """GET with the source's policy, retries and caps; 304 gives `not_modified=True` and no body."""
        headers = {"Accept": accept}
        known = self.page_cache(url) if conditional else None
        if known:
            if known.etag:
                headers["If-None-Match"] = known.etag
            if known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        for attempt in range(self.settings.retries + 1):
            try:
                response = self._follow(url, headers)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.settings.retries:
                    raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
                self._wait(self.settings.backoff * 2**attempt)
                continue
            if response.status in RETRY_STATUSES and attempt < self.settings.retries:
                delay = _retry_after(response.headers.get("Retry-After"))
                self._wait(
                    min(delay, self.settings.max_retry_after)
                    if delay is not None
                    else self.settings.backoff * 2**attempt
                )
                continue
            if response.status >= 400:
                raise FetchError(f"{url}: HTTP {response.status}")
            if response.not_modified:
                if known is None:
                    raise FetchError(f"{url}: HTTP 304 to a request that was not conditional")
                response.cached = known
            return response
        raise AssertionError("unreachable")

    def _wait(self, seconds: float) -> None:
        seconds = seconds * (0.5 + random.random())  # jitter: sources retried together do not stampede
        if time.monotonic() + seconds > self.deadline:
            raise BudgetExceeded("the run's time budget ran out while waiting to retry")
        self.sleep(seconds)

    def _follow(self, url: str, headers: dict[str, str]) -> Response:
        for _ in range(self.settings.max_redirects + 1):
            self.policy.check(url)
            response = self._fetch(url, headers)
            if response.status not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location")
            if not location:
                raise FetchError(f"{url}: HTTP {response.status} without a Location header")
            url = urljoin(url, location)
        raise FetchError(f"{url}: more than {self.settings.max_redirects} redirects")

    def _fetch(self, url: str, headers: dict[str, str]) -> Response:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise BudgetExceeded("the run's time budget ran out")
        timeout = (self.settings.connect_timeout, min(self.settings.read_timeout, remaining))
        self.requests += 1
        with self.session.get(
            url, headers=headers, timeout=timeout, stream=True, allow_redirects=False
        ) as raw:
            declared = raw.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.settings.max_bytes:
                raise TooLarge(f"{url}: {declared} bytes announced, over the {self.settings.max_bytes} cap")
            chunks, size = [], 0
            for chunk in raw.iter_content(chunk_size=256 * 1024):
                size += len(chunk)
                if size > self.settings.max_bytes:
                    raise TooLarge(f"{url}: body over the {self.settings.max_bytes}-byte cap")
                if time.monotonic() > self.deadline:
                    raise BudgetExceeded(f"{url}: the run's time budget ran out while reading")
                chunks.append(chunk)
            return Response(
                url=url,
                status=raw.status_code,
                headers=raw.headers,
                content=b"".join(chunks),
            )

    def close(self) -> None:
        self.session.close()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
