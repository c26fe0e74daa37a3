"""Live cost while a session runs: at most one update per transaction per ``ocpp_cost_update_interval_s``,
published as ``session.cost_updated`` and pushed to the charger (2.0.1 CostUpdated, 1.6 DataTransfer if enabled).
The first update waits until the session has run that long by the charger's clock (a session that just began costs
little more than its start fee, and a wave of starts would otherwise price every new session at once). A session
nobody follows is not priced while it runs: its charger gets no cost (1.6 without DataTransfer) and its driver does
not pay from a wallet (the only payment method that watches the running cost).

Runs as a task after the charger's message is answered: a CALL from inside a handler would wait for a response
that the same (blocked) receive loop has to read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from voltbill.services import charging

if TYPE_CHECKING:
    from voltbill.adapters.ocpp.base import ServerChargePoint

log = logging.getLogger("voltbill.ocpp")

Push = Callable[[str, dict[str, Any]], Awaitable[None]]


class CostUpdates:
    """Throttled cost updates of one connection; ``push`` sends one to the charger (``None``: publish only)."""

    __slots__ = ("_began", "_charge_point", "_push", "_sent", "_tasks", "_unfollowed")

    def __init__(self, charge_point: ServerChargePoint, push: Push | None) -> None:
        self._charge_point = charge_point
        self._push = push
        self._sent: dict[str, float] = {}
        self._began: dict[str, datetime] = {}
        self._unfollowed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def started(self, transaction_id: str, at: datetime, payment_method: str | None) -> None:
        """A transaction began at ``at`` (charger time) on this connection, paid by ``payment_method``."""
        self._began[transaction_id] = at
        if self._push is None and payment_method not in (None, "wallet"):  # unknown (a replayed start): followed
            self._unfollowed.add(transaction_id)

    def maybe_send(self, transaction_id: str, at: datetime | None) -> None:
        """New readings up to ``at`` (charger time) arrived: update the live cost if it is due."""
        interval = self._charge_point.gateway.settings.ocpp_cost_update_interval_s
        if transaction_id in self._unfollowed:
            return
        now = time.monotonic()
        last = self._sent.get(transaction_id)
        if interval <= 0 or (last is not None and now - last < interval):
            return
        began = self._began.get(transaction_id)
        if last is None and began is not None and at is not None and (at - began).total_seconds() < interval:
            return
        self._sent[transaction_id] = now
        task = asyncio.create_task(self._update(transaction_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, transaction_id: str) -> None:
        self._sent.pop(transaction_id, None)
        self._began.pop(transaction_id, None)
        self._unfollowed.discard(transaction_id)

    def close(self) -> None:
        """The connection is gone: drop pending updates (a CALL would only wait for its timeout)."""
        for task in self._tasks:
            task.cancel()

    async def _update(self, transaction_id: str) -> None:
        try:
            gateway = self._charge_point.gateway
            cost = await gateway.read_background(charging.publish_cost_update, self._charge_point.id, transaction_id)
            if cost is not None and self._push is not None:
                await self._push(transaction_id, cost)
        except Exception as exc:
            log.warning("%s: cost update for transaction %s failed: %r", self._charge_point.id, transaction_id, exc)
