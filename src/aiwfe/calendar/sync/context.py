"""What one sync run works with: its database session (one transaction), the calendar, its source row,
the remote connection and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from aiwfe.calendar.models import Calendar
from aiwfe.calendar.sync.models import SyncSource
from aiwfe.calendar.sync.remote import Remote
from aiwfe.core.settings import Settings


@dataclass
class SyncContext:
    db: AsyncSession
    calendar: Calendar
    source: SyncSource
    remote: Remote
    settings: Settings
    access_token: str | None = None  # Google: fetched before the run's transaction

    @property
    def ics_limits(self) -> dict[str, int]:
        """The limits every source's data is read with: the same as an upload's."""
        return {
            "max_events": self.settings.calendar_import_max_events,
            "budget": self.settings.calendar_recurrence_budget,
            "total_budget": self.settings.calendar_import_recurrence_budget,
        }

    @property
    def budget(self) -> int:
        """Rule iterations storing one series may spend."""
        return self.settings.calendar_recurrence_budget
