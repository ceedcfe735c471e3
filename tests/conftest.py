"""Fixtures shared by the test modules: a local portal server and the recorded corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fedcat.demo.portal import PortalServer
from fedcat.indexer.embedded import EmbeddedBackend
from fedcat.store import Store

# The recorded portal shapes live beside the repository, not in it (they are not ours to redistribute).
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

# How the local portal serves a corpus file, and how rdflib reads it as the independent reference.
MEDIA_TYPES = {
    ".ttl": "text/turtle",
    ".nt": "application/n-triples",
    ".rdf": "application/rdf+xml",
    ".xml": "application/rdf+xml",
    ".jsonld": "application/ld+json",
    ".json": "application/json",
}
RDFLIB_FORMATS = {
    ".ttl": "turtle",
    ".nt": "nt",
    ".rdf": "xml",
    ".xml": "xml",
    ".jsonld": "json-ld",
    ".json": "json-ld",
}


@pytest.fixture
def portal() -> Iterator[PortalServer]:
    """A PortalServer on 127.0.0.1 (random port), stopped after the test."""
    with PortalServer() as server:
        yield server


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[tuple[Store, EmbeddedBackend]]:
    """A real record store and embedded index in the test's own directory."""
    store = Store(tmp_path / "fedcat.db")
    backend = EmbeddedBackend(tmp_path / "index")
    yield store, backend
    backend.close()
    store.close()


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The recorded corpus directory; tests that need it are skipped where it is not checked out."""
    if not CORPUS.is_dir():
        pytest.skip(f"the recorded corpus is not available (expected at {CORPUS})")
    return CORPUS


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`fedcat demo` harvested into a data dir, not served: (its sources file, its data dir). Read only."""
    import socket

    from fedcat.cli import main

    data = tmp_path_factory.mktemp("demo")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["demo", "--no-serve", "--port", str(port), "--data-dir", str(data)]) == 0
    return data / "demo-sources.yaml", data
