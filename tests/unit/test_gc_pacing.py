"""The garbage collector on a clock: cycles are reclaimed by the pacer alone, each generation on its schedule, and
free C heap pages go back to the system."""

from __future__ import annotations

import asyncio
import gc
import platform
import weakref
from collections.abc import Iterator
from pathlib import Path

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


async def _pace_for(
    seconds: float, young_every_s: float, middle_every: int, full_every_s: float, trim_every_s: float = 3600
) -> None:
    pacer = asyncio.create_task(pace_gc(young_every_s, middle_every, full_every_s, trim_every_s))
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


def _anonymous_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def _holes_in_the_heap(mib: int) -> list[bytes]:
    """Fill ``mib`` MiB of the C heap with 2 KiB buffers (over pymalloc's 512 bytes), then free 15 in 16: the freed
    space lies between live buffers, where free() cannot return it. Returns the survivors."""
    buffers = [bytes(2048) for _ in range(mib * 512)]
    return buffers[::16]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
async def test_the_pacer_gives_free_heap_pages_back_to_the_system() -> None:
    survivors = _holes_in_the_heap(128)
    before = _anonymous_rss_mib()
    await _pace_for(0.3, young_every_s=0.01, middle_every=1000, full_every_s=3600, trim_every_s=0.05)
    after = _anonymous_rss_mib()
    assert len(survivors) == 128 * 32
    assert before - after > 64  # most of the 120 MiB freed between the survivors
