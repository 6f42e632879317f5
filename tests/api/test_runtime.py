"""The API process's interpreter tuning (api/runtime.py): applied for the app's lifespan, undone after."""

from __future__ import annotations

import gc
import sys

from aiwfe.api import runtime


def test_tune_sets_the_switch_interval_and_collector_and_restore_undoes_them() -> None:
    before = (sys.getswitchinterval(), gc.get_threshold())
    restore = runtime.tune()
    try:
        assert sys.getswitchinterval() == runtime.SWITCH_INTERVAL_SECONDS
        assert gc.get_threshold() == runtime.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # the objects alive now are out of every later collection
    finally:
        restore()
    assert (sys.getswitchinterval(), gc.get_threshold()) == before


def test_the_startup_objects_are_frozen_once_per_process() -> None:
    runtime.tune()()
    frozen = gc.get_freeze_count()
    runtime.tune()()  # another app's lifespan in the same process (tests start many)
    assert gc.get_freeze_count() == frozen
