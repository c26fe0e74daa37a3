"""The cyclic garbage collector of the processes that hold thousands of WebSockets (``voltbill serve``'s OCPP
gateway, ``voltbill simulate``), tuned and run on a clock. Measured with benchmarks/soak.py at 5,000 chargers.

- The collector stops every thread while it runs. Most of what a full collection would scan is the imported code,
  which lives as long as the process: it is frozen (never scanned again) and full collections are made rare.
- CPython starts a young collection when allocations minus deallocations of container objects pass a threshold.
  An idle connection re-creates what it waits with (coroutines, futures, the last frame) on each message and frees
  the previous ones, so that difference hardly grows: young collections came seconds apart, and each traversed the
  waiting state of every connection heard from since, 40,000-165,000 objects, stopping the event loop 15-120 ms
  (and 400-600 ms when the generation above followed). Those pauses were the soak's p95 and p99 answer times.
  Collected on a clock instead, a young collection sees only what was born in the last tenth of a second.

CPython has no option for this (a lower threshold does not help: the count it compares stays near zero), so the
schedule is kept here; the automatic collector stays on behind it.

The pacer also hands the C heap's free pages back to the operating system every ``TRIM_EVERY_S``
(``release_free_heap``). Objects over 512 bytes, SQLite and the drivers allocate with glibc's malloc, which returns
memory only from the top of each heap: the space a freed buffer leaves between live ones stays resident. In a
2,000-charger soak that free space went from 10 to 20 MiB in five minutes after the ramp while the memory in use
hardly moved, and the process's RSS rose with it (+13 MiB); with a ``malloc_trim(0)`` every 30 s (1-2 ms each) the
RSS rose +6 MiB over the same minutes, the rest being SQLite's page caches and prepared statements filling
(benchmarks/soak.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import time
from collections.abc import Callable

YOUNG_EVERY_S = 0.1
MIDDLE_EVERY = 5  # young rounds per collection of the middle generation (every 0.5 s)
FULL_EVERY_S = 300.0  # a full collection reclaims cycles that lived longer (a closed connection's objects)
TRIM_EVERY_S = 30.0  # free C heap pages go back to the operating system


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_heap() -> None:
    """Give the free pages inside the C heap back to the operating system (nothing where the C library cannot)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def tune_gc() -> None:
    """Freeze what is alive now (the imported code) and raise the automatic thresholds; call once at start."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def pace_gc(
    young_every_s: float = YOUNG_EVERY_S,
    middle_every: int = MIDDLE_EVERY,
    full_every_s: float = FULL_EVERY_S,
    trim_every_s: float = TRIM_EVERY_S,
) -> None:
    """Collect the young generation every ``young_every_s``, the middle one every ``middle_every`` rounds and all of
    them every ``full_every_s``, and release the free heap every ``trim_every_s``, until cancelled (a task on the
    event loop)."""
    rounds = 0
    last_full = last_trim = time.monotonic()
    while True:
        await asyncio.sleep(young_every_s)
        rounds += 1
        now = time.monotonic()
        if now - last_full >= full_every_s:
            gc.collect()
            last_full = now
        elif rounds % middle_every == 0:
            gc.collect(1)
        else:
            gc.collect(0)
        if now - last_trim >= trim_every_s:
            release_free_heap()
            last_trim = now
