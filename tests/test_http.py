"""The polite HTTP client against a real local server: caps, retries, redirects, link policy."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress

import pytest
from fedcat.demo.portal import PortalServer, Reply
from fedcat.harvester.http import (
    BudgetExceeded,
    FetchError,
    HostLimits,
    HttpClient,
    HttpSettings,
    LinkPolicy,
    RobotsDisallowed,
    TooLarge,
    UnsafeLink,
    private_networks,
)
from fedcat.harvester.linkcheck import LinkChecker
from fedcat.harvester.safety import UnsafeDocument, check_json_depth, check_turtle_depth, check_xml
from forward_proxy import ForwardProxy, use_only


def client_for(portal: PortalServer, **settings) -> HttpClient:
    return HttpClient(
        LinkPolicy(portal.url("/")), HttpSettings(backoff=0.01, **settings), sleep=lambda s: None
    )


def test_size_cap_stops_a_huge_body(portal):
    portal.add("/big", b"x" * 100_000)
    with pytest.raises(TooLarge, match="cap"):
        client_for(portal, max_bytes=10_000).get(portal.url("/big"))


def test_5xx_is_retried_then_reported(portal):
    portal.add("/down", b"no", status=503)
    with pytest.raises(FetchError, match="HTTP 503"):
        client_for(portal, retries=2).get(portal.url("/down"))
    assert len(portal.log) == 3


def test_redirects_are_followed_within_the_origin_only(portal):
    portal.add("/old", b"", status=301, headers={"Location": "/new"})
    portal.add("/new", b"hello")
    assert client_for(portal).get(portal.url("/old")).content == b"hello"
    portal.add("/away", b"", status=302, headers={"Location": "http://169.254.169.254/latest"})
    with pytest.raises(UnsafeLink, match="leaves the source's origin"):
        client_for(portal).get(portal.url("/away"))
    portal.add("/loop", b"", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="redirects"):
        client_for(portal).get(portal.url("/loop"))


def test_user_agent_names_fedcat(portal):
    portal.add("/ua", b"ok")
    client_for(portal).get(portal.url("/ua"))
    assert portal.log[0].headers["User-Agent"].startswith("fedcat/")


def test_link_policy():
    policy = LinkPolicy("https://portal.example.org/catalog", frozenset({"cdn.example.org"}))
    assert policy.check("https://portal.example.org/catalog?page=2")
    assert policy.check("https://cdn.example.org/page2")
    for url in (
        "http://portal.example.org/catalog",
        "https://evil.example.com/",
        "file:///etc/passwd",
        "https://169.254.169.254/",
    ):
        with pytest.raises(UnsafeLink):
            policy.check(url)


def test_xml_bombs_and_external_entities_are_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><r>&lol2;</r>'
    with pytest.raises(UnsafeDocument, match="entity bomb"):
        check_xml(bomb)
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(UnsafeDocument, match="XXE"):
        check_xml(xxe)
    # RDF/XML namespace shorthands stay allowed
    check_xml(
        b'<?xml version="1.0"?><!DOCTYPE rdf:RDF [<!ENTITY dcat "http://www.w3.org/ns/dcat#&quot;">]><r/>'
    )


def test_json_depth_is_bounded():
    check_json_depth(b'{"a": [1, {"b": "[[[[[[[["}]}', max_depth=3)
    with pytest.raises(UnsafeDocument):
        check_json_depth(b"[" * 100 + b"]" * 100, max_depth=64)


def test_turtle_depth_counts_only_the_brackets_outside_strings_iris_and_comments():
    quoted = b'<http://x.test/a[[[> <http://x.test/p> "[[[[", """((((\n]]""", \'[[\' . # [[[[[[\n'
    check_turtle_depth(quoted + b"<s> <p> [ <p> [ <p> ( 1 ) ] ] .", max_depth=3)
    with pytest.raises(UnsafeDocument, match="nested deeper"):
        check_turtle_depth(quoted + b"<s> <p> [ <p> [ <p> [ <p> ( 1 ) ] ] ] .", max_depth=3)
    # closing brackets inside a string close nothing
    with pytest.raises(UnsafeDocument, match="nested deeper"):
        check_turtle_depth(b'<s> <p> [ <p> "]]]]" ; <q> [ <p> [ <p> [ <p> 1 ] ] ] ] .', max_depth=3)


def test_retry_after_429(portal):
    hits = []

    def limited(request):
        hits.append(request)
        return Reply(b"wait", status=429, headers={"Retry-After": "1"}) if len(hits) < 2 else Reply(b"done")

    portal.handle("/limited", limited)
    waits = []
    client = HttpClient(LinkPolicy(portal.url("/")), HttpSettings(backoff=5), sleep=waits.append)
    assert client.get(portal.url("/limited")).content == b"done"
    assert len(waits) == 1 and 0.5 <= waits[0] <= 1.5  # Retry-After (1 s, with jitter), not the 5 s backoff


# --- politeness and limits (issue 4) ---------------------------------------------------------------------


def polite_client(portal: PortalServer, **settings) -> HttpClient:
    return HttpClient(
        LinkPolicy(portal.url("/")),
        HttpSettings(backoff=0.01, respect_robots=True, **settings),
        sleep=lambda s: None,
    )


def test_robots_txt_is_obeyed_when_asked(portal):
    portal.add("/robots.txt", "User-agent: *\nDisallow: /private\n", "text/plain")
    portal.add("/public", b"ok")
    portal.add("/private", b"secret")
    client = polite_client(portal)
    assert client.get(portal.url("/public")).content == b"ok"
    with pytest.raises(RobotsDisallowed, match=r"/private: disallowed for fedcat by .*/robots.txt"):
        client.get(portal.url("/private"))
    assert [r.path for r in portal.log] == ["/robots.txt", "/public"]  # read once, /private never asked
    # without the option, robots.txt is not read
    assert client_for(portal).get(portal.url("/private")).content == b"secret"


def test_robots_txt_crawl_delay_spaces_requests(portal):
    portal.add("/robots.txt", "User-agent: fedcat\nCrawl-delay: 2\n", "text/plain")
    portal.add("/page", b"ok")
    waits: list[float] = []
    client = HttpClient(LinkPolicy(portal.url("/")), HttpSettings(respect_robots=True), sleep=waits.append)
    for _ in range(3):
        client.get(portal.url("/page"))
    assert len(waits) == 2 and all(1.9 <= w <= 2.0 for w in waits)  # no jitter below the asked delay


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (410, True), (503, False), (500, False)])
def test_robots_txt_errors_follow_rfc_9309(portal, status, allowed):
    portal.add("/robots.txt", b"", status=status)
    portal.add("/page", b"ok")
    client = polite_client(portal, retries=0)
    if allowed:  # no robots.txt: everything is allowed
        assert client.get(portal.url("/page")).content == b"ok"
    else:  # unreachable: nothing is
        with pytest.raises(RobotsDisallowed, match=f"HTTP {status}: not crawling"):
            client.get(portal.url("/page"))


# --- the address rule at connect time ----------------------------------------------------------------------
#
# DNS answers come from the operating system's resolver (/etc/resolv.conf), which a test cannot point at a
# responder of its own; so these tests replace socket.getaddrinfo, the boundary between fedcat (and urllib3)
# and the OS, for made-up names only. Everything above it (requests, urllib3, fedcat's connections) and the
# servers below it are real.

PUBLIC_LOOKING = "93.184.216.34"


def test_a_gzip_file_is_read_within_the_cap(portal):
    import gzip

    # a catalogue published as catalog.ttl.gz: the file itself is gzip, no Content-Encoding to undo it
    turtle = b'@prefix dct: <http://purl.org/dc/terms/> .\n<http://x.example/1> dct:title "Bus" .\n' * 50
    portal.add("/catalog.ttl.gz", gzip.compress(turtle), "application/gzip", headers={"ETag": '"v1"'})
    response = client_for(portal).get(portal.url("/catalog.ttl.gz"))
    assert response.content == turtle
    assert response.media_type == ""  # the compressed file's type says nothing of the content: sniffed
    assert '"v1"' in response.headers["etag"]  # validators kept for the next conditional GET
    # a bomb: 50 MB of zeros in ~50 KB stops at the cap, never held whole
    portal.add("/bomb.ttl.gz", gzip.compress(b"\0" * 50_000_000), "application/gzip")
    with pytest.raises(TooLarge, match="gzip file over the 1000000-byte cap"):
        client_for(portal, max_bytes=1_000_000).get(portal.url("/bomb.ttl.gz"))
    portal.add("/broken.ttl.gz", gzip.compress(turtle)[:40], "application/gzip")
    with pytest.raises(FetchError, match="not a readable gzip file"):
        client_for(portal).get(portal.url("/broken.ttl.gz"))


@pytest.fixture
def dns(monkeypatch):
    """Names under .rebind.test answer a public address first and 127.0.0.1 afterwards (DNS rebinding);
    names under .loop.test always answer 127.0.0.1. Returns the list of names looked up, in order."""
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        name = str(host)
        if not name.endswith((".rebind.test", ".loop.test")):
            return real(host, port, *args, **kwargs)
        first = name.endswith(".rebind.test") and name not in asked
        asked.append(name)
        address = PUBLIC_LOOKING if first else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


class Listener:
    """A raw TCP listener on 127.0.0.1 recording every connection and its first bytes (a TLS ClientHello
    starts with byte 0x16, an HTTP request with its method)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(2)
                    try:
                        self.received.append(conn.recv(4096))
                    except OSError:
                        self.received.append(b"")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def test_a_name_rebinding_to_loopback_never_reaches_it(dns, listener):
    source = f"http://portal.rebind.test:{listener.port}/"
    client = HttpClient(LinkPolicy(source), HttpSettings(retries=0))  # the source looks public
    with pytest.raises(UnsafeLink, match=r"resolved to 127\.0\.0\.1, a private, loopback"):
        client.get(source + "catalog")
    time.sleep(0.2)
    assert listener.received == []  # refused before connecting: not even a TCP connection
    assert dns == ["portal.rebind.test", "portal.rebind.test"]  # one look-up to check, one to connect


def test_link_checking_connects_to_the_address_it_checked(dns, listener):
    checker = LinkChecker(HttpSettings(), rate=100, timeout=2)
    result = checker.check(f"http://files.rebind.test:{listener.port}/data.csv")
    checker.close()
    assert (result.ok, result.error) == (False, "private, loopback or link-local address")
    time.sleep(0.2)
    assert listener.received == []


def test_a_malformed_link_is_reported_broken_not_raised():
    """An unclosed IPv6 bracket made the URL parser raise inside the checker, ending the whole check."""
    checker = LinkChecker(HttpSettings(), rate=100, timeout=2)
    try:
        result = checker.check("http://[2001:db8::1/data.csv")
    finally:
        checker.close()
    assert (result.ok, result.status, result.error) == (False, None, "not a valid URL")


def test_private_address_is_refused_before_any_tls_handshake(dns, listener):
    source = f"https://portal.rebind.test:{listener.port}/"
    client = HttpClient(LinkPolicy(source), HttpSettings(retries=0))
    with pytest.raises(UnsafeLink, match="private, loopback"):
        client.get(source + "catalog")
    time.sleep(0.2)
    assert listener.received == []  # no ClientHello (b"\x16\x03…") was sent


class TlsPortal:
    """An HTTPS server on 127.0.0.1 with a certificate for `name` from a test CA; records SNI and Host."""

    def __init__(self, name: str) -> None:
        import http.server
        import ssl

        import trustme

        self.ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(name).configure_cert(context)
        self.sni: list[str | None] = []
        self.hosts: list[str | None] = []
        context.sni_callback = lambda sock, server_name, ctx: self.sni.append(server_name)
        seen = self.hosts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Host"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_connecting_to_the_checked_address_keeps_host_sni_and_certificate_on_the_name(
    dns, tmp_path, monkeypatch
):
    for bundle in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests prefers them to session.verify
        monkeypatch.delenv(bundle, raising=False)
    tls = TlsPortal("portal.loop.test")
    try:
        ca_file = tmp_path / "ca.pem"
        tls.ca.cert_pem.write_to_path(str(ca_file))
        source = f"https://portal.loop.test:{tls.port}/"  # on this machine: private addresses allowed
        client = HttpClient(LinkPolicy(source), HttpSettings(retries=0))
        client.session.verify = str(ca_file)
        assert client.get(source + "catalog").content == b"ok"
        assert tls.sni == ["portal.loop.test"]
        assert tls.hosts == [f"portal.loop.test:{tls.port}"]
        # the certificate is checked against the name asked for, not the address connected to
        other = f"https://other.loop.test:{tls.port}/"
        stranger = HttpClient(LinkPolicy(other), HttpSettings(retries=0))
        stranger.session.verify = str(ca_file)
        with pytest.raises(FetchError, match=r"other\.loop\.test"):
            stranger.get(other + "catalog")
    finally:
        tls.close()


@pytest.fixture
def pinned(monkeypatch):
    """Names under .pin.test answer 127.0.0.1 to their first look-up and 127.0.0.2 afterwards: a source
    whose exemption was granted for one address, then rebound to another private one."""
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        name = str(host)
        if not name.endswith(".pin.test"):
            return real(host, port, *args, **kwargs)
        address = "127.0.0.2" if name in asked else "127.0.0.1"
        asked.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_private_source_rebound_to_another_private_address_never_reaches_it(pinned):
    inside = socket.create_server(("127.0.0.2", 0))  # another host of the network, listening
    inside.settimeout(0.5)
    try:
        source = f"http://portal.pin.test:{inside.getsockname()[1]}/"
        client = HttpClient(LinkPolicy(source), HttpSettings(retries=0))  # the exemption: 127.0.0.1 only
        with pytest.raises(UnsafeLink, match=r"resolved to 127\.0\.0\.2, .* other than the source's own"):
            client.get(source + "catalog")
        with pytest.raises(TimeoutError):
            inside.accept()  # no connection came
    finally:
        inside.close()


def test_the_exemption_is_the_origins_own_addresses_for_its_host_only():
    rule = LinkPolicy("http://127.0.0.1:8080/catalog").address_rule()
    assert rule.refusal("127.0.0.1", "127.0.0.1") is None
    assert rule.refusal("8.8.8.8", "8.8.8.8") is None  # public addresses always pass
    assert "other than the source's own" in rule.refusal("127.0.0.1", "127.0.0.2")
    assert "other than the source's own" in rule.refusal("intranet.local", "127.0.0.1")  # another host
    assert "link-local" in rule.refusal("127.0.0.1", "169.254.169.254")
    # a source on the metadata address itself is not exempted; the operator may list it
    metadata = LinkPolicy("http://169.254.169.254/latest/").address_rule()
    assert "link-local" in metadata.refusal("169.254.169.254", "169.254.169.254")
    listed = LinkPolicy(
        "http://127.0.0.1/",
    ).address_rule(private_networks(["10.20.0.0/16", "169.254.169.254"]))
    assert listed.refusal("files.intranet", "10.20.3.4") is None
    assert listed.refusal("169.254.169.254", "169.254.169.254") is None
    assert listed.refusal("files.intranet", "10.21.0.1") is not None
    with pytest.raises(ValueError, match="not an IP network"):
        private_networks(["intranet"])


def test_link_checking_of_a_private_source_never_reaches_link_local():
    checker = LinkChecker(HttpSettings(), rate=100, timeout=0.5, allow_private=True)
    result = checker.check("http://169.254.169.254/latest/meta-data/")
    checker.close()
    assert (result.ok, result.error) == (False, "private, loopback or link-local address")


def test_private_allowed_host_of_a_public_source_is_refused():
    policy = LinkPolicy("https://portal.example.org/catalog", frozenset({"localhost"}))
    with pytest.raises(UnsafeLink, match="private, loopback or link-local"):
        policy.check("http://localhost/next")


def test_waiting_for_a_host_slot_counts_against_the_budget(portal):
    portal.add("/x", b"ok")
    limits = HostLimits(per_host=1, total=4)
    client = HttpClient(LinkPolicy(portal.url("/")), HttpSettings(run_budget=0.3), limits=limits)
    # another run holds the host's only slot
    with (
        limits.slot("127.0.0.1", time.monotonic() + 5),
        pytest.raises(BudgetExceeded, match=r"to 127\.0\.0\.1"),
    ):
        client.get(portal.url("/x"))
    assert portal.log == []


def test_accept_encoding_and_decoded_size_cap(portal):
    import gzip

    portal.add("/z", gzip.compress(b"a" * 50_000), headers={"Content-Encoding": "gzip"})
    client = client_for(portal, max_bytes=20_000)
    with pytest.raises(TooLarge, match="body over the 20000-byte cap"):  # 50 KB decoded from ~100 bytes
        client.get(portal.url("/z"))
    assert "gzip" in portal.log[0].headers["Accept-Encoding"]
    assert client_for(portal).get(portal.url("/z")).content == b"a" * 50_000


@pytest.fixture
def proxied(monkeypatch):
    """A forwarding proxy configured the usual way, in the environment (requests reads it per request)."""
    with ForwardProxy() as proxy:
        use_only(proxy, monkeypatch)
        yield proxy


def test_a_proxy_is_never_handed_a_destination_the_address_rule_refuses(dns, proxied):
    """Behind a proxy the connection is to the proxy, which resolves the destination itself: fedcat resolves
    and checks the destination first, so a private one never reaches the proxy (nor, through it, the host)."""
    with PortalServer() as site, PortalServer(host="127.0.0.2") as inside:
        site.add("/catalog", "ok", "text/plain")
        inside.add("/data", "secret", "text/plain")
        client = HttpClient(
            LinkPolicy(site.url("/"), frozenset({"127.0.0.2"})), HttpSettings(retries=0)
        )  # a source on 127.0.0.1: that address is its own
        assert client.get(site.url("/catalog")).content == b"ok"
        assert proxied.asked == [site.url("/catalog")]  # the proxy is used
        with pytest.raises(UnsafeLink, match=r"127\.0\.0\.2, .*other than the source's own.*not handed to"):
            client.get(inside.url("/data"))
        # a public-looking source allowing a host whose name resolves to loopback
        port = inside.httpd.server_address[1]
        public = HttpClient(
            LinkPolicy("http://portal.rebind.test/", frozenset({"files.loop.test"})), HttpSettings(retries=0)
        )
        with pytest.raises(UnsafeLink, match=r"files\.loop\.test: it resolved to 127\.0\.0\.1"):
            public.get(f"http://files.loop.test:{port}/data")
        # the link checker's requests too
        checker = LinkChecker(HttpSettings(), rate=100, timeout=2)
        assert not checker.check(f"http://files.loop.test:{port}/data").ok
        checker.close()
        assert proxied.asked == [site.url("/catalog")]
        assert inside.log == []


def test_network_failures_are_reported_as_their_cause(dns, tmp_path, monkeypatch):
    """Each failure says what happened and where, not urllib3's nested reprs (whose cause comes last,
    where a report's column cuts it off), and never the URL's credentials."""

    def failure(url: str) -> str:
        with pytest.raises(FetchError) as caught:
            HttpClient(LinkPolicy(url), HttpSettings(retries=0, connect_timeout=1, read_timeout=1)).get(url)
        return str(caught.value)

    with socket.socket() as spare:  # a port nobody listens on
        spare.bind(("127.0.0.1", 0))
        closed = spare.getsockname()[1]
    assert (
        failure(f"http://127.0.0.1:{closed}/c.ttl")
        == f"http://127.0.0.1:{closed}/c.ttl: connection refused (127.0.0.1:{closed})"
    )
    assert failure("http://no-such-host.invalid/c.ttl").endswith(
        ": host name not found (no-such-host.invalid)"
    )

    hangup = socket.create_server(("127.0.0.1", 0))  # accepts, then closes without a word
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    held: list[socket.socket] = []

    def serve() -> None:
        with suppress(OSError):
            while True:
                conn, _ = hangup.accept()
                conn.recv(65536)  # the request read first: closing with it unread would be a reset (RST)
                conn.close()

    def hold() -> None:
        with suppress(OSError):
            while True:
                held.append(silent.accept()[0])

    for target in (serve, hold):
        threading.Thread(target=target, daemon=True).start()
    try:
        port = hangup.getsockname()[1]
        said = failure(f"http://127.0.0.1:{port}/c.ttl")
        assert said.endswith(f"the server closed the connection without answering (127.0.0.1:{port})"), said
        port = silent.getsockname()[1]
        said = failure(f"http://127.0.0.1:{port}/c.ttl")
        assert said.endswith(f"timed out waiting for the answer (127.0.0.1:{port})"), said
    finally:
        hangup.close()
        silent.close()
        for conn in held:
            conn.close()

    for bundle in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(bundle, raising=False)
    tls = TlsPortal("portal.loop.test")  # its certificate is signed by a CA nobody trusts
    try:
        said = failure(f"https://user:secret@portal.loop.test:{tls.port}/c.ttl")
        assert f"TLS: unable to get local issuer certificate (portal.loop.test:{tls.port})" in said, said
        assert "secret" not in said.rsplit(": ", 1)[-1]
    finally:
        tls.close()
