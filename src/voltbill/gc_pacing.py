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
(``voltbill.heap.release_free_heap``, which says why).
"""

from __future__ import annotations

import asyncio
import gc
import time

from voltbill.heap import release_free_heap

YOUNG_EVERY_S = 0.1
MIDDLE_EVERY = 5  # young rounds per collection of the middle generation (every 0.5 s)
FULL_EVERY_S = 300.0  # a full collection reclaims cycles that lived longer (a closed connection's objects)
TRIM_EVERY_S = 30.0  # free C heap pages go back to the operating system


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
