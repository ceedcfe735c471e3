"""Nothing a real record gives (titles, licences or rights, formats, links, dates, geometry) is missing from
fedcat's export without a line in the run report: `tests/corpus_fidelity.py` over the whole shared corpus,
run as the script it is, in its own process (mapping ~1,700 records must not grow the test process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS

SCRIPT = Path(__file__).with_name("corpus_fidelity.py")
FIELDS = ("title", "licence", "format", "url", "date", "geometry")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent: the corpus-wide check needs it")
def test_every_corpus_value_is_exported_or_reported():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json"], capture_output=True, text=True, timeout=600, check=True
    )
    tallies = json.loads(done.stdout.strip().splitlines()[-1])
    lost = [line for tally in tallies.values() for line in tally["lost"]]
    assert lost == [], f"{len(lost)} lost, first ones:\n" + "\n".join(lost[:20])
    # the check looked at real data of every source type and every field (a reader broken into reading
    # nothing would pass the assertion above)
    assert all(tally["records"] > 0 for tally in tallies.values()), {
        t: v["records"] for t, v in tallies.items()
    }
    for name in FIELDS:
        assert sum(tally["given"].get(name, 0) for tally in tallies.values()) > 10, name
