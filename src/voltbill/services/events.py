"""In-process events (``session.priced``, ``session.settled``, ...). Handlers run after the producing commit."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


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
