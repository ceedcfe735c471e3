"""One harvest run of one source: pages → records → normalise → store → index, and its job report.

The no-loss rules live here: a record that fails to map is reported and the others go on; a run that did not
read every page is `partial` and withdraws nothing; a complete run withdraws what it no longer saw unless
that is a mass withdrawal; a record seen again unchanged (same payload hash) is neither re-normalised nor
re-indexed.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import Config, ConfigError, Settings, Source, header_values
from ..indexer.backend import SearchBackend, SearchUnavailable
from ..indexer.documents import IndexFeed, sync_index
from ..indexer.sparql import sync_sparql
from ..mappings.context import SourceContext
from ..mappings.model import dataset_from_json
from ..mappings.registry import Mapping, mapping_for
from ..mappings.reuse import REUSE_MAPPINGS
from ..mappings.version import mapping_version
from ..redaction import redact_text, redact_url
from ..store import MassWithdrawal, RunReport, Store, Upsert, gc_paused, payload_hash, record_id
from ..store.reuses import Reuses, ReuseUpsert
from .adapters import ADAPTERS, Adapter, Page, RawRecord
from .adapters.jsonapi import JSON
from .http import CachedPage, HarvestError, HttpClient, HttpSettings, LinkPolicy
from .mapping import dataset_uri, remap_source, source_context
from .pool import RunContext, RunPool, SharedFeed
from .safety import RecordTooLarge, check_literals
from .workers import MappingWorker

log = logging.getLogger("fedcat.harvest")
MAX_ERRORS_KEPT = 1000  # per run; the counters still count every failure
REJECTED_KEPT = 50  # refused records' payloads kept per source for review
PROGRESS_EVERY = 1.0  # seconds between the run's counters written to the store (live progress)
# A source of JSON records gets a mapping process (harvester.workers) when this many records are still to
# come by its announced total, or from this page on without one: a process costs ~0.5 s of CPU to start.
MAPPER_MIN_REMAINING = 5_000
MAPPER_AFTER_PAGES = 3

Premapped = dict[
    str, tuple[bytes | None, bytes]
]  # source record id -> (dataset JSON or None, packed payload)


@dataclass
class RunResult:
    run_id: int
    source_id: str
    status: str
    counts: Counter = field(default_factory=Counter)
    message: str | None = None


ProgressCallback = Callable[[str, Counter, int | None], None]  # (source id, counts so far, announced total)


def log_run_end(source_id: str, run_id: int, status: str, counts: Counter, message: str | None) -> None:
    """One line a run: at the default level (warning) when the run did not complete, with its reason."""
    summary = ", ".join(
        f"{counts.get(k, 0)} {k}" for k in ("seen", "created", "updated", "withdrawn", "failed")
    )
    log.log(
        logging.INFO if status == "complete" else logging.WARNING,
        "source %s: run %s %s (%s)%s",
        source_id,
        run_id,
        status,
        summary,
        f": {message}" if message else "",
        extra={
            "event": "run_end",
            "source": source_id,
            "run": run_id,
            "status": status,
            "counts": dict(counts),
            "error": message,
        },
    )


def http_client(
    source: Source,
    settings: Settings,
    store: Store | None,
    full: bool = False,
    context: RunContext | None = None,
) -> HttpClient:
    limits: dict[str, Any] = {
        k: (int(v) if k in ("retries", "max_bytes") else v) for k, v in settings.http.items()
    }
    http = HttpSettings(**limits, private_networks=settings.private_networks)
    if settings.contact:
        http = HttpSettings(
            **{**http.__dict__, "user_agent": f"{http.user_agent.rstrip(')')}; {settings.contact})"}
        )

    def page_cache(url: str) -> CachedPage | None:
        if store is None:
            return None
        cached = store.cached_page(url, source.id)
        if cached is None or not (cached["etag"] or cached["last_modified"]):
            return None
        ids = cached["record_ids"]
        if ids:  # a 304 only stands for records the store holds live: otherwise the page is fetched whole
            held = store.known(source.id, ids)
            if len(held) < len(set(ids)) or any(withdrawn for _, withdrawn in held.values()):
                return None
        return CachedPage(cached["etag"], cached["last_modified"], cached["next_url"])

    if settings.respect_robots or source.options.get("respect_robots"):
        http = replace(http, respect_robots=True)
    client = HttpClient(
        policy=LinkPolicy(source.url, frozenset(source.allowed_hosts)),
        settings=http,
        page_cache=(lambda url: None) if full else page_cache,
        credentials=header_values(source),
    )
    if context is not None:  # shared by every client of the process: limits, shutdown, metrics
        client.limits, client.stop = context.limits, context.stop
        client.observer = context.observer(source.id)
    return client


def unchanged_since(previous: tuple[str, bool] | None, digest: str) -> bool:
    """A record (or reuse) stored live with the same payload hash: seen again, neither re-mapped nor
    re-written. `previous` is the store's (raw hash, withdrawn?), None when it was never stored."""
    return previous is not None and previous[0] == digest and not previous[1]


class Harvest:
    """Runs one source; `run()` never raises for source problems, it reports them."""

    def __init__(
        self,
        source: Source,
        store: Store,
        settings: Settings,
        *,
        full: bool = False,
        force_withdraw: bool = False,
        progress: ProgressCallback | None = None,
        index: IndexFeed | SharedFeed | None = None,
        context: RunContext | None = None,
    ) -> None:
        self.source, self.store, self.settings = source, store, settings
        self.context = context  # request limits and the shutdown flag shared with other runs
        self.run_id: int | None = None
        self._progress_saved = time.monotonic()
        self.full, self.force_withdraw, self.progress = full, force_withdraw, progress
        self.index = index  # when given, records are indexed page by page (else by the sync after the run)
        self.counts: Counter = Counter()
        self.reuse_counts: Counter = Counter()  # said in the report's notes: the run's counters are records'
        self.report = RunReport()
        self.errors: list[tuple[str | None, str | None, str]] = []
        self.total: int | None = None
        self._mapper: MappingWorker | None = None
        self._mapper_tried = False  # one mapping process per run: one that broke is not replaced

    def run(self, run_id: int | None = None) -> RunResult:
        """Run the source; `run_id` is a run already started for it (queued by the scheduler or the API)."""
        run_id = self.run_id = self.store.start_run(self.source.id) if run_id is None else run_id
        try:
            client = http_client(self.source, self.settings, self.store, self.full, self.context)
        except ConfigError as exc:  # a credential's environment variable is not set
            reason = "; ".join(exc.problems)
            self.store.finish_run(run_id, "failed", dict(self.counts), reason, self.report)
            return RunResult(run_id, self.source.id, "failed", self.counts, reason)
        adapter = ADAPTERS[self.source.type](self.source, client, self.settings.page_size, self._since())
        mapping, context = mapping_for(self.source.type), source_context(self.source, self.settings)
        status, message = "complete", None
        pages = self._mapped_ahead(adapter.pages())
        try:
            while True:
                if self._stopping():  # a shutdown: every stored page is whole; withdraw nothing
                    status = "interrupted"
                    message = f"stopped by a shutdown after {self.counts['pages']} pages; nothing withdrawn"
                    break
                if self.counts["pages"] >= self.settings.max_pages:  # a source serving pages without end
                    status = "partial"
                    message = (
                        f"stopped after {self.counts['pages']} pages (settings.max_pages); nothing withdrawn"
                    )
                    break
                with gc_paused():  # fetch, parse, map and store one page; see gc_paused
                    ready = next(pages, None)
                    if ready is None:
                        break
                    self._save(mapping, context, *ready, run_id)
                    del ready  # freed by reference counting before the collector resumes
        except HarvestError as exc:
            status, message = ("partial" if self.counts["pages"] else "failed"), str(exc)
            if self._stopping():
                status, message = "interrupted", f"stopped by a shutdown: {exc}; nothing withdrawn"
        except KeyboardInterrupt:  # Ctrl-C in this thread: the run still ends with its counters
            self._end(
                run_id, "interrupted", f"interrupted after {self.counts['pages']} pages; nothing withdrawn"
            )
            raise
        except Exception as exc:  # a bug or an unforeseen shape must not stop the other sources
            log.exception(
                "source %s: unexpected error",
                self.source.id,
                extra={"event": "bug", "source": self.source.id},
            )
            status = "partial" if self.counts["pages"] else "failed"
            message = f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            pages.close()  # the mapping process, if any, stops with the walk
            client.close()
            if self.index is not None:
                self.index.flush()
        if status == "complete":
            try:
                self.counts["withdrawn"] = self.store.withdraw_unseen(
                    self.source.id,
                    run_id,
                    self.settings.max_withdraw_share,
                    self.force_withdraw,
                    self.settings.withdraw_window_days,
                )
            except MassWithdrawal as exc:
                status, message = "partial", str(exc)
        self._close_reuses(adapter, status, run_id)
        if status != "interrupted":
            self._remap_stale()
        return self._end(run_id, status, message)

    def _end(self, run_id: int, status: str, message: str | None) -> RunResult:
        """Write the run's end: its status, counters, message and errors."""
        if self.errors:
            self.store.add_errors(run_id, self.errors[:MAX_ERRORS_KEPT])
        message = redact_text(message) if message else message  # shown by the API and `fedcat status`
        self.store.finish_run(run_id, status, dict(self.counts), message, self.report)
        log_run_end(self.source.id, run_id, status, self.counts, message)
        return RunResult(run_id, self.source.id, status, self.counts, message)

    def _remap_stale(self) -> None:
        """Records mapped by an older mapping version (whatever their payload did) are mapped again from
        their stored payload: an improved vocabulary reaches records that never change at the source."""
        if not self.store.has_stale_mappings(self.source.id, mapping_version()):
            return
        try:
            done = remap_source(self.store, self.settings, self.source, stale_only=True)
        except Exception as exc:  # the run itself has succeeded: the next one retries
            log.exception("source %s: re-mapping failed", self.source.id)
            self.report.notes.append(f"re-mapping records of an older mapping version failed: {exc}")
            return
        self.report.notes.append(
            f"re-mapped {done.read} records of an older mapping version: {done.changed} changed,"
            f" {done.failed} failed"
        )
        for fedcat_id, error in done.errors:
            self._error(None, None, f"re-mapping {fedcat_id}: {error}")

    def _stopping(self) -> bool:
        return self.context is not None and self.context.stop.is_set()

    def _since(self) -> str | None:
        """Start of the source's last complete run: platforms that can list changes ask only for those."""
        if self.full:
            return None
        runs = self.store.runs(self.source.id, limit=50)
        return next((r["started_at"] for r in runs if r["status"] == "complete"), None)

    def _mapped_ahead(self, pages: Iterator[Page]) -> Generator[tuple[Page, Premapped]]:
        """The adapter's pages, each with what the mapping process made of its records (`_premap`).

        A page sent to the process is handed on only once the next page is fetched and sent too, so that
        the process maps page n+1 while the run stores page n; a walk that fails still hands on the page
        before the failure (stored, then the error ends the run as it would have). Pages not sent (no
        process, a page of reuses, a 304) are handed on at once, as without the process."""
        pending: tuple[Page, list[str]] | None = None
        try:
            while True:
                try:
                    page = next(pages, None)
                except Exception:
                    if pending is not None:
                        yield pending[0], self._premapped(pending[1])
                    raise
                done = self._premapped(pending[1]) if pending is not None else {}
                try:
                    sent = self._premap(page) if page is not None else None
                except Exception:  # a bug here must not cost a page: this one is mapped by the run
                    log.exception("source %s: sending a page to the mapping process failed", self.source.id)
                    sent = None
                if pending is not None:
                    yield pending[0], done
                    pending = None
                if page is None:
                    return
                if sent is None:
                    yield page, {}
                else:
                    pending = page, sent
        finally:
            close = getattr(pages, "close", None)
            if close is not None:  # the adapter's walk ends now (its fetch-ahead thread with it), not at GC
                close()
            if self._mapper is not None:
                self._mapper.close()
                self._mapper = None

    def _premap(self, page: Page) -> list[str] | None:
        """Send the page's new and changed JSON records to the mapping process (started once the source is
        known to be large); their ids, or None when nothing was sent."""
        if page.kind != "datasets" or page.not_modified or not page.records:
            return None
        if not self._mapper_tried and self._wants_mapper(page):
            self._mapper_tried = True
            self._mapper = MappingWorker.start(
                self.source.id,
                self.source.type,
                self.source.id,
                self.source.url,
                self.source.options,
                self.settings.base_url,
            )
        if self._mapper is None or self._mapper.broken:
            return None
        known = self.store.known(self.source.id, [r.source_record_id for r in page.records])
        chosen: dict[str, RawRecord] = {}  # the same record twice on one page: the first one counts
        for record in page.records:
            srid = record.source_record_id
            if srid in chosen or record.media_type != JSON or not isinstance(record.parsed, dict):
                continue
            record.digest = record.digest or payload_hash(record.payload)
            if unchanged_since(known.get(srid), record.digest):
                continue
            if record.payload_size() <= self.settings.max_record_bytes:  # else refused before any mapping
                chosen[srid] = record
        jobs = [(srid, r.payload, r.parsed) for srid, r in chosen.items()]
        if not jobs or not self._mapper.submit(jobs):
            return None
        return list(chosen)

    def _premapped(self, ids: list[str]) -> Premapped:
        """What the mapping process made of the records sent (nothing when it broke: the run maps them)."""
        assert self._mapper is not None
        out = self._mapper.results()
        return dict(zip(ids, out, strict=True)) if out is not None and len(out) == len(ids) else {}

    def _wants_mapper(self, page: Page) -> bool:
        if page.next_url is None and page.total is None:
            return False
        if page.total is not None:
            return page.total - page.number * len(page.records) >= MAPPER_MIN_REMAINING
        return page.number >= MAPPER_AFTER_PAGES

    def _save(
        self, mapping: Mapping, context: SourceContext, page: Page, premapped: Premapped, run_id: int
    ) -> None:
        self.counts["pages"] += 1
        if page.kind == "reuses":
            self._save_reuses(page, run_id)
            return
        self.total = page.total if page.total is not None else self.total
        if page.not_modified:
            cached = self.store.cached_page(page.url, self.source.id)
            ids = cached["record_ids"] if cached else []
            self.store.save_page(self.source.id, run_id, [], ids)
            self.counts["seen"] += len(ids)
            self.counts["unchanged"] += len(ids)
            self._progress()
            return
        known = self.store.known(self.source.id, [r.source_record_id for r in page.records])
        upserts: list[Upsert] = []
        seen_unchanged: list[str] = []
        page_ids: list[str] = []
        on_page: set[str] = set()
        fetch_urls: dict[str, str] = {}  # redacted once each: a page's records mostly share one
        for source_record_id, error in page.errors:
            self._error(source_record_id, page.url, error)
        for record in page.records:
            srid = record.source_record_id
            if srid in on_page:
                continue  # the same record twice on one page: the first one counts
            on_page.add(srid)
            page_ids.append(srid)
            self.counts["seen"] += 1
            digest = record.digest or payload_hash(record.payload)
            previous = known.get(srid)
            if unchanged_since(previous, digest):
                seen_unchanged.append(srid)
                self.counts["unchanged"] += 1
                continue
            fedcat_id = record_id(self.source.id, srid)
            dataset_json, packed = premapped.get(srid) or (None, record.packed)
            try:
                size = record.payload_size()
                if size > self.settings.max_record_bytes:
                    raise RecordTooLarge(
                        f"record of {size:,} bytes, over the {self.settings.max_record_bytes:,}"
                        " cap (settings.max_record_bytes)"
                    )
                if dataset_json is not None:  # mapped by the mapping process, exactly as here
                    dataset = dataset_from_json(dataset_json)
                else:
                    dataset = mapping(
                        record.payload, dataset_uri(self.settings, fedcat_id), context, record.parsed
                    )
                if size > self.settings.max_literal_chars:  # else no text of it can be longer
                    check_literals(dataset, self.settings.max_literal_chars)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, RecordTooLarge):
                    kept = self._keep_rejected(srid, record.full_payload())
                    message += f"; its payload is kept for review in {kept}"
                self._error(srid, record.fetch_url, message)
                if previous is not None:
                    seen_unchanged.append(srid)  # still at the source: keep the last good version live
                continue
            for prop, values in dataset.unmapped.items():
                bucket = self.report.unmapped.setdefault(prop, {})
                for value in values:
                    bucket[value] = bucket.get(value, 0) + 1
            upserts.append(
                Upsert(
                    fedcat_id,
                    srid,
                    dataset,
                    record.payload,
                    record.media_type,
                    digest,
                    fetch_urls.get(record.fetch_url)
                    or fetch_urls.setdefault(record.fetch_url, redact_url(record.fetch_url)),
                    mapping_version(),
                    packed,
                    dataset_json,
                )
            )
            self.counts["created" if previous is None else "updated"] += 1
        for srid in page.unchanged_ids:  # listed by the source, not fetched: unchanged since the last run
            if srid not in on_page:
                on_page.add(srid)
                page_ids.append(srid)
                seen_unchanged.append(srid)
                self.counts["seen"] += 1
                self.counts["unchanged"] += 1
        cache = (page.url, page.etag, page.last_modified, page.next_url, page_ids)
        written = self.store.save_page(self.source.id, run_id, upserts, seen_unchanged, cache)
        if self.index is not None and written:
            datasets = {u.id: u.dataset for u in upserts}
            jurisdiction = self.source.jurisdiction.key if self.source.jurisdiction else None
            self.index.add(self.source.id, jurisdiction, ((i, v, datasets[i]) for i, v in written))
        self._progress()

    def _close_reuses(self, adapter: Adapter, status: str, run_id: int) -> None:
        """After the records: the reuses a complete run (whose records' withdrawal was not refused) and a
        complete walk of the reuses no longer saw are withdrawn, by the records' rule; the report says it."""
        self.report.notes.extend(adapter.notes)
        if status == "complete" and adapter.reuses_complete:
            try:
                self.reuse_counts["withdrawn"] = Reuses(self.store).withdraw_unseen(
                    self.source.id, run_id, self.settings.max_withdraw_share, self.force_withdraw
                )
            except MassWithdrawal as exc:
                self.report.notes.append(f"reuses: {exc}")
        if self.reuse_counts:
            counts = ("seen", "created", "updated", "unchanged", "withdrawn", "failed")
            self.report.notes.append("reuses: " + ", ".join(f"{self.reuse_counts[k]} {k}" for k in counts))

    def _save_reuses(self, page: Page, run_id: int) -> None:
        """A page of reuses: by the records' rules (unchanged payload: only seen; one bad reuse is reported
        and the others go on; a reuse that fails to map again keeps its last good version live)."""
        reuses = Reuses(self.store)
        mapping = REUSE_MAPPINGS[self.source.type]
        known = reuses.known(self.source.id, [r.source_record_id for r in page.records])
        upserts: list[ReuseUpsert] = []
        unchanged: list[str] = []
        for source_record_id, error in page.errors:
            self.reuse_counts["failed"] += 1
            self._error(source_record_id, page.url, error, counted=False)
        first: dict[str, RawRecord] = {}  # the same reuse twice on one page: the first one counts
        for record in page.records:
            first.setdefault(record.source_record_id, record)
        for record in first.values():
            srid = record.source_record_id
            self.reuse_counts["seen"] += 1
            digest = record.digest or payload_hash(record.payload)
            previous = known.get(srid)
            if unchanged_since(previous, digest):
                unchanged.append(srid)
                self.reuse_counts["unchanged"] += 1
                continue
            try:
                if len(record.payload) > self.settings.max_record_bytes:
                    raise RecordTooLarge(f"reuse of {len(record.payload):,} bytes, over the cap")
                reuse = mapping(record.parsed, redact_url(self.source.url))
            except Exception as exc:
                self.reuse_counts["failed"] += 1
                self._error(srid, record.fetch_url, f"reuse: {type(exc).__name__}: {exc}", counted=False)
                if previous is not None:
                    unchanged.append(srid)
                continue
            upserts.append(ReuseUpsert(record_id(self.source.id, srid), srid, reuse, record.payload, digest))
            self.reuse_counts["created" if previous is None else "updated"] += 1
        reuses.save(self.source.id, run_id, upserts, unchanged)
        self._progress()

    def _keep_rejected(self, source_record_id: str, payload: bytes) -> str:
        """Keep a refused record's raw payload (gzip) in the data dir's rejected/<source>/; returns its path
        relative to the data dir. At most REJECTED_KEPT files a source: the rest are only reported."""
        folder = self.store.path.parent / "rejected" / self.source.id
        name = hashlib.sha256(source_record_id.encode()).hexdigest()[:24] + ".gz"
        relative = f"rejected/{self.source.id}/{name}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if len(list(folder.iterdir())) >= REJECTED_KEPT:
                return f"(not kept: already {REJECTED_KEPT} files in rejected/{self.source.id})"
            with gzip.open(folder / name, "wb", compresslevel=1) as out:
                out.write(payload)
        except OSError as exc:
            return f"(not kept: {exc.strerror})"
        return relative

    def _error(
        self, source_record_id: str | None, url: str | None, error: str, *, counted: bool = True
    ) -> None:
        """Keep an error for the run's report; `counted`: a record failed (a reuse's are counted apart)."""
        if counted:
            self.counts["failed"] += 1
        if len(self.errors) < MAX_ERRORS_KEPT:  # kept for display: no credential of the source's URL
            self.errors.append((source_record_id, redact_url(url) if url else url, redact_text(error)))

    def _progress(self) -> None:
        if self.progress:
            self.progress(self.source.id, self.counts, self.total)
        if self.run_id is not None and time.monotonic() - self._progress_saved >= PROGRESS_EVERY:
            self._progress_saved = time.monotonic()  # `fedcat status` and GET /api/harvests/{id} show it
            self.store.update_progress(self.run_id, dict(self.counts))


def harvest(
    config: Config,
    store: Store,
    backend: SearchBackend,
    source_ids: Iterable[str] = (),
    *,
    full: bool = False,
    force_withdraw: bool = False,
    progress: ProgressCallback | None = None,
    context: RunContext | None = None,
) -> list[RunResult]:
    """Harvest the named sources (default: every enabled one), then bring the index up to date.

    One failing source never stops the others. Several sources run at once within the settings'
    `max_concurrency` and `max_per_host` (harvester.pool); results come in the order asked.
    """
    store.sync_sources(config.sources)
    wanted = list(dict.fromkeys(source_ids)) or [s.id for s in config.sources if s.enabled]
    sources = [config.source(source_id) for source_id in wanted]  # unknown ids fail before any run
    settings = config.settings
    results = []
    if min(settings.max_concurrency, len(sources)) <= 1:
        index = IndexFeed(
            store, backend, settings=settings
        )  # indexes each page while the next one is fetched and parsed
        for source in sources:
            if context is not None and context.stop.is_set():
                break  # a shutdown: the sources not started yet are not started
            results.append(
                Harvest(
                    source,
                    store,
                    settings,
                    full=full,
                    force_withdraw=force_withdraw,
                    progress=progress,
                    index=index,
                    context=context,
                ).run()
            )
    else:
        context = context or RunContext.for_settings(settings)
        feed = SharedFeed(IndexFeed(store, backend, settings=settings))
        pool = RunPool(settings.max_concurrency, settings.max_per_host)
        runs = [
            Harvest(
                source,
                store,
                settings,
                full=full,
                force_withdraw=force_withdraw,
                progress=progress,
                index=feed,
                context=context,
            )
            for source in sources
        ]
        futures = [pool.submit(run.source, run.run) for run in runs]
        try:
            for future in futures:
                try:
                    results.append(future.result())
                except CancelledError:
                    continue
        except KeyboardInterrupt:
            # Ctrl-C: the running sources end their current page, the queued ones never start
            context.stop.set()
            pool.cancel_queued()
            pool.wait(settings.shutdown_grace)
            raise
        feed.flush(force=True)
    try:
        sync_index(
            store, backend, settings=config.settings
        )  # withdrawals, and whatever the feed could not index
    except SearchUnavailable as exc:  # the records are stored and stay pending: the next sync indexes them
        log.warning("%s; the index will catch up when it answers again", exc)
    sync_sparql(store, config)  # the SPARQL store's graphs of changed records (skipped if a server holds it)
    return results
