"""Pausing Python's cyclic garbage collector around batch work (shared by every layer: a leaf module)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False
_gc_collected = 0.0  # when a pause last collected on its own (see gc_paused)
GC_MAX_PAUSE = 30.0  # seconds: overlapping pauses (runs in several threads) still collect this often


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch of work (a harvested page, an index batch).

    A page makes ~200,000 short-lived containers (its parsed graph, records, datasets); the collector would
    scan them, and everything alive with them, many times over before they are freed, which cost ~30% of a
    harvest. The batch code makes no reference cycles, so reference counting frees it all; cycles made
    elsewhere meanwhile are collected once the pause ends. Nestable and thread-safe (the collector resumes
    when the last pause ends, if it was running before the first); when pauses of several threads overlap
    without end (a pool of runs), one of them collects every GC_MAX_PAUSE seconds.
    """
    global _gc_pausers, _gc_was_enabled, _gc_collected
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
            _gc_collected = time.monotonic()
        _gc_pausers += 1
    try:
        yield
    finally:
        collect = False
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()
            elif _gc_was_enabled and time.monotonic() - _gc_collected > GC_MAX_PAUSE:
                _gc_collected, collect = time.monotonic(), True
        if collect:
            gc.collect()
