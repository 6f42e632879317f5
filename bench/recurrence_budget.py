"""CPU a create spends checking a recurrence rule, for ordinary and pathological rules, under the budget.

What the API does on its event loop for POST/PATCH /events: validate the rule, find whether it occurs
and where it ends (``draft.checked``). Prints the outcome, the rule iterations spent and the CPU time.

    .venv/bin/python bench/recurrence_budget.py [--budget N] [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from aiwfe.calendar.draft import EventDraft, checked
from aiwfe.calendar.recurrence import DEFAULT_BUDGET, Budget, RecurrenceError

RULES = [
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=100",
    "FREQ=DAILY;COUNT=4000",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=10",
    "FREQ=DAILY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=HOURLY;COUNT=50000;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=HOURLY;COUNT=1000000",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"budget {args.budget} rule iterations per series; CPU ms is the worst of {args.repeat} runs")
    print(f"{'rule':<50} {'outcome':<9} {'steps':>7} {'cpu ms':>7}")
    for rule in RULES:
        worst, steps, outcome = 0.0, 0, "accepted"
        for attempt in range(args.repeat):
            # A new start each run, so the span cache does not answer.
            draft = EventDraft(
                datetime(2026, 1, 5, 9, attempt), datetime(2026, 1, 5, 10, attempt), "Europe/Berlin"
            )
            budget = Budget(args.budget)
            started = time.process_time()
            try:
                checked(draft, rrule=rule, budget=budget)
            except RecurrenceError:
                outcome = "refused"
            worst = max(worst, time.process_time() - started)
            steps = budget.spent
        print(f"{rule:<50} {outcome:<9} {steps:>7} {worst * 1000:>7.1f}")
    print("rerun: .venv/bin/python bench/recurrence_budget.py --budget", args.budget)


if __name__ == "__main__":
    main()
