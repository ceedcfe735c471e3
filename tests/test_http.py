"""The polite HTTP client against a real local server: caps, retries, redirects, link policy."""

from __future__ import annotations

import pytest
from fedcat.demo.portal import PortalServer, Reply
from fedcat.harvester.http import FetchError, HttpClient, HttpSettings, LinkPolicy, TooLarge, UnsafeLink
from fedcat.harvester.safety import UnsafeDocument, check_json_depth, check_xml


@pytest.fixture
def portal():
    with PortalServer() as server:
        yield server


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
