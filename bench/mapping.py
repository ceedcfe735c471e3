"""Mapping benchmark: records/s of each source type's pure mapping, with and without the shared last step.

    python bench/mapping.py               # every corpus record of each type, median of 5 passes
    python bench/mapping.py --repeat 9

The records are those of ../shared/corpus, split by the adapters' own readers (tests/corpus_fidelity.py).
Per source type, in this run: the mapping alone (`MAPPINGS[type]`, the baseline) and `mapping_for(type)` (the
mapping then `finish`: licence texts, formats from URLs, HTML descriptions), medians of --repeat passes, and
their ratio (passes alternated, after one warm-up round). Both map from the stored payload (no parsed form), as `fedcat remap` does.

    python bench/mapping.py --baseline ../base-x/.venv/bin/python --rounds 5

Against another checkout: `mapping_for(type)` of this code and of the checkout whose interpreter is given
(its venv's python, with that checkout installed), each in a process of its own, alternated round by round;
per type the medians of CPU time per record and wall time per pass, and the load average with each round.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def measure(repeat: int) -> dict[str, tuple[int, float, float]]:
    """Per source type: (records, median CPU seconds, median wall seconds) of `repeat` passes of
    `mapping_for(type)` over every corpus record (after one warm-up pass)."""
    from corpus_fidelity import READERS
    from fedcat.mappings.context import SourceContext
    from fedcat.mappings.registry import mapping_for

    source = SourceContext("bench", "https://portal.test", {}, lambda srid: f"https://f.test/{srid}")
    found = {}
    for source_type, read in READERS.items():
        payloads = [payload for _, payload, _, _ in read() if payload]
        mapping = mapping_for(source_type)
        cpu, wall = [], []
        for round_ in range(repeat + 1):
            started, started_cpu = time.perf_counter(), time.process_time()
            for payload in payloads:
                with contextlib.suppress(Exception):
                    mapping(payload, "https://f.test/d", source, None)
            if round_:
                cpu.append(time.process_time() - started_cpu)
                wall.append(time.perf_counter() - started)
        found[source_type] = (len(payloads), statistics.median(cpu), statistics.median(wall))
    return found


def against(baseline: str, rounds: int, repeat: int) -> int:
    """This code against the checkout of `baseline` (an interpreter), alternated round by round."""
    runs: dict[str, list[dict]] = {"this": [], "baseline": []}
    loads = []
    for _ in range(rounds):
        for label, python in (("this", sys.executable), ("baseline", baseline)):
            loads.append(os.getloadavg()[0])
            out = subprocess.run(
                [python, __file__, "--child", "--repeat", str(repeat)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
            runs[label].append(json.loads(out))
    print(f"load average (1 min) during the rounds: {min(loads):.1f} to {max(loads):.1f}")
    print(
        f"{'type':<13}{'records':>8}{'µs CPU/rec':>12}{'baseline':>10}{'ratio':>7}{'ms wall':>9}{'baseline':>10}"
    )
    for source_type in runs["this"][0]:
        records = runs["this"][0][source_type][0]
        cpu = {k: statistics.median(r[source_type][1] for r in v) / records * 1e6 for k, v in runs.items()}
        wall = {k: statistics.median(r[source_type][2] for r in v) * 1e3 for k, v in runs.items()}
        print(
            f"{source_type:<13}{records:>8}{cpu['this']:>12,.0f}{cpu['baseline']:>10,.0f}"
            f"{cpu['this'] / cpu['baseline']:>7.2f}{wall['this']:>9,.0f}{wall['baseline']:>10,.0f}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", help="the python of another checkout's venv, to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="with --baseline: alternated rounds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat)))
        return 0
    if args.baseline:
        return against(args.baseline, args.rounds, args.repeat)
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
