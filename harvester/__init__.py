"""Harvesting: sources, the polite HTTP client, one adapter per platform, runs and their schedule."""
