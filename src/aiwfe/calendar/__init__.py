"""Calendars and events: recurrence expansion across time zones, ICS import/export, feeds, free/busy."""
