"""In-process events (``session.priced``, ``session.settled``, ...). Handlers run after the producing commit."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


class Publisher(Protocol):
    """What a use case needs of a bus: ``EventBus`` (consumers run now) or ``DeferredBus`` (they run soon)."""

    def publish(self, name: str, payload: dict[str, Any]) -> None: ...


class EventBus:
    """Synchronous publish/subscribe inside one process. A failing handler is logged, never lost silently:
    each consumer must be idempotent and have its own catch-up path (e.g. settle unsettled CDRs on start)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        for handler in list(self._handlers[name]):
            try:
                handler(payload)
            except Exception:
                log.exception("event handler for %s failed; its catch-up job will retry", name)


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
