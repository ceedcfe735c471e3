"""Open a fedcat catalogue: the configuration, the record store and the search backend of a data dir."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SEARCH_BACKENDS, Settings
from .harvester.sources import Config, load_config
from .indexer.backend import IndexOutdated, SearchBackend, SearchQuery, SearchUnavailable
from .indexer.documents import rebuild_index, sync_index
from .store import Store, feed

DEFAULT_CONFIG = "sources.yaml"
DEFAULT_DATA_DIR = "fedcat-data"
BACKENDS = SEARCH_BACKENDS
log = logging.getLogger("fedcat")


def default_config() -> Path:
    return Path(os.environ.get("FEDCAT_CONFIG", DEFAULT_CONFIG))


def default_data_dir() -> Path:
    return Path(os.environ.get("FEDCAT_DATA_DIR", DEFAULT_DATA_DIR))


def backend_name(config: Config, name: str | None = None) -> str:
    """The search engine: the one asked for (--backend, FEDCAT_BACKEND), else settings.search.backend,
    else Elasticsearch when FEDCAT_ELASTICSEARCH_URL is set, else the embedded engine."""
    if name or os.environ.get("FEDCAT_BACKEND"):
        return name or os.environ["FEDCAT_BACKEND"]
    if config.settings.search.get("backend"):
        return config.settings.search["backend"]
    return "elasticsearch" if os.environ.get("FEDCAT_ELASTICSEARCH_URL") else "embedded"


def open_backend(
    data_dir: Path, name: str = "embedded", search: dict[str, Any] | None = None
) -> SearchBackend:
    """The search index beside the store (or on the Elasticsearch node of `search`, settings.search); it is
    derived data and can always be rebuilt from it."""
    if name == "elasticsearch":
        search = search or {}
        url = os.environ.get("FEDCAT_ELASTICSEARCH_URL") or search.get("url")
        if not url:
            raise ValueError(
                "the elasticsearch backend needs a node: set settings.search.url or FEDCAT_ELASTICSEARCH_URL"
            )
        try:
            from .indexer.elasticsearch import ElasticsearchBackend
        except ImportError:
            raise ValueError(
                "the elasticsearch backend needs its client: pip install 'fedcat[elasticsearch]'"
            ) from None
        return ElasticsearchBackend(
            url,
            index_prefix=search.get("index_prefix", "fedcat"),
            api_key=os.environ.get("FEDCAT_ELASTICSEARCH_API_KEY") or search.get("api_key"),
            username=search.get("username"),
            password=os.environ.get("FEDCAT_ELASTICSEARCH_PASSWORD") or search.get("password"),
            ca_certs=search.get("ca_certs"),
            replicas=search.get("replicas", 0),
        )
    if name == "embedded":
        from .indexer.embedded import EmbeddedBackend

        return EmbeddedBackend(data_dir / "index")
    if name == "sqlite":
        from .indexer.sqlite_fts import SqliteFtsBackend

        return SqliteFtsBackend(data_dir / "search.sqlite")
    raise ValueError(f"unknown search backend {name!r} (expected one of {', '.join(BACKENDS)})")


def bring_up_to_date(store: Store, backend: SearchBackend, settings: Settings | None = None) -> None:
    """Index what the store changed since the index last saw it; an Elasticsearch generation of another
    mapping version is rebuilt beside the live one (searches go on meanwhile). A search engine that cannot
    be reached only delays this: the records stay pending and the next sync indexes them."""
    try:
        if backend.outdated:
            log.warning("the search index was built with other mappings; rebuilding it beside the live one")
            rebuild_index(store, backend, settings=settings)
        elif _lost(store, backend):
            log.warning("the search index on %s is empty but the store is not; rebuilding it", backend.name)
            rebuild_index(store, backend, settings=settings)
        else:
            sync_index(store, backend, settings=settings)
    except SearchUnavailable as exc:
        log.warning("%s; the index will catch up when it answers again", exc)


def _lost(store: Store, backend: SearchBackend) -> bool:
    """A remote index that is empty while its cursor says it was fed: a new cluster, an index deleted by
    hand. Following the feed from the cursor would never bring the records back."""
    if not backend.remote or feed.cursor(store, backend.view_name) == 0:
        return False
    return store.count() > 0 and backend.search(SearchQuery(page_size=1, facets=())).total == 0


@contextmanager
def _harvest_lock(data_dir: Path) -> Iterator[None]:
    """The data dir's harvest lock (flock: released by the kernel when its process dies, even by kill -9)."""
    with (data_dir / "harvest.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"another fedcat process is harvesting into {data_dir} (if it is `fedcat run`, trigger a "
                "run with POST /api/sources/{id}/harvest; `fedcat status` and `fedcat serve` work beside it)"
            ) from None
        yield


@dataclass
class Catalogue:
    config: Config
    store: Store
    backend: SearchBackend
    data_dir: Path

    @classmethod
    def open(
        cls,
        config_path: Path | str | None = None,
        data_dir: Path | str | None = None,
        backend: str | None = None,
        *,
        writer: bool = True,
        catch_up: bool = True,
    ) -> Catalogue:
        """Load the config, open the store and index. A writer also brings the index up to date with the
        store (repairing what a crash between the two left behind); serving processes open as readers."""
        config = load_config(config_path or default_config())
        directory = Path(data_dir or default_data_dir())
        if directory.exists() and not directory.is_dir():
            raise RuntimeError(f"the data dir {directory} is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        if writer:  # the harvesting process holds the index's only writer: say so before tantivy does
            with _harvest_lock(directory):
                pass
        # Sources are written by harvests (names, types and jurisdictions as configured then), never here:
        # opening a data dir to read it (quality, status, serve…) with another config must not change it.
        store = Store(directory / "fedcat.db")
        name = backend_name(config, backend)
        try:
            search = open_backend(directory, name, config.settings.search)
        except IndexOutdated as exc:
            if not writer:
                raise RuntimeError(str(exc)) from None
            # the index is derived data: drop it and rebuild it from the store below
            log.warning("%s; rebuilding it", exc)
            shutil.rmtree(exc.path, ignore_errors=True)
            search = open_backend(directory, name, config.settings.search)
            feed.reset(store, search.view_name)
        if writer and catch_up:  # (`fedcat reindex` rebuilds instead)
            bring_up_to_date(store, search, config.settings)
        return cls(config, store, search, directory)

    @contextmanager
    def harvesting(self) -> Iterator[None]:
        """Hold the data dir's harvest lock; runs still marked `running` then belong to a dead process."""
        with _harvest_lock(self.data_dir):
            self.store.mark_interrupted()
            try:
                yield
            except BaseException:  # Ctrl-C, SIGTERM: this process's runs end here
                self.store.mark_interrupted()
                raise

    def disagreement(self) -> str | None:
        """A sentence when the config and the data dir look like they belong to different catalogues."""
        return disagreement(self.config, self.store.sources(), self.data_dir)

    def close(self) -> None:
        self.backend.close()
        self.store.close()


def disagreement(config: Config, stored: list[dict], data_dir: Path) -> str | None:
    """The config names sources and the data dir was harvested from others, none of them the same.

    A source removed from the config (its records are kept) or added and not yet harvested is normal; a
    config sharing no source with a harvested data dir is another catalogue's (`--config` or `--data-dir`
    pointing elsewhere than meant).
    """
    configured = [s.id for s in config.sources]
    harvested = [s["id"] for s in stored]
    if not configured or not harvested or set(configured) & set(harvested):
        return None
    return (
        f"the config {config.path} names sources {', '.join(configured)}, but the data dir {data_dir} holds "
        f"sources {', '.join(harvested)} and none of them: is this the config of this data dir? (--config, "
        "--data-dir, $FEDCAT_CONFIG, $FEDCAT_DATA_DIR). Answers below come from the data dir."
    )
