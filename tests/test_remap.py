"""`fedcat remap` and MAPPING_VERSION (issue 11): an improved alias reaches records whose payload never changes.

A real portal on 127.0.0.1 serves the demo city's catalogue, one dataset under a licence page the
vocabulary does not know. A test copy of the vocabulary tables then lists that page as an alias of the
Licence Ouverte 2.0; `fedcat remap` (or the next harvest, the payload unchanged) must carry it to the
search facet, the RDF export and the quality score, and a second remap must write nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import yaml
from fedcat import cli
from fedcat.catalogue import Catalogue
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.demo.portal import PortalServer
from fedcat.indexer.backend import SearchQuery
from fedcat.mappings import normalise, vocabularies
from fedcat.mappings.version import mapping_version
from fedcat.store import feed, record_id
from fedcat.store.quality import quality_groups

HOUSE_LICENCE = "https://ville.example/licences/maison"
ETALAB = "http://publications.europa.eu/resource/authority/licence/ETALAB_2_0"


@dataclass
class Site:
    common: list[str]
    config: Path
    data: Path
    record: str  # fedcat id of the dataset under the house licence
    uri: str  # its fedcat dataset IRI


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with PortalServer() as portal:
        base = portal.url("/ville")
        datasets = city_datasets(base)
        first = datasets[0]
        datasets[0] = msgspec.structs.replace(
            first,
            licence=None,
            distributions=[msgspec.structs.replace(d, licence=HOUSE_LICENCE) for d in first.distributions],
        )
        for number, body in hydra_pages(datasets, base + "/catalog.ttl?page=%d", 5).items():
            portal.add(f"/ville/catalog.ttl?page={number}", body)
        config = tmp_path / "sources.yaml"
        source = {"id": "ville", "name": "Ville", "type": "dcat", "url": base + "/catalog.ttl?page=1"}
        config.write_text(
            yaml.safe_dump({"settings": {"base_url": "https://fedcat.example"}, "sources": [source]})
        )
        data = tmp_path / "data"
        common = ["--config", str(config), "--data-dir", str(data)]
        assert cli.main(["harvest", *common]) == 0
        fedcat_id = record_id("ville", first.uri)
        yield Site(common, config, data, fedcat_id, f"https://fedcat.example/datasets/{fedcat_id}")


def use_tables(tables: Path) -> None:
    """Point the mappings at another copy of the vocabulary tables (and forget what they looked up)."""
    vocabularies.TABLES = tables
    vocabularies.vocabulary.cache_clear()
    mapping_version.cache_clear()
    for value in vars(normalise).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


@pytest.fixture
def improved_tables(tmp_path: Path) -> Iterator[Path]:
    """A copy of the tables where the house licence page is an alias of the Licence Ouverte 2.0."""
    original = vocabularies.TABLES
    tables = tmp_path / "tables"
    tables.mkdir()
    for path in original.glob("*.yaml"):
        shutil.copy(path, tables)
    shutil.copytree(original / "fieldmaps", tables / "fieldmaps")
    (tables / "aliases").mkdir()
    shutil.copy(original / "aliases" / "iso-topic-categories.yaml", tables / "aliases")
    licences = yaml.safe_load((tables / "licence.yaml").read_text(encoding="utf-8"))
    [etalab] = [c for c in licences["concepts"] if c["uri"] == ETALAB]
    etalab["aliases"].append(HOUSE_LICENCE)
    (tables / "licence.yaml").write_text(yaml.safe_dump(licences, allow_unicode=True), encoding="utf-8")
    before = mapping_version()
    use_tables(tables)
    assert mapping_version() != before  # editing a table is a new mapping version
    yield tables
    use_tables(original)


def what_users_see(site: Site) -> tuple[int, float, int]:
    """(datasets under the Licence Ouverte 2.0 in the search facet, the record's quality score, the RDF
    export's resources under that licence)."""
    catalogue = Catalogue.open(site.config, site.data, writer=False)
    try:
        facet = catalogue.backend.search(SearchQuery(facets=("licence",), page_size=1)).facets["licence"]
        etalab = next((f.count for f in facet if f.value == ETALAB), 0)
        [score] = [g.mean for g in quality_groups(catalogue.store, "dataset") if g.key == site.record]
    finally:
        catalogue.close()
    export = site.data.parent / "export.nt"
    assert cli.main(["export", "--format", "nt", "--out", str(export), *site.common]) == 0
    licensed = f" <http://purl.org/dc/terms/license> <{ETALAB}> ."
    return (
        etalab,
        score,
        sum(line.endswith(licensed) for line in export.read_text(encoding="utf-8").splitlines()),
    )


def feed_head(site: Site) -> int:
    catalogue = Catalogue.open(site.config, site.data, writer=False)
    try:
        return feed.head(catalogue.store)
    finally:
        catalogue.close()


def test_remap_carries_an_improved_alias_to_search_export_and_quality(
    site: Site, improved_tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the tables changed; what users see is what was stored, still the harvest's
    etalab_before, score_before, exported_before = what_users_see(site)
    capsys.readouterr()
    assert cli.main(["remap", *site.common]) == 0
    printed = capsys.readouterr()
    assert "14 records re-mapped: 1 changed" in " ".join((printed.out + printed.err).split())
    etalab_after, score_after, exported_after = what_users_see(site)
    assert etalab_after == etalab_before + 1
    assert score_after > score_before  # a known licence earns its reusability points
    assert exported_after == exported_before + 2  # the record's two distributions
    # a second remap finds nothing to change and writes nothing
    head = feed_head(site)
    assert cli.main(["remap", *site.common]) == 0
    printed = capsys.readouterr()
    assert "14 records re-mapped: 0 changed" in " ".join((printed.out + printed.err).split())
    assert feed_head(site) == head


def test_a_harvest_remaps_records_of_an_older_mapping_version(site: Site, improved_tables: Path) -> None:
    """The payload did not change at the source: the harvest re-maps the record all the same."""
    etalab_before, _, exported_before = what_users_see(site)
    assert cli.main(["harvest", *site.common]) == 0
    etalab_after, _, exported_after = what_users_see(site)
    assert etalab_after == etalab_before + 1 and exported_after == exported_before + 2
    catalogue = Catalogue.open(site.config, site.data, writer=False)
    try:
        [run] = catalogue.store.runs("ville", limit=1)
        notes = catalogue.store.run(run["id"])["report"]["notes"]
        assert any(n.startswith("re-mapped ") and "1 changed" in n for n in notes), notes
        assert run["unchanged"] == run["seen"]  # the payloads were the same: nothing else rewritten
    finally:
        catalogue.close()
    head = feed_head(site)
    assert cli.main(["harvest", *site.common]) == 0  # now current: nothing re-mapped again
    assert feed_head(site) == head
