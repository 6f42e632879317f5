"""``.env.example`` documents every setting, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from aiwfe.core.settings import Settings
from aiwfe_stack.settings import StackSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def _documented() -> set[str]:
    return set(re.findall(r"^(AIWFE_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def test_every_setting_is_documented_in_env_example() -> None:
    expected = {f"AIWFE_{name.upper()}" for name in Settings.model_fields}
    expected |= {f"AIWFE_STACK_{name.upper()}" for name in StackSettings.model_fields}
    documented = _documented()
    assert expected - documented == set(), "settings missing from .env.example"
    assert documented - expected == set(), ".env.example names variables no setting reads"
