"""fedcat: a federated open-data catalogue aggregator (harvest → DCAT-AP 3.0 → search and linked data)."""

__version__ = "0.1.0"
