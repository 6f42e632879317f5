"""The iteration budget every piece of recurrence work is charged to, and the counted walk of a rule."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dateutil.rrule
from dateutil.rrule import rrule

# Each occurrence the scan passes before the window costs time too; a series may scan this many
# times its instance limit before it is cut off.
SCAN_FACTOR = 10
# Rule iterations one check of a series may spend (settings.calendar_recurrence_budget): about
# 1-2 microseconds each, so checking and storing a series stays well under 50 ms of CPU.
DEFAULT_BUDGET = 10_000


class RecurrenceError(ValueError):
    """A rule, a time zone or an occurrence that cannot be used; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class BudgetExceeded(RecurrenceError):
    """Expanding a rule needed more iterations than its :class:`Budget` allows."""


class Budget:
    """Rule iterations a piece of work may spend, optionally inside a larger one (a whole import).

    dateutil examines one period (a day for DAILY and HOURLY rules, a week, a month, a year) per
    iteration and may pass thousands of them for each occurrence it yields (``BYMONTH=2;BYMONTHDAY=29``
    on a daily rule), so counting yielded occurrences alone bounds nothing; :func:`walk` charges both.
    """

    def __init__(self, limit: int, *, parent: Budget | None = None, what: str = "the rule") -> None:
        self.limit = limit
        self.parent = parent
        self.what = what
        self.spent = 0

    def child(self, limit: int, what: str = "the rule") -> Budget:
        return Budget(limit, parent=self, what=what)

    @property
    def exhausted(self) -> bool:
        return self.spent > self.limit

    def spend(self, steps: int = 1) -> None:
        self.spent += steps
        if self.spent > self.limit:
            raise BudgetExceeded(
                "rrule", f"{self.what} would take more than {self.limit} steps of recurrence expansion"
            )
        if self.parent is not None:
            self.parent.spend(steps)


def as_budget(budget: int | Budget) -> Budget:
    return budget if isinstance(budget, Budget) else Budget(budget)


class _CountingInfo(dateutil.rrule._iterinfo):
    """dateutil's per-iteration helper, charging each period it computes to the rule's budget."""

    def __init__(self, rule: rrule) -> None:
        super().__init__(rule)
        self._budget: Budget = rule._aiwfe_budget  # type: ignore[attr-defined]

    def ydayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().ydayset(*args)

    def mdayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().mdayset(*args)

    def wdayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().wdayset(*args)

    def ddayset(self, *args: Any) -> Any:
        self._budget.spend()
        return super().ddayset(*args)


# dateutil's own iteration, run with the counting helper in place of its ``_iterinfo``: the same
# code (no copy to keep in step), and no change to dateutil for anyone else in the process.
_dateutil_iter: types.FunctionType = getattr(rrule, "_iter")  # noqa: B009 (private, untyped)
_counted_iter = types.FunctionType(
    _dateutil_iter.__code__,
    {**vars(dateutil.rrule), "_iterinfo": _CountingInfo},
    "_counted_iter",
    _dateutil_iter.__defaults__,
    _dateutil_iter.__closure__,
)


def walk(rule: rrule, budget: Budget) -> Iterator[datetime]:
    """The occurrences of ``rule``, each dateutil iteration and each occurrence charged to ``budget``;
    raises :class:`BudgetExceeded` when it runs out."""
    rule._aiwfe_budget = budget  # type: ignore[attr-defined]
    for occurrence in _counted_iter(rule):
        budget.spend()
        yield occurrence
