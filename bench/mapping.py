"""Mapping benchmark: records/s of each source type's pure mapping, with and without the shared last step.

    python bench/mapping.py               # every corpus record of each type, median of 5 passes
    python bench/mapping.py --repeat 9

The records are those of ../shared/corpus, split by the adapters' own readers (tests/corpus_fidelity.py).
Per source type, in this run: the mapping alone (`MAPPINGS[type]`, the baseline) and `mapping_for(type)` (the
mapping then `finish`: licence texts, formats from URLs, HTML descriptions), medians of --repeat passes, and
their ratio (passes alternated, after one warm-up round). Both map from the stored payload (no parsed form), as `fedcat remap` does.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from conftest import CORPUS
    from corpus_fidelity import READERS
    from fedcat.mappings.context import SourceContext
    from fedcat.mappings.registry import MAPPINGS, mapping_for

    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}: nothing to measure")
        return 2
    source = SourceContext("bench", "https://portal.test", {}, lambda srid: f"https://f.test/{srid}")
    print(f"{'type':<13}{'records':>8}{'mapping rec/s':>16}{'+ finish rec/s':>16}{'ratio':>8}")
    for source_type, read in READERS.items():
        payloads = [payload for _, payload, _, _ in read() if payload]
        variants = {"alone": MAPPINGS[source_type], "finish": mapping_for(source_type)}
        times: dict[str, list[float]] = {label: [] for label in variants}
        for round_ in range(args.repeat + 1):  # alternated pass by pass; the first round warms the caches
            for label, mapping in variants.items():
                started = time.perf_counter()
                for payload in payloads:
                    with contextlib.suppress(Exception):
                        mapping(payload, "https://f.test/d", source, None)
                if round_:
                    times[label].append(time.perf_counter() - started)
        rates = {label: len(payloads) / statistics.median(t) for label, t in times.items()}
        ratio = rates["finish"] / rates["alone"]
        print(
            f"{source_type:<13}{len(payloads):>8}{rates['alone']:>16,.0f}{rates['finish']:>16,.0f}{ratio:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
