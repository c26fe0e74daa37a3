"""In-process events (``session.priced``, ``session.settled``, ...). Handlers run after the producing commit."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


class Publisher(Protocol):
    """What a use case needs of a bus: ``EventBus`` (consumers run now) or ``DeferredBus`` (they run soon)."""

    def publish(self, name: str, payload: dict[str, Any]) -> None: ...


class EventBus:
    """Synchronous publish/subscribe inside one process. A failing handler is logged and counted (``failures``),
    never lost silently: each consumer must be idempotent and have its own catch-up job (``CatchUpSchedule``)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.failures = 0

    def subscribe(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        for handler in list(self._handlers[name]):
            try:
                handler(payload)
            except Exception:
                self.failures += 1
                log.exception("event handler for %s failed; its catch-up job will retry", name)


class CatchUpSchedule:
    """When a catch-up job (a scan of the store for work whose event was lost) runs: at its worker's first round,
    after a consumer of ``bus`` failed, while its last scan still found work, and every ``every_s`` besides.

    An event is lost only when the process dies or its consumer fails, and such a scan reads the whole history (work
    not done is found by what is missing), so it does not run on every round of its worker: when it did, every 5 s,
    a round's cost grew with the history (benchmarks/catch_up.py).
    """

    EVERY_S = 600.0

    def __init__(self, bus: EventBus, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._bus = bus
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self._found = False
        self._failures = 0

    def run(self, scan: Callable[[], int]) -> int:
        """Run ``scan`` (returning how much work it found and did) if it is due; 0 when it is not."""
        now, failures = self._clock(), self._bus.failures
        due = self._last is None or self._found or failures != self._failures or now - self._last >= self._every_s
        if not due:
            return 0
        found = scan()  # raising (the store is down): still due next round
        self._last, self._found, self._failures = now, found > 0, failures
        return found


class DeferredBus:
    """Publishes on ``bus`` from a thread of its own, in the order published, and returns at once: the OCPP
    gateway's use cases publish through it, so a charger's answer does not wait for the consumers (settling the CDR
    in the ledger, issuing its invoice, a card hold at the payment provider).

    Each publication runs inside ``around()`` (the gateway's SQLite writer lock: the consumers write, and on SQLite
    writers queue on that lock rather than in SQLite's busy handler). After ``close`` events are published at once,
    in the caller's thread. An event still queued when the process dies is lost as one whose consumer failed would
    be: every consumer has its catch-up job (``payment_events.settle_unsettled``, ``invoice_runs.catch_up``).
    """

    def __init__(self, bus: EventBus, around: Callable[[], contextlib.AbstractContextManager[Any]]) -> None:
        self._bus = bus
        self._around = around
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="voltbill-events", daemon=True)
        self._thread.start()

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        if self._closed:
            self._bus.publish(name, payload)
        else:
            self._queue.put((name, payload))

    def close(self, timeout_s: float = 60.0) -> None:
        """Publish what is queued (waiting at most ``timeout_s``), then publish in the caller's thread."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            with self._around():
                self._bus.publish(*item)
