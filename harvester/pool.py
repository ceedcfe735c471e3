"""Harvesting many sources at once, politely: a run pool with a global and a per-host limit.

Two limits hold together. The pool starts at most `workers` runs at once and at most `per_host` runs whose
source URL is on the same host, taking queued runs in order but skipping those whose host is busy (one portal
hosting fifty sources does not hold back the others). Underneath, every HTTP client of the process shares one
`HostLimits`, which caps the requests in flight per host and in all (a source may page onto another host
through `allowed_hosts`). Each source has at most one run queued or running: a second trigger is refused.

Threads, not processes or async: a run spends its time waiting on the network (bench/concurrency.py), the
store serialises writes anyway, and the DCAT adapter already parses large sources in a process of its own.
Worker threads are daemons, so a shutdown that has waited long enough can leave without them (`RunPool.wait`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter

from ..config import Settings, Source
from ..indexer.documents import IndexFeed
from .http import FetchObserver, HostLimits

T = TypeVar("T")

# Fetch metrics of this process (the harvesting one); the API's /metrics adds what the store knows.
REGISTRY = CollectorRegistry()
FETCH_SECONDS = Histogram(
    "fedcat_fetch_seconds",
    "Time of one HTTP exchange with a source (headers and body), whatever its outcome.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
HTTP_ERRORS = PromCounter(
    "fedcat_http_errors",
    "HTTP exchanges with a source that failed: an HTTP status >= 400 or a network error, by kind.",
    ["source", "kind"],
    registry=REGISTRY,
)


class AlreadyRunning(RuntimeError):
    """The source already has a run queued or running."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        super().__init__(f"source {source_id!r} already has a harvest queued or running")


@dataclass
class RunContext:
    """What the runs of one process share: the request limits, the shutdown flag, the fetch metrics."""

    limits: HostLimits | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    metrics: bool = True

    @classmethod
    def for_settings(cls, settings: Settings) -> RunContext:
        return cls(HostLimits(settings.max_per_host, settings.max_concurrency))

    def observer(self, source_id: str) -> FetchObserver | None:
        if not self.metrics:
            return None

        def observe(url: str, seconds: float, status: int | None, error: str | None) -> None:
            FETCH_SECONDS.observe(seconds)
            if error is not None or (status is not None and status >= 400):
                HTTP_ERRORS.labels(source_id, error or f"http_{status}").inc()

        return observe


def source_host(source: Source) -> str:
    return (urlsplit(source.url).hostname or "").lower()


@dataclass
class _Job(Generic[T]):
    source_id: str
    host: str
    fn: Callable[[], T]
    future: Future[T] = field(default_factory=Future)


class RunPool:
    """Runs one job per source on daemon threads within the global and per-host limits (module docstring)."""

    def __init__(self, workers: int, per_host: int) -> None:
        self.workers, self.per_host = max(1, workers), max(1, per_host)
        self._lock = threading.Condition()
        self._queue: list[_Job[Any]] = []
        self._jobs: dict[str, _Job[Any]] = {}  # queued or running, by source id
        self._hosts: Counter[str] = Counter()
        self._running = 0
        self.max_running = 0  # the most runs seen at once (for tests and the bench)

    def submit(self, source: Source, fn: Callable[[], T]) -> Future[T]:
        """Queue `fn` (the source's run); raises AlreadyRunning if the source has one queued or running."""
        with self._lock:
            if source.id in self._jobs:
                raise AlreadyRunning(source.id)
            job = _Job(source.id, source_host(source), fn)
            self._jobs[source.id] = job
            self._queue.append(job)
            self._dispatch()
            return job.future

    def busy(self, source_id: str) -> bool:
        with self._lock:
            return source_id in self._jobs

    def cancel_queued(self) -> list[str]:
        """Drop the runs still waiting for a slot (at shutdown); returns their source ids."""
        with self._lock:
            dropped, self._queue = self._queue, []
            for job in dropped:
                del self._jobs[job.source_id]
                job.future.cancel()
            self._lock.notify_all()
            return [job.source_id for job in dropped]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or running; False if `timeout` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._jobs:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def _dispatch(self) -> None:  # with the lock held
        index = 0
        while self._running < self.workers and index < len(self._queue):
            job = self._queue[index]
            if self._hosts[job.host] >= self.per_host:
                index += 1
                continue
            del self._queue[index]
            self._running += 1
            self._hosts[job.host] += 1
            self.max_running = max(self.max_running, self._running)
            threading.Thread(
                target=self._run, args=(job,), name=f"fedcat-run-{job.source_id}", daemon=True
            ).start()

    def _run(self, job: _Job[Any]) -> None:
        try:
            if job.future.set_running_or_notify_cancel():
                try:
                    job.future.set_result(job.fn())
                except BaseException as exc:  # the caller of the future sees it
                    job.future.set_exception(exc)
        finally:
            with self._lock:
                self._running -= 1
                self._hosts[job.host] -= 1
                self._jobs.pop(job.source_id, None)
                self._dispatch()
                self._lock.notify_all()


class SharedFeed:
    """An IndexFeed several runs write to at once: one at a time, and a commit at most every few seconds.

    Each run flushes its feed when it ends; with many small sources finishing close together that would be
    one index commit (~0.1-0.3 s, serialised) per source, so a flush here commits only if the last one is
    `min_interval` seconds old. `flush(force=True)` (or `sync_index`) settles the rest.
    """

    def __init__(self, feed: IndexFeed, min_interval: float = 5.0) -> None:
        self._feed, self.min_interval = feed, min_interval
        self._lock = threading.Lock()
        self._last = time.monotonic()

    @property
    def lock(self) -> threading.Lock:
        """Held while the feed writes: hold it to run `sync_index` on the same backend."""
        return self._lock

    def add(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._feed.add(*args, **kwargs)

    def flush(self, force: bool = False) -> None:
        with self._lock:
            if force or time.monotonic() - self._last >= self.min_interval:
                self._feed.flush()
                self._last = time.monotonic()
