"""Shared infrastructure: settings, database, Redis, logging, metrics, tracing and errors."""
