"""Worker processes of a harvest: a second core's share of the work on a large source.

A run stores and indexes page n on its harvesting thread while a child process prepares page n+1: the DCAT
adapter's parsing process (`adapters.dcat.PageWorker`: parse, map, hash and pack a page of RDF) and, for
the JSON portals (udata, Opendatasoft, CKAN, data.json), the mapping process here (`MappingWorker`), whose
pages the adapter has already decoded: their mapping was the largest cost left on the harvesting thread
(~180 µs a udata dataset, ~300 µs an Opendatasoft one, against ~30 µs to store one).

Both are a `WorkerProcess`: spawned (no fork of a process that runs threads), msgpack over a pipe (bytes stay
bytes, dicts keep their order, no pickle of arbitrary objects), one job in flight, one of the process's
`WORKER_SLOTS` (one per spare core, shared by every run of the process) taken by `start` and given back by
`close`. A process that dies or breaks its pipe is `broken`: the run does the work itself from then on.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

log = logging.getLogger("fedcat.harvest")

WORKER_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))

pack = msgspec.msgpack.Encoder().encode
unpack = msgspec.msgpack.Decoder().decode

W = TypeVar("W", bound="WorkerProcess")


def serve_jobs(conn: Any, handle: Callable[[Any, Any], None]) -> None:
    """A child's loop: `handle(conn, job)` for each job received, until told to stop (nil) or orphaned."""
    from ..gc_pause import gc_paused

    while True:
        try:
            job = unpack(conn.recv_bytes())
        except EOFError:
            return
        if job is None:
            return
        with gc_paused():
            handle(conn, job)
            del job


class WorkerProcess:
    """A child process serving jobs (see the module docstring); subclasses say what it runs."""

    name = "fedcat-worker"

    def __init__(self, target: Callable[[Any], None], setup: bytes | None = None) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process that runs threads
        self._conn, child = context.Pipe()
        self._process = context.Process(target=target, args=(child,), name=self.name, daemon=True)
        self._process.start()
        child.close()
        if setup is not None:
            self._conn.send_bytes(setup)
        self._busy = False  # one job at a time: sent, its answer not received yet
        self.broken = False
        self._closed = False

    @classmethod
    def start(cls: type[W], label: str, *args: Any) -> W | None:
        """The process, if a spare core is free (else None: the run does the work itself); `label` names
        the source in the log."""
        if not WORKER_SLOTS.acquire(blocking=False):
            return None
        try:
            return cls(*args)
        except Exception as exc:  # e.g. inside a daemonic process, which may not have children
            WORKER_SLOTS.release()
            log.info("source %s: no %s process (%s); working here", label, cls.name, exc)
            return None

    def send(self, job: bytes) -> None:
        self._conn.send_bytes(job)
        self._busy = True

    def receive(self) -> Any:
        """The next message from the process (raises EOFError/OSError when it is gone)."""
        return unpack(self._conn.recv_bytes())

    def done(self) -> None:
        """The job's last message was received."""
        self._busy = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._busy:  # else it works on a job nobody will read: no need to wait for it
            with contextlib.suppress(OSError):
                self._conn.send_bytes(pack(None))
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._conn.close()
        WORKER_SLOTS.release()


def _serve_mapping(conn: Any) -> None:
    """The mapping process: the source first, then one page of records in, their mapped forms out."""
    from ..mappings.context import SourceContext
    from ..mappings.model import dataset_to_json
    from ..mappings.registry import mapping_for
    from ..store import pack_payload, record_id

    try:
        source_type, source_id, url, options, base_url = unpack(conn.recv_bytes())
    except EOFError:
        return

    def uri(source_record_id: str) -> str:  # harvester.mapping.dataset_uri of the record
        return f"{base_url}/datasets/{record_id(source_id, source_record_id)}"

    mapping = mapping_for(source_type)
    context = SourceContext(id=source_id, url=url, options=options, record_uri=uri)

    def handle(conn: Any, records: list[Any]) -> None:
        out = []
        for source_record_id, payload, parsed in records:
            try:
                mapped: bytes | None = dataset_to_json(
                    mapping(payload, uri(source_record_id), context, parsed)
                )
            except Exception:  # the run maps it again and reports the very same error
                mapped = None
            out.append((mapped, pack_payload(payload)))
        conn.send_bytes(pack(out))

    serve_jobs(conn, handle)


class MappingWorker(WorkerProcess):
    """Maps a JSON source's records exactly as the run would (`mapping_for(type)`, the same
    `SourceContext`, the same URI) and packs their payloads: [dataset JSON, packed payload] per record sent
    (their parsed form in the document's order, and their canonical payload). A record whose mapping raises
    comes back without a dataset: the run maps it again itself and reports the error."""

    name = "fedcat-mapper"

    def __init__(self, source_type: str, source_id: str, url: str, options: Any, base_url: str) -> None:
        setup = pack((source_type, source_id, url, dict(options), base_url))  # raises before any process
        super().__init__(_serve_mapping, setup)

    def submit(self, records: list[tuple[str, bytes, Any]]) -> bool:
        """Send (source record id, payload, parsed form) of records; False when they cannot go (a value
        msgpack cannot carry, such as an integer beyond 64 bits: that page is mapped by the run)."""
        if self.broken or self._busy:
            return False
        try:
            job = pack(records)
        except (TypeError, OverflowError, UnicodeEncodeError, msgspec.EncodeError):
            return False
        try:
            self.send(job)
        except OSError:
            self.broken = True
            return False
        return True

    def results(self) -> list[tuple[bytes | None, bytes]] | None:
        """[dataset JSON or None, packed payload] of the records submitted, in order; None when broken."""
        try:
            return self.receive()
        except (EOFError, OSError, msgspec.DecodeError) as exc:
            self.broken = True
            log.warning("the mapping process stopped (%s); mapping here", exc or type(exc).__name__)
            return None
        finally:
            self.done()
