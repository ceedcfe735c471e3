"""The one polite HTTP client every adapter uses.

requests underneath (one pooled session per run; bench/concurrency.py and the DESIGN's fetch figures: with
real portal latencies, threads around requests are as fast as async clients, and Scrapy's reactor cannot be
restarted in one process): connect/read timeouts, a total time budget per run that also bounds a server
dripping its headers or body a byte at a time, a response size cap (decoded bytes, so gzip bombs too),
retries with exponential backoff and jitter on 429/5xx/connection errors honouring Retry-After, conditional
GET with stored validators, redirects followed by hand so that every hop passes the source's link policy
(same origin, http/https only, no private addresses unless the source itself is one), per-host limits
shared by every client of the process, and robots.txt when asked.

The address rule holds where it counts, at connect time: each connection resolves its host once, refuses
it before any byte is sent (no TCP connection, so no TLS ClientHello) when an answer is private, loopback,
link-local or reserved, and connects to exactly the addresses it checked, while the Host header, TLS SNI
and the certificate check stay on the name. A name that answers a public address to a first look-up and
a private one to the next (DNS rebinding) therefore cannot lead inside.

The exemption of a source that is itself on a private network (or on this machine) is pinned: its origin
is resolved once, when its client is made, and only those addresses, and only for the origin's host, are
let through (`AddressRule`). A public-looking source whose DNS answers a private address to that look-up
gets that one address for its own name, not the network (nor the cloud metadata service). Link-local
addresses are never let through that way; the operator lists the private networks any source may reach
(`settings.private_networks`).

Behind an HTTP(S) proxy (from the environment) the connection is to the proxy, which resolves the destination
on its own: the adapter resolves the destination first and refuses it there, so a refused address is never
handed to the proxy (`_refuse_before_proxy`).
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import itertools
import random
import re
import socket
import threading
import time
import urllib.robotparser
import zlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection
from urllib3.util.request import ACCEPT_ENCODING

from .. import __version__

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"  # a gzip member, deflate: no text format starts so
ROBOTS_AGENT = "fedcat"
MAX_CRAWL_DELAY = 60.0


class HarvestError(Exception):
    """A fetch or parse failure that stops the current source (the run becomes partial or failed)."""


class UnsafeLink(HarvestError):
    """A link fedcat refuses to follow (another origin, a private address, a non-HTTP scheme)."""


def resolve(base: str, link: str) -> str:
    """`link` read against `base`. A link that is no URL at all ("http://[x": an unclosed IPv6 bracket,
    on which Python's parser raises ValueError) is refused as any unsafe link is, naming it."""
    try:
        return urljoin(base, link)
    except ValueError as exc:
        raise UnsafeLink(f"refused {link!r}: not a valid URL ({exc})") from None


class FetchError(HarvestError):
    """The server could not give a usable response after retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP error status, when the server answered one


class TooLarge(FetchError):
    """The response exceeded the size cap."""


class BudgetExceeded(FetchError):
    """The run's total time budget ran out."""


class Stopped(HarvestError):
    """The process is shutting down: no new request is started."""


class RobotsDisallowed(HarvestError):
    """The source's robots.txt does not let fedcat fetch this URL (only with `respect_robots`)."""


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
    respect_robots: bool = False
    private_networks: tuple[str, ...] = ()  # CIDR networks any link may reach (settings.private_networks)


def _is_private(host: str) -> bool:
    """True for loopback, private, link-local and other non-public addresses (literal or resolved)."""
    return any(not address.is_global for address in _resolve(host))


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> IpAddress:
    address = ipaddress.ip_address(text.strip("[]").split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:  # ::ffff:10.0.0.1 is 10.0.0.1
        return address.ipv4_mapped
    return address


def private_networks(texts: tuple[str, ...] | list[str]) -> tuple[IpNetwork, ...]:
    """The operator's networks (`10.20.0.0/16`, `fd00::/8`, a single address); ValueError names a bad one."""
    networks = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(str(text).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an IP network such as 10.0.0.0/8 ({exc})") from exc
    return tuple(networks)


@dataclass(frozen=True)
class AddressRule:
    """Which non-public addresses a client's connections may reach. Public addresses always pass.

    `origin_hosts` (the source's host and the hosts its `allowed_hosts` name: both chosen by the operator) may
    reach `origin_addresses` (what the source's host resolved to when the client was made, or the literal
    address it is); any host may reach the operator's `networks`; `any_private` (the link checker
    for a source on a private network) lets every private address through except link-local ones."""

    origin_hosts: frozenset[str] = frozenset()
    origin_addresses: frozenset[IpAddress] = frozenset()
    networks: tuple[IpNetwork, ...] = ()
    any_private: bool = False

    def refusal(self, host: str, text: str) -> str | None:
        """Why connecting to `host` at address `text` is refused, or None."""
        address = _address(text)
        if address.is_global or any(address in network for network in self.networks):
            return None
        if address.is_link_local:  # the cloud metadata service lives there: only if the operator lists it
            return "a link-local address (list it in settings.private_networks to allow it)"
        if self.any_private:
            return None
        if host.strip("[]").lower() in self.origin_hosts and address in self.origin_addresses:
            return None
        if self.origin_addresses:
            return "a private, loopback or reserved address other than the source's own"
        return "a private, loopback, link-local or reserved address"


def _resolve(host: str) -> list[IpAddress]:
    """The addresses of a host name or literal, [] when it does not resolve."""
    try:
        return [_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # unresolvable: the fetch itself will fail with a clear error
    return list(dict.fromkeys(_address(str(info[4][0])) for info in infos))


@dataclass(frozen=True)
class LinkPolicy:
    """Which URLs a source may lead fedcat to: its own origin, plus hosts it explicitly allows."""

    source_url: str
    allowed_hosts: frozenset[str] = frozenset()

    @property
    def private_allowed(self) -> bool:
        """Is the source itself on a private network (or on this machine, as in tests)?"""
        return _is_private(urlsplit(self.source_url).hostname or "")

    def address_rule(self, networks: tuple[IpNetwork, ...] = ()) -> AddressRule:
        """The source's exemption, pinned now: the non-public, non-link-local addresses its origin host is
        (a literal) or resolves to, for that host and the hosts it explicitly allows only; plus the operator's
        networks."""
        host = (urlsplit(self.source_url).hostname or "").lower()
        own = frozenset(a for a in _resolve(host) if not a.is_global and not a.is_link_local)
        hosts = frozenset({host, *(h.lower() for h in self.allowed_hosts)})
        return AddressRule(hosts, own, networks)

    def check(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            port = parts.port  # "…:99999" raises here
        except ValueError as exc:
            raise UnsafeLink(f"refused {url!r}: not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise UnsafeLink(f"refused {url!r}: only http and https links are followed")
        origin = urlsplit(self.source_url)
        host = (parts.hostname or "").lower()
        same_origin = (parts.scheme, host, port) == (origin.scheme, origin.hostname, origin.port)
        if not same_origin and host not in self.allowed_hosts:
            raise UnsafeLink(
                f"refused {url!r}: it leaves the source's origin {origin.scheme}://{origin.netloc} "
                "(list the host in the source's allowed_hosts to follow it)"
            )
        if not same_origin and _is_private(host) and not _is_private(origin.hostname or ""):
            raise UnsafeLink(f"refused {url!r}: private, loopback or link-local address")
        return url


class HostLimits:
    """Requests in flight per host and in all, shared by every client of the process (politeness)."""

    def __init__(self, per_host: int = 2, total: int = 16) -> None:
        self.per_host, self.total = max(1, per_host), max(1, total)
        self._all = threading.BoundedSemaphore(self.total)
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._hosts.setdefault(host, threading.BoundedSemaphore(self.per_host))

    def slot(self, host: str, deadline: float) -> AbstractContextManager[None]:
        """Hold one of the host's slots (and one overall) for a request; waits at most until `deadline`."""
        return _Slot(self._host(host.lower()), self._all, host, deadline)


class _Slot:
    def __init__(
        self, host: threading.Semaphore, total: threading.Semaphore, name: str, deadline: float
    ) -> None:
        self.host, self.total, self.name, self.deadline = host, total, name, deadline

    def __enter__(self) -> None:
        if not self.host.acquire(timeout=max(0.0, self.deadline - time.monotonic())):
            raise BudgetExceeded(f"the run's time budget ran out waiting for a connection to {self.name}")
        if not self.total.acquire(timeout=max(0.0, self.deadline - time.monotonic())):
            self.host.release()
            raise BudgetExceeded(f"the run's time budget ran out waiting for a free connection ({self.name})")

    def __exit__(self, *exc: object) -> None:
        self.total.release()
        self.host.release()


# --- deadlines that hold while a server drips bytes ------------------------------------------------------
#
# A read timeout bounds each wait for bytes, not a response: a server sending a byte a second never trips it,
# and http.client reads status line and headers with no way to check a deadline in between. A watchdog
# thread therefore shuts down the socket of a request that outlives its deadline, which ends any blocked read.


class _Watch:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sock: socket.socket | None = None
        self.fired = self.done = False
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self.sock = sock
            if self.fired:
                self._shutdown()

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            self._shutdown()

    def finish(self) -> None:
        with self._lock:
            self.done, self.sock = True, None

    def _shutdown(self) -> None:
        if self.sock is not None:
            with suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread per process, woken for the nearest deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._cond:
            if len(self._heap) >= 1024 and next(self._order) % 1024 == 0:
                # finished requests wait in the heap for their (run-long) deadline: drop them now and then
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="fedcat-http-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, watch = heapq.heappop(self._heap)
                    if not watch.done:
                        watch.fire()
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


_watchdog = _Watchdog()
_current = threading.local()  # the request this thread is making: its _Watch


def _watched(conn: HTTPConnection) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    if watch is not None:  # one of HttpClient's requests (linkcheck uses the session directly)
        watch.attach(conn.sock)


def _connect_checked(conn: HTTPConnection, rule: AddressRule) -> socket.socket:
    """Resolve the connection's host once, check every answer, and connect to those addresses only."""
    host = conn._dns_host  # type: ignore[attr-defined]
    try:
        infos = socket.getaddrinfo(host.strip("[]"), conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    for address in addresses:
        refused = rule.refusal(host, address)
        if refused:
            raise UnsafeLink(f"refused {conn.host}: it resolved to {address}, {refused}")
    error: Exception = NewConnectionError(conn, f"{conn.host} resolved to no address")
    for address in addresses:  # literals: create_connection does no further look-up
        try:
            return create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            error = ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            )
            error.__cause__ = exc
        except OSError as exc:
            error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
            error.__cause__ = exc
    raise error


class _Connection(HTTPConnection):
    address_rule = AddressRule()  # set per adapter (_connection_pools)

    def _new_conn(self) -> socket.socket:
        return _connect_checked(self, self.address_rule)

    def connect(self) -> None:
        super().connect()
        _watched(self)

    def getresponse(self):  # type: ignore[no-untyped-def]
        _watched(self)  # a kept-alive connection is not connected again
        return super().getresponse()


class _TlsConnection(HTTPSConnection):
    address_rule = AddressRule()

    def _new_conn(self) -> socket.socket:
        return _connect_checked(self, self.address_rule)

    def connect(self) -> None:
        super().connect()
        _watched(self)

    def getresponse(self):  # type: ignore[no-untyped-def]
        _watched(self)
        return super().getresponse()


def _connection_pools(rule: AddressRule) -> dict[str, type[HTTPConnectionPool]]:
    plain = type("_Connection", (_Connection,), {"address_rule": rule})
    tls = type("_TlsConnection", (_TlsConnection,), {"address_rule": rule})
    # urllib3 names the pool class in its errors ("HTTPConnectionPool(host=…): Read timed out"): keep its names
    return {
        "http": type(HTTPConnectionPool.__name__, (HTTPConnectionPool,), {"ConnectionCls": plain}),
        "https": type(HTTPSConnectionPool.__name__, (HTTPSConnectionPool,), {"ConnectionCls": tls}),
    }


def _refuse_before_proxy(url: str, rule: AddressRule) -> None:
    """A request handed to an HTTP(S) proxy never reaches `_connect_checked` (the connection is to the proxy,
    which resolves the destination itself): resolve the destination here and refuse it when any answer is
    one the rule refuses. A name that does not resolve here goes to the proxy (behind a proxy, often only
    the proxy can resolve names); the proxy's own answer is the proxy's to check."""
    host = urlsplit(url).hostname or ""
    for address in _resolve(host):
        refused = rule.refusal(host, str(address))
        if refused:
            raise UnsafeLink(f"refused {host}: it resolved to {address}, {refused} (not handed to the proxy)")


class _Adapter(HTTPAdapter):
    """Mounts the pools whose connections apply the client's address rule, and applies it before a request
    is handed to a proxy."""

    def __init__(self, rule: AddressRule) -> None:
        self.address_rule = rule  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _connection_pools(self.address_rule)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        if proxies and select_proxy(request.url or "", proxies):
            _refuse_before_proxy(request.url or "", self.address_rule)
        return super().send(request, stream, timeout, verify, cert, proxies)


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


# (url, seconds, HTTP status or None, error kind or None) of every exchange: metrics and logs
FetchObserver = Callable[[str, float, int | None, str | None], None]


@dataclass
class HttpClient:
    """One per source run. `page_cache` gives what was stored of a URL's last fetch (conditional GET)."""

    policy: LinkPolicy
    settings: HttpSettings = field(default_factory=HttpSettings)
    page_cache: Callable[[str], CachedPage | None] = lambda url: None
    sleep: Callable[[float], None] | None = None  # default: wait on `stop`, so a shutdown cuts waits short
    session: requests.Session = field(default_factory=requests.Session)
    limits: HostLimits | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    observer: FetchObserver | None = None
    credentials: dict[str, str] = field(default_factory=dict)  # headers for the source's own origin only
    # may connections reach private addresses? None: the source's own (LinkPolicy.address_rule); True: any but
    # link-local (links of a source on a private network); False: none. The operator's networks always.
    private_allowed: bool | None = None

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.settings.run_budget
        self.session.headers["User-Agent"] = self.settings.user_agent
        # "br" too when a Brotli decoder is installed (urllib3 then decodes it)
        self.session.headers["Accept-Encoding"] = ACCEPT_ENCODING
        networks = private_networks(self.settings.private_networks)
        if self.private_allowed is None:
            self.address_rule = self.policy.address_rule(networks)
        else:
            self.address_rule = AddressRule(networks=networks, any_private=self.private_allowed)
        adapter = _Adapter(self.address_rule)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.requests = 0
        source = urlsplit(self.policy.source_url)
        self._credential_origin = (source.scheme, source.netloc.rsplit("@", 1)[-1].lower())
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._last_request: dict[str, float] = {}

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
                    raise FetchError(f"{url}: {network_problem(exc, url)}") from exc
                self._wait(self.settings.backoff * 2**attempt, url)
                continue
            if response.status in RETRY_STATUSES and attempt < self.settings.retries:
                delay = _retry_after(response.headers.get("Retry-After"))
                self._wait(
                    min(delay, self.settings.max_retry_after)
                    if delay is not None
                    else self.settings.backoff * 2**attempt,
                    url,
                )
                continue
            if response.status >= 400:
                raise FetchError(f"{url}: HTTP {response.status}", response.status)
            if response.not_modified:
                if known is None:
                    raise FetchError(f"{url}: HTTP 304 to a request that was not conditional")
                response.cached = known
            elif response.content.startswith(GZIP_MAGIC):
                response = self._gunzipped(response)
            return response
        raise AssertionError("unreachable")

    def _gunzipped(self, response: Response) -> Response:
        """A catalogue published as a gzip file (`catalog.ttl.gz`: Content-Type application/gzip, not a
        Content-Encoding the transport undoes): its content, decompressed within the same size cap (a bomb
        stops at the cap), its media type left to be sniffed."""
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        parts: list[bytes] = []
        size = 0
        data = response.content
        try:
            while data:
                part = inflate.decompress(data, READ_CHUNK)
                data = inflate.unconsumed_tail
                size += len(part)
                if size > self.settings.max_bytes:
                    raise TooLarge(f"{response.url}: gzip file over the {self.settings.max_bytes}-byte cap")
                parts.append(part)
                if inflate.eof:
                    break
        except zlib.error as exc:
            raise FetchError(f"{response.url}: not a readable gzip file ({exc})") from exc
        if not inflate.eof:
            raise FetchError(f"{response.url}: not a readable gzip file (truncated)")
        headers = CaseInsensitiveDict(response.headers)
        headers.pop("Content-Type", None)
        return Response(response.url, response.status, headers, b"".join(parts), response.cached)

    def _wait(self, seconds: float, url: str, jitter: bool = True) -> None:
        if jitter:
            seconds = seconds * (0.5 + random.random())  # sources retried together do not stampede
        if time.monotonic() + seconds > self.deadline:
            raise BudgetExceeded(f"{url}: the run's time budget ran out while waiting to retry")
        if self.sleep is not None:
            self.sleep(seconds)
        elif self.stop.wait(seconds):
            raise Stopped(f"{url}: stopped by a shutdown while waiting to retry")

    def _follow(self, url: str, headers: dict[str, str]) -> Response:
        for _ in range(self.settings.max_redirects + 1):
            self.policy.check(url)
            if self.settings.respect_robots:
                self._obey_robots(url)
            response = self._fetch(url, headers)
            if response.status not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location")
            if not location:
                raise FetchError(f"{url}: HTTP {response.status} without a Location header")
            url = resolve(url, location)
        raise FetchError(f"{url}: more than {self.settings.max_redirects} redirects")

    def _fetch(self, url: str, headers: dict[str, str]) -> Response:
        if self.stop.is_set():
            raise Stopped(f"{url}: not fetched, fedcat is shutting down")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise BudgetExceeded(f"{url}: not fetched, the run's time budget ran out")
        host = urlsplit(url).hostname or ""
        slot = self.limits.slot(host, self.deadline) if self.limits else nullcontext()
        started, status, error = time.monotonic(), None, None
        try:
            with slot:
                response = self._exchange(url, headers)
            status = response.status
            return response
        except BaseException as exc:
            error = _error_kind(exc)
            raise
        finally:
            if self.observer is not None:
                self.observer(url, time.monotonic() - started, status, error)

    def _exchange(self, url: str, headers: dict[str, str]) -> Response:
        if self.credentials:  # never sent to another origin (a redirect, an allowed host, a link checked)
            target = urlsplit(url)
            if (target.scheme, target.netloc.rsplit("@", 1)[-1].lower()) == self._credential_origin:
                headers = {**headers, **self.credentials}
        remaining = self.deadline - time.monotonic()
        timeout = (min(self.settings.connect_timeout, remaining), min(self.settings.read_timeout, remaining))
        self.requests += 1
        watch = _Watch(self.deadline)
        _watchdog.add(watch)
        _current.watch = watch
        try:
            with self.session.get(
                url, headers=headers, timeout=timeout, stream=True, allow_redirects=False
            ) as raw:
                response = Response(url, raw.status_code, raw.headers, self._read_body(url, raw))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if watch.fired:
                raise BudgetExceeded(f"{url}: the run's time budget ran out during the request") from exc
            raise
        finally:
            _current.watch = None
            watch.finish()
        # the watchdog's shutdown also reads as the orderly end of a response that ends with its connection
        if watch.fired:
            raise BudgetExceeded(f"{url}: the run's time budget ran out during the request")
        return response

    def _read_body(self, url: str, raw: requests.Response) -> bytes:
        declared = raw.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_bytes:
            raise TooLarge(f"{url}: {declared} bytes announced, over the {self.settings.max_bytes} cap")
        chunks, size = [], 0
        try:
            while True:
                # read1: whatever arrived, at most a chunk (decoded), so the checks below run between small
                # reads even when the server sends a byte at a time
                chunk = raw.raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.settings.max_bytes:
                    raise TooLarge(f"{url}: body over the {self.settings.max_bytes}-byte cap")
                if time.monotonic() > self.deadline:
                    raise BudgetExceeded(f"{url}: the run's time budget ran out while reading the body")
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.Timeout(f"read timed out in the body after {size} bytes") from exc
        except urllib3.exceptions.DecodeError as exc:
            raise FetchError(f"{url}: body not decodable ({exc})") from exc
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise requests.ConnectionError(
                f"connection broken after {size} bytes of the body: {exc}"
            ) from exc
        return b"".join(chunks)

    def _obey_robots(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = None  # robots.txt itself is not subject to robots.txt
            self._robots[origin] = self._read_robots(origin)
        rules = self._robots[origin]
        if rules is None:
            return
        if not rules.can_fetch(ROBOTS_AGENT, url):
            raise RobotsDisallowed(f"{url}: disallowed for {ROBOTS_AGENT} by {origin}/robots.txt")
        delay = rules.crawl_delay(ROBOTS_AGENT)
        if delay:
            wait = self._last_request.get(origin, 0.0) + min(float(delay), MAX_CRAWL_DELAY) - time.monotonic()
            if wait > 0:
                self._wait(wait, url, jitter=False)
            self._last_request[origin] = time.monotonic()

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        """RFC 9309: a 4xx robots.txt allows everything; an unreachable one (5xx, network) allows nothing."""
        url = origin + "/robots.txt"
        try:
            response = self._follow(url, {"Accept": "text/plain"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RobotsDisallowed(f"{url} unreachable ({exc}): not crawling, as RFC 9309 asks") from exc
        if 400 <= response.status < 500:
            return None
        if response.status >= 500:
            raise RobotsDisallowed(f"{url}: HTTP {response.status}: not crawling, as RFC 9309 asks")
        rules = urllib.robotparser.RobotFileParser(url)
        rules.parse(response.content.decode("utf-8", "replace").splitlines())
        return rules

    def close(self) -> None:
        self.session.close()


# urllib3's own words for the common causes, in the text it buries under "Max retries exceeded with url …
# (Caused by NewConnectionError(…))": (pattern, what an operator reads), first match wins
_NETWORK_CAUSES = (
    (
        re.compile(
            r"NameResolutionError|Name or service not known|nodename nor servname|getaddrinfo failed|"
            r"Temporary failure in name resolution|No address associated"
        ),
        "host name not found",
    ),
    (re.compile(r"Connection refused"), "connection refused"),
    (re.compile(r"Connection reset"), "connection reset by the server"),
    (
        re.compile(r"RemoteDisconnected|Connection aborted|closed connection without response"),
        "the server closed the connection without answering",
    ),
    (re.compile(r"Network is unreachable|No route to host"), "network unreachable"),
    (re.compile(r"ConnectTimeout|connect timeout|Connection to .* timed out"), "timed out connecting"),
    (re.compile(r"ReadTimeout|Read timed out|read timed out"), "timed out waiting for the answer"),
)
_TLS_CAUSE = re.compile(
    r"certificate verify failed: ([^(\"')]+)|(wrong version number|handshake failure|"
    r"unsupported protocol|hostname mismatch[^\"')]*)"
)


def network_problem(exc: BaseException, url: str) -> str:
    """What went wrong reaching `url`, as an operator reads it: "host name not found (example.org)",
    "connection refused (127.0.0.1:1)", "TLS: certificate has expired (example.org)". requests' own text
    nests urllib3's reprs three deep and puts the cause last, where a report's column cuts it off. A
    cause not recognised keeps the exception's text, after its type."""
    parts = urlsplit(url)
    where = parts.netloc.rsplit("@", 1)[-1] or url  # never the userinfo
    text = str(exc)
    if exc.args and isinstance(exc.args[0], str):  # fedcat's own words ("connection broken after 812 bytes…")
        return f"{text} ({where})"
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in text or "CERTIFICATE_VERIFY" in text:
        found = _TLS_CAUSE.search(text)
        cause = next((g for g in found.groups() if g), "").strip() if found else "handshake failed"
        return f"TLS: {cause or 'handshake failed'} ({where})"
    if isinstance(exc, requests.exceptions.ProxyError):
        return f"proxy error reaching {where}: {text[:200]}"
    for pattern, said in _NETWORK_CAUSES:
        if pattern.search(text) or pattern.search(type(exc).__name__):
            return f"{said} ({where})"
    if isinstance(exc, requests.Timeout):
        return f"timed out ({where})"
    return f"{type(exc).__name__}: {text}"[:300]


def _error_kind(exc: BaseException) -> str:
    """A short label for metrics: what went wrong with one exchange."""
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection"
    if isinstance(exc, TooLarge):
        return "too_large"
    if isinstance(exc, BudgetExceeded):
        return "budget"
    if isinstance(exc, UnsafeLink):
        return "unsafe_link"
    if isinstance(exc, Stopped):
        return "stopped"
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
