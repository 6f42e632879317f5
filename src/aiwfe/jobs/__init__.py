"""User-visible background jobs: one list over every kind of job, their status, and a live progress stream."""
