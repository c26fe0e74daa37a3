"""The garbage collector on a clock: cycles are reclaimed by the pacer alone, each generation on its schedule."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from voltbill.gc_pacing import pace_gc


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def automatic_gc_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


async def _pace_for(seconds: float, young_every_s: float, middle_every: int, full_every_s: float) -> None:
    pacer = asyncio.create_task(pace_gc(young_every_s, middle_every, full_every_s))
    await asyncio.sleep(seconds)
    pacer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pacer


async def test_young_cycles_are_collected_on_the_clock(automatic_gc_off: None) -> None:
    cycle = _cycle()
    await asyncio.sleep(0.05)
    assert cycle() is not None  # nothing collects it while the automatic collector is off
    await _pace_for(0.1, young_every_s=0.02, middle_every=1000, full_every_s=3600)
    assert cycle() is None


async def test_old_cycles_wait_for_the_full_collection(automatic_gc_off: None) -> None:
    node = Node()
    gc.collect(1)  # it survives the young and the middle generation: it is in the oldest one now
    cycle = weakref.ref(node)
    del node
    await _pace_for(0.15, young_every_s=0.01, middle_every=2, full_every_s=3600)
    assert cycle() is not None  # young and middle rounds never look at the oldest generation
    await _pace_for(0.15, young_every_s=0.01, middle_every=2, full_every_s=0.05)
    assert cycle() is None
