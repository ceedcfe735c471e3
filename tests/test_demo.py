"""`fedcat demo` shows the product: the same dataset ids on every run (the README's example resolves), links
that open, varied quality scores, an audit that answers, a catalogue that passes `fedcat validate`, a free
port when 8000 is taken, and no temporary directory left behind."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import CORPUS
from fedcat.catalogue import Catalogue
from fedcat.cli import main
from fedcat.demo.run import EXAMPLE_DATASET

SHAPES = CORPUS / "shapes" / "dcat-ap-3.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def live_ids(config: Path, data: Path) -> set[str]:
    catalogue = Catalogue.open(config, data, writer=False)
    try:
        return catalogue.store.live_ids()
    finally:
        catalogue.close()


def test_ids_are_the_same_on_every_run_and_the_readme_example_resolves(demo, tmp_path):
    config, data = demo
    first = live_ids(config, data)
    assert (
        main(["demo", "--no-serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "again")]) == 0
    )
    assert live_ids(tmp_path / "again" / "demo-sources.yaml", tmp_path / "again") == first
    assert EXAMPLE_DATASET in first and len(first) == 21
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"/api/datasets/{EXAMPLE_DATASET}" in readme


def test_every_link_opens_and_scores_vary(demo, capsys):
    config, data = demo
    common = ["--config", str(config), "--data-dir", str(data)]
    body = cli_json(capsys, "quality", "--group-by", "dataset", "--format", "json", *common)
    groups = body["groups"]
    assert len(groups) == 21
    # the demo checked its links: every access and download URL answered
    assert {g["dimensions"]["accessibility"] for g in groups} == {100.0}
    scores = {g["mean"] for g in groups}
    bands = {g["band"] for g in groups}
    assert len(scores) >= 5 and len(bands) >= 2, (scores, bands)


def test_the_audit_answers_on_the_demo(demo, capsys):
    config, data = demo
    body = cli_json(capsys, "audit", "--format", "json", "--config", str(config), "--data-dir", str(data))
    rows = {row["id"]: row for row in body["items"]}
    assert rows["commune:59350"]["publishing"] and rows["commune:59350"]["datasets"] == 14
    assert rows["epci:200093201"]["publishing"] and rows["epci:200093201"]["datasets"] == 7
    assert rows["commune:59512"]["obligated"] == "yes" and not rows["commune:59512"]["publishing"]
    assert rows["commune:59088"]["obligated"] == "no"
    assert body["summary"]["records_matched"] == body["summary"]["records"] == 21


@pytest.mark.skipif(not SHAPES.is_dir(), reason=f"the official shapes are absent ({SHAPES})")
def test_the_demo_catalogue_passes_validate(demo, capsys, tmp_path):
    config, data = demo
    report = tmp_path / "report.json"
    argv = ["validate", "--shapes", str(SHAPES), "--report", str(report), "--config", str(config)]
    # its own process, as a user runs it: the parsed shapes (cached per process) would otherwise stay in
    # the test process, whose size every later fork inherits (tests/test_hostile.py measures peak RSS)
    done = subprocess.run(
        [sys.executable, "-m", "fedcat", *argv, "--data-dir", str(data)], capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result = json.loads(report.read_text())
    assert result["datasets"] == 21 and result["conforms"], result["rules"]


def test_a_taken_port_gives_another_and_no_temporary_directory_is_left(tmp_path, monkeypatch, capsys):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--no-serve", "--port", str(port)]) == 0
    err = capsys.readouterr().err
    chosen = re.search(rf"port {port} is taken: the API will be on port (\d+)", err)
    assert chosen and int(chosen[1]) != port
    data_dir = re.search(r"data dir (\S+)", err)[1]
    assert data_dir.startswith(str(temporary))
    assert list(temporary.iterdir()) == []  # the temporary data dir is gone


def test_serve_on_a_taken_port_says_so(demo, capsys):
    config, data = demo
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["serve", "--port", str(port), "--config", str(config), "--data-dir", str(data)]
        assert main(argv) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
