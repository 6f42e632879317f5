"""The supervisord ``environment=`` line the local stack writes, read back by supervisord's own parser."""

from __future__ import annotations

import pytest
from supervisor.datatypes import dict_of_key_value_pairs

from aiwfe_stack.settings import StackError
from aiwfe_stack.stack import _supervisor_env


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "with spaces, commas=and equals",
        '[{"name": "op", "client_secret": "x"}]',
        "it's",
        "",
    ],
)
def test_every_value_reaches_the_process_unchanged(value: str) -> None:
    line = _supervisor_env({"AIWFE_A": value, "AIWFE_B": "next"})
    # supervisord expands %(...)s in its config before parsing; the line escapes % for that step.
    parsed = dict_of_key_value_pairs(line.replace("%%", "%"))
    assert parsed == {"AIWFE_A": value, "AIWFE_B": "next"}


def test_percent_signs_are_escaped_for_supervisords_expansion() -> None:
    assert "50%%" in _supervisor_env({"AIWFE_A": "50%"})


def test_a_value_with_both_quote_kinds_is_refused_by_name() -> None:
    with pytest.raises(StackError, match="AIWFE_A"):
        _supervisor_env({"AIWFE_A": """it's "quoted" """})
