"""Prometheus metrics of reminders, written by whichever process scans or sends (multiprocess-safe)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# The RemindersLagging alert reads this (monitoring/prometheus/rules/aiwfe-worker.yml). Each scan sets it;
# "mostrecent" makes the newest scan win across worker processes.
LAG = Gauge(
    "aiwfe_reminders_lag_seconds",
    "How late the oldest due but unsent reminder is (0 when none), as of the latest scan.",
    multiprocess_mode="mostrecent",
)
SEND_DELAY = Histogram(
    "aiwfe_reminders_send_delay_seconds",
    "Time from a reminder's due time to its successful send, by channel.",
    ["channel"],
    buckets=(1, 5, 15, 30, 60, 90, 120, 180, 300, 600, 900, 1800),
)
SENT = Counter(
    "aiwfe_reminders_sent_total",
    "Reminders sent, by channel and whether they were late.",
    ["channel", "late"],
)
SKIPPED = Counter(
    "aiwfe_reminders_skipped_total",
    "Reminders never sent because they were missed by more than the grace window (e.g. downtime).",
)
FAILED = Counter(
    "aiwfe_reminders_failed_total", "Reminders given up after failed send attempts, by channel.", ["channel"]
)
ATTEMPT_ERRORS = Counter(
    "aiwfe_reminders_send_errors_total", "Failed send attempts (each retried later), by channel.", ["channel"]
)
