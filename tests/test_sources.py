"""sources.yaml: validation reports every problem clearly; the shipped file is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from fedcat.cli import main
from fedcat.harvester.sources import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_sources_file_is_valid():
    config = load_config(ROOT / "sources.yaml")
    assert config.sources, "the default federation lists real sources"
    assert all(s.url.startswith("https://") for s in config.sources)
    assert config.settings.max_withdraw_share == 0.5


def test_every_problem_is_reported_with_source_key_and_expectation():
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "sources": [
                    {"id": "ok", "name": "OK", "type": "dcat", "url": "https://example.org/catalog.ttl"},
                    {"id": "ok", "name": "Twice", "type": "dcat", "url": "https://example.org/b.ttl"},
                    {"id": "Bad Id", "name": "x", "type": "dcat", "url": "https://example.org"},
                    {"id": "no-type", "name": "x", "url": "ftp://example.org"},
                    {
                        "id": "odd",
                        "name": "x",
                        "type": "gopher",
                        "url": "https://example.org",
                        "schedule": "every day",
                        "jurisdiction": {"level": "planet", "code": "3"},
                        "colour": "red",
                    },
                ]
            }
        )
    problems = "\n".join(caught.value.problems)
    assert "source `ok`: duplicate id" in problems
    assert "source `Bad Id`: `id` must be lowercase" in problems
    assert "source `no-type`: `type` is required" in problems
    assert "source `no-type`: `url` must be an http(s) URL, got 'ftp://example.org'" in problems
    assert "source `odd`: `type` must be one of" in problems and "got 'gopher'" in problems
    assert "source `odd`: `schedule` 'every day' is not a valid cron expression" in problems
    assert "source `odd`: `jurisdiction.level` must be one of" in problems
    assert "source `odd`: unknown key `colour`" in problems
    assert len(caught.value.problems) == 8


def test_a_source_without_a_name_is_named_by_its_id():
    config = parse_config({"sources": [{"id": "lille", "type": "dcat", "url": "https://example.org/c.ttl"}]})
    assert config.sources[0].name == "lille"
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"sources": [{"id": "x", "name": " ", "type": "dcat", "url": "https://example.org/c.ttl"}]}
        )
    assert caught.value.problems == [
        "source `x`: `name`, when given, must be a non-empty string (default: the id)"
    ]


def test_settings_are_validated():
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "settings": {
                    "max_withdraw_share": 2,
                    "base_url": "ftp://x",
                    "http": {"retries": -1},
                    "catalogue": {"title": " ", "owner": "me"},
                },
                "sources": [],
            }
        )
    problems = "\n".join(caught.value.problems)
    assert "settings.max_withdraw_share: expected a number between 0 and 1, got 2" in problems
    assert "settings.base_url: expected an http(s) URL" in problems
    assert "settings.http.retries: expected a non-negative number, got -1" in problems
    assert "settings.catalogue.title: expected a non-empty text, got ' '" in problems
    assert (
        "settings.catalogue: unknown key `owner` (expected one of title, description, publisher)" in problems
    )


def test_bodies_setting_lists_files_relative_to_the_config(tmp_path):
    config = parse_config(
        {"settings": {"bodies": ["bodies/communes.json", "/srv/agents.csv"]}, "sources": []},
        tmp_path / "sources.yaml",
    )
    assert config.settings.bodies == (tmp_path / "bodies" / "communes.json", Path("/srv/agents.csv"))
    assert parse_config({"sources": []}).settings.bodies == ()
    for bodies, problem in (
        ("communes.json", "settings.bodies: expected a list of file paths"),
        (["https://unpkg.com/communes.json"], "is a URL; download the file and give its path"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_config({"settings": {"bodies": bodies}, "sources": []})
        assert problem in "\n".join(caught.value.problems)


def test_cli_prints_problems_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  - id: x\n    type: dcat\n")
    assert main(["status", "--config", str(bad), "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "Configuration problems" in err
    assert "source `x`: `url` is required" in err
    assert "Traceback" not in err
    (tmp_path / "broken.yaml").write_text("sources: [\n")
    assert main(["status", "--config", str(tmp_path / "broken.yaml"), "--data-dir", str(tmp_path / "d")]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_missing_config_file_is_a_clear_error(tmp_path, capsys):
    assert main(["status", "--config", str(tmp_path / "nope.yaml"), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "fedcat config --reference" in err and "fedcat demo" in err
    (tmp_path / "dir.yaml").mkdir()  # there, but not a file
    assert main(["status", "--config", str(tmp_path / "dir.yaml"), "--data-dir", str(tmp_path)]) == 2
    assert "cannot read the file" in capsys.readouterr().err
