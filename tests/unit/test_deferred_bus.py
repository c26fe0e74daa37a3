"""``DeferredBus``: consumers run on its own thread, in the order published, inside ``around``; after ``close``
in the publisher's thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from voltbill.services.events import DeferredBus, EventBus


def test_events_are_consumed_in_order_on_another_thread_inside_around_and_inline_after_close() -> None:
    bus = EventBus()
    seen: list[tuple[int, str, bool]] = []
    inside = threading.local()

    @contextlib.contextmanager
    def around() -> Iterator[None]:
        inside.flag = True
        try:
            yield
        finally:
            inside.flag = False

    def consume(event: dict[str, Any]) -> None:
        seen.append((event["n"], threading.current_thread().name, getattr(inside, "flag", False)))

    bus.subscribe("tick", consume)
    deferred = DeferredBus(bus, around)
    for n in range(200):
        deferred.publish("tick", {"n": n})
    deferred.close()
    deferred.publish("tick", {"n": 200})

    assert [n for n, _, _ in seen] == list(range(201))
    assert {(thread, flag) for n, thread, flag in seen if n < 200} == {("voltbill-events", True)}
    assert seen[-1][1:] == (threading.current_thread().name, False)
