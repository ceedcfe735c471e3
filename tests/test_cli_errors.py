"""Ordinary misuse of the CLI never shows a traceback, and read-only commands never change the data dir.

Every command is run with bad arguments (in process: an exception escaping `main` would fail the test) and
the commands that write to standard output are run, as real processes, into a pipe whose reader is already
gone (`fedcat export --out - | head`). The read-only commands are run on a harvested data dir with another
catalogue's config: its sources stay as they were, and the disagreement is said.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from fedcat.cli import main
from fedcat.demo.portal import PortalServer
from fedcat.demo.run import start_demo_portal
from fedcat.store import Store

BODIES_CSV = "id,name,kind,population\ncommune:59350,Lille,commune,236234\nepci:200093201,MEL,epci,1204796\n"


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> dict[str, Path]:
    """A data dir harvested from the demo portal, its config, another catalogue's config, a bodies file."""
    root = tmp_path_factory.mktemp("cli")
    portal, sources = start_demo_portal()
    try:
        config = root / "sources.yaml"
        config.write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
        data_dir = root / "data"
        assert main(["harvest", "--config", str(config), "--data-dir", str(data_dir)]) == 0
    finally:
        portal.stop()
    other = root / "other.yaml"
    other.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "id": f"elsewhere-{n}",
                        "name": f"Elsewhere {n}",
                        "type": "ckan",
                        "url": "https://example.org/",
                    }
                    for n in (1, 2, 3)
                ]
            }
        ),
        encoding="utf-8",
    )
    bodies = root / "bodies.csv"
    bodies.write_text(BODIES_CSV, encoding="utf-8")
    return {"config": config, "data_dir": data_dir, "other": other, "bodies": bodies, "root": root}


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """`fedcat ARGV` in this process: (exit status, what it printed on stderr)."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse refusing an argument
        status = exc.code if isinstance(exc.code, int) else 1
    return status, capsys.readouterr().err


def bad_arguments(h: dict[str, Path]) -> list[tuple[list[str], str]]:
    """(arguments, what the message must say) for every command."""
    where = ["--config", str(h["config"]), "--data-dir", str(h["data_dir"])]
    a_file = str(h["bodies"])
    return [
        ([], "the following arguments are required: command"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["harvest", "nope", *where], "no source 'nope'"),
        (["remap", "nope", *where], "no source 'nope'"),
        (["harvest", "--config", str(h["root"] / "missing.yaml")], "no such file: write one"),
        (["serve", "--port", "-5", *where], "expected a whole number from 1 to 65535, got '-5'"),
        (["serve", "--port", "99999", *where], "got '99999'"),
        (["run", "--port", "http", *where], "expected a whole number, got 'http'"),
        (["demo", "--port", "0", "--no-serve"], "got '0'"),
        (["status", "--config", str(h["config"]), "--data-dir", a_file], "is not a directory"),
        (["reindex", "--config", str(h["config"]), "--data-dir", a_file], "is not a directory"),
        (["remap", "nope", *where], "no source 'nope'"),
        (["export", "--out", str(h["root"] / "no" / "such" / "x.ttl"), *where], "No such file or directory"),
        (
            ["export", "--out", "-", "--workers", "0", *where],
            "--workers: expected a whole number of at least 1",
        ),
        (
            ["export", "--out", "-", "--config", str(h["config"]), "--data-dir", str(h["root"] / "none")],
            "no fedcat store",
        ),
        (["validate", "--limit", "-1", *where], "--limit: expected a whole number of at least 1, got '-1'"),
        (["validate", "--top", "x", *where], "--top: expected a whole number, got 'x'"),
        (["install-shapes", "--profile", "dcat-ap-9", *where], "invalid choice: 'dcat-ap-9'"),
        (["install-shapes", "/nowhere/shapes", *where], "/nowhere/shapes: no such file or directory"),
        (["quality", "--group-by", "colour", *where], "invalid choice: 'colour'"),
        (["audit", "--bodies", str(h["root"] / "missing.csv"), *where], "missing.csv"),
        (
            ["audit", "--limit", "-1", "--bodies", a_file, *where],
            "--limit: expected a whole number of at least 0",
        ),
        (["duplicates", "--limit", "-1", *where], "--limit: expected a whole number of at least 0"),
        (["duplicates", "--source", "nope", *where], "no source 'nope'"),
        (["linkcheck", "--timeout", "-1", *where], "--timeout: expected a number above 0, got '-1'"),
        (["linkcheck", "--timeout", "nan", *where], "expected a finite number, got 'nan'"),
        (["linkcheck", "--rate", "0", *where], "the rate must be positive"),
        (["linkcheck", "--concurrency", "0", *where], "--concurrency: expected a whole number of at least 1"),
        (["linkcheck", "--max-age", "-1", *where], "--max-age: expected a number of at least 0"),
        (
            ["config", "--reference", "--write", str(h["root"] / "no" / "README.md")],
            "No such file or directory",
        ),
        (["config", "--config", a_file], "expected a mapping with a top-level `sources:` list"),
        (["discover", "file:///etc/passwd"], "is not an http(s) address"),
        (
            ["discover", "--max-pages", "0", "http://127.0.0.1:9/"],
            "--max-pages: expected a whole number of at least 1",
        ),
    ]


def test_every_command_refuses_bad_arguments_with_a_message_and_no_traceback(harvested, capsys):
    commands_seen = set()
    for argv, message in bad_arguments(harvested):
        status, err = run_main(argv, capsys)
        assert status != 0, argv
        assert "Traceback" not in err, (argv, err)
        assert message in " ".join(err.split()), (argv, err)  # rich wraps long lines
        commands_seen.add(argv[0] if argv else None)
    from fedcat.cli import COMMANDS

    assert set(COMMANDS) <= commands_seen, f"commands never tried: {set(COMMANDS) - commands_seen}"


def fedcat_into_a_closed_pipe(*argv: str) -> tuple[int, str]:
    """Run `python -m fedcat ARGV` with its standard output a pipe nobody reads any more."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fedcat", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first write, as `| head` is after its lines
    err = process.stderr.read().decode("utf-8", "replace")
    return process.wait(timeout=120), err


def test_output_into_a_closed_pipe_ends_quietly(harvested):
    where = ["--config", str(harvested["config"]), "--data-dir", str(harvested["data_dir"])]
    for argv in (
        ["export", "--out", "-", "--format", "nt", *where],
        ["quality", "--format", "csv", *where],
        ["audit", "--format", "csv", "--bodies", str(harvested["bodies"]), *where],
        ["status", "--format", "json", *where],
        ["config", "--reference"],
        ["--help"],
    ):
        status, err = fedcat_into_a_closed_pipe(*argv)
        assert "Traceback" not in err and "Exception ignored" not in err, (argv, err)
        assert status in (0, 141), (argv, status, err)  # 141: stopped by the closed pipe, as a shell says


def stored_sources(data_dir: Path) -> list[dict]:
    store = Store(data_dir / "fedcat.db")
    try:
        return [{k: s[k] for k in ("id", "name", "type", "url", "jurisdiction")} for s in store.sources()]
    finally:
        store.close()


def test_read_only_commands_leave_the_sources_alone_and_say_the_config_is_another(
    harvested, capsys, tmp_path
):
    data_dir = harvested["data_dir"]
    before = stored_sources(data_dir)
    assert [s["id"] for s in before] == ["metropole-exemple", "ville-exemple"]
    other = ["--config", str(harvested["other"]), "--data-dir", str(data_dir)]
    empty_shapes = tmp_path / "shapes"
    empty_shapes.mkdir()
    for argv in (
        ["quality", "--format", "json", *other],
        ["status", *other],
        ["audit", "--format", "json", "--bodies", str(harvested["bodies"]), *other],
        ["export", "--out", str(tmp_path / "out.ttl"), *other],
        ["validate", "--shapes", str(empty_shapes), *other],
    ):
        _, err = run_main(argv, capsys)
        said = " ".join(err.split())
        assert "Traceback" not in err, (argv, err)
        assert "names sources elsewhere-1, elsewhere-2, elsewhere-3" in said, (argv, err)
        assert "holds sources metropole-exemple, ville-exemple and none of them" in said, (argv, err)
        assert stored_sources(data_dir) == before, argv
    # its own config: nothing to say
    status, err = run_main(
        ["status", "--config", str(harvested["config"]), "--data-dir", str(data_dir)], capsys
    )
    assert status == 0 and "none of them" not in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_another_config_leaves_the_sources_alone(harvested):
    data_dir = harvested["data_dir"]
    before = stored_sources(data_dir)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedcat",
            "serve",
            "--port",
            str(port),
            "--config",
            str(harvested["other"]),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert health.json()["datasets"] == 21
        listed = httpx.get(f"http://127.0.0.1:{port}/api/sources", timeout=5).json()
        harvested_ones = {s["id"]: s["datasets"] for s in listed if not s["configured"]}
        assert harvested_ones == {"metropole-exemple": 7, "ville-exemple": 14}
    finally:
        process.terminate()
        err = process.communicate(timeout=30)[1].decode()
    said = " ".join(err.split())
    assert "none of them" in said and "Traceback" not in err
    # served on another port than the default base URL's: the URIs it mints would name another server
    assert (
        f"dataset URIs are minted under http://127.0.0.1:8000 (the default settings.base_url), not http://127.0.0.1:{port}"
        in said
    )
    assert stored_sources(data_dir) == before


def test_a_client_resetting_its_connection_prints_no_traceback_in_the_portal(capfd):
    """`fedcat linkcheck` reads headers and hangs up: the demo portal must take that quietly."""
    with PortalServer() as portal:
        portal.add("/file.csv", "a,b\n1,2\n", "text/csv")
        host, port = portal.httpd.server_address[:2]
        for _ in range(5):
            with socket.create_connection((host, port)) as sock:
                sock.sendall(b"GET /file.csv HTTP/1.1\r\nHost: x\r\n")  # half a request, then a reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert httpx.get(portal.url("/file.csv")).text == "a,b\n1,2\n"  # still serving
        time.sleep(0.2)
    assert "Traceback" not in capfd.readouterr().err


def test_the_harvest_summary_keeps_the_cause_of_a_long_message(tmp_path, monkeypatch):
    """A CKAN source's failing URL carries its whole query: the cut falls in the middle, and the cause,
    which comes last, is still read."""
    import io

    from fedcat import cli
    from rich.console import Console

    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]  # closed again: nothing listens there
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "settings": {"http": {"retries": 0}},
                "sources": [
                    {"id": "ckan", "type": "ckan", "url": f"http://127.0.0.1:{port}/" + "portal/" * 30}
                ],
            }
        )
    )
    shown = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=shown, width=400))
    argv = ["harvest", "--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "d")]
    assert main(argv) == 1
    row = next(line for line in shown.getvalue().splitlines() if "│ ckan" in line)
    assert row.rstrip(" │").endswith(f"connection refused (127.0.0.1:{port})")
    assert "…" in row  # the URL, cut in its middle
