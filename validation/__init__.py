"""Validation of fedcat's own output against the official DCAT-AP SHACL shapes (`fedcat validate`).

Not a mapping: it fetches the shapes (over HTTP, or from a local copy) and its results are stored (through
`store.shacl`) for the quality score's DCAT-AP compliance indicator.
"""
