"""Event reminders: per-event offsets and channels, a beat scan that records each due reminder once, and
worker delivery by email, signed webhook or in-app notification (docs/reminders.md)."""
