"""The span a series covers (stored with it for range queries) and splitting a rule at an occurrence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from aiwfe.calendar.recurrence.budget import DEFAULT_BUDGET, Budget, BudgetExceeded, as_budget, walk
from aiwfe.calendar.recurrence.expansion import Series
from aiwfe.calendar.recurrence.keys import key_date, key_instant, key_to_wall
from aiwfe.calendar.recurrence.rules import build_rule, rule_value

# Padding that makes an all-day event's bounds hold whatever zone its dates are read in.
_DATE_PAD = timedelta(days=1)


def span(series: Series, *, budget: int | Budget = DEFAULT_BUDGET) -> tuple[datetime, datetime | None]:
    """UTC bounds that hold every occurrence (``None`` = no end), padded for all-day dates.

    A COUNT rule is expanded to its last occurrence within ``budget``; one that needs more is a
    :class:`BudgetExceeded` (its end is too far to find cheaply, and so would be every later read).
    """
    if isinstance(budget, Budget):
        return _span(series, budget)
    try:
        bounds, _ = _cached_span(series, budget)
    except TypeError:  # dates given as lists: not hashable, so not cached
        return _span(series, Budget(budget))
    return bounds


def check_span(series: Series, budget: Budget) -> None:
    """Find the span of ``series`` (refused like :func:`span`), charged to ``budget``, and keep it
    for the write that follows."""
    try:
        _, spent = _cached_span(series, budget.limit)
    except BudgetExceeded:
        budget.spent = max(budget.spent, budget.limit + 1)  # the work was done, if not cached
        raise
    budget.spend(spent)


@lru_cache(maxsize=4096)
def _cached_span(series: Series, budget: int) -> tuple[tuple[datetime, datetime | None], int]:
    # Checking a draft and then storing it ask for the same span: the second time is free.
    counted = Budget(budget)
    return _span(series, counted), counted.spent


def _span(series: Series, budget: Budget) -> tuple[datetime, datetime | None]:
    tz = series.tz
    duration = series.duration

    def instant(wall: datetime) -> datetime:
        if tz is None:
            return wall.replace(tzinfo=UTC)
        return wall.replace(tzinfo=tz).astimezone(UTC)

    starts = [instant(series.dtstart), *(instant(key_to_wall(k, tz)) for k in series.rdates)]
    last: datetime | None = max(starts)
    if series.rrule:
        until = rule_value(series.rrule, "UNTIL")
        count = rule_value(series.rrule, "COUNT")
        if until is not None:
            end_of_rule = (
                datetime.strptime(until, "%Y%m%d").replace(tzinfo=UTC)
                if tz is None
                else datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            )
            last = max([*starts, end_of_rule])
        elif count is not None:
            rule = build_rule(series.rrule, series.dtstart, tz)
            final: datetime | None = None
            try:
                for occurrence in walk(rule, budget):
                    final = occurrence
            except BudgetExceeded:
                if not budget.exhausted:
                    raise
                raise BudgetExceeded(
                    "rrule",
                    f"COUNT={count} needs more than {budget.limit} steps to expand; "
                    "end the rule with UNTIL or a smaller COUNT",
                ) from None
            if final is not None:
                last = max([*starts, instant(final.replace(tzinfo=None))])
        else:
            last = None
    first = min(starts)
    if tz is None:
        return first - _DATE_PAD, None if last is None else last + duration + _DATE_PAD
    return first, None if last is None else last + duration


def stored_span(series: Series, *, budget: int | Budget) -> tuple[datetime, datetime | None]:
    """The span to store for a series already accepted: :func:`span`, except that a COUNT rule that no
    longer fits the budget (it was lowered since) is open-ended. A wider span is still correct; range
    queries cut the series' expansion at their own budget."""
    try:
        return span(series, budget=budget)
    except BudgetExceeded:
        assert series.rrule
        unbounded = ";".join(p for p in series.rrule.split(";") if not p.startswith("COUNT="))
        return _span(replace(series, rrule=unbounded), Budget(0))


def split_rule(series: Series, key: str, *, budget: int | Budget = DEFAULT_BUDGET) -> tuple[str, str | None]:
    """Split a rule at occurrence ``key``: the rule that ends just before it, and the rule that goes
    on from it (``None`` when nothing is left, e.g. a COUNT used up before ``key``)."""
    assert series.rrule
    tz = series.tz
    kept = [p for p in series.rrule.split(";") if not p.startswith(("COUNT=", "UNTIL="))]
    if tz is None:
        until = (key_date(key) - timedelta(days=1)).strftime("%Y%m%d")
    else:
        until = (key_instant(key) - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    before = ";".join([*kept, f"UNTIL={until}"])
    count = rule_value(series.rrule, "COUNT")
    if count is None:
        return before, series.rrule
    split_wall = key_to_wall(key, tz)
    used = 0
    for occurrence in walk(build_rule(series.rrule, series.dtstart, tz), as_budget(budget)):
        if occurrence.replace(tzinfo=None) >= split_wall:
            break
        used += 1
    remaining = int(count) - used
    if remaining <= 0:
        return before, None
    return before, ";".join([*kept, f"COUNT={remaining}"])
