"""Nothing a real record gives (titles, licences or rights, formats, links, dates, geometry) is missing from
fedcat's export without a line in the run report: `tests/corpus_fidelity.py` over the whole shared corpus."""

from __future__ import annotations

import pytest
from conftest import CORPUS
from corpus_fidelity import FIELDS, check_corpus


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent: the corpus-wide check needs it")
def test_every_corpus_value_is_exported_or_reported():
    tallies = check_corpus()
    lost = [line for tally in tallies.values() for line in tally.lost]
    assert lost == [], f"{len(lost)} lost, first ones:\n" + "\n".join(lost[:20])
    # the check looked at real data of every source type and every field (a reader broken into reading
    # nothing would pass the assertion above)
    assert all(tally.records > 0 for tally in tallies.values()), {t: v.records for t, v in tallies.items()}
    for name in FIELDS:
        assert sum(tally.given[name] for tally in tallies.values()) > 10, name
