"""The typed configuration: each source type's options checked when the file is read, and the reference
table of every setting, option and environment variable kept in the README from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fedcat import config
from fedcat.cli import REFERENCE_END, REFERENCE_START, main
from fedcat.harvester.adapters import ADAPTERS, source_options
from fedcat.harvester.sources import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[1]


def source(type_: str = "ckan", **options) -> dict:
    return {
        "id": f"my-{type_}",
        "name": "Mine",
        "type": type_,
        "url": "https://example.org/",
        "options": options,
    }


def problems_of(*sources: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": list(sources)})
    return caught.value.problems


def test_an_option_of_the_wrong_type_is_refused_at_load_naming_source_and_key():
    [problem] = problems_of(source("ckan", page_size="big"))
    assert problem.startswith("source `my-ckan`: options.page_size: expected `int")
    assert "(given: 'big')" in problem


def test_an_unknown_option_is_refused_naming_source_key_and_the_known_ones():
    [problem] = problems_of(source("udata", organisations=["a"]))  # British spelling of `organizations`
    assert problem.startswith("source `my-udata`: unknown option `organisations` for type udata")
    assert "organizations" in problem and "page_size" in problem


def test_each_bad_option_of_each_source_is_reported():
    problems = problems_of(
        source("ckan", page_size=0, colour="red"),
        source("csw", record_url="https://example.org/no-placeholder", constraint="  "),
        source("udata", organizations="lille"),
        source("opendatasoft", export_chunk=1.5),
    )
    assert len(problems) == 6, problems
    text = "\n".join(problems)
    assert "source `my-ckan`: options.page_size: expected `int` >= 1" in text
    assert "source `my-ckan`: unknown option `colour`" in text
    assert "source `my-csw`: options.record_url: expected The record's page" in text
    assert "source `my-csw`: options.constraint:" in text
    assert "source `my-udata`: options.organizations: expected `array" in text
    assert "source `my-opendatasoft`: options.export_chunk: expected `int" in text


def test_options_of_the_declared_types_are_kept_as_given():
    loaded = parse_config(
        {
            "sources": [
                source("udata", organizations=["lille", "5a1b"], language="fr", page_size=50),
                source("csw", record_url="https://example.org/md/{id}", constraint="AnyText LIKE '%eau%'"),
                source("dcat", parse_worker=False, respect_robots=True),
            ]
        }
    )
    udata, csw, dcat = loaded.sources
    assert udata.options == {"organizations": ["lille", "5a1b"], "language": "fr", "page_size": 50}
    assert csw.options["record_url"] == "https://example.org/md/{id}"
    assert dcat.options == {"parse_worker": False, "respect_robots": True}


def test_private_networks_are_kept_and_a_bad_one_is_named():
    good = parse_config(
        {"settings": {"private_networks": ["10.20.0.0/16", "fd00::/8"]}, "sources": [source()]}
    )
    assert good.settings.private_networks == ("10.20.0.0/16", "fd00::/8")
    with pytest.raises(ConfigError) as caught:
        parse_config({"settings": {"private_networks": ["10.20.0.0/16", "intranet"]}, "sources": [source()]})
    assert caught.value.problems == [
        "settings.private_networks: 'intranet' is not a network such as 10.20.0.0/16"
    ]


def test_every_adapter_declares_its_options_with_a_description():
    assert set(source_options()) == set(ADAPTERS)
    for name, declared in source_options().items():
        assert issubclass(declared, config.SourceOptions), name
        for option in config.msgspec.structs.fields(declared):
            assert config._describe(option.type)[1], f"{name}: option {option.name} has no description"


def test_the_cli_exits_2_with_the_problem_and_no_traceback(tmp_path, capsys):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {id: lille, name: Lille, type: ckan, url: 'https://example.org/', options: {page_size: big}}\n"
    )
    for command in (["harvest"], ["status"], ["config"]):
        assert (
            main(
                [
                    *command,
                    "--config",
                    str(path),
                    *(["--data-dir", str(tmp_path / "d")] if command != ["config"] else []),
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert "source `lille`: options.page_size" in err and "Traceback" not in err
    assert not (tmp_path / "d" / "fedcat.db").exists(), "a bad config opens no store"


def test_config_checks_a_good_file(capsys):
    assert main(["config", "--config", str(ROOT / "sources.yaml")]) == 0
    assert "valid, 3 sources" in capsys.readouterr().err


def test_the_docs_carry_the_current_reference():
    readme = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    start, end = readme.index(REFERENCE_START) + len(REFERENCE_START), readme.index(REFERENCE_END)
    expected = config.reference(source_options())
    assert readme[start:end].strip() == expected.strip(), (
        "docs/configuration.md is out of date: run `fedcat config --reference --write docs/configuration.md`"
    )
    for f in config.fields(config.Settings):
        assert f"| `{f.name}` |" in expected
    for name in config.ENVIRONMENT:
        assert f"| `{name}` |" in expected


def test_the_reference_is_written_between_the_markers(tmp_path):
    target = tmp_path / "doc.md"
    target.write_text(f"# Doc\n\n{REFERENCE_START}\nold table\n{REFERENCE_END}\n\nafter\n")
    assert main(["config", "--reference", "--write", str(target)]) == 0
    text = target.read_text()
    assert (
        "old table" not in text and "| `page_size` |" in text and text.endswith(f"{REFERENCE_END}\n\nafter\n")
    )


def test_every_environment_variable_read_is_declared_and_every_declared_one_is_read():
    read = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "bench") or rel.parts[0].startswith(".") or path.name == "config.py":
            continue
        read |= set(re.findall(r"\bFEDCAT_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    assert read - set(config.ENVIRONMENT) == set(), "declare these in config.ENVIRONMENT"
    assert set(config.ENVIRONMENT) - read == set(), "config.ENVIRONMENT lists variables nothing reads"
