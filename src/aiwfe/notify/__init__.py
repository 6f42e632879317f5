"""Outbound notifications: email through SMTP (and webhooks, later), sent by worker tasks."""
