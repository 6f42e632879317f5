"""Between the events API and drafts: API times to wall clock and back (one TZID per event), a patch applied
to a draft, a row as ``EventOut``."""

from __future__ import annotations

from datetime import UTC, datetime

from aiwfe.calendar.draft import EventDraft, checked
from aiwfe.calendar.errors import InvalidEvent
from aiwfe.calendar.models import Event
from aiwfe.calendar.recurrence import RecurrenceError, zone
from aiwfe.calendar.schemas import EventOut, EventPatch, EventTime
from aiwfe.calendar.writes import Written


def invalid(exc: RecurrenceError) -> InvalidEvent:
    return InvalidEvent(exc.field, exc.message)


def to_wall(time: EventTime, default_tz: str) -> tuple[datetime, str | None]:
    """An API time as (wall clock, TZID); all-day dates have no TZID."""
    if time.date is not None:
        return datetime.combine(time.date, datetime.min.time()), None
    assert time.date_time is not None
    tzid = time.time_zone or default_tz
    moment = time.date_time
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone(tzid)).replace(tzinfo=None)
    return moment.replace(microsecond=0), tzid


def end_wall(end: EventTime, start_tzid: str | None, default_tz: str) -> datetime:
    """The end in the start's zone (one TZID per event)."""
    wall, tzid = to_wall(end, start_tzid or default_tz)
    if (tzid is None) != (start_tzid is None):
        raise InvalidEvent("end", "must be a date when the start is a date, and a date_time otherwise")
    if tzid is not None and start_tzid is not None and tzid != start_tzid:
        moment = wall.replace(tzinfo=zone(tzid)).astimezone(zone(start_tzid))
        return moment.replace(tzinfo=None)
    return wall


def event_time(wall: datetime, tzid: str | None) -> EventTime:
    if tzid is None:
        return EventTime(date=wall.date())
    tz = zone(tzid)
    return EventTime(date_time=wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz), time_zone=tzid)


def event_out(stored: Event | Written) -> EventOut:
    row = stored.row if isinstance(stored, Written) else stored
    return EventOut(
        id=row.id,
        calendar_id=row.calendar_id,
        uid=row.uid,
        recurrence_id=row.recurrence_id,
        summary=row.summary,
        description=row.description,
        location=row.location,
        all_day=row.all_day,
        start=event_time(row.dtstart, row.tzid),
        end=event_time(row.dtend, row.tzid),
        rrule=row.rrule,
        rdates=list(row.rdates),
        exdates=list(row.exdates),
        status=row.status,
        transparency=row.transparency,
        sequence=row.sequence,
        etag=row.etag,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


def whole_edit(old: EventDraft, body: EventPatch, default_tz: str, *, budget: int) -> tuple[EventDraft, bool]:
    """The series (or single event) ``old`` after ``body``, its sequence one higher; and whether its
    occurrences moved, in which case its exceptions no longer apply: the caller drops its overrides, and
    its EXDATEs go unless ``body`` sets them."""
    new = patched(old, body, default_tz, whole=True, budget=budget)
    moved = keys_change(old, new)
    if moved and "exdates" not in body.model_fields_set:
        new = new.with_changes(exdates=())
    return new.with_changes(sequence=old.sequence + 1), moved


def keys_change(old: EventDraft, new: EventDraft) -> bool:
    """Whether the occurrence keys of a series move (so its exceptions no longer apply)."""
    return (old.dtstart, old.tzid, old.rrule) != (new.dtstart, new.tzid, new.rrule)


def patched(draft: EventDraft, body: EventPatch, default_tz: str, *, whole: bool, budget: int) -> EventDraft:
    """``draft`` with the fields present in ``body``; ``whole`` allows recurrence changes."""
    given = body.model_fields_set
    if not whole:
        for name in ("rrule", "rdates", "exdates"):
            if name in given:
                raise InvalidEvent(name, "cannot be set on one occurrence; edit the series")
    changes: dict[str, object] = {}
    for name in ("summary", "description", "location", "status", "transparency"):
        value = getattr(body, name)
        if name in given and value is not None:
            changes[name] = value
    dtstart, dtend, tzid = draft.dtstart, draft.dtend, draft.tzid
    if body.start is not None:
        dtstart, tzid = to_wall(body.start, draft.tzid or default_tz)
        if body.end is None:
            if (tzid is None) != (draft.tzid is None):
                raise InvalidEvent("end", "is required when switching between all-day and timed")
            if tzid is None:
                dtend = dtstart + (draft.dtend - draft.dtstart)
            else:
                elapsed = draft.series.duration
                start = dtstart.replace(tzinfo=zone(tzid)).astimezone(UTC)
                dtend = (start + elapsed).astimezone(zone(tzid)).replace(tzinfo=None)
    if body.end is not None:
        dtend = end_wall(body.end, tzid, default_tz)
    changed = draft.with_changes(dtstart=dtstart, dtend=dtend, tzid=tzid, **changes)
    try:
        return checked(
            changed,
            rrule=(body.rrule or "") if "rrule" in given else (draft.rrule or ""),
            rdates=body.rdates if "rdates" in given and body.rdates is not None else list(draft.rdates),
            exdates=body.exdates if "exdates" in given and body.exdates is not None else list(draft.exdates),
            budget=budget,
        )
    except RecurrenceError as exc:
        raise invalid(exc) from None
