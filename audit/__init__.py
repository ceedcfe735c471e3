"""The audit of publication obligations: which public bodies must publish open data, and which do.

`registry` (public bodies from data files), `rules` (obligations and open licences, as data), `names` and
`match` (harvested publishers to bodies), `families` (expected dataset families, as data, and how a dataset
is recognised as one), `report` (per body, aggregated in SQL). docs/audit.md.
"""
