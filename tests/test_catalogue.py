"""Opening a data dir: an index built by another fedcat version is rebuilt from the store, never trusted."""

from __future__ import annotations

import pytest
import yaml
from fedcat.catalogue import Catalogue
from fedcat.demo.catalogues import city_datasets, hydra_pages
from fedcat.harvester.run import harvest
from fedcat.indexer.backend import SearchQuery


def test_outdated_index_is_rebuilt_by_a_writer_and_refused_by_a_reader(portal, tmp_path):
    base = portal.url("/ville")
    for number, body in hydra_pages(city_datasets(base), base + "/catalog.ttl?page=%d", 20).items():
        portal.add(f"/ville/catalog.ttl?page={number}", body)
    config = tmp_path / "sources.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {"id": "ville", "name": "Ville", "type": "dcat", "url": base + "/catalog.ttl?page=1"}
                ]
            }
        )
    )
    catalogue = Catalogue.open(config, tmp_path / "data")
    harvest(catalogue.config, catalogue.store, catalogue.backend)
    expected = catalogue.store.live_ids()
    catalogue.close()
    (tmp_path / "data" / "index" / "fedcat-schema-version").write_text("0 title\n")  # an older fedcat's index

    with pytest.raises(RuntimeError, match="fedcat reindex"):
        Catalogue.open(config, tmp_path / "data", writer=False)
    catalogue = Catalogue.open(config, tmp_path / "data")
    assert catalogue.backend.ids() == expected
    assert catalogue.backend.search(SearchQuery(q="velo")).total == 1
    catalogue.close()
