"""The change feed (issue 11): one ordered log of record changes, one cursor per derived view.

The crash test kills real `fedcat harvest` processes with SIGKILL at 20 random moments (while pages are
stored, the index commits, the SPARQL store loads, records are withdrawn); after each kill a restart
brings every view up to date from its cursor, and the views must then say what the store says: the same
live records, with the content of their current version, nothing lost, nothing twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import yaml
from fedcat.audit.report import refresh_facts
from fedcat.catalogue import Catalogue
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.indexer.backend import SearchQuery
from fedcat.indexer.sparql import SparqlStore, catalog_info_from_store
from fedcat.mappings.model import Text, dataset_from_json, text_in
from fedcat.store import Store, feed
from fedcat.store.feed import Change
from fedcat.store.quality import quality_groups

BASE_URL = "https://fedcat.example"
KILLS = 20
DATASETS = 24
DESCRIPTIONS = "SELECT ?g ?d { GRAPH ?g { ?s a <http://www.w3.org/ns/dcat#Dataset> ; <http://purl.org/dc/terms/description> ?d } }"


class Recorder:
    """A view that remembers what it was given (and can be told to fail once)."""

    name = "recorder"

    def __init__(self, fail_at: int | None = None) -> None:
        self.seen: list[Change] = []
        self.fail_at = fail_at

    def apply(self, changes: list[Change]) -> None:
        if self.fail_at is not None and changes[-1].seq >= self.fail_at:
            self.fail_at = None
            raise RuntimeError("the view failed")
        self.seen.extend(changes)


def test_catch_up_is_ordered_batched_and_repeats_a_failed_batch(tmp_path: Path) -> None:
    from fedcat.store import Upsert, payload_hash, record_id

    store = Store(tmp_path / "fedcat.db")
    try:
        base = "https://ville.example"
        datasets = city_datasets(base)
        run = store.start_run("ville")

        def upsert(dataset, raw: bytes) -> Upsert:
            srid = dataset.uri
            return Upsert(
                record_id("ville", srid), srid, dataset, raw, "text/turtle", payload_hash(raw), srid
            )

        written = store.save_page("ville", run, [upsert(d, d.uri.encode()) for d in datasets], [])
        assert [seq for _, seq in written] == list(range(1, len(datasets) + 1))
        changed = msgspec.structs.replace(datasets[0], title=[Text("autre", "fr")])
        store.save_page("ville", run, [upsert(changed, b"changed")], [])
        view = Recorder(fail_at=5)
        with pytest.raises(RuntimeError):
            feed.catch_up(store, view, batch=4)
        assert feed.cursor(store, view.name) == 4  # the failed batch (5..8) stays to do
        assert feed.catch_up(store, view, batch=4) == len(datasets) + 1 - 4
        assert [c.seq for c in view.seen] == list(range(1, len(datasets) + 2))
        assert [c.kind for c in view.seen][-1] == "updated" and view.seen[-1].version == 2
        assert feed.catch_up(store, view) == 0  # up to date: nothing read again
        feed.reset(store, view.name)
        assert feed.catch_up(store, view) == len(datasets) + 1  # a rebuild reads everything again
    finally:
        store.close()


# --- kill -9 at random points ----------------------------------------------------------------------------


def round_datasets(base: str, round_: int) -> list:
    """The source at round `round_`: 1 in 7 datasets missing (withdrawn, then back), 1 in 3 rewritten."""
    template = city_datasets(base)
    datasets = []
    for number in range(DATASETS):
        if (number + round_) % 7 == 0:
            continue
        words = f"révision tour{round_}" if (number + round_) % 3 == 0 else "description stable"
        datasets.append(
            msgspec.structs.replace(
                template[number % len(template)],
                uri=f"{base}/datasets/d{number}",
                identifier=[f"d{number}"],
                title=[Text(f"Jeu {number}", "fr")],
                description=[Text(words, "fr")],
            )
        )
    return datasets


def publish(portal: PortalServer, datasets: list, delay: float) -> str:
    base = portal.url("/ville")
    for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", 3).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body, delay=delay)
    return base + "/catalog.ttl?page=1"


def start_harvest(config: Path, data: Path) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEDCAT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "fedcat", "harvest", "--config", str(config), "--data-dir", str(data)],
        env=clean,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_views_agree(config: Path, data: Path) -> int:
    """Restart (catch every view up) and compare each view with the store; returns the live records."""
    catalogue = Catalogue.open(config, data)  # a writer: the search view catches up
    try:
        store, backend = catalogue.store, catalogue.backend
        live = store.live_ids()
        records = store.current(live)
        descriptions = {r.uri: text_in(dataset_from_json(r.dataset).description) for r in records.values()}
        # search index: every live record once, none other; its text is the current version's
        assert backend.ids() == live
        assert backend.search(SearchQuery(page_size=1)).total == len(live)
        for word in {d.split()[-1] for d in descriptions.values()}:
            hits = backend.search(SearchQuery(q=word, page_size=100)).total
            assert hits == sum(d.endswith(word) for d in descriptions.values()), word
        # quality scores: one per live record
        assert {g.key for g in quality_groups(store, "dataset")} == live
        # SPARQL store: one graph per live record, holding its current description
        sparql = SparqlStore.for_store(store)
        try:
            sparql.sync(store, catalog_info_from_store(store, BASE_URL, catalogue.config))
            graphs = {row["g"].value: row["d"].value for row in sparql.oxigraph.query(DESCRIPTIONS)}
        finally:
            sparql.close()
        assert graphs == descriptions
        # audit facts: one row per live record
        refresh_facts(store)
        facts = {row[0] for row in store.db.execute("SELECT id FROM audit_facts")}
        assert facts == live
        # every view's cursor at the feed's head
        head = feed.head(store)
        for view in ("search", "sparql", "audit"):
            assert feed.cursor(store, view) == head, view
        return len(live)
    finally:
        catalogue.close()


@pytest.mark.timeout(900)  # 20 fedcat processes started and killed, on a shared machine
def test_kill_9_at_20_random_points_then_every_view_agrees_with_the_store(tmp_path: Path) -> None:
    seed = int(os.environ.get("FEDCAT_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    data = tmp_path / "data"
    config = tmp_path / "sources.yaml"
    with PortalServer() as portal:
        base = portal.url("/ville")
        url = publish(portal, round_datasets(base, 0), delay=0.02)
        source = {"id": "ville", "name": "Ville", "type": "dcat", "url": url}
        http = {"connect_timeout": 2, "read_timeout": 5, "retries": 1, "backoff": 0.05}
        settings = {"base_url": BASE_URL, "http": http}
        config.write_text(yaml.safe_dump({"settings": settings, "sources": [source]}))
        # an unkilled run: how long one takes (process start included), and a SPARQL store to keep in step
        started = time.monotonic()
        process = start_harvest(config, data)
        assert process.wait(timeout=120) == 0, process.communicate()[1][-3000:]
        duration = time.monotonic() - started
        store = Store(data / "fedcat.db")
        SparqlStore.for_store(store).close()
        store.close()
        assert assert_views_agree(config, data) == len(round_datasets(base, 0))
        killed = 0
        for round_ in range(1, KILLS + 1):
            publish(portal, round_datasets(base, round_), delay=0.02)
            process = start_harvest(config, data)
            at = rng.uniform(0.1, 1.1) * duration
            try:
                process.wait(timeout=at)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                killed += 1
            process.communicate(timeout=30)
            assert_views_agree(config, data)
        assert killed >= KILLS // 2, f"only {killed} runs were still going when killed (seed {seed})"
        # nothing lost: a complete run after all that holds exactly the last round's datasets
        process = start_harvest(config, data)
        assert process.wait(timeout=120) == 0, process.communicate()[1][-3000:]
        assert assert_views_agree(config, data) == len(round_datasets(base, KILLS)), f"seed {seed}"
