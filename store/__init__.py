"""The store: the only owner of SQL (records, runs, sources, schema, read models, change feed)."""
