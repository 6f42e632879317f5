"""Recurrence: occurrence keys, RRULE validation and expanding a series into its occurrences in a window.

Times follow RFC 5545: a timed series repeats at the same wall-clock time in its TZID (so 09:00 stays
09:00 across a DST change), a wall-clock time that does not exist (skipped by DST) means the same
time before the gap (02:30 on a spring-forward day is 03:30 summer time), an ambiguous one means its
first occurrence, and every occurrence lasts the exact duration of the first. All-day series repeat
by date and last whole days. DTSTART is always the first occurrence; RDATEs add, EXDATEs remove.
"""

from aiwfe.calendar.recurrence.budget import (
    DEFAULT_BUDGET,
    SCAN_FACTOR,
    Budget,
    BudgetExceeded,
    RecurrenceError,
    as_budget,
    walk,
)
from aiwfe.calendar.recurrence.expansion import (
    Expansion,
    Instance,
    Series,
    expand,
    first_instance,
    occurs,
    overlaps,
)
from aiwfe.calendar.recurrence.keys import (
    instant_key,
    is_zone,
    key_date,
    key_instant,
    key_to_wall,
    local_key,
    parse_key,
    zone,
)
from aiwfe.calendar.recurrence.rules import (
    FREQUENCIES,
    build_rule,
    normalize_rrule,
    rule_value,
    shifted_start,
)
from aiwfe.calendar.recurrence.spans import check_span, span, split_rule, stored_span

__all__ = [
    "DEFAULT_BUDGET",
    "FREQUENCIES",
    "SCAN_FACTOR",
    "Budget",
    "BudgetExceeded",
    "Expansion",
    "Instance",
    "RecurrenceError",
    "Series",
    "as_budget",
    "build_rule",
    "check_span",
    "expand",
    "first_instance",
    "instant_key",
    "is_zone",
    "key_date",
    "key_instant",
    "key_to_wall",
    "local_key",
    "normalize_rrule",
    "occurs",
    "overlaps",
    "parse_key",
    "rule_value",
    "shifted_start",
    "span",
    "split_rule",
    "stored_span",
    "walk",
    "zone",
]
