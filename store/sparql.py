"""The SPARQL store's reads of the record store: its view's cursor name, and how far behind it is."""

from __future__ import annotations

from . import feed
from .core import Store

VIEW = "sparql"


def pending_count(store: Store) -> int:
    """Feed entries the SPARQL store has still to apply (every record, before its first load)."""
    if store.db.execute("SELECT 1 FROM cursors WHERE view = ?", (VIEW,)).fetchone() is None:
        return store.count()
    return feed.behind(store, VIEW)
