"""The store: the one owner of fedcat's SQLite file and of every SQL statement run on it.

`core.Store` holds the sources, their runs and every record (raw payload, normalised dataset, first/last
seen, withdrawn-at); `schema` every table and the migrations of an older data dir; the other modules are
the typed reads and writes of the views derived from the records (the catalogue pages and export, quality
scores, audit facts, SHACL results, run metrics). Nothing outside this package imports `sqlite3` or writes
SQL: a view asks the store for what it reads, in the store's read models.
"""

from ..gc_pause import gc_paused
from .core import (
    COUNTERS,
    RUN_STATUSES,
    MassWithdrawal,
    RunReport,
    Store,
    Upsert,
    now,
    pack_payload,
    payload_hash,
    record_id,
    unpack_payload,
)
from .schema import SCHEMA_VERSION, NewerStore

__all__ = [
    "COUNTERS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "MassWithdrawal",
    "NewerStore",
    "RunReport",
    "Store",
    "Upsert",
    "gc_paused",
    "now",
    "pack_payload",
    "payload_hash",
    "record_id",
    "unpack_payload",
]
