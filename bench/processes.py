"""What the bench scripts share: run a measurement in a fresh process, start a portal server in another.

Fresh (spawned) processes keep one measurement's memory and CPU apart from the driver's and the server's.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Callable
from typing import Any


def in_child(target: Callable[..., None], *args: Any, executable: str | None = None) -> Any:
    """Run `target(*args, out)` in a spawned process and return what it put on `out`; `executable`: another
    tree's interpreter (its venv's python, which imports that tree's fedcat), for a baseline in the same run."""
    ctx = mp.get_context("spawn")
    ctx.set_executable(executable or sys.executable)  # a setting of the module: set for every child
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def start_server(serve: Callable[..., None], size: int) -> tuple[Any, Any, Any]:
    """Start `serve(size, ready, stop)` in a spawned process; returns (process, stop event, what it readied)."""
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=serve, args=(size, ready, stop), daemon=True)
    proc.start()
    return proc, stop, ready.get(timeout=60)
