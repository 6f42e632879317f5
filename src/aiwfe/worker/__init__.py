"""The Celery worker and beat: app, configuration, schedule, heartbeats, metrics and trace context."""
