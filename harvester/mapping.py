"""How a source's records are mapped, the same at harvest and at re-map; re-mapping stored payloads.

A record's dataset is made once, when its payload is harvested; an improved alias, vocabulary or mapping
would otherwise never reach the records whose payload does not change. `remap` maps each live record's
stored payload again, exactly as a harvest would (`mapping_for(type)`, `source_context`), and compares
the result with the stored dataset (`same_dataset`): a changed dataset is written with a `remapped` entry in the change
feed (every view then catches up), an unchanged one costs no write, or only its mapping version when that
was an older one (`mappings.version`). Records are read in storage order, a batch at a time (constant
memory). A record that fails to map keeps its dataset and its old mapping version (tried again next time).

A payload keeps the source's order, so a re-map lists values as the harvest did. A record stored before
payloads did (sorted N-Triples, sorted JSON keys) re-maps to its lists in another order: that is not a
change, and its stored dataset keeps the harvest's order (the publisher's order of distributions, titles,
keywords) until its source changes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..config import Settings, Source
from ..gc_pause import gc_paused
from ..mappings.context import SourceContext
from ..mappings.model import Dataset, dataset_to_json
from ..mappings.registry import mapping_for
from ..mappings.version import mapping_version
from ..store import Store, record_id

log = logging.getLogger("fedcat.remap")
BATCH = 1000
MAX_ERRORS_KEPT = 100
_json = msgspec.json.Decoder()


def dataset_uri(settings: Settings, fedcat_id: str) -> str:
    return f"{settings.base_url}/datasets/{fedcat_id}"


def source_context(source: Source, settings: Settings) -> SourceContext:
    """What the mapping of this source's records may know of it (the same at harvest and at re-map)."""
    return SourceContext(
        id=source.id,
        url=source.url,
        options=source.options,
        record_uri=lambda srid: dataset_uri(settings, record_id(source.id, srid)),
    )


def _unordered(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_unordered(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    return value


def same_dataset(a: bytes, b: bytes) -> bool:
    """Whether two stored datasets say the same, in whatever order their lists are: the payload of a record
    stored before payloads kept the source's order (sorted N-Triples, sorted JSON keys) re-maps to the
    harvest's values in another order. Not a change: the harvest's order is kept."""
    return a == b or _unordered(_json.decode(a)) == _unordered(_json.decode(b))


@dataclass
class RemapReport:
    read: int = 0  # live records whose payload was mapped again
    changed: int = 0  # whose dataset changed: written, through the feed
    stamped: int = 0  # the same dataset (in whatever order): only its mapping version written
    failed: int = 0  # the mapping raised: left as they were
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (record id, error), the first ones

    @property
    def unchanged(self) -> int:
        return self.read - self.changed - self.failed

    def add(self, other: RemapReport) -> None:
        self.read += other.read
        self.changed += other.changed
        self.stamped += other.stamped
        self.failed += other.failed
        self.seconds += other.seconds
        self.errors.extend(other.errors[: MAX_ERRORS_KEPT - len(self.errors)])


def remap_source(
    store: Store,
    settings: Settings,
    source: Source,
    *,
    stale_only: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RemapReport:
    """Re-map the source's live records (only those mapped by another version with `stale_only`)."""
    version = mapping_version()
    mapping, context = mapping_for(source.type), source_context(source, settings)
    report, started, after = RemapReport(), time.perf_counter(), 0
    while True:
        with gc_paused():  # a batch of parsed payloads and datasets: see gc_paused
            rows, after = store.payloads(source.id, after, BATCH, not_version=version if stale_only else None)
            if not rows:
                break
            changed: list[tuple[str, Dataset, bytes]] = []
            stamped: list[str] = []
            for row in rows:
                try:
                    dataset = mapping(row.raw, dataset_uri(settings, row.id), context, None)
                    data = dataset_to_json(dataset)
                except Exception as exc:  # one bad record never stops the others
                    report.failed += 1
                    if len(report.errors) < MAX_ERRORS_KEPT:
                        report.errors.append((row.id, f"{type(exc).__name__}: {exc}"))
                    continue
                if data == row.dataset or same_dataset(data, row.dataset):
                    if row.mapping_version != version:
                        stamped.append(row.id)
                else:
                    changed.append((row.id, dataset, data))
            if changed or stamped:
                store.save_remapped(changed, stamped, version)
            report.read += len(rows)
            report.changed += len(changed)
            report.stamped += len(stamped)
            del rows, changed
        if progress:
            progress(report.read)
    report.seconds = time.perf_counter() - started
    return report


def remap(
    store: Store,
    settings: Settings,
    sources: Iterable[Source],
    *,
    stale_only: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, RemapReport]:
    """Re-map these sources' live records; one report per source."""
    reports = {}
    for source in sources:
        tick = (lambda done, sid=source.id: progress(sid, done)) if progress else None
        reports[source.id] = remap_source(store, settings, source, stale_only=stale_only, progress=tick)
    return reports
