"""The checked content of one VEVENT, whether it came from the API or from an .ics file."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aiwfe.calendar.models import EventStatus, Transparency
from aiwfe.calendar.recurrence import (
    DEFAULT_BUDGET,
    Budget,
    RecurrenceError,
    Series,
    as_budget,
    check_span,
    normalize_rrule,
    parse_key,
    zone,
)

MAX_SUMMARY = 500
MAX_LOCATION = 500
MAX_DESCRIPTION = 20_000
MAX_UID = 255
MAX_DATES = 1000
MAX_SEQUENCE = 2**31 - 1
# Years a calendar can sensibly hold; beyond them rule arithmetic runs out of datetime range.
FIRST_YEAR, LAST_YEAR = 1900, 2200


@dataclass(frozen=True)
class EventDraft:
    """Wall-clock ``dtstart``/``dtend`` in ``tzid`` (``None`` for all-day events, at midnight)."""

    dtstart: datetime
    dtend: datetime
    tzid: str | None
    uid: str = field(default_factory=lambda: f"{uuid.uuid4()}@aiwfe")
    recurrence_id: str | None = None
    summary: str = ""
    description: str = ""
    location: str = ""
    rrule: str | None = None
    rdates: tuple[str, ...] = ()
    exdates: tuple[str, ...] = ()
    status: EventStatus = EventStatus.CONFIRMED
    transparency: Transparency = Transparency.OPAQUE
    sequence: int = 0

    @property
    def all_day(self) -> bool:
        return self.tzid is None

    @property
    def series(self) -> Series:
        return Series(self.dtstart, self.dtend, self.tzid, self.rrule, self.rdates, frozenset(self.exdates))

    def with_changes(self, **changes: object) -> EventDraft:
        return replace(self, **changes)  # type: ignore[arg-type]


def _text(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise RecurrenceError(name, f"is longer than {limit} characters")
    if any(ord(ch) < 32 and ch not in "\t\r\n" for ch in value):
        raise RecurrenceError(name, "contains control characters")
    return value


def checked(
    draft: EventDraft,
    *,
    rrule: str | None = None,
    rdates: list[str] | None = None,
    exdates: list[str] | None = None,
    budget: int | Budget = DEFAULT_BUDGET,
) -> EventDraft:
    """Validate ``draft`` and normalise its recurrence (rule text and date lists, given raw).

    ``recurrence_id`` must already be a canonical key (the caller knows the master's zone). The
    rule's expansion (does it occur, where does it end) may spend ``budget`` rule iterations; a
    :class:`Budget` object lets a whole import share one larger budget.

    Raises :class:`RecurrenceError` naming the offending field.
    """
    tz = None if draft.tzid is None else zone(draft.tzid)
    uid = draft.uid.strip()
    if not uid:
        raise RecurrenceError("uid", "is empty")
    _text("uid", uid, MAX_UID)
    _text("summary", draft.summary, MAX_SUMMARY)
    _text("location", draft.location, MAX_LOCATION)
    _text("description", draft.description, MAX_DESCRIPTION)
    for name, moment in (("start", draft.dtstart), ("end", draft.dtend)):
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            raise RecurrenceError(name, f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    if draft.all_day:
        if draft.dtstart.time() != datetime.min.time() or draft.dtend.time() != datetime.min.time():
            raise RecurrenceError("start", "all-day events start and end on dates")
        if draft.dtend < draft.dtstart + timedelta(days=1):
            raise RecurrenceError(
                "end", "must be at least one day after the start (the end date is exclusive)"
            )
    elif draft.series.duration < timedelta(0):
        raise RecurrenceError("end", "is before the start")
    if not 0 <= draft.sequence <= MAX_SEQUENCE:
        raise RecurrenceError("sequence", "is out of range")
    rule = draft.rrule if rrule is None else rrule
    steps = as_budget(budget)
    normalized_rule = normalize_rrule(rule, dtstart=draft.dtstart, tz=tz, budget=steps) if rule else None
    if normalized_rule is not None and draft.recurrence_id is not None:
        raise RecurrenceError("rrule", "an override of one occurrence cannot recur itself")
    keys = {}
    for name, values in (
        ("rdates", list(draft.rdates) if rdates is None else rdates),
        ("exdates", list(draft.exdates) if exdates is None else exdates),
    ):
        if len(values) > MAX_DATES:
            raise RecurrenceError(name, f"has more than {MAX_DATES} dates")
        parsed = sorted({parse_key(value, tz=tz, field=name) for value in values})
        for key in parsed:
            if not FIRST_YEAR <= int(key[:4]) <= LAST_YEAR:
                raise RecurrenceError(name, f"{key} is out of range")
        keys[name] = tuple(parsed)
    result = replace(draft, uid=uid, rrule=normalized_rule, rdates=keys["rdates"], exdates=keys["exdates"])
    # Storing the draft needs its span: find it now, so a rule that cannot be bounded is refused here.
    check_span(result.series, steps)
    return result
