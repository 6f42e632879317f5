"""Servers for tests and benchmarks: Radicale, an SMTP sink, scratch PostgreSQL + Redis clusters."""
