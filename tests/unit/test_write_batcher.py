"""The OCPP gateway's group commit (``WriteBatcher``): batches, answers only after the write, and a bad write in a
batch fails alone."""

from __future__ import annotations

import asyncio
import threading

import pytest

from voltbill.adapters.ocpp.gateway import WriteBatcher


class Store:
    """A write function that records each batch; a write named ``"bad"`` makes its whole batch fail."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.hold = hold

    def write(self, writes: list[str]) -> None:
        if self.hold is not None:
            self.hold.wait(5)
        if "bad" in writes:
            raise ValueError("refused")
        self.batches.append(list(writes))


async def test_writes_queued_during_a_commit_go_in_the_next_batch_together() -> None:
    hold = threading.Event()
    store = Store(hold)
    batcher = WriteBatcher(store.write, asyncio.get_running_loop())
    first = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0.05)  # the writer holds "a" in the store, waiting
    rest = [asyncio.create_task(batcher.submit(w)) for w in ("b", "c", "d")]
    await asyncio.sleep(0.05)
    assert not first.done()  # not answered before its write is stored
    hold.set()
    await asyncio.gather(first, *rest)
    await batcher.close()
    assert store.batches == [["a"], ["b", "c", "d"]]


async def test_a_bad_write_fails_alone_and_the_rest_of_its_batch_is_stored() -> None:
    hold = threading.Event()
    store = Store(hold)
    batcher = WriteBatcher(store.write, asyncio.get_running_loop())
    first = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0.05)
    good = [asyncio.create_task(batcher.submit(w)) for w in ("b", "c")]
    bad = asyncio.create_task(batcher.submit("bad"))
    await asyncio.sleep(0.05)
    hold.set()
    await asyncio.gather(first, *good)
    with pytest.raises(ValueError, match="refused"):
        await bad
    await batcher.close()
    assert store.batches == [["a"], ["b"], ["c"]]


async def test_close_writes_what_is_queued() -> None:
    store = Store()
    batcher = WriteBatcher(store.write, asyncio.get_running_loop())
    pending = [asyncio.create_task(batcher.submit(w)) for w in ("a", "b")]
    await asyncio.sleep(0)
    await batcher.close()
    await asyncio.gather(*pending)
    assert [w for batch in store.batches for w in batch] == ["a", "b"]
