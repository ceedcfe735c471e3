"""`fedcat run`: harvest every scheduled source on its cron, and on demand, in one long-running process.

**Scheduler and catch-up.** APScheduler (3.x, background thread) fires one cron job per enabled source with a
`schedule`, in UTC. Its job store is the in-memory one: the store's `runs` table already says when each source
last ran, so it is the persistent record that catch-up reads (no second database, no SQLAlchemy). At start-up
a source whose last run that ended on its own (complete, partial or failed, not interrupted) started before
its previous scheduled time, or that never ran, gets exactly one catch-up run, however many fire times were
missed. A source without a schedule is harvested on demand only, once at start-up if it never ran. Jobs
coalesce and run one instance at a time.

**One run per source.** A trigger (cron, catch-up or `POST /api/sources/{id}/harvest`) for a source that has a
run queued or running is refused (`AlreadyRunning`, the API's 409). The run row is created when the run is
queued, so the API can answer its id at once; runs then wait in the pool (harvester.pool) for a free slot
within the global and per-host limits. Other processes are kept out by the data dir's harvest lock, which
`fedcat run` holds for its whole life.

**Shutdown.** `shutdown()` (on SIGTERM or SIGINT) stops the scheduler, drops queued runs and sets the shared
stop flag: each running run ends after the page it is storing (pages are written in one transaction, so no
record is ever half-written), with status `interrupted` and nothing withdrawn; HTTP clients start no new
request and cut retry waits short. After `grace` seconds the rest are marked `interrupted` and the process may
leave without them (worker threads are daemons); the next start re-indexes whatever they wrote.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from ..config import Config, Source
from ..indexer.backend import SearchBackend, SearchUnavailable
from ..indexer.documents import IndexFeed, sync_index
from ..indexer.sparql import sync_sparql
from ..store import RunReport, Store
from .pool import AlreadyRunning, RunContext, RunPool, SharedFeed
from .run import Harvest, RunResult

log = logging.getLogger("fedcat.schedule")
ENDED_ON_THEIR_OWN = ("complete", "partial", "failed")


class ShuttingDown(RuntimeError):
    """The service is stopping: no new run is accepted."""


INDEX_RETRY = 60.0  # seconds between syncs while the search engine is away


def cron_trigger(source: Source) -> CronTrigger:
    assert source.schedule is not None
    return CronTrigger.from_crontab(source.schedule, timezone=UTC)


def parse_time(stamp: str) -> datetime:
    """The store's timestamps: ISO 8601 UTC with a trailing Z, to the second."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def next_fire(source: Source, after: datetime | None = None) -> datetime | None:
    """The source's next scheduled time after `after` (default: now)."""
    if not source.schedule:
        return None
    now = after or datetime.now(UTC)
    return cron_trigger(source).get_next_fire_time(None, now)


def due_at_start(source: Source, store: Store, now: datetime | None = None) -> bool:
    """Whether `fedcat run` gives the source a catch-up run when it starts: a scheduled time passed since
    its last run, or it never ran at all (with or without a schedule: a new source gets its data without
    waiting for its first fire time or a manual trigger; an unscheduled one is not run again after that)."""
    if not source.enabled:
        return False
    if source.schedule:
        return missed_schedule(source, store, now)
    return not any(r["status"] in ENDED_ON_THEIR_OWN for r in store.runs(source.id, limit=100))


def missed_schedule(source: Source, store: Store, now: datetime | None = None) -> bool:
    """True if a scheduled time of the source passed since its last run that ended on its own started.

    The run's start is kept to the second, and a cron run starts just after its fire time: the search
    starts one second after it so that the run's own fire time does not count as missed.
    """
    if not source.enabled or not source.schedule:
        return False
    now = now or datetime.now(UTC)
    last = next((r for r in store.runs(source.id, limit=100) if r["status"] in ENDED_ON_THEIR_OWN), None)
    if last is None:
        return True
    fire = next_fire(source, parse_time(last["started_at"]) + timedelta(seconds=1))
    return fire is not None and fire <= now


class HarvestService:
    """The scheduler, the run pool and the triggers of `fedcat run` (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        backend: SearchBackend,
        *,
        context: RunContext | None = None,
        on_result: Callable[[RunResult], None] | None = None,
    ) -> None:
        self.config, self.store, self.backend = config, store, backend
        store.sync_sources(config.sources)  # names, types and jurisdictions as configured now
        settings = config.settings
        self.context = context or RunContext.for_settings(settings)
        self.pool = RunPool(settings.max_concurrency, settings.max_per_host)
        self.feed = SharedFeed(IndexFeed(store, backend, settings=settings))
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            # a fire time missed while the process was busy or paused runs once, not once per miss
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.on_result = on_result
        self.results: deque[RunResult] = deque(maxlen=1000)  # recent results, newest last
        self._runs: dict[str, int] = {}  # source id -> run id, queued or running
        self._lock = threading.Lock()
        self._started = False
        # True after a sync the search engine could not take (and at start, when the opening sync may
        # have failed): the catch-up job then syncs every `index_retry` seconds until one succeeds.
        self.index_behind = backend.remote
        self.index_retry = INDEX_RETRY

    # --- starting and stopping ---------------------------------------------------------------------------

    def start(self, catch_up: bool = True) -> list[str]:
        """Schedule every enabled source with a cron; returns the ids given a catch-up run."""
        for source in self.config.sources:
            if source.enabled and source.schedule:
                self.scheduler.add_job(
                    self._fire,
                    cron_trigger(source),
                    args=[source.id],
                    id=source.id,
                    name=f"harvest {source.id}",
                    replace_existing=True,
                )
        self.scheduler.add_job(
            self._catch_up_index,
            "interval",
            seconds=self.index_retry,
            id="index-catch-up",
            name="index catch-up",
        )
        self.scheduler.start()
        self._started = True
        caught_up = []
        if catch_up:
            for source in self.config.sources:
                if due_at_start(source, self.store):
                    try:
                        self.trigger(source.id, reason="catch-up")
                        caught_up.append(source.id)
                    except AlreadyRunning:
                        pass
        return caught_up

    def shutdown(self, grace: float | None = None) -> bool:
        """Stop scheduling and running (module docstring); True if every run ended within `grace` seconds."""
        grace = self.config.settings.shutdown_grace if grace is None else grace
        if self._started:
            self.scheduler.shutdown(wait=False)
            self._started = False
        with self._lock:
            self.context.stop.set()
            dropped = self.pool.cancel_queued()
        if dropped:
            log.info(
                "shutdown: %d queued runs dropped",
                len(dropped),
                extra={"event": "runs_dropped", "sources": dropped},
            )
        ended = self.pool.wait(grace)
        # queued runs that never started, and runs still inside a request after the grace period
        interrupted = self.store.mark_interrupted()
        if interrupted:
            log.warning(
                "shutdown: %d runs marked interrupted", interrupted, extra={"event": "runs_interrupted"}
            )
        if ended:  # no thread writes any more: index what was stored
            self._index()
        return ended

    # --- runs ---------------------------------------------------------------------------------------------

    def running(self) -> dict[str, int]:
        """Run ids of the sources with a run queued or running."""
        with self._lock:
            return dict(self._runs)

    def trigger(self, source_id: str, *, full: bool = False, reason: str = "api") -> int:
        """Queue a run of the source now; returns its run id. Raises KeyError for an unknown source,
        AlreadyRunning if it has a run queued or running, ShuttingDown during a shutdown."""
        source = self.config.source(source_id)
        with self._lock:
            if self.context.stop.is_set():
                raise ShuttingDown("fedcat is shutting down: no new harvest is started")
            if source_id in self._runs or self.pool.busy(source_id):
                raise AlreadyRunning(source_id)
            run_id = self.store.start_run(source_id)
            self._runs[source_id] = run_id
            self.pool.submit(source, lambda: self._run(source, run_id, full))
        log.info(
            "source %s: run %s queued (%s)",
            source_id,
            run_id,
            reason,
            extra={"event": "run_queued", "source": source_id, "run": run_id, "reason": reason},
        )
        return run_id

    def _fire(self, source_id: str) -> None:
        try:
            self.trigger(source_id, reason="schedule")
        except AlreadyRunning:
            log.warning(
                "source %s: scheduled run skipped, the previous one is still going",
                source_id,
                extra={"event": "run_skipped", "source": source_id},
            )
        except ShuttingDown:
            pass

    def _run(self, source: Source, run_id: int, full: bool) -> RunResult | None:
        try:
            harvest = Harvest(
                source, self.store, self.config.settings, full=full, index=self.feed, context=self.context
            )
            result = harvest.run(run_id)
        except Exception as exc:  # Harvest.run reports source problems itself: this is a bug
            log.exception(
                "source %s: run %s crashed: %r",
                source.id,
                run_id,
                exc,
                extra={
                    "event": "run_end",
                    "source": source.id,
                    "run": run_id,
                    "status": "failed",
                    "error": repr(exc),
                },
            )
            self.store.finish_run(run_id, "failed", {}, f"unexpected error: {exc!r}", RunReport())
            return None
        finally:
            with self._lock:
                self._runs.pop(source.id, None)
        self.results.append(result)  # Harvest.run logged its end
        if not self.context.stop.is_set():
            self._index()
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _index(self) -> None:
        """Withdrawals and what the run's feed has not committed: searchable once the run ends."""
        self._sync_index()
        sync_sparql(self.store, self.config)  # as harvest() does; a no-op while a serving worker holds it

    def _sync_index(self) -> None:
        try:
            self.feed.flush(force=True)
            with self.feed.lock:
                sync_index(self.store, self.backend, settings=self.config.settings)
            self.index_behind = False
        except SearchUnavailable as exc:  # a remote engine away: retried every INDEX_RETRY seconds
            log.warning("%s; the index will catch up when it answers again", exc)
            self.index_behind = True
        except Exception:  # the records stay pending: the next sync (or start) indexes them
            log.exception("indexing after a run failed")

    def _catch_up_index(self) -> None:
        """While the search engine was away, retry the sync: the index catches up without waiting for the
        next run."""
        if self.index_behind:
            self._sync_index()

    def describe(self) -> dict[str, Any]:
        """Scheduled sources and their next fire time (for logs and the CLI)."""
        jobs = {job.id: job.next_run_time for job in self.scheduler.get_jobs() if job.id != "index-catch-up"}
        return {source_id: when.isoformat() if when else None for source_id, when in sorted(jobs.items())}
