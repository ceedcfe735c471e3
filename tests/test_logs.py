"""What fedcat logs: a run that did not complete is one line with its reason at the default level; JSON logs
carry `event`, `source`, `run` and `error` as fields; -v works after the command; `fedcat run` logs its
start at info and writes an access log."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import httpx
import yaml
from fedcat.cli import main
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from test_crash import fedcat, wait_for

HTTP = {"connect_timeout": 2, "read_timeout": 5, "retries": 0, "backoff": 0.05, "run_budget": 60}


def two_sources(portal: PortalServer, tmp_path: Path) -> Path:
    """`ville` answers its catalogue; `broken` answers 404."""
    base = portal.url("/ville")
    for number, body in hydra_pages(city_datasets(base), base + "/catalog.ttl?page=%d", 50).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body)
    sources = [
        {"id": "ville", "name": "Ville", "type": "dcat", "url": base + "/catalog.ttl?page=1"},
        {"id": "broken", "name": "Broken", "type": "dcat", "url": portal.url("/gone/catalog.ttl")},
    ]
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"settings": {"http": HTTP, "max_concurrency": 1}, "sources": sources}))
    return path


def run_lines(stderr: str, source: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"source {source}: run " in line]


def test_a_failed_run_logs_one_line_with_its_reason_at_the_default_level(portal, tmp_path, capsys):
    config = two_sources(portal, tmp_path)
    assert main(["harvest", "--config", str(config), "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    [line] = run_lines(err, "broken")
    assert "WARNING" in line and "run 2 failed" in line and "404" in line
    assert run_lines(err, "ville") == []  # a complete run is info: not shown by default


def test_json_logs_give_fields_and_v_works_after_the_command(portal, tmp_path, capsys):
    config = two_sources(portal, tmp_path)
    argv = [
        "harvest",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        "-v",
        "--log-format",
        "json",
    ]
    assert main(argv) == 1
    logs = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    ends = {entry["source"]: entry for entry in logs if entry.get("event") == "run_end"}
    assert ends["ville"]["level"] == "info" and ends["ville"]["run"] == 1
    assert ends["ville"]["status"] == "complete" and ends["ville"]["error"] is None
    assert ends["ville"]["counts"]["created"] == len(city_datasets("http://x"))
    broken = ends["broken"]
    assert broken["level"] == "warning" and broken["run"] == 2 and broken["status"] == "failed"
    assert "404" in broken["error"] and broken["error"] in broken["message"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fedcat_run_logs_its_start_at_info_and_an_access_log(portal, tmp_path):
    config = two_sources(portal, tmp_path)
    port = free_port()
    process = fedcat(
        "run", "--no-catch-up", "--port", str(port), "--config", str(config), "--data-dir", str(tmp_path / "d"),
        "--log-format", "json",
    )  # fmt: skip

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/datasets?q=velo", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    [start] = [entry for entry in logs if entry.get("event") == "start"]
    assert (
        start["level"] == "info"
        and start["message"].startswith("fedcat run: 0 sources scheduled")
        and f":{port}" in start["message"]
    )
    # sources without a schedule: the way to harvest them is said, and that it needs the admin token
    [on_demand] = [entry for entry in logs if entry.get("event") == "on_demand"]
    assert on_demand["sources"] == ["ville", "broken"]
    assert "once settings.admin_token or FEDCAT_ADMIN_TOKEN is set" in on_demand["message"]
    access = [entry for entry in logs if entry.get("event") == "access"]
    assert {"method": "GET", "path": "/api/datasets?q=velo", "status": 200}.items() <= access[-1].items()
    assert not [
        entry for entry in logs if entry["level"] == "warning"
    ]  # a clean start and stop warn of nothing
