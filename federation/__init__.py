"""Federation: the copies of one dataset that arrive by several paths, grouped into clusters.

The pure core (`keys`, `rules`, `cluster`) works on `Copy` facts and imports nothing above `mappings`; the
view that follows the store's change feed and keeps the clusters lives beside it.
"""
