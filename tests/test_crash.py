"""Real processes: `fedcat harvest` killed with SIGKILL mid-run, then restarted; `fedcat run` stopped with
SIGTERM mid-run; `fedcat run` serving the admin API; `fedcat status` after all that.

The portal runs in this process on 127.0.0.1 and answers slowly (one dataset a page, a delay per page) so
that the kill lands while pages are being fetched and stored. Loops wait on the store, bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from fedcat.catalogue import Catalogue
from fedcat.cli import main
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.harvester.run import harvest
from fedcat.indexer.backend import SearchQuery

HTTP = {"connect_timeout": 2, "read_timeout": 5, "retries": 1, "backoff": 0.05, "run_budget": 120}
DAILY = f"0 {(datetime.now(UTC).hour + 12) % 24} * * *"  # no fire time during the test
TOKEN = "crash-test-token"


def serve_slow_city(portal: PortalServer, delay: float) -> tuple[str, int]:
    """14 datasets, one a page, `delay` seconds a page."""
    base = portal.url("/ville")
    datasets = city_datasets(base)
    for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", 1).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body, delay=delay)
    return base + "/catalog.ttl?page=1", len(datasets)


def write_config(path: Path, url: str, **settings) -> Path:
    source = {"id": "ville", "name": "Ville", "type": "dcat", "url": url, "schedule": DAILY}
    path.write_text(yaml.safe_dump({"settings": {"http": HTTP, **settings}, "sources": [source]}))
    return path


def fedcat(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEDCAT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "fedcat", *args],
        env={**clean, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_records(data_dir: Path) -> int:
    """Records committed so far, read like any other reader of the store would."""
    path = data_dir / "fedcat.db"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(
                f"fedcat exited early ({process.returncode}): {process.communicate()[1][-3000:]}"
            )
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"not true after {timeout} s: {process.communicate()[1][-3000:]}")


def assert_consistent(catalogue: Catalogue, expected: int | None = None) -> None:
    """Index ids == live store ids, no record twice (in the store or the index)."""
    store, backend = catalogue.store, catalogue.backend
    live = store.live_ids()
    assert backend.ids() == live
    assert backend.search(SearchQuery(page_size=1)).total == len(live)  # no duplicate documents
    twice = store.db.execute(
        "SELECT source_id, source_record_id FROM records GROUP BY 1, 2 HAVING COUNT(*) > 1"
    ).fetchall()
    assert twice == []
    orphans = store.db.execute(
        "SELECT COUNT(*) FROM records r LEFT JOIN record_data d ON d.id = r.id WHERE d.id IS NULL"
    ).fetchone()[0]
    assert orphans == 0  # every record's content was written with it
    if expected is not None:
        assert len(live) == expected


@pytest.mark.parametrize("kill_after", [1, 6])
def test_kill_9_mid_harvest_then_restart(tmp_path, portal, kill_after):
    url, count = serve_slow_city(portal, delay=0.3)
    config = write_config(tmp_path / "sources.yaml", url)
    data = tmp_path / "data"
    process = fedcat("harvest", "--config", str(config), "--data-dir", str(data))
    wait_for(lambda: stored_records(data) >= kill_after, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL

    catalogue = Catalogue.open(config, data)  # a writer: reconciles the index with the store
    try:
        with catalogue.harvesting():  # marks the dead process's run
            [run] = catalogue.store.runs("ville")
            assert run["status"] == "interrupted"
            assert run["message"] == "the process stopped before the run ended"
            assert run["withdrawn"] == 0
            killed_with = catalogue.store.count("ville")
            assert kill_after <= killed_with < count
            assert_consistent(catalogue, killed_with)
            # harvested again: complete, every dataset once
            [again] = harvest(catalogue.config, catalogue.store, catalogue.backend)
            assert again.status == "complete", again.message
            assert again.counts["created"] == count - killed_with
            assert_consistent(catalogue, count)
    finally:
        catalogue.close()


def test_sigterm_stops_fedcat_run_after_a_whole_page(tmp_path, portal, capsys):
    url, count = serve_slow_city(portal, delay=0.3)
    config = write_config(tmp_path / "sources.yaml", url, shutdown_grace=10)
    data = tmp_path / "data"
    # never harvested: the scheduler's catch-up starts a run at once
    process = fedcat(
        "run", "--no-api", "--log-format", "json", "--config", str(config), "--data-dir", str(data)
    )
    wait_for(lambda: stored_records(data) >= 3, process)
    # the service holds the data dir: a harvest beside it is refused, clearly, before touching the index
    assert main(["harvest", "--config", str(config), "--data-dir", str(data)]) == 2
    assert "another fedcat process is harvesting into" in capsys.readouterr().err
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in logs]
    [start] = [entry for entry in logs if entry.get("event") == "start"]
    assert start["message"].startswith("fedcat run: 1 sources scheduled, 1 caught up")
    assert start["caught_up"] == ["ville"]
    assert "fedcat run: stopping (runs end their current page)" in messages
    assert messages[-1] == "fedcat run: stopped"

    catalogue = Catalogue.open(config, data, writer=False)  # a reader: sees what the service left
    try:
        [run] = catalogue.store.runs("ville")
        assert run["status"] == "interrupted"
        assert run["message"] == f"stopped by a shutdown after {run['pages']} pages; nothing withdrawn"
        assert run["created"] == run["pages"] == catalogue.store.count("ville") < count
        assert_consistent(catalogue)  # the service indexed what it stored before it left
    finally:
        catalogue.close()

    assert main(["status", "--format", "json", "--config", str(config), "--data-dir", str(data)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["source"] == "ville" and row["last_run"]["status"] == "interrupted"
    assert row["last_error"].startswith("stopped by a shutdown after")
    assert 0 <= row["last_run"]["age_seconds"] < 120 and row["last_complete_at"] is None
    assert row["next_run_at"].endswith("Z")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fedcat_run_serves_the_admin_api_and_metrics(tmp_path, portal):
    url, count = serve_slow_city(portal, delay=0.05)
    config = write_config(tmp_path / "sources.yaml", url)
    data, port = tmp_path / "data", free_port()
    process = fedcat(
        "run", "--no-catch-up", "--port", str(port), "--config", str(config), "--data-dir", str(data),
        env={"FEDCAT_ADMIN_TOKEN": TOKEN},
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(api + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(answers, process)
        assert httpx.post(api + "/api/sources/ville/harvest").status_code == 401
        accepted = httpx.post(
            api + "/api/sources/ville/harvest", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert accepted.status_code == 202
        run_url = api + accepted.json()["links"]["run"]
        wait_for(lambda: httpx.get(run_url).json()["status"] != "running", process)
        assert httpx.get(run_url).json()["status"] == "complete"
        assert httpx.get(api + "/api/datasets").json()["total"] == count
        metrics = httpx.get(api + "/metrics").text
        assert 'fedcat_runs{source="ville",status="complete"} 1.0' in metrics
        assert "fedcat_fetch_seconds_count" in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr


def seen_by_run(data_dir: Path, run_id: int) -> int:
    """Records a run has seen so far (each record seen is stamped with the run as it is stored)."""
    path = data_dir / "fedcat.db"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM records WHERE last_run_id = ?", (run_id,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize(
    ("sent", "ending"),
    [(signal.SIGTERM, "stopped by a shutdown after {} pages"), (signal.SIGINT, "interrupted after {} pages")],
)
def test_sigterm_of_fedcat_harvest_ends_its_run_with_its_counters(tmp_path, portal, sent, ending):
    """`kill` (or Ctrl-C) of a CLI harvest once left its run `running`, its counters as last saved (then
    marked interrupted with them at the next start): the run must end itself, its counts true, nothing
    withdrawn. SIGTERM lets the page being read finish; Ctrl-C stops at once."""
    url, count = serve_slow_city(portal, delay=0)
    config = write_config(tmp_path / "sources.yaml", url)
    data = tmp_path / "data"
    first = fedcat("harvest", "--config", str(config), "--data-dir", str(data))
    assert first.wait(timeout=120) == 0, first.communicate()[1][-3000:]
    for reply in portal.routes.values():
        reply.delay = 0.3
    process = fedcat("harvest", "--full", "--config", str(config), "--data-dir", str(data))
    wait_for(lambda: seen_by_run(data, 2) >= 3, process)
    process.send_signal(sent)
    _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert process.returncode == (130 if sent == signal.SIGINT else 0), stderr[-3000:]

    catalogue = Catalogue.open(config, data, writer=False)  # a reader: nothing marks the run for it
    try:
        store = catalogue.store
        [second, _] = store.runs("ville")
        assert second["status"] == "interrupted", second
        assert second["message"] == ending.format(second["pages"]) + "; nothing withdrawn"
        seen = store.db.execute("SELECT COUNT(*) FROM records WHERE last_run_id = ?", (second["id"],))
        assert 3 <= second["seen"] == seen.fetchone()[0] < count  # the counters as the run left them
        assert second["pages"] == second["seen"] and second["withdrawn"] == 0
        assert store.count("ville") == count  # nothing withdrawn
        assert second["ended_at"] is not None
    finally:
        catalogue.close()
