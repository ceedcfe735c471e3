"""Elasticsearch in operation, on a real node (`.ci/elasticsearch start`; skipped without one): the node
going away during a harvest and coming back, the alias switch of a rebuild under searches, a mapping
change, a busy node, the settings that select it.

The node is reached through `NodeLink`, an HTTP relay on 127.0.0.1 that a test can cut (connections
refused, open ones closed: the node as a client sees it killed) and restore, or make answer "busy" (429).
The search answers themselves are the conformance suite's business (tests/test_search_backends.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.catalogue import Catalogue, bring_up_to_date
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.harvester.sources import ConfigError, parse_config
from fedcat.indexer.backend import SearchDocument, SearchQuery, SearchResult, SearchUnavailable

ES_URL = os.environ.get("FEDCAT_TEST_ELASTICSEARCH_URL", "")
PREFIX = f"fedcat-test-ops-{os.getpid()}-"  # the node is shared: indices of this run only
HTTP = {"connect_timeout": 2, "read_timeout": 5, "retries": 1, "backoff": 0.05, "run_budget": 120}

pytestmark = pytest.mark.skipif(
    not ES_URL, reason="no Elasticsearch node: set FEDCAT_TEST_ELASTICSEARCH_URL (`.ci/elasticsearch start`)"
)


class NodeLink:
    """An HTTP relay to the node on a fixed local port: `cut()` refuses and drops connections, `restore()`
    relays again, `busy(n, path_part, status)` answers the next n matching requests 429 (or `status`)
    without relaying them (with in_part=True: 200, an `_msearch` answer whose part failed so)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.busy_left = 0
        self.busy_path = ""
        self.busy_status = 429
        self.busy_in_part = False
        self.refused = 0  # requests answered 429
        self.delay = 0.0
        self.delay_path = ""
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> None:
        link = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with link._lock:
                    link._open.add(self.connection)

            def finish(self) -> None:
                with link._lock:
                    link._open.discard(self.connection)
                super().finish()

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with link._lock:
                    busy = link.busy_left > 0 and link.busy_path in self.path
                    if busy:
                        link.busy_left -= 1
                        link.refused += 1
                if busy:
                    status = link.busy_status
                    payload = b'{"error":{"type":"refused","reason":"by the test"},"status":%d}' % status
                    if link.busy_in_part:
                        status, payload = 200, b'{"responses":[%s]}' % payload
                    self._reply(status, {"content-type": "application/json"}, payload)
                    return
                if link.delay and link.delay_path in self.path:
                    time.sleep(link.delay)
                node = http.client.HTTPConnection(*link.target, timeout=30)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                    }
                    node.request(self.command, self.path, body=body or None, headers=headers)
                    answer = node.getresponse()
                    payload = answer.read()
                    kept = {
                        k: v
                        for k, v in answer.getheaders()
                        if k.lower() not in ("transfer-encoding", "connection", "content-length")
                    }
                    self._reply(answer.status, kept, payload)
                finally:
                    node.close()

            def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Relay)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def cut(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def busy(self, count: int, path_part: str, status: int = 429, in_part: bool = False) -> None:
        with self._lock:
            self.busy_left, self.busy_path, self.busy_status = count, path_part, status
            self.busy_in_part = in_part

    def slow(self, seconds: float, path_part: str) -> None:
        self.delay, self.delay_path = seconds, path_part


@pytest.fixture
def link() -> Iterator[NodeLink]:
    relay = NodeLink(ES_URL)
    relay.restore()
    yield relay
    relay.cut()


@pytest.fixture
def prefix(request) -> Iterator[str]:
    """An index prefix of the test's own; its indices are dropped afterwards."""
    name = PREFIX + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    yield name
    from elasticsearch import Elasticsearch

    with Elasticsearch(ES_URL) as client:
        for index in client.indices.get(index=name + "-*", allow_no_indices=True).body:
            client.indices.delete(index=index, ignore_unavailable=True)


def write_config(path: Path, url: str, search: dict) -> Path:
    source = {"id": "ville", "name": "Ville", "type": "dcat", "url": url}
    settings = {"http": HTTP, "search": {"backend": "elasticsearch", **search}}
    path.write_text(yaml.safe_dump({"settings": settings, "sources": [source]}))
    return path


def serve_city(portal: PortalServer, delay: float = 0.0) -> tuple[str, int]:
    """14 datasets, one a page."""
    base = portal.url("/ville")
    datasets = city_datasets(base)
    for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", 1).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body, delay=delay)
    return base + "/catalog.ttl?page=1", len(datasets)


def generations(prefix: str) -> list[str]:
    from elasticsearch import Elasticsearch

    with Elasticsearch(ES_URL) as client:
        return sorted(client.indices.get(index=prefix + "-datasets-*", allow_no_indices=True).body)


def test_node_away_during_a_harvest_loses_nothing_and_the_index_catches_up(
    tmp_path: Path, portal: PortalServer, link: NodeLink, prefix: str
) -> None:
    url, count = serve_city(portal, delay=0.15)
    # credentials written into the URL must never show in an answer or a message
    secret_url = link.url.replace("http://", "http://fedcat:s3cret@")
    config = write_config(tmp_path / "sources.yaml", url, {"url": secret_url, "index_prefix": prefix})
    catalogue = Catalogue.open(config, tmp_path / "data")
    client = TestClient(create_app(catalogue.store, catalogue.backend, catalogue.config))
    try:
        done: list = []
        worker = threading.Thread(
            target=lambda: done.append(harvest(catalogue.config, catalogue.store, catalogue.backend))
        )
        worker.start()
        deadline = time.monotonic() + 30
        while catalogue.store.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        link.cut()  # the node goes away mid-harvest
        worker.join(60)
        [[result]] = done
        assert result.status == "complete"  # storing went on: the index is not the harvest's business
        assert catalogue.store.count() == count

        response = client.get("/api/datasets", params={"q": "vélo"})
        assert response.status_code == 503
        assert "search is unavailable" in response.json()["detail"]
        assert response.headers["retry-after"] == "30"
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["search"]["status"] == "unavailable"
        assert "s3cret" not in response.text and "s3cret" not in str(health)
        with pytest.raises(SearchUnavailable):
            catalogue.backend.search(SearchQuery())

        link.restore()  # the node is back: the next sync (here the writer's start-up one) catches up
        bring_up_to_date(catalogue.store, catalogue.backend)
        page = client.get("/api/datasets", params={"page_size": 100}).json()
        assert page["total"] == count
        assert {item["id"] for item in page["items"]} == set(catalogue.backend.ids())
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["search"]["status"] in ("green", "yellow")
        assert health["search"]["generation"].startswith(prefix + "-datasets-")
    finally:
        client.close()
        catalogue.close()


class Searching:
    """A replica searching in a loop on a thread until the block ends: every total it saw, every failure."""

    def __init__(self, search: Callable[[], int]) -> None:
        self.search = search
        self.totals: list[int] = []
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.totals.append(self.search())
            except BaseException as exc:
                self.failures.append(exc)

    def __enter__(self) -> Searching:
        self._thread.start()
        while not self.totals and not self.failures:  # searching before the block starts
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def docs(n: int) -> list[SearchDocument]:
    return [
        SearchDocument(id=f"d{i:05d}", title=f"Jeu de données {i}", publisher=[f"Commune {i % 7}"])
        for i in range(n)
    ]


def test_searches_never_fail_nor_see_a_half_built_generation_during_rebuilds(prefix: str) -> None:
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix)
    reader = ElasticsearchBackend(ES_URL, index_prefix=prefix)  # an API replica
    corpus = docs(3000)
    backend.upsert(corpus)
    backend.commit()
    searching = Searching(lambda: reader.search(SearchQuery(q="donnees", page_size=5)).total)
    try:
        with searching:
            for _ in range(3):
                first = generations(prefix)
                with backend.rebuilding():
                    for start in range(0, len(corpus), 500):
                        backend.upsert(corpus[start : start + 500])
                        backend.commit()  # a rebuild's commits stay invisible until its end
                assert generations(prefix) != first  # a new generation, the old one dropped
                assert len(generations(prefix)) == 1
                # built with an asynchronous translog; live, every acknowledged write is durable again
                settings = backend.client.indices.get_settings(index=generations(prefix)[0]).body
                assert (
                    next(iter(settings.values()))["settings"]["index"]["translog"]["durability"] == "request"
                )
    finally:
        backend.close()
        reader.close()
    assert searching.failures == []
    assert len(searching.totals) > 10
    assert set(searching.totals) == {len(corpus)}  # never an empty or half-built index


def test_bulks_in_flight_together_keep_each_documents_writes_in_order(prefix: str) -> None:
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix, bulk_bytes=1, bulks_in_flight=4)
    words = " ".join(f"mot{i}" for i in range(100_000))
    slow = [SearchDocument(id=f"long{i}", title="Long", description=words) for i in range(4)]
    for doc in slow:  # every write a bulk of its own, up to four sent at once: a long document's upsert
        backend.upsert([doc])  # takes the node far longer than the delete sent right after it
        backend.delete([doc.id])
    backend.upsert(slow[::2])
    backend.commit()
    assert backend.ids() == {d.id for d in slow[::2]}
    backend.close()


def test_a_generation_is_built_without_replicas_and_goes_live_with_them(prefix: str) -> None:
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix, replicas=1)  # yellow on one node: fine
    backend.upsert(docs(10))
    backend.commit()

    def replicas() -> dict[str, str]:
        found = backend.client.indices.get_settings(index=prefix + "-datasets-*").body
        return {name: s["settings"]["index"]["number_of_replicas"] for name, s in found.items()}

    with backend.rebuilding():
        backend.upsert(docs(10))
        during = replicas()
    assert sorted(during.values()) == ["0", "1"]  # the one being built has none; the live one keeps its
    assert list(replicas().values()) == ["1"]
    assert backend.search(SearchQuery()).total == 10
    backend.close()


def test_a_generation_goes_live_merged_into_one_segment_with_the_default_merge_policy(prefix: str) -> None:
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix)
    corpus = docs(300)

    def segments(index: str) -> int:
        shards = backend.client.indices.segments(index=index).body["indices"][index]["shards"]
        return sum(copy["num_search_segments"] for copies in shards.values() for copy in copies)

    with backend.rebuilding():
        building = backend._building
        assert building is not None
        for start in range(0, len(corpus), 100):
            backend.upsert(corpus[start : start + 100])
            backend.commit()
            backend.client.indices.flush(index=building)  # a segment on disk for each part
            backend.client.indices.refresh(index=building)
        assert segments(building) == 3  # while building, nothing merges them
    live = generations(prefix)
    assert live == [building]
    assert segments(building) == 1
    assert backend.merge_seconds > 0
    settings = backend.client.indices.get_settings(index=building, flat_settings=True).body[building]
    assert "index.merge.policy.segments_per_tier" not in settings["settings"]  # the default again, live
    assert backend.search(SearchQuery(q="donnees")).total == len(corpus)
    backend.close()


def test_a_failed_rebuild_leaves_the_live_generation_alone(prefix: str) -> None:
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix)
    backend.upsert(docs(50))
    backend.commit()
    live = generations(prefix)
    with pytest.raises(RuntimeError, match="store went away"), backend.rebuilding():
        backend.upsert(docs(10))
        raise RuntimeError("store went away")
    assert generations(prefix) == live
    assert backend.search(SearchQuery()).total == 50
    backend.upsert(docs(60))  # and writes go to the live generation again
    backend.commit()
    assert backend.search(SearchQuery()).total == 60
    backend.close()


def test_a_mapping_change_is_rebuilt_beside_the_live_generation(
    tmp_path: Path, portal: PortalServer, prefix: str
) -> None:
    from elasticsearch import Elasticsearch
    from fedcat.indexer.elasticsearch import MAPPINGS

    url, count = serve_city(portal)
    config = write_config(tmp_path / "sources.yaml", url, {"url": ES_URL, "index_prefix": prefix})
    catalogue = Catalogue.open(config, tmp_path / "data")
    harvest(catalogue.config, catalogue.store, catalogue.backend)
    catalogue.close()
    # What an older fedcat left: its generation (another mapping version) behind the alias.
    old = f"{prefix}-datasets-0000000000-1"
    with Elasticsearch(ES_URL) as client:
        for index in generations(prefix):
            client.indices.delete(index=index)
        client.indices.create(index=old, mappings=MAPPINGS, aliases={f"{prefix}-datasets": {}})
    reader = Catalogue.open(config, tmp_path / "data", writer=False)
    assert reader.backend.outdated
    assert reader.backend.search(SearchQuery()).total == 0  # readers still answer from the old one
    writer = Catalogue.open(config, tmp_path / "data")  # the harvesting process rebuilds at start
    try:
        assert not writer.backend.outdated
        assert old not in generations(prefix) and len(generations(prefix)) == 1
        assert reader.backend.search(SearchQuery()).total == count  # the replica follows the alias
    finally:
        writer.close()
    # The index lost (deleted by hand, a new cluster) while the feed's cursor says it was fed: the
    # harvesting process notices at start and rebuilds it from the store.
    with Elasticsearch(ES_URL) as client:
        client.indices.delete(index=generations(prefix))
    writer = Catalogue.open(config, tmp_path / "data")
    try:
        assert reader.backend.search(SearchQuery()).total == count
    finally:
        writer.close()
        reader.close()


def test_the_generation_of_the_mapping_with_a_cluster_field_is_replaced_without_a_search_outage(
    tmp_path: Path, portal: PortalServer, prefix: str
) -> None:
    """Upgrade from the mapping that had a `cluster` keyword field (version 4c1a397e71): the harvesting
    process rebuilds at start beside the filled old generation while a replica keeps searching."""
    from elasticsearch import Elasticsearch
    from fedcat.indexer.elasticsearch import MAPPING_VERSION, MAPPINGS

    assert "cluster" not in MAPPINGS["properties"]
    url, count = serve_city(portal)
    config = write_config(tmp_path / "sources.yaml", url, {"url": ES_URL, "index_prefix": prefix})
    catalogue = Catalogue.open(config, tmp_path / "data")
    harvest(catalogue.config, catalogue.store, catalogue.backend)
    ids = sorted(catalogue.backend.ids())
    catalogue.close()
    old = f"{prefix}-datasets-4c1a397e71-1"
    old_mappings = {**MAPPINGS, "properties": {**MAPPINGS["properties"], "cluster": {"type": "keyword"}}}
    with Elasticsearch(ES_URL) as client:  # the old fedcat's generation, holding every dataset
        for index in generations(prefix):
            client.indices.delete(index=index)
        client.indices.create(index=old, mappings=old_mappings, aliases={f"{prefix}-datasets": {}})
        client.bulk(index=old, operations=[op for i in ids for op in ({"index": {"_id": i}}, {"id": i})])
        client.indices.refresh(index=old)
    reader = Catalogue.open(config, tmp_path / "data", writer=False)  # an API replica
    assert reader.backend.outdated and len(ids) == count
    with Searching(lambda: reader.backend.search(SearchQuery(page_size=1)).total) as searching:
        writer = Catalogue.open(config, tmp_path / "data")  # the harvesting process rebuilds at start
        writer.close()
        time.sleep(0.2)
    assert searching.failures == []
    assert set(searching.totals) == {count}  # never an empty or half-built generation
    (live,) = generations(prefix)
    assert live.startswith(f"{prefix}-datasets-{MAPPING_VERSION}-") and not reader.backend.outdated
    with Elasticsearch(ES_URL) as client:
        mapping = client.indices.get_mapping(index=live).body[live]["mappings"]["properties"]
    assert "cluster" not in mapping and "title_fr" in mapping
    assert reader.backend.ids() == set(ids)
    reader.close()


def test_a_busy_node_is_retried_with_backoff(link: NodeLink, prefix: str) -> None:
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(link.url, index_prefix=prefix, backoff=0.01)
    backend.search(SearchQuery())  # makes the first generation
    link.busy(2, "_bulk")
    backend.upsert(docs(100))
    backend.commit()
    assert link.refused == 2
    assert backend.search(SearchQuery()).total == 100
    link.busy(1, "search")  # _msearch
    assert backend.search(SearchQuery(q="donnees")).total == 100
    link.busy(1, "_msearch", in_part=True)  # one request of the search refused: retried too
    assert backend.search(SearchQuery(q="donnees")).total == 100
    assert link.refused == 4
    link.busy(1, "search", status=401)  # credentials refused: a clear SearchUnavailable, not a crash
    with pytest.raises(SearchUnavailable, match="credentials"):
        backend.search(SearchQuery())
    # the index removed by hand under a running replica: an empty index, not an error
    backend.client.indices.delete(index=generations(prefix))
    assert backend.search(SearchQuery()).total == 0
    backend.close()


def test_a_bulk_slower_than_the_request_timeout_is_waited_for(link: NodeLink, prefix: str) -> None:
    """A loaded node can take longer over a bulk of megabytes than over any search: the bulk is waited
    for (BULK_TIMEOUT), not given up on as the node unreachable while it indexes it anyway."""
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(link.url, index_prefix=prefix, request_timeout=5)
    backend.search(SearchQuery())  # makes the first generation
    link.slow(6, "_bulk")
    backend.upsert(docs(50))
    backend.commit()
    link.slow(0, "")
    assert backend.search(SearchQuery(q="donnees")).total == 50
    backend.close()


def test_writes_after_the_index_was_deleted_by_hand_go_to_a_new_generation(prefix: str) -> None:
    """The live generation deleted by hand (the alias goes with it): the next writes never make an index
    named like the alias with dynamic mappings; they are refused as pending (the feed keeps them) and,
    sent again, go to a new generation with fedcat's mappings."""
    from fedcat.indexer.elasticsearch import MAPPING_VERSION, ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix)
    backend.upsert(docs(10))
    backend.commit()
    backend.client.indices.delete(index=generations(prefix))
    backend.upsert(docs(20))
    with pytest.raises(SearchUnavailable, match="pending"):
        backend.commit()
    assert not backend.client.indices.exists(index=f"{prefix}-datasets")
    backend.upsert(docs(20))  # what the feed sends again
    backend.commit()
    [live] = generations(prefix)
    assert live.startswith(f"{prefix}-datasets-{MAPPING_VERSION}-")
    assert backend.search(SearchQuery(q="donnees")).total == 20
    backend.close()


def test_search_settings_are_checked_and_secrets_never_shown() -> None:
    source = {"id": "a", "name": "A", "type": "dcat", "url": "https://example.org/catalog.ttl"}
    with pytest.raises(ConfigError) as error:
        parse_config(
            {
                "settings": {"search": {"backend": "solr", "url": "node:9200", "shards": 2}},
                "sources": [source],
            }
        )
    message = str(error.value)
    assert "settings.search.backend" in message and "solr" in message
    assert "settings.search.url" in message and "unknown key `shards`" in message
    search = {"backend": "elasticsearch", "url": ES_URL, "username": "fedcat", "password": "s3cret-in-file"}
    config = parse_config({"settings": {"search": search}, "sources": [source]})
    assert config.settings.search["password"] == "s3cret-in-file"
    assert "s3cret" not in repr(config)


def test_fedcat_run_catches_up_by_itself_when_the_node_returns(
    tmp_path: Path, portal: PortalServer, link: NodeLink, prefix: str
) -> None:
    """The long-running service does not wait for the next harvest: while the index is behind, it
    retries the sync every `index_retry` seconds."""
    from fedcat.harvester.schedule import HarvestService

    url, count = serve_city(portal)
    config = write_config(tmp_path / "sources.yaml", url, {"url": link.url, "index_prefix": prefix})
    catalogue = Catalogue.open(config, tmp_path / "data")
    link.cut()
    service = HarvestService(catalogue.config, catalogue.store, catalogue.backend)
    service.index_retry = 0.5
    try:
        service.start(catch_up=False)
        run_id = service.trigger("ville")
        deadline = time.monotonic() + 60
        while not service.results and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [r.run_id for r in service.results] == [run_id]
        assert catalogue.store.count() == count and service.index_behind
        link.restore()
        while service.index_behind and time.monotonic() < deadline:
            time.sleep(0.1)
        assert catalogue.backend.search(SearchQuery()).total == count
    finally:
        service.shutdown(grace=5)
        catalogue.close()


def test_fedcat_reindex_switches_generations_and_status_shows_the_live_one(
    tmp_path: Path, portal: PortalServer, prefix: str, capsys
) -> None:
    from fedcat.cli import main

    url, count = serve_city(portal)
    config = write_config(tmp_path / "sources.yaml", url, {"url": ES_URL, "index_prefix": prefix})
    data = tmp_path / "data"
    assert main(["harvest", "--config", str(config), "--data-dir", str(data)]) == 0
    [before] = generations(prefix)
    assert main(["reindex", "--config", str(config), "--data-dir", str(data)]) == 0
    assert f"indexed {count} records" in capsys.readouterr().err
    [after] = generations(prefix)
    assert after != before
    assert main(["status", "--config", str(config), "--data-dir", str(data)]) == 0
    assert f"Search: elasticsearch green, generation {after}" in capsys.readouterr().out.replace("\n", " ")
    reader = Catalogue.open(config, data, writer=False)
    try:
        assert reader.backend.search(SearchQuery()).total == count
    finally:
        reader.close()


def test_a_repeated_search_reads_its_facet_counts_from_the_node_cache_until_the_index_changes(
    prefix: str,
) -> None:
    """With the node's default caches (request_cache=None) the facet counts, asked apart from the hits,
    are kept by the node's shard request cache: a repeated search reads them instead of counting again,
    and a commit (a refresh) makes it count the new documents."""
    from fedcat.indexer.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(ES_URL, index_prefix=prefix, request_cache=None)
    backend.upsert(docs(70))
    backend.commit()
    index = backend.live_generation()

    def cache() -> dict[str, int]:
        stats = backend.client.indices.stats(index=index, metric="request_cache").body
        return stats["indices"][index]["primaries"]["request_cache"]

    def counts(result: SearchResult) -> dict[str, int]:
        return {value.value: value.count for value in result.facets["publisher"]}

    query = SearchQuery(q="donnees", facets=("publisher", "format"))
    first = backend.search(query)
    before = cache()
    again = backend.search(query)
    after = cache()
    assert again == first
    assert after["hit_count"] > before["hit_count"]  # the facet counts were read from the cache
    assert counts(first)["Commune 0"] == 10  # 0, 7, ..., 63

    backend.upsert([SearchDocument(id="z", title="Jeu de données", publisher=["Commune 0"])])
    backend.commit()
    fresh = backend.search(query)
    assert fresh.total == 71
    assert counts(fresh)["Commune 0"] == 11  # never a stale count after a commit
    backend.close()


def test_facets_are_dealt_into_parts_of_about_equal_weight() -> None:
    from fedcat.indexer.backend import FACETS
    from fedcat.indexer.elasticsearch import FACET_WEIGHTS, facet_parts

    parts = facet_parts(list(FACETS), 2)
    assert sorted(name for part in parts for name in part) == sorted(FACETS)  # each counted once
    weights = [sum(FACET_WEIGHTS.get(name, 1) for name in part) for part in parts]
    assert max(weights) - min(weights) <= max(FACET_WEIGHTS.values())
    assert facet_parts(["theme"], 2) == [["theme"]]  # no empty request
    assert facet_parts([], 2) == []
