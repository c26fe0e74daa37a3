"""The ``recv()``/``send()`` pair the ``ocpp`` library's ChargePoint expects, over a Starlette WebSocket.

A per-connection token bucket limits messages per second: when a charger exceeds it, reading pauses (TCP
back-pressure) instead of dropping messages, so a flooding charger slows itself down and nobody else.
"""

from __future__ import annotations

import asyncio
import time

from starlette.websockets import WebSocket, WebSocketDisconnect


class WebSocketConnection:
    """Adapts ``websocket`` for ``ocpp.ChargePoint``; ``max_messages_per_s`` is the sustained rate (burst: one
    second's worth)."""

    __slots__ = ("_allowance", "_checked", "_rate", "websocket")

    def __init__(self, websocket: WebSocket, *, max_messages_per_s: float) -> None:
        self.websocket = websocket
        self._rate = max_messages_per_s
        self._allowance = max_messages_per_s
        self._checked = time.monotonic()

    async def _throttle(self) -> None:
        now = time.monotonic()
        self._allowance = min(self._rate, self._allowance + (now - self._checked) * self._rate)
        self._checked = now
        if self._allowance < 1:
            await asyncio.sleep((1 - self._allowance) / self._rate)
            self._checked = time.monotonic()
            self._allowance = 1
        self._allowance -= 1

    async def recv(self) -> str:
        """The next text frame; binary frames are decoded as UTF-8 (undecodable ones fail OCPP-J parsing)."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        await self._throttle()
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
        return str(text)

    async def send(self, text: str) -> None:
        await self.websocket.send_text(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.websocket.close(code, reason)
