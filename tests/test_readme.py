"""The README stays true and short: its two set-up commands, its CLI table against the real parser, its
configuration examples against the real loader, its links to docs/ pages that exist, and its licence."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from fedcat.cli import build_parser
from fedcat.harvester.sources import parse_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def subcommands() -> dict:
    parser = build_parser()
    [action] = [a for a in parser._actions if a.dest == "command"]
    return action.choices


def test_two_setup_commands_at_the_top_and_short():
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(first_block) == 2 and first_block[0].endswith("fedcat demo")
    assert first_block[1].endswith("python -m pytest -q")
    # the long reference sections live in docs/ pages, not in the README (a line cap would only measure
    # what other features add to it)
    for page, heading in (("audit.md", "## The registry of public bodies"), ("audit.md", "## The rules"),
                          ("audit.md", "## Expected dataset families"), ("quality.md", "# Metadata quality")):  # fmt: skip
        assert heading in (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert heading.lstrip("#").strip() not in [
            h.lstrip("#").strip() for h in README.splitlines() if h.startswith("#")
        ]
    assert (
        "hydra:PartialCollectionView" not in README and "**`/sparql`**" not in README
    )  # docs/linked-data.md


def test_the_cli_table_matches_the_parser():
    commands = subcommands()
    rows = re.findall(r"^\| `fedcat ([\w-]+)([^`]*)` \|", README, re.MULTILINE)
    assert {name for name, _ in rows} == set(commands)
    for name, usage in rows:
        accepted = {s for action in commands[name]._actions for s in action.option_strings}
        for option in re.findall(r"--[a-z][a-z-]*", usage):
            assert option in accepted, f"fedcat {name} has no {option}"
    # the common options: on every command but demo, as the README says
    for name, parser in commands.items():
        options = {s for action in parser._actions for s in action.option_strings}
        assert {"-v", "--log-format"} <= options, name
        assert ("--config" in options) == (name != "demo"), name


def test_the_configuration_examples_load():
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    assert len(blocks) >= 2
    settings = yaml.safe_load(blocks[0])["settings"]
    settings.pop("bodies")  # files the reader brings
    sources = yaml.safe_load(blocks[1])["sources"]
    assert {s["type"] for s in sources} == {"dcat", "opendatasoft", "udata", "ckan", "datajson", "csw"}
    config = parse_config({"settings": settings, "sources": sources})
    assert len(config.sources) == 6 and config.settings.cors_origins == ("https://portal.example.org",)


def test_links_to_docs_pages_that_exist():
    links = re.findall(r"\]\((docs/[^)]+)\)", README)
    assert {"docs/linked-data.md", "docs/quality.md", "docs/audit.md"} <= set(links)
    for link in links:
        assert (ROOT / link).is_file(), link


def test_the_licence_is_stated():
    licence = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert "## Licence" in README and licence in README.split("## Licence", 1)[1]
