"""The API process's interpreter tuning, so its event loop keeps answering while worker threads do CPU-heavy
work (large range reads expand in calendar/offload.py's threads): the GIL switch interval and the garbage
collector. Set for the app's lifespan, restored after.

Measured with bench/range_offload.py (20 hourly series expanded to their 5,000-instance limit, /health on
the same replica every 10 ms, a shared 2-core machine, several runs each): /health p50 / p99 was 7 / 210-380
ms with CPython's defaults, 1.8 / 170-245 ms with the switch interval alone, 1.7-3.2 / 30-125 ms with the
collector tuned too.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms). The loop must win
# it back each time it wakes from a socket, several times per request; 0.25 ms did no better than 0.5 ms.
SWITCH_INTERVAL_SECONDS = 0.0005
# A full collection walks every tracked object while holding the GIL: 200-350 ms in a replica holding a large
# read's 100,000 occurrences, the whole /health tail. Collecting the young generation every 20,000 container
# allocations instead of 700 (and the older ones every 20) leaves a read's objects to die young; freezing the
# objects made at startup (modules, routes, settings: they live as long as the process) keeps them out of
# every later collection.
GC_THRESHOLDS = (20_000, 20, 20)
_frozen = False


def tune() -> Callable[[], None]:
    """Apply the tuning; returns what undoes it (the freeze stays: it is done once per process)."""
    global _frozen
    switch_interval = sys.getswitchinterval()
    thresholds = gc.get_threshold()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    if not _frozen:  # a full collection first (~0.1 s), so no garbage is frozen with them
        gc.collect()
        gc.freeze()
        _frozen = True
    gc.set_threshold(*GC_THRESHOLDS)

    def restore() -> None:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(switch_interval)

    return restore
