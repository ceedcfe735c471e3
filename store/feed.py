"""The change feed: one ordered log of every change to a record, and one cursor per derived view.

Every write that changes what a record says appends one entry per record, in the same transaction as the
change itself (`Store.save_page`, `withdraw_unseen`, `remap`):

    created     a record seen for the first time
    updated     its payload (hence its dataset) changed, or it came back after a withdrawal
    withdrawn   a complete run no longer saw it (the record is kept, tombstoned)
    remapped    today's mappings made another dataset of the same payload (`fedcat remap`)
    rescored    the record is unchanged but an input of its derived values changed (its link checks, its
                SHACL result, its publisher's display): only views that show derived values act on it
    reused      the record is unchanged but the reuses its description lists changed (a reuse of it or of
                a copy in its cluster appeared, changed or went): a derived change, which the SPARQL
                store also acts on (it holds the `dct:isReferencedBy` links)

A derived view (the search index and its quality scores, the SPARQL store, the audit facts, the SHACL
results; later the federation clusters and Elasticsearch) is anything with a `name` and an `apply`:

    class MyView:
        name = "my-view"                      # its cursor's key in the store
        def apply(self, changes: list[Change]) -> None:
            ...                               # read each changed record's *current* state and write it

    catch_up(store, MyView())                 # from its cursor to the head, a batch at a time

`apply` must be idempotent: it reads the records' current state (`Store.current`), never the entry's, so
applying a batch twice, or an entry older than what the view already shows, writes the same thing. The
cursor moves only after `apply` returns, so a crash (kill -9 anywhere) means the next `catch_up` applies
that batch again: one catch-up mechanism, one crash-repair story. A view with no cursor yet starts from the
beginning of the feed, which holds an entry for every record (a new view builds itself by catching up);
`reset` sends a view back there (to rebuild it). A batch may name a record several times: `latest` keeps
each record's last entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from .core import Store

KINDS = ("created", "updated", "withdrawn", "remapped", "rescored", "reused")
DERIVED = frozenset({"rescored", "reused"})  # the record itself did not change: views of it skip these
BATCH = 2000


class Change(NamedTuple):
    seq: int
    id: str  # the record's fedcat id
    version: int  # the record's version the change made
    kind: str  # one of KINDS


class View(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, changes: list[Change]) -> None: ...


def latest(changes: Iterable[Change]) -> dict[str, Change]:
    """Each record's last entry in a batch (in feed order)."""
    return {c.id: c for c in changes}


def cursor(store: Store, view: str) -> int:
    row = store.db.execute("SELECT seq FROM cursors WHERE view = ?", (view,)).fetchone()
    return int(row[0]) if row else 0


def head(store: Store) -> int:
    """The last entry's position (0 for an empty feed)."""
    return int(store.db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])


def advance(store: Store, view: str, seq: int) -> None:
    """Move the view's cursor to `seq` (never back: two processes catching up at once both stay right)."""
    with store.write() as db:
        db.execute(
            "INSERT INTO cursors (view, seq) VALUES (?, ?)"
            " ON CONFLICT (view) DO UPDATE SET seq = max(seq, excluded.seq)",
            (view, seq),
        )


def skip_derived(store: Store, view: str) -> None:
    """Move the cursor of a view that ignores `DERIVED` entries past those that come next (the ones its own
    last write made, say), up to the next other entry."""
    kinds = ",".join(repr(kind) for kind in sorted(DERIVED))
    with store.write() as db:
        db.execute(
            "UPDATE cursors SET seq = max(seq, coalesce("
            f" (SELECT min(seq) - 1 FROM changes WHERE seq > cursors.seq AND kind NOT IN ({kinds})),"
            " (SELECT max(seq) FROM changes), seq)) WHERE view = ?",
            (view,),
        )


def reset(store: Store, view: str, to: int = 0) -> None:
    """Send the view's cursor back to `to` (0: the view is rebuilt from every record)."""
    with store.write() as db:
        db.execute(
            "INSERT INTO cursors (view, seq) VALUES (?, ?) ON CONFLICT (view) DO UPDATE SET seq = excluded.seq",
            (view, to),
        )


def changes_after(store: Store, seq: int, limit: int = BATCH, until: int | None = None) -> list[Change]:
    """Up to `limit` entries after `seq` (and up to `until`), in order."""
    return [
        Change(*row)
        for row in store.db.execute(
            "SELECT seq, id, version, kind FROM changes WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (seq, until if until is not None else 2**63 - 1, limit),
        )
    ]


def behind(store: Store, view: str, derived: bool = True) -> int:
    """How many entries the view has still to apply (`derived`: counting the `DERIVED` ones)."""
    skipped = "" if derived else f" AND kind NOT IN ({','.join(repr(kind) for kind in sorted(DERIVED))})"
    return int(
        store.db.execute(
            f"SELECT count(*) FROM changes WHERE seq > ?{skipped}", (cursor(store, view),)
        ).fetchone()[0]
    )


def catch_up(
    store: Store,
    view: View,
    *,
    batch: int = BATCH,
    budget: float | None = None,
    progress: Callable[[int], None] | None = None,
    skip: Callable[[Change], bool] | None = None,
    until: int | None = None,
) -> int:
    """Apply every entry after the view's cursor, `batch` at a time; returns how many entries were read.

    `budget` (seconds) stops after the batch that crosses it (a server answering queries meanwhile); `skip`
    leaves out entries the caller already applied (the harvest's index feed), the cursor moving past them;
    `until` stops at that position.
    """
    started, done = time.monotonic(), 0
    at = cursor(store, view.name)
    while True:
        changes = changes_after(store, at, batch, until)
        if not changes:
            return done
        wanted = [c for c in changes if not skip(c)] if skip is not None else changes
        if wanted:
            view.apply(wanted)
        at = changes[-1].seq
        advance(store, view.name, at)
        done += len(changes)
        if progress:
            progress(len(changes))
        if budget is not None and time.monotonic() - started > budget:
            return done
