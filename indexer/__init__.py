"""The record store (SQLite, source of truth) and the search backends derived from it."""
