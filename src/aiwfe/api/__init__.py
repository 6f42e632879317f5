"""The HTTP API: app factory, middleware, health and readiness, router wiring."""
