"""`aiwfe validate` against a stack started with a plain `make up`: it stops before it starts, in one
sentence, instead of dying half-way on a 429 from the per-IP sign-up limit."""

from __future__ import annotations

from pathlib import Path

from aiwfe_stack.evidence.validate import Options, planned_steps, rate_limit_problem
from aiwfe_stack.settings import StackSettings
from aiwfe_stack.stack import Stack

LOAD_TEST_ENV = (
    "AIWFE_ENV=development\n"
    "AIWFE_REGISTER_RATE_PER_IP=100000/minute\n"
    "AIWFE_LOGIN_RATE_PER_IP=100000/minute\n"
    "AIWFE_LOGIN_RATE_PER_ACCOUNT=100000/minute\n"
)


def _stack(tmp_path: Path, env: str) -> Stack:
    stack = Stack(StackSettings(dir=tmp_path))
    stack.paths.env_file.parent.mkdir(parents=True, exist_ok=True)
    stack.paths.env_file.write_text(env)
    return stack


def test_a_plain_stack_stops_the_run_with_one_sentence_on_how_to_start_it(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "AIWFE_ENV=development\n")  # the defaults: 10 sign-ups per hour
    options = Options(users=20)
    problem = rate_limit_problem(stack, options, planned_steps(options, True))
    assert problem is not None
    assert "AIWFE_REGISTER_RATE_PER_IP" in problem
    assert "10/hour" in problem
    assert "AIWFE_STACK_EXTRA_APP_ENV" in problem
    assert "make up" in problem
    assert problem.count("\n") == 0


def test_the_drills_alone_still_need_more_than_a_low_limit(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "AIWFE_REGISTER_RATE_PER_IP=3/hour\n")
    options = Options(users=0, skip=("load",))
    assert rate_limit_problem(stack, options, planned_steps(options, True)) is not None


def test_a_stack_with_the_load_test_limits_runs(tmp_path: Path) -> None:
    stack = _stack(tmp_path, LOAD_TEST_ENV)
    options = Options(users=1000)
    assert rate_limit_problem(stack, options, planned_steps(options, True)) is None


def test_a_run_that_signs_nobody_up_needs_no_limit(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "AIWFE_ENV=development\n")
    options = Options(skip=("load", "failover", "schema"))
    assert rate_limit_problem(stack, options, planned_steps(options, True)) is None
