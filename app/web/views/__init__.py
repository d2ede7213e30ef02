"""Typed views: what the templates render, built from a run's state (display values only)."""
