"""Request and response bodies of the calendar API. Every field is bounded, so oversize input is a 422."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aiwfe.calendar.draft import MAX_DATES, MAX_DESCRIPTION, MAX_LOCATION, MAX_SUMMARY, MAX_UID
from aiwfe.calendar.models import (
    CalendarSource,
    EventStatus,
    ImportStatus,
    SyncStatus,
    Transparency,
)
from aiwfe.calendar.recurrence import is_zone

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
ZoneName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
DateValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=40)]
Scope = Literal["series", "occurrence", "following"]


def _valid_zone(value: str | None) -> str | None:
    if value is not None and not is_zone(value):
        raise ValueError(f"unknown time zone {value!r}")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


SourceUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
RemoteCalendarId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
_NEEDS: dict[str, tuple[CalendarSource, ...]] = {
    "source_url": (CalendarSource.ICS, CalendarSource.CALDAV),
    "username": (CalendarSource.CALDAV,),
    "password": (CalendarSource.CALDAV,),
    "connected_account_id": (CalendarSource.GOOGLE,),
}
_ALLOWED: dict[str, tuple[CalendarSource, ...]] = {**_NEEDS, "remote_calendar_id": (CalendarSource.GOOGLE,)}


class CalendarIn(Strict):
    """A local calendar, or one synced from a source (docs/calendars.md): ``ics`` needs ``source_url``;
    ``caldav`` needs ``source_url`` (the collection), ``username`` and ``password``; ``google`` needs
    ``connected_account_id`` (and takes ``remote_calendar_id``, default ``primary``)."""

    name: Name
    color: Color = "#3b82f6"
    time_zone: ZoneName = "UTC"
    source: CalendarSource = CalendarSource.LOCAL
    source_url: SourceUrl | None = Field(default=None, validate_default=True)
    username: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, validate_default=True
    )
    password: Secret | None = Field(default=None, validate_default=True, description="write-only")
    connected_account_id: uuid.UUID | None = Field(default=None, validate_default=True)
    remote_calendar_id: RemoteCalendarId | None = Field(default=None, validate_default=True)

    _zone = field_validator("time_zone")(_valid_zone)

    @field_validator("source_url", "username", "password", "connected_account_id", "remote_calendar_id")
    @classmethod
    def _fits_source(cls, value: object, info: ValidationInfo) -> object:
        source = info.data.get("source", CalendarSource.LOCAL)
        name = info.field_name or ""
        if value is None:
            if source in _NEEDS.get(name, ()):
                raise ValueError(f"is required for a calendar synced from {source.value}")
            return value
        if source not in _ALLOWED[name]:
            raise ValueError(f"does not apply to a {source.value} calendar")
        if name == "source_url":
            parts = urlsplit(str(value))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value


class CalendarPatch(Strict):
    name: Name | None = None
    color: Color | None = None
    time_zone: ZoneName | None = None

    _zone = field_validator("time_zone")(_valid_zone)


class CalendarOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    color: str
    time_zone: str
    source: CalendarSource
    source_url: str | None
    sync_status: SyncStatus
    last_synced_at: datetime | None
    sync_error: str | None
    read_only: bool = Field(description="events come one-way from the source and cannot be edited here")
    feed_enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime


class FeedOut(BaseModel):
    url: str = Field(description="secret subscription address; shown once, revoke it to stop it working")
    token: str


class EventTime(Strict):
    """Like Google Calendar's: ``date`` for all-day, or ``date_time`` (with or without an offset)
    plus the IANA ``time_zone`` it repeats in (default: the calendar's)."""

    date: dt.date | None = None
    date_time: datetime | None = None
    time_zone: ZoneName | None = None

    _zone = field_validator("time_zone")(_valid_zone)

    @model_validator(mode="after")
    def _one_kind(self) -> EventTime:
        if (self.date is None) == (self.date_time is None):
            raise ValueError("give exactly one of date (all-day) or date_time")
        if self.date is not None and self.time_zone is not None:
            raise ValueError("an all-day date has no time_zone")
        return self


RRule = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Dates = Annotated[list[DateValue], Field(max_length=MAX_DATES)]


class EventIn(Strict):
    calendar_id: uuid.UUID
    uid: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_UID)] | None = (
        None
    )
    summary: Annotated[str, Field(max_length=MAX_SUMMARY)] = ""
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""
    location: Annotated[str, Field(max_length=MAX_LOCATION)] = ""
    start: EventTime
    end: EventTime | None = None
    rrule: RRule | None = None
    rdates: Dates = []
    exdates: Dates = []
    status: EventStatus = EventStatus.CONFIRMED
    transparency: Transparency = Transparency.OPAQUE


class EventPatch(Strict):
    """Only the fields present change; ``rrule: null`` ends the recurrence."""

    summary: Annotated[str, Field(max_length=MAX_SUMMARY)] | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None
    location: Annotated[str, Field(max_length=MAX_LOCATION)] | None = None
    start: EventTime | None = None
    end: EventTime | None = None
    rrule: RRule | None = None
    rdates: Dates | None = None
    exdates: Dates | None = None
    status: EventStatus | None = None
    transparency: Transparency | None = None


class EventOut(BaseModel):
    id: uuid.UUID
    calendar_id: uuid.UUID
    uid: str
    recurrence_id: str | None = Field(description="set on an override: the occurrence it replaces")
    summary: str
    description: str
    location: str
    all_day: bool
    start: EventTime
    end: EventTime
    rrule: str | None
    rdates: list[str]
    exdates: list[str]
    status: EventStatus
    transparency: Transparency
    sequence: int
    etag: str
    created_at: datetime
    updated_at: datetime


class OccurrenceOut(BaseModel):
    id: str = Field(description="stable id of this occurrence")
    event_id: uuid.UUID = Field(description="the series (or single event) to edit")
    override_id: uuid.UUID | None = Field(description="the override row this occurrence comes from, if any")
    calendar_id: uuid.UUID
    uid: str
    recurrence_id: str | None = Field(description="key of the occurrence within its series")
    recurring: bool
    summary: str
    description: str
    location: str
    all_day: bool
    start: EventTime
    end: EventTime
    status: EventStatus
    transparency: Transparency
    etag: str


class OccurrencePage(BaseModel):
    items: list[OccurrenceOut]
    next_cursor: str | None
    truncated: bool = Field(description="a runaway series was cut at AIWFE_CALENDAR_MAX_INSTANCES")


class BusyPeriod(BaseModel):
    start: datetime
    end: datetime


class FreeBusyOut(BaseModel):
    start: datetime
    end: datetime
    busy: list[BusyPeriod]
    truncated: bool


class ImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    calendar_id: uuid.UUID
    status: ImportStatus
    size_bytes: int
    total: int
    processed: int
    created: int
    updated: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
